"""What the soaks set up alike: a free loopback port, the webhook's serving certificate and its kubeconfig."""
import os
import socket
import subprocess


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webhook_certificate(scratch, common_name):
    """A self-signed P-256 certificate for 127.0.0.1 as scratch/tls.crt and tls.key, and both again in scratch/certs
    (the webhook's --webhook-cert-dir)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", f"{scratch}/tls.key", "-out", f"{scratch}/tls.crt", "-days", "1",
                    "-subj", f"/CN={common_name}", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    os.makedirs(f"{scratch}/certs")
    for f in ("tls.crt", "tls.key"):
        os.link(f"{scratch}/{f}", f"{scratch}/certs/{f}")


def write_kubeconfig(path, server, ca_file, user):
    """A kubeconfig of one cluster, user and context; `user` is its user entry in flow style, e.g. "{token: x}"."""
    with open(path, "w") as f:
        f.write(f"""apiVersion: v1
kind: Config
current-context: soak
contexts: [{{name: soak, context: {{cluster: soak, user: soak}}}}]
clusters: [{{name: soak, cluster: {{server: "{server}", certificate-authority: "{ca_file}"}}}}]
users: [{{name: soak, user: {user}}}]
""")
