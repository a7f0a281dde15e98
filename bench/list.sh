#!/usr/bin/env bash
# Signed-list benchmark: build time and peak RSS of `ward list build`,
# artifact size, `ward list verify` time, and per-name lookup cost.
#
#   bench/list.sh                    # 1M and 10M entries
#   bench/list.sh 1000000            # chosen sizes
#   BUILD_RUNS=1 bench/list.sh 10000000
#
# Environment: SEED (default 1), PER_CLASS queries per class (100000),
# BUILD_RUNS (3), VERIFY_RUNS (10), ROUNDS lookup passes (5).
# Scratch files go to bench/out/ (git-ignored); a summary is written to
# bench/out/results.md and every raw log is kept next to it. Binaries are
# built in target/bench-list/ (override with CARGO_TARGET_DIR) so that no
# other build can swap them during the run.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
mkdir -p "$OUT"

SEED=${SEED:-1}
PER_CLASS=${PER_CLASS:-100000}
BUILD_RUNS=${BUILD_RUNS:-3}
VERIFY_RUNS=${VERIFY_RUNS:-10}
ROUNDS=${ROUNDS:-5}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000000 10000000)

say() { printf '\n== %s\n' "$*" >&2; }

# Tools: GNU time for peak RSS, hyperfine for repeated timings, bc.
missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v hyperfine >/dev/null || missing+=(hyperfine)
command -v bc >/dev/null || missing+=(bc)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y "${missing[@]}" >&2 ||
            { apt-get update >&2 && apt-get install -y "${missing[@]}" >&2; } || true
    fi
fi
[ -x /usr/bin/time ] || { echo "need GNU time (apt-get install time)" >&2; exit 1; }
HAVE_HYPERFINE=0
command -v hyperfine >/dev/null && HAVE_HYPERFINE=1

# A private target directory: other builds in the shared one (tests, other
# work trees' cargo runs) would otherwise replace the binaries mid-run.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/bench-list}
say "building release binaries in $CARGO_TARGET_DIR"
cargo build --release >&2
cargo bench --bench list --no-run >&2
WARD=$CARGO_TARGET_DIR/release/ward

label() { # 1000000 -> 1m, 10000000 -> 10m, 250000 -> 250k
    local n=$1
    if [ $((n % 1000000)) = 0 ]; then echo "$((n / 1000000))m"
    elif [ $((n % 1000)) = 0 ]; then echo "$((n / 1000))k"
    else echo "$n"; fi
}

# GNU time -v field by name.
tfield() { grep -F "$2" "$1" | sed 's/.*: //'; }
# "h:mm:ss" or "m:ss.ss" to seconds.
to_secs() { awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }'; }

{
    echo "# ward list benchmark results"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (src/ or Cargo files have uncommitted changes)')"
    echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
    echo "- kernel: $(uname -r); rustc: $(rustc --version)"
    echo "- seed $SEED, $PER_CLASS queries per class"
    echo
} >"$OUT/results.md"

for N in "${SIZES[@]}"; do
    L=$(label "$N")
    SRC=$OUT/src-$L.txt
    QRY=$OUT/queries-$L.tsv
    ART=$OUT/list-$L.ward

    if [ ! -s "$SRC" ] || [ ! -s "$QRY" ] || [ "$(cat "$OUT/src-$L.seed" 2>/dev/null)" != "$SEED/$PER_CLASS" ]; then
        say "generating $N entries (seed $SEED)"
        python3 bench/gen-list.py --entries "$N" --seed "$SEED" --per-class "$PER_CLASS" \
            --out "$SRC" --queries "$QRY"
        echo "$SEED/$PER_CLASS" >"$OUT/src-$L.seed"
    fi
    SRC_BYTES=$(stat -c %s "$SRC")

    # --- build -----------------------------------------------------------
    say "ward list build, $L entries, $BUILD_RUNS run(s)"
    cat "$SRC" >/dev/null # source in page cache, like the artifact below
    walls=() rsss=()
    for r in $(seq 1 "$BUILD_RUNS"); do
        /usr/bin/time -v -o "$OUT/build-$L.$r.time" \
            "$WARD" list build --key examples/demo.key --serial 1 --list-id bench \
            --valid-for 7d --confidential csam -o "$ART" "$SRC" >"$OUT/build-$L.$r.log"
        w=$(tfield "$OUT/build-$L.$r.time" "Elapsed (wall clock)" | to_secs)
        k=$(tfield "$OUT/build-$L.$r.time" "Maximum resident set size")
        u=$(tfield "$OUT/build-$L.$r.time" "User time")
        s=$(tfield "$OUT/build-$L.$r.time" "System time")
        walls+=("$w") rsss+=("$k")
        printf '  run %d: wall %s s (user %s s, sys %s s), max RSS %.0f MiB\n' \
            "$r" "$w" "$u" "$s" "$(echo "$k / 1024" | bc -l)" >&2
    done
    cat "$OUT/build-$L.1.log" >&2
    WALL_MED=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    WALL_MIN=$(printf '%s\n' "${walls[@]}" | sort -n | head -1)
    WALL_MAX=$(printf '%s\n' "${walls[@]}" | sort -n | tail -1)
    RSS_MAX=$(printf '%s\n' "${rsss[@]}" | sort -n | tail -1)

    ART_BYTES=$(stat -c %s "$ART")
    PER_M=$(echo "$ART_BYTES / ($N / 1000000) / 1048576" | bc -l)

    # --- verify ----------------------------------------------------------
    say "ward list verify, $L entries (file in page cache)"
    cat "$ART" >/dev/null
    VERIFY_CMD="$WARD list verify --trust examples/demo.pub $ART"
    if [ $HAVE_HYPERFINE = 1 ]; then
        hyperfine -N --warmup 2 --runs "$VERIFY_RUNS" --export-json "$OUT/verify-$L.json" \
            "$VERIFY_CMD" >&2
        read -r V_MEAN V_MED V_MIN V_MAX < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(*(f"{r[k]*1e3:.1f}" for k in ("mean", "median", "min", "max")))' "$OUT/verify-$L.json")
    else
        ts=()
        for r in $(seq 1 "$VERIFY_RUNS"); do
            /usr/bin/time -f %e -o "$OUT/verify-$L.time" $VERIFY_CMD >/dev/null
            ts+=("$(cat "$OUT/verify-$L.time")")
        done
        read -r V_MEAN V_MED V_MIN V_MAX < <(printf '%s\n' "${ts[@]}" | sort -n |
            awk '{a[NR]=$1*1000; s+=$1*1000} END {printf "%.1f %.1f %.1f %.1f\n", s/NR, a[int((NR+1)/2)], a[1], a[NR]}')
    fi
    /usr/bin/time -v -o "$OUT/verify-$L.time" $VERIFY_CMD >&2
    V_RSS=$(tfield "$OUT/verify-$L.time" "Maximum resident set size")

    # Disk speed for this file: a sequential O_DIRECT read bypasses the
    # page cache without needing root to drop it.
    DISK=$(dd if="$ART" of=/dev/null bs=16M iflag=direct 2>&1 | tail -1 | sed 's/.*, //')

    # Cold: evict just this file from the page cache (dd iflag=nocache
    # count=0 calls posix_fadvise DONTNEED), then verify. Other files'
    # cache is left alone.
    cold=()
    for r in 1 2 3; do
        dd if="$ART" iflag=nocache count=0 status=none
        /usr/bin/time -f %e -o "$OUT/verify-cold-$L.time" $VERIFY_CMD >/dev/null
        cold+=("$(awk '{printf "%.0f", $1 * 1000}' "$OUT/verify-cold-$L.time")")
    done
    COLD=$(printf '%s\n' "${cold[@]}" | sort -n | paste -sd/ -)
    printf '  cold verify (ms, 3 runs): %s\n' "$COLD" >&2

    # --- lookups ---------------------------------------------------------
    say "lookup benchmark, $L entries"
    WARD_BENCH_LIST=$ART WARD_BENCH_QUERIES=$QRY WARD_BENCH_ROUNDS=$ROUNDS \
        cargo bench --bench list 2>/dev/null | tee "$OUT/lookup-$L.txt" >&2

    {
        echo "## $L entries ($N)"
        echo
        echo "- load average when done: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share the $(nproc) CPUs)"
        echo "- source: $SRC_BYTES bytes ($(echo "$SRC_BYTES / 1048576" | bc -l | xargs printf '%.1f') MiB)"
        echo "- build wall: median $WALL_MED s (min $WALL_MIN, max $WALL_MAX, $BUILD_RUNS runs); max RSS $(echo "$RSS_MAX / 1024" | bc -l | xargs printf '%.0f') MiB"
        for r in $(seq 1 "$BUILD_RUNS"); do
            echo "  - run $r: $(tfield "$OUT/build-$L.$r.time" "Elapsed (wall clock)") wall, user $(tfield "$OUT/build-$L.$r.time" "User time") s, sys $(tfield "$OUT/build-$L.$r.time" "System time") s, max RSS $(tfield "$OUT/build-$L.$r.time" "Maximum resident set size") KiB"
        done
        echo "- build output: $(head -1 "$OUT/build-$L.1.log")"
        echo "- artifact: $ART_BYTES bytes ($(echo "$ART_BYTES / 1048576" | bc -l | xargs printf '%.1f') MiB), $(printf '%.2f' "$PER_M") MiB per million entries"
        echo "- \`ward list verify\` (whole process, page cache warm, $VERIFY_RUNS runs): mean $V_MEAN ms, median $V_MED ms, min $V_MIN ms, max $V_MAX ms; max RSS $(echo "$V_RSS / 1024" | bc -l | xargs printf '%.0f') MiB"
        echo "- sequential O_DIRECT read of the artifact: $DISK"
        echo "- \`ward list verify\` cold (file evicted from the page cache first), 3 runs sorted: $COLD ms"
        echo
        echo '```text'
        cat "$OUT/lookup-$L.txt"
        echo '```'
        echo
    } >>"$OUT/results.md"
done

say "summary: $OUT/results.md"
cat "$OUT/results.md"
