#!/usr/bin/env bash
# RPZ benchmark: `ward list export --format rpz` and an AXFR of the zone
# from the `[rpz]` feed of `ward serve`, on synthetic lists.
#
#   bench/rpz.sh                 # 1m and 10m entries
#   bench/rpz.sh 1m              # one size (1m, 10m, 250k, or a number)
#
# For each size: export (wall, peak RSS via /usr/bin/time -v, zone size);
# then `ward serve` with the feed on loopback and a TSIG key, and two
# signed AXFRs with `dig` (the first, right after start, waits for the
# zone being built; the second is served from it); then a new list with
# 500 names removed and 500 added, and a signed IXFR from the old serial: wall time of each, records, messages and
# bytes as dig counts them, and ward's resident memory before and its peak
# during the transfers (VmHWM, reset through /proc/PID/clear_refs).
#
# Sources come from bench/gen-list.py with the seed and query count of
# bench/list.sh (bench/out/src-SIZE.txt, reused by both scripts); the list
# is built with the demo key. Not run in CI. Results go to
# bench/out/rpz-results.md; binaries are built in target/bench-list/
# (override with CARGO_TARGET_DIR, or WARD_BIN for a ready binary).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
mkdir -p "$OUT"
SEED=${SEED:-1}
PER_CLASS=${PER_CLASS:-100000}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1m 10m)

say() { printf '\n== %s\n' "$*" >&2; }
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

for tool in dig /usr/bin/time python3; do
    command -v "$tool" >/dev/null || {
        echo "need $tool (apt-get install bind9-dnsutils time python3)" >&2
        exit 1
    }
done
bench_ward "$ROOT"

WORK=$(mktemp -d)
WARD_PID=
cleanup() {
    [ -z "$WARD_PID" ] || kill "$WARD_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

entries() { # 1m -> 1000000, 250k -> 250000, 1234 -> 1234
    case $1 in
    *m) echo $((${1%m} * 1000000)) ;;
    *k) echo $((${1%k} * 1000)) ;;
    *) echo "$1" ;;
    esac
}
# GNU time -v field by name; "h:mm:ss" or "m:ss.ss" to seconds.
tfield() { grep -F "$2" "$1" | sed 's/.*: //'; }
to_secs() { awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }
kib_of() { grep -E "^$2:" "/proc/$1/status" | awk '{print $2}'; }
now_ms() { date +%s%3N; }

SECRET=$(head -c 32 /dev/urandom | base64)
printf '%s\n' "$SECRET" >"$WORK/feed.secret"

RESULTS=$OUT/rpz-results.md
{
    echo "# ward RPZ benchmark"
    echo
    echo "- date: $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
    echo "- $(dig -v 2>&1 | head -1); seed $SEED"
} >"$RESULTS"

for S in "${SIZES[@]}"; do
    N=$(entries "$S")
    SRC=$OUT/src-$S.txt
    ART=$OUT/rpz-$S.ward
    ZONE=$OUT/rpz-$S.zone
    # The same files and marker as bench/list.sh, so either script reuses
    # what the other generated.
    if [ ! -s "$SRC" ] || [ "$(cat "$OUT/src-$S.seed" 2>/dev/null)" != "$SEED/$PER_CLASS" ]; then
        say "generating $N entries (seed $SEED)"
        python3 bench/gen-list.py --entries "$N" --seed "$SEED" --per-class "$PER_CLASS" \
            --out "$SRC" --queries "$OUT/queries-$S.tsv"
        echo "$SEED/$PER_CLASS" >"$OUT/src-$S.seed"
    fi
    if [ ! -s "$ART" ] || [ "$ART" -ot "$SRC" ]; then
        say "ward list build, $S entries"
        "$WARD" list build --key examples/demo.key --serial 2026120701 --list-id bench \
            --valid-for 30d --confidential csam -o "$ART" "$SRC" >&2
    fi

    # --- export -----------------------------------------------------------
    say "ward list export --format rpz, $S entries"
    cat "$ART" >/dev/null # in the page cache, as for the feed below
    /usr/bin/time -v -o "$WORK/export.time" "$WARD" list export --list "$ART" \
        --trust examples/demo.pub --format rpz --zone child.rpz. -o "$ZONE" \
        2>"$WORK/export.err"
    EXPORT_WALL=$(tfield "$WORK/export.time" "Elapsed (wall clock)" | to_secs)
    EXPORT_RSS=$(tfield "$WORK/export.time" "Maximum resident set size")
    ZONE_BYTES=$(stat -c %s "$ZONE")
    ZONE_RECORDS=$(grep -cv '^[;$]' "$ZONE")

    # --- AXFR from the feed ---------------------------------------------
    say "ward serve with [rpz], two AXFRs, $S entries"
    rm -rf "$WORK/state"
    cat >"$WORK/ward.toml" <<TOML
[dns]
listen = ["127.0.0.1:0"]
upstreams = ["127.0.0.1:9"]
[list]
file = "$WORK/list.ward"
trusted_keys = ["$ROOT/examples/demo.pub"]
state_dir = "$WORK/state"
[admin]
listen = "127.0.0.1:0"
[rpz]
listen = ["127.0.0.1:0"]
zone = "child.rpz."
allow_transfer = ["127.0.0.1/32"]
[[rpz.tsig]]
name = "bench-key."
algorithm = "hmac-sha256"
secret_file = "$WORK/feed.secret"
TOML
    cp "$ART" "$WORK/list.ward"
    NO_COLOR=1 RUST_LOG=info "$WARD" serve --config "$WORK/ward.toml" 2>"$WORK/ward.log" &
    WARD_PID=$!
    for _ in $(seq 1200); do
        grep -q "rpz feed listening for TCP" "$WORK/ward.log" && break
        kill -0 "$WARD_PID" 2>/dev/null || { cat "$WORK/ward.log" >&2; exit 1; }
        sleep 0.1
    done
    FEED=$(grep -o 'rpz feed listening for TCP on [0-9.:]*' "$WORK/ward.log" | awk '{print $NF}')
    [ -n "$FEED" ] || { cat "$WORK/ward.log" >&2; exit 1; }
    RSS_BEFORE=$(kib_of "$WARD_PID" VmRSS)
    echo 5 >"/proc/$WARD_PID/clear_refs" # VmHWM from here on
    axfr() { # N: wall ms of AXFR number N; dig's output in $WORK/axfr.N
        local t0 t1
        t0=$(now_ms)
        /usr/bin/time -v -o "$WORK/dig.$1.time" dig +time=600 +tries=1 -y "hmac-sha256:bench-key:$SECRET" \
            -p "${FEED##*:}" "@${FEED%:*}" child.rpz AXFR +noall +stats >"$WORK/axfr.$1"
        t1=$(now_ms)
        grep -q 'XFR size' "$WORK/axfr.$1" || { tail "$WORK/axfr.$1" >&2; exit 1; }
        ! grep -qE 'Transfer failed|verify failure' "$WORK/axfr.$1" || { tail "$WORK/axfr.$1" >&2; exit 1; }
        echo $((t1 - t0))
    }
    FIRST_MS=$(axfr 1)
    HWM_FIRST=$(kib_of "$WARD_PID" VmHWM)
    RSS_AFTER=$(kib_of "$WARD_PID" VmRSS)
    SECOND_MS=$(axfr 2)
    HWM=$(kib_of "$WARD_PID" VmHWM)
    XFR=$(grep -o 'XFR size: .*' "$WORK/axfr.2")
    DIG_RSS=$(tfield "$WORK/dig.2.time" "Maximum resident set size")
    BUILT=$(grep -o 'rpz feed: zone built.*' "$WORK/ward.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g')

    # --- IXFR of a 1,000-name change ---------------------------------------
    say "a new list with 500 names removed and 500 added, IXFR, $S entries"
    { tail -n +501 "$SRC"; for i in $(seq 500); do echo "bench-new-$i.example adult"; done; } >"$WORK/src2.txt"
    "$WARD" list build --key examples/demo.key --serial 2026120702 --list-id bench \
        --valid-for 30d --confidential csam -o "$WORK/list2.ward" "$WORK/src2.txt" >&2
    mv "$WORK/list2.ward" "$WORK/list.ward"
    T0=$(now_ms)
    kill -HUP "$WARD_PID"
    for _ in $(seq 6000); do
        grep -q 'zone built.*serial=2026120702\|serial=2026120702.*zone built' "$WORK/ward.log" && break
        sleep 0.01
    done
    ACTIVATE_MS=$(($(now_ms) - T0))
    T0=$(now_ms)
    dig +time=600 +tries=1 -y "hmac-sha256:bench-key:$SECRET" -p "${FEED##*:}" "@${FEED%:*}" \
        child.rpz IXFR=2026120701 +noall +answer +stats >"$WORK/ixfr"
    IXFR_MS=$(($(now_ms) - T0))
    IXFR_RECORDS=$(grep -cv '^;' "$WORK/ixfr" || true)
    IXFR_SIZE=$(grep -o 'XFR size: .*' "$WORK/ixfr" || echo "no XFR size")
    IXFR_BUILT=$(grep -o 'rpz feed: zone built.*' "$WORK/ward.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g')
    HWM_IXFR=$(kib_of "$WARD_PID" VmHWM)
    kill "$WARD_PID"
    wait "$WARD_PID" 2>/dev/null || true
    WARD_PID=

    {
        echo
        echo "## $S entries ($N)"
        echo
        echo "- load average when done: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share the $(nproc) CPUs)"
        echo "- export: wall $EXPORT_WALL s, max RSS $(mib "$EXPORT_RSS"); zone file $ZONE_BYTES bytes ($(awk -v b="$ZONE_BYTES" 'BEGIN {printf "%.1f MiB", b / 1048576}')), $ZONE_RECORDS records"
        echo "  - stderr: $(tr '\n' ' ' <"$WORK/export.err")"
        echo "- feed, first AXFR (right after start: waits for the zone being built): $FIRST_MS ms; second AXFR (zone built): $SECOND_MS ms; $XFR"
        echo "- ward RSS before the first AXFR $(mib "$RSS_BEFORE"), after it $(mib "$RSS_AFTER"); peak during the first $(mib "$HWM_FIRST"), during both $(mib "$HWM")"
        echo "- dig's max RSS for the second AXFR: $(mib "$DIG_RSS")"
        echo "- ward's log: $BUILT"
        echo "- a 1,000-name change (500 removed, 500 added): SIGHUP to the new zone and its changes built: $ACTIVATE_MS ms; IXFR from the old serial: $IXFR_MS ms, $IXFR_RECORDS lines; $IXFR_SIZE; ward's peak RSS so far $(mib "$HWM_IXFR")"
        echo "- ward's log: $IXFR_BUILT"
    } >>"$RESULTS"
done

say "summary: $RESULTS"
cat "$RESULTS"
