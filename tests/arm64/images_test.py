#!/usr/bin/python3
"""The two-architecture images of deploy/images/build.sh (AZWI_IMAGE_PLATFORMS="amd64 arm64"), arm64 side, as
an arm64 node would use them, under qemu-aarch64-static (no binfmt_misc needed).

- Every archive's index lists linux/amd64 and linux/arm64, and each manifest's config names its architecture.
- azwi-proxy-init's arm64 image, unpacked: each iptables name runs from the image alone (chroot, qemu copied in) and
  is the backend Debian's alternatives give it; the extensions its rules use (tcp, owner, REDIRECT) load.
- Its arm64 azwi-proxy-init, with the image's files as its root (qemu -L), installs the redirect rules in a network
  namespace of the test with each iptables backend, and a rerun changes nothing; the nat table is then read back.
  qemu-user 7.2 (Debian 12) refuses the kernel interfaces of iptables to arm64 programs (NETLINK_NETFILTER sockets:
  EPROTONOSUPPORT; the ip_tables socket options: ENOPROTOOPT), so the image's own iptables programs can only be
  used for that when this qemu lets them reach the kernel; otherwise the host's stand in for them, and the test
  checks that qemu's refusal is the only reason.
- azwi-app's arm64 busybox runs sh from its image.

Usage: images_test.py IMAGES_DIR   (root; exits 77 with the reason when it cannot run)
"""
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

NAMES = ["azwi-proxy", "azwi-proxy-init", "azwi-webhook", "azwi-cni", "pause", "azwi-app"]
QEMU = "qemu-aarch64-static"
RULES = ("-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT",
         "-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT",
         "-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT",
         "-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 8000")
# What qemu-user answers an arm64 iptables that asks the kernel (the host's programs work in the same namespace).
QEMU_REFUSAL = {"nft": "Failed to initialize nft: Protocol not supported",
                "legacy": "Cannot initialize: iptables who? (do you need to insmod?)"}
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)
    return ok


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


class Archive:
    def __init__(self, path):
        self.tar = tarfile.open(path)

    def blob(self, digest):
        return self.tar.extractfile("blobs/sha256/" + digest.split(":", 1)[1]).read()

    def platforms(self):
        """{arch: (manifest, config)} of the image index the archive names."""
        top = json.loads(self.tar.extractfile("index.json").read())["manifests"][0]
        index = json.loads(self.blob(top["digest"]))
        if "manifests" not in index:  # one image, not an index
            config = json.loads(self.blob(index["config"]["digest"]))
            return {config["architecture"]: ({"architecture": config["architecture"], "os": config["os"]}, index, config)}
        out = {}
        for m in index["manifests"]:
            manifest = json.loads(self.blob(m["digest"]))
            out[m["platform"]["architecture"]] = (m["platform"], manifest, json.loads(self.blob(manifest["config"]["digest"])))
        return out

    def unpack(self, arch, into):
        _, manifest, config = self.platforms()[arch]
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=io.BytesIO(self.blob(layer["digest"]))) as t:
                t.extractall(into, numeric_owner=True)
        return config


def netns(name, cleanups):
    r = run(["ip", "netns", "add", name])
    if r.returncode != 0:
        raise SystemExit(f"images_test: ip netns add {name}: {r.stderr}")
    cleanups.append(lambda: run(["ip", "netns", "del", name]))
    return name


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    images = os.path.realpath(sys.argv[1])
    if os.geteuid() != 0:
        print("images_test: skipped: needs root (chroot, network namespaces)")
        sys.exit(77)
    if not shutil.which(QEMU):
        print(f"images_test: skipped: {QEMU} is missing (scripts/install-deps.sh)")
        sys.exit(77)

    arm64 = set()
    for name in NAMES:
        platforms = Archive(os.path.join(images, name + ".tar")).platforms()
        if "arm64" in platforms:
            arm64.add(name)
        check(sorted(platforms) == ["amd64", "arm64"], f"{name}: the index lists amd64 and arm64 ({sorted(platforms)})")
        for arch, (platform, _, config) in platforms.items():
            check(platform["os"] == "linux" and (config["os"], config["architecture"]) == ("linux", arch),
                  f"{name}: the {arch} manifest's config says linux/{config['architecture']}")

    cleanups = []
    tmp = tempfile.mkdtemp(prefix="azwi-arm64-images-")
    cleanups.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
    try:
        if "azwi-proxy-init" in arm64:
            proxy_init(images, tmp, cleanups)
        if "azwi-app" in arm64:
            app(images, tmp)
    finally:
        for c in reversed(cleanups):
            c()
    if failures:
        print(f"images_test: {len(failures)} failed", file=sys.stderr)
        sys.exit(1)
    print("images_test: all passed")


def proxy_init(images, tmp, cleanups):
    rootfs = os.path.join(tmp, "proxy-init")
    config = Archive(os.path.join(images, "azwi-proxy-init.tar")).unpack("arm64", rootfs)
    entry = config["config"]["Entrypoint"]
    env = dict(kv.split("=", 1) for kv in config["config"].get("Env", []))
    # The emulator inside the image's root, so that chroot runs the image's files and nothing of the host's.
    shutil.copy(shutil.which(QEMU), os.path.join(rootfs, "qemu"))
    in_image = ["chroot", rootfs, "/qemu"]

    r = run(in_image + [entry[0], "--version"])
    check(r.returncode == 0 and r.stdout.startswith("azwi-proxy-init "), f"arm64 {entry[0]} --version: {r.stdout.strip()}")
    for tool, flavour in (("iptables", "nf_tables"), ("iptables-save", "nf_tables"), ("iptables-restore", "nf_tables"),
                          ("iptables-nft-save", "nf_tables"), ("iptables-nft-restore", "nf_tables"),
                          ("iptables-legacy-save", "legacy"), ("iptables-legacy-restore", "legacy")):
        r = run(in_image + ["/usr/sbin/" + tool, "--version"])
        # `iptables --version` of the nft backend opens its netlink socket first, which qemu refuses: that it got
        # there (loader, libraries) and is the nft program is what can be seen of it under qemu.
        check((r.returncode == 0 and f"({flavour})" in r.stdout) or
              (flavour == "nf_tables" and r.stderr.startswith(f"{tool}: {QEMU_REFUSAL['nft']}")),
              f"arm64 image: {tool} runs, is the {flavour} one: {(r.stdout or r.stderr).strip()}")
    # The extensions (dlopen'ed from the image) of the rules; the legacy program parses before it asks the kernel.
    r = run(in_image + ["/usr/sbin/iptables-legacy", "-m", "tcp", "-m", "owner", "-j", "REDIRECT", "-h"])
    for ext in ("tcp match options", "owner match options", "REDIRECT target options"):
        check(ext in r.stdout, f"arm64 image: the {ext.split()[0]} extension loads")

    wrappers = os.path.join(tmp, "host-iptables")
    os.makedirs(wrappers)
    for backend in ("nft", "legacy"):
        ns = netns(f"azwi-arm64img-{os.getpid()}-{backend}", cleanups)
        host_save = ["ip", "netns", "exec", ns, f"iptables-{backend}-save", "-t", "nat"]
        if run(host_save).returncode != 0:
            print(f"skip {backend}: the host's iptables-{backend}-save does not work here")
            continue
        image_save = run(["ip", "netns", "exec", ns] + in_image + [f"/usr/sbin/iptables-{backend}-save", "-t", "nat"])
        if image_save.returncode == 0:
            path = env.get("PATH", "/usr/sbin")  # this qemu lets them through: the image's own programs
            used = "the image's arm64 iptables"
        else:
            if not check(QEMU_REFUSAL[backend] in image_save.stderr,
                         f"{backend}: the image's iptables-{backend}-save fails only as qemu-user refuses it "
                         f"({image_save.stderr.strip()})"):
                continue
            for verb in ("save", "restore"):
                link = os.path.join(wrappers, f"iptables-{backend}-{verb}")
                if not os.path.lexists(link):
                    os.symlink(shutil.which(f"iptables-{backend}-{verb}"), link)
            # Not a path of the image: qemu -L then executes the host's file.
            path = wrappers
            used = "the host's iptables (qemu-user keeps the image's from the kernel)"
        proc_env = dict(env, PATH=path)
        program = ["ip", "netns", "exec", ns, "env", "-i"] + [f"{k}={v}" for k, v in proc_env.items()] + \
            [shutil.which(QEMU), "-L", rootfs, rootfs + entry[0]]
        r = run(program + [f"--iptables-backend={backend}", "--log-format=text"], timeout=120)
        check(r.returncode == 0 and f"installed the redirect rules backend={backend}" in r.stderr,
              f"{backend}: arm64 azwi-proxy-init from the image installs the rules with {used} (exit {r.returncode})")
        if r.returncode != 0:
            print(r.stdout + r.stderr)
        saved = run(host_save).stdout
        for rule in RULES:
            check(rule in saved, f"{backend}: the host's iptables-{backend}-save shows {rule}")
        if image_save.returncode == 0:
            saved = run(["ip", "netns", "exec", ns] + in_image + [f"/usr/sbin/iptables-{backend}-save", "-t", "nat"]).stdout
            check(all(rule in saved for rule in RULES), f"{backend}: the image's iptables-{backend}-save shows them")
        again = run(program + ["--log-format=text"], timeout=120)
        check(again.returncode == 0 and "already in place" in again.stderr and f"backend={backend}" in again.stderr,
              f"{backend}: a rerun (backend auto) finds them in place")


def app(images, tmp):
    rootfs = os.path.join(tmp, "app")
    config = Archive(os.path.join(images, "azwi-app.tar")).unpack("arm64", rootfs)
    with open(os.path.join(rootfs, "bin", "busybox"), "rb") as f:
        header = f.read(64)
    # ELF, 64-bit, e_machine 183 (EM_AARCH64).
    machine = int.from_bytes(header[18:20], "little")
    check(header[:5] == b"\x7fELF\x02" and machine == 183, f"azwi-app: /bin/busybox is an arm64 ELF (e_machine {machine})")
    shutil.copy(shutil.which(QEMU), os.path.join(rootfs, "qemu"))
    path = dict(kv.split("=", 1) for kv in config["config"]["Env"])["PATH"]
    # Each applet is a link to busybox, started here by its name (a child of sh would be an arm64 execve, which
    # needs binfmt_misc).
    chroot = [shutil.which("chroot"), rootfs, "/qemu"]
    r = run(chroot + ["/bin/sh", "-c", "echo $((6*7)) $PATH"], env={"PATH": path})
    check((r.returncode, r.stdout) == (0, "42 /bin\n"), f"azwi-app: arm64 sh runs from the image ({r.stdout!r})")
    r = run(chroot + ["/bin/wget", "--help"], env={"PATH": path})
    check("Usage: wget" in r.stderr and "--header" in r.stderr, "azwi-app: arm64 wget runs from the image")


if __name__ == "__main__":
    main()
