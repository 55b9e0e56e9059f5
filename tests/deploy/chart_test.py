#!/usr/bin/python3
"""The Helm chart under real helm (3.17, from scripts/kube-tools.sh): strict lint, every documented value
combination renders to what the values say, the values schema refuses bad values, and every value is documented.

Usage: chart_test.py [unittest arguments]. Exits 77 (skipped) with the reason when helm cannot be fetched (scripts/kube-tools.sh exit 3).
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHART = os.path.join(ROOT, "deploy", "helm", "azwi-webhook")
MANIFESTS = os.path.join(ROOT, "deploy", "manifests")
INSTALL_DOC = os.path.join(ROOT, "docs", "install.md")
NS = "azure-workload-identity-system"
TENANT = "azureTenantID=00000000-0000-0000-0000-000000000000"
PSS_LABEL = "pod-security.kubernetes.io/enforce"
HELM = None

EXTRA_VALUES = """
nodeSelector: {kubernetes.io/os: linux, node-role.example/system: "true"}
tolerations:
- {key: CriticalAddonsOnly, operator: Exists}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector: {matchLabels: {app.kubernetes.io/name: azwi-webhook}}
"""


def helm(*args, check=True):
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HELM_CONFIG_HOME=home, HELM_CACHE_HOME=home, HELM_DATA_HOME=home)
        r = subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({r.returncode}): {r.stderr}{r.stdout}")
    return r


def render(*sets, files=()):
    args = ["template", "azwi-webhook", CHART, "--namespace", NS, "--set", TENANT]
    for f in files:
        args += ["--values", f]
    for s in sets:
        args += ["--set", s]
    return [o for o in yaml.safe_load_all(helm(*args).stdout) if o]


def kinds(objs):
    return sorted(o["kind"] for o in objs)


def one(objs, kind):
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def pod_spec(objs):
    return one(objs, "Deployment")["spec"]["template"]["spec"]


def extra_values_file(test):
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    f.write(EXTRA_VALUES)
    f.close()
    test.addCleanup(os.unlink, f.name)
    return f.name


# The value combinations docs/install.md documents; each must lint and render.
COMBINATIONS = {
    "defaults": [],
    "cert-manager": ["certManager.enabled=true"],
    "cert-manager with a ClusterIssuer": ["certManager.enabled=true", "certManager.issuerRef.name=ca",
                                          "certManager.issuerRef.kind=ClusterIssuer"],
    "namespace": ["createNamespace=true"],
    "no PodDisruptionBudget": ["podDisruptionBudget.enabled=false"],
    "no metrics": ["metrics.enabled=false"],
    "imported images": ["image.pullPolicy=Never", "image.registry=docker.io/library", "image.tag=dev"],
    "no scheduling constraints": ["nodeSelector=null", "priorityClassName="],
    "v1.5 token layout": ["tokenLayout=v1.5"],
    "custom token endpoint": ["customTokenEndpoint.annotationSuffix=identity-binding",
                              "customTokenEndpoint.audience=api://AKSIdentityBinding",
                              "customTokenEndpoint.tokenProxy=https://binding.example",
                              "customTokenEndpoint.caConfigMapName=binding-ca"],
    "cni node agent": ["cni.enabled=true", "cni.binDir=/var/lib/cni/bin", "cni.excludeNamespaces={kube-system,infra}"],
}


class Lint(unittest.TestCase):
    def test_chart_lints_strictly_with_every_combination(self):
        for name, sets in COMBINATIONS.items():
            with self.subTest(name):
                args = ["lint", "--strict", CHART, "--namespace", NS, "--set", TENANT]
                for s in sets:
                    args += ["--set", s]
                r = helm(*args, check=False)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("0 chart(s) failed", r.stdout)
                self.assertNotIn("[WARNING]", r.stdout)
                self.assertNotIn("[ERROR]", r.stdout)

    def test_lint_with_scheduling_values_file(self):
        r = helm("lint", "--strict", CHART, "--set", TENANT, "--values", extra_values_file(self), check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class Combinations(unittest.TestCase):
    def test_every_combination_renders(self):
        for name, sets in COMBINATIONS.items():
            with self.subTest(name):
                self.assertIn("Deployment", kinds(render(*sets)))

    def test_cni_agent_off_by_default_and_least_privileged_when_on(self):
        self.assertNotIn("DaemonSet", kinds(render()))
        objs = render("cni.enabled=true", "cni.binDir=/var/lib/cni/bin", "cni.excludeNamespaces={kube-system,infra}")
        ds = one(objs, "DaemonSet")
        self.assertEqual(ds["metadata"]["namespace"], "kube-system")
        spec = ds["spec"]["template"]["spec"]
        self.assertTrue(spec["hostNetwork"], "the agent's sandbox must not depend on the plugin it installs")
        self.assertEqual(spec["serviceAccountName"], "azwi-cni")
        c = spec["containers"][0]
        with open(os.path.join(CHART, "Chart.yaml"), encoding="utf-8") as f:
            app_version = yaml.safe_load(f)["appVersion"]
        self.assertEqual(c["image"], f"ghcr.io/azwi/azwi-cni:v{app_version}")
        sc = c["securityContext"]
        self.assertNotIn("privileged", sc)
        self.assertEqual(sc["capabilities"], {"drop": ["ALL"]})
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertIn("--exclude-namespaces=kube-system,infra", c["args"])
        self.assertIn("--host-cni-conf-dir=/etc/cni/net.d", c["args"])
        paths = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
        self.assertEqual(paths, {"cni-bin": "/var/lib/cni/bin", "cni-conf": "/etc/cni/net.d"})
        role = [o for o in objs if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "azwi-cni"][0]
        self.assertEqual(role["rules"], [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
        binding = [o for o in objs if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"] == "azwi-cni"][0]
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount", "name": "azwi-cni", "namespace": "kube-system"}])
        local = [o for o in objs if o["kind"] == "Role" and o["metadata"]["name"] == "azwi-cni"][0]
        self.assertEqual(local["metadata"]["namespace"], "kube-system")
        self.assertEqual(local["rules"], [{"apiGroups": ["apps"], "resources": ["daemonsets"],
                                           "resourceNames": ["azwi-cni"], "verbs": ["get"]}])

    def test_cert_manager_on_and_off(self):
        off = render()
        self.assertNotIn("Certificate", kinds(off))
        self.assertNotIn("Issuer", kinds(off))
        self.assertIn("Role", kinds(off))
        self.assertNotIn("--disable-cert-rotation", pod_spec(off)["containers"][0]["args"])
        self.assertIn("emptyDir", pod_spec(off)["volumes"][0])
        on = render("certManager.enabled=true")
        self.assertIn("Certificate", kinds(on))
        self.assertIn("Issuer", kinds(on))
        self.assertNotIn("Role", kinds(on))
        self.assertIn("--disable-cert-rotation", pod_spec(on)["containers"][0]["args"])
        self.assertEqual(one(on, "MutatingWebhookConfiguration")["metadata"]["annotations"],
                         {"cert-manager.io/inject-ca-from": f"{NS}/azure-wi-webhook-serving-cert"})
        cluster_issuer = render("certManager.enabled=true", "certManager.issuerRef.name=ca",
                                "certManager.issuerRef.kind=ClusterIssuer")
        self.assertNotIn("Issuer", kinds(cluster_issuer))
        self.assertEqual(one(cluster_issuer, "Certificate")["spec"]["issuerRef"], {"name": "ca", "kind": "ClusterIssuer"})

    def test_create_namespace_carries_the_pod_security_label_of_the_plain_manifests(self):
        self.assertNotIn("Namespace", kinds(render()))
        ns = one(render("createNamespace=true"), "Namespace")
        self.assertEqual(ns["metadata"]["name"], NS)
        self.assertEqual(ns["metadata"]["labels"][PSS_LABEL], "restricted")
        for f in sorted(os.listdir(MANIFESTS)):
            with open(os.path.join(MANIFESTS, f), encoding="utf-8") as fh:
                plain = one([o for o in yaml.safe_load_all(fh) if o], "Namespace")
            self.assertEqual(plain["metadata"]["labels"][PSS_LABEL], ns["metadata"]["labels"][PSS_LABEL], f)

    def test_pod_disruption_budget_on_and_off(self):
        pdb = one(render("podDisruptionBudget.minAvailable=2", "replicaCount=3"), "PodDisruptionBudget")
        self.assertEqual(pdb["spec"]["minAvailable"], 2)
        self.assertNotIn("PodDisruptionBudget", kinds(render("podDisruptionBudget.enabled=false")))

    def test_metrics_on_and_off(self):
        on = render("metrics.port=9100")
        container = pod_spec(on)["containers"][0]
        self.assertIn({"name": "metrics", "containerPort": 9100, "protocol": "TCP"}, container["ports"])
        self.assertIn("--metrics-addr=:9100", container["args"])
        self.assertEqual(one(on, "Deployment")["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"],
                         "9100")
        off = render("metrics.enabled=false")
        self.assertNotIn("metrics", [p["name"] for p in pod_spec(off)["containers"][0]["ports"]])
        self.assertNotIn("annotations", one(off, "Deployment")["spec"]["template"]["metadata"])

    def test_node_selector_tolerations_and_affinity(self):
        spec = pod_spec(render(files=[extra_values_file(self)]))
        values = yaml.safe_load(EXTRA_VALUES)
        self.assertEqual(spec["nodeSelector"], values["nodeSelector"])
        self.assertEqual(spec["tolerations"], values["tolerations"])
        self.assertEqual(spec["affinity"], values["affinity"])
        bare = pod_spec(render("nodeSelector=null"))
        for key in ("nodeSelector", "tolerations", "affinity"):
            self.assertNotIn(key, bare)


    def test_upstream_v16_values_reach_the_deployment(self):
        f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        f.write("""
revisionHistoryLimit: 3
topologySpreadConstraints:
- {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway,
   labelSelector: {matchLabels: {app.kubernetes.io/name: azwi-webhook}}}
extraEnv: [{name: HTTPS_PROXY, value: "http://egress.example:3128"}]
extraVolumes: [{name: extra-ca, configMap: {name: corp-ca}}]
extraVolumeMounts: [{name: extra-ca, mountPath: /etc/corp-ca, readOnly: true}]
""")
        f.close()
        self.addCleanup(os.unlink, f.name)
        objs = render(files=[f.name])
        deployment = one(objs, "Deployment")
        spec = pod_spec(objs)
        container = spec["containers"][0]
        self.assertEqual(deployment["spec"]["revisionHistoryLimit"], 3)
        self.assertEqual(spec["topologySpreadConstraints"][0]["topologyKey"], "topology.kubernetes.io/zone")
        self.assertIn({"name": "HTTPS_PROXY", "value": "http://egress.example:3128"}, container["env"])
        self.assertIn({"name": "extra-ca", "configMap": {"name": "corp-ca"}}, spec["volumes"])
        self.assertIn({"name": "extra-ca", "mountPath": "/etc/corp-ca", "readOnly": True}, container["volumeMounts"])
        self.assertIn("--metrics-backend=prometheus", container["args"])
        bare = pod_spec(render())
        self.assertNotIn("topologySpreadConstraints", bare)
        self.assertEqual([v["name"] for v in bare["volumes"]], ["cert"])

    def test_token_layout_and_resources_become_flags(self):
        args = pod_spec(render())["containers"][0]["args"]
        self.assertIn("--token-layout=v1.6", args)
        self.assertIn("--watch-timeout-seconds=300", args)
        self.assertIn("--watch-timeout-seconds=45",
                      pod_spec(render("watchTimeoutSeconds=45"))["containers"][0]["args"])
        self.assertIn("--proxy-resources=requests.cpu=10m,requests.memory=16Mi,limits.cpu=200m,limits.memory=64Mi", args)
        args = pod_spec(render("tokenLayout=v1.5", "proxyResources.limits.cpu=null",
                               "proxyInitResources.requests.memory=8Mi"))["containers"][0]["args"]
        self.assertIn("--token-layout=v1.5", args)
        self.assertIn("--proxy-resources=requests.cpu=10m,requests.memory=16Mi,limits.cpu=,limits.memory=64Mi", args)
        self.assertIn("--proxy-init-resources=requests.cpu=10m,requests.memory=8Mi,limits.cpu=200m,limits.memory=64Mi",
                      args)

    def test_custom_token_endpoint_gives_the_two_flags_and_the_variables(self):
        objs = render("customTokenEndpoint.annotationSuffix=identity-binding",
                      "customTokenEndpoint.audience=api://AKSIdentityBinding",
                      "customTokenEndpoint.tokenProxy=https://binding.example/base",
                      "customTokenEndpoint.sniName=binding.internal",
                      "customTokenEndpoint.caCTBSignerName=example.com/binding",
                      "customTokenEndpoint.caCTBLabelSelector.matchLabels.binding=one")
        args = pod_spec(objs)["containers"][0]["args"]
        self.assertIn("--custom-token-endpoint-annotation-suffix=identity-binding", args)
        self.assertIn("--custom-token-endpoint-audience=api://AKSIdentityBinding", args)
        data = one(objs, "ConfigMap")["data"]
        self.assertEqual(data["AZURE_KUBERNETES_TOKEN_PROXY"], "https://binding.example/base")
        self.assertEqual(data["AZURE_KUBERNETES_SNI_NAME"], "binding.internal")
        self.assertEqual(data["AZURE_KUBERNETES_CA_CTB_SIGNER_NAME"], "example.com/binding")
        self.assertEqual(json.loads(data["AZURE_KUBERNETES_CA_CTB_LABEL_SELECTOR"]), {"matchLabels": {"binding": "one"}})
        off = render("customTokenEndpoint.tokenProxy=https://binding.example")
        self.assertFalse([a for a in pod_spec(off)["containers"][0]["args"] if a.startswith("--custom-token")])
        self.assertNotIn("AZURE_KUBERNETES_TOKEN_PROXY", one(off, "ConfigMap")["data"])


class PullPolicy(unittest.TestCase):
    """Images imported into containerd (no registry) must run: the policy is a value, IfNotPresent by default."""

    def test_default_is_if_not_present_and_never_is_possible(self):
        self.assertEqual(pod_spec(render())["containers"][0]["imagePullPolicy"], "IfNotPresent")
        self.assertEqual(pod_spec(render("image.pullPolicy=Never"))["containers"][0]["imagePullPolicy"], "Never")

    def test_the_plain_manifests_do_not_force_always(self):
        for f in sorted(os.listdir(MANIFESTS)):
            with open(os.path.join(MANIFESTS, f), encoding="utf-8") as fh:
                objs = [o for o in yaml.safe_load_all(fh) if o]
            for c in pod_spec(objs)["containers"] + pod_spec(objs).get("initContainers", []):
                self.assertEqual(c.get("imagePullPolicy"), "IfNotPresent", f)
                self.assertFalse(c["image"].endswith(":latest"), f"{f}: a :latest image defaults to Always")

    def test_schema_refuses_an_unknown_policy(self):
        r = helm("template", "x", CHART, "--set", TENANT, "--set", "image.pullPolicy=Sometimes", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("image.pullPolicy", r.stderr)


class Values(unittest.TestCase):
    def test_tenant_is_required(self):
        r = helm("template", "x", CHART, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("azureTenantID is required", r.stderr)

    def test_schema_refuses_bad_values(self):
        for bad in ("replicaCount=zero", "timeoutSeconds=31", "logLevel=verbose", "azureEnvironment=Mars",
                    "certManager.issuerRef.kind=Other", "metrics.port=70000", "unknownValue=1",
                    "image.registy=typo.example", "tokenLayout=v1.7", "metricsBackend=statsd",
                    "customTokenEndpoint.tokenProxy=http://plain.example", "customTokenEndpoint.annotationSuffix=a/b",
                    "proxyResources.limits.gpu=1", "watchTimeoutSeconds=5"):
            with self.subTest(bad):
                r = helm("template", "x", CHART, "--set", TENANT, "--set", bad, check=False)
                self.assertNotEqual(r.returncode, 0, bad)
                self.assertIn("schema", r.stderr)

    def test_schema_accepts_what_set_produces(self):
        render("tlsMinVersion=1.2", "podDisruptionBudget.minAvailable=50%", "metrics.port=9000")

    def test_every_value_is_in_the_schema_and_documented(self):
        with open(os.path.join(CHART, "values.yaml"), encoding="utf-8") as f:
            values = yaml.safe_load(f)
        with open(os.path.join(CHART, "values.schema.json"), encoding="utf-8") as f:
            schema = json.load(f)
        with open(INSTALL_DOC, encoding="utf-8") as f:
            doc = f.read()

        def leaves(v, s, prefix):
            # Descends where the schema fixes the fields; free-form objects (resources' requests, affinity...) are
            # one value.
            props = s.get("properties")
            if props is None or v == {}:  # an empty default ({}) with fixed fields (issuerRef) is one value
                return [prefix]
            self.assertEqual(set(v), set(props), f"{prefix or 'values'}: values.yaml and values.schema.json differ")
            out = []
            for k in v:
                out += leaves(v[k], props[k], f"{prefix}.{k}" if prefix else k)
            return out

        paths = leaves(values, schema, "")
        self.assertGreater(len(paths), 25)
        undocumented = [p for p in paths if f"`{p}`" not in doc]
        self.assertEqual(undocumented, [], "values missing from docs/install.md")


def main():
    global HELM
    r = subprocess.run([os.path.join(ROOT, "scripts", "kube-tools.sh"), "path", "helm"], capture_output=True,
                       text=True, timeout=600)
    if r.returncode == 3:  # cannot be fetched (no npm, no registry, offline, not linux-amd64)
        print(f"SKIPPED: no helm: {r.stderr.strip()}")
        return 77
    if r.returncode != 0:
        print(f"scripts/kube-tools.sh path helm failed (exit {r.returncode}): {r.stderr.strip()}")
        return 1
    HELM = r.stdout.strip()
    prog = unittest.main(argv=[sys.argv[0], *sys.argv[1:]], exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
