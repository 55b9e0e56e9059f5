#!/usr/bin/env python3
"""Starts a command and reports the milliseconds from exec to the first 200 from http://127.0.0.1:PORT/readyz.
Usage: ready_time.py PORT LOGFILE -- COMMAND... ; prints "<ms> <pid>" and leaves the process running."""
import socket, subprocess, sys, time

port = int(sys.argv[1])
log = open(sys.argv[2], "w")
cmd = sys.argv[sys.argv.index("--") + 1:]
request = b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
start = time.monotonic()
proc = subprocess.Popen(cmd, stdout=log, stderr=log)
deadline = start + 5
while time.monotonic() < deadline:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(request)
            if s.recv(64).startswith(b"HTTP/1.1 200"):
                print(f"{(time.monotonic() - start) * 1000:.1f} {proc.pid}")
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.0005)
proc.kill()
sys.exit("not ready within 5 s")
