#!/usr/bin/env bash
# Makes the local cluster's certificates and keys in DIR (once; existing files are kept):
#   ca.{crt,key}            the cluster CA: API server serving and client certificates, kubelet, components
#   etcd-ca.{crt,key}       etcd's own CA: only the API server is an etcd client
#   sa.{key,pub}            the service-account token signing key (RS256, as Entra expects of an issuer)
# and, signed by them, one certificate per component. Usage: pki.sh DIR NODE_IP NODE_NAME SERVICE_IP
set -euo pipefail
dir=$1 node_ip=$2 node_name=$3 service_ip=$4
mkdir -p "$dir"
cd "$dir"
umask 077

key() {
  [ -f "$1.key" ] && return
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key.tmp" 2>/dev/null
  mv "$1.key.tmp" "$1.key"
}
ca() {  # name, subject
  [ -f "$1.crt" ] && return
  key "$1"
  openssl req -x509 -new -key "$1.key" -subj "$2" -days 3650 -sha256 -out "$1.crt.tmp" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
  mv "$1.crt.tmp" "$1.crt"
}
cert() {  # name, ca, subject, usage (server|client|both), [subjectAltName]
  local name=$1 ca=$2 subj=$3 usage=$4 san=${5:-}
  [ -f "$name.crt" ] && return
  key "$name"
  local ext
  ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    case $usage in
      server) echo "extendedKeyUsage=serverAuth" ;;
      client) echo "extendedKeyUsage=clientAuth" ;;
      both) echo "extendedKeyUsage=serverAuth,clientAuth" ;;
    esac
    [ -z "$san" ] || echo "subjectAltName=$san"
  } > "$ext"
  openssl req -new -key "$name.key" -subj "$subj" 2>/dev/null |
    openssl x509 -req -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -days 365 -sha256 -extfile "$ext" \
      -out "$name.crt.tmp" 2>/dev/null
  rm -f "$ext"
  mv "$name.crt.tmp" "$name.crt"
}

ca ca "/CN=azwi-cluster-ca"
ca etcd-ca "/CN=azwi-cluster-etcd-ca"
if [ ! -f sa.key ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key.tmp 2>/dev/null && mv sa.key.tmp sa.key
fi
[ -f sa.pub ] || openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null

cert etcd-server etcd-ca "/CN=etcd" server "IP:127.0.0.1,DNS:localhost"
cert apiserver-etcd-client etcd-ca "/CN=kube-apiserver-etcd-client" client
cert apiserver ca "/CN=kube-apiserver" server \
  "IP:$node_ip,IP:$service_ip,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
cert apiserver-kubelet-client ca "/O=system:masters/CN=kube-apiserver-kubelet-client" client
cert admin ca "/O=system:masters/CN=azwi-cluster-admin" client
cert controller-manager ca "/CN=system:kube-controller-manager" client
cert scheduler ca "/CN=system:kube-scheduler" client
cert kube-proxy ca "/CN=system:kube-proxy" client
cert kubelet ca "/O=system:nodes/CN=system:node:$node_name" client
cert kubelet-serving ca "/O=system:nodes/CN=system:node:$node_name" server "IP:$node_ip,DNS:$node_name"
chmod 0644 ./*.crt sa.pub
