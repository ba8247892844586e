#!/usr/bin/env bash
# Memory stays bounded: a closed-loop run at the highest rate against the built-in mock server
# for DURATION seconds (default 60), sampling the process RSS every 5 s.
# Usage: tools/rss-soak.sh [DURATION] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
duration=${1:-60}
concurrency=${2:-64}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
target/release/embperf profile --mock --concurrency "$concurrency" --benchmark-duration "$duration" \
  --isl 128 --export-level summary --artifact-dir "$out" --no-progress >"$out/console.txt" &
pid=$!
echo "t_sec rss_kib"
t=0
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$t $rss"
  sleep 5
  t=$((t + 5))
done
wait "$pid"
python3 -c "
import json; d = json.load(open('$out/profile_export_aiperf.json'))
print(f\"requests: {d['request_count']['avg']:,.0f} at {d['request_throughput']['avg']:,.0f} req/s\")"
