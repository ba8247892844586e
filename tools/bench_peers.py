#!/usr/bin/env python3
"""Runs the peer comparison for tools/bench-peers.sh (see there). Standard library only."""

import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import http.client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBPERF = os.path.join(ROOT, "target", "release", "embperf")
TOKENIZER_DIR = os.path.join(ROOT, "src", "dataset", "assets")
MODEL = "BAAI/bge-small-en-v1.5"
CLIENT_CORE, SERVER_CORE = "0", "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, timeout=10):
    until = time.time() + timeout
    while time.time() < until:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def measured(cmd, timeout, env=None):
    """Runs cmd pinned to the client core; returns (stdout, cpu seconds of its process tree)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(["taskset", "-c", CLIENT_CORE] + cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}")
    return proc.stdout, cpu


def ms(value, unit):
    return {"us": value / 1000, "ms": value, "s": value * 1000}[unit]


class Embperf:
    """embperf on its io_uring driver, or on its epoll fallback (EMBPERF_DRIVER=epoll)."""

    def __init__(self, text_file, driver="io_uring"):
        self.text_file, self.driver = text_file, driver
        self.name = "embperf" if driver == "io_uring" else f"embperf-{driver}"

    def run(self, url, concurrency, rate, duration):
        out = tempfile.mkdtemp()
        cmd = [EMBPERF, "profile", "-m", MODEL, "--url", url, "--input-file", self.text_file,
               "--custom-dataset-type", "single_turn", "--benchmark-duration", str(duration),
               "--concurrency", str(concurrency), "--workers", "1", "--validate-every", "0",
               "--artifact-dir", out, "--no-progress", "--tokenizer", "builtin",
               # Like wrk and oha, keep no per-request records (they are written after the run).
               "--export-level", "summary"]
        if rate:
            cmd += ["--request-rate", str(rate), "--arrival-pattern", "constant"]
        _, cpu = measured(cmd, duration + 60, env={"EMBPERF_DRIVER": self.driver})
        d = json.load(open(os.path.join(out, "profile_export_aiperf.json")))
        shutil.rmtree(out, ignore_errors=True)
        ran = d["run_info"]["driver"]
        if ran != self.driver:
            raise RuntimeError(f"ran on {ran}, not {self.driver} (is io_uring available?)")
        n = d["request_count"]["avg"] + d.get("error_request_count", {}).get("avg", 0)
        return dict(rps=d["request_throughput"]["avg"], p50=d["request_latency"]["p50"],
                    p99=d["request_latency"]["p99"], requests=n, cpu=cpu,
                    own_cpu_us=d["client_cpu_per_request"]["avg"])


class Wrk:
    name = "wrk"

    def __init__(self, body):
        self.script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        self.script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          f"wrk.body = {json.dumps(body)}\n")
        self.script.close()

    def run(self, url, concurrency, rate, duration):
        if rate:
            return None  # wrk has no open-loop mode (wrk2 has; Debian ships wrk)
        out, cpu = measured(["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--latency",
                             "-s", self.script.name, url], duration + 60)
        pct = {m.group(1): ms(float(m.group(2)), m.group(3))
               for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
        n = int(re.search(r"(\d+) requests in", out).group(1))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        return dict(rps=rps, p50=pct["50"], p99=pct["99"], requests=n, cpu=cpu)


class Oha:
    name = "oha"

    def __init__(self, body):
        self.body = body

    def run(self, url, concurrency, rate, duration):
        cmd = ["oha", "-z", f"{duration}s", "-c", str(concurrency), "--no-tui", "--output-format", "json",
               "-m", "POST", "-H", "Content-Type: application/json", "-d", self.body, url]
        if rate:
            cmd += ["-q", str(rate)]
        out, cpu = measured(cmd, duration + 60)
        d = json.loads(out)
        lat = d["latencyPercentiles"]
        n = sum(d.get("statusCodeDistribution", {}).values())
        return dict(rps=d["summary"]["requestsPerSec"], p50=lat["p50"] * 1000, p99=lat["p99"] * 1000, requests=n, cpu=cpu)


class UringFloor:
    """benches/uring_floor.rs: the CPU floor of an io_uring client (no timing, no stats)."""

    def __init__(self, exe, body_file, receive):
        self.exe, self.body_file, self.receive = exe, body_file, receive
        self.name = f"floor-{receive}"

    def run(self, url, concurrency, rate, duration):
        if rate:
            return None  # a closed loop only
        out, cpu = measured([self.exe, "--url", url, "--body", self.body_file, "--connections", str(concurrency),
                             "--duration", str(duration), "--receive", self.receive], duration + 60)
        d = json.loads(out)
        return dict(rps=d["requests_per_second"], p50=None, p99=None, requests=d["requests"], cpu=cpu)


def floor_binary():
    """Builds benches/uring_floor.rs and returns its executable, or None."""
    proc = subprocess.run(["cargo", "bench", "--bench", "uring_floor", "--no-run", "--message-format=json"],
                          cwd=ROOT, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "uring_floor" and msg.get("executable"):
            return msg["executable"]
    return None


class Aiperf:
    name = "aiperf"

    def __init__(self, exe, text_file):
        self.exe, self.text_file = exe, text_file

    def run(self, url, concurrency, rate, duration):
        out = tempfile.mkdtemp()
        cmd = [self.exe, "profile", "-m", MODEL, "--endpoint-type", "embeddings", "--url", url.rsplit("/v1/", 1)[0],
               "--input-file", self.text_file, "--custom-dataset-type", "single_turn",
               "--benchmark-duration", str(duration), "--concurrency", str(concurrency),
               "--tokenizer", TOKENIZER_DIR_HF, "--artifact-dir", out, "--ui-type", "none"]
        if rate:
            cmd += ["--request-rate", str(rate), "--arrival-pattern", "constant"]
        # A local tokenizer path: AIPerf 0.13 rejects it under HF_HUB_OFFLINE=1, so that is not set.
        _, cpu = measured(cmd, duration + 300)
        d = json.load(open(os.path.join(out, "profile_export_aiperf.json")))
        shutil.rmtree(out, ignore_errors=True)
        return dict(rps=d["request_throughput"]["avg"], p50=d["request_latency"]["p50"],
                    p99=d["request_latency"]["p99"], requests=d["request_count"]["avg"], cpu=cpu)


def median_run(runs):
    """The per-field median of repeated runs (latencies stay None for clients without them)."""
    def med(values):
        values = sorted(values)
        return values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
    return {k: (None if runs[0][k] is None else med([r[k] for r in runs])) for k in runs[0]}


def start_mock(port):
    p = subprocess.Popen(["taskset", "-c", SERVER_CORE, EMBPERF, "mock-server", "--port", str(port), "--workers", "1"],
                         stderr=subprocess.DEVNULL)
    return p if wait_listening(port) else None


def start_nginx(port, response, tmp):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        return None
    os.makedirs(os.path.join(tmp, "logs"), exist_ok=True)
    conf = os.path.join(tmp, "nginx.conf")
    escaped = response.replace("\\", "\\\\").replace("'", "\\'")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/logs/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_body_buffer_size 64k;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{escaped}'; }}
  }}
}}
""")
    p = subprocess.Popen(["taskset", "-c", SERVER_CORE, nginx, "-p", tmp, "-c", conf], stderr=subprocess.DEVNULL)
    return p if wait_listening(port) else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rate", type=int, default=500, help="open-loop rate every client can sustain")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per load; the table shows medians")
    ap.add_argument("--aiperf", default="aiperf")
    args = ap.parse_args()
    if args.repeat < 1 or args.duration < 1:
        ap.error("--repeat and --duration must be at least 1")
    if (os.cpu_count() or 1) < 2:
        print("note: fewer than 2 cores: client and server share a core", file=sys.stderr)

    tmp = tempfile.mkdtemp(prefix="embperf-peers-")
    text = "the quick brown fox jumps over the lazy dog " * 12
    text_file = os.path.join(tmp, "input.jsonl")
    with open(text_file, "w") as f:
        f.write(json.dumps({"text": text.strip()}) + "\n")
    body = json.dumps({"model": MODEL, "input": [text.strip()]}, separators=(",", ":"))
    global TOKENIZER_DIR_HF
    TOKENIZER_DIR_HF = os.path.join(tmp, "tokenizer")
    os.makedirs(TOKENIZER_DIR_HF)
    shutil.copy(os.path.join(TOKENIZER_DIR, "bert-base-uncased-tokenizer.json"), os.path.join(TOKENIZER_DIR_HF, "tokenizer.json"))
    with open(os.path.join(TOKENIZER_DIR_HF, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "BertTokenizerFast", "do_lower_case": True, "model_max_length": 512}, f)

    body_file = os.path.join(tmp, "body.json")
    with open(body_file, "w") as f:
        f.write(body)
    clients = [Embperf(text_file), Embperf(text_file, "epoll"), Wrk(body), Oha(body)]
    floor = floor_binary()
    if floor:
        clients += [UringFloor(floor, body_file, "single"), UringFloor(floor, body_file, "multishot")]
    else:
        print("benches/uring_floor.rs: could not build, floor rows skipped", file=sys.stderr)
    if os.path.exists(args.aiperf):
        clients.append(Aiperf(args.aiperf, text_file))
    else:
        print("aiperf: not installed, skipped", file=sys.stderr)
    for tool in ("wrk", "oha"):
        if not shutil.which(tool):
            print(f"{tool}: not installed, skipped", file=sys.stderr)
            clients = [c for c in clients if c.name != tool]

    mock_port, nginx_port = free_port(), free_port()
    mock = start_mock(mock_port)
    conn = http.client.HTTPConnection("127.0.0.1", mock_port)
    conn.request("POST", "/v1/embeddings", body, {"Content-Type": "application/json"})
    response = conn.getresponse().read().decode()
    conn.close()
    servers = [("mock", mock, mock_port), ("nginx", start_nginx(nginx_port, response, tmp), nginx_port)]

    modes = [("c=1", 1, None), ("c=64", 64, None), (f"rate={args.rate}", 64, args.rate)]
    rows, results = [], {}
    for sname, proc, port in servers:
        if proc is None:
            print(f"{sname}: could not start, skipped", file=sys.stderr)
            continue
        url = f"http://127.0.0.1:{port}/v1/embeddings"
        for mname, conc, rate in modes:
            runs = {}
            # Rounds alternate the clients, so a slow spell of this noisy machine hits them all;
            # aiperf, a thousand times costlier, runs in the first round only.
            for round_ in range(args.repeat):
                for c in clients:
                    if round_ > 0 and c.name == "aiperf":
                        continue
                    try:
                        r = c.run(url, conc, rate, args.duration)
                    except Exception as e:  # a failing client is reported, not fatal
                        print(f"{c.name} {sname} {mname}: {e}", file=sys.stderr)
                        continue
                    if r is None:
                        continue
                    r["cpu_per_1k"] = r["cpu"] / max(r["requests"], 1) * 1000
                    runs.setdefault(c.name, []).append(r)
                    print(f"  {sname} {mname} {c.name}: {r['rps']:,.0f} req/s, "
                          f"{r['cpu_per_1k'] * 1000:.2f} us CPU/req", file=sys.stderr)
            for cname, rs in runs.items():
                r = median_run(rs)
                results[(sname, mname, cname)] = r
                rows.append((sname, mname, cname, r))
        proc.terminate()
        proc.wait()

    print(f"machine: {os.cpu_count()} cores, {os.uname().release}; server on CPU {SERVER_CORE}, client on CPU {CLIENT_CORE}; "
          f"{args.duration} s per run, median of {args.repeat} rounds (aiperf: 1)")
    print("| server | load | client | req/s | p50 ms | p99 ms | client CPU s / 1k req | µs / req |")
    print("|---|---|---|---|---|---|---|---|")
    for sname, mname, cname, r in rows:
        lat = " | ".join("—" if r[k] is None else f"{r[k]:.3f}" for k in ("p50", "p99"))
        print(f"| {sname} | {mname} | {cname} | {r['rps']:,.0f} | {lat} | {r['cpu_per_1k']:.5f} | {r['cpu_per_1k'] * 1000:.2f} |")
    for sname in ("nginx", "mock"):
        e64, w64 = results.get((sname, "c=64", "embperf")), results.get((sname, "c=64", "wrk"))
        e1, w1 = results.get((sname, "c=1", "embperf")), results.get((sname, "c=1", "wrk"))
        if w64:
            for f in ("floor-single", "floor-multishot", "embperf-epoll"):
                r = results.get((sname, "c=64", f))
                if r:
                    print(f"{sname}: {f}/wrk CPU per request at c=64: {r['cpu_per_1k'] / w64['cpu_per_1k']:.2f}")
        if e64 and w64:
            print(f"{sname}: embperf/wrk CPU per request at c=64: {e64['cpu_per_1k'] / w64['cpu_per_1k']:.2f}"
                  f" (embperf worker-only: {e64['own_cpu_us']:.2f} us/req)")
        if e1 and w1:
            print(f"{sname}: embperf/wrk p50 latency at c=1: {e1['p50'] / w1['p50']:.2f}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
