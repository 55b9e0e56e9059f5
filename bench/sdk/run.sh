#!/usr/bin/env bash
# What the sidecar costs a real program: per SDK client (tests/sdk/<language>/), the time of a first token and of a
# cached token through azwi-proxy in the e2e pod, next to the same client going straight to the emulator's Entra
# with workload identity, in one run (tests/sdk/clients_test.cpp, SdkBench). Needs root (network namespaces).
# Usage: bench/sdk/run.sh. Writes bench/results/sdk.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${AZWI_BUILD_DIR:-build}
scripts/build.sh sdk_clients_test >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
AZWI_SDK_BENCH_OUT=$out "$build/tests/sdk/sdk_clients_test" --gtest_also_run_disabled_tests \
  --gtest_filter='SdkBench.*' >"$build/bench-sdk.log" 2>&1 || { cat "$build/bench-sdk.log" >&2; exit 1; }
python3 - "$out" "$(nproc)" "$(date -u +%F)" "$(cut -d' ' -f1 /proc/loadavg)" >bench/results/sdk.md <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
print("# SDK clients: what the sidecar costs a real program\n")
print(f"Command: `bench/sdk/run.sh` on {sys.argv[2]} cores, {sys.argv[3]} (load average {sys.argv[4]} at the end: "
      "single figures of a shared machine; compare within a row). Each client of `tests/sdk/` runs as the "
      "application of the e2e pod (network namespaces, azwi-proxy-init's redirect, azwi-proxy, azwi-emulator as "
      f"Entra ID on the node); median of {data['rounds']} rounds. *call*: the client's own get-token call; *process*: "
      "start to exit of the program (runtime start-up included).\n")
print("- **first via sidecar**: a resource the proxy has not cached: SDK -> redirect -> proxy -> Entra exchange.")
print("- **cached via sidecar**: a new process asking again: the proxy answers from its cache.")
print("- **direct (workload identity)**: the same library's WorkloadIdentityCredential straight to the emulator's "
      "Entra; a new process always makes an exchange (no cache across processes).\n")
print("| client | first via sidecar call / process ms | cached via sidecar call / process ms | "
      "direct call / process ms | cached sidecar / direct (call) |")
print("|---|---:|---:|---:|---:|")
for c in data["clients"]:
    direct = (f"{c['direct_call_ms']:.1f} / {c['direct_wall_ms']:.0f}" if "direct_call_ms" in c
              else "n/a (adal has no workload identity)")
    ratio = f"{c['cached_call_ms'] / c['direct_call_ms']:.2f}x" if c.get("direct_call_ms") else "n/a"
    print(f"| {c['client']} | {c['first_call_ms']:.1f} / {c['first_wall_ms']:.0f} | "
          f"{c['cached_call_ms']:.1f} / {c['cached_wall_ms']:.0f} | {direct} | {ratio} |")
PY
cat bench/results/sdk.md
