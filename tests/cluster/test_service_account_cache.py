"""The webhook's service account cache (list + watch, GET on a miss) against the real API server's watch: a service
account created just before its pod, an annotation changed later, and the watch closed by the API server (it ends
every watch at the client's timeoutSeconds) and opened again where it was, without a new list.

The webhook is installed here asking for timeoutSeconds=30 (chart value watchTimeoutSeconds; 300 by default), and the
API server honours a client's timeoutSeconds whatever its --min-request-timeout (that flag only bounds watches that
name no timeout), so the close comes within about a minute on any cluster. The last test reads the API server's audit log of service account
watches (tests/cluster/audit-policy.yaml, given with AZWI_CLUSTER_APISERVER_ARGS) and skips without it."""
import base64
import datetime
import json
import os
import subprocess
import time
import uuid

import pytest

from conftest import (WEBHOOK_NAMESPACE, apply, ensure_webhook_namespace, env, helm_install_webhook, kubectl,
                      kubectl_json, unique, wait_until)
from test_seed_flow import app_image
from webhook_inspect import (container_env, pod_metrics, metric, print_diagnostics,
                             webhook_log_lines, webhook_pods)

CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
RESTARTS = "azwi_webhook_serviceaccount_watch_restarts_total"
LOOKUPS = "azwi_webhook_serviceaccount_lookups_total"
# The webhook's watch timeoutSeconds, shorter than its default 300 (--watch-timeout-seconds) so that the API server
# closes every replica's watch within the test's time.
WATCH_TIMEOUT = 30
CLOSED = {}  # what the close test saw, for the audit log test after it


@pytest.fixture(scope="module")
def webhook():
    """The chart as the migration guide installs it, but with a short watch timeout; the next file's install puts the
    default back."""
    ensure_webhook_namespace()
    helm_install_webhook(watchTimeoutSeconds=WATCH_TIMEOUT)
    return WEBHOOK_NAMESPACE


def service_account(ns, name, client_id):
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns, "annotations": {CLIENT_ID_ANNOTATION: client_id}}}


def labelled_pod(ns, name, sa):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"azure.workload.identity/use": "true"}},
            "spec": {"serviceAccountName": sa,
                     "containers": [{"name": "app", "image": app_image(), "command": ["sleep", "3600"]}]}}


def injected_client_id(ns, pod):
    values, _ = container_env(kubectl_json("get", "pod", "-n", ns, pod)["spec"]["containers"][0])
    return values.get("AZURE_CLIENT_ID")


def apiserver_flags():
    with open(os.path.join(env()["AZWI_CLUSTER_STATE"], "run", "kube-apiserver.pid")) as f:
        pid = f.read().strip()
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        args = f.read().decode().split("\0")
    flags = {}
    for a in args:
        if a.startswith("--"):
            key, _, value = a[2:].partition("=")
            flags[key] = value
    return flags


def audit_watches(log_path):
    """The webhook's ServiceAccount watches and lists in the API server's audit log."""
    prefix = f"system:serviceaccount:{WEBHOOK_NAMESPACE}:"
    events = []
    with open(log_path) as f:
        for line in f:
            e = json.loads(line)
            if e["user"]["username"].startswith(prefix) and e["verb"] in ("watch", "list"):
                events.append(e)
    return events


def direct_review_client_id(pod_ip, ns, sa):
    """AZURE_CLIENT_ID in the patch one webhook replica answers to an AdmissionReview for a pod of `sa`, sent
    from the node's network namespace straight to the replica's admission port."""
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": {"uid": str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": "Pod"},
                          "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": ns,
                          "operation": "CREATE", "object": labelled_pod(ns, unique("direct"), sa)}}
    out = subprocess.run(["nsenter", f"--net=/run/netns/{env()['AZWI_CLUSTER_NETNS']}", "--", "curl", "-sS", "-k",
                          "--max-time", "10", "-H", "Content-Type: application/json", "--data-binary", "@-",
                          f"https://{pod_ip}:9443/mutate-v1-pod"], input=json.dumps(review), capture_output=True,
                         text=True, timeout=20, check=True).stdout
    response = json.loads(out)["response"]
    assert response["allowed"], response
    for op in json.loads(base64.b64decode(response["patch"])):
        for e in (op["value"] if isinstance(op.get("value"), list) else [op.get("value")]):
            if isinstance(e, dict) and e.get("name") == "AZURE_CLIENT_ID":
                return e["value"]
    return None


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_service_account_created_just_before_its_pod_gets_its_client_id(webhook, namespace):
    ns = namespace
    lookups_before = sum(metric(pod_metrics(p), LOOKUPS) for p in webhook_pods())
    made = []
    try:
        # In one kubectl apply (the account, then at once the pod) and in two calls back to back, no pause.
        for i in range(3):
            sa, pod, client_id = unique("sa"), unique("pod"), str(uuid.uuid4())
            apply([service_account(ns, sa, client_id), labelled_pod(ns, pod, sa)])
            made.append((pod, client_id))
        for i in range(3):
            sa, pod, client_id = unique("sa"), unique("pod"), str(uuid.uuid4())
            apply(service_account(ns, sa, client_id))
            apply(labelled_pod(ns, pod, sa))
            made.append((pod, client_id))
        assert [(pod, injected_client_id(ns, pod)) for pod, _ in made] == made
        lookups_after = sum(metric(pod_metrics(p), LOOKUPS) for p in webhook_pods())
        print(f"cache misses answered by a GET: {lookups_after - lookups_before} of {len(made)} pods")
    except BaseException:
        print_diagnostics(ns, *[pod for pod, _ in made])
        raise


def test_changed_service_account_annotation_is_seen_by_the_next_pod(webhook, namespace):
    ns = namespace
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    apply(service_account(ns, "changing-sa", first))
    pods = []
    try:
        apply(labelled_pod(ns, "before-change", "changing-sa"))
        pods.append("before-change")
        assert injected_client_id(ns, "before-change") == first
        kubectl("annotate", "serviceaccount", "-n", ns, "changing-sa", f"{CLIENT_ID_ANNOTATION}={second}",
                "--overwrite")
        for i in range(4):  # the next pods, whichever replica answers them
            apply(labelled_pod(ns, f"after-change-{i}", "changing-sa"))
            pods.append(f"after-change-{i}")
        assert [injected_client_id(ns, p) for p in pods[1:]] == [second] * 4
    except BaseException:
        print_diagnostics(ns, *pods)
        raise


def test_webhook_keeps_serving_after_the_api_server_closes_its_watch(webhook, namespace):
    ns = namespace
    flags = apiserver_flags()
    print(f"kube-apiserver --min-request-timeout={flags.get('min-request-timeout', '1800 (default)')}; the webhook "
          f"asks for timeoutSeconds={WATCH_TIMEOUT}, which the API server honours")
    pods = webhook_pods()
    assert pods
    ips = {p["status"]["podIP"]: p["metadata"]["name"]
           for p in kubectl_json("get", "pods", "-n", WEBHOOK_NAMESPACE, "-l", "app.kubernetes.io/name=azwi-webhook")["items"]
           if p["metadata"]["name"] in pods}
    made = []
    try:
        # Earlier tests' namespaces finish going first: their service accounts' deletions are watch events too.
        wait_until("no namespace to be terminating",
                   lambda: all(n["status"].get("phase") != "Terminating"
                               for n in kubectl_json("get", "namespaces")["items"]), 90, 1)
        old_id, new_id = str(uuid.uuid4()), str(uuid.uuid4())
        apply([service_account(ns, "cached-sa", old_id), labelled_pod(ns, "cached-before", "cached-sa")])
        made.append("cached-before")
        assert injected_client_id(ns, "cached-before") == old_id
        closed_before = {p: metric(pod_metrics(p), RESTARTS, reason="closed") for p in pods}
        mark = utc_now()
        started = time.monotonic()

        def all_closed():
            now = {p: metric(pod_metrics(p), RESTARTS, reason="closed") for p in pods}
            return now if all(now[p] > closed_before[p] for p in pods) else None
        closed_after = wait_until("every webhook replica's watch to be closed by the API server and opened again",
                                  all_closed, WATCH_TIMEOUT + 60, 5)
        print(f"watch restarts (closed) {closed_before} -> {closed_after} after {time.monotonic() - started:.0f} s")
        CLOSED.update(mark=mark, ips=ips)

        # A new account and its pod at once (a miss: GET or the new watch's event).
        apply([service_account(ns, "after-close-sa", new_id), labelled_pod(ns, "new-after-close", "after-close-sa")])
        made.append("new-after-close")
        assert injected_client_id(ns, "new-after-close") == new_id
        # A cached account changed: only the new watch can tell the webhook (a cached account is not fetched again).
        changed_id = str(uuid.uuid4())
        kubectl("annotate", "serviceaccount", "-n", ns, "cached-sa", f"{CLIENT_ID_ANNOTATION}={changed_id}",
                "--overwrite")
        apply(labelled_pod(ns, "changed-after-close", "cached-sa"))
        made.append("changed-after-close")
        assert injected_client_id(ns, "changed-after-close") == changed_id
        # The API server keeps one connection to the webhook's Service, so that pod met one replica: ask each
        # replica directly, as the API server would.
        for ip, pod in ips.items():
            assert wait_until(f"replica {pod} to answer with the changed client ID",
                              lambda: direct_review_client_id(ip, ns, "cached-sa") == changed_id, 10), pod

        # What the webhook's own log says about its watch since the mark (it logs relists, expiries and failures;
        # a watch the server closed at its timeout is counted in the metric above, not logged).
        kube_lines = [line for line in webhook_log_lines(since_time=mark) if line.get("logger") == "kube"]
        print("webhook log lines of its API client since the mark:", json.dumps(kube_lines, indent=1))
        assert not [line for line in kube_lines if line.get("level") in ("warn", "error")], kube_lines
    except BaseException:
        print_diagnostics(ns, *made)
        raise


def rv_of(uri):
    return int(dict(kv.split("=", 1) for kv in uri.split("?", 1)[1].split("&"))["resourceVersion"])


def test_webhook_watches_again_from_where_it_was_without_listing(webhook):
    """From the API server's audit log: each replica's watch, ended by the server at its timeoutSeconds, was followed
    at once by a new watch (bookmarks asked for) from a resourceVersion no older than the ended one's, and no list.
    (Whether a bookmark moved that resourceVersion cannot be told from outside: the webhook neither logs nor counts
    bookmarks, and this API server's bookmarks carry the last ServiceAccount event's resourceVersion.)"""
    log_path = apiserver_flags().get("audit-log-path")
    if not log_path:
        pytest.skip("the API server keeps no audit log: start the cluster with AZWI_CLUSTER_APISERVER_ARGS="
                    "'--audit-policy-file=tests/cluster/audit-policy.yaml --audit-log-path=...' to see the "
                    "webhook's watch requests")
    if not CLOSED:
        pytest.skip("test_webhook_keeps_serving_after_the_api_server_closes_its_watch did not complete")
    events = audit_watches(log_path)
    mark = CLOSED["mark"]
    for ip, pod in CLOSED["ips"].items():
        mine = [e for e in events if ip in e.get("sourceIPs", [])]
        summary = [(e["stage"], e["verb"], e["requestURI"], e["requestReceivedTimestamp"], e["stageTimestamp"])
                   for e in mine]
        ended = [e for e in mine if e["verb"] == "watch" and e["stage"] == "ResponseComplete"
                 and e["stageTimestamp"] > mark]
        assert ended, (pod, summary)
        end = ended[0]
        lasted = (datetime.datetime.fromisoformat(end["stageTimestamp"].replace("Z", "+00:00"))
                  - datetime.datetime.fromisoformat(end["requestReceivedTimestamp"].replace("Z", "+00:00")))
        assert abs(lasted.total_seconds() - WATCH_TIMEOUT) < 5, (pod, lasted, summary)
        after = [e for e in mine if e["requestReceivedTimestamp"] >= end["stageTimestamp"]]
        assert after and after[0]["verb"] == "watch", (pod, "listed again instead of watching on", summary)
        rewatch = after[0]
        assert "allowWatchBookmarks=true" in rewatch["requestURI"], rewatch["requestURI"]
        assert rv_of(rewatch["requestURI"]) >= rv_of(end["requestURI"]), (pod, summary)
        print(f"{pod}: watch from {rv_of(end['requestURI'])} ended by the server after {lasted.total_seconds():.1f} s;"
              f" watched again from {rv_of(rewatch['requestURI'])} at {rewatch['requestReceivedTimestamp']}")
