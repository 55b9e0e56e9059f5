"""docs/install.md's runbook, run on the real cluster block by block in order (tests/docs/runbook.py), once along the
Helm path and once along the plain-manifests path, from a cluster without the webhook to a cluster without it again.

The substitutions are a reader's: their registry (the cluster's images are imported under ghcr.io/azwi), tenant and
identity (the emulator's, federated with azwi-smoke:azwi-smoke), their signing key file, an image with wget they can
pull (the project's azwi-app), and, as for a private cloud, the local Entra ID's authority and CA (chart values
authorityHost and proxyCAConfigMap, the CA's ConfigMap in the smoke-test namespace). The push to a registry goes to a
local OCI layout with the same skopeo copy: no registry is reachable here. Blocks the runbook marks as skipped (az,
cert-manager) are named in the log."""
import os
import sys

import pytest

from conftest import (CLIENT_ID, ROOT, TENANT_ID, WEBHOOK_NAMESPACE, env, kubectl, namespace_phase, run,
                      wait_until)
from test_seed_flow import app_image

sys.path.insert(0, os.path.join(ROOT, "tests", "docs"))
import runbook  # noqa: E402

INSTALL = os.path.join(ROOT, "docs", "install.md")
WEBHOOK_CONFIG = "azure-wi-webhook-mutating-webhook-configuration"


def without_the_webhook():
    """The cluster as a new reader finds it: no release, no webhook namespace, no smoke test."""
    if "azwi-webhook" in run("helm", "list", "-a", "-n", WEBHOOK_NAMESPACE, "-q", check=False).stdout.split():
        run("helm", "uninstall", "azwi-webhook", "-n", WEBHOOK_NAMESPACE, "--wait", "--timeout", "120s", timeout=150)
    kubectl("delete", "mutatingwebhookconfiguration", WEBHOOK_CONFIG, "--ignore-not-found")
    for ns in (WEBHOOK_NAMESPACE, "azwi-smoke"):
        kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false")
    for ns in (WEBHOOK_NAMESPACE, "azwi-smoke"):
        wait_until(f"namespace {ns} to be gone", lambda: namespace_phase(ns) is None, 120)


def azwi_dir():
    """Where the reader's `azwi` is: the build's (the runbook says `scripts/build.sh azwi`)."""
    path = os.path.join(os.environ.get("AZWI_BUILD_DIR", os.path.join(ROOT, "build")), "cmd", "azwi")
    if not os.access(os.path.join(path, "azwi"), os.X_OK):
        pytest.fail(f"{path}/azwi is not built (scripts/build.sh azwi)")
    return path


def substitutions():
    e = env()
    private_cloud = f'--set authorityHost={e["AZWI_CLUSTER_AUTHORITY_HOST"]} --set proxyCAConfigMap=azwi-emulator-ca'
    return [
        ("registry.example.com/azwi", "ghcr.io/azwi"),
        ("00000000-0000-0000-0000-000000000000", TENANT_ID),
        ("11111111-1111-1111-1111-111111111111", CLIENT_ID),
        ('"docker://$REGISTRY/$image:$TAG"', '"oci:$WORK/$image:$TAG"'),
        ("busybox:1.36", app_image()),
        ("/etc/kubernetes/pki/sa.pub", os.path.join(e["AZWI_CLUSTER_STATE"], "pki", "sa.pub")),
        ('--set image.tag="$TAG"', '--set image.tag="$TAG" ' + private_cloud),
        ("kubectl create namespace azwi-smoke\n",
         "kubectl create namespace azwi-smoke\n"
         f"kubectl -n azwi-smoke create configmap azwi-emulator-ca --from-file=ca.crt={e['AZWI_CLUSTER_EMULATOR_CA']}\n"),
    ]


@pytest.mark.parametrize("path", ["helm", "manifests"])
def test_the_install_runbook_runs_in_order_on_the_cluster(path, tmp_path):
    without_the_webhook()
    e = env()
    proc = runbook.run(INSTALL, "The runbook", path=path, subs=substitutions(), timeout=600, cwd=ROOT,
                       # TMPDIR: the runbook's mktemp -d, left there by a failed run (pytest prunes old ones)
                       env={**os.environ, "KUBECONFIG": e["KUBECONFIG"], "TMPDIR": str(tmp_path),
                            "PATH": ":".join([os.path.join(e["AZWI_CLUSTER_STATE"], "bin"), azwi_dir(),
                                              os.environ["PATH"]])})
    print(proc.stdout)
    print(proc.stderr)
    assert proc.returncode == 0, "a runbook block failed (the last '>>> runbook block' above names it)"
    # What a reader is told to look for: the sidecar injected, a token answer, nothing left behind.
    assert "azwi-proxy-init azwi-proxy" in proc.stdout
    assert '"token_type":"Bearer"' in proc.stdout.replace(" ", "")
    assert kubectl("get", "mutatingwebhookconfiguration", WEBHOOK_CONFIG, check=False).returncode != 0
    assert namespace_phase(WEBHOOK_NAMESPACE) is None and namespace_phase("azwi-smoke") is None
    # The push went through skopeo to the local OCI layout (the last block removed it with $WORK).
    assert (proc.stdout + proc.stderr).count("Writing manifest to image destination") == 3
