#!/usr/bin/python3
"""Builds the OCI image of each deploy/docker/*.Dockerfile with Debian's umoci, without Docker.

The Dockerfile is the one description of its image: this reads its last stage and interprets the subset the
project's Dockerfiles use, failing with the file and line on anything else:

  FROM scratch                      the last stage starts from an empty base
  COPY [--from=STAGE] SRC... DST    a file, or a directory's contents (SRC/), owned by 0:0 as Docker makes them
  ENV K=V...   USER U[:G]   EXPOSE PORT[/PROTO]...   ENTRYPOINT ["..."]   CMD ["..."]   (exec form only)

A `COPY --from=STAGE` names an earlier stage of the same file, which must be `FROM debian:bookworm AS STAGE`
ending in `RUN SCRIPT OUTDIR` with SCRIPT a file of this repository. Without Docker the host (Debian 12, the
stage's base) stands in for the stage: SCRIPT runs on the host with OUTDIR mapped to a work directory, other
paths of the stage are the host's own files (they must belong to a Debian package), and the packages the stage
installs with apt-get must be installed on the host. deploy/build-static.sh is not run again: the static binaries
build.sh built (STATIC_DIR) are its OUTDIR. For arm64 the stand-in is an arm64 root of the stage's packages
(deploy/cross/arm64-stage-root.sh: downloaded and unpacked, not configured): SCRIPT runs on the host with
AZWI_STAGE_ROOT naming it and takes its files from there.

Each image is one layer (sorted entries, owner 0:0, mtime SOURCE_DATE_EPOCH, default 0) and a config with the same
creation time, so equal inputs give equal digests. Outputs: OUT/<name>.tar (an OCI image layout as a tar archive,
the index naming the image by both org.opencontainers.image.ref.name and io.containerd.image.name) and
OUT/images.txt (`<file> <reference>` per line, file relative to OUT). A rerun with equal inputs rewrites nothing.
"""
import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time

ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOCKER_DIR = os.path.join(ROOT, "deploy", "docker")
LAST_STAGE = {"COPY", "ENV", "USER", "EXPOSE", "ENTRYPOINT", "CMD"}
HELPER_STAGE = {"RUN", "WORKDIR", "COPY"}
HOST_ARCH = "amd64"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
BUILD_STATIC = "deploy/build-static.sh"
STAGE_ROOTS = {"arm64": "deploy/cross/arm64-stage-root.sh"}


class DockerfileError(Exception):
    pass


def log(msg):
    print(f"images: {msg}", file=sys.stderr, flush=True)


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"^project\(azwi VERSION ([0-9.]+)", f.read(), re.M)
    if not m:
        raise SystemExit("images: no project(azwi VERSION ...) in CMakeLists.txt")
    return m.group(1)


def parse(path):
    """Stages of a Dockerfile: [{"base", "name", "line", "instructions": [(line, KEYWORD, rest)]}]."""
    stages = []
    pending, start = "", 0
    with open(path) as f:
        lines = f.read().split("\n")
    for number, raw in enumerate(lines, 1):
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        text = (pending + raw).strip()
        pending = ""
        keyword, _, rest = text.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        where = f"{os.path.relpath(path, ROOT)}:{start}"
        if keyword == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            if not m:
                raise DockerfileError(f"{where}: cannot read FROM {rest}")
            stages.append({"base": m.group(1), "name": m.group(2), "line": where, "instructions": []})
        elif not stages:
            raise DockerfileError(f"{where}: {keyword} before the first FROM")
        else:
            stages[-1]["instructions"].append((where, keyword, rest))
    if pending:
        raise DockerfileError(f"{os.path.relpath(path, ROOT)}: the file ends inside a continued line")
    if not stages:
        raise DockerfileError(f"{os.path.relpath(path, ROOT)}: no FROM")
    return stages


def exec_form(where, keyword, rest):
    try:
        value = json.loads(rest)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise DockerfileError(f'{where}: {keyword} must be in exec form (["program", "arg", ...]), not {rest}')
    return value


def image_spec(path):
    """What the last stage says: copies [(from_stage or None, src, dst)], env, user, exposed, entrypoint, cmd."""
    stages = parse(path)
    last = stages[-1]
    if last["base"] != "scratch":
        raise DockerfileError(f"{last['line']}: the last stage must be FROM scratch (an empty base), "
                              f"not {last['base']}; deploy/images/build.sh builds no other")
    spec = {"copies": [], "env": [], "user": "", "exposed": [], "entrypoint": None, "cmd": None,
            "stages": {s["name"]: s for s in stages[:-1] if s["name"]}}
    for where, keyword, rest in last["instructions"]:
        if keyword not in LAST_STAGE:
            raise DockerfileError(f"{where}: {keyword} is not supported by deploy/images/build.sh in the last "
                                  f"stage (supported: FROM scratch, {', '.join(sorted(LAST_STAGE))})")
        words = rest.split()
        if keyword == "COPY":
            if rest.startswith("["):
                raise DockerfileError(f"{where}: COPY in JSON form is not supported")
            stage = None
            while words and words[0].startswith("--"):
                flag = words.pop(0)
                if flag.startswith("--from="):
                    stage = flag[len("--from="):]
                    if stage not in spec["stages"]:
                        raise DockerfileError(f"{where}: COPY --from={stage}: no stage named {stage} before it")
                else:
                    raise DockerfileError(f"{where}: COPY {flag} is not supported (only --from=STAGE)")
            if len(words) < 2:
                raise DockerfileError(f"{where}: COPY needs a source and a destination")
            if len(words) > 2 and not words[-1].endswith("/"):
                raise DockerfileError(f"{where}: COPY of several sources needs a destination ending in /")
            for src in words[:-1]:
                spec["copies"].append((where, stage, src, words[-1]))
        elif keyword == "ENV":
            if not words:
                raise DockerfileError(f"{where}: ENV without a variable")
            for kv in words:
                if "=" not in kv or any(q in kv for q in "\"'$"):
                    raise DockerfileError(f"{where}: ENV {kv}: only unquoted KEY=VALUE pairs are supported")
                spec["env"].append(kv)
        elif keyword == "USER":
            if len(words) != 1:
                raise DockerfileError(f"{where}: USER takes one user[:group]")
            spec["user"] = words[0]
        elif keyword == "EXPOSE":
            for port in words:
                if not re.fullmatch(r"[0-9]+(/(tcp|udp|sctp))?", port):
                    raise DockerfileError(f"{where}: EXPOSE {port}: not a port[/protocol]")
                spec["exposed"].append(port if "/" in port else port + "/tcp")
        elif keyword == "ENTRYPOINT":
            spec["entrypoint"] = exec_form(where, keyword, rest)
        elif keyword == "CMD":
            spec["cmd"] = exec_form(where, keyword, rest)
    if not spec["entrypoint"] and not spec["cmd"]:
        raise DockerfileError(f"{os.path.relpath(path, ROOT)}: the last stage has neither ENTRYPOINT nor CMD")
    return spec


def host_codename():
    with open("/etc/os-release") as f:
        m = re.search(r"^VERSION_CODENAME=(\S+)", f.read(), re.M)
    return m.group(1) if m else ""


def installed(package):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


class Stages:
    """Stands in for the helper stages: runs their scripts on the host (for another architecture against a root of
    that architecture's packages), once per build, cached across builds."""

    def __init__(self, static_dir, work, arch=HOST_ARCH):
        self.static_dir = static_dir
        self.work = work
        self.arch = arch
        self.done = {}

    def helper(self, stage):
        """(script, out_dir in the stage) of a helper stage, after checking it is one this can stand in for."""
        where = stage["line"]
        base = stage["base"]
        if not base.startswith("debian:"):
            raise DockerfileError(f"{where}: stage {stage['name']} is FROM {base}; without Docker only "
                                  f"debian:{host_codename()} stages (the host's release) can be stood in for")
        if base.split(":", 1)[1] != host_codename():
            raise DockerfileError(f"{where}: stage {stage['name']} is FROM {base} but the host is Debian "
                                  f"{host_codename() or '(unknown)'}: its files would not be the stage's")
        runs = [(w, rest) for w, k, rest in stage["instructions"] if k == "RUN"]
        for w, keyword, rest in stage["instructions"]:
            if keyword not in HELPER_STAGE:
                raise DockerfileError(f"{w}: {keyword} in stage {stage['name']} is not supported without Docker")
        missing = [p for p in self.packages(stage) if not installed(p)]
        if missing:
            raise DockerfileError(f"{where}: stage {stage['name']} installs {' '.join(missing)}, which the host "
                                  f"lacks (scripts/install-deps.sh installs them)")
        if not runs:
            raise DockerfileError(f"{where}: stage {stage['name']} runs nothing")
        w, last = runs[-1]
        words = last.split()
        if len(words) != 2 or not words[1].startswith("/") or words[0].startswith("/"):
            raise DockerfileError(f"{w}: the last RUN of stage {stage['name']} must be `RUN SCRIPT /OUTDIR` "
                                  f"with SCRIPT a file of this repository (found: RUN {last})")
        script = os.path.normpath(words[0])
        if not os.path.isfile(os.path.join(ROOT, script)):
            raise DockerfileError(f"{w}: {script} is not a file of this repository")
        return script, words[1].rstrip("/") or "/"

    def source(self, stage, src, where):
        """The host path standing for SRC of the stage."""
        script, out = self.helper(stage)
        src_n = os.path.normpath(src)
        if src_n == out or src_n.startswith(out + "/"):
            return os.path.join(self.output(stage, script), os.path.relpath(src_n, out)).rstrip("/.") + (
                "/" if src.endswith("/") else "")
        # A file of the stage's Debian, the host's own: one a package ships, or one made in a directory of a
        # package the stage installs (the CA bundle update-ca-certificates writes into ca-certificates' dir).
        if subprocess.run(["dpkg", "-S", src_n], capture_output=True).returncode != 0:
            owners = subprocess.run(["dpkg", "-S", os.path.dirname(src_n)], capture_output=True, text=True)
            owners = {p.strip() for line in owners.stdout.splitlines() for p in line.split(":", 1)[0].split(",")}
            if not os.path.isfile(src_n) or not owners & set(self.packages(stage)):
                raise DockerfileError(f"{where}: {src} of stage {stage['name']} is neither under {out} nor a file "
                                      f"of a Debian package the stage installs, here on the host")
        return src

    @staticmethod
    def packages(stage):
        names = []
        for _, keyword, rest in stage["instructions"]:
            m = re.search(r"apt-get install ((?:\S+\s*)+?)(?:&&|$)", rest) if keyword == "RUN" else None
            if m:
                names += [p for p in m.group(1).split() if not p.startswith("-")]
        return names

    def stage_root(self, stage):
        """The root SCRIPT takes its files from: the host's for its own architecture, else one made for the stage."""
        if self.arch == HOST_ARCH:
            return "/"
        maker = STAGE_ROOTS.get(self.arch)
        if not maker:
            raise DockerfileError(f"{stage['line']}: no stand-in for stage {stage['name']} on {self.arch}")
        r = subprocess.run([os.path.join(ROOT, maker), *self.packages(stage)], stdout=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise DockerfileError(f"{stage['line']}: {maker} failed (exit {r.returncode}) for stage {stage['name']}")
        return r.stdout.strip()

    def output(self, stage, script):
        if script == BUILD_STATIC:
            return self.static_dir
        if script in self.done:
            return self.done[script]
        suffix = "" if self.arch == HOST_ARCH else "-" + self.arch
        out = os.path.join(self.work, "stages" + suffix, os.path.basename(script).rsplit(".", 1)[0])
        src = self.stage_root(stage)
        # Cached by the script's text and the package list of the root it reads.
        packages = subprocess.run(["dpkg-query", "--root=" + src, "-W", "-f=${Package} ${Version} ${Status}\n"],
                                  capture_output=True, text=True, check=True).stdout
        with open(os.path.join(ROOT, script), "rb") as f:
            key = hashlib.sha256(f.read() + src.encode() + packages.encode()).hexdigest()
        stamp = out + ".key"
        if not (os.path.isdir(out) and os.path.exists(stamp) and open(stamp).read() == key):
            log(f"running {script} (stands in for its Dockerfile stage{'' if src == '/' else ', ' + self.arch})")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            env = dict(os.environ)
            env.pop("AZWI_STAGE_ROOT", None)
            if src != "/":
                env["AZWI_STAGE_ROOT"] = src
            if subprocess.run([os.path.join(ROOT, script), out], env=env).returncode != 0:
                raise DockerfileError(f"{stage['line']}: {script} failed for {self.arch}")
            with open(stamp, "w") as f:
                f.write(key)
        self.done[script] = out
        return out


def inside(root, path):
    real = os.path.realpath(path)
    return real == root or real.startswith(root + "/")


def copy_into(rootfs, src, dst, where):
    """Docker's COPY: a directory's contents into DST, a file to DST (or DST/name when DST ends in /)."""
    rootfs = os.path.realpath(rootfs)
    if not os.path.lexists(src):
        raise DockerfileError(f"{where}: COPY source {src} does not exist here")
    target = os.path.join(rootfs, dst.lstrip("/"))
    if os.path.isdir(src) and not os.path.islink(src):
        os.makedirs(target, exist_ok=True)
        if not inside(rootfs, target):
            raise DockerfileError(f"{where}: COPY destination {dst} leaves the image")
        subprocess.run(["cp", "-a", "--no-preserve=ownership", src.rstrip("/") + "/.", target], check=True)
        return
    if dst.endswith("/"):
        target = os.path.join(target, os.path.basename(src))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if not inside(rootfs, os.path.dirname(target)):
        raise DockerfileError(f"{where}: COPY destination {dst} leaves the image")
    shutil.copy2(os.path.realpath(src), target)  # a named file is copied as its contents, as Docker does


def write_tar(out, root, mtime):
    """A sorted, owner-0 tar of ROOT's tree with every mtime set to MTIME."""
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        entries = []
        for d, dirs, files in os.walk(root):
            dirs.sort()
            for n in sorted(dirs + files):
                entries.append(os.path.join(d, n))
        for p in sorted(entries, key=lambda p: os.path.relpath(p, root)):
            info = tar.gettarinfo(p, arcname=os.path.relpath(p, root))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = mtime
            if info.isfile():
                with open(p, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def umoci(*args):
    r = subprocess.run(["umoci", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"images: umoci {' '.join(args)} failed: {r.stderr.strip()}")


def build_layout(name, spec, tag, work, stages, epoch):
    """The OCI layout of the image for stages.arch, rebuilt only when its inputs changed: (layout, unpacked)."""
    wdir = os.path.join(work, name if stages.arch == HOST_ARCH else f"{name}-{stages.arch}")
    rootfs = os.path.join(wdir, "rootfs")
    shutil.rmtree(rootfs, ignore_errors=True)
    os.makedirs(rootfs)
    for where, stage, src, dst in spec["copies"]:
        if stage is None:
            host = os.path.join(ROOT, src)
        else:
            host = stages.source(spec["stages"][stage], src, where)
        copy_into(rootfs, host, dst, where)
    layer = os.path.join(wdir, "layer.tar")
    write_tar(layer, rootfs, epoch)
    unpacked = sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(rootfs) for f in fs)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    config = {"user": spec["user"], "env": spec["env"], "exposed": spec["exposed"],
              "entrypoint": spec["entrypoint"], "cmd": spec["cmd"]}
    with open(__file__, "rb") as f:
        me = f.read()
    key = hashlib.sha256(json.dumps([sha256_file(layer), config, tag, created]).encode() + me).hexdigest()
    layout = os.path.join(wdir, "oci")
    stamp = layout + ".key"
    if os.path.isdir(layout) and os.path.exists(stamp) and open(stamp).read() == key:
        return layout, unpacked
    shutil.rmtree(layout, ignore_errors=True)
    umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:{tag}")
    dockerfile = f"deploy/docker/{name}.Dockerfile"
    umoci("raw", "add-layer", "--image", f"{layout}:{tag}", "--history.created", created,
          "--history.created_by", f"COPY (the last stage of {dockerfile}, by deploy/images/build.sh)", layer)
    args = ["config", "--image", f"{layout}:{tag}", "--created", created, "--history.created", created,
            "--history.created_by", f"ENV USER EXPOSE ENTRYPOINT CMD of {dockerfile}", "--author", "azwi",
            "--manifest.annotation", f"org.opencontainers.image.title={name}",
            "--manifest.annotation", f"org.opencontainers.image.version={tag}"]
    if stages.arch != HOST_ARCH:  # umoci new makes the host's
        args += ["--architecture", stages.arch, "--os", "linux"]
    if spec["user"]:
        args += ["--config.user", spec["user"]]
    for kv in spec["env"]:
        args += ["--config.env", kv]
    for port in spec["exposed"]:
        args += ["--config.exposedports", port]
    for a in spec["entrypoint"] or []:
        args += ["--config.entrypoint", a]
    for a in spec["cmd"] or []:
        args += ["--config.cmd", a]
    umoci(*args)
    umoci("gc", "--layout", layout)
    with open(stamp, "w") as f:
        f.write(key)
    return layout, unpacked


def read_index(layout):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    if len(index["manifests"]) != 1:
        raise SystemExit(f"images: {layout} has {len(index['manifests'])} manifests, expected 1")
    return index


def image_bytes(layout):
    """What a registry stores of the layout's one image: its manifest, config and (compressed) layers."""
    descriptor = read_index(layout)["manifests"][0]
    with open(os.path.join(layout, "blobs", "sha256", descriptor["digest"].split(":", 1)[1])) as f:
        manifest = json.load(f)
    return descriptor["size"] + manifest["config"]["size"] + sum(l["size"] for l in manifest["layers"])


def merge_layouts(layouts, merged):
    """One layout whose index.json names a single image index, the manifests of LAYOUTS ({arch: layout}) with their
    platforms: a multi-architecture image that ctr import and skopeo copy take as one reference."""
    shutil.rmtree(merged, ignore_errors=True)
    blobs = os.path.join(merged, "blobs", "sha256")
    os.makedirs(blobs)
    manifests = []
    for arch, layout in sorted(layouts.items()):
        src = os.path.join(layout, "blobs", "sha256")
        for blob in os.listdir(src):
            if not os.path.exists(os.path.join(blobs, blob)):
                shutil.copyfile(os.path.join(src, blob), os.path.join(blobs, blob))
        descriptor = read_index(layout)["manifests"][0]
        descriptor.pop("annotations", None)
        descriptor["platform"] = {"architecture": arch, "os": "linux"}
        manifests.append(descriptor)
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests},
                      separators=(",", ":")).encode()
    digest = hashlib.sha256(body).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(body)
    with open(os.path.join(merged, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [{"mediaType": OCI_INDEX, "digest": f"sha256:{digest}", "size": len(body)}]}
    with open(os.path.join(merged, "index.json"), "w") as f:
        json.dump(index, f, separators=(",", ":"))
    return merged


def build_image(name, spec, reference, out_dir, work, arch_stages, epoch):
    """OUT/NAME.tar for every architecture of ARCH_STAGES: (archive, {arch: (compressed, unpacked)}, built)."""
    tag = reference.rsplit(":", 1)[1]
    layouts, unpacked = {}, {}
    for stages in arch_stages:
        layouts[stages.arch], unpacked[stages.arch] = build_layout(name, spec, tag, work, stages, epoch)
    digests = {arch: read_index(layout)["manifests"][0]["digest"] for arch, layout in layouts.items()}
    sizes = {arch: (image_bytes(layout), unpacked[arch]) for arch, layout in layouts.items()}
    key = hashlib.sha256(json.dumps([digests, reference]).encode()).hexdigest()
    archive = os.path.join(out_dir, name + ".tar")
    stamp = os.path.join(work, name + ".key")
    if os.path.exists(archive) and os.path.exists(stamp) and open(stamp).read() == key:
        return archive, sizes, False
    layout = layouts[HOST_ARCH] if len(layouts) == 1 else merge_layouts(layouts, os.path.join(work, name + "-index"))
    # The index names the image by its full reference: ctr import and skopeo read these annotations.
    index_path = os.path.join(layout, "index.json")
    index = read_index(layout)
    index["manifests"][0].setdefault("annotations", {}).update(
        {"org.opencontainers.image.ref.name": reference, "io.containerd.image.name": reference})
    with open(index_path, "w") as f:
        json.dump(index, f, separators=(",", ":"))
    tmp = archive + ".tmp"
    write_tar(tmp, layout, epoch)
    os.replace(tmp, archive)
    with open(stamp, "w") as f:
        f.write(key)
    return archive, sizes, True


def mib(n):
    return f"{n / 1048576:.2f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--static-dir", required=True, help="OUT of deploy/build-static.sh (its bin/ is /out/bin)")
    ap.add_argument("--arm64-static-dir", help="OUT of deploy/build-static.sh OUT arm64: each image that can be is "
                    "built for linux/arm64 too, and its archive is one image index of both architectures")
    ap.add_argument("--registry", default=os.environ.get("AZWI_IMAGE_REGISTRY", "ghcr.io/azwi"))
    ap.add_argument("--tag", default=os.environ.get("AZWI_IMAGE_TAG", "v" + project_version()))
    ap.add_argument("--only", action="append", help="build only this image (repeatable)")
    a = ap.parse_args()
    out = os.path.realpath(a.out)
    work = os.path.join(out, ".work")
    os.makedirs(work, exist_ok=True)
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    arch_stages = [Stages(os.path.realpath(a.static_dir), work)]
    if a.arm64_static_dir:
        arch_stages.append(Stages(os.path.realpath(a.arm64_static_dir), work, "arm64"))
    names = sorted(f[: -len(".Dockerfile")] for f in os.listdir(DOCKER_DIR) if f.endswith(".Dockerfile"))
    if a.only:
        unknown = set(a.only) - set(names)
        if unknown:
            raise SystemExit(f"images: no deploy/docker/{'/'.join(sorted(unknown))}.Dockerfile")
        names = [n for n in names if n in a.only]
    lines, report = [], []
    try:
        for name in names:
            spec = image_spec(os.path.join(DOCKER_DIR, name + ".Dockerfile"))
            reference = f"{a.registry}/{name}:{a.tag}"
            archive, sizes, built = build_image(name, spec, reference, out, work, arch_stages, epoch)
            lines.append(f"{os.path.basename(archive)} {reference}\n")
            compressed = os.path.getsize(archive)
            log(f"{name}: {'built' if built else 'unchanged'} ({' '.join(sorted(sizes))})")
            # The archive, then (with several architectures) each image's compressed / unpacked size.
            report.append(f"{name:<16} {reference:<40} compressed {mib(compressed):>10}  unpacked "
                          f"{mib(sizes[HOST_ARCH][1]):>10}" + ("" if len(sizes) == 1 else "".join(
                              f"  {arch} {mib(c)} / {mib(n)}" for arch, (c, n) in sorted(sizes.items()))))
    except DockerfileError as e:
        raise SystemExit(f"images: {e}")
    tmp = os.path.join(out, "images.txt.tmp")
    with open(tmp, "w") as f:
        f.writelines(lines)
    os.replace(tmp, os.path.join(out, "images.txt"))
    print("\n".join(report))
    with open(os.path.join(out, "sizes.txt"), "w") as f:
        f.write("\n".join(report) + "\n")


if __name__ == "__main__":
    main()
