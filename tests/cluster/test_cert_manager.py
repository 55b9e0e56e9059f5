"""The chart's cert-manager mode on the real cluster. cert-manager itself is not run here (it is a large Go build and
three more images): its CRDs are stood in for by minimal ones, and the test does what cert-manager's controller and
cainjector would do with the chart's Certificate: issue it into the Secret as cert-manager writes one (type
kubernetes.io/tls, ca.crt + tls.crt + tls.key, a SEC1 ECDSA key, the cert-manager.io annotations) and copy its CA into
the caBundle. What is under test is the chart and the webhook: they must read that Secret (the kubelet mounts its
files root-owned, the webhook runs as UID 65532) and serve admissions with it."""
import base64
import json
import os
import subprocess
import tempfile

from conftest import (CHART, TENANT_ID, WEBHOOK_NAMESPACE, apply, ensure_webhook_namespace, kubectl, kubectl_json,
                      print_webhook_diagnostics, run)

SECRET = "azure-wi-webhook-server-cert"
WEBHOOK_CONFIG = "azure-wi-webhook-mutating-webhook-configuration"
CRDS = ("certificates", "issuers")


def cert_manager_crd(plural):
    kind = plural[:-1].capitalize()
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.cert-manager.io"},
            "spec": {"group": "cert-manager.io", "scope": "Namespaced",
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": kind + "List"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def remove_release():
    if "azwi-webhook" in run("helm", "list", "-n", WEBHOOK_NAMESPACE, "-q").stdout.split():
        run("helm", "uninstall", "azwi-webhook", "-n", WEBHOOK_NAMESPACE, "--wait", "--timeout", "120s", timeout=150)
    kubectl("delete", "secret", "-n", WEBHOOK_NAMESPACE, SECRET, "--ignore-not-found")


def helm_install_cert_manager_mode(check=True):
    return run("helm", "install", "azwi-webhook", CHART, "--namespace", WEBHOOK_NAMESPACE,
               "--set", f"azureTenantID={TENANT_ID}", "--set", "certManager.enabled=true", check=check, timeout=120)


def issue_as_cert_manager(certificate):
    """What cert-manager's selfSigned issuer writes for the Certificate: a P-256 key (PKCS#1 encoding, i.e. SEC1 for
    ECDSA), a self-signed certificate for its dnsNames, ca.crt the certificate itself."""
    spec = certificate["spec"]
    with tempfile.TemporaryDirectory() as tmp:
        key, crt = os.path.join(tmp, "tls.key"), os.path.join(tmp, "tls.crt")
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], check=True)
        subprocess.run(["openssl", "req", "-x509", "-new", "-key", key, "-out", crt, "-days", "30", "-subj", "/",
                        "-addext", "subjectAltName=" + ",".join("DNS:" + n for n in spec["dnsNames"])],
                       check=True, capture_output=True)
        with open(key, "rb") as f:
            key_pem = f.read()
        with open(crt, "rb") as f:
            crt_pem = f.read()
    assert key_pem.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": spec["secretName"], "namespace": WEBHOOK_NAMESPACE,
                         "labels": {"controller.cert-manager.io/fao": "true"},
                         "annotations": {"cert-manager.io/alt-names": ",".join(spec["dnsNames"]),
                                         "cert-manager.io/certificate-name": certificate["metadata"]["name"],
                                         "cert-manager.io/common-name": "", "cert-manager.io/ip-sans": "",
                                         "cert-manager.io/uri-sans": "", "cert-manager.io/issuer-group": "",
                                         "cert-manager.io/issuer-kind": spec["issuerRef"]["kind"],
                                         "cert-manager.io/issuer-name": spec["issuerRef"]["name"]}},
            "data": {"ca.crt": b64(crt_pem), "tls.crt": b64(crt_pem), "tls.key": b64(key_pem)}}


def inject_ca_as_cainjector(ca_b64):
    cfg = kubectl_json("get", "mutatingwebhookconfiguration", WEBHOOK_CONFIG)
    source = cfg["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
    assert source.startswith(WEBHOOK_NAMESPACE + "/"), source
    for webhook in cfg["webhooks"]:
        webhook["clientConfig"]["caBundle"] = ca_b64
    kubectl("replace", "-f", "-", input=json.dumps(cfg))


def test_the_chart_in_cert_manager_mode_needs_the_crds_first():
    ensure_webhook_namespace()
    remove_release()
    for plural in CRDS:
        kubectl("delete", "crd", f"{plural}.cert-manager.io", "--ignore-not-found", timeout=90)
    try:
        proc = helm_install_cert_manager_mode(check=False)
        assert proc.returncode != 0
        # What docs/install.md tells the reader to expect without cert-manager installed.
        assert 'no matches for kind "Certificate" in version "cert-manager.io/v1"' in proc.stderr, proc.stderr
    finally:
        if "azwi-webhook" in run("helm", "list", "-a", "-n", WEBHOOK_NAMESPACE, "-q").stdout.split():
            run("helm", "uninstall", "azwi-webhook", "-n", WEBHOOK_NAMESPACE, timeout=120)


def test_webhook_serves_admissions_with_the_secret_cert_manager_writes(namespace):
    ensure_webhook_namespace()
    remove_release()
    apply([cert_manager_crd(plural) for plural in CRDS])
    for plural in CRDS:
        kubectl("wait", "--for=condition=Established", f"crd/{plural}.cert-manager.io", "--timeout=60s", timeout=70)
    try:
        helm_install_cert_manager_mode()
        certificate = kubectl_json("get", "certificates.cert-manager.io", "-n", WEBHOOK_NAMESPACE,
                                   "azure-wi-webhook-serving-cert")
        assert certificate["spec"]["secretName"] == SECRET
        secret = issue_as_cert_manager(certificate)
        apply(secret)
        inject_ca_as_cainjector(secret["data"]["ca.crt"])
        try:
            kubectl("rollout", "status", "-n", WEBHOOK_NAMESPACE, "deployment/azure-wi-webhook-controller-manager",
                    "--timeout=120s", timeout=130)
        except AssertionError:
            print_webhook_diagnostics()
            raise
        # The mounted files are root-owned; the webhook reads them through the pod's fsGroup.
        pod = kubectl_json("get", "pods", "-n", WEBHOOK_NAMESPACE, "-l", "app.kubernetes.io/name=azwi-webhook")
        assert all(p["spec"]["securityContext"].get("fsGroup") == 65532 for p in pod["items"])

        # The API server calls the webhook over TLS with the cert-manager certificate and the injected caBundle.
        apply({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "labelled", "namespace": namespace,
                            "labels": {"azure.workload.identity/use": "true"}},
               "spec": {"containers": [{"name": "app", "image": "ghcr.io/azwi/azwi-app:v0.1.0",
                                        "command": ["sleep", "3600"]}]}})
        env = kubectl_json("get", "pod", "-n", namespace, "labelled")["spec"]["containers"][0].get("env", [])
        assert {"AZURE_TENANT_ID": TENANT_ID}.items() <= {e["name"]: e.get("value") for e in env}.items(), env
        # Built-in rotation is off: the webhook left the Secret as cert-manager wrote it.
        assert "ca.key" not in kubectl_json("get", "secret", "-n", WEBHOOK_NAMESPACE, SECRET)["data"]
    finally:
        remove_release()
        for plural in CRDS:
            kubectl("delete", "crd", f"{plural}.cert-manager.io", "--ignore-not-found", check=False, timeout=90)
        # The test files that follow install the webhook again (conftest's `webhook` fixture).
