#!/usr/bin/env python3
"""A minimal HTTP CONNECT proxy for tests: loopback only, logs each CONNECT target, maps test host names to
loopback addresses (--map name=127.0.0.1) so that a client can be made to use the proxy for a name that only the
proxy can resolve. Usage: connect_proxy.py --port-file F --log F [--map NAME=IP ...]. Ends on SIGTERM."""
import argparse, os, select, socket, threading

parser = argparse.ArgumentParser()
parser.add_argument("--port-file", required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--map", action="append", default=[])
args = parser.parse_args()
names = dict(m.split("=", 1) for m in args.map)
log_lock = threading.Lock()


def log(line):
    with log_lock, open(args.log, "a") as f:
        f.write(line + "\n")


def pump(a, b):
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 30)
        if not readable:
            return
        for s in readable:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


def handle(client):
    try:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        request_line = head.split(b"\r\n", 1)[0].decode()
        method, target, _ = request_line.split(" ", 2)
        auth = [l for l in head.decode().split("\r\n") if l.lower().startswith("proxy-authorization:")]
        log(f"{method} {target}" + (f" auth={auth[0].split(':', 1)[1].strip()}" if auth else ""))
        if method != "CONNECT":
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        ip = names.get(host, host)
        if not ip.startswith("127."):
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")  # loopback only
            return
        upstream = socket.create_connection((ip, int(port)), timeout=5)
        client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        pump(client, upstream)
        upstream.close()
    except Exception as e:  # a test proxy: report and drop the connection
        log(f"error {e}")
    finally:
        client.close()


server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(64)
tmp = args.port_file + ".tmp"
with open(tmp, "w") as f:
    f.write(str(server.getsockname()[1]))
os.rename(tmp, args.port_file)
while True:
    conn, _ = server.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
