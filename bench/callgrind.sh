#!/usr/bin/env bash
# Instructions per query on ward's hot path, counted by callgrind: the
# regression signal tracked in docs/performance.md. Unlike queries per
# second, the count does not move with machine load.
#
#   bench/callgrind.sh                 # N=20000 queries per path
#   N=100000 bench/callgrind.sh
#
# Builds benches/hot_path.rs (release, the bench profile), lets it build
# its 100 000-name list once natively, then runs it under
# `valgrind --tool=callgrind` once per path with WARD_CALLGRIND=PATH:N.
# Only the instructions inside `callgrind_loop` (the N queries and what
# they call) are collected; the fixture's set-up is not. Paths:
#
#   parse            query::parse of a typical query (RD, EDNS 1232)
#   lookup-allowed   the list lookup of an allowed name (filter screen)
#   lookup-blocked   the list lookup of a blocked name (screen + fst walk)
#   lookup-allowed-delta, lookup-blocked-delta
#                    the same with a delta of 1 000 changed names in force
#                    (list::delta::Overlay; not in the default PATHS)
#   cached           Engine::prepare of the allowed query: ACL, cache hit
#                    stored under this list (no lookup), answer encoded
#                    with TTLs patched; the engine holds an empty profile
#                    store, as `ward serve` without [[profile]] does
#   blocked          Engine::prepare of a blocked name asked before under
#                    this list: ACL, the cache's verdict, NXDOMAIN + SOA +
#                    EDE encoded
#   blocked-nocache  the same on an engine without a cache: ACL, list
#                    lookup, answer (a name's first query under a list)
#   cached-profiled  `cached` on an engine with 50 school profiles over
#                    10 000 client networks (3 local lists each), from a
#                    client of one in a /16 holding 200 of them: the
#                    profile's selection, and what it says of the cached
#                    answer (remembered after the first hit)
#   cached-unmatched the same engine, from a client in that /16 that no
#                    profile selects
#   filtered         that engine, a name the profile's own list blocks
#                    (EDE 17): national lookup, profile lookup, answer
#
# Prints a markdown table (instructions per query) and, per path, the ten
# functions with the most instructions (self cost). Raw callgrind files go
# to bench/out/callgrind/ (git-ignored); open them with callgrind_annotate
# or kcachegrind. Environment: N (20000), PATHS (all of the above), WARD_BENCH_ENTRIES (100000),
# CARGO_TARGET_DIR (target).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20000}
OUT=bench/out/callgrind
PATHS=${PATHS:-"parse lookup-allowed lookup-blocked cached blocked blocked-nocache cached-profiled cached-unmatched filtered"}
mkdir -p "$OUT"

if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "callgrind.sh: install valgrind (apt-get install -y valgrind)" >&2; exit 1; }
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y valgrind >&2
fi

exe=$(cargo bench --bench hot_path --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "hot_path" and m.get("executable"):
        print(m["executable"])
')
[ -x "$exe" ] || { echo "callgrind.sh: could not build benches/hot_path.rs" >&2; exit 1; }

# Natively first: builds the list once and checks every path answers.
for path in $PATHS; do
    WARD_CALLGRIND=$path:10 "$exe" >/dev/null
done

printf '| path | instructions per query |\n|---|---:|\n'
for path in $PATHS; do
    # The delta paths build their overlay inside callgrind_loop; only
    # their inner loop is counted.
    case $path in *-delta) toggle='*lookup_loop*' ;; *) toggle='*callgrind_loop*' ;; esac
    WARD_CALLGRIND=$path:$N valgrind --tool=callgrind --callgrind-out-file="$OUT/$path.out" \
        --toggle-collect="$toggle" "$exe" >"$OUT/$path.log" 2>&1
    total=$(callgrind_annotate "$OUT/$path.out" 2>/dev/null |
        awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }')
    printf '| %s | %s |\n' "$path" "$(awk -v t="$total" -v n="$N" 'BEGIN { printf "%.0f", t / n }')"
done
for path in $PATHS; do
    printf '\n%s: top functions (self instructions per query)\n\n' "$path"
    callgrind_annotate --inclusive=no --auto=no "$OUT/$path.out" 2>/dev/null |
        awk -v n="$N" '/file:function/ { on = 1; next }
            on && NF >= 3 && $1 ~ /^[0-9,]+$/ {
                c = $1; gsub(",", "", c)
                fn = $0; sub(/^[^ ]+ +\([^)]*\) +/, "", fn); sub(/ \[.*$/, "", fn); sub(/^.*:/, "", fn)
                sum[fn] += c
            }
            END { for (fn in sum) printf "%8.0f  %s\n", sum[fn] / n, fn }' |
        sort -rn | awk 'NR <= 10'
done
