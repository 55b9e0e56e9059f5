"""Upstream v1.6.0 parity and the asks upstream leaves open, on the real cluster: the v1.6 token layout the kubelet
projects and the app reads; `inject-proxy-sidecar: "false"` injects nothing and the webhook's log says why; the
injected containers' resources let a namespace with a hard ResourceQuota admit the pod; azwi-proxy-init runs with a
read-only root filesystem (both iptables backends); pods whose pod-level security context sets runAsNonRoot,
runAsUser, fsGroup or a seccomp profile start, and their app gets a token through the sidecar; a pod opted in to the
custom token endpoint gets its token through the emulator's token proxy."""
import hashlib
import json
import os

from conftest import (CLIENT_ID, WEBHOOK_NAMESPACE, apply, emulator_ca_configmap, env, helm_install_webhook,
                      jwt_claims, kubectl, kubectl_json, print_webhook_diagnostics, unique, wait_pod_running,
                      wait_until, workload_service_account)
from test_seed_flow import app_image, imds_token

SIDECAR = {"azure.workload.identity/inject-proxy-sidecar": "true"}
WI_TOKEN = "/var/run/secrets/azure/wi/token/azure-identity-token"


def image(tar):
    with open(os.path.join(env()["AZWI_CLUSTER_STATE"], "images.txt")) as f:
        return dict(line.split() for line in f if line.strip())[tar]


def app_pod(namespace, name, annotations=None, pod_security=None, resources=None):
    container = {"name": "app", "image": app_image(), "command": ["sleep", "3600"]}
    if resources:
        container["resources"] = resources
    spec = {"serviceAccountName": "workload-identity-sa", "terminationGracePeriodSeconds": 1,
            "containers": [container]}
    if pod_security:
        spec["securityContext"] = pod_security
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"azure.workload.identity/use": "true"},
                         "annotations": annotations or {}},
            "spec": spec}


def create(pod):
    return kubectl("create", "-f", "-", "-o", "name", input=json.dumps(pod), check=False)


def test_v16_layout_is_what_the_kubelet_projects_and_the_app_reads(webhook, federated_namespace):
    ns = federated_namespace
    emulator_ca_configmap(ns)
    workload_service_account(ns)
    name = unique("layout")
    apply(app_pod(ns, name, SIDECAR))
    try:
        wait_pod_running(ns, name, timeout=180)
        pod = kubectl_json("get", "pod", "-n", ns, name)
        volume = "azure-workload-identity-reserved-" + hashlib.sha256(name.encode()).hexdigest()[:30]
        assert len(volume) == 63
        assert volume in [v["name"] for v in pod["spec"]["volumes"]]
        assert "azure-identity-token" not in [v["name"] for v in pod["spec"]["volumes"]]
        app = pod["spec"]["containers"][0]
        assert {"name": volume, "mountPath": "/var/run/secrets/azure/wi", "readOnly": True} in app["volumeMounts"]
        assert {"name": "AZURE_FEDERATED_TOKEN_FILE", "value": WI_TOKEN} in app["env"]
        # The kubelet wrote the token where the variable says; it is the service account's.
        token = kubectl("exec", "-n", ns, name, "-c", "app", "--", "cat", WI_TOKEN).stdout.strip()
        claims = jwt_claims(token)
        assert claims["sub"] == f"system:serviceaccount:{ns}:workload-identity-sa"
        assert claims["aud"] == ["api://AzureADTokenExchange"]
        # The sidecar read it from the same place and exchanged it.
        assert jwt_claims(imds_token(ns, name, container="app")["access_token"])["appid"] == CLIENT_ID
    except Exception:
        print_webhook_diagnostics(ns)
        raise
    finally:
        kubectl("delete", "pod", "-n", ns, name, "--wait=false", check=False)


def webhook_log_line(pod_name):
    """The webhook's admission log line for this pod (JSON), from any replica."""
    def line():
        logs = kubectl("logs", "-n", WEBHOOK_NAMESPACE, "-l", "app.kubernetes.io/name=azwi-webhook", "--tail=500",
                       "--all-containers").stdout
        for text in logs.splitlines():
            if text.startswith("{") and f'"pod":"{pod_name}"' in text:
                return json.loads(text)
        return None
    return wait_until(f"the webhook's log line for {pod_name}", line, 30, 1)


def test_inject_proxy_sidecar_false_injects_nothing_and_the_log_says_why(webhook, namespace):
    workload_service_account(namespace)
    name = "no-proxy"
    created = create(app_pod(namespace, name, {"azure.workload.identity/inject-proxy-sidecar": "false"}))
    assert created.returncode == 0, created.stderr
    pod = kubectl_json("get", "pod", "-n", namespace, name)
    names = [c["name"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
    assert names == ["app"], names
    assert "AZURE_FEDERATED_TOKEN_FILE" in {e["name"] for e in pod["spec"]["containers"][0]["env"]}
    line = webhook_log_line(name)
    assert line["result"] == "mutated", line
    assert line["proxy"] == "", line
    assert line["reason"] == ('no proxy injected: annotation azure.workload.identity/inject-proxy-sidecar is '
                              '"false", not "true"'), line


QUOTA = {"requests.cpu": "2", "requests.memory": "1Gi", "limits.cpu": "4", "limits.memory": "2Gi"}
APP_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}


def test_hard_resource_quota_admits_the_pod_with_the_injected_resources(webhook, namespace):
    workload_service_account(namespace)
    emulator_ca_configmap(namespace)
    apply({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "hard", "namespace": namespace},
           "spec": {"hard": QUOTA}})
    wait_until("the quota to be counted", lambda: kubectl_json("get", "resourcequota", "-n", namespace, "hard")
               .get("status", {}).get("hard"), 30)
    try:
        # Without a CPU limit on the sidecar the quota refuses the pod, naming the injected container: what
        # upstream's pods meet (its issue #1441). The annotation takes the limit away for this pod only.
        refused = create(app_pod(namespace, "unlimited",
                                 {**SIDECAR, "azure.workload.identity/proxy-sidecar-resources": "limits.cpu="},
                                 resources=APP_RESOURCES))
        print(refused.stderr)
        assert refused.returncode != 0, refused.stdout
        assert "exceeded quota" in refused.stderr or "must specify limits.cpu" in refused.stderr, refused.stderr
        assert "limits.cpu" in refused.stderr, refused.stderr

        created = create(app_pod(namespace, "limited", SIDECAR, resources=APP_RESOURCES))
        assert created.returncode == 0, created.stderr
        wait_pod_running(namespace, "limited", timeout=180)
        pod = kubectl_json("get", "pod", "-n", namespace, "limited")
        inits = {c["name"]: c for c in pod["spec"]["initContainers"]}
        assert inits["azwi-proxy"]["resources"] == {"requests": {"cpu": "10m", "memory": "16Mi"},
                                                    "limits": {"cpu": "200m", "memory": "64Mi"}}
        assert inits["azwi-proxy-init"]["resources"] == inits["azwi-proxy"]["resources"]
        used = wait_until("the quota to count the pod",
                          lambda: kubectl_json("get", "resourcequota", "-n", namespace, "hard")["status"]
                          .get("used", {}).get("limits.cpu") not in (None, "0"), 30)
        assert used
    except Exception:
        print_webhook_diagnostics(namespace)
        raise


def proxy_init_pod(namespace, name, backend):
    """azwi-proxy-init alone, as the webhook's securityContext has it (read-only root), on one iptables backend."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                     "initContainers": [{"name": "azwi-proxy-init", "image": image("azwi-proxy-init.tar"),
                                         "args": [f"--iptables-backend={backend}", "--log-format=text"],
                                         "securityContext": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                                                             "privileged": True, "readOnlyRootFilesystem": True,
                                                             "runAsNonRoot": False, "runAsUser": 0}}],
                     "containers": [{"name": "done", "image": app_image(), "command": ["true"]}]}}


def test_proxy_init_runs_with_a_read_only_root_on_both_iptables_backends(webhook, namespace):
    for backend in ("nft", "legacy"):
        apply(proxy_init_pod(namespace, f"init-{backend}", backend))

    def finished(name):
        pod = kubectl_json("get", "pod", "-n", namespace, name)
        return pod["status"].get("phase") in ("Succeeded", "Failed") and pod
    for backend in ("nft", "legacy"):
        name = f"init-{backend}"
        pod = wait_until(f"pod {name} to finish", lambda: finished(name), 120, 1)
        status = pod["status"]["initContainerStatuses"][0]
        logs = kubectl("logs", "-n", namespace, name, "-c", "azwi-proxy-init").stdout
        print(f"{name}:\n{logs}")
        assert status["state"]["terminated"]["exitCode"] == 0, (status, logs)
        assert pod["status"]["phase"] == "Succeeded", pod["status"]
        assert f"backend={backend}" in logs, logs


def test_injected_proxy_init_has_a_read_only_root_and_succeeds(webhook, federated_namespace):
    ns = federated_namespace
    emulator_ca_configmap(ns)
    workload_service_account(ns)
    name = unique("ro")
    apply(app_pod(ns, name, SIDECAR))
    try:
        wait_pod_running(ns, name, timeout=180)
        pod = kubectl_json("get", "pod", "-n", ns, name)
        init = {c["name"]: c for c in pod["spec"]["initContainers"]}["azwi-proxy-init"]
        assert init["securityContext"]["readOnlyRootFilesystem"] is True
        status = {s["name"]: s for s in pod["status"]["initContainerStatuses"]}["azwi-proxy-init"]
        assert status["state"]["terminated"]["exitCode"] == 0, status
    finally:
        kubectl("delete", "pod", "-n", ns, name, "--wait=false", check=False)


POD_SECURITY = {
    "run-as-non-root": {"runAsNonRoot": True},
    "run-as-user": {"runAsUser": 1000, "runAsGroup": 1000},
    "fs-group": {"fsGroup": 2000},
    "seccomp": {"seccompProfile": {"type": "RuntimeDefault"}},
}


def test_pods_with_pod_level_security_contexts_start_and_get_tokens(webhook, federated_namespace):
    """Upstream issue #1009. All four pods start at once (the kubelet runs them in parallel), then each is checked."""
    ns = federated_namespace
    emulator_ca_configmap(ns)
    workload_service_account(ns)
    names = {case: unique(f"psc-{case}") for case in POD_SECURITY}
    for case, context in POD_SECURITY.items():
        apply(app_pod(ns, names[case], SIDECAR, pod_security=context))
    failures = {}
    try:
        for case, name in names.items():
            try:
                wait_pod_running(ns, name, timeout=180)
                token = imds_token(ns, name, container="app")
                assert jwt_claims(token["access_token"])["appid"] == CLIENT_ID
            except Exception as e:  # report every case, not only the first
                failures[case] = repr(e)
                print(kubectl("describe", "pod", "-n", ns, name, check=False).stdout)
        assert not failures, failures
    finally:
        for name in names.values():
            kubectl("delete", "pod", "-n", ns, name, "--wait=false", check=False)


BINDING_AUDIENCE = "api://AKSIdentityBinding"
BINDING = {"azure.workload.identity/use-identity-binding": "true"}


def test_custom_token_endpoint_pod_gets_its_token_through_the_emulator_token_proxy(webhook, federated_namespace):
    """Upstream v1.6.0's identity bindings, offline: the webhook (installed with the customTokenEndpoint values)
    projects the token for the binding's audience and the token proxy's CA from a ConfigMap, injects the
    AZURE_KUBERNETES_* variables into the app and the sidecar, and the sidecar's exchange goes to the emulator's token
    proxy (its own CA, a certificate for a server name only), which the emulator's log shows."""
    ns = federated_namespace
    e = env()
    emulator_ca_configmap(ns)
    workload_service_account(ns)
    apply(kubectl("create", "configmap", "token-proxy-ca", "-n", ns, f"--from-file=ca.crt={e['AZWI_CLUSTER_TOKEN_PROXY_CA']}",
                  "--dry-run=client", "-o", "yaml").stdout)
    helm_install_webhook(customTokenEndpoint={
        "annotationSuffix": "identity-binding", "audience": BINDING_AUDIENCE,
        "tokenProxy": e["AZWI_CLUSTER_TOKEN_PROXY"], "sniName": e["AZWI_CLUSTER_TOKEN_PROXY_NAME"],
        "caConfigMapName": "token-proxy-ca"})
    name = unique("binding")
    emulator_log = os.path.join(e["AZWI_CLUSTER_STATE"], "logs", "azwi-emulator.log")
    with open(emulator_log, encoding="utf-8") as f:
        f.seek(0, os.SEEK_END)
        log_start = f.tell()
    def binding_applied():
        # Until kube-proxy has dropped the replaced webhook pod's endpoint, an admission may still meet the old settings.
        probe = kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", timeout=30,
                        input=json.dumps(app_pod(ns, name, {**SIDECAR, **BINDING})))
        return "AZURE_KUBERNETES_TOKEN_PROXY" in probe.stdout
    wait_until("the webhook to apply the custom token endpoint settings", binding_applied, 60)
    try:
        apply(app_pod(ns, name, {**SIDECAR, **BINDING}))
        wait_pod_running(ns, name, timeout=180)
        pod = kubectl_json("get", "pod", "-n", ns, name)
        ca_file = "/var/run/secrets/azure/wi/ca-cert/ca.crt"
        for c in [pod["spec"]["containers"][0], {c["name"]: c for c in pod["spec"]["initContainers"]}["azwi-proxy"]]:
            values = {v["name"]: v.get("value") for v in c["env"]}
            assert values["AZURE_KUBERNETES_TOKEN_PROXY"] == e["AZWI_CLUSTER_TOKEN_PROXY"], (c["name"], values)
            assert values["AZURE_KUBERNETES_SNI_NAME"] == "token-proxy.azwi.test", (c["name"], values)
            assert values["AZURE_KUBERNETES_CA_FILE"] == ca_file, (c["name"], values)
        token = kubectl("exec", "-n", ns, name, "-c", "app", "--", "cat", WI_TOKEN).stdout.strip()
        assert jwt_claims(token)["aud"] == [BINDING_AUDIENCE]
        ca = kubectl("exec", "-n", ns, name, "-c", "app", "--", "cat", ca_file).stdout
        with open(e["AZWI_CLUSTER_TOKEN_PROXY_CA"], encoding="utf-8") as f:
            assert ca == f.read()

        assert jwt_claims(imds_token(ns, name, container="app")["access_token"])["appid"] == CLIENT_ID

        def exchanges_through_the_token_proxy():
            with open(emulator_log, encoding="utf-8") as f:
                f.seek(log_start)
                return [line for line in f if "token request" in line and "listener=token-proxy" in line]
        lines = wait_until("the emulator's log line of the exchange through its token proxy",
                           exchanges_through_the_token_proxy, 10)
        assert "status=200" in lines[0], lines
    except Exception:
        print_webhook_diagnostics(ns)
        raise
    finally:
        kubectl("delete", "pod", "-n", ns, name, "--wait=false", check=False)
        helm_install_webhook()  # the session's webhook, as the other tests expect it
