#!/usr/bin/env bash
# List swap benchmark: how long `ward serve` takes to put a new list in
# force once the file is on disk (issue 9's "activation under 1 s for a
# 10-million-entry list"), and what the swap does to its memory.
#
#   bench/swap.sh                 # 10M list, ward on CPU 1, 5 swaps
#   CPUS=0-1 bench/swap.sh        # ward on both CPUs
#   SIZE=1m SWAPS=3 bench/swap.sh
#
# ward serves `list.file`. Each swap copies the next serial's artifact
# next to it, renames it over the live file (as an updater would), and
# sends SIGHUP. Serials only go forward (1, 2, 3, ...): ward refuses a
# list older than one it accepted, from a file as from the endpoint. Two times are read per swap:
#
#   activation_ms   ward's own log line "SIGHUP: list reloaded": from the
#                   signal to the swap (map, signature and payload hash,
#                   deep check of every fst node, whole-file hash, swap);
#   answered        from the signal until `dig CH TXT list.ward` reports
#                   the new serial (polled every 10 ms; a dig costs a few
#                   ms, so read it to about ±20 ms).
#
# Memory: VmRSS (and RssAnon) before, the peak during the swap (VmHWM,
# reset through /proc/PID/clear_refs just before the signal; needs root)
# and VmRSS 3 s after; the goal is after ÷ before < 1.10. Inputs: bench/out/act-SIZE-{1,2}.ward, the artifacts
# bench/activation.sh builds (from bench/list.sh's source lists), built
# here the same way if missing. Environment: SIZE (10m), SWAPS (5), CPUS
# (1: taskset list for ward), PORT (53590), WARD_BIN (default: build
# release into CARGO_TARGET_DIR, default target/bench-list).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
SIZE=${SIZE:-10m}
SWAPS=${SWAPS:-5}
CPUS=${CPUS:-1}
PORT=${PORT:-53590}
command -v dig >/dev/null || { echo "swap.sh: needs dig (apt-get install -y bind9-dnsutils)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_ward "$ROOT"
SRC=$OUT/src-$SIZE.txt
for serial in $(seq 1 $((SWAPS + 1))); do
    f=$OUT/act-$SIZE-$serial.ward
    [ -f "$f" ] && continue
    [ -f "$SRC" ] || { echo "swap.sh: missing $SRC: run bench/list.sh first" >&2; exit 1; }
    "$WARD" list build --key examples/demo.key --serial $serial --list-id bench \
        --valid-for 30d --confidential csam -o "$f" "$SRC" >/dev/null
done

WORK=$(mktemp -d)
cleanup() {
    if [ -n "${WARD_PID:-}" ]; then
        kill "$WARD_PID" 2>/dev/null || true
        # Until it has exited and freed the port for the next run.
        wait "$WARD_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
cp "$OUT/act-$SIZE-1.ward" "$WORK/list.ward"
cat >"$WORK/ward.toml" <<EOF
[dns]
listen = ["127.0.0.1:$PORT"]
upstreams = ["127.0.0.1:9"]
allow_clients = ["127.0.0.0/8"]
udp_workers = 1
[list]
file = "$WORK/list.ward"
trusted_keys = ["$ROOT/examples/demo.pub"]
state_dir = "$WORK/state"
require_list = true
[admin]
listen = "off"
[log]
level = "info"
EOF
mkdir -p "$WORK/state"
taskset -c "$CPUS" "$WARD" serve --config "$WORK/ward.toml" 2>"$WORK/log" &
WARD_PID=$!
serial() {
    dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 CH TXT list.ward 2>/dev/null |
        grep -o 'serial=[0-9]*' | cut -d= -f2 || true
}
mib() { awk -v k="$1:" '$1 == k {printf "%.1f", $2 / 1024}' "/proc/$WARD_PID/status"; }
now() { date +%s.%N; }
for _ in $(seq 600); do [ "$(serial)" = 1 ] && break; sleep 0.1; done
[ "$(serial)" = 1 ] || { cat "$WORK/log" >&2; echo "swap.sh: ward did not start" >&2; exit 1; }
sleep 2

echo "# ward list swap ($SIZE entries, $(stat -c %s "$OUT/act-$SIZE-1.ward" | awk '{printf "%.1f MiB", $1/1048576}'))"
echo
echo "- date: $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD); ward on CPUs $CPUS of $(nproc); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| swap | to serial | activation_ms (log) | answered (dig) | VmRSS before (anon) | VmHWM during | VmRSS after (anon) | after ÷ before |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for i in $(seq "$SWAPS"); do
    to=$((i + 1))
    cp -f "$OUT/act-$SIZE-$to.ward" "$WORK/list.ward.tmp"
    mv -f "$WORK/list.ward.tmp" "$WORK/list.ward"
    sync
    before=$(mib VmRSS) before_anon=$(mib RssAnon)
    echo 5 >"/proc/$WARD_PID/clear_refs"
    t0=$(now)
    kill -HUP "$WARD_PID"
    while [ "$(serial)" != "$to" ]; do
        awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 60) }' &&
            { tail -5 "$WORK/log" >&2; echo "swap.sh: serial $to not in force after 60 s" >&2; exit 1; }
        sleep 0.01
    done
    answered=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f s", b - a }')
    hwm=$(mib VmHWM)
    sleep 3
    ms=$(grep 'SIGHUP: list reloaded' "$WORK/log" | tail -1 | grep -o 'activation_ms=[0-9]*' | cut -d= -f2)
    after=$(mib VmRSS)
    echo "| $i | $to | $ms | $answered | $before MiB ($before_anon) | $hwm MiB | $after MiB ($(mib RssAnon)) | $(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.3f", a / b }') |"
done
