"""Gets one token the way a Python service does and prints the outcome as one JSON line (fields: ../README.md).

Usage: client.py <mode> <resource> [client id]
  mi        azure.identity.ManagedIdentityCredential (system default, or the client ID given)
  default   azure.identity.DefaultAzureCredential (configured by the environment only)
  workload  azure.identity.WorkloadIdentityCredential, straight to Entra ID (the benchmark's reference)
"""
import base64
import hashlib
import json
import sys
import time
from importlib.metadata import version

from azure.identity import DefaultAzureCredential, ManagedIdentityCredential, WorkloadIdentityCredential


def claims(token):
    try:
        payload = token.split(".")[1]
        all_claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    return {k: all_claims[k] for k in ("aud", "appid", "tid", "iss", "exp") if k in all_claims}


def credential(mode, client_id):
    if mode == "mi":
        return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()
    if mode == "default":
        return DefaultAzureCredential()
    if mode == "workload":
        # The emulator is no public cloud: no instance discovery (a reference point, not a path under test).
        return WorkloadIdentityCredential(disable_instance_discovery=True)
    raise SystemExit(f"client.py: unknown mode {mode!r}")


def main(argv):
    if len(argv) < 3:
        print("usage: client.py mi|default|workload <resource> [client id]", file=sys.stderr)
        return 2
    mode, resource = argv[1], argv[2]
    client_id = argv[3] if len(argv) > 3 else None
    result = {"ok": False, "client": "python-" + mode, "library": "azure-identity", "version": version("azure-identity")}
    start = time.perf_counter()
    try:
        token = credential(mode, client_id).get_token(resource.rstrip("/") + "/.default")
        result.update(ok=True, token_sha256=hashlib.sha256(token.token.encode()).hexdigest(),
                      claims=claims(token.token), expires_on=token.expires_on)
    except Exception as e:  # the outcome is the test's data, whatever it is
        result.update(error=str(e), error_type=type(e).__name__)
    result["ms"] = round((time.perf_counter() - start) * 1000, 3)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
