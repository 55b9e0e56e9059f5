"""The ways a pod reaches the webhook on a real API server: made by a controller (a Deployment's ReplicaSet sends
only generateName and no namespace in the object), a server-side dry run (answered mutated, nothing created), and
not at all when the pod lacks the azure.workload.identity/use label (the chart's objectSelector)."""
import json

from conftest import (CLIENT_ID, TENANT_ID, apply, emulator_ca_configmap, kubectl, kubectl_json, unique,
                      wait_pod_running, wait_until, workload_service_account)
from test_seed_flow import TOKEN_URL, app_image
from webhook_inspect import admission_lines, container_env, print_diagnostics, webhook_metric

ADMISSIONS = "azwi_webhook_admission_requests_total"
TOKEN_FILE = "/var/run/secrets/azure/wi/token/azure-identity-token"  # the v1.6 layout (the webhook's default)
RESERVED = "azure-workload-identity-reserved-"


def pod_manifest(ns, name, labelled=True, proxy=False):
    labels = {"app": name}
    if labelled:
        labels["azure.workload.identity/use"] = "true"
    annotations = {"azure.workload.identity/inject-proxy-sidecar": "true"} if proxy else {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
            "spec": {"serviceAccountName": "workload-identity-sa",
                     "containers": [{"name": "app", "image": app_image(), "command": ["sleep", "3600"]}]}}


def test_deployment_pods_with_only_generate_name_are_mutated_and_get_a_token(webhook, federated_namespace):
    ns = federated_namespace
    emulator_ca_configmap(ns)
    workload_service_account(ns)
    name = unique("deploy")
    template = pod_manifest(ns, name, proxy=True)
    del template["metadata"]["name"], template["metadata"]["namespace"]
    apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": template["metadata"], "spec": template["spec"]}}})
    pod_name = None
    try:
        def made():
            pods = kubectl_json("get", "pods", "-n", ns, "-l", f"app={name}")["items"]
            return pods[0]["metadata"]["name"] if pods else None
        pod_name = wait_until(f"the deployment {name} to make a pod", made, 60)
        wait_pod_running(ns, pod_name, timeout=180)
        pod = kubectl_json("get", "pod", "-n", ns, pod_name)
        generate_name = pod["metadata"]["generateName"]
        assert generate_name.startswith(name + "-") and pod_name.startswith(generate_name), pod["metadata"]

        # The ReplicaSet's request named no pod: the webhook logged the generateName and the request's namespace.
        # (A call that mutates makes the API server call the webhook once more: that one changes nothing.)
        ours = admission_lines(generate_name, ns)
        assert [line["result"] for line in ours][:1] == ["mutated"], ours
        assert all(line["result"] == "unchanged" for line in ours[1:]), ours
        assert ours[0]["service_account"] == "workload-identity-sa" and ours[0]["proxy"] == "native-sidecar", ours
        inits = [c["name"] for c in pod["spec"]["initContainers"]]
        assert inits[:2] == ["azwi-proxy-init", "azwi-proxy"], inits
        values, _ = container_env(pod["spec"]["containers"][0])
        assert values["AZURE_CLIENT_ID"] == CLIENT_ID and values["AZURE_TENANT_ID"] == TENANT_ID, values

        out = kubectl("exec", "-n", ns, pod_name, "-c", "app", "--", "timeout", "20", "wget", "-q", "-O-",
                      "--header", "Metadata: true", TOKEN_URL, timeout=60).stdout
        token = json.loads(out)
        assert token["token_type"] == "Bearer" and token["resource"] == "https://management.azure.com/", token
    except BaseException:
        print(kubectl("describe", "deployment", "-n", ns, name, check=False).stdout)
        print(kubectl("describe", "replicaset", "-n", ns, "-l", f"app={name}", check=False).stdout)
        print_diagnostics(ns, *([pod_name] if pod_name else []))
        raise
    finally:
        kubectl("delete", "deployment", "-n", ns, name, "--ignore-not-found", "--wait=false", check=False)


def test_server_dry_run_answers_the_mutated_pod_and_creates_nothing(webhook, namespace):
    ns = namespace
    workload_service_account(ns)
    name = unique("dry")
    try:
        before, _ = webhook_metric(ADMISSIONS, namespace=ns)
        out = kubectl("create", "--dry-run=server", "-o", "json", "-f", "-",
                      input=json.dumps(pod_manifest(ns, name, proxy=True)), timeout=30)
        pod = json.loads(out.stdout)
        app = [c for c in pod["spec"]["containers"] if c["name"] == "app"][0]
        values, _ = container_env(app)
        assert values.get("AZURE_CLIENT_ID") == CLIENT_ID, values
        assert values.get("AZURE_FEDERATED_TOKEN_FILE") == TOKEN_FILE, values
        assert [v["name"] for v in pod["spec"]["volumes"] if v["name"].startswith(RESERVED)], pod["spec"]["volumes"]
        assert "azwi-proxy" in [c["name"] for c in pod["spec"].get("initContainers", [])], pod["spec"]

        # Nothing was stored, and the webhook saw the review as a dry run.
        got = kubectl("get", "pod", "-n", ns, name, check=False)
        assert got.returncode != 0 and "NotFound" in got.stderr, (got.stdout, got.stderr)
        assert kubectl_json("get", "pods", "-n", ns)["items"] == []
        ours = admission_lines(name, ns)
        assert [line["result"] for line in ours][:1] == ["mutated"], ours
        assert all(line["result"] == "unchanged" for line in ours[1:]), ours
        assert all(line["dry_run"] is True for line in ours), ours
        after, per_pod = webhook_metric(ADMISSIONS, namespace=ns, result="mutated")
        assert after == before + 1, per_pod
    except BaseException:
        print_diagnostics(ns)
        raise


def test_pod_without_the_use_label_is_not_sent_to_the_webhook(webhook, namespace):
    ns = namespace
    workload_service_account(ns)
    unlabelled, labelled = unique("plain"), unique("labelled")
    try:
        total_before, per_pod_before = webhook_metric(ADMISSIONS)
        # Even asking for the proxy: without the label the API server does not call the webhook.
        apply(pod_manifest(ns, unlabelled, labelled=False, proxy=True))
        pod = kubectl_json("get", "pod", "-n", ns, unlabelled)
        assert "initContainers" not in pod["spec"], pod["spec"]
        assert "env" not in pod["spec"]["containers"][0], pod["spec"]["containers"][0]
        assert not [v["name"] for v in pod["spec"].get("volumes", []) if v["name"].startswith(RESERVED)], pod["spec"]
        total_mid, per_pod_mid = webhook_metric(ADMISSIONS)
        assert total_mid == total_before, (per_pod_before, per_pod_mid)

        # The counter does see a labelled pod of the same namespace: it grows by the webhook's calls for that pod
        # (one that mutates, and the API server's reinvocation that changes nothing), all in this namespace.
        apply(pod_manifest(ns, labelled))
        calls = admission_lines(labelled, ns)
        assert [line["result"] for line in calls][:1] == ["mutated"], calls
        assert all(line["result"] == "unchanged" for line in calls[1:]), calls
        total_after, per_pod_after = wait_until(
            "the webhook's admission counter to count the labelled pod's calls",
            lambda: (lambda t: t if t[0] >= total_before + len(calls) else None)(webhook_metric(ADMISSIONS)), 15)
        assert total_after == total_before + len(calls), (per_pod_before, per_pod_after, calls)
        assert webhook_metric(ADMISSIONS, namespace=ns)[0] == len(calls)
        assert admission_lines(unlabelled, ns) == []
    except BaseException:
        print_diagnostics(ns, unlabelled, labelled)
        raise
