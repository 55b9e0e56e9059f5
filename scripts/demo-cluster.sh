#!/usr/bin/env bash
# The migration article's steps on a real local cluster (scripts/cluster.sh), offline: the emulator plays Entra ID
# with an identity federated with the cluster's issuer; the article's service account and pod are applied with
# kubectl; the webhook is installed with helm; the pod's unchanged IMDS request gets a token through the sidecar.
# Brings the cluster up (builds what is missing, cached) unless one runs, and takes it down at the end unless
# --keep is given (then: eval "$(scripts/cluster.sh env)" to look around; scripts/cluster.sh down to remove it).
set -euo pipefail
cd "$(dirname "$0")/.."
keep=false
[ "${1:-}" = "--keep" ] && keep=true
[ "$(id -u)" -eq 0 ] || { echo "demo-cluster: needs root (the cluster uses a network namespace, cgroups, containerd)" >&2; exit 1; }
scripts/install-deps.sh
echo "==> building azwi-emulator (the images and Kubernetes are built by scripts/cluster.sh, cached)"
scripts/build.sh azwi-emulator

started_here=false
if ! scripts/cluster.sh status >/dev/null 2>&1; then
  echo "==> 0. a real single-node cluster: scripts/cluster.sh up (the first run builds Kubernetes: 5 to 10 minutes)"
  scripts/cluster.sh up
  started_here=true
fi
finish() {
  if $started_here && ! $keep; then
    echo "==> done: scripts/cluster.sh down"
    scripts/cluster.sh down
  fi
}
trap finish EXIT
eval "$(scripts/cluster.sh env)"

tenant=72f988bf-86f1-41af-91ab-2d7cd011db47
client=5a8b6c1d-0e2f-4a3b-9c4d-7e6f8a9b0c1d  # scripts/cluster/emulator.json
ns=azwi-demo
echo "==> 1. the identity (azwi-emulator as Entra ID, $AZWI_CLUSTER_AUTHORITY_HOST): client ID $client, with a"
echo "      federated credential: issuer $AZWI_CLUSTER_ISSUER (the API server), subject"
echo "      system:serviceaccount:$ns:workload-identity-sa, audience api://AzureADTokenExchange"
python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); i=c["tenants"][0]["identities"][0]
print("      " + ", ".join(f["subject"] for f in i["federated_credentials"]))' "$AZWI_CLUSTER_EMULATOR_CONFIG"

echo "==> 2. the webhook, installed with helm (its own certificate rotation makes the Secret and the caBundle)"
kubectl create namespace azure-workload-identity-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl label --overwrite namespace azure-workload-identity-system pod-security.kubernetes.io/enforce=restricted >/dev/null
helm upgrade --install azwi-webhook deploy/helm/azwi-webhook --namespace azure-workload-identity-system \
  --set azureTenantID=$tenant --set authorityHost="$AZWI_CLUSTER_AUTHORITY_HOST" \
  --set proxyCAConfigMap=azwi-emulator-ca --wait --timeout 180s
kubectl rollout status -n azure-workload-identity-system deployment/azure-wi-webhook-controller-manager --timeout=120s

echo "==> 3. the article's service account, annotated with the client ID (and the emulator's CA for the sidecar)"
kubectl create namespace $ns --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl create configmap azwi-emulator-ca -n $ns --from-file=ca.crt="$AZWI_CLUSTER_EMULATOR_CA" \
  --dry-run=client -o yaml | kubectl apply -f -
cat <<EOF | tee /dev/stderr | kubectl apply -f -
apiVersion: v1
kind: ServiceAccount
metadata:
  name: workload-identity-sa
  namespace: $ns
  annotations:
    azure.workload.identity/client-id: $client
  labels:
    azure.workload.identity/use: "true"
EOF

app_image=$(awk '$1 == "azwi-app.tar" {print $2}' "$AZWI_CLUSTER_STATE/images.txt")
echo "==> 4. the article's pod: the application unchanged, plus the label and the two sidecar annotations"
kubectl delete pod -n $ns httpbin-pod --ignore-not-found --wait=true >/dev/null
cat <<EOF | tee /dev/stderr | kubectl apply -f -
apiVersion: v1
kind: Pod
metadata:
  name: httpbin-pod
  namespace: $ns
  labels:
    app: httpbin
    azure.workload.identity/use: "true"
  annotations:
    azure.workload.identity/inject-proxy-sidecar: "true"
    azure.workload.identity/proxy-sidecar-port: "8000"
spec:
  serviceAccountName: workload-identity-sa
  containers:
  - name: httpbin
    image: $app_image
    command: ["sleep", "3600"]
EOF
kubectl wait -n $ns --for=condition=Ready pod/httpbin-pod --timeout=180s

echo "==> 5. kubectl describe pod: the containers the webhook injected"
kubectl describe pod -n $ns httpbin-pod | sed -n '/^Init Containers:/,/^Volumes:/p' |
  grep -E '^(Init Containers|Containers):|^  [a-z0-9-]+:$|Image:|State:|Reason:|Exit Code:|AZURE_|PROXY_PORT' | sed 's/^/      /'

url='http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F'
echo "==> 6. the application asks IMDS, as an Azure SDK does: GET $url, Metadata: true"
answer=$(kubectl exec -n $ns httpbin-pod -c httpbin -- timeout 20 wget -q -O- --header 'Metadata: true' "$url")
python3 - "$answer" <<'PY'
import base64, json, sys
a = json.loads(sys.argv[1])
token = a["access_token"]
a["access_token"] = token[:24] + "...(%d bytes)" % len(token)
print("      answer:", json.dumps(a, indent=2).replace("\n", "\n      "))
p = token.split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
print("==> 7. the access token's claims")
print("      " + json.dumps({k: claims[k] for k in ("aud", "iss", "appid", "tid", "oid", "exp")}, indent=2).replace("\n", "\n      "))
PY

echo "==> 8. kubectl logs httpbin-pod -c azwi-proxy"
kubectl logs -n $ns httpbin-pod -c azwi-proxy |
  grep -E 'starting the proxy server|received token request|successfully acquired token' | sed 's/^/      /'
