#!/usr/bin/env bash
# The Azure CLI as a script uses a managed identity: `az login --identity` then `az account get-access-token`.
# Prints the outcome as one JSON line (fields: ../README.md). Usage: client.sh identity <resource> [client id]
# AZWI_ARM_URL: the Resource Manager the login lists subscriptions from, registered as a cloud of its own by
# `client.sh cloud` (once per HOME, before the runs: it takes the CLI seconds).
set -uo pipefail
mode=${1:?usage: client.sh cloud | identity <resource> [client id]}
export AZURE_CONFIG_DIR=${HOME:?}/.azure AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_NO_COLOR=true
if [ "$mode" = cloud ]; then
  # Every endpoint given: the CLI would otherwise fetch them from ARM's metadata endpoint.
  az cloud register -n AzwiTest --endpoint-resource-manager "${AZWI_ARM_URL:?}" \
    --endpoint-active-directory https://login.microsoftonline.com \
    --endpoint-active-directory-resource-id https://management.core.windows.net/ \
    --endpoint-active-directory-graph-resource-id https://graph.windows.net/ >/dev/null &&
    exec az cloud set -n AzwiTest
fi
resource=${2:?usage: client.sh cloud | identity <resource> [client id]}
client_id=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s%N)
step() { "$@" >"$work/out" 2>"$work/err"; }
ok=1
{ step az login --identity ${client_id:+--username "$client_id"} --allow-no-subscriptions -o none || ok=0; }
[ "$ok" = 1 ] && { step az account get-access-token --resource "$resource" -o json || ok=0; }
end=$(date +%s%N)
/usr/bin/python3 - "$ok" "$work/out" "$work/err" "$(( (end - start) / 1000 ))" <<'PY'
import base64, hashlib, json, subprocess, sys
from datetime import datetime
ok, out, err, micros = sys.argv[1] == "1", open(sys.argv[2]).read(), open(sys.argv[3]).read(), int(sys.argv[4])
version = json.loads(subprocess.run(["az", "version", "-o", "json"], capture_output=True, text=True).stdout or "{}")
r = {"ok": False, "client": "az-identity", "library": "azure-cli", "version": version.get("azure-cli", "?"),
     "ms": micros / 1000}
if ok:
    answer = json.loads(out)
    token = answer["accessToken"]
    p = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    # expires_on in newer CLIs; 2.45 has only expiresOn, a local time (TZ is unset here: UTC).
    expires = answer.get("expires_on") or datetime.strptime(answer["expiresOn"], "%Y-%m-%d %H:%M:%S.%f").timestamp()
    r.update(ok=True, token_sha256=hashlib.sha256(token.encode()).hexdigest(), expires_on=int(expires),
             claims={k: claims[k] for k in ("aud", "appid", "tid", "iss", "exp") if k in claims})
else:
    r.update(error=err.strip() or out.strip(), error_type="az exit status")
print(json.dumps(r))
sys.exit(0 if r["ok"] else 1)
PY
