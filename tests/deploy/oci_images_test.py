#!/usr/bin/python3
"""The OCI images deploy/images/build.sh writes (deploy.ImagesBuild fixture), checked as a cluster would use them.

- Their configs and files are what deploy/docker/*.Dockerfile say, read here on their own (not by the builder).
- Their references are the webhook's defaults and the chart's values; a rerun with nothing changed is a no-op.
- Each runs with umoci unpack + Debian's runc (root; a --root state dir and named network namespaces of the test's
  own): azwi-proxy as UID 1501, azwi-proxy-init's dry run and real rules with both iptables backends, pause exiting
  0 on SIGTERM and SIGINT and reaping orphans, the app's sh and wget with the Metadata header.
- Debian's containerd (1.6) started by the test imports each archive under its reference with plain `ctr import`.

Usage: oci_images_test.py IMAGES_DIR TEST   (TEST: a method of ImagesTest; exit 77 when it skipped)
"""
import hashlib
import http.server
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.realpath(os.path.join(HERE, "..", ".."))
DOCKER = os.path.join(ROOT, "deploy", "docker")
IMAGES = ""  # set by main
NAMES = ["azwi-proxy", "azwi-proxy-init", "azwi-webhook", "azwi-cni", "pause", "azwi-app"]


def version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return re.search(r"^project\(azwi VERSION ([0-9.]+)", f.read(), re.M).group(1)


def last_stage(name):
    """USER, ENTRYPOINT, CMD, ENV, EXPOSE and COPY destinations of the Dockerfile's last stage."""
    with open(os.path.join(DOCKER, name + ".Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    lines = [l.strip() for l in text.split("\n") if l.strip() and not l.strip().startswith("#")]
    start = max(i for i, l in enumerate(lines) if l.startswith("FROM "))
    d = {"base": lines[start].split()[1], "user": "", "entrypoint": None, "cmd": None, "env": [], "exposed": {},
         "copies": []}
    for l in lines[start + 1:]:
        word, _, rest = l.partition(" ")
        if word == "USER":
            d["user"] = rest.strip()
        elif word == "ENTRYPOINT":
            d["entrypoint"] = json.loads(rest)
        elif word == "CMD":
            d["cmd"] = json.loads(rest)
        elif word == "ENV":
            d["env"] += rest.split()
        elif word == "EXPOSE":
            d["exposed"].update({p + "/tcp": {} for p in rest.split()})
        elif word == "COPY":
            d["copies"].append(rest.split()[-2:])
    return d


def read_archive(name):
    """(index, manifest, config, layer member names) of OUT/<name>.tar."""
    with tarfile.open(os.path.join(IMAGES, name + ".tar")) as t:
        blob = lambda digest: t.extractfile("blobs/sha256/" + digest.split(":", 1)[1]).read()
        index = json.loads(t.extractfile("index.json").read())
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        members = []
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"]))) as lt:
                members += [(m.name.lstrip("./"), m) for m in lt.getmembers()]
    return index, manifest, config, dict(members)


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


class Bundle:
    """The image unpacked by umoci into a runc bundle, its generated config.json adjusted by the test."""

    def __init__(self, test, name, tmp):
        self.test, self.name = test, name
        self.dir = os.path.join(tmp, name)
        layout = os.path.join(tmp, name + "-layout")
        os.makedirs(layout)
        with tarfile.open(os.path.join(IMAGES, name + ".tar")) as t:
            t.extractall(layout)
        ref = reference(name)
        r = run(["umoci", "unpack", "--image", f"{layout}:{ref}", self.dir], timeout=120)
        test.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.dir, "config.json")) as f:
            self.config = json.load(f)
        self.config["process"]["terminal"] = False
        self.state = os.path.join(tmp, "runc-state")
        self.count = 0

    @property
    def process(self):
        return self.config["process"]

    def network(self, path):
        """path: a named namespace (/var/run/netns/X), or None for the host's network."""
        ns = self.config["linux"]["namespaces"]
        ns[:] = [n for n in ns if n["type"] != "network"]
        if path:
            ns.append({"type": "network", "path": path})

    def add_caps(self, *caps):
        for k in self.process["capabilities"]:
            self.process["capabilities"][k] += list(caps)

    def _write(self):
        with open(os.path.join(self.dir, "config.json"), "w") as f:
            json.dump(self.config, f)
        self.count += 1
        return f"azwi-test-{os.getpid()}-{self.name}-{self.count}"

    def run(self, args=None, timeout=60):
        """Runs the container in the foreground with args appended to the image's; returns the CompletedProcess."""
        saved = list(self.process["args"])
        self.process["args"] = saved + (args or [])
        cid = self._write()
        self.process["args"] = saved
        try:
            return run(["runc", "--root", self.state, "run", "--bundle", self.dir, cid], timeout=timeout)
        finally:
            run(["runc", "--root", self.state, "delete", "--force", cid])

    def start(self, args=None):
        """Starts it in the foreground as a child; returns (Popen, container id, host pid of its process)."""
        saved = list(self.process["args"])
        self.process["args"] = saved + (args or [])
        cid = self._write()
        self.process["args"] = saved
        p = subprocess.Popen(["runc", "--root", self.state, "run", "--bundle", self.dir, cid],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.test.addCleanup(lambda: (p.poll() is None and p.kill(), p.wait(),
                                      run(["runc", "--root", self.state, "delete", "--force", cid])))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = run(["runc", "--root", self.state, "state", cid])
            if r.returncode == 0 and json.loads(r.stdout)["status"] == "running":
                return p, cid, json.loads(r.stdout)["pid"]
            if p.poll() is not None:
                break
            time.sleep(0.1)
        out, err = p.communicate(timeout=10) if p.poll() is not None else ("", "")
        self.test.fail(f"{self.name} did not start (exit {p.returncode}): {out}{err}")

    def kill(self, cid, sig):
        return run(["runc", "--root", self.state, "kill", cid, sig])


def reference(name):
    with open(os.path.join(IMAGES, "images.txt")) as f:
        for line in f:
            file, ref = line.split()
            if file == name + ".tar":
                return ref
    raise AssertionError(f"{name}.tar is not in images.txt")


def netns(test, tag):
    name = f"azwi-img-{os.getpid()}-{tag}"
    r = run(["ip", "netns", "add", name])
    test.assertEqual(r.returncode, 0, r.stderr)
    test.addCleanup(lambda: run(["ip", "netns", "del", name]))
    return name


def backend_unavailable(test, backend):
    ns = netns(test, "probe-" + backend)
    r = run(["ip", "netns", "exec", ns, f"iptables-{backend}-save", "-t", "nat"])
    return "" if r.returncode == 0 else f"iptables-{backend}-save does not work here: {r.stderr.strip()}"


class ImagesTest(unittest.TestCase):
    def tmp(self):
        d = tempfile.mkdtemp(prefix="azwi-oci-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def need_root(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (umoci unpack, runc, network namespaces)")
        for tool in ("umoci", "runc"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} is not installed (scripts/install-deps.sh)")

    # -- what the images are -------------------------------------------------------------------------------------

    def test_references_are_the_webhooks_and_the_charts(self):
        with open(os.path.join(IMAGES, "images.txt")) as f:
            listed = [l.split() for l in f.read().splitlines()]
        self.assertEqual(sorted(file for file, _ in listed), sorted(n + ".tar" for n in NAMES))
        refs = dict(listed)
        v = version()
        for name in NAMES:
            self.assertEqual(refs[name + ".tar"], f"ghcr.io/azwi/{name}:v{v}")
            index, _, _, _ = read_archive(name)
            self.assertEqual(len(index["manifests"]), 1)
            ann = index["manifests"][0]["annotations"]
            self.assertEqual(ann["org.opencontainers.image.ref.name"], refs[name + ".tar"])
            self.assertEqual(ann["io.containerd.image.name"], refs[name + ".tar"])
        # The webhook injects these by default (src/webhook/config.cpp) ...
        with open(os.path.join(ROOT, "src", "webhook", "config.cpp")) as f:
            src = f.read()
        self.assertIn('"ghcr.io/azwi/azwi-proxy:v") + AZWI_VERSION', src)
        self.assertIn('"ghcr.io/azwi/azwi-proxy-init:v") + AZWI_VERSION', src)
        # ... and the chart names <registry>/<name>:v<appVersion>.
        import yaml
        chart = os.path.join(ROOT, "deploy", "helm", "azwi-webhook")
        values = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
        app_version = yaml.safe_load(open(os.path.join(chart, "Chart.yaml")))["appVersion"]
        for key in ("webhook", "proxy", "proxyInit", "cni"):
            image = values["image"][key]
            ref = f"{values['image']['registry']}/{image}:{values['image']['tag'] or 'v' + app_version}"
            self.assertEqual(refs[image + ".tar"], ref, key)

    def test_configs_are_what_the_dockerfiles_say(self):
        expected_users = {"azwi-proxy": "1501:1501", "azwi-webhook": "65532:65532", "azwi-proxy-init": "0",
                          "azwi-cni": "0", "pause": "65535:65535", "azwi-app": "1000:1000"}
        for name in NAMES:
            with self.subTest(image=name):
                d = last_stage(name)
                self.assertEqual(d["base"], "scratch")
                _, manifest, config, files = read_archive(name)
                c = config["config"]
                self.assertEqual(c.get("User", ""), d["user"])
                self.assertEqual(d["user"], expected_users[name])
                self.assertEqual(c.get("Entrypoint"), d["entrypoint"])
                self.assertEqual(c.get("Cmd"), d["cmd"])
                self.assertEqual(c.get("Env", []), d["env"])
                self.assertEqual(c.get("ExposedPorts", {}), d["exposed"])
                self.assertEqual((config["os"], config["architecture"]), ("linux", "amd64"))
                self.assertEqual(len(manifest["layers"]), 1, "one layer on an empty base")
                for src, dst in d["copies"]:
                    if dst == "/":
                        continue
                    self.assertIn(dst.strip("/"), files, f"COPY {src} {dst}")
                for path, m in files.items():
                    self.assertEqual((m.uid, m.gid), (0, 0), path)
                program = (d["entrypoint"] or d["cmd"])[0]
                resolved = program.lstrip("/") if program.startswith("/") else "bin/" + program
                self.assertIn(resolved, files)
        # The ports and the files the webhook and the proxy are known by.
        self.assertEqual(read_archive("azwi-proxy")[2]["config"]["ExposedPorts"], {"8000/tcp": {}})
        self.assertEqual(set(read_archive("azwi-webhook")[2]["config"]["ExposedPorts"]),
                         {"9443/tcp", "9440/tcp", "8095/tcp"})
        files = read_archive("azwi-proxy-init")[3]
        for tool in ("iptables-nft-save", "iptables-nft-restore", "iptables-legacy-save", "iptables-legacy-restore",
                     "iptables", "iptables-save", "iptables-restore"):
            self.assertIn("usr/sbin/" + tool, files)
        self.assertEqual(files["etc/alternatives/iptables"].linkname, "/usr/sbin/iptables-nft")
        app = read_archive("azwi-app")[3]
        for applet in ("sh", "wget", "cat", "sleep", "env"):
            self.assertEqual(app["bin/" + applet].linkname, "busybox")

    def test_builder_refuses_what_it_does_not_interpret(self):
        sys.path.insert(0, os.path.join(ROOT, "deploy", "images"))
        import oci_build
        cases = {
            'FROM scratch\nRUN echo hi\nENTRYPOINT ["/x"]\n': "x.Dockerfile:2: RUN is not supported",
            'FROM debian:bookworm\nENTRYPOINT ["/x"]\n': "must be FROM scratch",
            "FROM scratch\nENTRYPOINT /x\n": "ENTRYPOINT must be in exec form",
            'FROM scratch\nCOPY --chown=1:1 a /a\nENTRYPOINT ["/a"]\n': "COPY --chown=1:1 is not supported",
            'FROM scratch\nCOPY --from=build /a /a\nENTRYPOINT ["/a"]\n': "no stage named build",
            'FROM scratch\nENV A="b c"\nENTRYPOINT ["/a"]\n': "only unquoted KEY=VALUE",
            "FROM scratch\nUSER 1\n": "neither ENTRYPOINT nor CMD",
            'FROM scratch\nHEALTHCHECK NONE\nCMD ["/a"]\n': "HEALTHCHECK is not supported",
        }
        d = self.tmp()
        for text, message in cases.items():
            with self.subTest(dockerfile=text):
                path = os.path.join(d, "x.Dockerfile")
                with open(path, "w") as f:
                    f.write(text)
                with self.assertRaises(oci_build.DockerfileError) as e:
                    oci_build.image_spec(path)
                self.assertIn(message, str(e.exception))
        # A helper stage the host cannot stand in for.
        with open(os.path.join(d, "y.Dockerfile"), "w") as f:
            f.write('FROM alpine:3 AS tools\nRUN make /out\nFROM scratch\nCOPY --from=tools /out/a /a\n'
                    'ENTRYPOINT ["/a"]\n')
        spec = oci_build.image_spec(os.path.join(d, "y.Dockerfile"))
        with self.assertRaises(oci_build.DockerfileError) as e:
            oci_build.Stages(d, d).source(spec["stages"]["tools"], "/out/a", "here")
        self.assertIn("is FROM alpine:3", str(e.exception))
        # The project's own files are all in the subset.
        for name in NAMES:
            oci_build.image_spec(os.path.join(DOCKER, name + ".Dockerfile"))

    def test_rebuild_with_nothing_changed_is_quick_and_changes_nothing(self):
        def digests():
            out = {}
            for name in NAMES:
                with open(os.path.join(IMAGES, name + ".tar"), "rb") as f:
                    out[name] = hashlib.sha256(f.read()).hexdigest()
            return out
        before = digests()
        static = os.environ.get("AZWI_STATIC_DIR", "")
        start = time.monotonic()
        r = run([os.path.join(ROOT, "deploy", "images", "build.sh"), IMAGES] + ([static] if static else []),
                timeout=300)
        took = time.monotonic() - start
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(digests(), before)
        for name in NAMES:
            self.assertIn(f"{name}: unchanged", r.stderr)
            self.assertRegex(r.stdout, rf"{name}\s+\S+\s+compressed\s+[0-9.]+ MiB\s+unpacked\s+[0-9.]+ MiB")
        self.assertLess(took, 60, "a rerun with nothing changed should take seconds")

    # -- running them --------------------------------------------------------------------------------------------

    def test_proxy_runs_as_uid_1501(self):
        self.need_root()
        b = Bundle(self, "azwi-proxy", self.tmp())
        r = b.run(["--version"])
        self.assertEqual((r.returncode, r.stdout), (0, f"azwi-proxy {version()}\n"), r.stderr)
        # Serving, on the host's network: its UID, its /readyz, and a clean stop on SIGTERM.
        b.network(None)
        b.process["env"].append("AZURE_TENANT_ID=image-test")
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        p, cid, pid = b.start([f"--proxy-port={port}", "--log-format=text"])
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        self.assertIn("\nUid:\t1501\t1501\t1501\t1501\n", status)
        self.assertIn("\nGid:\t1501\t1501\t1501\t1501\n", status)
        ready = None
        for _ in range(50):
            ready = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1",
                         f"http://127.0.0.1:{port}/readyz"])
            if ready.stdout == "200":
                break
            time.sleep(0.1)
        self.assertEqual(ready.stdout, "200")
        b.kill(cid, "TERM")
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)

    def test_proxy_init_dry_run_prints_the_rules(self):
        self.need_root()
        b = Bundle(self, "azwi-proxy-init", self.tmp())
        b.network("/var/run/netns/" + netns(self, "dry"))
        r = b.run(["--dry-run", "--log-format=text"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT", r.stdout)
        self.assertIn("REDIRECT --to-port", r.stdout)

    def test_proxy_init_installs_rules_with_both_backends(self):
        self.need_root()
        b = Bundle(self, "azwi-proxy-init", self.tmp())
        # The webhook's securityContext for the init container: NET_ADMIN and NET_RAW.
        b.add_caps("CAP_NET_ADMIN", "CAP_NET_RAW")
        skipped = {}
        for backend in ("nft", "legacy"):
            why = backend_unavailable(self, backend)
            if why:
                skipped[backend] = why
                continue
            with self.subTest(backend=backend):
                ns = netns(self, backend)
                b.network("/var/run/netns/" + ns)
                r = b.run([f"--iptables-backend={backend}", "--log-format=text"])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn(f"installed the redirect rules backend={backend}", r.stderr)
                saved = run(["ip", "netns", "exec", ns, f"iptables-{backend}-save", "-t", "nat"]).stdout
                for rule in ("-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT",
                             "-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT",
                             "-A AZWI_PROXY_OUTPUT -j AZWI_PROXY_REDIRECT",
                             "-A AZWI_PROXY_REDIRECT -p tcp -j REDIRECT --to-ports 8000"):
                    self.assertIn(rule, saved)
                # A rerun, with the backend found on its own (auto), changes nothing.
                again = b.run(["--log-format=text"])
                self.assertEqual(again.returncode, 0, again.stderr)
                self.assertIn("already in place", again.stderr)
                self.assertIn(f"backend={backend}", again.stderr)
        if len(skipped) == 2:
            self.skipTest("; ".join(skipped.values()))
        if skipped:
            print(f"skipped backends: {skipped}", file=sys.stderr)

    def test_proxy_init_image_has_debians_iptables_names(self):
        self.need_root()
        b = Bundle(self, "azwi-proxy-init", self.tmp())
        b.network("/var/run/netns/" + netns(self, "names"))
        b.process["args"] = []
        for tool, flavour in (("iptables", "nf_tables"), ("iptables-save", "nf_tables"),
                              ("iptables-restore", "nf_tables"), ("iptables-nft-save", "nf_tables"),
                              ("iptables-nft-restore", "nf_tables"), ("iptables-legacy-save", "legacy"),
                              ("iptables-legacy-restore", "legacy")):
            r = b.run(["/usr/sbin/" + tool, "--version"])
            self.assertEqual(r.returncode, 0, f"{tool}: {r.stderr}")
            self.assertIn(f"({flavour})", r.stdout, tool)

    def test_pause_exits_zero_on_sigterm_and_sigint(self):
        self.need_root()
        b = Bundle(self, "pause", self.tmp())
        for sig in ("TERM", "INT"):
            p, cid, pid = b.start()
            with open(f"/proc/{pid}/status") as f:
                self.assertIn("\nUid:\t65535\t", f.read())
            time.sleep(0.2)
            self.assertIsNone(p.poll(), "pause must block until signalled")
            b.kill(cid, sig)
            p.communicate(timeout=10)
            self.assertEqual(p.returncode, 0, f"SIG{sig}")

    def test_pause_reaps_orphans(self):
        self.need_root()
        busybox = shutil.which("busybox")
        if not busybox:
            self.skipTest("no busybox on the host")
        b = Bundle(self, "pause", self.tmp())
        p, cid, pid = b.start()
        # An orphan in the sandbox's PID namespace: sh exits at once, its sleep is reparented to pause (PID 1).
        orphan = "sleep 0.5 </dev/null >/dev/null 2>&1 &"
        r = run(["nsenter", "-t", str(pid), "-p", "--", busybox, "sh", "-c", f"{orphan} {orphan} exit 0"])
        self.assertEqual(r.returncode, 0, r.stderr)
        children = lambda: open(f"/proc/{pid}/task/{pid}/children").read().split()
        deadline = time.monotonic() + 5
        saw = False
        while time.monotonic() < deadline:
            kids = children()
            saw = saw or bool(kids)
            if saw and not kids:
                break
            time.sleep(0.05)
        self.assertTrue(saw, "the orphans were not reparented to pause")
        self.assertEqual(children(), [], "pause left zombies")
        b.kill(cid, "TERM")
        p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0)

    def test_app_runs_sh_and_wget_with_the_metadata_header(self):
        self.need_root()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = json.dumps({"path": self.path, "metadata": self.headers.get("Metadata")}).encode()
                self.send_response(200 if self.headers.get("Metadata") == "true" else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        port = server.server_address[1]
        b = Bundle(self, "azwi-app", self.tmp())
        b.network(None)  # the host's loopback stands in for 169.254.169.254
        url = f"http://127.0.0.1:{port}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x"
        r = b.run(["-c", f"wget -q -O- --header 'Metadata: true' '{url}'"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout),
                         {"path": "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x",
                          "metadata": "true"})
        r = b.run(["-c", "echo $((6*7)) $(id -u); env | grep ^PATH=; cat /etc/passwd | grep -c ^app:; sleep 0.1; "
                         "echo done"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "42 1000\nPATH=/bin\n1\ndone\n")

    # -- importing them ------------------------------------------------------------------------------------------

    def test_images_import_into_containerd_under_their_references(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (containerd)")
        for tool in ("containerd", "ctr"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} is not installed (scripts/install-deps.sh)")
        d = self.tmp()
        sock = os.path.join(d, "containerd.sock")
        with open(os.path.join(d, "config.toml"), "w") as f:
            f.write(f'version = 2\nroot = "{d}/root"\nstate = "{d}/state"\n'
                    f'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "{sock}"\n'
                    f'[ttrpc]\n  address = "{sock}.ttrpc"\n')
        log = open(os.path.join(d, "containerd.log"), "w")
        daemon = subprocess.Popen(["containerd", "--config", os.path.join(d, "config.toml")], stdout=log,
                                  stderr=subprocess.STDOUT)

        def stop():
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            log.close()
        self.addCleanup(stop)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not os.path.exists(sock):
            self.assertIsNone(daemon.poll(), open(os.path.join(d, "containerd.log")).read())
            time.sleep(0.1)
        ctr = ["ctr", "--address", sock, "-n", "k8s.io"]
        for name in NAMES:
            r = run(ctr + ["images", "import", os.path.join(IMAGES, name + ".tar")], timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
        listed = run(ctr + ["images", "ls", "-q"]).stdout.split()
        for name in NAMES:
            self.assertIn(reference(name), listed)
        # The content is all there: containerd checks every blob of the image against its digest.
        for name in NAMES:
            r = run(ctr + ["images", "check"])
            self.assertIn(reference(name), r.stdout)
            self.assertRegex(r.stdout, re.escape(reference(name)) + r".*complete")


def main():
    global IMAGES
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    IMAGES = os.path.realpath(sys.argv[1])
    result = unittest.TextTestRunner(verbosity=2).run(unittest.TestSuite([ImagesTest("test_" + sys.argv[2])]))
    if result.skipped and result.wasSuccessful():
        sys.exit(77)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
