#!/usr/bin/env bash
# The demo: a local Entra ID + cluster OIDC issuer (azwi-emulator), an identity federated with the service account
# default/workload-identity-sa, its projected token kept fresh, and azwi-proxy answering an application's IMDS request
# exactly as an Azure SDK would send it. Installs what it needs, builds, then runs everything on loopback and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "==> building (first build takes a few minutes on 2 cores)"
scripts/build.sh azwi-emulator azwi-proxy
build=${AZWI_BUILD_DIR:-build}
emulator=$build/cmd/azwi-emulator/azwi-emulator
proxy=$build/cmd/azwi-proxy/azwi-proxy

. scripts/lib.sh
start_scratch azwi-demo

tenant=72f988bf-86f1-41af-91ab-2d7cd011db47
client=5a8b6c1d-0e2f-4a3b-9c4d-7e6f8a9b0c1d
subject=system:serviceaccount:default:workload-identity-sa

echo "==> 1. starting azwi-emulator (Entra ID + the cluster's OIDC issuer) with identity $client"
echo "      federated credential: issuer = the emulator's issuer, subject = $subject, audience = api://AzureADTokenExchange"
"$emulator" serve --listen 127.0.0.1:0 --state-dir "$state/emulator" --ready-file "$state/url" \
  --tenant-id "$tenant" --client-id "$client" --subject "$subject" --log-format text >"$state/emulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$state/url" ] && break; sleep 0.1; done
[ -s "$state/url" ] || { echo "emulator did not start:"; cat "$state/emulator.log"; exit 1; }
authority=$(cat "$state/url")
echo "      authority: $authority"

echo "==> 2. the kubelet's part: a projected service account token for default/workload-identity-sa, kept fresh"
"$emulator" mint-token --state-dir "$state/emulator" --out "$state/azure-identity-token" \
  --namespace default --service-account workload-identity-sa --pod-name demo-app --keep-fresh \
  >"$state/mint.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$state/azure-identity-token" ] && break; sleep 0.1; done

port=$(free_port)
echo "==> 3. starting azwi-proxy on 127.0.0.1:$port with the environment the webhook injects"
AZURE_TENANT_ID=$tenant AZURE_CLIENT_ID=$client AZURE_FEDERATED_TOKEN_FILE="$state/azure-identity-token" \
  AZURE_AUTHORITY_HOST="$authority" SSL_CERT_FILE="$state/emulator/ca.crt" \
  "$proxy" --proxy-port="$port" >"$state/proxy.log" 2>&1 &
pids+=($!)
"$proxy" --probe --proxy-port="$port" --log-level=error

echo "==> 4. the application asks IMDS for a Key Vault token, as an Azure SDK does"
url="http://127.0.0.1:$port/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net"
echo "      GET $url"
echo "      Metadata: true"
answer=$(curl -sS --fail-with-body -H 'Metadata: true' "$url")
python3 - "$answer" <<'PY'
import json, sys
a = json.loads(sys.argv[1])
a["access_token"] = a["access_token"][:24] + "...(%d bytes)" % len(a["access_token"])
print("      answer:", json.dumps(a, indent=2).replace("\n", "\n      "))
PY

echo "==> 5. the proxy's log"
grep -E 'starting the proxy server|received token request|successfully acquired token' "$state/proxy.log" | sed 's/^/      /'

echo "==> 6. the claims of the access token the application received"
python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$answer" |
  "$emulator" decode-token - | sed 's/^/      /'
echo "==> done: stopping the emulator and the proxy"
