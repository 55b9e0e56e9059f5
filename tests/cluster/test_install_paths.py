"""The two install paths of docs/install.md on the real cluster, and the chart's life cycle: kubectl apply of the plain
manifests in deploy/manifests, helm upgrade, helm uninstall (no webhook left behind that would refuse pods)."""
import os

from conftest import (CHART, ROOT, TENANT_ID, WEBHOOK_NAMESPACE, apply, ensure_webhook_namespace,
                      helm_install_webhook, kubectl, kubectl_json, run, wait_until, wait_webhook_ready)

WEBHOOK_CONFIG = "azure-wi-webhook-mutating-webhook-configuration"


def helm_release_exists():
    return "azwi-webhook" in run("helm", "list", "-n", WEBHOOK_NAMESPACE, "-q").stdout.split()


def helm_uninstall():
    if helm_release_exists():
        run("helm", "uninstall", "azwi-webhook", "-n", WEBHOOK_NAMESPACE, "--wait", "--timeout", "120s", timeout=150)


def labelled_pod(namespace, name):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"azure.workload.identity/use": "true"}},
            "spec": {"containers": [{"name": "app", "image": "ghcr.io/azwi/azwi-app:v0.1.0",
                                     "command": ["sleep", "3600"]}]}}


def env_names(pod):
    return {e["name"] for c in pod["spec"]["containers"] for e in c.get("env", [])}


def test_kubectl_apply_of_the_plain_manifests_installs_a_working_webhook(namespace):
    helm_uninstall()
    with open(os.path.join(ROOT, "deploy", "manifests", "azwi-webhook.yaml")) as f:
        manifests = f.read()
    assert "${AZURE_TENANT_ID}" in manifests
    # What `envsubst < azwi-webhook.yaml | kubectl apply -f -` does.
    apply(manifests.replace("${AZURE_TENANT_ID}", TENANT_ID))
    try:
        wait_webhook_ready()
        ns_labels = kubectl_json("get", "namespace", WEBHOOK_NAMESPACE)["metadata"]["labels"]
        assert ns_labels["pod-security.kubernetes.io/enforce"] == "restricted"
        apply(labelled_pod(namespace, "from-manifests"))
        pod = kubectl_json("get", "pod", "-n", namespace, "from-manifests")
        assert {"AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST"} <= env_names(pod)
        assert TENANT_ID in {e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=true",
                input=manifests.replace("${AZURE_TENANT_ID}", TENANT_ID), timeout=180)
    # Deleting the manifests removed the webhook: labelled pods are created again, unmutated.
    apply(labelled_pod(namespace, "after-delete"))
    assert "AZURE_FEDERATED_TOKEN_FILE" not in env_names(kubectl_json("get", "pod", "-n", namespace, "after-delete"))


def test_helm_upgrade_applies_new_values_and_uninstall_leaves_nothing_that_refuses_pods(namespace):
    ensure_webhook_namespace()
    helm_install_webhook()
    helm_install_webhook(logLevel="debug")
    deployment = kubectl_json("get", "deployment", "-n", WEBHOOK_NAMESPACE, "azure-wi-webhook-controller-manager")
    args = deployment["spec"]["template"]["spec"]["containers"][0].get("args", [])
    assert any("debug" in a for a in args), args
    apply(labelled_pod(namespace, "after-upgrade"))
    assert "AZURE_FEDERATED_TOKEN_FILE" in env_names(kubectl_json("get", "pod", "-n", namespace, "after-upgrade"))

    helm_uninstall()
    assert kubectl("get", "mutatingwebhookconfiguration", WEBHOOK_CONFIG, check=False).returncode != 0
    assert kubectl("get", "clusterrole", "-l", "app.kubernetes.io/instance=azwi-webhook", "-o", "name").stdout == ""
    apply(labelled_pod(namespace, "after-uninstall"))
    assert "AZURE_FEDERATED_TOKEN_FILE" not in env_names(
        kubectl_json("get", "pod", "-n", namespace, "after-uninstall"))
    # Put the release back for the tests that follow.
    helm_install_webhook()
