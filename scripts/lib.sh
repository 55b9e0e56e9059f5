# Shared by the demo and the benchmarks (sourced): a scratch directory and background processes that are always
# cleaned up, and free loopback ports.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_scratch PREFIX: sets $state to a new directory under /tmp; PIDs appended to the pids array are killed and
# the directory removed when the script exits, however it exits.
start_scratch() {
  state=$(mktemp -d "/tmp/$1.XXXXXX")
  pids=()
  trap stop_scratch EXIT
}
stop_scratch() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$state"
}
