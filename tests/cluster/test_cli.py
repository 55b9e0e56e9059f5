"""The `azwi` CLI on the real cluster: `jwks` against the API server's own JWKS; `doctor pod` on pods that each make
one failure of docs/troubleshooting.md (the doctor's words are checked); `podidentity detect` on aad-pod-identity
CRDs and objects of the test's own making, its files applied; `serviceaccount create|delete` through the emulator's
ARM role, after which the sidecar's exchange succeeds."""
import json
import os
import re
import subprocess
import time

import pytest

from conftest import (CLIENT_ID, ROOT, TENANT_ID, apply, create_namespace, delete_namespace, emulator_ca_configmap,
                      env, kubectl, kubectl_json, unique, wait_pod_running, wait_until, workload_service_account)
from test_seed_flow import app_image

TOKEN_URL = ("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
             "&resource=https%3A%2F%2Fmanagement.azure.com%2F")
# scripts/cluster/emulator.json: the identity the CLI's ARM calls run as (federated with azwi-e2e:azwi-operator), and
# an identity with no federated credential until `azwi serviceaccount create` gives it one.
OPERATOR_CLIENT_ID = "0c7d3f2a-6b1e-4d5c-8a9f-2e4b6c8d0a1f"
APP_IDENTITY = {"client_id": "3e9a1b7c-5d2f-4e8a-b6c0-9f1d3a5e7b2c", "name": "azwi-cli-app",
                "resource_group": "azwi-rg", "subscription_id": "6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}


def azwi_binary():
    build = os.environ.get("AZWI_BUILD_DIR", os.path.join(ROOT, "build"))
    path = os.path.join(build, "cmd", "azwi", "azwi")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (scripts/build.sh azwi)")
    return path


def azwi(*args, extra_env=None, timeout=120):
    """Runs azwi in the cluster's network namespace with the admin kubeconfig."""
    e = env()
    cmd = ["nsenter", f"--net=/run/netns/{e['AZWI_CLUSTER_NETNS']}", "--", azwi_binary(), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "KUBECONFIG": e["KUBECONFIG"], **(extra_env or {})})


def doctor(ns, pod, *extra, **kw):
    proc = azwi("doctor", "pod", pod, "-n", ns, "-o", "json", *extra, **kw)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    report["exit"] = proc.returncode
    report["by_name"] = {c["name"]: c for c in report["checks"]}
    return report


def token_loop_pod(ns, name, sa="workload-identity-sa", labels=None, annotations=None):
    """A pod whose app asks IMDS for a token every 2 s (the sidecar logs each exchange)."""
    loop = f'while true; do wget -q -O- --header "Metadata: true" "{TOKEN_URL}" >/dev/null 2>&1; sleep 2; done'
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"azure.workload.identity/use": "true"} if labels is None else labels,
                     "annotations": {"azure.workload.identity/inject-proxy-sidecar": "true"}
                     if annotations is None else annotations},
        "spec": {"serviceAccountName": sa, "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "app", "image": app_image(), "command": ["sh", "-c", loop]}]},
    }


def service_account(ns, name, annotations):
    apply({"apiVersion": "v1", "kind": "ServiceAccount",
           "metadata": {"name": name, "namespace": ns, "annotations": annotations}})


def wait_doctor(ns, pod, check, what, timeout=90, args=(), **kw):
    """Runs the doctor until `check(report)` holds (the sidecar's log fills as the app asks)."""
    last = {}

    def ready():
        nonlocal last
        last = doctor(ns, pod, *args, **kw)
        return check(last)
    try:
        wait_until(what, ready, timeout, interval=2)
    except AssertionError:
        print(json.dumps(last, indent=1))
        raise
    return last


@pytest.fixture
def cli_namespace(webhook):
    name = unique("cli")
    create_namespace(name)
    emulator_ca_configmap(name)
    yield name
    delete_namespace(name)


def test_jwks_has_the_kids_and_keys_of_the_api_servers_own_jwks():
    e = env()
    ours = json.loads(azwi("jwks", "--public-keys", os.path.join(e["AZWI_CLUSTER_STATE"], "pki", "sa.pub")).stdout)
    theirs = json.loads(kubectl("get", "--raw", "/openid/v1/jwks").stdout)
    assert [(k["kid"], k["n"], k["e"], k["alg"]) for k in ours["keys"]] == \
           [(k["kid"], k["n"], k["e"], k["alg"]) for k in theirs["keys"]]
    # The kid the API server writes into the tokens it signs finds our key.
    token = kubectl("create", "token", "default", "-n", "default").stdout.strip()
    header = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] in {k["kid"] for k in ours["keys"]}


def test_doctor_reports_a_working_pod_its_mode_token_claims_and_last_success(webhook, federated_namespace):
    ns = federated_namespace
    emulator_ca_configmap(ns)
    workload_service_account(ns)
    kubectl("delete", "pod", "-n", ns, "doctor-ok", "--ignore-not-found", "--wait=true", timeout=90)
    apply(token_loop_pod(ns, "doctor-ok"))
    wait_pod_running(ns, "doctor-ok", timeout=180)
    report = wait_doctor(ns, "doctor-ok", lambda r: "succeeded" in r["by_name"]["sidecar"]["summary"],
                         "the sidecar's first token")
    c = report["by_name"]
    assert report["exit"] == 0 and report["ok"], report
    assert c["label"]["status"] == "ok"
    assert c["service-account"]["details"]["client-id"] == CLIENT_ID
    assert c["webhook"]["status"] == "ok" and "mutated" in c["webhook"]["summary"]
    assert c["proxy"]["summary"] == "azwi-proxy injected, mode init-container"
    assert c["proxy-init"]["status"] == "ok"
    claims = c["token"]["details"]
    assert claims["iss"] == env()["AZWI_CLUSTER_ISSUER"]
    assert claims["sub"] == f"system:serviceaccount:{ns}:workload-identity-sa"
    assert claims["aud"] == "api://AzureADTokenExchange"
    # Claims only: no JWT (three base64url parts) anywhere in what the doctor printed.
    text = azwi("doctor", "pod", "doctor-ok", "-n", ns).stdout
    assert not any(word.count(".") == 2 and word.startswith("eyJ") for word in text.split()), text
    assert "OK    sidecar" in text and "fix:" not in text, text


def test_doctor_names_each_failure_of_the_troubleshooting_doc(cli_namespace):
    ns = cli_namespace
    service_account(ns, "no-client-id", {})
    service_account(ns, "unknown-client", {"azure.workload.identity/client-id": "11111111-2222-4333-8444-555555555555"})
    service_account(ns, "bad-tenant", {"azure.workload.identity/client-id": CLIENT_ID,
                                       "azure.workload.identity/tenant-id": "00000000-0000-4000-8000-00000000dead"})
    # Annotated with the emulator's identity, whose credentials name other namespaces' accounts only.
    workload_service_account(ns, "not-federated")
    pods = {
        "unlabelled": token_loop_pod(ns, "unlabelled", "not-federated", labels={}),
        "label-yes": token_loop_pod(ns, "label-yes", "not-federated", labels={"azure.workload.identity/use": "yes"}),
        "no-sidecar": token_loop_pod(ns, "no-sidecar", "not-federated", annotations={}),
        "no-client-id": token_loop_pod(ns, "no-client-id", "no-client-id"),
        "subject": token_loop_pod(ns, "subject", "not-federated"),
        "unknown-client": token_loop_pod(ns, "unknown-client", "unknown-client"),
        "bad-tenant": token_loop_pod(ns, "bad-tenant", "bad-tenant"),
    }
    apply(list(pods.values()))
    for name in pods:
        wait_pod_running(ns, name, timeout=180)

    r = doctor(ns, "unlabelled")
    assert r["exit"] == 1
    assert r["by_name"]["label"]["status"] == "fail"
    assert "the label azure.workload.identity/use is missing" in r["by_name"]["label"]["summary"]
    assert "recreate" in r["by_name"]["label"]["fix"]
    assert r["by_name"]["webhook"]["status"] == "skip"

    r = doctor(ns, "label-yes")
    assert 'is "yes", not "true"' in r["by_name"]["label"]["summary"]

    r = doctor(ns, "no-sidecar")
    assert r["by_name"]["webhook"]["status"] == "ok"
    assert r["by_name"]["proxy"]["status"] == "info"
    assert "lacks the annotation azure.workload.identity/inject-proxy-sidecar" in r["by_name"]["proxy"]["summary"]

    r = wait_doctor(ns, "no-client-id", lambda r: "last error" in r["by_name"]["sidecar"]["details"],
                    "the sidecar to refuse a request naming no identity")
    sa = r["by_name"]["service-account"]
    assert sa["status"] == "fail" and "has no azure.workload.identity/client-id annotation" in sa["summary"]
    assert f"kubectl annotate serviceaccount -n {ns} no-client-id" in sa["fix"]

    expectations = {
        "subject": (700213, "no credential with that issuer has the token's subject"),
        "unknown-client": (700016, "the client ID is not an application or identity of the tenant"),
        "bad-tenant": (90002, "the tenant does not exist"),
    }
    for pod, (code, meaning) in expectations.items():
        r = wait_doctor(ns, pod, lambda r: "entra" in r["by_name"], f"Entra's answer in {pod}'s sidecar log")
        assert r["exit"] == 1
        assert r["by_name"]["sidecar"]["status"] == "fail"
        assert f"AADSTS{code}" in r["by_name"]["sidecar"]["details"]["last error"]
        entra = r["by_name"]["entra"]
        assert entra["summary"] == f"Entra ID answered AADSTS{code}: {meaning}", entra
        assert entra["fix"]
    assert "system:serviceaccount:<namespace>:<service account>" in doctor(ns, "subject")["by_name"]["entra"]["fix"]

    # The text form: aligned columns, no colour when not a terminal, colour on one (script(1) gives it a pty).
    text = azwi("doctor", "pod", "subject", "-n", ns).stdout
    assert "\x1b[" not in text
    e = env()
    tty = subprocess.run(["script", "-qec", " ".join(["nsenter", f"--net=/run/netns/{e['AZWI_CLUSTER_NETNS']}", "--",
                                                      azwi_binary(), "doctor", "pod", "subject", "-n", ns]), "/dev/null"],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KUBECONFIG": e["KUBECONFIG"], "TERM": "xterm"})
    assert "\x1b[31;1mFAIL  \x1b[0mentra" in tty.stdout, tty.stdout
    assert re.search(r"^  FAIL  entra +Entra ID answered AADSTS700213: ", text, re.M), text
    assert re.search(r"^ +fix: create a federated credential", text, re.M), text


def test_doctor_on_a_pod_labelled_after_creation_and_one_that_does_not_exist(cli_namespace):
    ns = cli_namespace
    workload_service_account(ns, "not-federated")
    apply(token_loop_pod(ns, "late-label", "not-federated", labels={}))
    wait_pod_running(ns, "late-label")
    kubectl("label", "pod", "-n", ns, "late-label", "azure.workload.identity/use=true")
    webhook = doctor(ns, "late-label")["by_name"]["webhook"]
    assert webhook["status"] == "fail"
    assert "created before the label" in webhook["summary"] and "rollout restart" in webhook["fix"]

    r = doctor(ns, "no-such-pod")
    assert r["exit"] == 1 and r["by_name"]["pod"]["summary"] == f"pod {ns}/no-such-pod not found"


def test_doctor_explains_a_pod_stuck_on_the_missing_ca_configmap(webhook):
    ns = unique("cli-noca")
    create_namespace(ns)  # without the azwi-emulator-ca ConfigMap the chart's proxyCAConfigMap names
    try:
        workload_service_account(ns, "not-federated")
        apply(token_loop_pod(ns, "no-ca", "not-federated"))
        r = wait_doctor(ns, "no-ca", lambda r: r["by_name"].get("events", {}).get("status") == "fail",
                        "the FailedMount event")
        ev = r["by_name"]["events"]
        assert 'configmap "azwi-emulator-ca" not found' in ev["details"]["FailedMount"]
        assert "PROXY_CA_CONFIGMAP" in ev["fix"] and ns in ev["fix"]
        assert r["by_name"]["pod"]["summary"] == "phase Pending"
    finally:
        delete_namespace(ns)


POD_IDENTITY_KINDS = {"AzureIdentity": "azureidentities", "AzureIdentityBinding": "azureidentitybindings",
                      "AzurePodIdentityException": "azurepodidentityexceptions"}


@pytest.fixture
def pod_identity_crds():
    """aad-pod-identity's three CRDs (v1, schemaless like the project's own), removed afterwards."""
    crds = [{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
             # *.k8s.io groups are protected: an "unapproved" value is what third-party CRDs in them carry.
             "metadata": {"name": f"{plural}.aadpodidentity.k8s.io",
                          "annotations": {"api-approved.kubernetes.io": "unapproved, aad-pod-identity's own group"}},
             "spec": {"group": "aadpodidentity.k8s.io", "scope": "Namespaced",
                      "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": kind + "List"},
                      "versions": [{"name": "v1", "served": True, "storage": True,
                                    "schema": {"openAPIV3Schema": {"type": "object",
                                                                   "x-kubernetes-preserve-unknown-fields": True}}}]}}
            for kind, plural in POD_IDENTITY_KINDS.items()]
    apply(crds)
    for plural in POD_IDENTITY_KINDS.values():
        kubectl("wait", "--for=condition=Established", f"crd/{plural}.aadpodidentity.k8s.io", "--timeout=60s")
    yield
    kubectl("delete", "crd", *[f"{p}.aadpodidentity.k8s.io" for p in POD_IDENTITY_KINDS.values()],
            "--wait=false", check=False)


def deployment(ns, name, selector_label, sa=None, replicas=1):
    spec = {"containers": [{"name": "app", "image": app_image(), "command": ["sleep", "3600"]}],
            "terminationGracePeriodSeconds": 1}
    if sa:
        spec["serviceAccountName"] = sa
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name, "aadpodidbinding": selector_label}},
                                  "spec": spec}}}


def test_podidentity_detect_writes_reviewable_files_that_move_a_deployment_to_the_sidecar(
        cli_namespace, pod_identity_crds, tmp_path):
    ns = cli_namespace
    resource_id = f"/subscriptions/sub/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/web"
    apply([
        {"apiVersion": "aadpodidentity.k8s.io/v1", "kind": "AzureIdentity", "metadata": {"name": "web-id", "namespace": ns},
         "spec": {"type": 0, "resourceID": resource_id, "clientID": CLIENT_ID}},
        {"apiVersion": "aadpodidentity.k8s.io/v1", "kind": "AzureIdentityBinding",
         "metadata": {"name": "web-binding", "namespace": ns}, "spec": {"azureIdentity": "web-id", "selector": "web"}},
        {"apiVersion": "aadpodidentity.k8s.io/v1", "kind": "AzureIdentity", "metadata": {"name": "sp-id", "namespace": ns},
         "spec": {"type": 1, "clientID": "9d0e1f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a", "tenantID": TENANT_ID,
                  "clientPassword": {"name": "sp-secret", "namespace": ns}}},
        {"apiVersion": "aadpodidentity.k8s.io/v1", "kind": "AzureIdentityBinding",
         "metadata": {"name": "sp-binding", "namespace": ns}, "spec": {"azureIdentity": "sp-id", "selector": "legacy"}},
        {"apiVersion": "aadpodidentity.k8s.io/v1", "kind": "AzurePodIdentityException",
         "metadata": {"name": "agent-exception", "namespace": ns}, "spec": {"podLabels": {"role": "node-agent"}}},
        deployment(ns, "web", "web"),
        deployment(ns, "legacy", "legacy"),
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "agent", "namespace": ns, "labels": {"aadpodidbinding": "web", "role": "node-agent"}},
         "spec": {"terminationGracePeriodSeconds": 1,
                  "containers": [{"name": "app", "image": app_image(), "command": ["sleep", "3600"]}]}},
    ])
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=120s", timeout=130)
    kubectl("rollout", "status", "-n", ns, "deployment/legacy", "--timeout=120s", timeout=130)
    wait_pod_running(ns, "agent")

    out = tmp_path / "out"
    proc = azwi("podidentity", "detect", "--namespace", ns, "--output-dir", str(out), "--proxy-port", "8123",
                "--service-account-token-expiration", "7200", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    report = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert report["deployment/web"]["status"] == "ok"
    assert report["deployment/legacy"]["status"] == "warn"
    assert "service principal with a client secret" in report["deployment/legacy"]["summary"]
    assert "different move" in report["deployment/legacy"]["summary"]
    assert report["pod/agent"]["status"] == "info" and "agent-exception" in report["pod/agent"]["summary"]
    assert sorted(p.name for p in out.iterdir()) == ["deployment-web"]
    files = sorted(p.name for p in (out / "deployment-web").iterdir())
    assert files == ["deployment.patch.yaml", "federated-credential.json", "serviceaccount.yaml"]

    fic = json.loads((out / "deployment-web" / "federated-credential.json").read_text())
    assert fic["identity"] == resource_id
    assert fic["properties"] == {"issuer": env()["AZWI_CLUSTER_ISSUER"], "subject": f"system:serviceaccount:{ns}:web",
                                 "audiences": ["api://AzureADTokenExchange"]}

    # What a reviewer does next: apply the account, patch the Deployment; the new pods are mutated, with the sidecar.
    kubectl("apply", "-f", str(out / "deployment-web" / "serviceaccount.yaml"))
    sa = kubectl_json("get", "serviceaccount", "-n", ns, "web")
    assert sa["metadata"]["annotations"]["azure.workload.identity/client-id"] == CLIENT_ID
    assert sa["metadata"]["annotations"]["azure.workload.identity/service-account-token-expiration"] == "7200"
    assert sa["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    kubectl("patch", "-n", ns, "deployment", "web", "--patch-file", str(out / "deployment-web" / "deployment.patch.yaml"))
    kubectl("rollout", "status", "-n", ns, "deployment/web", "--timeout=180s", timeout=190)
    pods = kubectl_json("get", "pods", "-n", ns, "-l", "app=web")["items"]
    current = [p for p in pods if not p["metadata"].get("deletionTimestamp")
               and p["spec"].get("serviceAccountName") == "web"]
    assert current, pods
    pod = current[0]
    assert pod["metadata"]["annotations"]["azure.workload.identity/proxy-sidecar-port"] == "8123"
    assert "azwi-proxy" in [c["name"] for c in pod["spec"].get("initContainers", [])]
    doc = doctor(ns, pod["metadata"]["name"])
    assert doc["by_name"]["webhook"]["status"] == "ok"
    assert doc["by_name"]["proxy"]["details"]["port"] == "8123"
    assert doc["by_name"]["token"]["details"]["sub"] == f"system:serviceaccount:{ns}:web"


def test_podidentity_detect_without_the_crds_says_so(cli_namespace, tmp_path):
    if kubectl("get", "crd", "azureidentities.aadpodidentity.k8s.io", check=False).returncode == 0:
        pytest.skip("aad-pod-identity's CRDs exist on this cluster")
    proc = azwi("podidentity", "detect", "--namespace", cli_namespace, "--output-dir", str(tmp_path))
    assert proc.returncode == 1
    assert "aad-pod-identity's CRDs are not installed" in proc.stderr


@pytest.fixture
def arm_env(tmp_path):
    """The environment of an operator running azwi with workload identity: a token of azwi-e2e:azwi-operator, which
    the emulator's Entra exchanges for an ARM token of the azwi-operator identity."""
    e = env()
    if kubectl("get", "namespace", "azwi-e2e", check=False).returncode != 0:
        create_namespace("azwi-e2e")
    apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "azwi-operator", "namespace": "azwi-e2e"}})
    token = kubectl("create", "token", "azwi-operator", "-n", "azwi-e2e", "--audience", "api://AzureADTokenExchange").stdout
    token_file = tmp_path / "operator-token"
    token_file.write_text(token.strip())
    return {"AZURE_TENANT_ID": TENANT_ID, "AZURE_CLIENT_ID": OPERATOR_CLIENT_ID,
            "AZURE_FEDERATED_TOKEN_FILE": str(token_file), "AZURE_AUTHORITY_HOST": e["AZWI_CLUSTER_AUTHORITY_HOST"],
            "SSL_CERT_FILE": e["AZWI_CLUSTER_EMULATOR_CA"]}


def arm_flags():
    return ["--subscription-id", APP_IDENTITY["subscription_id"], "--resource-group", APP_IDENTITY["resource_group"],
            "--identity-name", APP_IDENTITY["name"], "--arm-endpoint", env()["AZWI_CLUSTER_AUTHORITY_HOST"]]


def sidecar_log(ns, pod):
    return kubectl("logs", "-n", ns, pod, "-c", "azwi-proxy", check=False).stdout


def test_serviceaccount_create_makes_the_exchange_succeed_and_delete_undoes_it(cli_namespace, arm_env):
    ns = cli_namespace
    # The account first (the webhook refuses pods whose account does not exist), without the credential.
    proc = azwi("serviceaccount", "create", "--service-account-namespace", ns, "--service-account-name", "app",
                "--skip-phase", "federated-identity-credential", "--client-id", APP_IDENTITY["client_id"], "-o", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {c["name"]: c["status"] for c in json.loads(proc.stdout)["checks"]} == {
        "federated-identity-credential": "skip", "service-account": "ok", "token-exchange": "skip"}
    apply(token_loop_pod(ns, "migrating", "app"))
    wait_pod_running(ns, "migrating", timeout=180)
    r = wait_doctor(ns, "migrating", lambda r: "entra" in r["by_name"], "the exchange to fail", extra_env=arm_env,
                    args=arm_flags())
    assert "AADSTS700211" in r["by_name"]["sidecar"]["details"]["last error"]
    fc = r["by_name"]["federated-credential"]
    assert fc["status"] == "fail" and "has the issuer " + env()["AZWI_CLUSTER_ISSUER"] in fc["summary"], fc

    proc = azwi("serviceaccount", "create", "--service-account-namespace", ns, "--service-account-name", "app",
                *arm_flags(), "-o", "json", extra_env=arm_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    created = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    fic = created["federated-identity-credential"]
    assert fic["status"] == "ok" and fic["summary"] == f"federated credential {ns}-app on identity azwi-cli-app"
    assert fic["details"]["subject"] == f"system:serviceaccount:{ns}:app"
    assert fic["details"]["issuer"] == env()["AZWI_CLUSTER_ISSUER"]
    assert "a minute or two" in fic["details"]["propagation"]
    assert created["service-account"]["details"]["azure.workload.identity/client-id"] == APP_IDENTITY["client_id"]
    assert created["service-account"]["details"]["azure.workload.identity/tenant-id"] == TENANT_ID
    # The emulator's Entra uses a new credential only after 3 s (scripts/cluster.sh): the CLI waited it out.
    exchange = created["token-exchange"]
    assert exchange["status"] == "ok", exchange
    assert exchange["summary"] == f"Entra ID accepts the account's token for client ID {APP_IDENTITY['client_id']}"
    assert int(exchange["details"]["attempts"]) >= 2 and int(exchange["details"]["waited"].split()[0]) >= 2, exchange
    assert "Entra ID does not use the new federated credential yet, retrying" in proc.stderr

    # The app's next request: the sidecar asks Entra again, and the emulator's Entra now accepts the exchange.
    wait_until("the sidecar's exchange to succeed", lambda: "successfully acquired token" in sidecar_log(ns, "migrating"),
               60, interval=1)
    r = wait_doctor(ns, "migrating", lambda r: r["exit"] == 0, "a healthy report", extra_env=arm_env, args=arm_flags())
    assert r["by_name"]["federated-credential"]["status"] == "ok"
    assert r["by_name"]["federated-credential"]["details"]["credential"] == f"{ns}-app"
    assert "succeeded" in r["by_name"]["sidecar"]["summary"]

    proc = azwi("serviceaccount", "delete", "--service-account-namespace", ns, "--service-account-name", "app",
                *arm_flags(), "-o", "json", extra_env=arm_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert kubectl("get", "serviceaccount", "-n", ns, "app", check=False).returncode != 0
    r = doctor(ns, "migrating", *arm_flags(), extra_env=arm_env)
    assert r["by_name"]["service-account"]["status"] == "fail"  # the account is gone too
    # Deleting again is not an error: what is gone counts as deleted.
    proc = azwi("serviceaccount", "delete", "--service-account-namespace", ns, "--service-account-name", "app",
                *arm_flags(), extra_env=arm_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_serviceaccount_create_without_a_usable_arm_token_says_why(cli_namespace, arm_env, tmp_path):
    bad = dict(arm_env, AZURE_CLIENT_ID="0c7d3f2a-0000-4000-8000-000000000000")
    proc = azwi("serviceaccount", "create", "--service-account-namespace", cli_namespace, "--service-account-name", "x",
                *arm_flags(), extra_env=bad)
    assert proc.returncode == 1
    assert "cannot get a token for ARM as workload identity (client ID 0c7d3f2a-0000-4000-8000-000000000000)" in proc.stdout
    assert "AADSTS700016" in proc.stdout
    assert kubectl("get", "serviceaccount", "-n", cli_namespace, "x", check=False).returncode != 0


def test_doctor_names_the_identity_endpoint_mode_and_skips_proxy_init(webhook, federated_namespace):
    ns = federated_namespace
    emulator_ca_configmap(ns)
    workload_service_account(ns)
    kubectl("delete", "pod", "-n", ns, "doctor-ie", "--ignore-not-found", "--wait=true", timeout=90)
    apply(token_loop_pod(ns, "doctor-ie", annotations={"azure.workload.identity/inject-proxy-sidecar": "true",
                                                       "azure.workload.identity/proxy-sidecar-mode": "identity-endpoint"}))
    wait_pod_running(ns, "doctor-ie", timeout=180)
    r = doctor(ns, "doctor-ie")
    assert r["by_name"]["proxy"]["summary"] == "azwi-proxy injected, mode identity-endpoint", r
    assert "proxy-init" not in r["by_name"]
    # Without a redirect the app's IMDS requests never reach the sidecar (SDKs would use IDENTITY_ENDPOINT).
    assert r["by_name"]["sidecar"]["status"] == "ok"
    assert r["by_name"]["sidecar"]["summary"] == "ready (running); no token request yet", r["by_name"]["sidecar"]
