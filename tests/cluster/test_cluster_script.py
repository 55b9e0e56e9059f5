"""scripts/cluster.sh next to a running test cluster: its answers to what a user can get wrong, and restart-apiserver."""
import os
import subprocess

from conftest import ROOT, env, kubectl, kubectl_json

SCRIPT = os.path.join(ROOT, "scripts", "cluster.sh")


def cluster_sh(*args, name=None):
    e = dict(os.environ)
    if name is not None:
        e["AZWI_CLUSTER_NAME"] = name
        e.pop("AZWI_CLUSTER_STATE", None)
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, env=e)


def test_up_while_the_cluster_runs_is_refused_and_names_down():
    env()  # the cluster is up
    proc = cluster_sh("up")
    assert proc.returncode != 0
    assert "a cluster exists already" in proc.stderr and "down" in proc.stderr, proc.stderr
    assert cluster_sh("status").returncode == 0  # and the running cluster is untouched


def test_a_bad_cluster_name_is_refused_with_the_rule():
    proc = cluster_sh("status", name="Bad_Name")
    assert proc.returncode == 2
    assert "AZWI_CLUSTER_NAME must be" in proc.stderr and "Bad_Name" in proc.stderr, proc.stderr


def test_status_and_env_of_a_cluster_that_does_not_exist_say_so():
    status = cluster_sh("status", name="nosuchcluster")
    assert status.returncode == 1
    assert status.stdout.strip() == "no cluster (state /var/lib/nosuchcluster-cluster)", status.stdout
    env_cmd = cluster_sh("env", name="nosuchcluster")
    assert env_cmd.returncode != 0
    assert "no cluster at /var/lib/nosuchcluster-cluster" in env_cmd.stderr and "up'" in env_cmd.stderr, env_cmd.stderr


def test_an_unknown_command_prints_the_usage():
    proc = cluster_sh("start")
    assert proc.returncode == 2
    assert "usage:" in proc.stderr and "up|down|restart-node|restart-apiserver|status|env" in proc.stderr


def test_restart_apiserver_refuses_an_unknown_option_and_a_bad_down_time():
    env()
    bad = cluster_sh("restart-apiserver", "--graceful")
    assert bad.returncode == 1 and "unknown option '--graceful'" in bad.stderr and "--kill" in bad.stderr, bad.stderr
    bad = cluster_sh("restart-apiserver", "--down", "soon")
    assert bad.returncode == 1 and "--down takes whole seconds" in bad.stderr, bad.stderr


def apiserver_process():
    with open(os.path.join(env()["AZWI_CLUSTER_STATE"], "run", "kube-apiserver.pid")) as f:
        pid = f.read().strip()
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return pid, f.read().split(b"\0")


def test_restart_apiserver_kill_starts_a_new_api_server_with_the_same_flags_and_objects():
    env()
    kubectl("create", "configmap", "-n", "default", "survives-restart", "--from-literal=k=v")
    try:
        pid, cmdline = apiserver_process()
        proc = cluster_sh("restart-apiserver", "--kill", "--down", "1")
        assert proc.returncode == 0, proc.stderr
        assert "kube-apiserver restarted (SIGKILL, down 1 s)" in proc.stderr, proc.stderr
        new_pid, new_cmdline = apiserver_process()
        assert new_pid != pid and new_cmdline == cmdline
        assert kubectl_json("get", "configmap", "-n", "default", "survives-restart")["data"] == {"k": "v"}
    finally:
        kubectl("delete", "configmap", "-n", "default", "survives-restart", "--ignore-not-found")
