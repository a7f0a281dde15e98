#!/usr/bin/env bash
# Soak test (issue 24; not in CI): ten minutes of mixed load on a release
# `ward serve` while its list changes every 2 s, its upstream flaps, its
# list endpoint now and then serves an invalid list, and the attacks of
# issue 24 run in turn. At the end: zero wrong answers, ward still running,
# and its memory within 10 % of the level before the attacks.
#
#   bench/soak.sh                          # 600 s, as the issue asks
#   DURATION=120 RATE=800 bench/soak.sh    # a shorter look
#   bench/soak.sh --no-attacks             # load, swaps, flaps only
#
# Everything runs on loopback (bench/soak/soak.py has the details):
#
#   * a checker at RATE queries/s (default 1500) from 127.0.0.1, exempt
#     from [limits]: 40 % names under 1,000 listed domains (each must get
#     the sinkhole address with EDE 16, never anything from upstream),
#     35 % a pool of 2,000 allowed names, 20 % new allowed names (misses),
#     and names whose upstream answer carries a TTL of 2^32-1 or an extra
#     A record for a listed name (both must be cut); plus, every second, a
#     new TCP connection and a GET /readyz, which must succeed throughout;
#   * an HTTPS endpoint (test CA from `openssl`) publishing serial n+1
#     every SWAP seconds (default 2; ward polls every 1 s), and every tenth
#     swap instead one invalid list in turn: foreign key, truncated,
#     garbage, rollback, another list id, expired;
#   * an upstream (UDP, truncating above the query's EDNS size, and TCP)
#     that goes silent, SERVFAILs or REFUSEs in turn for 5 s every
#     DURATION/30 s (20 s);
#   * from 15 % of the run, the attacks in turn, each for 7.5 % of it:
#     the state directory's list overwritten/truncated/replaced in place;
#     1,100 TCP connections asking every 8 s; 200 TCP clients that never
#     read; 2,000 slowloris admin connections; a UDP flood of TXT/ANY with
#     EDNS 4096 (amplification); random subdomains under a listed name;
#     random datagrams. ward runs with [limits] client_qps = 2000 per /32,
#     rrl = 100, slip = 2.
#
# Memory: the median VmRSS over the last 7.5 % of the warm-up (15 % of the
# run: the cache is full at cache.max_entries = 2000 and the upstream has
# flapped each way once) against the median over the last 7.5 % of the run
# (after 15 % of the run without attacks); medians, because the resident
# set swings by a few MB with each flap and each 30 s trim.
# The summary (JSON) is printed and kept in bench/out/soak-*.json.
# Needs python3 and openssl. Environment: DURATION (600), RATE (1500),
# SWAP (2), PORT (53700; uses PORT..PORT+3), WARD_BIN (default: build
# release into CARGO_TARGET_DIR, default target/bench-list).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
command -v openssl >/dev/null || { echo "soak.sh: needs openssl" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_ward "$ROOT"
exec python3 bench/soak/soak.py --ward "$WARD" --root "$ROOT" --out "$ROOT/bench/out" "$@" \
    --duration "${DURATION:-600}" --rate "${RATE:-1500}" --swap "${SWAP:-2}" \
    --port "${PORT:-53700}"
