"""The cni mode on the real cluster: the chart's azwi-cni DaemonSet puts the plugin into the node's plugin chain; a
pod in a namespace enforcing PodSecurity `restricted`, in cni mode, runs and its unmodified busybox wget gets an
Entra token through 169.254.169.254 (the redirect installed by the plugin from the node, seen in the pod's nat
table); a pod without the mode has no rule; the chain follows the primary CNI's file, comes back when removed and
stays while the agent's pod is replaced; after a node restart (scripts/cluster.sh restart-node: every container killed, the
primary's conflist rewritten) the pod gets its redirect again in its new sandbox; uninstalling takes the plugin out."""
import glob
import json
import os
import subprocess

import pytest

from conftest import (CLIENT_ID, ROOT, TENANT_ID, apply, create_namespace, emulator_ca_configmap,
                      ensure_webhook_namespace, env, helm_install_webhook, jwt_claims, kubectl, kubectl_json, namespace_phase,
                      print_webhook_diagnostics, wait_pod_running, wait_until, workload_service_account)
from test_seed_flow import TOKEN_URL, app_image

MODE = "azure.workload.identity/proxy-sidecar-mode"
SIDECAR = "azure.workload.identity/inject-proxy-sidecar"
NAMESPACE = "azwi-cni"  # restricted; its workload-identity-sa is federated (scripts/cluster/emulator.json)
AGENT_NAMESPACE = "kube-system"


def cni_values():
    state = env()["AZWI_CLUSTER_STATE"]
    return {"enabled": True, "binDir": f"{state}/cni/bin", "confDir": f"{state}/cni/net.d"}


def conf_dir():
    return os.path.join(env()["AZWI_CLUSTER_STATE"], "cni", "net.d")


def conflist():
    """The configuration the runtime reads: the first file by name."""
    first = sorted(n for n in os.listdir(conf_dir()) if n.endswith((".conf", ".conflist", ".json")))[0]
    with open(os.path.join(conf_dir(), first)) as f:
        return json.load(f)


def chain():
    return [p["type"] for p in conflist()["plugins"]]


def wait_agent():
    kubectl("rollout", "status", "-n", AGENT_NAMESPACE, "daemonset/azwi-cni", "--timeout=120s", timeout=130)
    wait_until("azwi-cni at the end of the node's plugin chain", lambda: chain()[-1] == "azwi-cni", 60)


def install(cni):
    helm_install_webhook(cni=cni)
    if cni["enabled"]:
        wait_agent()


@pytest.fixture(scope="module")
def agent():
    """The chart with the azwi-cni DaemonSet, and a restricted, federated namespace; the chart goes back to its
    defaults (no agent) afterwards."""
    ensure_webhook_namespace()
    install(cni_values())
    if namespace_phase(NAMESPACE) is None:
        create_namespace(NAMESPACE, {"pod-security.kubernetes.io/enforce": "restricted"})
    workload_service_account(NAMESPACE)
    emulator_ca_configmap(NAMESPACE)
    yield NAMESPACE
    kubectl("delete", "pods", "--all", "-n", NAMESPACE, "--wait=false", check=False)
    install({"enabled": False})


def app_pod(name, annotations, labels=None):
    """A pod that itself meets `restricted`."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels or {}, "annotations": annotations},
        "spec": {"serviceAccountName": "workload-identity-sa",
                 "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                     "seccompProfile": {"type": "RuntimeDefault"}},
                 "containers": [{"name": "app", "image": app_image(), "command": ["sleep", "3600"],
                                 "securityContext": {"allowPrivilegeEscalation": False,
                                                     "capabilities": {"drop": ["ALL"]}}}]},
    }


def server_dry_run(pod):
    return kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(pod), check=False)


def cni_mode_pod(name):
    """A pod asking for the sidecar in cni mode, as a user writes it; the webhook's mutation (checked by a server dry
    run) adds the sidecar and no azwi-proxy-init, and records the mode for the plugin."""
    pod = app_pod(name, {SIDECAR: "true", MODE: "cni"}, {"azure.workload.identity/use": "true"})
    dry = server_dry_run(pod)
    assert dry.returncode == 0, dry.stderr
    mutated = json.loads(dry.stdout)
    inits = [c["name"] for c in mutated["spec"].get("initContainers", [])]
    assert "azwi-proxy" in inits and "azwi-proxy-init" not in inits, inits
    assert mutated["metadata"]["annotations"].get(MODE) == "cni", mutated["metadata"]["annotations"]
    return pod


def pod_nat(name):
    """The nat table of the pod's network namespace, read from the node (the pod itself may not read it)."""
    uid = kubectl_json("get", "pod", "-n", NAMESPACE, name)["metadata"]["uid"]
    cgroup = f"{os.environ.get('AZWI_CLUSTER_NAME', 'azwit')}-cluster"
    procs = glob.glob(f"/sys/fs/cgroup/pids/{cgroup}/kubepods*/**/pod{uid}/*/cgroup.procs", recursive=True)
    pids = [p for f in procs for p in open(f).read().split()]
    assert pids, f"no process of pod {name} (uid {uid}) under /sys/fs/cgroup/pids/{cgroup}"
    out = subprocess.run(["nsenter", "-t", pids[0], "-n", "iptables-nft-save", "-t", "nat"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def imds_token(name):
    out = kubectl("exec", "-n", NAMESPACE, name, "-c", "app", "--", "timeout", "20", "wget", "-q", "-O-",
                  "--header", "Metadata: true", TOKEN_URL, timeout=60).stdout
    return json.loads(out)


def run_cni_pod(name):
    apply(cni_mode_pod(name))
    try:
        wait_pod_running(NAMESPACE, name, timeout=180)
    except AssertionError:
        print_webhook_diagnostics(NAMESPACE)
        print(open(os.path.join(env()["AZWI_CLUSTER_STATE"], "logs", "containerd.log")).read()[-4000:])
        raise


def assert_token(name):
    token = imds_token(name)
    assert token["token_type"] == "Bearer"
    claims = jwt_claims(token["access_token"])
    assert claims["aud"] == "https://management.azure.com/"
    assert claims["appid"] == CLIENT_ID and claims["tid"] == TENANT_ID


def test_a_restricted_pod_in_cni_mode_gets_a_token_through_the_metadata_address(agent):
    run_cni_pod("cni-app")
    pod = kubectl_json("get", "pod", "-n", NAMESPACE, "cni-app")
    inits = [c["name"] for c in pod["spec"].get("initContainers", [])]
    assert "azwi-proxy" in inits and "azwi-proxy-init" not in inits, inits
    for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
        caps = (c.get("securityContext") or {}).get("capabilities", {}).get("add", [])
        assert "NET_ADMIN" not in caps and not (c.get("securityContext") or {}).get("privileged"), c["name"]
    assert_token("cni-app")
    nat = pod_nat("cni-app")
    assert "-A OUTPUT -d 169.254.169.254/32 -p tcp -m tcp --dport 80 -j AZWI_PROXY_OUTPUT" in nat, nat
    assert "-A AZWI_PROXY_OUTPUT -m owner --uid-owner 1501 -j ACCEPT" in nat, nat
    logs = kubectl("logs", "-n", NAMESPACE, "cni-app", "-c", "azwi-proxy").stdout
    assert "successfully acquired token" in logs, logs


def test_a_pod_without_the_mode_has_no_rule(agent):
    apply(app_pod("plain-app", {}))
    wait_pod_running(NAMESPACE, "plain-app")
    nat = pod_nat("plain-app")
    assert "AZWI" not in nat, nat


def test_the_chain_follows_the_primary_comes_back_and_outlives_the_agents_pod(agent):
    # The primary CNI's own file changes (a plugin added): the chain the runtime reads follows, azwi-cni still last.
    primary = os.path.join(conf_dir(), "10-azwi.conflist")
    with open(primary) as f:
        original = f.read()
    changed = json.loads(original)
    changed["plugins"].append({"type": "bandwidth", "capabilities": {"bandwidth": True}})
    try:
        with open(primary + ".tmp", "w") as f:
            json.dump(changed, f)
        os.rename(primary + ".tmp", primary)
        wait_until("the chain to follow the primary's file", lambda: chain() == ["bridge", "portmap", "bandwidth",
                                                                                  "azwi-cni"], 30)
    finally:
        with open(primary + ".tmp", "w") as f:
            f.write(original)
        os.rename(primary + ".tmp", primary)
    wait_until("the chain to follow the primary's file back", lambda: chain() == ["bridge", "portmap", "azwi-cni"], 30)
    # Its own file removed: written again.
    os.remove(os.path.join(conf_dir(), "00-azwi-cni.conflist"))
    wait_until("the agent to write its chain again", lambda: chain()[-1] == "azwi-cni", 30)
    # Its pod killed (as by a rolling update): the DaemonSet stays, so the chain stays too, and the next pod takes over.
    kubectl("delete", "pod", "-n", AGENT_NAMESPACE, "-l", "app.kubernetes.io/name=azwi-cni", "--wait=true", timeout=60)
    assert chain()[-1] == "azwi-cni", "the node was left without the plugin while the DaemonSet stays"
    wait_agent()
    assert chain().count("azwi-cni") == 1, chain()
    for pod in kubectl_json("get", "pods", "-n", AGENT_NAMESPACE, "-l", "app.kubernetes.io/name=azwi-cni")["items"]:
        restarts = [s["restartCount"] for s in pod["status"]["containerStatuses"]]
        assert restarts == [0], f"the agent restarted (within its memory limit?): {pod['status']}"
    run_cni_pod("cni-after-restart")
    assert_token("cni-after-restart")


def pod_restarts(name):
    pod = kubectl_json("get", "pod", "-n", NAMESPACE, name)
    return sum(s.get("restartCount", 0) for s in pod["status"].get("containerStatuses", []) +
               pod["status"].get("initContainerStatuses", []))


def test_the_plugin_survives_a_node_restart(agent):
    run_cni_pod("cni-before-reboot")
    before = kubectl_json("get", "pod", "-n", NAMESPACE, "cni-before-reboot")
    # Every container killed, the primary's conflist rewritten as the node's primary CNI writes it at boot, the
    # kubelet and containerd started again: the kubelet makes a new sandbox for the pod, which the plugin handles
    # (the agent's chain is on the node's disk, read before the primary's) before the agent runs again.
    out = subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh"), "restart-node"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    wait_until("the pod's containers to be restarted by the kubelet", lambda: pod_restarts("cni-before-reboot") > 0, 120)
    wait_agent()
    wait_pod_running(NAMESPACE, "cni-before-reboot", timeout=180)
    after = kubectl_json("get", "pod", "-n", NAMESPACE, "cni-before-reboot")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]  # the same pod, in a new sandbox
    assert_token("cni-before-reboot")
    assert "-j AZWI_PROXY_OUTPUT" in pod_nat("cni-before-reboot")
    # And a pod made after the restart.
    run_cni_pod("cni-after-reboot")
    assert_token("cni-after-reboot")


def test_uninstall_takes_the_plugin_out_of_the_chain(agent):
    install({"enabled": False})
    wait_until("azwi-cni to leave the node's plugin chain", lambda: "azwi-cni" not in chain(), 60)
    state = env()["AZWI_CLUSTER_STATE"]
    assert not os.path.exists(f"{state}/cni/bin/azwi-cni")
    assert not os.path.exists(f"{state}/cni/net.d/azwi-cni.kubeconfig")
    assert not os.path.exists(f"{state}/cni/net.d/00-azwi-cni.conflist")
    assert chain() == ["bridge", "portmap"], chain()
    install(cni_values())  # for the module's other tests, whatever their order
