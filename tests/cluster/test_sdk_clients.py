"""The Go SDK clients (tests/sdk/go, one static binary) in a pod of the real cluster: the webhook injects the sidecar and
the redirect, the client runs unmodified in the application container (UID 1000) and asks 169.254.169.254 itself.
Each client's outcome goes to <build>/sdk-results as the `Cluster` case of docs/compatibility.md."""
import json
import os
import subprocess

import pytest

from conftest import (CLIENT_ID, ROOT, TENANT_ID, apply, create_namespace, emulator_ca_configmap, kubectl,
                      wait_pod_running, workload_service_account)
from test_seed_flow import app_image

BUILD = os.environ.get("AZWI_BUILD_DIR", os.path.join(ROOT, "build"))
GO_CLIENT = os.path.join(BUILD, "sdk", "azwi-sdk-go")
RESULTS = os.path.join(BUILD, "sdk-results")
RESOURCE = "https://vault.azure.net"
# The workload identity variables the webhook injects: DefaultAzureCredential would use them and skip IMDS, so the
# IMDS-only program this case stands for runs without them.
WI_VARS = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST")

# (result name, title, arguments after the resource, drop the workload identity variables)
CLIENTS = [
    ("go_azidentity_mi", "azidentity ManagedIdentityCredential (client ID)", ["azidentity-mi"], True, False),
    ("go_azidentity_mi_system", "azidentity ManagedIdentityCredential (system default)", ["azidentity-mi"], False, False),
    ("go_azidentity_default", "azidentity DefaultAzureCredential", ["azidentity-default"], False, True),
    ("go_adal_msi", "adal NewServicePrincipalTokenFromManagedIdentity (client ID)", ["adal-msi"], True, False),
]


@pytest.fixture(scope="module")
def go_client():
    build = subprocess.run([os.path.join(ROOT, "tests", "sdk", "go", "build.sh"), GO_CLIENT], capture_output=True,
                           text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    return GO_CLIENT


@pytest.fixture(scope="module")
def sdk_pod(webhook, go_client):
    ns = "azwi-e2e"  # federated with the emulator's identity (scripts/cluster/emulator.json)
    if kubectl("get", "namespace", ns, check=False).returncode != 0:
        create_namespace(ns)
    emulator_ca_configmap(ns)
    workload_service_account(ns)
    kubectl("delete", "pod", "-n", ns, "sdk-go", "--ignore-not-found", "--wait=true", timeout=90)
    apply({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "sdk-go", "namespace": ns, "labels": {"azure.workload.identity/use": "true"},
                     "annotations": {"azure.workload.identity/inject-proxy-sidecar": "true"}},
        "spec": {"serviceAccountName": "workload-identity-sa",
                 "containers": [{"name": "app", "image": app_image(), "command": ["sleep", "3600"],
                                 "volumeMounts": [{"name": "sdk", "mountPath": "/sdk"}]}],
                 "volumes": [{"name": "sdk", "emptyDir": {}}]},
    })
    wait_pod_running(ns, "sdk-go", timeout=180)
    # The static binary goes into the running application container, as a FROM-scratch image would carry it.
    kubectl("cp", "-c", "app", go_client, f"{ns}/sdk-go:/sdk/azwi-sdk-go", timeout=120)
    kubectl("exec", "-n", ns, "sdk-go", "-c", "app", "--", "chmod", "755", "/sdk/azwi-sdk-go", timeout=30)
    yield ns
    kubectl("delete", "pod", "-n", ns, "sdk-go", "--ignore-not-found", "--wait=false", timeout=60)


def sidecar_token_requests(ns):
    return kubectl("logs", "-n", ns, "sdk-go", "-c", "azwi-proxy").stdout.count("received token request")


def record(name, title, result, passed, note):
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.Cluster.json"), "w") as f:
        json.dump({"client": name, "title": title, "language": "go", "case": "Cluster", "path": "cluster pod",
                   "passed": passed, "note": note if passed else "failed: see the test's log",
                   **{k: result[k] for k in ("library", "version", "ok", "ms") if k in result}}, f)
        f.write("\n")


@pytest.mark.parametrize("name,title,args,names_client,drop_wi_vars", CLIENTS, ids=[c[0] for c in CLIENTS])
def test_go_client_gets_its_token_in_a_cluster_pod(sdk_pod, name, title, args, names_client, drop_wi_vars):
    cmd = ["env"] + [a for v in WI_VARS for a in ("-u", v)] if drop_wi_vars else []
    cmd += ["/sdk/azwi-sdk-go", *args, RESOURCE] + ([CLIENT_ID] if names_client else [])
    asked_before = sidecar_token_requests(sdk_pod)
    proc = kubectl("exec", "-n", sdk_pod, "sdk-go", "-c", "app", "--", *cmd, check=False, timeout=120)
    result = {}
    passed = False
    try:
        result = json.loads(proc.stdout.splitlines()[0])
        assert result["ok"], result
        claims = result["claims"]
        assert claims["aud"] == RESOURCE
        assert claims["appid"] == CLIENT_ID
        assert claims["tid"] == TENANT_ID
        assert sidecar_token_requests(sdk_pod) > asked_before, "the sidecar served no token request for this client"
        passed = True
    except (IndexError, ValueError) as e:
        raise AssertionError(f"no result line from the client ({e}):\n{proc.stdout}\n{proc.stderr}")
    finally:
        record(name, title, result, passed, "token from the webhook-injected sidecar through the redirect")
