#!/usr/bin/env bash
# The ceiling under bench/dnsperf.sh's conditions: how many answers per
# CPU-second a UDP echo server gets, next to ward and dnsdist on blocked
# names, in one run with the same pinning and the same dnsperf load.
#
#   bench/ceiling.sh                  # as root, after bench/dnsperf.sh
#   REPEATS=5 DURATION=15 bench/ceiling.sh
#
# bench/echo/udp-echo.c sends every query straight back, with the system
# calls of ward's UDP fast path (recvmmsg of up to 32, one sendmmsg).
# dnsperf counts an echoed query as a NOERROR answer. No DNS server that
# receives and sends through these calls can answer more per CPU-second,
# so the echo figure bounds any ratio to dnsdist this bench can show:
# "ward >= 2 x dnsdist" needs 2 x dnsdist <= echo.
#
# Servers on SERVER_CPU (1), dnsperf on CLIENT_CPU (0) with dnsperf.sh's
# arguments (-c 8 -q 300 -T 2 -t 2), the blocked query file
# (q-blocked.txt), DURATION (10) s per run, REPEATS (3) rounds with the
# order rotated. Inputs from bench/dnsperf.sh (bench/out/dnsperf/): the
# 1M list and ward's and dnsdist's configurations (ports 53531 and 53533;
# blocked names need no upstream). Needs gcc, dnsperf, dnsdist, taskset.
# WARD_BIN (default: the private copy dnsperf.sh ran,
# bench/out/dnsperf/ward). Prints a markdown table; traffic stays on
# 127.0.0.1, and every server is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
IN=$ROOT/bench/out/dnsperf
OUT=$ROOT/bench/out/ceiling
DURATION=${DURATION:-10}
REPEATS=${REPEATS:-3}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
ECHO_PORT=${ECHO_PORT:-53598}
WARD=${WARD_BIN:-$IN/ward}
die() { echo "ceiling.sh: $*" >&2; exit 1; }
for f in ward-1m.toml dnsdist.conf q-blocked.txt dns-1m.ward; do
    [ -e "$IN/$f" ] || die "missing $IN/$f: run bench/dnsperf.sh once first"
done
[ -x "$WARD" ] || die "no ward binary at $WARD (set WARD_BIN)"
for c in gcc dnsperf dnsdist taskset; do command -v $c >/dev/null || die "needs $c"; done
mkdir -p "$OUT"
gcc -O2 -Wall -Wextra -o "$OUT/udp-echo" bench/echo/udp-echo.c

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
taskset -c "$SERVER_CPU" "$OUT/udp-echo" 127.0.0.1 "$ECHO_PORT" 2>"$OUT/echo.log" &
ECHO_PID=$!; PIDS+=("$ECHO_PID")
taskset -c "$SERVER_CPU" "$WARD" serve --config "$IN/ward-1m.toml" 2>"$OUT/ward.log" &
WARD_PID=$!; PIDS+=("$WARD_PID")
taskset -c "$SERVER_CPU" dnsdist --supervised --disable-syslog -C "$IN/dnsdist.conf" >"$OUT/dnsdist.log" 2>&1 &
DNSDIST_PID=$!; PIDS+=("$DNSDIST_PID")
name=$(awk 'NR == 1 {print $1}' "$IN/q-blocked.txt")
for port in 53531 53533; do
    for _ in $(seq 300); do
        dig +time=1 +tries=1 -p "$port" @127.0.0.1 "$name" A 2>/dev/null | grep -q 'status: NXDOMAIN' && break
        sleep 0.1
    done
done
sleep 1

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # NAME PORT PID REP
    local log=$OUT/run-$1-$4.log t0 t1 qps done_ secs
    t0=$(cpu "$3")
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$2" -d "$IN/q-blocked.txt" \
        -c 8 -q 300 -T 2 -t 2 -l "$DURATION" >"$log" 2>&1
    t1=$(cpu "$3")
    qps=$(sed -n 's/^ *Queries per second: *//p' "$log")
    done_=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$log")
    secs=$(awk -v a="$t0" -v b="$t1" -v t="$ticks" 'BEGIN { printf "%.2f", (b - a) / t }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$4" "$qps" "$done_" "$secs" \
        "$(awk -v d="$done_" -v s="$secs" 'BEGIN { printf "%.0f", d / s }')" >>"$OUT/results.tsv"
    echo "== $1 #$4: $qps QPS, $done_ answers, $secs server CPU-s, $(tail -1 "$OUT/results.tsv" | cut -f6) answers/CPU-s; $(grep -o 'Response codes:.*' "$log")" >&2
}
: >"$OUT/results.tsv"
# Warm-up, unmeasured: fills ward's verdict cache and dnsdist's state.
for p in "$ECHO_PORT:$ECHO_PID" "53531:$WARD_PID" "53533:$DNSDIST_PID"; do
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "${p%%:*}" -d "$IN/q-blocked.txt" -c 8 -q 300 -T 2 -t 2 -l 3 >/dev/null 2>&1
done
servers=(echo ward dnsdist)
for rep in $(seq "$REPEATS"); do
    for k in 0 1 2; do
        s=${servers[$(((k + rep - 1) % 3))]}
        case $s in
            echo) run echo "$ECHO_PORT" "$ECHO_PID" "$rep" ;;
            ward) run ward 53531 "$WARD_PID" "$rep" ;;
            dnsdist) run dnsdist 53533 "$DNSDIST_PID" "$rep" ;;
        esac
    done
done

python3 - "$OUT/results.tsv" "$DURATION" "$REPEATS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {}
for name, rep, qps, done, secs, apc in rows:
    by.setdefault(name, []).append((float(qps), int(apc), float(secs)))
med = {n: (statistics.median(q for q, _, _ in v), statistics.median(a for _, a, _ in v),
           statistics.median(s for _, _, s in v)) for n, v in by.items()}
d = int(sys.argv[2])
print(f"# Blocked names: ward and dnsdist against the UDP echo ceiling ({sys.argv[3]} runs of {d} s, medians)\n")
print("| server | QPS | server CPU | answers/CPU-s | ÷ echo | ÷ dnsdist |")
print("|---|---:|---:|---:|---:|---:|")
for n in ("echo", "ward", "dnsdist"):
    q, a, s = med[n]
    print(f"| {n} | {q:,.0f} | {s / d:.2f} | {a:,} | {a / med['echo'][1]:.2f} | {a / med['dnsdist'][1]:.2f} |")
print(f"\n2 × dnsdist = {2 * med['dnsdist'][1]:,} answers/CPU-s; the echo ceiling is {med['echo'][1]:,}"
      f" ({med['echo'][1] / med['dnsdist'][1]:.2f} × dnsdist).")
PY
