"""Pod Security Admission and the injected proxy on the real cluster: a namespace enforcing `restricted` (or
`baseline`) refuses a pod asking for the sidecar, because of azwi-proxy-init (privileged, NET_ADMIN, root), with the
message docs/troubleshooting.md explains; `privileged` admits it. A Job whose pod gets the native sidecar (azwi-proxy
as an init container with restartPolicy: Always) runs to completion: the app got its token from IMDS and the sidecar
did not keep the pod alive."""
import json

from conftest import (CLIENT_ID, apply, create_namespace, delete_namespace, emulator_ca_configmap, jwt_claims,
                      kubectl, kubectl_json, print_webhook_diagnostics, unique, wait_until, workload_service_account)
from test_seed_flow import TOKEN_URL, app_image

SIDECAR = {"azure.workload.identity/inject-proxy-sidecar": "true"}


def restricted_app_pod(namespace, name, annotations):
    """A pod that itself meets `restricted`, so that whatever PodSecurity refuses was added by the webhook."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"azure.workload.identity/use": "true"},
                     "annotations": annotations},
        "spec": {"serviceAccountName": "workload-identity-sa",
                 "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                     "seccompProfile": {"type": "RuntimeDefault"}},
                 "schedulingGates": [{"name": "azwi.test/hold"}],  # admission is the point; nothing needs to run
                 "containers": [{"name": "app", "image": app_image(), "command": ["sleep", "3600"],
                                 "securityContext": {"allowPrivilegeEscalation": False,
                                                     "capabilities": {"drop": ["ALL"]}}}]},
    }


def create(pod):
    return kubectl("create", "-f", "-", "-o", "name", input=json.dumps(pod), check=False)


def psa_namespace(level):
    name = unique(f"psa-{level}")
    create_namespace(name, {"pod-security.kubernetes.io/enforce": level})
    workload_service_account(name)
    return name


def test_restricted_namespace_refuses_the_sidecar_pod_naming_proxy_init_and_admits_it_without_the_sidecar(webhook):
    ns = psa_namespace("restricted")
    try:
        refused = create(restricted_app_pod(ns, "with-sidecar", SIDECAR))
        message = refused.stderr
        print(f"kubectl create (exit {refused.returncode}):\n{message}")
        assert refused.returncode != 0, "admitted: " + refused.stdout
        # The shape docs/troubleshooting.md quotes: Forbidden, the level, then one item per check, each naming the
        # container; only the injected init container, not the app and not the azwi-proxy sidecar.
        assert message.startswith('Error from server (Forbidden): error when creating "STDIN": pods "with-sidecar" '
                                  'is forbidden: violates PodSecurity "restricted:latest": '), message
        for part in ('privileged (container "azwi-proxy-init" must not set securityContext.privileged=true)',
                     'allowPrivilegeEscalation != false (container "azwi-proxy-init" must set '
                     'securityContext.allowPrivilegeEscalation=false)',
                     'unrestricted capabilities (container "azwi-proxy-init" must not include "NET_ADMIN" in '
                     'securityContext.capabilities.add)',
                     'runAsNonRoot != true (container "azwi-proxy-init" must not set securityContext.runAsNonRoot=false)',
                     'runAsUser=0 (container "azwi-proxy-init" must not set runAsUser=0)'):
            assert part in message, f"{part!r} not in:\n{message}"
        assert 'container "app"' not in message and 'container "azwi-proxy"' not in message, message
        assert kubectl("get", "pod", "-n", ns, "with-sidecar", check=False).returncode != 0

        # The same pod without the annotation: the webhook's identity injection alone meets `restricted`.
        plain = create(restricted_app_pod(ns, "without-sidecar", {}))
        assert plain.returncode == 0, plain.stderr
        pod = kubectl_json("get", "pod", "-n", ns, "without-sidecar")
        assert "AZURE_FEDERATED_TOKEN_FILE" in {e["name"] for e in pod["spec"]["containers"][0]["env"]}
    except Exception:
        print_webhook_diagnostics(ns)
        raise
    finally:
        delete_namespace(ns)


def test_baseline_namespace_refuses_the_sidecar_pod_too_and_privileged_admits_it(webhook):
    baseline, privileged = psa_namespace("baseline"), psa_namespace("privileged")
    try:
        refused = create(restricted_app_pod(baseline, "with-sidecar", SIDECAR))
        message = refused.stderr
        print(f"kubectl create (exit {refused.returncode}):\n{message}")
        assert refused.returncode != 0, "admitted under baseline: " + refused.stdout
        assert 'violates PodSecurity "baseline:latest": ' in message, message
        assert 'privileged (container "azwi-proxy-init" must not set securityContext.privileged=true)' in message
        assert ('non-default capabilities (container "azwi-proxy-init" must not include "NET_ADMIN" in '
                'securityContext.capabilities.add)') in message, message

        admitted = create(restricted_app_pod(privileged, "with-sidecar", SIDECAR))
        assert admitted.returncode == 0, admitted.stderr
        pod = kubectl_json("get", "pod", "-n", privileged, "with-sidecar")
        assert [c["name"] for c in pod["spec"]["initContainers"]][:2] == ["azwi-proxy-init", "azwi-proxy"]
    except Exception:
        print_webhook_diagnostics(baseline)
        raise
    finally:
        delete_namespace(baseline)
        delete_namespace(privileged)


def token_job(namespace, name):
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 240, "ttlSecondsAfterFinished": 600,
                 "template": {
                     "metadata": {"labels": {"azure.workload.identity/use": "true", "job": name},
                                  "annotations": SIDECAR},
                     "spec": {"serviceAccountName": "workload-identity-sa", "restartPolicy": "Never",
                              "containers": [{"name": "app", "image": app_image(),
                                              # busybox 1.35's wget -T crashes: bound it with timeout instead
                                              "command": ["timeout", "20", "wget", "-q", "-O-", "--header",
                                                          "Metadata: true", TOKEN_URL]}]}}},
    }


def test_job_with_the_native_sidecar_runs_to_completion_after_the_app_got_its_token(webhook, federated_namespace):
    ns = federated_namespace
    emulator_ca_configmap(ns)
    workload_service_account(ns)
    name = unique("token-job")
    apply(token_job(ns, name))
    try:
        def finished():
            job = kubectl_json("get", "job", "-n", ns, name)
            conditions = {c["type"]: c["status"] for c in job["status"].get("conditions", [])}
            if conditions.get("Failed") == "True":
                raise AssertionError(f"job failed: {json.dumps(job['status'])}")
            return conditions.get("Complete") == "True" and job
        job = wait_until(f"job {ns}/{name} to complete", finished, 180, 1)
        assert job["status"].get("succeeded") == 1 and not job["status"].get("failed"), job["status"]

        pods = kubectl_json("get", "pods", "-n", ns, "-l", f"job={name}")["items"]
        assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
        pod = pods[0]
        assert pod["status"]["phase"] == "Succeeded", pod["status"]
        inits = {c["name"]: c for c in pod["spec"]["initContainers"]}
        assert list(inits)[:2] == ["azwi-proxy-init", "azwi-proxy"], list(inits)
        assert inits["azwi-proxy"].get("restartPolicy") == "Always"  # a native sidecar
        assert "azwi-proxy" not in {c["name"] for c in pod["spec"]["containers"]}

        statuses = {s["name"]: s for s in pod["status"]["initContainerStatuses"]}
        assert statuses["azwi-proxy-init"]["state"]["terminated"]["exitCode"] == 0
        # The kubelet stopped the sidecar once the app had exited; it was not restarted and ended (SIGTERM: exit 0).
        proxy = statuses["azwi-proxy"]
        assert "terminated" in proxy["state"], proxy
        assert proxy["restartCount"] == 0, proxy
        app = {s["name"]: s for s in pod["status"]["containerStatuses"]}["app"]
        assert app["state"]["terminated"]["exitCode"] == 0, app
        # The sidecar ended after the app: it served the app's whole run.
        assert proxy["state"]["terminated"]["finishedAt"] >= app["state"]["terminated"]["finishedAt"], (proxy, app)

        token = json.loads(kubectl("logs", "-n", ns, pod["metadata"]["name"], "-c", "app").stdout)
        assert token["token_type"] == "Bearer"
        assert token["resource"] == "https://management.azure.com/"
        assert jwt_claims(token["access_token"])["appid"] == CLIENT_ID
        proxy_log = kubectl("logs", "-n", ns, pod["metadata"]["name"], "-c", "azwi-proxy").stdout
        assert "successfully acquired token" in proxy_log, proxy_log
    except Exception:
        for pod in kubectl_json("get", "pods", "-n", ns, "-l", f"job={name}", check=False)["items"]:
            pname = pod["metadata"]["name"]
            print(kubectl("describe", "pod", "-n", ns, pname, check=False).stdout)
            for c in ("azwi-proxy-init", "azwi-proxy", "app"):
                print(f"--- logs {c}\n" + kubectl("logs", "-n", ns, pname, "-c", c, check=False).stdout)
        print(kubectl("describe", "job", "-n", ns, name, check=False).stdout)
        print_webhook_diagnostics(ns)
        raise
    finally:
        kubectl("delete", "job", "-n", ns, name, "--ignore-not-found", "--wait=false", "--cascade=background",
                check=False)
