"""The webhook's proxy modes on the real cluster. In a namespace enforcing PodSecurity `restricted`, a pod asking for
the sidecar in `identity-endpoint` mode is admitted (no azwi-proxy-init, nothing privileged), runs, and its
application gets an Entra token from the sidecar through IDENTITY_ENDPOINT/IDENTITY_HEADER alone; a wrong secret is
refused. `cni` mode is admitted there too, without the init container. The mode applied is recorded on the pod (the
azwi-cni plugin reads it) and in the webhook's admission log; an unknown mode is refused naming the valid ones."""
import json
import os
import shlex
import subprocess

from conftest import (CLIENT_ID, ROOT, TENANT_ID, WEBHOOK_NAMESPACE, create_namespace, delete_namespace,
                      emulator_ca_configmap, jwt_claims, kubectl, kubectl_json, print_webhook_diagnostics, unique,
                      wait_pod_running, wait_until, workload_service_account)
from test_pod_security import create, restricted_app_pod

MODE = "azure.workload.identity/proxy-sidecar-mode"
RESOURCE = "https://management.azure.com/"


def mode_pod(namespace, name, mode, run=False):
    annotations = {"azure.workload.identity/inject-proxy-sidecar": "true"}
    if mode:
        annotations[MODE] = mode
    pod = restricted_app_pod(namespace, name, annotations)
    if run:
        del pod["spec"]["schedulingGates"]
        # Room for a real SDK client copied in (the app image is busybox).
        pod["spec"]["volumes"] = [{"name": "tools", "emptyDir": {}}]
        pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "tools", "mountPath": "/tools"}]
    return pod


def go_sdk_client():
    """tests/sdk/go's static azidentity client (built here when missing; Go's cache makes a rebuild quick)."""
    out = os.path.join(os.environ.get("AZWI_BUILD_DIR", os.path.join(ROOT, "build")), "sdk", "azwi-sdk-go")
    subprocess.run([os.path.join(ROOT, "tests", "sdk", "go", "build.sh"), out], check=True, timeout=600)
    return out


def webhook_admission_log(pod_name):
    """The webhook replicas' admission lines for this pod (either replica may have answered)."""
    out = kubectl("logs", "-n", WEBHOOK_NAMESPACE, "-l", "app.kubernetes.io/name=azwi-webhook", "--tail=-1").stdout
    lines = []
    for line in out.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == "admission" and entry.get("pod") == pod_name:
            lines.append(entry)
    return lines


def assert_no_privilege(pod):
    names = [c["name"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
    assert "azwi-proxy-init" not in names, names
    assert "azwi-proxy" in names, names
    for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
        sc = c.get("securityContext", {})
        assert not sc.get("privileged"), c["name"]
        assert not sc.get("capabilities", {}).get("add"), c["name"]


def app_fetch(ns, pod, header_expr):
    """wget from the app container to $IDENTITY_ENDPOINT with the given X-IDENTITY-HEADER (shell expression)."""
    script = (f'wget -q -O- --header "X-IDENTITY-HEADER: {header_expr}" '
              f'"$IDENTITY_ENDPOINT?api-version=2019-08-01&resource={RESOURCE}" 2>&1; echo " exit=$?"')
    return kubectl("exec", "-n", ns, pod, "-c", "app", "--", "timeout", "20", "sh", "-c", script, timeout=60).stdout


def test_identity_endpoint_pod_runs_under_restricted_and_its_app_gets_a_token(webhook, federated_namespace):
    ns = federated_namespace  # the emulator's identity is federated with its workload-identity-sa
    kubectl("label", "--overwrite", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    try:
        emulator_ca_configmap(ns)
        workload_service_account(ns)
        kubectl("delete", "pod", "-n", ns, "endpoint-pod", "--ignore-not-found", "--wait=true", timeout=90)
        created = create(mode_pod(ns, "endpoint-pod", "identity-endpoint", run=True))
        assert created.returncode == 0, created.stderr
        wait_pod_running(ns, "endpoint-pod", timeout=180)
        pod = kubectl_json("get", "pod", "-n", ns, "endpoint-pod")
        assert_no_privilege(pod)
        assert pod["metadata"]["annotations"][MODE] == "identity-endpoint"

        env_lines = kubectl("exec", "-n", ns, "endpoint-pod", "-c", "app", "--", "env").stdout.splitlines()
        app_env = dict(line.split("=", 1) for line in env_lines if "=" in line)
        assert app_env["IDENTITY_ENDPOINT"] == "http://127.0.0.1:8000/msi/token"
        assert len(app_env["IDENTITY_HEADER"]) >= 43
        assert "IDENTITY_SERVER_THUMBPRINT" not in app_env

        out = app_fetch(ns, "endpoint-pod", "$IDENTITY_HEADER")
        assert out.rstrip().endswith("exit=0"), out
        token = json.loads(out[:out.rindex(" exit=")])
        assert token["resource"] == RESOURCE and token["token_type"] == "Bearer"
        claims = jwt_claims(token["access_token"])
        assert claims["aud"] == RESOURCE and claims["appid"] == CLIENT_ID and claims["tid"] == TENANT_ID

        # Go azidentity's ManagedIdentityCredential, unmodified: it picks the App Service source from the environment.
        kubectl("cp", "-c", "app", go_sdk_client(), f"{ns}/endpoint-pod:/tools/azwi-sdk-go", timeout=120)
        go = kubectl("exec", "-n", ns, "endpoint-pod", "-c", "app", "--", "/tools/azwi-sdk-go", "azidentity-mi",
                     RESOURCE, check=False, timeout=120)
        print("go azidentity:", go.stdout, go.stderr)
        result = json.loads(go.stdout.strip().splitlines()[-1])
        assert result["ok"], result
        # (Go asks for <resource>/.default without the resource's own trailing slash.)
        assert result["claims"]["appid"] == CLIENT_ID and result["claims"]["aud"] == RESOURCE.rstrip("/"), result
        proxy_log = kubectl("logs", "-n", ns, "endpoint-pod", "-c", "azwi-proxy").stdout
        assert '"uri":"/msi/token?' in proxy_log, proxy_log

        refused = app_fetch(ns, "endpoint-pod", "guess")
        assert "401" in refused and "exit=0" not in refused, refused
        proxy_log = kubectl("logs", "-n", ns, "endpoint-pod", "-c", "azwi-proxy").stdout
        assert '"status":401' in proxy_log, proxy_log
        assert app_env["IDENTITY_HEADER"] not in proxy_log, "the secret reached the sidecar's log"

        # Another pod of the same spec gets a secret of its own.
        other = create(mode_pod(ns, "endpoint-pod-2", "identity-endpoint"))
        assert other.returncode == 0, other.stderr
        other_pod = kubectl_json("get", "pod", "-n", ns, "endpoint-pod-2")
        secrets = {e["value"] for c in other_pod["spec"]["initContainers"] + other_pod["spec"]["containers"]
                   for e in c.get("env", []) if e["name"] == "IDENTITY_HEADER"}
        assert len(secrets) == 1 and app_env["IDENTITY_HEADER"] not in secrets, secrets

        wait_until("the webhook's admission line for endpoint-pod", lambda: webhook_admission_log("endpoint-pod"), 30)
        assert webhook_admission_log("endpoint-pod")[0]["proxy_mode"] == "identity-endpoint"
        for line in webhook_admission_log("endpoint-pod") + webhook_admission_log("endpoint-pod-2"):
            assert app_env["IDENTITY_HEADER"] not in json.dumps(line)
    except Exception:
        print_webhook_diagnostics(ns)
        print(kubectl("describe", "pod", "-n", ns, "endpoint-pod", check=False).stdout)
        raise
    finally:
        kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce-", check=False)
        kubectl("delete", "pod", "-n", ns, "endpoint-pod", "endpoint-pod-2", "--wait=false", check=False)


def test_cni_mode_is_admitted_under_restricted_without_the_init_container_and_recorded(webhook):
    ns = unique("modes-cni")
    create_namespace(ns, {"pod-security.kubernetes.io/enforce": "restricted"})
    workload_service_account(ns)
    try:
        created = create(mode_pod(ns, "cni-pod", "cni"))
        assert created.returncode == 0, created.stderr
        pod = kubectl_json("get", "pod", "-n", ns, "cni-pod")
        assert_no_privilege(pod)
        assert pod["metadata"]["annotations"][MODE] == "cni"
        assert "IDENTITY_ENDPOINT" not in {e["name"] for e in pod["spec"]["containers"][0]["env"]}
        # The sidecar keeps the UID the redirect lets through to the real IMDS.
        proxy = next(c for c in pod["spec"]["initContainers"] if c["name"] == "azwi-proxy")
        assert proxy["securityContext"]["runAsUser"] == 1501

        # Without the annotation the webhook's default (init-container) applies and is written on the pod: the
        # restricted namespace refuses it, naming only the init container.
        refused = create(mode_pod(ns, "default-pod", None))
        assert refused.returncode != 0 and 'container "azwi-proxy-init"' in refused.stderr, refused.stderr

        wait_until("the webhook's admission line for cni-pod", lambda: webhook_admission_log("cni-pod"), 30)
        assert webhook_admission_log("cni-pod")[0]["proxy_mode"] == "cni"
        assert webhook_admission_log("default-pod")[0]["proxy_mode"] == "init-container"
    except Exception:
        print_webhook_diagnostics(ns)
        raise
    finally:
        delete_namespace(ns)


def test_an_unknown_mode_is_refused_naming_the_valid_ones(webhook, namespace):
    workload_service_account(namespace)
    refused = create(mode_pod(namespace, "typo-pod", "sidecar-less"))
    assert refused.returncode != 0
    assert ('admission webhook "mutation.azure-workload-identity.io" denied the request: invalid value '
            '"sidecar-less" for annotation azure.workload.identity/proxy-sidecar-mode: expected init-container, '
            'identity-endpoint or cni') in refused.stderr, refused.stderr
    alone = kubectl("create", "-f", "-", "-o", "name", check=False, input=json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "alone-pod", "namespace": namespace, "labels": {"azure.workload.identity/use": "true"},
                     "annotations": {MODE: "cni"}},
        "spec": {"serviceAccountName": "workload-identity-sa",
                 "schedulingGates": [{"name": "azwi.test/hold"}],
                 "containers": [{"name": "app", "image": "unused", "command": shlex.split("sleep 1")}]}}))
    assert alone.returncode != 0 and "does not ask for the proxy sidecar" in alone.stderr, alone.stderr
