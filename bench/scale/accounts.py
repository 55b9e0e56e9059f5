#!/usr/bin/python3
"""ServiceAccounts shaped like a real cluster's, for bench/scale: N accounts spread over M namespaces, each with the
labels and annotations Helm and kubectl leave (app.kubernetes.io/*, helm.sh/chart, meta.helm.sh/*, for a quarter
kubectl's last-applied-configuration), some with secrets and imagePullSecrets, and a third with the
azure.workload.identity/client-id and tenant-id annotations. Deterministic: account i is the same in every run.

  accounts.py seed OUT N M [EXTRA]  writes them as the API server would answer them (uid, creationTimestamp,
                                 managedFields added) into OUT, a JSON list for fake_apiserver.py --seed, after
                                 the accounts of EXTRA (a JSON list)
  accounts.py create N M         creates the namespaces and accounts in the API server of $KUBECONFIG (a kubeconfig
                                 with a client certificate, as scripts/cluster.sh writes), 32 connections in
                                 parallel; namespaces and accounts already there are left as they are
  accounts.py list [LIMIT [RV]]  lists every ServiceAccount of that API server in pages of LIMIT (default 500), from
                                 resourceVersion RV (default none: the latest), one connection per page as the
                                 webhook makes them, reading and dropping the bytes: the reference for the webhook's
                                 time to list; prints seconds, pages, bytes
"""
import http.client
import json
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse
import uuid

APPS = ["frontend", "billing-api", "orders-worker", "inventory", "payments-gateway", "search-indexer", "auth",
        "notification-dispatcher", "reporting", "cart", "recommendations-engine", "media-transcoder", "ledger",
        "fraud-detection-scorer", "catalog-sync"]
TEAMS = ["payments", "platform", "checkout", "data", "identity", "growth", "ml", "infra", "support", "web"]


def namespace_name(j):
    return f"{TEAMS[j % len(TEAMS)]}-{['prod', 'staging', 'dev'][j % 3]}-{j:04d}"


def account(i, namespaces):
    """Account i as a client creates it (what kubectl apply or helm sends)."""
    ns = namespace_name(i % namespaces)
    app = APPS[i % len(APPS)]
    name = f"{app}-{i // namespaces}"
    release = f"{app}-{ns.split('-')[1]}"
    meta = {
        "name": name,
        "namespace": ns,
        "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": release,
                   "app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": f"{app}-1.{i % 20}.{i % 7}"},
        "annotations": {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns},
    }
    if i % 3 == 0:
        meta["labels"]["azure.workload.identity/use"] = "true"
        meta["annotations"]["azure.workload.identity/client-id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"client-{i}"))
        meta["annotations"]["azure.workload.identity/tenant-id"] = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    if i % 5 == 0:
        obj["secrets"] = [{"name": f"{name}-token"}]
    if i % 4 == 1:
        obj["imagePullSecrets"] = [{"name": "registry-credentials"}]
        meta["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(obj, sort_keys=True) + "\n"
    return obj


def served(i, namespaces):
    """Account i with what the API server adds."""
    obj = account(i, namespaces)
    meta = obj["metadata"]
    meta["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"uid-{i}"))
    meta["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000 + i))
    fields = {"f:metadata": {"f:annotations": {".": {}, **{f"f:{k}": {} for k in meta["annotations"]}},
                             "f:labels": {".": {}, **{f"f:{k}": {} for k in meta["labels"]}}}}
    if "secrets" in obj:
        fields["f:secrets"] = {}
    if "imagePullSecrets" in obj:
        fields["f:imagePullSecrets"] = {}
    meta["managedFields"] = [{"manager": "helm", "operation": "Update", "apiVersion": "v1",
                              "time": meta["creationTimestamp"], "fieldsType": "FieldsV1", "fieldsV1": fields}]
    return obj


def kubeconfig():
    """(host, port, ssl context) from $KUBECONFIG, whose entries are one cluster and one client-certificate user."""
    text = open(os.environ["KUBECONFIG"], encoding="utf-8").read()

    def field(key):
        m = re.search(rf"^\s*{key}:\s*(\S+)\s*$", text, re.M)
        if not m:
            sys.exit(f"accounts.py: no {key} in $KUBECONFIG")
        return m.group(1)
    server = field("server")
    m = re.match(r"https://([^:/]+):(\d+)", server)
    ctx = ssl.create_default_context(cafile=field("certificate-authority"))
    ctx.load_cert_chain(field("client-certificate"), field("client-key"))
    return m.group(1), int(m.group(2)), ctx


def create(n, namespaces, connections=32, deadline_s=1800):
    host, port, ctx = kubeconfig()
    deadline = time.monotonic() + deadline_s
    jobs = [("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": namespace_name(j)}}) for j in range(namespaces)]
    lock = threading.Lock()
    counts = {"created": 0, "existed": 0, "failed": 0}

    def work(items):
        conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=30)
        for path, obj in items:
            if time.monotonic() > deadline:
                break
            for attempt in range(5):
                try:
                    conn.request("POST", path, json.dumps(obj), {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    body = r.read()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=30)
                    time.sleep(0.2 * (attempt + 1))
                    continue
                if r.status == 429 or r.status >= 500:
                    time.sleep(0.2 * (attempt + 1))
                    continue
                with lock:
                    key = "created" if r.status == 201 else "existed" if r.status == 409 else "failed"
                    counts[key] += 1
                    if key == "failed" and counts["failed"] <= 3:
                        print(f"accounts.py: {path}: HTTP {r.status}: {body[:300]!r}", file=sys.stderr)
                break
            else:
                with lock:
                    counts["failed"] += 1

    def run(all_jobs):
        threads = [threading.Thread(target=work, args=(all_jobs[k::connections],)) for k in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    start = time.monotonic()
    run(jobs)
    # A namespace's "default" account comes from the controller manager; ours go in once the namespaces exist.
    run([(f"/api/v1/namespaces/{account(i, namespaces)['metadata']['namespace']}/serviceaccounts", account(i, namespaces))
         for i in range(n)])
    took = time.monotonic() - start
    print(json.dumps({"accounts": n, "namespaces": namespaces, "seconds": round(took, 1), **counts}))
    return 0 if counts["failed"] == 0 and time.monotonic() <= deadline else 1


def list_all(limit, resource_version):
    host, port, ctx = kubeconfig()
    start = time.monotonic()
    pages = size = 0
    cont = ""
    while pages < 100000:
        path = f"/api/v1/serviceaccounts?limit={limit}"
        if cont:
            path += f"&continue={urllib.parse.quote(cont)}"
        elif resource_version:
            path += f"&resourceVersion={resource_version}"
        conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=60)
        conn.request("GET", path, headers={"Accept": "application/json"})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        if r.status != 200:
            sys.exit(f"accounts.py: list: HTTP {r.status}: {body[:300]!r}")
        pages += 1
        size += len(body)
        # The continue token is in the list's metadata, which the API server writes before the items.
        head = body[:4096].decode(errors="replace")
        m = re.search(r'"continue":"([^"]*)"', head)
        cont = m.group(1) if m else ""
        if not cont:
            break
    print(json.dumps({"seconds": round(time.monotonic() - start, 2), "pages": pages, "bytes": size}))
    return 0


def main():
    if len(sys.argv) in (5, 6) and sys.argv[1] == "seed":
        n, m = int(sys.argv[3]), int(sys.argv[4])
        extra = []
        if len(sys.argv) == 6:
            with open(sys.argv[5], encoding="utf-8") as f:
                extra = json.load(f)
        with open(sys.argv[2], "w", encoding="utf-8") as f:
            json.dump(extra + [served(i, m) for i in range(n)], f)
        return 0
    if len(sys.argv) in (2, 3, 4) and sys.argv[1] == "list":
        return list_all(int(sys.argv[2]) if len(sys.argv) >= 3 else 500, sys.argv[3] if len(sys.argv) == 4 else "")
    if len(sys.argv) == 4 and sys.argv[1] == "create":
        return create(int(sys.argv[2]), int(sys.argv[3]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
