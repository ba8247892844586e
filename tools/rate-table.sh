#!/usr/bin/env bash
# Open-loop pacing table: for each target rate, a 10 s Poisson run against the built-in mock
# server (its own pinned core), showing achieved vs target rate and the schedule lag.
# Usage: tools/rate-table.sh [RATE ...]   (default: 1000 10000 40000)
# Loopback only; every run is bounded by --benchmark-duration.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/embperf
duration=${DURATION:-10}
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(1000 10000 40000)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "machine: $(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '| target req/s | achieved req/s | achieved/target | lag p50 ms | lag p99 ms | late sends | latency p50 ms | latency p99 ms | corrected p99 ms | client CPU us/req |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for rate in "${rates[@]}"; do
  "$bin" profile --mock --request-rate "$rate" --benchmark-duration "$duration" --isl 128 \
    --artifact-dir "$out/$rate" --no-progress >/dev/null
  python3 - "$out/$rate/profile_export_aiperf.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t, a = d["target_request_rate"]["avg"], d["achieved_request_rate"]["avg"]
lag, lat, eff = d["credit_to_start_latency"], d["request_latency"], d["effective_latency"]
print(f"| {t:,.0f} | {a:,.0f} | {a / t:.4f} | {lag['p50']:.3f} | {lag['p99']:.3f} | {d['late_send_count']['avg']:,.0f} "
      f"| {lat['p50']:.3f} | {lat['p99']:.3f} | {eff['p99']:.3f} | {d['client_cpu_per_request']['avg']:.2f} |")
PY
done
