"""Harness for the tests on the real local cluster (scripts/cluster.sh): kubectl and helm in the cluster's network
namespace, bounded waits, a namespace per test, and the webhook installed by real helm from deploy/helm."""
import base64
import json
import os
import subprocess
import time
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "deploy", "helm", "azwi-webhook")
WEBHOOK_NAMESPACE = "azure-workload-identity-system"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
# scripts/cluster/emulator.json: this identity is federated with <namespace>:workload-identity-sa of these namespaces.
CLIENT_ID = "5a8b6c1d-0e2f-4a3b-9c4d-7e6f8a9b0c1d"
FEDERATED_NAMESPACES = ("default", "azwi-e2e", "azwi-bench", "azwi-demo", "azwi-cni")


def cluster_env():
    """The exports of `scripts/cluster.sh env` as a dict (the cluster must be up)."""
    out = subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh"), "env"], capture_output=True, text=True,
                         timeout=30)
    if out.returncode != 0:
        pytest.fail("no cluster: " + out.stderr.strip())
    env = {}
    for line in out.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    return env


ENV = None


def env():
    global ENV
    if ENV is None:
        if os.geteuid() != 0:
            pytest.skip("the cluster tests need root (scripts/cluster.sh up)")
        ENV = cluster_env()
    return ENV


def run(tool, *args, input=None, check=True, timeout=60):
    """Runs kubectl or helm (the cluster's wrappers) and returns the completed process."""
    e = env()
    cmd = [os.path.join(e["AZWI_CLUSTER_STATE"], "bin", tool), *args]
    proc = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "KUBECONFIG": e["KUBECONFIG"]})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join([tool, *args])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def kubectl(*args, **kw):
    return run("kubectl", *args, **kw)


def kubectl_json(*args, **kw):
    return json.loads(kubectl(*args, "-o", "json", **kw).stdout)


def apply(manifest, *args):
    """kubectl apply of a manifest given as a dict, a list of dicts or YAML text."""
    if not isinstance(manifest, str):
        items = manifest if isinstance(manifest, list) else [manifest]
        manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    return kubectl("apply", *args, "-f", "-", input=manifest)


def wait_until(what, predicate, timeout=120, interval=0.5):
    """Calls predicate until it returns a truthy value (returned), at most `timeout` seconds; the failure names
    what was waited for and the predicate's last exception or value."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as e:  # noqa: BLE001 - reported when the wait gives up
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def pod_phase(namespace, name):
    return kubectl_json("get", "pod", "-n", namespace, name)["status"].get("phase")


def wait_pod_running(namespace, name, timeout=120):
    def ready():
        pod = kubectl_json("get", "pod", "-n", namespace, name)
        statuses = pod["status"].get("containerStatuses", [])
        if pod["status"].get("phase") in ("Failed", "Succeeded"):
            raise AssertionError(f"pod {name} ended: {json.dumps(pod['status'])}")
        return statuses and all(s.get("ready") for s in statuses)
    try:
        wait_until(f"pod {namespace}/{name} to run with every container ready", ready, timeout)
    except AssertionError:
        print(kubectl("describe", "pod", "-n", namespace, name, check=False).stdout)
        print(kubectl("get", "events", "-n", namespace, check=False).stdout)
        raise


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def create_namespace(name, labels=None):
    kubectl("create", "namespace", name)
    if labels:
        kubectl("label", "namespace", name, *[f"{k}={v}" for k, v in labels.items()])
    wait_until(f"the default service account of namespace {name}",
               lambda: kubectl("get", "serviceaccount", "-n", name, "default", check=False).returncode == 0, 60)


def delete_namespace(name):
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def namespace():
    """A namespace of the test's own, deleted afterwards (without waiting for its pods to go)."""
    name = unique("t")
    create_namespace(name)
    yield name
    delete_namespace(name)


@pytest.fixture
def federated_namespace():
    """A namespace whose workload-identity-sa the emulator's identity is federated with (created if missing; its
    pods are deleted afterwards)."""
    name = "azwi-e2e"
    if kubectl("get", "namespace", name, check=False).returncode != 0:
        create_namespace(name)
    yield name
    kubectl("delete", "pods,jobs,deployments", "--all", "-n", name, "--wait=false", check=False)


def webhook_values(**extra):
    e = env()
    values = {
        "azureTenantID": TENANT_ID,
        "authorityHost": e["AZWI_CLUSTER_AUTHORITY_HOST"],
        "proxyCAConfigMap": "azwi-emulator-ca",
        "replicaCount": 2,
    }
    values.update(extra)
    return values


def helm_install_webhook(**extra):
    """helm upgrade --install of the chart with the cluster's settings; waits until the webhook answers admissions."""
    args = ["upgrade", "--install", "azwi-webhook", CHART, "--namespace", WEBHOOK_NAMESPACE, "--wait",
            "--timeout", "180s"]
    for key, value in webhook_values(**extra).items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    run("helm", *args, timeout=240)
    wait_webhook_ready()


def wait_webhook_ready():
    def ca_bundle():
        cfg = kubectl_json("get", "mutatingwebhookconfiguration", "azure-wi-webhook-mutating-webhook-configuration")
        return all(w.get("clientConfig", {}).get("caBundle") for w in cfg["webhooks"])
    wait_until("the webhook's caBundle to be set by its certificate rotation", ca_bundle, 120)
    kubectl("rollout", "status", "-n", WEBHOOK_NAMESPACE, "deployment/azure-wi-webhook-controller-manager",
            "--timeout=120s", timeout=130)

    # A replaced webhook pod goes on answering admissions while it terminates (the chart's preStop delay keeps it in
    # the Service until its endpoints are gone), so an upgrade's new settings apply only once the old pods are gone.
    def old_pods_gone():
        pods = kubectl_json("get", "pods", "-n", WEBHOOK_NAMESPACE)["items"]
        return all("deletionTimestamp" not in p["metadata"] for p in pods)
    wait_until("the replaced webhook pods to be gone", old_pods_gone, 120)


@pytest.fixture(scope="session")
def webhook():
    """The webhook installed by helm (once per test session), as the migration guide installs it."""
    ensure_webhook_namespace()
    helm_install_webhook()
    return WEBHOOK_NAMESPACE


def namespace_phase(name):
    proc = kubectl("get", "namespace", name, "-o", "jsonpath={.status.phase}", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_webhook_namespace():
    """The webhook's namespace, labelled as the plain manifests label it (helm's --create-namespace would not);
    waits for a namespace being deleted (by an earlier test's uninstall) to go first."""
    wait_until(f"namespace {WEBHOOK_NAMESPACE} to be Active or gone",
               lambda: namespace_phase(WEBHOOK_NAMESPACE) in (None, "Active"), 120)
    if namespace_phase(WEBHOOK_NAMESPACE) is None:
        kubectl("create", "namespace", WEBHOOK_NAMESPACE)
    kubectl("label", "--overwrite", "namespace", WEBHOOK_NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")


def emulator_ca_configmap(namespace):
    """The emulator's CA as the ConfigMap the webhook projects into the sidecar (proxyCAConfigMap)."""
    yaml_text = kubectl("create", "configmap", "azwi-emulator-ca", "-n", namespace,
                        f"--from-file=ca.crt={env()['AZWI_CLUSTER_EMULATOR_CA']}", "--dry-run=client",
                        "-o", "yaml").stdout
    apply(yaml_text)


def workload_service_account(namespace, name="workload-identity-sa", client_id=CLIENT_ID):
    """The migration guide's service account: annotated with the identity's client ID, labelled."""
    apply({"apiVersion": "v1", "kind": "ServiceAccount",
           "metadata": {"name": name, "namespace": namespace,
                        "annotations": {"azure.workload.identity/client-id": client_id},
                        "labels": {"azure.workload.identity/use": "true"}}})


WEBHOOK_DEPLOYMENT = "azure-wi-webhook-controller-manager"
WEBHOOK_SERVICE = "azure-wi-webhook-webhook-service"
WEBHOOK_NAME = "mutation.azure-workload-identity.io"


def print_webhook_diagnostics(namespace=None):
    """What a failed test needs to say why: the webhook's pods, Deployment, events and logs (every replica, the
    previous container too), and the test namespace's events."""
    for args in (("get", "pods,endpointslices,pdb", "-n", WEBHOOK_NAMESPACE, "-o", "wide"),
                 ("describe", "deployment", "-n", WEBHOOK_NAMESPACE, WEBHOOK_DEPLOYMENT),
                 ("get", "events", "-n", WEBHOOK_NAMESPACE, "--sort-by=.lastTimestamp"),
                 ("logs", "-n", WEBHOOK_NAMESPACE, "-l", "app.kubernetes.io/name=azwi-webhook", "--prefix",
                  "--tail=200", "--all-containers")):
        out = kubectl(*args, check=False)
        print(f"$ kubectl {' '.join(args)}\n{out.stdout}{out.stderr}")
    if namespace:
        out = kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False)
        print(f"$ kubectl get events -n {namespace}\n{out.stdout}{out.stderr}")
