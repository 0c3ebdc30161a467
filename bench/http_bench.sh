#!/usr/bin/env bash
# HTTP figures of docs/performance.md ("HTTP function server and executor"),
# all from one run:
#   1. the custom executor (`bpfaas bench http`) against wrk, same server, same
#      request (Blueprint JSON, 64 B args, POST /job/0), c = 1, 16, 64;
#   2. the server's own throughput on one core (wrk, c = 64, JSON and binary);
#   3. binary framing against Blueprint JSON at 64 B, 4 KiB and 1 MiB.
# One echo function server (tests/test_function, job 0) is pinned to CPU 0,
# every client in turn to CPU 1, one client thread each (wrk -t1, bpfaas
# --threads 1), so the comparison is one client core against one server core.
#
# Every figure is the best of ROUNDS runs (default 3), wrk and bpfaas
# alternating, so that a burst of load from elsewhere on a shared machine
# hits both tools alike and is less likely to decide a ratio.
#
# Usage: bench/http_bench.sh [BUILD_DIR] [SECONDS] [ROUNDS]   (defaults: build 3 3)
# Prints a markdown report on stdout; raw wrk outputs and bpfaas JSON lines
# are kept in $KEEP_DIR when that is set.
set -euo pipefail
build=${1:-build}
secs=${2:-3}
rounds=${3:-3}
warm=1
fn=$build/tests/test_function
bpfaas=$build/apps/bpfaas/bpfaas
for b in "$fn" "$bpfaas"; do [[ -x $b ]] || { echo "missing $b: build it first" >&2; exit 1; }; done
for t in wrk python3 taskset; do command -v $t >/dev/null || { echo "$t is not installed" >&2; exit 1; }; done
server_cpu=0; client_cpu=1
[[ $(nproc) -ge 2 ]] || client_cpu=0

tmp=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  if [[ -n ${KEEP_DIR:-} ]]; then mkdir -p "$KEEP_DIR" && cp "$tmp"/*.out "$tmp"/*.json "$KEEP_DIR"/ 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
env -u PORT -u AWS_LAMBDA_RUNTIME_API -u FUNCTIONS_CUSTOMHANDLER_PORT \
  taskset -c $server_cpu "$fn" --port 0 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 200); do grep -q "listening on" "$tmp/server.log" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' "$tmp/server.log" | head -1)
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

# wrk, one thread on the client CPU. Prints "rps p50_us p99_us errors" where
# errors counts socket errors and non-2xx replies.
run_wrk() {  # conns body-file content-type tag
  local conns=$1 body=$2 type=$3 tag=$4
  cat > "$tmp/post.lua" <<LUA
local f = io.open("$body", "rb"); wrk.body = f:read("*a"); f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "$type"
LUA
  # The first second warms the connections, as bpfaas bench --warmup does.
  taskset -c $client_cpu wrk -t1 -c"$conns" -d"${warm}s" -s "$tmp/post.lua" "$url/job/0" >/dev/null
  taskset -c $client_cpu wrk -t1 -c"$conns" -d"${secs}s" --latency -s "$tmp/post.lua" "$url/job/0" > "$tmp/wrk_$tag.out"
  python3 - "$tmp/wrk_$tag.out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def us(s):
    v, u = re.match(r"([\d.]+)(us|ms|s)$", s).groups()
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = us(re.search(r"^\s+50%\s+(\S+)", t, re.M).group(1))
p99 = us(re.search(r"^\s+99%\s+(\S+)", t, re.M).group(1))
errs = 0
m = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
if m: errs += int(m.group(1))
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
if m: errs += sum(map(int, m.groups()))
print(f"{rps:.0f} {p50:.0f} {p99:.0f} {errs}")
PY
}

# bpfaas bench http, one event-loop thread on the client CPU. Same output.
run_ours() {  # conns format bytes tag
  taskset -c $client_cpu "$bpfaas" bench http --url "$url" -c "$1" --duration "$secs" --warmup "$warm" \
    --format "$2" --payload-bytes "$3" --job 0 --threads 1 > "$tmp/ours_$4.json" || true
  python3 - "$tmp/ours_$4.json" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read())
print(f'{d["requests_per_sec"]:.0f} {d["p50_us"]} {d["p99_us"]} {d["errors"]}')
PY
}

# Best of `rounds` runs of the given runner (by req/s); its tag gets the round.
best_of() {  # runner args... (the last argument is the tag)
  local best="" line tag=${*: -1}
  for ((r = 1; r <= rounds; r++)); do
    line=$("$1" "${@:2:$#-2}" "${tag}_r$r")
    if [[ -z $best ]] || (( ${line%% *} > ${best%% *} )); then best=$line; fi
  done
  echo "$best"
}
# Interleaves the rounds of two runners (A B A B ...) and prints both bests.
best_pair() {  # "runnerA args... tag" "runnerB args... tag"
  local -a a b; read -r -a a <<< "$1"; read -r -a b <<< "$2"
  local best_a="" best_b="" line
  for ((r = 1; r <= rounds; r++)); do
    line=$("${a[@]:0:${#a[@]}-1}" "${a[-1]}_r$r")
    if [[ -z $best_a ]] || (( ${line%% *} > ${best_a%% *} )); then best_a=$line; fi
    line=$("${b[@]:0:${#b[@]}-1}" "${b[-1]}_r$r")
    if [[ -z $best_b ]] || (( ${line%% *} > ${best_b%% *} )); then best_b=$line; fi
  done
  echo "$best_a $best_b"
}

ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{a / b:.2f}' if b else 'n/a')" "$1" "$2"; }
total_errors=0

echo "## Run"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "- $(nproc) CPUs: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "- server: $fn on CPU $server_cpu; clients on CPU $client_cpu, one thread each; ${secs}s measured after ${warm}s of warm-up; best of $rounds rounds"
echo "- load average before: $load_before"
echo

make_bodies 64
echo "## Executor vs wrk (Blueprint JSON, 64 B args, POST /job/0)"
echo
echo "| c | wrk req/s | bpfaas req/s | req/s ratio | wrk p50 µs | bpfaas p50 µs | wrk p99 µs | bpfaas p99 µs | p99 ratio |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for c in 1 16 64; do
  read -r w_rps w_p50 w_p99 w_err o_rps o_p50 o_p99 o_err < <(best_pair \
    "run_wrk $c $tmp/json_64 application/json json_c$c" "run_ours $c json 64 json_c$c")
  total_errors=$((total_errors + w_err + o_err))
  [[ $c == 64 ]] && wrk_json_c64="$w_rps | $w_p50 | $w_p99"
  echo "| $c | $w_rps | $o_rps | $(ratio "$o_rps" "$w_rps") | $w_p50 | $o_p50 | $w_p99 | $o_p99 | $(ratio "$o_p99" "$w_p99") |"
done
echo

make_bodies 4096
make_bodies 1048576
echo "## Server throughput on one core (wrk, c=64, 64 B args)"
echo
read -r b_rps b_p50 b_p99 b_err < <(best_of run_wrk 64 "$tmp/bin_64" application/vnd.blueprint.job+octet-stream bin_c64)
total_errors=$((total_errors + b_err))
echo "| format | req/s | p50 µs | p99 µs |"
echo "|---|---:|---:|---:|"
echo "| Blueprint JSON | $wrk_json_c64 |"
echo "| binary framing | $b_rps | $b_p50 | $b_p99 |"
echo

echo "## Binary framing vs Blueprint JSON (bpfaas bench http, c=16, echo)"
echo
echo "| args | JSON req/s | binary req/s | binary/JSON | JSON p50 µs | binary p50 µs | JSON p99 µs | binary p99 µs |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in 64 4096 1048576; do
  read -r j_rps j_p50 j_p99 j_err b_rps b_p50 b_p99 b_err < <(best_pair \
    "run_ours 16 json $n json_$n" "run_ours 16 binary $n bin_$n")
  total_errors=$((total_errors + j_err + b_err))
  case $n in 64) label="64 B";; 4096) label="4 KiB";; 1048576) label="1 MiB";; esac
  echo "| $label | $j_rps | $b_rps | $(ratio "$b_rps" "$j_rps")x | $j_p50 | $b_p50 | $j_p99 | $b_p99 |"
done
echo
echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg); failed requests in the reported runs: $total_errors"
[[ $total_errors -eq 0 ]]
