"""What the installed webhook says about itself, for the real-cluster tests: its pods, their /metrics (read through the
API server's pod proxy) and their JSON log lines, and the diagnostics a failing test prints."""
import json
import re

from conftest import WEBHOOK_NAMESPACE, kubectl, kubectl_json

METRICS_PORT = 8095  # the chart's metrics.port
WEBHOOK_SELECTOR = "app.kubernetes.io/name=azwi-webhook"
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def webhook_pods():
    """Names of the webhook's running pods."""
    pods = kubectl_json("get", "pods", "-n", WEBHOOK_NAMESPACE, "-l", WEBHOOK_SELECTOR)["items"]
    return sorted(p["metadata"]["name"] for p in pods
                  if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp"))


def parse_metrics(text):
    """Prometheus text format -> {(name, ((label, value), ...)): float}."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def pod_metrics(pod):
    raw = kubectl("get", "--raw", f"/api/v1/namespaces/{WEBHOOK_NAMESPACE}/pods/{pod}:{METRICS_PORT}/proxy/metrics",
                  timeout=30).stdout
    return parse_metrics(raw)


def metric(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def webhook_metric(name, **labels):
    """The sum over every webhook pod; also {pod: value}."""
    per_pod = {pod: metric(pod_metrics(pod), name, **labels) for pod in webhook_pods()}
    return sum(per_pod.values()), per_pod


def pod_log_lines(pod, since_time=None):
    args = ["logs", "-n", WEBHOOK_NAMESPACE, pod]
    if since_time:
        args.append(f"--since-time={since_time}")
    proc = kubectl(*args, check=False, timeout=30)
    if proc.returncode != 0:  # the kubelet has not written or has rotated the file
        raise AssertionError(f"cannot read the log of webhook pod {pod}: {proc.stderr.strip()}")
    out = proc.stdout
    lines = []
    for text in out.splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            lines.append({"msg": text})
    return lines


def webhook_log_lines(since_time=None):
    """Every webhook pod's JSON log lines, each with "_pod" added."""
    lines = []
    for pod in webhook_pods():
        for line in pod_log_lines(pod, since_time):
            line["_pod"] = pod
            lines.append(line)
    return lines


def admission_lines(pod_name, namespace=None, lines=None):
    """The webhook's admission log lines for a pod (its name, or its generateName for controller-made pods)."""
    lines = webhook_log_lines() if lines is None else lines
    found = [line for line in lines if line.get("pod") == pod_name and "result" in line
             and (namespace is None or line.get("namespace") == namespace)]
    return sorted(found, key=lambda line: line.get("ts", ""))  # the replicas' logs interleaved by time


def webhook_log_tail(n=40):
    text = []
    for pod in webhook_pods():
        out = kubectl("logs", "-n", WEBHOOK_NAMESPACE, pod, f"--tail={n}", check=False, timeout=30).stdout
        text.append(f"--- webhook pod {pod}, last {n} log lines:\n{out}")
    return "\n".join(text)


def print_diagnostics(namespace, *pods):
    """What a failing test prints: the pods described, the namespace's events, the webhook's recent logs."""
    for pod in pods:
        print(kubectl("describe", "pod", "-n", namespace, pod, check=False).stdout)
    print(kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False).stdout)
    print(kubectl("get", "pods", "-n", WEBHOOK_NAMESPACE, "-o", "wide", check=False).stdout)
    print(webhook_log_tail())


def container_env(container):
    """{name: value or valueFrom} of a container spec, and the list of names (to see duplicates)."""
    names = [e["name"] for e in container.get("env", [])]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}, names
