"""The chart's RBAC on the real cluster is enough and no more: the webhook runs as its own ServiceAccount and became
ready with it (it listed and watched ServiceAccounts, wrote its certificate Secret and the caBundle of its
MutatingWebhookConfiguration); that identity can do exactly those things and nothing near them."""
import json

import pytest

from conftest import (WEBHOOK_DEPLOYMENT, WEBHOOK_NAMESPACE, apply, kubectl, kubectl_json, print_webhook_diagnostics,
                      unique)

SERVICE_ACCOUNT = "azure-wi-webhook-admin"
AS = f"--as=system:serviceaccount:{WEBHOOK_NAMESPACE}:{SERVICE_ACCOUNT}"
SECRET = "azure-wi-webhook-server-cert"
CONFIG = "azure-wi-webhook-mutating-webhook-configuration"
SELECTOR = "app.kubernetes.io/name=azwi-webhook"


def can_i(verb, resource, *scope):
    """kubectl auth can-i as the webhook's ServiceAccount: True (yes) or False (no)."""
    proc = kubectl("auth", "can-i", verb, resource, *scope, AS, check=False)
    answer = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
    assert answer in ("yes", "no"), f"kubectl auth can-i {verb} {resource} {' '.join(scope)}: {proc.stdout}{proc.stderr}"
    return answer == "yes"


def check_matrix(cases, expected):
    wrong = [f"{verb} {resource} {' '.join(scope) or '(cluster scope)'}: expected {'yes' if expected else 'no'}"
             for verb, resource, *scope in cases if can_i(verb, resource, *scope) != expected]
    if wrong:
        print(kubectl("auth", "can-i", "--list", "-n", WEBHOOK_NAMESPACE, AS, check=False).stdout)
    assert not wrong, "\n".join(wrong)


def test_webhook_runs_as_its_service_account_and_became_ready_with_that_identity(webhook):
    try:
        pods = kubectl_json("get", "pods", "-n", WEBHOOK_NAMESPACE, "-l", SELECTOR)["items"]
        assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
        for pod in pods:
            name = pod["metadata"]["name"]
            assert pod["spec"]["serviceAccountName"] == SERVICE_ACCOUNT, name
            assert pod["spec"].get("automountServiceAccountToken") is True, name
            # Its only credential is the kubelet-projected token of that ServiceAccount.
            projected = [s for v in pod["spec"]["volumes"] for s in v.get("projected", {}).get("sources", [])]
            assert any("serviceAccountToken" in s for s in projected), name
            assert not any("secret" in v for v in pod["spec"]["volumes"]), name
            ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
            assert ready.get("Ready") == "True", (name, pod["status"])
        # /readyz turns 200 only once the ServiceAccount cache synced (list + watch) and certificate rotation wrote
        # the Secret and the caBundle: with this identity, as it has no other.
        secret = kubectl_json("get", "secret", "-n", WEBHOOK_NAMESPACE, SECRET)
        assert {"ca.crt", "tls.crt", "tls.key"} <= set(secret["data"])
        config = kubectl_json("get", "mutatingwebhookconfiguration", CONFIG)
        assert [w["clientConfig"].get("caBundle") for w in config["webhooks"]] == [secret["data"]["ca.crt"]]
        logs = kubectl("logs", "-n", WEBHOOK_NAMESPACE, "-l", SELECTOR, "--prefix", "--tail=-1").stdout
        assert "HTTP 403" not in logs, logs
        # Every binding that names the ServiceAccount is the chart's: nothing else widens what it may do.
        bindings = (kubectl_json("get", "clusterrolebindings")["items"]
                    + kubectl_json("get", "rolebindings", "--all-namespaces")["items"])
        named = sorted(f"{b['kind']} {b['metadata'].get('namespace', '')}/{b['metadata']['name']} -> "
                       f"{b['roleRef']['kind']} {b['roleRef']['name']}"
                       for b in bindings for s in b.get("subjects") or []
                       if s.get("kind") == "ServiceAccount" and s.get("name") == SERVICE_ACCOUNT
                       and s.get("namespace") == WEBHOOK_NAMESPACE)
        assert named == [
            "ClusterRoleBinding /azure-wi-webhook-manager-rolebinding -> ClusterRole azure-wi-webhook-manager-role",
            f"RoleBinding {WEBHOOK_NAMESPACE}/azure-wi-webhook-manager-rolebinding -> Role azure-wi-webhook-manager-role",
        ], named
    except Exception:
        print_webhook_diagnostics()
        raise


def test_webhook_identity_can_do_what_it_needs(webhook):
    check_matrix([
        ("list", "serviceaccounts", "--all-namespaces"),
        ("watch", "serviceaccounts", "--all-namespaces"),
        ("get", "serviceaccounts", "-n", "default"),
        ("get", "serviceaccounts", "-n", "kube-system"),
        ("get", f"secrets/{SECRET}", "-n", WEBHOOK_NAMESPACE),
        ("update", f"secrets/{SECRET}", "-n", WEBHOOK_NAMESPACE),
        ("create", "secrets", "-n", WEBHOOK_NAMESPACE),  # the first replica creates the Secret
        ("get", f"mutatingwebhookconfigurations/{CONFIG}"),
        ("update", f"mutatingwebhookconfigurations/{CONFIG}"),
    ], True)


def test_webhook_identity_cannot_read_secrets_outside_its_own(webhook):
    check_matrix([
        ("get", "secrets", "-n", "default"),
        ("list", "secrets", "-n", "default"),
        ("get", "secrets", "-n", "kube-system"),
        ("list", "secrets", "-n", "kube-system"),
        ("list", "secrets", "--all-namespaces"),
        ("watch", "secrets", "--all-namespaces"),
        ("get", f"secrets/{SECRET}", "-n", "default"),  # its Secret's name, in another namespace
        # In its own namespace only its Secret, by name: no listing, no other Secret, no deleting.
        ("list", "secrets", "-n", WEBHOOK_NAMESPACE),
        ("watch", "secrets", "-n", WEBHOOK_NAMESPACE),
        ("get", "secrets/other", "-n", WEBHOOK_NAMESPACE),
        ("update", "secrets/other", "-n", WEBHOOK_NAMESPACE),
        ("patch", f"secrets/{SECRET}", "-n", WEBHOOK_NAMESPACE),
        ("delete", f"secrets/{SECRET}", "-n", WEBHOOK_NAMESPACE),
        ("create", "secrets", "-n", "default"),
        ("get", "configmaps", "-n", "default"),
    ], False)


def test_webhook_identity_cannot_change_service_accounts_anywhere(webhook):
    cases = []
    for scope in (("-n", "default"), ("-n", WEBHOOK_NAMESPACE), ("-n", "kube-system"), ("--all-namespaces",)):
        for verb in ("create", "update", "patch", "delete"):
            cases.append((verb, "serviceaccounts", *scope))
    cases += [("create", "serviceaccounts/token", "-n", "default"),   # minting tokens for other identities
              ("create", "serviceaccounts/token", "-n", WEBHOOK_NAMESPACE),
              ("impersonate", "serviceaccounts", "-n", "default"),
              ("create", "pods", "-n", "default")]
    check_matrix(cases, False)


def test_webhook_identity_cannot_change_other_webhook_configurations(webhook):
    check_matrix([
        ("update", "mutatingwebhookconfigurations/someone-elses"),
        ("patch", "mutatingwebhookconfigurations/someone-elses"),
        ("delete", "mutatingwebhookconfigurations/someone-elses"),
        ("get", "mutatingwebhookconfigurations/someone-elses"),
        ("list", "mutatingwebhookconfigurations"),
        ("create", "mutatingwebhookconfigurations"),
        ("patch", f"mutatingwebhookconfigurations/{CONFIG}"),   # get + update only (a PUT with the resourceVersion)
        ("delete", f"mutatingwebhookconfigurations/{CONFIG}"),
        ("update", "validatingwebhookconfigurations"),
        ("update", f"validatingwebhookconfigurations/{CONFIG}"),
    ], False)


def other_webhook_configuration(name):
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [{"name": "other.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                          "failurePolicy": "Ignore",
                          # Selects nothing: this configuration must not affect the cluster while it exists.
                          "objectSelector": {"matchLabels": {"azwi-test": "never-matches"}},
                          "clientConfig": {"url": "https://other.example.com/mutate"},
                          "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                     "resources": ["configmaps"]}]}]}


def test_requests_made_as_the_webhook_identity_are_forbidden_beyond_its_rules(webhook):
    """The same as real requests (impersonated), so that the API server's answer, not only can-i, says no."""
    other = unique("azwi-rbac-other")
    apply(other_webhook_configuration(other))
    try:
        denied = {
            "update another MutatingWebhookConfiguration":
                ("annotate", "mutatingwebhookconfiguration", other, "azwi-test/touched=yes"),
            "read a Secret of another namespace": ("get", "secrets", "-n", "kube-system"),
            "create a ServiceAccount": ("create", "serviceaccount", "-n", "default", unique("sa")),
        }
        for what, args in denied.items():
            proc = kubectl(*args, AS, check=False)
            assert proc.returncode != 0, f"{what}: allowed: {proc.stdout}"
            assert "forbidden" in proc.stderr.lower() and \
                f'User "system:serviceaccount:{WEBHOOK_NAMESPACE}:{SERVICE_ACCOUNT}" cannot' in proc.stderr, \
                f"{what}: {proc.stderr}"
        assert "azwi-test/touched" not in kubectl_json("get", "mutatingwebhookconfiguration", other)["metadata"].get(
            "annotations", {})
        # And what it needs works as that identity: read its configuration and its Secret, list service accounts.
        assert kubectl_json("get", "mutatingwebhookconfiguration", CONFIG, AS)["metadata"]["name"] == CONFIG
        assert kubectl_json("get", "secret", "-n", WEBHOOK_NAMESPACE, SECRET, AS)["metadata"]["name"] == SECRET
        assert kubectl_json("get", "serviceaccounts", "--all-namespaces", AS)["items"]
    finally:
        kubectl("delete", "mutatingwebhookconfiguration", other, "--ignore-not-found", check=False)
