#!/usr/bin/python3
"""A stand-in Kubernetes API server for the webhook's tests: real HTTPS, bearer-token (or client-certificate, optionally
required and of one common name) authentication, /version, and ServiceAccount get, list (paginated, every page from
one snapshot) and watch (chunked, newline-delimited JSON events, each event deliberately split across two chunks,
bookmarks, 410 Gone after a compaction).

Test control endpoints (same authentication):
  POST   /__test__/serviceaccounts            body: a ServiceAccount; creates or replaces it (ADDED/MODIFIED event)
  DELETE /__test__/serviceaccounts/NS/NAME    deletes it (DELETED event)
  POST   /__test__/compact                    forgets the event history and ends open watches: resuming is 410
  POST   /__test__/break-watches              breaks open watches off mid-stream (no last chunk, the connection shut),
                                              as a cut connection or a crashing server does; resuming works
  GET    /__test__/stats                      counts of get/list/watch/version requests served, and of secret_*/mwc_*
                                              get/create/update/patch/delete/conflict requests
  POST   /__test__/conflicts                  body {"secrets": N, "mutatingwebhookconfigurations": M}: the next N (M)
                                              updates fail with 409 Conflict, and the object's resourceVersion moves
                                              on, as when another writer got there first
  POST   /__test__/forbidden                  body {"secrets": ["update", ...], ...}: from now on those verbs on those
                                              resources answer 403 Forbidden, as when RBAC does not grant them

--record FILE appends one JSON line per API request that azwi's Kubernetes client (User-Agent azwi-webhook/...)
makes, in RBAC's terms: {"verb", "group", "resource", "namespace", "name"} or {"verb", "nonResourceURL"}; the RBAC
drift test (tests/deploy/rbac_test.cpp) compares the chart's roles with what was recorded.

Pods (for azwi-cni, which gets one per sandbox), Secrets (namespaced) and MutatingWebhookConfigurations
(cluster-scoped), for certificate rotation: get, create
(POST to the collection; 409 AlreadyExists), update (PUT; 409 Conflict when metadata.resourceVersion is not the
current one), patch (application/merge-patch+json, RFC 7386) and delete. Secret data and caBundle must be base64.
Standard library only; prints "listening on PORT" once it accepts connections.
"""
import argparse
import base64
import binascii
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self):
        self.lock = threading.Condition()
        self.accounts = {}  # (ns, name) -> object
        # Like etcd's revision, resourceVersions keep growing across restarts of the server.
        self.rv = int(time.time() * 1000)
        self.events = []  # (rv, type, object)
        self.compacted_below = 0  # watches from an older resourceVersion get 410
        self.generation = 0  # bumped by compact: open watches end
        self.breaks = 0  # bumped by break-watches: open watches break off
        self.stats = {"get": 0, "list": 0, "watch": 0, "version": 0}
        self.objects = {}  # (resource, namespace or "", name) -> object, for secrets and webhook configurations
        self.conflicts = {}  # resource -> updates still to refuse with 409
        self.snapshots = {}  # resourceVersion -> the items of a paginated list in progress
        self.forbidden = {}  # resource -> verbs answered with 403
        self.record_lock = threading.Lock()

    def put(self, obj):
        with self.lock:
            meta = obj.setdefault("metadata", {})
            meta.setdefault("namespace", "default")
            key = (meta["namespace"], meta["name"])
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            obj.setdefault("apiVersion", "v1")
            obj.setdefault("kind", "ServiceAccount")
            kind = "MODIFIED" if key in self.accounts else "ADDED"
            self.accounts[key] = obj
            self.events.append((self.rv, kind, json.loads(json.dumps(obj))))
            self.lock.notify_all()
            return obj

    def delete(self, ns, name):
        with self.lock:
            obj = self.accounts.pop((ns, name), None)
            if obj is None:
                return False
            self.rv += 1
            obj = json.loads(json.dumps(obj))
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.events.append((self.rv, "DELETED", obj))
            self.lock.notify_all()
            return True

    def compact(self):
        with self.lock:
            self.rv += 1
            self.compacted_below = self.rv
            self.events = []
            self.generation += 1
            self.lock.notify_all()


RESOURCES = {"secrets": ("v1", "Secret", "secret"),
             "pods": ("v1", "Pod", "pod"),
             "mutatingwebhookconfigurations": ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
                                               "mwc")}


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


def invalid_base64(resource, obj):
    """The API server refuses Secret data and caBundles that are not base64; returns the problem or None."""
    values = []
    if resource == "secrets":
        values = [(f"data[{k}]", v) for k, v in (obj.get("data") or {}).items()]
    else:
        for i, w in enumerate(obj.get("webhooks") or []):
            if "caBundle" in (w.get("clientConfig") or {}):
                values.append((f"webhooks[{i}].clientConfig.caBundle", w["clientConfig"]["caBundle"]))
    for field, v in values:
        try:
            base64.b64decode(v, validate=True)
        except (binascii.Error, TypeError, ValueError):
            return f"{field}: illegal base64 data"
    return None


def rbac_request(method, path):
    """The request as RBAC sees it: verb, API group, resource, namespace and name (or the non-resource URL)."""
    url = urllib.parse.urlsplit(path)
    parts = [p for p in url.path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return {"verb": method.lower(), "nonResourceURL": url.path}
    namespace = ""
    if len(rest) >= 2 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    resource, name = (rest + ["", ""])[:2]
    query = dict(urllib.parse.parse_qsl(url.query))
    verb = {"GET": "get" if name else ("watch" if query.get("watch") in ("1", "true") else "list"),
            "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if name else "deletecollection"}.get(method, method.lower())
    return {"verb": verb, "group": group, "resource": resource, "namespace": namespace, "name": name}


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def make_handler(state, args):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            if args.verbose:
                sys.stderr.write("fake-apiserver: " + (fmt % a) + "\n")

        def send_json(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def client_cn(self):
            """The common name of the verified client certificate, or None."""
            cert = self.connection.getpeercert() if args.client_ca else None
            for rdn in (cert or {}).get("subject", ()):
                for key, value in rdn:
                    if key == "commonName":
                        return value
            return None

        def record(self):
            """Appends the request to --record's file when azwi's client made it (not a test's own calls)."""
            if not args.record or self.path.startswith("/__test__/") \
                    or not self.headers.get("User-Agent", "").startswith("azwi-webhook/"):
                return
            line = json.dumps(rbac_request(self.command, self.path), sort_keys=True) + "\n"
            with state.record_lock, open(args.record, "a", encoding="utf-8") as f:
                f.write(line)

        def authenticated(self):
            cn = self.client_cn()
            if cn is not None and (not args.client_cn or cn == args.client_cn):
                self.record()
                return True
            expected = args.token
            if args.token_file:
                with open(args.token_file, encoding="utf-8") as f:
                    expected = f.read().strip()
            if expected and self.headers.get("Authorization") == "Bearer " + expected:
                self.record()
                return True
            self.read_body()  # keeps the connection usable for the next request
            self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return False

        def read_body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def object_route(self):
            """(resource, namespace, name or None) for pod, secret and webhook configuration paths, else None."""
            parts = [p for p in urllib.parse.urlsplit(self.path).path.split("/") if p]
            if len(parts) in (5, 6) and parts[:3] == ["api", "v1", "namespaces"] and parts[4] in ("secrets", "pods"):
                return parts[4], parts[3], parts[5] if len(parts) == 6 else None
            if len(parts) in (4, 5) and parts[:3] == ["apis", "admissionregistration.k8s.io", "v1"] \
                    and parts[3] == "mutatingwebhookconfigurations":
                return "mutatingwebhookconfigurations", "", parts[4] if len(parts) == 5 else None
            return None

        def objects(self, method):
            route = self.object_route()
            if route is None:
                return False
            resource, ns, name = route
            api_version, kind, short = RESOURCES[resource]
            key = (resource, ns, name)

            def count(what):
                state.stats[f"{short}_{what}"] = state.stats.get(f"{short}_{what}", 0) + 1

            def not_found():
                self.send_json(404, status(404, "NotFound", f'{resource} "{name}" not found'))

            def store(obj):
                state.rv += 1
                meta = obj.setdefault("metadata", {})
                meta["resourceVersion"] = str(state.rv)
                meta.setdefault("uid", f"uid-{state.rv}")
                meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                obj["apiVersion"], obj["kind"] = api_version, kind
                state.objects[(resource, ns, meta["name"])] = obj
                return obj

            body = self.read_body() if method in ("POST", "PUT", "PATCH") else b""
            verb = rbac_request(method, self.path)["verb"]
            with state.lock:
                if verb in state.forbidden.get(resource, ()):
                    count("forbidden")
                    self.send_json(403, status(403, "Forbidden", f'{resource} "{name or ""}" is forbidden: User '
                                                                 f'"system:serviceaccount:test:webhook" cannot {verb} '
                                                                 f'resource "{resource}"'))
                    return True
                if method == "GET" and name:
                    count("get")
                    obj = state.objects.get(key)
                    if obj is None:
                        not_found()
                    else:
                        self.send_json(200, obj)
                    return True
                if method == "POST" and not name:
                    count("create")
                    obj = json.loads(body)
                    name = obj.get("metadata", {}).get("name", "")
                    if (resource, ns, name) in state.objects:
                        self.send_json(409, status(409, "AlreadyExists", f'{resource} "{name}" already exists'))
                        return True
                    problem = invalid_base64(resource, obj)
                    if problem:
                        self.send_json(422, status(422, "Invalid", problem))
                        return True
                    if ns:
                        obj["metadata"]["namespace"] = ns
                    obj["metadata"].pop("resourceVersion", None)
                    return self.send_json(201, store(obj)) or True
                if method == "PUT" and name:
                    count("update")
                    current = state.objects.get(key)
                    if current is None:
                        return not_found() or True
                    obj = json.loads(body)
                    if state.conflicts.get(resource, 0) > 0:
                        state.conflicts[resource] -= 1
                        count("conflict")
                        store(current)  # someone else's write: the resourceVersion moves on
                        self.send_json(409, status(409, "Conflict", f'Operation cannot be fulfilled on {resource} '
                                                                    f'"{name}": the object has been modified; '
                                                                    f'please apply your changes to the latest version'
                                                                    f' and try again'))
                        return True
                    sent = obj.get("metadata", {}).get("resourceVersion")
                    if sent and sent != current["metadata"]["resourceVersion"]:
                        count("conflict")
                        self.send_json(409, status(409, "Conflict", f'Operation cannot be fulfilled on {resource} '
                                                                    f'"{name}": the object has been modified'))
                        return True
                    problem = invalid_base64(resource, obj)
                    if problem:
                        self.send_json(422, status(422, "Invalid", problem))
                        return True
                    obj["metadata"]["uid"] = current["metadata"].get("uid")
                    obj["metadata"]["creationTimestamp"] = current["metadata"].get("creationTimestamp")
                    return self.send_json(200, store(obj)) or True
                if method == "PATCH" and name:
                    count("patch")
                    current = state.objects.get(key)
                    if current is None:
                        return not_found() or True
                    if self.headers.get("Content-Type", "").split(";")[0] != "application/merge-patch+json":
                        self.send_json(415, status(415, "UnsupportedMediaType", "only merge patches are served"))
                        return True
                    obj = merge_patch(json.loads(json.dumps(current)), json.loads(body))
                    problem = invalid_base64(resource, obj)
                    if problem:
                        self.send_json(422, status(422, "Invalid", problem))
                        return True
                    return self.send_json(200, store(obj)) or True
                if method == "DELETE" and name:
                    count("delete")
                    if state.objects.pop(key, None) is None:
                        return not_found() or True
                    return self.send_json(200, status(200, "", "deleted") | {"status": "Success"}) or True
            self.send_json(405, status(405, "MethodNotAllowed", f"{method} is not served here"))
            return True

        def do_PUT(self):
            if self.authenticated() and not self.objects("PUT"):
                self.send_json(404, status(404, "NotFound", "no such path"))

        def do_PATCH(self):
            if self.authenticated() and not self.objects("PATCH"):
                self.send_json(404, status(404, "NotFound", "no such path"))

        def do_GET(self):
            if not self.authenticated():
                return
            if self.objects("GET"):
                return
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query))
            parts = [p for p in url.path.split("/") if p]
            if url.path == "/version":
                state.stats["version"] += 1
                major, minor = args.version.lstrip("v").split(".")[:2]
                return self.send_json(200, {"major": major, "minor": minor, "gitVersion": args.version,
                                            "platform": "linux/amd64"})
            if url.path == "/__test__/stats":
                return self.send_json(200, state.stats)
            if url.path == "/api/v1/serviceaccounts":
                if q.get("watch") in ("1", "true"):
                    return self.watch(q)
                return self.list(q)
            if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "serviceaccounts":
                state.stats["get"] += 1
                with state.lock:
                    obj = json.loads(json.dumps(state.accounts.get((parts[3], parts[5]))))
                time.sleep(args.get_delay)  # the answer, read before, may be out of date when it arrives
                if obj is None:
                    return self.send_json(404, status(404, "NotFound",
                                                      f'serviceaccounts "{parts[5]}" not found'))
                return self.send_json(200, obj)
            self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))

        def list(self, q):
            state.stats["list"] += 1
            limit = int(q.get("limit") or 0)
            # As the real API server does, every page of one list comes from the same snapshot, whose
            # resourceVersion the pages carry: a watch from it misses nothing written during the paging.
            token = q.get("continue") or ""
            with state.lock:
                if token:
                    snapshot_rv, start = (int(x) for x in token.split(":"))
                    items = state.snapshots.get(snapshot_rv)
                    if items is None:
                        return self.send_json(410, status(410, "Expired", "the continue token has expired"))
                else:
                    start = 0
                    snapshot_rv = state.rv
                    items = [state.accounts[k] for k in sorted(state.accounts)]
                    if limit and limit < len(items):
                        state.snapshots[snapshot_rv] = items
                        while len(state.snapshots) > 8:
                            del state.snapshots[min(state.snapshots)]
            meta = {"resourceVersion": str(snapshot_rv)}
            if limit and start + limit < len(items):
                meta["continue"] = f"{snapshot_rv}:{start + limit}"
                items = items[start:start + limit]
            else:
                items = items[start:]
            self.send_json(200, {"kind": "ServiceAccountList", "apiVersion": "v1", "metadata": meta, "items": items})

        def chunk(self, data):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def send_event(self, kind, obj):
            line = json.dumps({"type": kind, "object": obj}).encode() + b"\n"
            half = len(line) // 2  # one event over two chunks: the client must reassemble lines
            self.chunk(line[:half])
            self.chunk(line[half:])

        def watch(self, q):
            state.stats["watch"] += 1
            since = int(q.get("resourceVersion") or 0)
            timeout = min(int(q.get("timeoutSeconds") or 30), args.max_watch_seconds)
            deadline = time.monotonic() + timeout
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                broken = False
                with state.lock:
                    generation, breaks = state.generation, state.breaks
                    if since and since < state.compacted_below:
                        obj = status(410, "Expired", f"too old resource version: {since} ({state.compacted_below})")
                        self.send_event("ERROR", obj)
                        self.chunk(b"")
                        return
                    last = since
                    next_bookmark = time.monotonic() + args.bookmark_seconds
                    while True:
                        if state.generation != generation:
                            break  # compacted: events written since belong to the watches after it, not this one
                        pending = [e for e in state.events if e[0] > last]
                        for rv, kind, obj in pending:
                            self.send_event(kind, obj)
                            last = rv
                        now = time.monotonic()
                        if state.breaks != breaks:
                            broken = True
                            break
                        if now >= deadline or state.generation != generation:
                            break
                        if now >= next_bookmark:
                            self.send_event("BOOKMARK", {"kind": "ServiceAccount", "apiVersion": "v1",
                                                         "metadata": {"resourceVersion": str(state.rv)}})
                            last = max(last, state.rv)
                            next_bookmark = now + args.bookmark_seconds
                        state.lock.wait(min(deadline, next_bookmark) - now)
                if broken:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.chunk(b"")
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                pass

        def do_POST(self):
            if not self.authenticated():
                return
            if self.path == "/__test__/serviceaccounts":
                return self.send_json(201, state.put(json.loads(self.read_body())))
            if self.path == "/__test__/compact":
                state.compact()
                return self.send_json(200, {})
            if self.path == "/__test__/break-watches":
                with state.lock:
                    state.breaks += 1
                    state.lock.notify_all()
                return self.send_json(200, {})
            if self.path == "/__test__/conflicts":
                with state.lock:
                    for resource, n in json.loads(self.read_body()).items():
                        state.conflicts[resource] = int(n)
                return self.send_json(200, {})
            if self.path == "/__test__/forbidden":
                with state.lock:
                    for resource, verbs in json.loads(self.read_body()).items():
                        state.forbidden[resource] = set(verbs)
                return self.send_json(200, {})
            if self.objects("POST"):
                return
            self.send_json(404, status(404, "NotFound", "no such path"))

        def do_DELETE(self):
            if not self.authenticated():
                return
            if self.objects("DELETE"):
                return
            parts = [p for p in self.path.split("/") if p]
            if len(parts) == 4 and parts[:2] == ["__test__", "serviceaccounts"]:
                ok = state.delete(parts[2], parts[3])
                return self.send_json(200 if ok else 404, {})
            self.send_json(404, status(404, "NotFound", "no such path"))

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--token", default="")
    p.add_argument("--token-file", default="", help="expected token, re-read on every request (rotation tests)")
    p.add_argument("--client-ca", default="", help="accept client certificates signed by this CA")
    p.add_argument("--require-client-cert", action="store_true",
                   help="with --client-ca: refuse TLS handshakes without a client certificate")
    p.add_argument("--client-cn", default="", help="with --client-ca: accept only certificates with this CN")
    p.add_argument("--version", default="v1.32.0")
    p.add_argument("--seed", default="", help="JSON file with a list of ServiceAccounts to start with")
    p.add_argument("--seed-count", type=int, default=0, help="also create this many filler service accounts")
    p.add_argument("--max-watch-seconds", type=int, default=600)
    p.add_argument("--bookmark-seconds", type=float, default=5)
    p.add_argument("--get-delay", type=float, default=0, help="seconds between reading a ServiceAccount for a GET "
                   "and sending it")
    p.add_argument("--record", default="", help="append the requests azwi's client makes to this file (JSON lines)")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()

    state = State()
    if args.seed:
        with open(args.seed, encoding="utf-8") as f:
            for obj in json.load(f):
                state.put(obj)
    for i in range(args.seed_count):
        state.put({"metadata": {"name": f"filler-{i}", "namespace": f"ns-{i % 50}",
                                "annotations": {"azure.workload.identity/client-id": f"client-{i}"}}})

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.load_verify_locations(args.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED if args.require_client_cert else ssl.CERT_OPTIONAL
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state, args))
    server.daemon_threads = True
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
