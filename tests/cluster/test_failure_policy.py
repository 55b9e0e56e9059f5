"""failurePolicy: Fail on the real cluster: with no webhook replica a labelled pod is refused with a message naming the
webhook (unlabelled pods are not affected) and admitted again once the webhook is back; a rolling restart of the
webhook's Deployment refuses no pod creation."""
import json
import os
import threading
import time

import yaml

from conftest import (CHART, WEBHOOK_DEPLOYMENT, WEBHOOK_NAME, WEBHOOK_NAMESPACE, WEBHOOK_SERVICE, kubectl,
                      kubectl_json, print_webhook_diagnostics, run, unique, wait_until, wait_webhook_ready,
                      webhook_values)
from test_seed_flow import app_image

SELECTOR = "app.kubernetes.io/name=azwi-webhook"


def labelled_pod(namespace, name=None):
    """A pod the webhook must mutate, held by a scheduling gate so that it is only an API object (no container runs:
    the restart test creates a hundred of them)."""
    meta = {"namespace": namespace, "labels": {"azure.workload.identity/use": "true", "azwi-test": "failure-policy"}}
    meta.update({"name": name} if name else {"generateName": "labelled-"})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"schedulingGates": [{"name": "azwi.test/hold"}],
                     "containers": [{"name": "app", "image": app_image(), "command": ["sleep", "3600"]}]}}


def unlabelled_pod(namespace, name):
    pod = labelled_pod(namespace, name)
    del pod["metadata"]["labels"]["azure.workload.identity/use"]
    return pod


def create(pod, timeout=40):
    """kubectl create of one pod; the completed process (the API server's answer is in stderr when refused)."""
    return kubectl("create", "-f", "-", "-o", "name", input=json.dumps(pod), check=False, timeout=timeout)


def mutated(namespace, name):
    pod = kubectl_json("get", "pod", "-n", namespace, name)
    env = {e["name"] for e in pod["spec"]["containers"][0].get("env", [])}
    return "AZURE_FEDERATED_TOKEN_FILE" in env


def ready_endpoints():
    slices = kubectl_json("get", "endpointslices", "-n", WEBHOOK_NAMESPACE, "-l",
                          f"kubernetes.io/service-name={WEBHOOK_SERVICE}")
    return [a for s in slices["items"] for ep in s.get("endpoints") or []
            if ep.get("conditions", {}).get("ready") for a in ep["addresses"]]


def scale(replicas):
    kubectl("scale", "deployment", "-n", WEBHOOK_NAMESPACE, WEBHOOK_DEPLOYMENT, f"--replicas={replicas}")


def test_chart_renders_failure_policy_fail_and_the_cluster_has_it(webhook):
    rendered = run("helm", "template", "azwi-webhook", CHART, "--namespace", WEBHOOK_NAMESPACE,
                   *[a for k, v in webhook_values().items() for a in ("--set-json", f"{k}={json.dumps(v)}")]).stdout
    configs = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "MutatingWebhookConfiguration"]
    assert [w["failurePolicy"] for c in configs for w in c["webhooks"]] == ["Fail"], rendered
    live = kubectl_json("get", "mutatingwebhookconfiguration", "azure-wi-webhook-mutating-webhook-configuration")
    assert [(w["name"], w["failurePolicy"]) for w in live["webhooks"]] == [(WEBHOOK_NAME, "Fail")]


def test_labelled_pod_is_refused_naming_the_webhook_while_no_replica_runs_and_admitted_once_it_is_back(
        webhook, namespace):
    try:
        scale(0)
        wait_until("the webhook's pods to be gone",
                   lambda: not kubectl_json("get", "pods", "-n", WEBHOOK_NAMESPACE, "-l", SELECTOR)["items"], 90)
        wait_until("the webhook Service to have no ready endpoint", lambda: not ready_endpoints(), 60)

        refused = create(labelled_pod(namespace, "while-down"))
        print(f"kubectl create (exit {refused.returncode}):\n{refused.stdout}{refused.stderr}")
        assert refused.returncode != 0, "a labelled pod was created with no webhook replica: " + refused.stdout
        message = refused.stderr
        # What the user sees: the API server could not call the webhook, named, and failurePolicy made that a refusal.
        assert "Internal error occurred" in message, message
        assert f'failed calling webhook "{WEBHOOK_NAME}"' in message, message
        assert f"https://{WEBHOOK_SERVICE}.{WEBHOOK_NAMESPACE}.svc:443/mutate-v1-pod" in message, message
        # The reason depends on how the API server reaches Services: "no endpoints available for service ..." when
        # it resolves endpoints itself (--enable-aggregator-routing), "connect: connection refused" when kube-proxy's
        # REJECT rule answers, and on this cluster (the API server in the node's network namespace, Service IPs
        # routed to lo, where the kernel sends no ICMP for the REJECT) the call waits out timeoutSeconds.
        tails = (f'no endpoints available for service "{WEBHOOK_SERVICE}"', "connect: connection refused",
                 "connect: no route to host", "context deadline exceeded")
        assert any(t in message for t in tails), message
        assert kubectl("get", "pod", "-n", namespace, "while-down", check=False).returncode != 0

        # The webhook configuration only selects labelled pods: everything else is admitted as usual.
        plain = create(unlabelled_pod(namespace, "unlabelled"))
        assert plain.returncode == 0, plain.stderr
        assert not mutated(namespace, "unlabelled")
    except Exception:
        print_webhook_diagnostics(namespace)
        raise
    finally:
        scale(2)
    try:
        wait_webhook_ready()
        wait_until("two ready webhook endpoints", lambda: len(ready_endpoints()) == 2, 120)
        # The first request after the endpoints appear may still race kube-proxy's rules on a busy node: retry for
        # a few seconds, then it must be admitted and mutated.
        back = wait_until("a labelled pod to be admitted again",
                          lambda: create(labelled_pod(namespace, "after")).returncode == 0, 30, 1)
        assert back
        assert mutated(namespace, "after")
    except Exception:
        print_webhook_diagnostics(namespace)
        raise


def webhook_pods():
    return kubectl_json("get", "pods", "-n", WEBHOOK_NAMESPACE, "-l", SELECTOR)["items"]


def test_rolling_restart_of_the_webhook_refuses_no_pod_creation(webhook, namespace):
    wait_webhook_ready()
    wait_until("two ready webhook endpoints", lambda: len(ready_endpoints()) == 2, 120)
    # Warm up: the API server's connections to the webhook exist, as in a cluster that has been running.
    for _ in range(3):
        assert create(labelled_pod(namespace)).returncode == 0
    old = {p["metadata"]["name"] for p in webhook_pods()}
    created, refused, stop = [], [], threading.Event()

    # AZWI_RESTART_CREATORS=N AZWI_RESTART_INTERVAL=S: more creations, for hunting the shutdown race by hand.
    creators = int(os.environ.get("AZWI_RESTART_CREATORS", "1"))
    interval = float(os.environ.get("AZWI_RESTART_INTERVAL", "0.5"))

    def creator():
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            proc = create(labelled_pod(namespace))
            stamp = time.strftime("%H:%M:%S")
            if proc.returncode == 0:
                created.append(proc.stdout.strip())
            else:
                refused.append(f"{stamp} {proc.stderr.strip()}")
            stop.wait(max(0.0, interval - (time.monotonic() - started)))

    threads = [threading.Thread(target=creator, daemon=True) for _ in range(creators)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        kubectl("rollout", "restart", "deployment", "-n", WEBHOOK_NAMESPACE, WEBHOOK_DEPLOYMENT)
        kubectl("rollout", "status", "deployment", "-n", WEBHOOK_NAMESPACE, WEBHOOK_DEPLOYMENT, "--timeout=110s",
                timeout=120)
        # The Deployment counts a rollout complete once the old pods are terminating; their shutdown (and the
        # removal of their endpoints) is the part that races, so keep creating until they are gone, and a bit more.
        wait_until("the old webhook pods to be gone",
                   lambda: not old & {p["metadata"]["name"] for p in webhook_pods()},
                   max(5, 115 - (time.monotonic() - started)))
        time.sleep(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    took = time.monotonic() - started
    print(f"rolling restart: {len(created)} labelled pods created, {len(refused)} refused, in {took:.1f} s")
    try:
        assert not refused, "pod creations refused during the rolling restart:\n" + "\n".join(refused)
        assert len(created) >= 10, f"only {len(created)} creations during the restart"
        new = {p["metadata"]["name"] for p in webhook_pods()}
        assert len(new) == 2 and not new & old
        # Every one was mutated: the webhook answered them all (none slipped through unmutated).
        pods = kubectl_json("get", "pods", "-n", namespace, "-l", "azwi-test=failure-policy")["items"]
        unmutated = [p["metadata"]["name"] for p in pods
                     if "AZURE_FEDERATED_TOKEN_FILE" not in {e["name"] for e in p["spec"]["containers"][0].get("env", [])}]
        assert not unmutated, unmutated
    except Exception:
        print_webhook_diagnostics(namespace)
        raise
