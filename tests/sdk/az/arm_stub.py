#!/usr/bin/python3
"""A stand-in for Azure Resource Manager, for `az login --identity` in the e2e pod: the login lists the identity's
subscriptions from ARM after it got its token from IMDS, and the test network has no ARM. Answers the two lists
with no entries (the identity has tenant-level access only: `--allow-no-subscriptions`), 404 for anything else.
Usage: arm_stub.py HOST PORT CERT KEY (TLS: the Azure CLI sends bearer tokens to https endpoints only)."""
import http.server
import json
import ssl
import sys


class Arm(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        ok = path in ("/subscriptions", "/tenants") and self.headers.get("Authorization", "").startswith("Bearer ")
        body = json.dumps({"value": []} if ok else {"error": {"code": "NotFound", "message": self.path}}).encode()
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


host, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
server = http.server.ThreadingHTTPServer((host, port), Arm)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
