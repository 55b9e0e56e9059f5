#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, inside a network namespace of its own (the "node"):
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy (Kubernetes built from its Go
# module, scripts/cluster/kube), containerd and runc (Debian), the bridge CNI plugin (Debian), and azwi-emulator as
# the node's IMDS (169.254.169.254) and as Entra ID. Pod, service and node traffic stays in the namespace: it has no
# route out. Every process runs in the cgroup /<name>-cluster and every file lives in the state directory.
#
#   scripts/cluster.sh up       build what is missing (cached), start everything, wait until the node is Ready
#   scripts/cluster.sh down     stop every process of the cluster, remove its mounts, namespace, cgroups and files
#   scripts/cluster.sh restart-node   kill the node's processes and containers, rewrite its CNI configuration, start
#                               the kubelet, kube-proxy and containerd again (a node reboot; the control plane stays)
#   scripts/cluster.sh restart-apiserver [--kill] [--down SECONDS]   stop kube-apiserver (SIGTERM, or SIGKILL as a
#                               crash), keep it down SECONDS, start it again with the same flags, wait for /readyz
#   scripts/cluster.sh status   what runs, and the node's readiness
#   scripts/cluster.sh env      shell exports for kubectl/helm against the cluster: eval "$(scripts/cluster.sh env)"
#
# Environment: AZWI_CLUSTER_NAME (default azwi: names the namespace <name>-node, the cgroup /<name>-cluster and the
# default state directory, so that several clusters can run side by side), AZWI_CLUSTER_STATE (default
# /var/lib/<name>-cluster), AZWI_CACHE (default /var/cache/azwi: builds),
# AZWI_BUILD_DIR (default build: where azwi-emulator is built), AZWI_EMULATOR_BIN (an azwi-emulator to use instead),
# AZWI_IMAGES_DIR (images built already by deploy/images/build.sh), AZWI_CLUSTER_TIMEOUT (seconds per wait, default 120),
# AZWI_CLUSTER_APISERVER_ARGS (more kube-apiserver flags, space-separated).
set -euo pipefail
root_dir=$(cd "$(dirname "$0")/.." && pwd)
here=$root_dir/scripts/cluster
name=${AZWI_CLUSTER_NAME:-azwi}
[[ $name =~ ^[a-z][a-z0-9-]{0,15}$ ]] || { echo "cluster: AZWI_CLUSTER_NAME must be 1-16 of a-z, 0-9, - (got '$name')" >&2; exit 2; }
state=${AZWI_CLUSTER_STATE:-/var/lib/$name-cluster}
timeout=${AZWI_CLUSTER_TIMEOUT:-120}
netns=$name-node
node_name=azwi-node
node_ip=10.242.0.1
imds_ip=169.254.169.254
pod_cidr=10.244.0.0/24
service_cidr=10.96.0.0/16
service_ip=10.96.0.1
emulator_port=8443
token_proxy_port=8444  # the emulator's custom token endpoint (AKS identity bindings), with its own CA
cgroup=$name-cluster
controllers=(cpu cpuacct cpuset memory devices freezer blkio pids systemd unified)

log() { echo "cluster: $*" >&2; }
die() { log "$*"; exit 1; }

# wait_for WHAT COMMAND...: runs COMMAND every half second until it succeeds, at most $timeout seconds.
wait_for() {
  local what=$1
  shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "gave up after ${timeout} s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

in_node() { nsenter --net=/run/netns/$netns -- "$@"; }

cgroup_dir() { echo "/sys/fs/cgroup/$1/$cgroup${2:+/$2}"; }

make_cgroups() {
  local c
  for c in "${controllers[@]}"; do
    [ -d "/sys/fs/cgroup/$c" ] || continue
    mkdir -p "$(cgroup_dir "$c" system)"
    if [ "$c" = cpuset ]; then  # a cpuset cgroup takes no task before it has CPUs and memory nodes
      local d
      for d in "$(cgroup_dir cpuset)" "$(cgroup_dir cpuset system)"; do
        [ -s "$d/cpuset.cpus" ] || cat /sys/fs/cgroup/cpuset/cpuset.cpus >"$d/cpuset.cpus"
        [ -s "$d/cpuset.mems" ] || cat /sys/fs/cgroup/cpuset/cpuset.mems >"$d/cpuset.mems"
      done
    fi
  done
}

# launch NAME COMMAND...: starts COMMAND in the node's network namespace and the cluster's system cgroup, logging
# to $state/logs/NAME.log; its PID goes to $state/run/NAME.pid.
launch() {
  local name=$1
  shift
  local procs=()
  local c
  for c in "${controllers[@]}"; do
    [ -d "/sys/fs/cgroup/$c" ] && procs+=("$(cgroup_dir "$c" system)/cgroup.procs")
  done
  local enter=(nsenter --net=/run/netns/$netns)
  [ -f "$state/run/mounts.pid" ] && enter+=(--mount="/proc/$(cat "$state/run/mounts.pid")/ns/mnt")
  setsid bash -c 'for f in "${@:2:$1}"; do echo $$ >"$f"; done; shift $(($1 + 1)); exec "$@"' \
    launch "${#procs[@]}" "${procs[@]}" "${enter[@]}" -- "$@" \
    >"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$state/run/$name.pid"
}

# The node's own mount namespace, held by a sleeping process: the kubelet's and containerd's mounts (volumes, root
# filesystems, pod network namespaces) live there, unseen by the machine, and go with it.
# In a chroot (a build root, ../shared/tools/fresh-machine) the namespace is made from the machine's real root and
# pivoted into the chroot, so that its root is the chroot: `runc exec` (kubectl exec, exec hooks) enters a container
# through its mount namespace's root, which would otherwise be the machine's root and not the container's.
make_node_mounts() {
  local holder=(unshare --mount --propagation private -- sleep infinity)
  local host_path
  host_path=$(awk '$5 == "/" {print $4; exit}' /proc/self/mountinfo)
  if [ "$host_path" != / ]; then
    # In a chroot: the root of the first ancestor process outside it is the machine's root.
    local p=$$ outside=
    while p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) && [ "$p" -gt 1 ]; do
      if [ "$(stat -c %d:%i "/proc/$p/root$host_path/." 2>/dev/null)" = "$(stat -c %d:%i /)" ]; then
        outside=/proc/$p/root
        break
      fi
    done
    [ -n "$outside" ] ||
      die "in a chroot ($host_path) whose outside no ancestor process shows: containers' exec would not work"
    [ -d /mnt ] || mkdir /mnt
    holder=(chroot "$outside" unshare --mount --propagation private -- /bin/sh -c \
      'cd "$1" && pivot_root . mnt && cd / && umount -l /mnt && exec sleep infinity' node-mounts "$host_path")
    log "in a chroot: the node's mount namespace is rooted at it ($host_path on the machine)"
  fi
  rm -f "$state/run/mounts.pid"
  launch node-mounts "${holder[@]}"
  local pid
  pid=$(cat "$state/run/node-mounts.pid")
  wait_for "the node's mount namespace (process $pid)" grep -qx sleep "/proc/$pid/comm" ||
    { expect_running node-mounts; exit 1; }
  echo "$pid" >"$state/run/mounts.pid"
}

running() {  # NAME: its process is alive and is ours (in the cluster's cgroup)
  local pid
  pid=$(cat "$state/run/$1.pid" 2>/dev/null) || return 1
  grep -q ":/$cgroup/" "/proc/$pid/cgroup" 2>/dev/null
}

expect_running() {  # NAME: fails with the end of its log when the process has exited
  running "$1" && return 0
  log "$1 exited; the end of $state/logs/$1.log:"
  tail -n 20 "$state/logs/$1.log" >&2 || true
  return 1
}

kubeconfig() {  # FILE USER-CERT-NAME
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: azwi
  cluster:
    server: https://$node_ip:6443
    certificate-authority: $state/pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $state/pki/$2.crt
    client-key: $state/pki/$2.key
contexts:
- name: azwi
  context: {cluster: azwi, user: $2}
current-context: azwi
EOF
}

api() {  # METHOD PATH [JSON]: the API server as the cluster admin
  in_node curl -sS --fail-with-body --max-time 10 --cacert "$state/pki/ca.crt" --cert "$state/pki/admin.crt" \
    --key "$state/pki/admin.key" -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} \
    "https://$node_ip:6443$2"
}

node_ready() {
  local node
  node=$(api GET /api/v1/nodes/$node_name 2>/dev/null) || return 1
  python3 -c '
import json, sys
conditions = json.loads(sys.argv[1]).get("status", {}).get("conditions", [])
sys.exit(0 if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else 1)' "$node"
}

# The kubelet sets these kernel settings (they are global, not per namespace) to its defaults; the last `down` puts
# back the values they had before the first `up`.
tunables_record=/run/azwi-cluster-kernel-tunables
kernel_tunables=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes)

install_packages() {
  local packages=(containerd runc containernetworking-plugins etcd-server iptables iproute2 util-linux curl openssl
    python3 conntrack)
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build_parts() {
  kube=$("$here/build-kube.sh")
  emulator=${AZWI_EMULATOR_BIN:-}
  if [ -z "$emulator" ]; then
    AZWI_BUILD_DIR=${AZWI_BUILD_DIR:-$root_dir/build} "$root_dir/scripts/build.sh" azwi-emulator >&2
    emulator=${AZWI_BUILD_DIR:-$root_dir/build}/cmd/azwi-emulator/azwi-emulator
  fi
  if [ -n "${AZWI_IMAGES_DIR:-}" ]; then  # images built by the caller
    images=$AZWI_IMAGES_DIR
  else
    images=${AZWI_CACHE:-/var/cache/azwi}/images
    "$root_dir/deploy/images/build.sh" "$images" >&2
  fi
  [ -f "$images/images.txt" ] || die "no $images/images.txt: the images were not built"
  kubectl=$("$root_dir/scripts/kube-tools.sh" path kubectl)
  helm=$("$root_dir/scripts/kube-tools.sh" path helm)
}

# The node's network configuration, as a node's primary CNI writes it when the node boots (no other plugin in it).
write_cni_config() {
  cat >"$state/cni/net.d/10-azwi.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "azwi",
  "plugins": [
    {"type": "bridge", "bridge": "azwi0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$state/cni/ipam", "ranges": [[{"subnet": "$pod_cidr"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

write_configs() {
  mkdir -p "$state"/{logs,pod-logs,run,bin,etc,etcd,kubelet,containerd,cni/bin,cni/net.d,cni/ipam,emulator}
  # The node's own CNI bin directory, holding Debian's plugins, so that a node agent installing a plugin (azwi-cni's
  # DaemonSet) writes into this node and not into the machine's /usr/lib/cni.
  ln -sf /usr/lib/cni/* "$state/cni/bin/"
  "$here/pki.sh" "$state/pki" "$node_ip" "$node_name" "$service_ip"
  for who in admin controller-manager scheduler kubelet kube-proxy; do
    kubeconfig "$state/etc/$who.kubeconfig" "$who"
  done
  : >"$state/etc/resolv.conf"  # no cluster DNS, and no name server outside the namespace to reach

  cat >"$state/etc/containerd.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$state/containerd/containerd.sock"
[ttrpc]
  address = "$state/containerd/containerd.sock.ttrpc"
[debug]
  address = "$state/containerd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(awk '$2 ~ /\/pause:/ {print $2}' "$images/images.txt")"
  netns_mounts_under_state_dir = true
  enable_unprivileged_ports = false
  # This machine's root may not lower an oom_score_adj (no CAP_SYS_RESOURCE): keep every request at or above
  # containerd's own value instead of failing the sandbox.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$state/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$state/cni/bin"
    conf_dir = "$state/cni/net.d"
EOF

  write_cni_config

  cat >"$state/etc/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $state/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $state/pki/kubelet-serving.crt
tlsPrivateKeyFile: $state/pki/kubelet-serving.key
containerRuntimeEndpoint: unix://$state/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$cgroup
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
failSwapOn: false
resolvConf: $state/etc/resolv.conf
# Containers' logs too stay in the state directory (the default /var/log/pods is shared by every kubelet).
podLogsDir: $state/pod-logs
serializeImagePulls: false
registerNode: true
# The machine's disk is shared with everything else on it: evict only when it is nearly full.
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
imageGCHighThresholdPercent: 98
imageGCLowThresholdPercent: 95
fileCheckFrequency: 5s
syncFrequency: 10s
EOF

  cat >"$state/etc/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
bindAddress: $node_ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
hostnameOverride: $node_name
clusterCIDR: $pod_cidr
clientConnection: {kubeconfig: $state/etc/kube-proxy.kubeconfig}
# Leave the machine-wide conntrack table size and timeouts alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
EOF

  # The emulator as Entra ID: identities federated with this cluster's issuer (the API server) for the service
  # accounts the demo and the tests use.
  sed "s|@ISSUER@|https://$node_ip:6443|g" "$here/emulator.json" >"$state/emulator/config.json"

  for tool in kubectl helm; do
    cat >"$state/bin/$tool" <<EOF
#!/bin/sh
# $tool in the cluster's network namespace, with the cluster's admin kubeconfig unless KUBECONFIG says otherwise.
export KUBECONFIG="\${KUBECONFIG:-$state/etc/admin.kubeconfig}"
exec nsenter --net=/run/netns/$netns -- ${!tool} "\$@"
EOF
    chmod +x "$state/bin/$tool"
  done
}

make_node_network() {
  ip netns add $netns
  in_node ip link set lo up
  # The node's own addresses live on its loopback (the kernel here may have no dummy interfaces); pods reach them
  # through their bridge's gateway.
  in_node ip addr add $node_ip/32 dev lo
  in_node ip addr add $imds_ip/32 dev lo
  # No default route leaves the namespace; the node's own connections to Service IPs still need a route for the
  # kernel to hand them to kube-proxy's nat rules, which then send them to a pod.
  in_node ip route add $service_cidr dev lo
  in_node sysctl -qw net.ipv4.ip_forward=1
}

start_containerd() {
  launch containerd containerd --config "$state/etc/containerd.toml"
  wait_for "containerd to answer on $state/containerd/containerd.sock" \
    ctr --address "$state/containerd/containerd.sock" version || { expect_running containerd; exit 1; }
}

start_kubelet_and_proxy() {
  launch kubelet "$kube" kubelet --config="$state/etc/kubelet.yaml" \
    --kubeconfig="$state/etc/kubelet.kubeconfig" --hostname-override=$node_name --node-ip=$node_ip \
    --root-dir="$state/kubelet" --cert-dir="$state/pki/kubelet-dir"
  launch kube-proxy "$kube" kube-proxy --config="$state/etc/kube-proxy.yaml"
}

# kube-apiserver with the cluster's flags and the extra ones `up` recorded from AZWI_CLUSTER_APISERVER_ARGS.
start_apiserver() {
  local extra
  extra=$(cat "$state/etc/apiserver-args")
  # shellcheck disable=SC2086 # the extra flags are space-separated words
  launch kube-apiserver "$kube" kube-apiserver \
    --advertise-address=$node_ip --bind-address=$node_ip --secure-port=6443 \
    --etcd-servers=https://127.0.0.1:2379 --etcd-cafile="$state/pki/etcd-ca.crt" \
    --etcd-certfile="$state/pki/apiserver-etcd-client.crt" --etcd-keyfile="$state/pki/apiserver-etcd-client.key" \
    --tls-cert-file="$state/pki/apiserver.crt" --tls-private-key-file="$state/pki/apiserver.key" \
    --client-ca-file="$state/pki/ca.crt" \
    --kubelet-client-certificate="$state/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$state/pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$state/pki/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://$node_ip:6443 --service-account-key-file="$state/pki/sa.pub" \
    --service-account-signing-key-file="$state/pki/sa.key" \
    --service-cluster-ip-range=$service_cidr --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction --allow-privileged=true --profiling=false \
    --anonymous-auth=true --endpoint-reconciler-type=lease $extra
  wait_for "kube-apiserver to be ready (https://$node_ip:6443/readyz)" api GET /readyz ||
    { expect_running kube-apiserver; exit 1; }
}

# An API server restart (a control-plane upgrade or crash): kube-apiserver stops, gracefully (SIGTERM: it closes
# its watches and finishes its requests) or with --kill as a crash (SIGKILL), stays down --down SECONDS (default 0),
# and starts again with the same flags; etcd, and with it every object, stays. Waits until /readyz answers.
restart_apiserver() {
  [ "$(id -u)" -eq 0 ] || die "restart-apiserver needs root"
  [ -d "$state/run" ] || die "no cluster at $state; run '$0 up'"
  local signal=TERM down_seconds=0
  while (($#)); do
    case $1 in
      --kill) signal=KILL ;;
      --down) [[ ${2:-} =~ ^[0-9]+$ ]] || die "restart-apiserver: --down takes whole seconds (got '${2:-}')"
        down_seconds=$2
        shift ;;
      *) die "restart-apiserver: unknown option '$1' (options: --kill, --down SECONDS)" ;;
    esac
    shift
  done
  local started=$SECONDS pid
  if running kube-apiserver; then
    pid=$(cat "$state/run/kube-apiserver.pid")
    kill -"$signal" "$pid" 2>/dev/null || true
    # A graceful shutdown finishes in-flight requests (up to a minute for long ones); the wait is bounded.
    local deadline=$((SECONDS + 70))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "kube-apiserver did not stop on SIG$signal within 70 s; killing it"; kill -KILL "$pid"; }
  fi
  sleep "$down_seconds"
  kube=$("$here/build-kube.sh")
  # Keep the previous run's log next to the new one (launch truncates it).
  [ -f "$state/logs/kube-apiserver.log" ] && cat "$state/logs/kube-apiserver.log" >>"$state/logs/kube-apiserver.previous.log"
  start_apiserver
  log "kube-apiserver restarted (SIG$signal, down ${down_seconds} s) in $((SECONDS - started)) s"
}

# A node restart: the kubelet, kube-proxy, containerd, the shims and every container stop (the containers are
# killed, as by a power cut), the node's CNI configuration is written afresh as at boot, and the three start again;
# the control plane, the emulator and the node's files (containerd's images and state, the kubelet's) stay. The
# kubelet then makes new sandboxes for the pods it runs.
restart_node() {
  [ "$(id -u)" -eq 0 ] || die "restart-node needs root"
  [ -d "$state/run" ] || die "no cluster at $state; run '$0 up'"
  local started=$SECONDS name pid
  for name in kubelet kube-proxy containerd; do
    running "$name" && kill -KILL "$(cat "$state/run/$name.pid")" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 15))
  while [ -n "$(node_pids)" ] && ((SECONDS < deadline)); do
    for pid in $(node_pids); do kill -KILL "$pid" 2>/dev/null || true; done
    sleep 0.5
  done
  [ -z "$(node_pids)" ] || die "processes of the node still run: $(node_pids | tr '\n' ' ')"
  kube=$("$here/build-kube.sh")
  write_cni_config
  start_containerd
  start_kubelet_and_proxy
  # The node object still says Ready from before: wait for the new kubelet itself first.
  wait_for "the kubelet to answer on 127.0.0.1:10248/healthz" in_node curl -sf --max-time 2 http://127.0.0.1:10248/healthz ||
    { expect_running kubelet; exit 1; }
  wait_for "node $node_name to be Ready" node_ready || { expect_running kubelet; expect_running containerd; exit 1; }
  log "node restarted in $((SECONDS - started)) s"
}

# The node's processes a restart stops: the containers (the kubelet's cgroups) and containerd's shims.
node_pids() {
  local d=/sys/fs/cgroup/pids/$cgroup
  [ -d "$d" ] || d=/sys/fs/cgroup/memory/$cgroup
  [ -d "$d" ] || return 0
  {
    find "$d" -path "*/kubepods*" -name cgroup.procs -exec cat {} + 2>/dev/null
    local p
    for p in $(cat "$d/system/cgroup.procs" 2>/dev/null); do
      case $(cat "/proc/$p/comm" 2>/dev/null) in containerd-shim*) echo "$p" ;; esac
    done
  } | sort -un
}

up() {
  [ "$(id -u)" -eq 0 ] || die "up needs root (network namespace, cgroups, containerd)"
  if [ -e /run/netns/$netns ] || [ -d "$state/run" ]; then
    die "a cluster exists already (state $state); run '$0 down' first"
  fi
  local started=$SECONDS
  install_packages
  build_parts
  log "starting in network namespace $netns, state $state, cgroup /$cgroup"
  trap 'up_failed' EXIT
  write_configs
  cp "$images/images.txt" "$state/images.txt"
  local t
  # Recorded once for all clusters of the machine (another one's kubelet may have changed them already).
  if [ ! -f "$tunables_record" ]; then
    for t in "${kernel_tunables[@]}"; do echo "$t=$(sysctl -n "$t")"; done >"$tunables_record"
  fi
  make_node_network
  make_cgroups
  make_node_mounts
  echo "${AZWI_CLUSTER_APISERVER_ARGS:-}" >"$state/etc/apiserver-args"

  launch etcd etcd --name $node_name --data-dir "$state/etcd" \
    --listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster $node_name=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
    --cert-file "$state/pki/etcd-server.crt" --key-file "$state/pki/etcd-server.key" \
    --trusted-ca-file "$state/pki/etcd-ca.crt" --client-cert-auth
  wait_for "etcd to answer on 127.0.0.1:2381/health" in_node curl -sf --max-time 2 http://127.0.0.1:2381/health ||
    { expect_running etcd; exit 1; }

  start_apiserver

  # The issuer's discovery documents readable without credentials, as Entra reads them.
  api POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1",
    "kind":"ClusterRoleBinding","metadata":{"name":"azwi-oidc-discovery-anonymous"},
    "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:service-account-issuer-discovery"},
    "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"system:unauthenticated"}]}' >/dev/null
  # kube-proxy's identity (a client certificate) gets the role a kubeadm cluster gives its service account.
  api POST /apis/rbac.authorization.k8s.io/v1/clusterrolebindings '{"apiVersion":"rbac.authorization.k8s.io/v1",
    "kind":"ClusterRoleBinding","metadata":{"name":"azwi-kube-proxy"},
    "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"system:node-proxier"},
    "subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"system:kube-proxy"}]}' >/dev/null

  launch kube-controller-manager "$kube" kube-controller-manager \
    --kubeconfig="$state/etc/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$state/etc/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$state/etc/controller-manager.kubeconfig" \
    --service-account-private-key-file="$state/pki/sa.key" --root-ca-file="$state/pki/ca.crt" \
    --use-service-account-credentials=true --leader-elect=false --bind-address=127.0.0.1 \
    --cluster-signing-cert-file="$state/pki/ca.crt" --cluster-signing-key-file="$state/pki/ca.key" \
    --service-cluster-ip-range=$service_cidr --profiling=false
  launch kube-scheduler "$kube" kube-scheduler \
    --kubeconfig="$state/etc/scheduler.kubeconfig" \
    --authentication-kubeconfig="$state/etc/scheduler.kubeconfig" \
    --authorization-kubeconfig="$state/etc/scheduler.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --profiling=false

  start_containerd
  local file ref
  while read -r file ref; do
    ctr --address "$state/containerd/containerd.sock" -n k8s.io images import "$images/$file" >/dev/null || die "importing $images/$file ($ref) into containerd failed"
  done <"$images/images.txt"

  start_kubelet_and_proxy

  # The node's IMDS at 169.254.169.254:80 (the sidecar's passthrough target) and Entra ID at $node_ip:$emulator_port.
  # Its JWKS fetches from the cluster's issuer trust the cluster CA. Its ARM role (the same address) makes a federated
  # credential count only 3 s after it was created, as real Entra ID takes a while to use one.
  SSL_CERT_FILE="$state/pki/ca.crt" launch azwi-emulator "$emulator" serve --state-dir "$state/emulator/state" \
    --allow-remote --listen $node_ip:$emulator_port --config "$state/emulator/config.json" --ready-file "$state/emulator/url" \
    --imds --imds-listen $imds_ip:80 --credential-propagation-seconds 3 --token-proxy-listen $node_ip:$token_proxy_port \
    --token-proxy-name token-proxy.azwi.test --log-format text
  wait_for "azwi-emulator to listen on $node_ip:$emulator_port" test -s "$state/emulator/url" ||
    { expect_running azwi-emulator; exit 1; }

  wait_for "node $node_name to be Ready" node_ready ||
    { expect_running kubelet; expect_running containerd; expect_running kube-proxy; exit 1; }
  wait_for "the default service account of namespace default" api GET /api/v1/namespaces/default/serviceaccounts/default ||
    { expect_running kube-controller-manager; exit 1; }
  trap - EXIT
  log "up in $((SECONDS - started)) s; use it with: eval \"\$($0 env)\""
}

env_cmd() {
  [ -f "$state/etc/admin.kubeconfig" ] || die "no cluster at $state; run '$0 up'"
  cat <<EOF
export KUBECONFIG=$state/etc/admin.kubeconfig
export PATH=$state/bin:\$PATH
export AZWI_CLUSTER_STATE=$state
export AZWI_CLUSTER_NETNS=$netns
export AZWI_CLUSTER_ISSUER=https://$node_ip:6443
export AZWI_CLUSTER_AUTHORITY_HOST=https://$node_ip:$emulator_port/
export AZWI_CLUSTER_EMULATOR_CA=$state/emulator/state/ca.crt
export AZWI_CLUSTER_EMULATOR_CONFIG=$state/emulator/config.json
export AZWI_CLUSTER_TOKEN_PROXY=https://$node_ip:$token_proxy_port/
export AZWI_CLUSTER_TOKEN_PROXY_NAME=token-proxy.azwi.test
export AZWI_CLUSTER_TOKEN_PROXY_CA=$state/emulator/state/token-proxy/ca.crt
EOF
}

status() {
  [ -d "$state/run" ] || { echo "no cluster (state $state)"; return 1; }
  local name pid
  for f in "$state"/run/*.pid; do
    name=$(basename "$f" .pid)
    if running "$name"; then
      pid=$(cat "$f")
      printf '%-24s running, pid %-7s resident %6.1f MiB\n' "$name:" "$pid" \
        "$(awk '/^VmRSS:/ {print $2 / 1024}' "/proc/$pid/status")"
    else
      echo "$name: not running"
    fi
  done
  if node_ready; then echo "node $node_name: Ready"; else echo "node $node_name: not ready"; return 1; fi
}

# Every process in the cluster's cgroups: the components, the containerd shims and the containers.
cluster_pids() {
  local d=/sys/fs/cgroup/pids/$cgroup
  [ -d "$d" ] || d=/sys/fs/cgroup/memory/$cgroup
  [ -d "$d" ] || return 0
  find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -un
}

down() {
  [ "$(id -u)" -eq 0 ] || die "down needs root"
  local name pid
  # The kubelet first, so that it does not restart the containers being stopped; containerd last but one.
  for name in kubelet kube-proxy kube-scheduler kube-controller-manager azwi-emulator kube-apiserver etcd; do
    running "$name" && kill -TERM "$(cat "$state/run/$name.pid")" 2>/dev/null || true
  done
  local deadline=$((SECONDS + 15))
  while [ -n "$(cluster_pids)" ] && ((SECONDS < deadline)); do
    for pid in $(cluster_pids); do
      # containers and shims: TERM first, then KILL once the deadline is near
      if ((SECONDS + 5 < deadline)); then kill -TERM "$pid" 2>/dev/null || true; else kill -KILL "$pid" 2>/dev/null || true; fi
    done
    sleep 0.5
  done
  [ -z "$(cluster_pids)" ] || log "WARNING: processes left in /$cgroup: $(cluster_pids | tr '\n' ' ')"
  # The cluster's mounts were made in the node's mount namespace, which went with its last process.
  [ -e /run/netns/$netns ] && ip netns delete $netns
  # Cgroups, deepest first (the kubelet's pod cgroups under /$cgroup/kubepods).
  local c
  for c in "${controllers[@]}"; do
    [ -d "/sys/fs/cgroup/$c/$cgroup" ] || continue
    find "/sys/fs/cgroup/$c/$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null ||
      log "WARNING: cannot remove cgroup /sys/fs/cgroup/$c/$cgroup"
  done
  # The last cluster of the machine to go puts the kernel settings back.
  if [ -f "$tunables_record" ] && ! compgen -G "/sys/fs/cgroup/pids/*-cluster/system" >/dev/null; then
    local line
    while read -r line; do sysctl -qw "$line" || true; done <"$tunables_record"
    rm -f "$tunables_record"
  fi
  rm -rf "$state"
}

up_failed() {
  log "up failed; stopping what started (its logs: $state/logs, kept in $state.failed-logs)"
  rm -rf "$state.failed-logs"
  cp -r "$state/logs" "$state.failed-logs" 2>/dev/null || true
  down || true
}

# Everything above only defines; one line runs it and exits, so that an edit of this file while it runs is never read.
main() {
  case ${1:-} in
    up) up ;;
    down) down ;;
    restart-node) restart_node ;;
    restart-apiserver) shift; restart_apiserver "$@" ;;
    status) status ;;
    env) env_cmd ;;
    -h | --help | help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0" ;;
    *) echo "usage: $0 up|down|restart-node|restart-apiserver|status|env (see --help)" >&2; exit 2 ;;
  esac
}
main "$@"; exit $?
