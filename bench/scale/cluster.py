"""bench/scale/run.sh --cluster's measurements on the real cluster (scripts/cluster.sh, already up, with the accounts
of bench/scale/accounts.py created): the webhook installed by helm (one replica), restarted, and then
  - its time from exec to the first 200 of /readyz (the process's start time from /proc, /readyz polled every 20 ms
    from the node's network namespace), and from exec to its "service account cache synced" log line;
  - its resident memory (VmRSS, VmHWM of the process) once ready;
  - the reference: the same list (resourceVersion 0, which the API server answers in one page from its watch cache)
    fetched by a client that only reads the bytes (accounts.py list), and the list of the latest version in pages of
    500 from etcd (what a list after 410 Gone costs).
Prints a markdown section."""
import argparse
import glob
import json
import os
import subprocess
import sys
from datetime import datetime

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
import conftest as c  # noqa: E402 - the cluster tests' harness: kubectl/helm wrappers, helm install of the webhook

DEPLOYMENT = "azure-wi-webhook-controller-manager"
CGROUP_BASE = f"/sys/fs/cgroup/memory/{os.environ.get('AZWI_CLUSTER_NAME', 'azwi')}-cluster/kubepods"
TICK = os.sysconf("SC_CLK_TCK")
# Run in the node's network namespace: the first time (CLOCK_BOOTTIME) /readyz answers 200, polled every 20 ms.
POLL = """import sys, time, urllib.request
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        if urllib.request.urlopen(sys.argv[1], timeout=1).status == 200:
            print(time.clock_gettime(time.CLOCK_BOOTTIME)); sys.exit(0)
    except OSError:
        pass
    time.sleep(0.02)
sys.exit(1)
"""


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def webhook_pods():
    pods = c.kubectl_json("get", "pods", "-n", c.WEBHOOK_NAMESPACE,
                          "-l", "app.kubernetes.io/name=azwi-webhook")["items"]
    return [p for p in pods if "deletionTimestamp" not in p["metadata"]]


def webhook_pid(uid):
    for procs in glob.glob(f"{CGROUP_BASE}/*/pod{uid}/*/cgroup.procs") + glob.glob(f"{CGROUP_BASE}/pod{uid}/*/cgroup.procs"):
        for pid in open(procs).read().split():
            try:
                if open(f"/proc/{pid}/comm").read().strip() == "azwi-webhook":
                    return pid
            except OSError:
                pass
    return None


def status_kib(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def restart_and_measure():
    old = {p["metadata"]["name"] for p in webhook_pods()}
    c.kubectl("rollout", "restart", "-n", c.WEBHOOK_NAMESPACE, f"deployment/{DEPLOYMENT}")
    found = {}

    def new_process():
        for p in webhook_pods():
            if p["metadata"]["name"] in old or not p["status"].get("podIP"):
                continue
            pid = webhook_pid(p["metadata"]["uid"])
            if pid:
                found.update(pod=p, pid=pid)
                return True
        return False
    c.wait_until("the restarted webhook's process", new_process, timeout=120, interval=0.02)
    pod, pid = found["pod"], found["pid"]
    started = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19]) / TICK
    url = f"http://{pod['status']['podIP']}:9440/readyz"
    netns = c.env()["AZWI_CLUSTER_NETNS"]
    ready = subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "python3", "-c", POLL, url],
                           capture_output=True, text=True, timeout=150)
    if ready.returncode != 0:
        sys.exit(f"bench: the restarted webhook was not ready within 120 s: {ready.stderr}")
    ready_s = float(ready.stdout) - started
    rss, hwm = status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")
    logs = c.kubectl("logs", "-n", c.WEBHOOK_NAMESPACE, pod["metadata"]["name"]).stdout.splitlines()
    entries = [json.loads(line) for line in logs if line.startswith("{")]
    synced = next(e for e in entries if e.get("msg") == "service account cache synced")
    first = entries[0]
    stamp = lambda e: datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp()  # noqa: E731
    c.wait_until("the old webhook pods to be gone", lambda: len(webhook_pods()) == 1, timeout=120)
    return {"ready_s": ready_s, "rss_kib": rss, "hwm_kib": hwm, "count": synced["count"],
            "log_sync_s": stamp(synced) - stamp(first)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--create", required=True, help="accounts.py create's JSON summary line")
    ap.add_argument("--restarts", type=int, default=3)
    args = ap.parse_args()
    created = json.loads(args.create)
    if c.kubectl("get", "namespace", c.WEBHOOK_NAMESPACE, check=False).returncode != 0:
        c.kubectl("create", "namespace", c.WEBHOOK_NAMESPACE)
        c.kubectl("label", "namespace", c.WEBHOOK_NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    c.helm_install_webhook(replicaCount=1)
    runs = []
    for i in range(args.restarts):
        runs.append(restart_and_measure())
        log(f"restart {i + 1}: {runs[-1]}")
    netns = c.env()["AZWI_CLUSTER_NETNS"]

    def reference_list(*args):
        return json.loads(subprocess.run(
            ["nsenter", f"--net=/run/netns/{netns}", "python3", os.path.join(ROOT, "bench", "scale", "accounts.py"),
             "list", *args], capture_output=True, text=True, timeout=300, check=True,
            env={**os.environ, "KUBECONFIG": c.env()["KUBECONFIG"]}).stdout)
    reference = reference_list("500", "0")  # the webhook's first list: the watch cache's one page
    paged = reference_list("500")  # a list after 410 Gone: the latest, from etcd, in pages
    total = runs[0]["count"]
    med = lambda k: sorted(r[k] for r in runs)[len(runs) // 2]  # noqa: E731

    def each(k, scale=1.0):
        return ", ".join(f"{r[k] / scale:.2f}" for r in runs)
    print("## On the real cluster")
    print()
    print(f"scripts/cluster.sh's single-node cluster on the same machine (Kubernetes 1.33, etcd, the API server and the "
          f"webhook share the cores) with {total} service accounts ({created['accounts']} from bench/scale/accounts.py "
          f"in {created['namespaces']} namespaces, created with 32 parallel POSTs in {created['seconds']} s this run "
          f"({created['created']} created, {created['existed']} there already), and the namespaces' default ones). "
          f"The webhook installed by helm (one replica, the chart's 1 CPU limit), restarted {args.restarts} times "
          f"(kubectl rollout restart), medians:")
    print()
    print("| figure | median | runs |")
    print("|---|---:|---|")
    print(f"| accounts in the webhook's cache at sync | {med('count')} | |")
    print(f"| exec to the first 200 of /readyz, s | **{med('ready_s'):.2f}** | "
          f"{each('ready_s')} |")
    print(f"| exec to \"service account cache synced\" (its log), s | {med('log_sync_s'):.2f} | "
          f"{each('log_sync_s')} |")
    print(f"| RSS once ready, MiB | **{med('rss_kib') / 1024:.1f}** | "
          f"{each('rss_kib', 1024)} |")
    print(f"| peak RSS (VmHWM), MiB | **{med('hwm_kib') / 1024:.1f}** | "
          f"{each('hwm_kib', 1024)} |")
    print(f"| reference: the same list (resourceVersion 0) read and dropped by accounts.py list ({reference['pages']} "
          f"page, {reference['bytes'] / 1048576:.0f} MiB), s | {reference['seconds']:.2f} | |")
    print(f"| the latest version (as after 410 Gone), from etcd, read and dropped ({paged['pages']} pages), s | "
          f"{paged['seconds']:.2f} | |")
    print()
    print(f"- ready in **{med('ready_s') / reference['seconds']:.2f}x** the time the API server takes to send the same "
          f"list to a client that only reads it (target: ready <= 20 s, RSS <= 32 MiB)")


if __name__ == "__main__":
    main()
