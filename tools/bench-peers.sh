#!/usr/bin/env bash
# Side-by-side client cost on loopback: embperf, wrk, oha and aiperf against the same servers
# (the built-in mock server and nginx serving a fixed embeddings response), server pinned to
# one core and client to another, same request body. Prints one table and the embperf/wrk ratios.
# Two more rows show the floor under any io_uring client here (benches/uring_floor.rs: a bare
# closed loop with no clocks or statistics, with single and with multishot receives).
#
#   tools/bench-peers.sh [--duration S] [--rate R] [--repeat N]
#
# Installs what is missing (Debian: wrk, nginx-light; crates.io: oha; PyPI: aiperf in a venv
# under ~/.cache/embperf); a client that cannot be installed is reported and skipped.
# Loopback only; every run is bounded by its duration.
set -uo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx-light)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} (apt)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"; } >/dev/null 2>&1 \
    || echo "could not install ${need_apt[*]}: those rows will be skipped" >&2
fi
if ! command -v oha >/dev/null && [ ! -x "$HOME/.cargo/bin/oha" ]; then
  echo "installing oha (cargo install --locked oha)" >&2
  cargo install --locked --quiet oha >/dev/null 2>&1 || echo "could not install oha: its rows will be skipped" >&2
fi
venv="$HOME/.cache/embperf/aiperf-venv"
if [ ! -x "$venv/bin/aiperf" ]; then
  echo "installing aiperf 0.13.0 into $venv (pip)" >&2
  { python3 -m venv "$venv" && "$venv/bin/pip" install -q aiperf==0.13.0; } >/dev/null 2>&1 \
    || echo "could not install aiperf: its rows will be skipped" >&2
fi
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --quiet || exit 1
exec python3 tools/bench_peers.py --aiperf "$venv/bin/aiperf" "$@"
