#!/usr/bin/env bash
# Drives one echo function server (pinned to CPU 0) with wrk and with
# `bpfaas bench http` (pinned to CPU 1), in one run, and prints a markdown
# table. Usage: bench/http_bench.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
secs=${2:-5}
fn=$build/tests/test_function
bpfaas=$build/apps/bpfaas/bpfaas
for b in "$fn" "$bpfaas"; do [[ -x $b ]] || { echo "missing $b: build first" >&2; exit 1; }; done
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
server_cpu=0; client_cpu=1
[[ $(nproc) -ge 2 ]] || client_cpu=0

tmp=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
env -u PORT -u AWS_LAMBDA_RUNTIME_API -u FUNCTIONS_CUSTOMHANDLER_PORT \
  taskset -c $server_cpu "$fn" --port 0 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/server.log" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/.*listening on .*:\([0-9]*\).*/\1/p' "$tmp/server.log" | head -1)
[[ -n $port ]] || { echo "function server did not start" >&2; cat "$tmp/server.log" >&2; exit 1; }
url=http://127.0.0.1:$port

# Request bodies: the Blueprint JSON request and the raw bytes for binary framing.
make_bodies() {  # size
  python3 - "$1" "$tmp" <<'PY'
import sys, random
n = int(sys.argv[1]); d = sys.argv[2]
random.seed(42)
b = bytes(random.getrandbits(8) for _ in range(n))
open(f"{d}/json_{n}", "w").write('{"job_id":0,"args":[' + ",".join(map(str, b)) + ']}')
open(f"{d}/bin_{n}", "wb").write(b)
PY
}
wrk_lua() {  # body-file content-type
  cat > "$tmp/post.lua" <<LUA
local f = io.open("$1", "rb"); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "$2"
wrk.headers["X-Blueprint-Job-Id"] = "0"
LUA
}
# wrk: prints "rps p50_us p99_us"
run_wrk() {  # conns body-file content-type
  wrk_lua "$2" "$3"
  taskset -c $client_cpu wrk -t1 -c"$1" -d"${secs}s" --latency -s "$tmp/post.lua" "$url/job/0" > "$tmp/wrk.out"
  python3 - "$tmp/wrk.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def us(s):
    v, u = re.match(r"([\d.]+)(us|ms|s)", s).groups(); v = float(v)
    return v * {"us": 1, "ms": 1e3, "s": 1e6}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = us(re.search(r"50%\s+(\S+)", t).group(1)); p99 = us(re.search(r"99%\s+(\S+)", t).group(1))
errs = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"{rps:.0f} {p50:.0f} {p99:.0f} {errs.group(1) if errs else 0}")
PY
}
run_ours() {  # conns format bytes -> "rps p50 p99 errors"
  taskset -c $client_cpu "$bpfaas" bench http --url "$url" -c "$1" --duration "$secs" --warmup 1 \
    --format "$2" --payload-bytes "$3" --job 0 | python3 -c '
import json, sys; d = json.loads(sys.stdin.read())
print(f"{d[\"requests_per_sec\"]:.0f} {d[\"p50_us\"]} {d[\"p99_us\"]} {d[\"errors\"]}")'
}

make_bodies 64
echo "## Executor vs wrk, JSON, 64 B payload, server on CPU $server_cpu, clients on CPU $client_cpu, ${secs}s each"
echo
echo "| c | wrk req/s | bpfaas req/s | ratio | wrk p50 µs | bpfaas p50 µs | wrk p99 µs | bpfaas p99 µs | p99 ratio |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in 1 16 64; do
  read -r w_rps w_p50 w_p99 w_err < <(run_wrk $c "$tmp/json_64" application/json)
  read -r o_rps o_p50 o_p99 o_err < <(run_ours $c json 64)
  python3 -c "print(f'| $c | $w_rps | $o_rps | {$o_rps/$w_rps:.2f} | $w_p50 | $o_p50 | $w_p99 | $o_p99 | {$o_p99/max($w_p99,1):.2f} |')"
done
echo
echo "## Binary framing vs JSON (bpfaas bench http, c=16)"
echo
echo "| payload | JSON req/s | binary req/s | gain | JSON p50 µs | binary p50 µs |"
echo "|---|---|---|---|---|---|"
for n in 64 4096 1048576; do
  read -r j_rps j_p50 _ _ < <(run_ours 16 json $n)
  read -r b_rps b_p50 _ _ < <(run_ours 16 binary $n)
  python3 -c "print(f'| $n B | $j_rps | $b_rps | {$b_rps/$j_rps:.2f}x | $j_p50 | $b_p50 |')"
done
