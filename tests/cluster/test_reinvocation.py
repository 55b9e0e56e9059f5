"""Reinvocation on the real API server: a second mutating webhook of the test's own (a small HTTPS server in the
node's network namespace, registered by URL, ordered after ours) adds a container after our webhook has run; the API
server reinvokes ours (reinvocationPolicy IfNeeded), which gives the new container the identity environment and the
token and adds nothing twice."""
import base64
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from conftest import (CLIENT_ID, TENANT_ID, apply, emulator_ca_configmap, env, jwt_claims, kubectl, kubectl_json,
                      unique, wait_pod_running, wait_until, workload_service_account)
from test_seed_flow import TOKEN_URL, app_image
from webhook_inspect import admission_lines, container_env, print_diagnostics

NODE_IP = "10.242.0.1"
OUR_CONFIG = "azure-wi-webhook-mutating-webhook-configuration"
ADDED = "added-by-second-webhook"
IDENTITY_ENV = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST")
TOKEN_FILE = "/var/run/secrets/azure/wi/token/azure-identity-token"  # the v1.6 layout (the webhook's default)

# The second webhook: adds container ADDED to every pod it is sent that lacks it (so a reinvocation adds nothing),
# and prints one JSON line per review (what it saw) for the test to read.
SERVER = textwrap.dedent("""
    import base64, http.server, json, ssl, sys
    cert, key, added = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            req = review["request"]
            pod = req["object"]
            containers = pod["spec"].get("containers", [])
            seen = {c["name"]: sorted(e["name"] for e in c.get("env", [])) for c in containers}
            response = {"uid": req["uid"], "allowed": True}
            if added["name"] not in seen:
                patch = [{"op": "add", "path": "/spec/containers/-", "value": added}]
                response["patchType"] = "JSONPatch"
                response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
            print(json.dumps({"uid": req["uid"], "containers_env": seen, "patched": "patch" in response,
                              "dry_run": req.get("dryRun", False)}), flush=True)
            body = json.dumps({"apiVersion": review["apiVersion"], "kind": "AdmissionReview",
                               "response": response}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("%s", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()
""" % NODE_IP)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(d):
    """A CA of the test's own and a serving certificate for the node IP signed by it."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
            "-subj", "/CN=azwi reinvocation test CA", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tls.key", "-out", "tls.csr",
            "-subj", f"/CN={NODE_IP}", cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write(f"subjectAltName=IP:{NODE_IP}\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "tls.crt", "-days", "1", "-extfile", "ext.cnf", cwd=d)


class SecondWebhook:
    def __init__(self, proc, port, ca_pem, out_path):
        self.proc, self.port, self.ca_pem, self.out_path = proc, port, ca_pem, out_path

    def reviews(self):
        with open(self.out_path) as f:
            return [json.loads(line) for line in f if line.strip().startswith("{") and '"uid"' in line]


@pytest.fixture
def second_webhook(federated_namespace):
    """The test's own webhook server in the node's network namespace and its MutatingWebhookConfiguration (named to
    sort after ours: the API server calls webhooks in the order of their configurations' names), for pods with the
    label azwi-test/reinvocation=<token> in the federated namespace; both removed afterwards."""
    ns = federated_namespace
    token = unique("r")
    config_name = f"zz-azwi-test-reinvocation-{token}"
    added = {"name": ADDED, "image": app_image(), "command": ["sleep", "3600"]}
    with tempfile.TemporaryDirectory(prefix="azwi-reinvocation-") as d:
        make_certificates(d)
        with open(os.path.join(d, "server.py"), "w") as f:
            f.write(SERVER)
        out_path = os.path.join(d, "server.out")
        out = open(out_path, "w")
        proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{env()['AZWI_CLUSTER_NETNS']}", "--", sys.executable,
                                 os.path.join(d, "server.py"), os.path.join(d, "tls.crt"), os.path.join(d, "tls.key"),
                                 json.dumps(added)], stdout=out, stderr=subprocess.STDOUT)
        try:
            def port():
                assert proc.poll() is None, f"the second webhook exited: {open(out_path).read()}"
                with open(out_path) as f:
                    first = f.readline()
                return json.loads(first)["port"] if first.endswith("\n") else None
            server_port = wait_until("the second webhook to listen", port, 20)
            with open(os.path.join(d, "ca.crt"), "rb") as f:
                ca_pem = f.read()
            apply({
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": config_name},
                "webhooks": [{
                    "name": "add-container.reinvocation.azwi.test",
                    "admissionReviewVersions": ["v1"],
                    "clientConfig": {"url": f"https://{NODE_IP}:{server_port}/mutate",
                                     "caBundle": base64.b64encode(ca_pem).decode()},
                    "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                               "resources": ["pods"], "scope": "Namespaced"}],
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                    "objectSelector": {"matchLabels": {"azwi-test/reinvocation": token}},
                    "reinvocationPolicy": "IfNeeded", "failurePolicy": "Fail", "sideEffects": "None",
                    "timeoutSeconds": 10,
                }],
            })
            yield {"token": token, "server": SecondWebhook(proc, server_port, ca_pem, out_path), "namespace": ns}
        finally:
            kubectl("delete", "mutatingwebhookconfiguration", config_name, "--ignore-not-found", check=False)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            out.close()


def labelled_pod(ns, name, token):
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"azure.workload.identity/use": "true", "azwi-test/reinvocation": token},
                     "annotations": {"azure.workload.identity/inject-proxy-sidecar": "true"}},
        "spec": {"serviceAccountName": "workload-identity-sa",
                 "containers": [{"name": "app", "image": app_image(), "command": ["sleep", "3600"]}]},
    }


def test_chart_webhook_is_reinvoked_if_needed(webhook):
    cfg = kubectl_json("get", "mutatingwebhookconfiguration", OUR_CONFIG)
    policies = {w["name"]: w.get("reinvocationPolicy", "Never") for w in cfg["webhooks"]}
    assert set(policies.values()) == {"IfNeeded"}, policies


def test_container_added_by_a_later_webhook_gets_the_identity_and_the_patch_is_applied_once(webhook, second_webhook):
    ns, token, server = second_webhook["namespace"], second_webhook["token"], second_webhook["server"]
    emulator_ca_configmap(ns)
    workload_service_account(ns)
    name = unique("reinvoked")
    try:
        # The API server reads webhook configurations from an informer: wait until a dry run passes the second one.
        probe = labelled_pod(ns, name + "-probe", token)

        def second_is_active():
            out = kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(probe), timeout=30)
            return ADDED in [c["name"] for c in json.loads(out.stdout)["spec"]["containers"]]
        wait_until("the second webhook to be called by the API server", second_is_active, 30, 1)
        calls_before = len(server.reviews())

        apply(labelled_pod(ns, name, token))
        wait_pod_running(ns, name, timeout=180)
        pod = kubectl_json("get", "pod", "-n", ns, name)
        spec = pod["spec"]
        inits, containers = spec.get("initContainers", []), spec["containers"]
        every = inits + containers
        names = [c["name"] for c in every]
        # Added once by the second webhook, our containers once, whatever the number of invocations.
        assert names.count(ADDED) == 1, names
        assert names.count("azwi-proxy") == 1 and names.count("azwi-proxy-init") == 1, names
        token_volumes = [v["name"] for v in spec["volumes"] if v["name"].startswith("azure-workload-identity-reserved-")]
        assert len(token_volumes) == 1, spec["volumes"]

        expected = {"AZURE_CLIENT_ID": CLIENT_ID, "AZURE_TENANT_ID": TENANT_ID, "AZURE_FEDERATED_TOKEN_FILE": TOKEN_FILE,
                    "AZURE_AUTHORITY_HOST": env()["AZWI_CLUSTER_AUTHORITY_HOST"]}
        for c in every:
            values, env_names = container_env(c)
            assert len(env_names) == len(set(env_names)), f"duplicate env entries in {c['name']}: {env_names}"
            mounts = [m["name"] for m in c.get("volumeMounts", [])]
            if c["name"] == "azwi-proxy-init":  # only installs the redirect
                assert not set(IDENTITY_ENV) & set(values) and token_volumes[0] not in mounts, c
                continue
            assert {k: values.get(k) for k in IDENTITY_ENV} == expected, (c["name"], values)
            assert mounts.count(token_volumes[0]) == 1, (c["name"], mounts)

        # What the second webhook saw: ours had already run (the app had our environment), and the container it
        # added had none until ours was called again.
        reviews = server.reviews()[calls_before:]
        assert reviews and reviews[0]["patched"], reviews
        assert set(IDENTITY_ENV) <= set(reviews[0]["containers_env"]["app"]), reviews
        assert all(not r["patched"] for r in reviews[1:]), reviews
        # Our webhook answered this pod twice: the first call mutated the app, the reinvocation only the new container.
        ours = admission_lines(name, ns)
        assert [line["result"] for line in ours] == ["mutated", "mutated"], ours
        assert ADDED not in ours[0]["injected_into"].split(","), ours
        assert ours[1]["injected_into"] == ADDED, ours

        # In the running container: the identity, the projected token, and a token from the sidecar through IMDS.
        lines = kubectl("exec", "-n", ns, name, "-c", ADDED, "--", "env").stdout.splitlines()
        inside = dict(line.split("=", 1) for line in lines if "=" in line)
        assert {k: inside.get(k) for k in IDENTITY_ENV} == expected, inside
        sa_token = kubectl("exec", "-n", ns, name, "-c", ADDED, "--", "cat", TOKEN_FILE).stdout
        assert jwt_claims(sa_token)["sub"] == f"system:serviceaccount:{ns}:workload-identity-sa"
        out = kubectl("exec", "-n", ns, name, "-c", ADDED, "--", "timeout", "20", "wget", "-q", "-O-",
                      "--header", "Metadata: true", TOKEN_URL, timeout=60).stdout
        assert jwt_claims(json.loads(out)["access_token"])["appid"] == CLIENT_ID
    except BaseException:
        print("second webhook's reviews:", json.dumps(server.reviews(), indent=1))
        print_diagnostics(ns, name)
        raise
    finally:
        kubectl("delete", "pod", "-n", ns, name, "--ignore-not-found", "--wait=false", check=False)
