"""bench/cluster/run.sh's measurements on the real cluster (scripts/cluster.sh, already up): what users feel, each
figure next to a reference taken in the same run. Writes the markdown report to --out.
  1. kubectl apply of the article's pod (sidecar injected) to the app's first token, vs the same pod without
     injection to its first IMDS answer (node IMDS, no identity) and first output;
  2. the sidecar's working set (kubelet summary API) for the first and the tenth injected pod, vs the app's and the
     pause container's;
  3. the API server's admission-webhook latency for our webhook during a burst of pod creations, vs the API
     server's total POST pods latency, with and without the webhook."""
import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
import conftest as c  # noqa: E402 - the cluster tests' harness: kubectl/helm wrappers, helm install of the webhook

NS = "azwi-bench"
# scripts/cluster.sh's kubelet cgroupRoot: /<name>-cluster
CGROUP_BASE = f"/sys/fs/cgroup/memory/{os.environ.get('AZWI_CLUSTER_NAME', 'azwi')}-cluster/kubepods"
NODE = "azwi-node"
WEBHOOK = "mutation.azure-workload-identity.io"
TOKEN_URL = ("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
             "&resource=https%3A%2F%2Fmanagement.azure.com%2F")
INSTANCE_URL = "http://169.254.169.254/metadata/instance?api-version=2021-02-01"
# The app: prints a line when it starts, then asks IMDS until the answer has EXPECT in it (at most 400 tries, 50 ms
# apart), prints a line, and sleeps. containerd stamps each line as it reads it (CRI log, ns, the host's clock).
APP_SCRIPT = """echo started
n=1
until timeout 5 wget -q -O- --header 'Metadata: true' "$URL" 2>/dev/null | grep -q "$EXPECT"; do
  if [ $n -ge 400 ]; then echo gave-up; exec sleep 3600; fi
  n=$((n+1)); sleep 0.05
done
echo "answered attempts=$n"
exec sleep 3600
"""


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def app_image():
    with open(os.path.join(c.env()["AZWI_CLUSTER_STATE"], "images.txt")) as f:
        return dict(line.split() for line in f if line.strip())["azwi-app.tar"]


def pod(name, injected, extra_labels=None, node_selector=None):
    """The article's pod (labelled, the two sidecar annotations) or, not injected, the same pod without them."""
    meta = {"name": name, "namespace": NS, "labels": {"app": "bench", **(extra_labels or {})}}
    if injected:
        meta["labels"]["azure.workload.identity/use"] = "true"
        meta["annotations"] = {"azure.workload.identity/inject-proxy-sidecar": "true",
                               "azure.workload.identity/proxy-sidecar-port": "8000"}
    spec = {"serviceAccountName": "workload-identity-sa", "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "app", "image": app_image(), "command": ["sh", "-c", APP_SCRIPT],
                            "env": [{"name": "URL", "value": TOKEN_URL if injected else INSTANCE_URL},
                                    {"name": "EXPECT", "value": "access_token" if injected else "compute"}]}]}
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def cri_lines(name, container):
    """(unix time, text) of each line of a container's CRI log, read from the kubelet's podLogsDir."""
    out = []
    for path in glob.glob(f"{c.env()['AZWI_CLUSTER_STATE']}/pod-logs/{NS}_{name}_*/{container}/*.log"):
        with open(path) as f:
            for line in f:
                ts, _, rest = line.partition(" ")
                rest = rest.split(" ", 2)[-1].rstrip("\n")
                m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", ts)
                if m:
                    t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
                    out.append((t + float("0." + (m.group(2) or "0")), rest))
    return sorted(out)


def wait_line(name, container, prefix, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for t, text in cri_lines(name, container):
            if text.startswith("gave-up"):
                raise AssertionError(f"{name}: the app gave up asking IMDS")
            if text.startswith(prefix):
                return t, text
        time.sleep(0.1)
    print(c.kubectl("describe", "pod", "-n", NS, name, check=False).stdout, file=sys.stderr)
    raise AssertionError(f"gave up after {timeout} s waiting for {prefix!r} in {name}/{container}")


def delete_pods(*args, timeout=120):
    c.kubectl("delete", "pod", "-n", NS, *args, "--ignore-not-found", "--wait=true", f"--timeout={timeout}s",
              timeout=timeout + 30)


def spread(values):
    return f"{min(values):.2f}-{max(values):.2f}"


# ---------------------------------------------------------------------------------------------------- 1. first token
def first_token(runs):
    results = {"injected": [], "reference": []}
    breakdown = []
    for i in range(runs + 1):  # run 0 is a warm-up of each kind (first container start of each image), not counted
        order = ("injected", "reference") if i % 2 == 0 else ("reference", "injected")
        for kind in order:
            name = f"ttft-{kind[:3]}-{i}-{os.urandom(2).hex()}"
            manifest = json.dumps(pod(name, kind == "injected"))
            time.sleep(1)  # let the previous pod's teardown settle
            t0 = time.time()
            c.kubectl("apply", "-f", "-", input=manifest)
            t_start, _ = wait_line(name, "app", "started")
            t_answer, text = wait_line(name, "app", "answered")
            attempts = int(text.split("=")[1])
            row = {"first_output_s": t_start - t0, "first_answer_s": t_answer - t0, "attempts": attempts}
            if kind == "injected":
                proxy = cri_lines(name, "azwi-proxy")
                init = cri_lines(name, "azwi-proxy-init")
                exchange = [json.loads(t)["durationMs"] for _, t in proxy if "successfully acquired token" in t]
                row.update(proxy_start_s=proxy[0][0] - t0 if proxy else None,
                           init_first_line_s=init[0][0] - t0 if init else None,
                           exchange_ms=exchange[0] if exchange else None)
            log(f"{'warm-up' if i == 0 else f'run {i}'} {kind}: {row}")
            if i > 0:
                results[kind].append(row)
            delete_pods(name)
    return results


# ------------------------------------------------------------------------------------------------------- 2. memory
def summary():
    return json.loads(c.kubectl("get", "--raw", f"/api/v1/nodes/{NODE}/proxy/stats/summary").stdout)


def cgroup_working_sets(uid):
    """{comm of the first process: working set bytes} of each container cgroup of a pod, computed as the kubelet's
    stats do on cgroup v1 (memory.usage_in_bytes - total_inactive_file): the pause container is not in the summary."""
    base = CGROUP_BASE
    out = {}
    for d in glob.glob(f"{base}/*/pod{uid}/*/") + glob.glob(f"{base}/pod{uid}/*/"):
        try:
            procs = open(d + "cgroup.procs").read().split()
            comm = open(f"/proc/{procs[0]}/comm").read().strip() if procs else "?"
            usage = int(open(d + "memory.usage_in_bytes").read())
            stat = dict(line.split() for line in open(d + "memory.stat"))
            out[comm] = max(0, usage - int(stat.get("total_inactive_file", 0)))
        except (OSError, IndexError):
            continue
    return out


def memory_sample(names):
    """{pod name: {container: working set}} from the summary API, and the pause container's from its cgroup."""
    by_name = {p["podRef"]["name"]: p for p in summary()["pods"] if p["podRef"]["namespace"] == NS}
    out = {}
    for name in names:
        p = by_name.get(name)
        if not p:
            continue
        row = {ct["name"]: ct.get("memory", {}).get("workingSetBytes") for ct in p.get("containers", [])}
        row["pod"] = p.get("memory", {}).get("workingSetBytes")
        cg = cgroup_working_sets(p["podRef"]["uid"])
        row["pause"] = cg.get("pause")
        row["cgroup_azwi-proxy"] = cg.get("azwi-proxy")
        out[name] = row
    return out


def settled_sample(names, samples=3, interval=5):
    """Waits until the summary has every container of every pod, then the median of a few samples (the kubelet
    refreshes its container stats every few seconds)."""
    c.wait_until("the summary API to report the pods' containers",
                 lambda: all(r.get("azwi-proxy") and r.get("app") and r.get("pause")
                             for r in memory_sample(names).values()) and len(memory_sample(names)) == len(names), 90, 2)
    time.sleep(10)
    taken = []
    for _ in range(samples):
        taken.append(memory_sample(names))
        time.sleep(interval)
    return {n: {k: statistics.median([s[n][k] for s in taken if s.get(n, {}).get(k) is not None] or [0])
                for k in taken[-1][n]} for n in names}


def proxy_rss(name):
    """RSS and private (anonymous) memory of the sidecar's process, from /proc, for the report's explanation."""
    uid = c.kubectl("get", "pod", "-n", NS, name, "-o", "jsonpath={.metadata.uid}").stdout
    base = CGROUP_BASE
    for d in glob.glob(f"{base}/*/pod{uid}/*/"):
        for pid in open(d + "cgroup.procs").read().split():
            if open(f"/proc/{pid}/comm").read().strip() == "azwi-proxy":
                roll = dict((l.split(":")[0], int(l.split()[1])) for l in open(f"/proc/{pid}/smaps_rollup")
                            if l.split(":")[0] in ("Rss", "Pss", "Anonymous"))
                return roll
    return {}


def memory(count):
    names = [f"mem-{i}" for i in range(1, count + 1)]
    delete_pods("-l", "azwi-bench/memory=1")
    c.apply(pod(names[0], True, {"azwi-bench/memory": "1"}))
    wait_line(names[0], "app", "answered", 180)
    first = settled_sample(names[:1])[names[0]]
    first_rss = proxy_rss(names[0])
    log("first pod:", first, first_rss)
    c.apply([pod(n, True, {"azwi-bench/memory": "1"}) for n in names[1:]])
    for n in names[1:]:
        wait_line(n, "app", "answered", 300)
    all_pods = settled_sample(names)
    last_rss = proxy_rss(names[-1])
    log("all pods:", all_pods, last_rss)
    delete_pods("-l", "azwi-bench/memory=1", timeout=180)
    return first, first_rss, all_pods, last_rss


# ------------------------------------------------------------------------------------------------------- 3. burst
def metrics():
    return c.kubectl("get", "--raw", "/metrics", timeout=60).stdout


def histogram(text, name, match):
    """{le: cumulative count} summed over the series of `name` whose labels include every key=value of `match`."""
    buckets = {}
    for line in text.splitlines():
        if not line.startswith(name + "_bucket{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[line.index("{"):line.rindex("}")]))
        if any(labels.get(k) != v for k, v in match.items()):
            continue
        le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
        buckets[le] = buckets.get(le, 0) + float(line.rsplit(" ", 1)[1])
    return buckets


def counter(text, name, match):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(labels.get(k) == v for k, v in match.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def delta(after, before):
    return {le: after.get(le, 0) - before.get(le, 0) for le in after}


def quantile(buckets, q):
    """histogram_quantile: linear interpolation inside the bucket (seconds); None when empty."""
    les = sorted(buckets)
    total = buckets[les[-1]] if les else 0
    if not total:
        return None
    rank, prev_le, prev_count = q * total, 0.0, 0.0
    for le in les:
        if buckets[le] >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / max(buckets[le] - prev_count, 1e-9)
        prev_le, prev_count = le, buckets[le]
    return prev_le


def bucket_text(buckets):
    les = sorted(buckets)
    out, prev = [], 0
    for le in les:
        n = buckets[le] - prev
        prev = buckets[le]
        if n:
            out.append(f"≤{'+Inf' if le == float('inf') else f'{le * 1000:g} ms'}: {int(n)}")
    return ", ".join(out)


def burst(count, concurrency, rounds):
    e = c.env()
    state = e["AZWI_CLUSTER_STATE"]
    out = {"labelled": [], "unlabelled": []}
    hists = {"webhook": {}, "post_labelled": {}, "post_unlabelled": {}}
    rejected = 0.0
    for r in range(rounds):
        for kind in ("labelled", "unlabelled"):
            # No node has this label: the pods stay Pending, so only admission and the API server are measured.
            template = pod("x", kind == "labelled", {"azwi-bench/burst": "1"}, {"azwi-bench/no-such-node": "true"})
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump(template, f)
            before = metrics()
            proc = subprocess.run(
                ["nsenter", f"--net=/run/netns/{e['AZWI_CLUSTER_NETNS']}", "--", sys.executable,
                 os.path.join(ROOT, "bench", "cluster", "burst.py"), "10.242.0.1:6443", f"{state}/pki/ca.crt",
                 f"{state}/pki/admin.crt", f"{state}/pki/admin.key", NS, f.name, str(count), str(concurrency),
                 f"burst-{kind[0]}{r}"], capture_output=True, text=True, timeout=300)
            os.unlink(f.name)
            if proc.returncode != 0:
                raise AssertionError(f"burst client failed: {proc.stderr}")
            time.sleep(1)
            after = metrics()
            res = json.loads(proc.stdout)
            wh = delta(histogram(after, "apiserver_admission_webhook_admission_duration_seconds", {"name": WEBHOOK}),
                       histogram(before, "apiserver_admission_webhook_admission_duration_seconds", {"name": WEBHOOK}))
            post_match = {"verb": "POST", "resource": "pods", "subresource": ""}
            post = delta(histogram(after, "apiserver_request_duration_seconds", post_match),
                         histogram(before, "apiserver_request_duration_seconds", post_match))
            rej = (counter(after, "apiserver_admission_webhook_rejection_count", {"name": WEBHOOK}) -
                   counter(before, "apiserver_admission_webhook_rejection_count", {"name": WEBHOOK}))
            rej_hist = delta(histogram(after, "apiserver_admission_webhook_admission_duration_seconds",
                                       {"name": WEBHOOK, "rejected": "true"}),
                             histogram(before, "apiserver_admission_webhook_admission_duration_seconds",
                                       {"name": WEBHOOK, "rejected": "true"}))
            rej = max(rej, max(rej_hist.values(), default=0))
            lat = sorted(res["latencies_ms"])
            row = {"wall_s": res["wall_s"], "rate": len(lat) / res["wall_s"], "codes": res["codes"],
                   "errors": res["error_count"], "unfinished": res["unfinished"],
                   "client_p50_ms": statistics.median(lat), "client_p99_ms": lat[int(0.99 * (len(lat) - 1))],
                   "webhook_count": max(wh.values(), default=0), "post_count": max(post.values(), default=0),
                   "webhook_p99_ms": (quantile(wh, 0.99) or 0) * 1000, "post_p99_ms": (quantile(post, 0.99) or 0) * 1000,
                   "rejected": rej}
            log(f"burst round {r + 1} {kind}: {row}")
            out[kind].append(row)
            if kind == "labelled":
                hists["webhook"] = {k: hists["webhook"].get(k, 0) + v for k, v in wh.items()}
            key = "post_" + kind
            hists[key] = {k: hists[key].get(k, 0) + v for k, v in post.items()}
            rejected += rej
            delete_pods("-l", "azwi-bench/burst=1", timeout=180)
    return out, hists, rejected


# ------------------------------------------------------------------------------------------------------- report
def steal_s():
    with open("/proc/stat") as f:
        return int(f.readline().split()[8]) / os.sysconf("SC_CLK_TCK")


def setup():
    if c.kubectl("get", "namespace", c.WEBHOOK_NAMESPACE, check=False).returncode != 0:
        c.kubectl("create", "namespace", c.WEBHOOK_NAMESPACE)
        c.kubectl("label", "namespace", c.WEBHOOK_NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    c.helm_install_webhook()
    if c.kubectl("get", "namespace", NS, check=False).returncode != 0:
        c.create_namespace(NS)
    c.emulator_ca_configmap(NS)
    c.workload_service_account(NS)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pods", type=int, default=10)
    ap.add_argument("--burst", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--command", default="bench/cluster/run.sh")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    started = time.monotonic()
    steal0 = steal_s()
    setup()
    log("webhook installed")
    ttft = first_token(a.runs)
    steal1 = steal_s()
    first, first_rss, all_pods, last_rss = memory(a.pods)
    steal2 = steal_s()
    bursts, hists, rejected = burst(a.burst, a.concurrency, a.rounds)
    steal3 = steal_s()
    elapsed = time.monotonic() - started

    kube = re.search(r"k8s.io/kubernetes (v\S+)", open(os.path.join(ROOT, "scripts/cluster/kube/go.mod")).read())
    containerd = subprocess.run(["containerd", "--version"], capture_output=True, text=True).stdout.split()[2]
    version = re.search(r"project\(azwi VERSION (\S+)", open(os.path.join(ROOT, "CMakeLists.txt")).read()).group(1)
    mem_mib = int(open("/proc/meminfo").readline().split()[1]) // 1024
    load = open("/proc/loadavg").read().split()[:3]
    other = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
             if n.endswith("-node") and n != c.env()["AZWI_CLUSTER_NETNS"]]

    inj, ref = ttft["injected"], ttft["reference"]
    med = lambda rows, k: statistics.median([r[k] for r in rows if r.get(k) is not None])
    vals = lambda rows, k: [r[k] for r in rows if r.get(k) is not None]
    t_inj, t_ref, t_out = med(inj, "first_answer_s"), med(ref, "first_answer_s"), med(ref, "first_output_s")

    last = all_pods[f"mem-{a.pods}"]
    ws = lambda b: f"{b / 1048576:.2f}"
    proxies = [r["azwi-proxy"] for r in all_pods.values()]
    wh = hists["webhook"]
    q = lambda h, p: (quantile(h, p) or 0) * 1000
    lab, unl = bursts["labelled"], bursts["unlabelled"]
    cli = lambda rows, k: statistics.median([r[k] for r in rows])
    codes = {}
    for row in lab + unl:
        for k, v in row["codes"].items():
            codes[k] = codes.get(k, 0) + v
    errors = sum(r["errors"] + r["unfinished"] for r in lab + unl)

    L = []
    p = L.append
    p("# Cluster benchmark: what users feel on a real cluster")
    p("")
    p(f"Command: `{a.command}` on {os.cpu_count()} cores ({os.uname().machine}), {mem_mib} MiB of memory, "
      f"{datetime.now(timezone.utc):%Y-%m-%d}; one run took {elapsed / 60:.1f} min (cluster up and down included: "
      "a few seconds more).")
    p(f"Versions: Kubernetes {kube.group(1) if kube else '?'} (scripts/cluster/kube/go.mod), containerd {containerd}, "
      f"azwi {version} (the images deploy/images/build.sh builds, the webhook installed by helm from deploy/helm with "
      "2 replicas, as tests/cluster/conftest.py installs it).")
    p(f"CPU time the hypervisor took from this VM (steal) during the first-token runs: {steal1 - steal0:.1f} s, the "
      f"memory part: {steal2 - steal1:.1f} s, the bursts: {steal3 - steal2:.1f} s. Load average at the end: "
      f"{' '.join(load)}; other clusters running on the machine at the same time: {', '.join(other) or 'none'} "
      "(the machine is shared: compare the figures with their references, taken in the same run).")
    p("")
    p("The cluster is `scripts/cluster.sh` (one node, API server, etcd, controller manager, scheduler, kubelet, "
      "kube-proxy, containerd, the emulator as Entra ID and as the node's IMDS), all on the same 2 cores as the pods "
      "and the client.")
    p("")
    p("## 1. From `kubectl apply` to the application's first token")
    p("")
    p("The pod is the migration article's (label azure.workload.identity/use, annotations inject-proxy-sidecar and "
      "proxy-sidecar-port 8000, service account workload-identity-sa), so the webhook injects azwi-proxy-init and the "
      "azwi-proxy sidecar (a native sidecar: the app starts once the sidecar's postStart probe answers). Its app "
      "container (busybox) prints a line when it starts, then runs `timeout 5 wget` of the IMDS token URL with "
      "`Metadata: true` every 50 ms until the answer carries an access_token, and prints a line. The reference is the "
      "same pod without the label and annotations (no injection); its app asks the node's IMDS "
      "(`/metadata/instance`, answered by the emulator without any identity: there is no token without the "
      "sidecar) the same way. Times run from just before `kubectl apply` (the user's command, including kubectl's "
      "own start) to the line's timestamp in the container's CRI log (containerd stamps each line as it reads it, "
      "with the same clock), so the test's polling does not add to them. "
      f"{a.runs} runs of each kind, alternating which goes first, after one warm-up run of each (not counted); each "
      "pod is deleted, and gone, before the next is applied.")
    p("")
    p("| pod | first output s (median) | first IMDS answer s (median) | spread (min-max) | IMDS attempts |")
    p("|---|---:|---:|---:|---:|")
    p(f"| reference: no injection | {t_out:.2f} | {t_ref:.2f} | {spread(vals(ref, 'first_answer_s'))} | "
      f"{', '.join(str(r['attempts']) for r in ref)} |")
    p(f"| article's pod, sidecar injected | {med(inj, 'first_output_s'):.2f} | **{t_inj:.2f}** (token) | "
      f"{spread(vals(inj, 'first_answer_s'))} | {', '.join(str(r['attempts']) for r in inj)} |")
    p("")
    p(f"- **first token with the sidecar: {t_inj / t_ref:.2f}x** the reference's first IMDS answer "
      f"({t_inj:.2f} s vs {t_ref:.2f} s; +{t_inj - t_ref:.2f} s), {t_inj / t_out:.2f}x its first output")
    p(f"- where the injected pod's time goes (medians, from apply): azwi-proxy-init's first log line "
      f"{med(inj, 'init_first_line_s'):.2f} s, the sidecar's first log line {med(inj, 'proxy_start_s'):.2f} s, the "
      f"app's first output {med(inj, 'first_output_s'):.2f} s, the token {t_inj:.2f} s (from the sidecar's first "
      f"line to the app's first output: {statistics.median([r['first_output_s'] - r['proxy_start_s'] for r in inj if r.get('proxy_start_s')]):.2f} s, "
      "the kubelet running the sidecar's postStart hook, an exec of `azwi-proxy --probe` in the sidecar through "
      "containerd and runc, then starting the app container; the proxy itself is ready 2.2 ms after its exec, "
      "bench/results/proxy.md); the sidecar's token exchange "
      f"with Entra (the emulator) took {statistics.median(vals(inj, 'exchange_ms')):.0f} ms (its log's durationMs)")
    p(f"- every run's first answer (s): injected {', '.join(f'{v:.2f}' for v in vals(inj, 'first_answer_s'))}; "
      f"reference {', '.join(f'{v:.2f}' for v in vals(ref, 'first_answer_s'))}")
    p("")
    p("## 2. The sidecar's memory on the node")
    p("")
    p(f"Working sets as the kubelet reports them (summary API, `/api/v1/nodes/{NODE}/proxy/stats/summary`, "
      "memory.workingSetBytes; median of 3 samples 5 s apart, once the kubelet reports every container and 10 s "
      "more). The summary has no entry for the pause container (the sandbox): its figure is computed from its "
      "cgroup the way the kubelet's stats compute working sets on this cgroup v1 node (memory.usage_in_bytes - "
      "total_inactive_file). Each pod is the article's pod whose app has fetched one token through its sidecar (so "
      "the sidecar holds one token and has made one TLS connection to Entra), then sleeps. "
      f"First: one injected pod on the node; then {a.pods} injected pods running at once. A page of the image's "
      "files is charged to the first cgroup that reads it, so the first pod also carries pages the others share; the "
      f"{a.pods}th pod is the honest per-pod cost.")
    p("")
    p("| MiB | azwi-proxy (sidecar) | app (busybox sleep) | pause (sandbox) | whole pod (summary) |")
    p("|---|---:|---:|---:|---:|")
    p(f"| first pod, alone | {ws(first['azwi-proxy'])} | {ws(first['app'])} | {ws(first['pause'])} | "
      f"{ws(first['pod'] or 0)} |")
    p(f"| {a.pods}th pod, {a.pods} running | **{ws(last['azwi-proxy'])}** | {ws(last['app'])} | {ws(last['pause'])} | "
      f"{ws(last['pod'] or 0)} |")
    p("")
    p(f"- the {a.pods}th pod's sidecar: **{last['azwi-proxy'] / last['app']:.1f}x** its app container's working set, "
      f"**{last['azwi-proxy'] / last['pause']:.1f}x** the pause container's")
    p(f"- the {a.pods} sidecars with {a.pods} pods running (MiB): "
      f"{', '.join(ws(v) for v in proxies)}; median {ws(statistics.median(proxies))}")
    if first_rss and last_rss:
        p(f"- the sidecar's process from /proc (KiB, for comparison with bench/results/proxy.md): first pod RSS "
          f"{first_rss.get('Rss')}, PSS {first_rss.get('Pss')}, anonymous {first_rss.get('Anonymous')}; {a.pods}th pod "
          f"RSS {last_rss.get('Rss')}, PSS {last_rss.get('Pss')}, anonymous {last_rss.get('Anonymous')} "
          "(RSS counts the shared image pages in every process; the working set counts only what the cgroup was "
          "charged for)")
    p("")
    p("## 3. Admission latency during a burst of pod creations")
    p("")
    p(f"{a.rounds} rounds, each a burst of {a.burst} labelled pods (the article's pod: the webhook is called and "
      f"injects the sidecar), then a burst of {a.burst} unlabelled ones (the webhook's objectSelector skips them: the "
      f"reference). Each burst is created by a client of this repository's (bench/cluster/burst.py) over "
      f"{a.concurrency} keep-alive HTTPS connections as the cluster admin, each sending its next POST when the "
      "previous one is answered, inside the node's network namespace. The pods have a nodeSelector no node "
      "matches: they stay Pending (the scheduler only marks them unschedulable), so the node's 2 cores go to the API "
      "server, etcd, the webhook and the client, and only admission and storage are measured. The API server's "
      f"metrics (`kubectl get --raw /metrics`) are read before and after each burst: "
      f"`apiserver_admission_webhook_admission_duration_seconds` for name {WEBHOOK} and "
      '`apiserver_request_duration_seconds{verb="POST",resource="pods",subresource=""}`; quantiles are interpolated '
      "inside the histograms' buckets as Prometheus' histogram_quantile does (the webhook histogram's buckets are "
      "5, 25, 100, 500 ms ..., so its p50 and p99 are coarse: the bucket counts are printed). The pods are deleted "
      "between bursts.")
    p("")
    p("| figure | labelled pods (webhook called) | unlabelled pods (reference) |")
    p("|---|---:|---:|")
    p(f"| API server: webhook admission p50 / p99 ms | {q(wh, 0.5):.1f} / **{q(wh, 0.99):.1f}** | - |")
    p(f"| API server: POST pods p50 / p99 ms | {q(hists['post_labelled'], 0.5):.1f} / "
      f"{q(hists['post_labelled'], 0.99):.1f} | {q(hists['post_unlabelled'], 0.5):.1f} / "
      f"{q(hists['post_unlabelled'], 0.99):.1f} |")
    p(f"| client: POST p50 / p99 ms (median of rounds) | {cli(lab, 'client_p50_ms'):.1f} / "
      f"{cli(lab, 'client_p99_ms'):.1f} | {cli(unl, 'client_p50_ms'):.1f} / {cli(unl, 'client_p99_ms'):.1f} |")
    p(f"| creates/s (median of rounds) | {cli(lab, 'rate'):.0f} | {cli(unl, 'rate'):.0f} |")
    p(f"| requests counted by the API server (all rounds) | webhook {int(max(wh.values(), default=0))}, POST "
      f"{int(max(hists['post_labelled'].values(), default=0))} | POST "
      f"{int(max(hists['post_unlabelled'].values(), default=0))} |")
    p("")
    p(f"- webhook admission p99 **{q(wh, 0.99):.1f} ms** = **{q(wh, 0.99) / q(hists['post_labelled'], 0.99):.2f}x** "
      f"the API server's p99 for the same creates ({q(hists['post_labelled'], 0.99):.1f} ms); the whole create "
      f"with the webhook vs without: p50 {q(hists['post_labelled'], 0.5) / q(hists['post_unlabelled'], 0.5):.2f}x, "
      f"p99 {q(hists['post_labelled'], 0.99) / q(hists['post_unlabelled'], 0.99):.2f}x")
    p(f"- webhook admission durations (API server's buckets, all labelled rounds): {bucket_text(wh)}")
    p(f"- the API server called the webhook {max(wh.values(), default=0) / max(max(hists['post_labelled'].values(), default=1), 1):.1f} "
      "times per labelled pod: the chart's reinvocationPolicy is IfNeeded, and the in-tree admission plugins run "
      "again after the webhook's patch (the ServiceAccount plugin adds its token volume mount to the injected "
      "containers), which makes the API server call the webhook once more (it finds its sidecar already there, src/webhook/mutation.cpp)")
    p(f"- webhook rejections: {int(rejected)}; client answers by status: {codes}; client errors or unfinished "
      f"workers: {errors}")
    p(f"- per round, labelled: " + "; ".join(
        f"{r['rate']:.0f}/s, webhook p99 {r['webhook_p99_ms']:.1f} ms, POST p99 {r['post_p99_ms']:.1f} ms" for r in lab)
      + "; unlabelled: " + "; ".join(f"{r['rate']:.0f}/s, POST p99 {r['post_p99_ms']:.1f} ms" for r in unl))
    with open(a.out, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
