"""The migration article's steps, offline, on the real cluster: an identity federated with the cluster's issuer (the
API server), the annotated service account, the webhook installed by helm (its own certificate rotation made the
Secret and the caBundle), the article's pod with only the two sidecar annotations; the kubelet runs azwi-proxy-init,
azwi-proxy and the app, and the app's unchanged IMDS request gets a token."""
import json
import os
import re

from conftest import (CLIENT_ID, TENANT_ID, WEBHOOK_NAMESPACE, apply, emulator_ca_configmap, env, jwt_claims,
                      kubectl, kubectl_json, wait_pod_running, workload_service_account)

TOKEN_URL = ("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
             "&resource=https%3A%2F%2Fmanagement.azure.com%2F")


def app_image():
    with open(os.path.join(env()["AZWI_CLUSTER_STATE"], "images.txt")) as f:
        refs = dict(line.split() for line in f if line.strip())
    return refs["azwi-app.tar"]


def article_pod(namespace, name="httpbin-pod"):
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app": "httpbin", "azure.workload.identity/use": "true"},
                     "annotations": {"azure.workload.identity/inject-proxy-sidecar": "true",
                                     "azure.workload.identity/proxy-sidecar-port": "8000"}},
        "spec": {"serviceAccountName": "workload-identity-sa",
                 "containers": [{"name": "httpbin", "image": app_image(), "command": ["sleep", "3600"]}]},
    }


def imds_token(namespace, pod, container="httpbin"):
    out = kubectl("exec", "-n", namespace, pod, "-c", container, "--", "timeout", "20", "wget", "-q", "-O-",  # (busybox 1.35 wget crashes on -T)
                  "--header", "Metadata: true", TOKEN_URL, timeout=60).stdout
    return json.loads(out)


def test_article_pod_gets_an_entra_token_through_the_injected_sidecar(webhook, federated_namespace):
    ns = federated_namespace
    # The webhook's certificate rotation created its Secret and patched the caBundle (helm installed no certificate).
    secret = kubectl_json("get", "secret", "-n", WEBHOOK_NAMESPACE, "azure-wi-webhook-server-cert")
    assert {"ca.crt", "tls.crt", "tls.key"} <= set(secret["data"])

    emulator_ca_configmap(ns)
    workload_service_account(ns)
    kubectl("delete", "pod", "-n", ns, "httpbin-pod", "--ignore-not-found", "--wait=true", timeout=90)
    apply(article_pod(ns))
    wait_pod_running(ns, "httpbin-pod", timeout=180)

    pod = kubectl_json("get", "pod", "-n", ns, "httpbin-pod")
    inits = [c["name"] for c in pod["spec"].get("initContainers", [])]
    assert "azwi-proxy-init" in inits and "azwi-proxy" in inits, inits
    # The kubelet ran them in order: the redirect, then the sidecar (a native sidecar: restartPolicy Always), then the app.
    assert inits.index("azwi-proxy-init") < inits.index("azwi-proxy")
    statuses = {s["name"]: s for s in pod["status"]["initContainerStatuses"]}
    assert statuses["azwi-proxy-init"]["state"]["terminated"]["exitCode"] == 0
    assert statuses["azwi-proxy"]["ready"]

    token = imds_token(ns, "httpbin-pod")
    assert token["token_type"] == "Bearer"
    assert token["resource"] == "https://management.azure.com/"
    claims = jwt_claims(token["access_token"])
    assert claims["aud"] == "https://management.azure.com/"
    assert claims["appid"] == CLIENT_ID
    assert claims["tid"] == TENANT_ID

    logs = kubectl("logs", "-n", ns, "httpbin-pod", "-c", "azwi-proxy").stdout
    for line in ("starting the proxy server", "received token request", "successfully acquired token"):
        assert line in logs, f"{line!r} not in the sidecar's log:\n{logs}"
    described = kubectl("describe", "pod", "-n", ns, "httpbin-pod").stdout
    assert re.search(r"Init Containers:\s*\n\s*azwi-proxy-init:", described), described
    assert re.search(r"^\s*azwi-proxy:", described, re.M), described
    assert "AZURE_FEDERATED_TOKEN_FILE" in described


def test_app_env_names_the_identity_and_the_projected_token(webhook, federated_namespace):
    ns = federated_namespace
    emulator_ca_configmap(ns)
    workload_service_account(ns)
    kubectl("delete", "pod", "-n", ns, "env-pod", "--ignore-not-found", "--wait=true", timeout=90)
    apply(article_pod(ns, "env-pod"))
    wait_pod_running(ns, "env-pod", timeout=180)
    env_lines = kubectl("exec", "-n", ns, "env-pod", "-c", "httpbin", "--", "env").stdout.splitlines()
    app_env = dict(line.split("=", 1) for line in env_lines if "=" in line)
    assert app_env["AZURE_CLIENT_ID"] == CLIENT_ID
    assert app_env["AZURE_TENANT_ID"] == TENANT_ID
    token_file = app_env["AZURE_FEDERATED_TOKEN_FILE"]
    sa_token = kubectl("exec", "-n", ns, "env-pod", "-c", "httpbin", "--", "cat", token_file).stdout
    claims = jwt_claims(sa_token)
    # The kubelet projected it, signed by the API server's issuer, for the token exchange audience.
    assert claims["iss"] == env()["AZWI_CLUSTER_ISSUER"]
    assert claims["aud"] == ["api://AzureADTokenExchange"]
    assert claims["sub"] == f"system:serviceaccount:{ns}:workload-identity-sa"
