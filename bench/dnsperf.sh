#!/usr/bin/env bash
# DNS throughput, latency and memory of `ward serve` against dnsdist 1.7 and
# Unbound (Debian), all with the same 1-million-entry blocklist, measured
# with dnsperf on loopback.
#
#   bench/dnsperf.sh                  # as root: installs dnsperf, dnsdist, nsd, unbound
#   REPEATS=1 DURATION=10 bench/dnsperf.sh
#
# One run starts nsd as the authoritative upstream (root zone with a
# wildcard, so every allowed name resolves) and these servers, one after
# the other, all pinned to CPU $SERVER_CPU (ward with `udp_workers = 1`),
# recording each one's time from start to first answer, CPU-s to load and
# memory (VmRSS, RssAnon, RssFile), and warms their caches:
#
#   ward, 1M list       ward, empty list     ward, 10M list (ENTRIES_BIG)
#   dnsdist, 1M list    Unbound, 1M list
#
# then measures one server at a time (the others idle) with dnsperf pinned
# to CPU $CLIENT_CPU, rotating the order of the servers from one repeat to
# the next, REPEATS times. The cells (column `cell` of results.tsv):
#
#   main   ward 1M, dnsdist, Unbound: mixes allowed (cached), blocked, 90/10;
#          ward empty: allowed. Saturated: dnsperf -q $OUTSTANDING.
#   big    ward 10M against ward empty, interleaved, on allowed (cached)
#          names that are allowed under the 10M list (its own query file).
#   lat    ward 1M, dnsdist, Unbound on 90/10 at a fixed rate (dnsperf
#          -Q $LAT_QPS -v for $LAT_DURATION s): every query's latency is
#          parsed (p50, p99, p99.9) and the lost queries counted.
#   scale  (after the others, which are stopped first) ward 1M with
#          `udp_workers = 1` and with 2, both pinned to CPUs $SCALE_CPUS, as
#          is dnsperf (-c $SCALE_CLIENTS sockets, so SO_REUSEPORT spreads
#          them): mixes allowed (cached) and blocked, interleaved. Off by
#          default (SCALE=1 runs it): ward and dnsperf then fight over the
#          two CPUs and the cell measures that fight, not ward.
#          bench/scale.sh measures scaling with a CPU quota instead.
#
# Between the measurements and the scale cell, the swap: a serial-2
# artifact of the 10M list (built beforehand) is copied next to ward 10M's
# list file and renamed over it, ward gets SIGHUP, and the time from the
# signal until `dig CH TXT list.ward` reports serial=2 (polled every 10 ms)
# is the activation time; VmRSS before, VmHWM during (reset with
# /proc/PID/clear_refs first, as bench/activation.sh does) and VmRSS 5 s
# after are recorded.
#
# Every dnsperf run records QPS and answers per server CPU-second (queries
# answered / delta of utime+stime of the server process over the run);
# bench/dnsperf/report.py prints markdown tables (main, 10M/empty, latency,
# memory/load/swap, scaling) with the ratios to dnsdist and Unbound and the
# goals, each marked met / not met. Docs: docs/benchmarks-dns.md.
#
# Environment (defaults): ENTRIES (1000000) list size, ENTRIES_BIG
# (10000000) size of the big list (0: no big cell, no swap), SEED (1),
# NAMES (10000) distinct names per query file, DURATION (15) seconds per
# saturated dnsperf run, REPEATS (5) runs per server and mix (the tables
# show medians), CLIENTS (8), THREADS (2) and OUTSTANDING (300) for dnsperf
# -c/-T/-q (two dnsperf threads on the one client CPU: with -T 1 dnsperf
# itself is the bottleneck and the server idles about 10 % of the time),
# LAT_QPS (20000) and LAT_DURATION (10) for the lat cell, SCALE (0; 1 runs
# the scale cell), SCALE_CPUS (0,1), SCALE_CLIENTS (16, at least 8),
# SCHOOL (1; 0 skips it): ward with school profiles (the `school` list of
# the main cell: the 1M national list, plus 50 `[[profile]]`s over 10,000
# client networks and 3 local `[[lists]]` of 2,000 names each, with
# dnsperf's own address 127.0.0.1 in one profile, so every query takes the
# profiled path) on the allowed and 90/10 mixes, next to ward alone,
# SERVER_CPU (1), CLIENT_CPU (0), LOAD_MAX (0.7) and LOAD_WAIT (1200 s):
# wait at most that long for the 1-minute load average to drop to LOAD_MAX
# before starting the servers and before the first run, and for other
# processes' CPU use (sampled for 2 s) to drop to QUIET_OTHERS (0.10 CPU)
# before every run (the load average then counts the benchmark itself);
# OTHER_MAX (0.05): a run during which other processes used more than this
# fraction of a CPU is repeated, TRIES (5) times at most, and if still noisy
# kept but left out of the medians (in the lat cell the server and dnsperf
# run in short bursts, which the tick-sampled /proc/stat undercounts, so
# "others" reads low there, even below zero: the check is weaker),
# PORT_BASE (53530): nsd, ward, ward-empty, dnsdist, unbound, ward-10M,
# ward 1 worker, ward 2 workers, ward with school profiles listen on
# PORT_BASE..+8,
# WARD_BIN (target/release/ward, built with cargo unless set),
# KEEP_VERBOSE (0): 1 keeps the lat cell's per-query dnsperf output
# (gzipped, ~8 MB a run).
#
# Everything scratch goes to bench/out/dnsperf/ (git-ignored); the tables
# are also written to bench/out/dnsperf/results.md. All servers are stopped
# on exit, and leftovers of an interrupted earlier run are stopped at start.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
HERE=$ROOT/bench/dnsperf
OUT=$ROOT/bench/out/dnsperf
mkdir -p "$OUT"

ENTRIES=${ENTRIES:-1000000}
ENTRIES_BIG=${ENTRIES_BIG:-10000000}
SEED=${SEED:-1}
NAMES=${NAMES:-10000}
DURATION=${DURATION:-15}
REPEATS=${REPEATS:-5}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
OUTSTANDING=${OUTSTANDING:-300}
LAT_QPS=${LAT_QPS:-20000}
LAT_DURATION=${LAT_DURATION:-10}
SCALE=${SCALE:-0}
SCHOOL=${SCHOOL:-1}
SCALE_CPUS=${SCALE_CPUS:-0,1}
SCALE_CLIENTS=${SCALE_CLIENTS:-16}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
LOAD_MAX=${LOAD_MAX:-0.7}
LOAD_WAIT=${LOAD_WAIT:-1200}
OTHER_MAX=${OTHER_MAX:-0.05}
TRIES=${TRIES:-5}
QUIET_OTHERS=${QUIET_OTHERS:-0.10}
KEEP_VERBOSE=${KEEP_VERBOSE:-0}
PORT_BASE=${PORT_BASE:-53530}
UP_PORT=$PORT_BASE
WARD_PORT=$((PORT_BASE + 1))
EMPTY_PORT=$((PORT_BASE + 2))
DNSDIST_PORT=$((PORT_BASE + 3))
UNBOUND_PORT=$((PORT_BASE + 4))
BIG_PORT=$((PORT_BASE + 5))
W1_PORT=$((PORT_BASE + 6))
W2_PORT=$((PORT_BASE + 7))
SCHOOL_PORT=$((PORT_BASE + 8))
HZ=$(getconf CLK_TCK)
# ward's log lines are grepped: no colour codes.
export NO_COLOR=1

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'dnsperf.sh: error: %s\n' "$*" >&2; exit 1; }

[ "$SCALE_CLIENTS" -ge 8 ] || die "SCALE_CLIENTS must be at least 8 (SO_REUSEPORT spreads sockets, not queries)"
[ "$ENTRIES_BIG" -ge 0 ] || die "ENTRIES_BIG must be 0 or more"
BIG=0
[ "$ENTRIES_BIG" = 0 ] || BIG=1

# ---------------------------------------------------------------- tools
need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v dnsdist >/dev/null || need+=(dnsdist)
command -v nsd >/dev/null || need+=(nsd)
command -v unbound >/dev/null || need+=(unbound)
command -v dig >/dev/null || need+=(dnsutils)
[ -x /usr/bin/time ] || need+=(time)
command -v taskset >/dev/null || need+=(util-linux)
command -v ss >/dev/null || need+=(iproute2)
command -v pgrep >/dev/null || need+=(procps)
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${need[*]}; run as root, or apt-get install -y ${need[*]}"
    say "installing ${need[*]}"
    # On a host with systemd this also enables the packages' own services
    # (port 53); this script never uses or touches them.
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2
fi
[ "$(nproc)" -ge 2 ] || say "WARNING: $(nproc) CPU(s); server and dnsperf share a core"
if [ "$SCALE" = 1 ] && [ "$(nproc)" -lt 2 ]; then
    say "WARNING: one CPU: no scale cell"
    SCALE=0
fi

# ---------------------------------------------------------------- processes
# Every server runs in its own session (setsid), so it and its children
# (nsd forks) are stopped as one process group. Pid files let a later run
# stop what an interrupted one left behind.
PGIDS=()
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
cleanup() {
    local g
    for g in "${PGIDS[@]}"; do stop_group "$g"; done
    PGIDS=()
    rm -f "$OUT"/*.pid
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_leftovers "$OUT"

for p in $UP_PORT $WARD_PORT $EMPTY_PORT $DNSDIST_PORT $UNBOUND_PORT $BIG_PORT $W1_PORT $W2_PORT $SCHOOL_PORT; do
    if ss -Hlnu "sport = :$p" 2>/dev/null | grep -q .; then
        die "UDP port $p is in use; set PORT_BASE"
    fi
done

LAST_PID=
start() { # NAME LOG CMD...: starts CMD in a new session; sets LAST_PID
    local name=$1 log=$2
    shift 2
    setsid "$@" >"$log" 2>&1 </dev/null &
    LAST_PID=$!
    PGIDS+=("$LAST_PID")
    echo "$LAST_PID" >"$OUT/$name.pid"
}
stop() { # PGID
    local g=$1 keep=() x
    stop_group "$g"
    for x in "${PGIDS[@]}"; do [ "$x" = "$g" ] || keep+=("$x"); done
    PGIDS=("${keep[@]}")
    rm -f "$(grep -lx "$g" "$OUT"/*.pid 2>/dev/null)" 2>/dev/null || true
    wait "$g" 2>/dev/null || true
}

ticks() { # PID: utime+stime of the process (all its threads), clock ticks
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
group_ticks() { # PGID: summed over the process group
    local t=0 p
    for p in $(pgrep -g "$1"); do t=$((t + $(ticks "$p" 2>/dev/null || echo 0))); done
    echo "$t"
}
status_mib() { # PID FIELD: a kB field of /proc/PID/status (VmRSS, RssAnon...), in MiB
    awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}
rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# /proc/stat "cpu" line: user+nice+system+irq+softirq (busy) and steal, ticks.
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
label() { # 1000000 -> 1M, 10000000 -> 10M, 50000 -> 50k
    local n=$1
    if [ $((n % 1000000)) = 0 ]; then echo "$((n / 1000000))M"
    elif [ $((n % 1000)) = 0 ]; then echo "$((n / 1000))k"
    else echo "$n"; fi
}

dig_status() { # PORT NAME -> rcode word, or "none"
    local s
    s=$(dig +time=1 +tries=1 -p "$1" @127.0.0.1 "$2" A 2>/dev/null |
        sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
    echo "${s:-none}"
}
list_serial() { # PORT -> serial of the list in force (ward's CH TXT list.ward), or "none"
    local s
    s=$(dig +short +time=1 +tries=1 -p "$1" @127.0.0.1 CH TXT list.ward 2>/dev/null |
        grep -o 'serial=[0-9]*' | head -1)
    echo "${s#serial=}" | grep . || echo none
}
wait_dns() { # PORT NAME PGID TIMEOUT: until the server answers NOERROR
    local deadline
    deadline=$(($(date +%s) + $4))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        kill -0 "$3" 2>/dev/null || return 1
        [ "$(dig_status "$1" "$2")" = NOERROR ] && return 0
        sleep 0.02
    done
    return 1
}

# Others' CPU use (in CPUs) over 2 s, while our servers are idle.
others_now() {
    local a b
    read -r a _ < <(cpu_busy)
    sleep 2
    read -r b _ < <(cpu_busy)
    awk -v d=$((b - a)) -v hz="$HZ" 'BEGIN { printf "%.2f", d / hz / 2 }'
}
WAITED=0
wait_quiet() { # load|others [why]: (load average <= LOAD_MAX and) nobody else busy
    local mode=$1 start l o lmax=$LOAD_MAX
    shift
    # Between our own back-to-back runs the load average counts ourselves
    # (the server and dnsperf's threads, about 3): there only others' CPU
    # use is checked.
    [ "$mode" = load ] || lmax=1000
    start=$(date +%s)
    while :; do
        l=$(load1)
        o=$(others_now)
        if awk -v l="$l" -v m="$lmax" -v o="$o" -v q="$QUIET_OTHERS" 'BEGIN { exit !(l <= m && o <= q) }'; then
            break
        fi
        if [ $(($(date +%s) - start)) -ge "$LOAD_WAIT" ]; then
            say "WARNING: still busy after ${LOAD_WAIT}s (load $l, others ${o} CPU); measuring anyway"
            break
        fi
        [ $((($(date +%s) - start) % 60)) -lt 12 ] && say "waiting for a quiet machine: load $l, others ${o} CPU ${1:-}"
        sleep 10
    done
    WAITED=$((WAITED + $(date +%s) - start))
}

# ---------------------------------------------------------------- inputs
if [ -n "${WARD_BIN:-}" ]; then
    [ -x "$WARD_BIN" ] || die "WARD_BIN=$WARD_BIN is not executable"
else
    say "building ward (cargo build --release --bin ward)"
    cargo build --release --bin ward >&2
    WARD_BIN=$ROOT/target/release/ward
fi
# A private copy: other builds in target/ must not swap it mid-run.
cp -f "$WARD_BIN" "$OUT/ward.tmp" && mv -f "$OUT/ward.tmp" "$OUT/ward"
WARD=$OUT/ward
WARD_VERSION=$("$WARD" --version)

SRC=$OUT/src-$ENTRIES.txt
QTSV=$OUT/queries-$ENTRIES.tsv
GEN=$(sha256sum bench/gen-list.py "$HERE/prepare.py" | sha256sum | cut -c1-16)
STAMP="entries=$ENTRIES seed=$SEED names=$NAMES gen=$GEN"
if [ "$(cat "$OUT/inputs.stamp" 2>/dev/null)" != "$STAMP" ]; then
    say "generating the $ENTRIES-entry list and query files (bench/gen-list.py)"
    rm -f "$OUT/inputs.stamp"
    python3 bench/gen-list.py --entries "$ENTRIES" --seed "$SEED" --per-class "$NAMES" \
        --out "$SRC" --queries "$QTSV"
    python3 "$HERE/prepare.py" --source "$SRC" --queries "$QTSV" --names "$NAMES" --outdir "$OUT"
    printf '# empty benchmark list\n' >"$OUT/src-empty.txt"
    echo "$STAMP" >"$OUT/inputs.stamp"
fi
# The big list has its own allowed names: gen-list.py draws a list's
# allowed names from the numbers just past its entries, which the 10M list
# blocks for the 1M list's query names.
BIG_SRC=$OUT/src-big-$ENTRIES_BIG.txt
BIG_QTSV=$OUT/queries-big-$ENTRIES_BIG.tsv
if [ "$BIG" = 1 ]; then
    BIG_STAMP="entries=$ENTRIES_BIG seed=$SEED names=$NAMES gen=$GEN"
    if [ "$(cat "$OUT/inputs-big.stamp" 2>/dev/null)" != "$BIG_STAMP" ]; then
        say "generating the $ENTRIES_BIG-entry list and its query files (bench/gen-list.py)"
        rm -f "$OUT/inputs-big.stamp" "$OUT"/src-big-*.txt "$OUT"/queries-big-*.tsv
        python3 bench/gen-list.py --entries "$ENTRIES_BIG" --seed "$SEED" --per-class "$NAMES" \
            --out "$BIG_SRC" --queries "$BIG_QTSV"
        python3 "$HERE/prepare.py" --queries "$BIG_QTSV" --names "$NAMES" --outdir "$OUT" --tag=-big
        echo "$BIG_STAMP" >"$OUT/inputs-big.stamp"
    fi
fi
# The artifacts are built by the ward under test, every run (seconds; the
# 10M ones about half a minute each).
# No --confidential: every rule is plaintext, so ward, dnsdist and Unbound
# hold exactly the same names (confidential rules would cost ward extra
# hashing).
say "building the signed artifacts"
"$WARD" list build --key examples/demo.key --serial 1 --list-id bench --valid-for 7d \
    -o "$OUT/dns-1m.ward" "$SRC" >&2
"$WARD" list build --key examples/demo.key --serial 1 --list-id bench-empty --valid-for 7d \
    -o "$OUT/dns-empty.ward" "$OUT/src-empty.txt" >&2
if [ "$BIG" = 1 ]; then
    # Serial 1 is served; serial 2 (same names, so a different artifact
    # with the same answers) is what the swap puts in force.
    t0=$(now)
    "$WARD" list build --key examples/demo.key --serial 1 --list-id bench-big --valid-for 7d \
        -o "$OUT/dns-big-1.ward" "$BIG_SRC" >&2
    BIG_BUILD_S=$(since "$t0")
    "$WARD" list build --key examples/demo.key --serial 2 --list-id bench-big --valid-for 7d \
        -o "$OUT/dns-big-2.ward" "$BIG_SRC" >&2
    cp -f "$OUT/dns-big-1.ward" "$OUT/dns-big.ward.tmp"
    mv -f "$OUT/dns-big.ward.tmp" "$OUT/dns-big.ward"
fi
N_SUFFIX=$(wc -l <"$OUT/dnsdist-suffix.txt")
N_EXACT=$(wc -l <"$OUT/dnsdist-exact.txt")
first_name() { head -1 "$1" | cut -d' ' -f1; }
ALLOWED_NAME=$(first_name "$OUT/q-allowed.txt")
BLOCKED_NAME=$(first_name "$OUT/q-blocked.txt")

# ---------------------------------------------------------------- configs
mkdir -p "$OUT/nsd"
cat >"$OUT/nsd/root.zone" <<'EOF'
; Upstream for the benchmark: the root zone with a wildcard, so that every
; allowed query name (com, net, vn, ... and example.test) gets an answer.
$ORIGIN .
$TTL 86400
@                 IN SOA ns.example.test. hostmaster.example.test. 1 3600 900 604800 86400
@                 IN NS  ns.example.test.
ns.example.test.  IN A   127.0.0.1
*.example.test.   IN A   192.0.2.10
*                 IN A   192.0.2.10
*                 IN AAAA 2001:db8::10
EOF
cat >"$OUT/nsd/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$UP_PORT
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$OUT/nsd"
    zonelistfile: "$OUT/nsd/zone.list"
    xfrdfile: "$OUT/nsd/xfrd.state"
    xfrdir: "$OUT/nsd"
    pidfile: "$OUT/nsd/nsd.pid"
    logfile: "$OUT/nsd/nsd.log"
    hide-version: yes
    verbosity: 1
    # No response rate limiting: every query of the benchmark comes from
    # 127.0.0.1 and hits the same wildcard, which RRL would throttle.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "."
    zonefile: "root.zone"
EOF

ward_conf() { # FILE PORT ARTIFACT STATE UDP_WORKERS
    cat >"$1" <<EOF
# bench/dnsperf.sh: ward under test
[dns]
listen = ["127.0.0.1:$2"]
upstreams = ["127.0.0.1:$UP_PORT"]
allow_clients = ["127.0.0.0/8"]
udp_workers = $5

[cache]
max_entries = 1000000
max_memory = "512MiB"

[list]
file = "$3"
trusted_keys = ["$ROOT/examples/demo.pub"]
state_dir = "$4"
require_list = true

[block]
action = "nxdomain"

[admin]
listen = "off"

[log]
level = "info"
EOF
    mkdir -p "$4"
    "$WARD" config check "$1" >&2
}
# Single-CPU comparisons: one UDP worker (one socket), like dnsdist's one
# listener and Unbound's one thread.
ward_conf "$OUT/ward-1m.toml" "$WARD_PORT" "$OUT/dns-1m.ward" "$OUT/state-1m" 1
ward_conf "$OUT/ward-empty.toml" "$EMPTY_PORT" "$OUT/dns-empty.ward" "$OUT/state-empty" 1
[ "$BIG" = 0 ] || ward_conf "$OUT/ward-big.toml" "$BIG_PORT" "$OUT/dns-big.ward" "$OUT/state-big" 1
if [ "$SCHOOL" = 1 ]; then
    ward_conf "$OUT/ward-school.toml" "$SCHOOL_PORT" "$OUT/dns-1m.ward" "$OUT/state-school" 1
    # 3 local lists of names no query asks for, and 50 profiles over
    # 10,000 /24 networks; profile 0 also holds 127.0.0.1, dnsperf's address.
    python3 - "$OUT" >>"$OUT/ward-school.toml" <<'PYEOF'
import sys
out = sys.argv[1]
for l in range(3):
    with open(f"{out}/school-{l}.txt", "w") as f:
        for i in range(2000):
            f.write(f"s{l}-{i}.school-bench.test school\n")
    print(f'[[lists]]\nname = "school-{l}"\nsource = "{out}/school-{l}.txt"\n')
for p in range(50):
    nets = [f"10.{(p * 200 + i) // 256}.{(p * 200 + i) % 256}.0/24" for i in range(200)]
    if p == 0:
        nets.append("127.0.0.1/32")
    print(f'[[profile]]\nname = "p{p}"\nage = {6 + p % 12}\nlists = ["school-0", "school-1", "school-2"]')
    print("clients = [" + ", ".join(f'"{n}"' for n in nets) + "]\n")
PYEOF
    "$WARD" config check "$OUT/ward-school.toml" >&2
fi
if [ "$SCALE" = 1 ]; then
    ward_conf "$OUT/ward-w1.toml" "$W1_PORT" "$OUT/dns-1m.ward" "$OUT/state-w1" 1
    ward_conf "$OUT/ward-w2.toml" "$W2_PORT" "$OUT/dns-1m.ward" "$OUT/state-w2" 2
fi

cat >"$OUT/dnsdist.conf" <<EOF
-- bench/dnsperf.sh: dnsdist under test, same list as ward (subtree rules
-- in a SuffixMatchNode, '=' exact rules in a DNSNameSet), NXDOMAIN.
setLocal("127.0.0.1:$DNSDIST_PORT")
-- No security-status lookup over the system resolver: loopback only.
setSecurityPollSuffix("")
setACL("127.0.0.0/8")
-- ward asks the kernel for a 4 MiB receive buffer; give dnsdist the same.
setUDPSocketBufferSizes(4194304, 0)
newServer({address="127.0.0.1:$UP_PORT"})
pc = newPacketCache(1000000)
getPool(""):setCache(pc)

local t0 = os.time()
local smn = newSuffixMatchNode()
local n = 0
for line in io.lines("$OUT/dnsdist-suffix.txt") do
  smn:add(newDNSName(line))
  n = n + 1
end
local exact = newDNSNameSet()
local m = 0
for line in io.lines("$OUT/dnsdist-exact.txt") do
  exact:add(newDNSName(line))
  m = m + 1
end
addAction(SuffixMatchNodeRule(smn, true), RCodeAction(DNSRCode.NXDOMAIN))
addAction(QNameSetRule(exact), RCodeAction(DNSRCode.NXDOMAIN))
infolog(string.format("bench: loaded %d subtree and %d exact names in %d s", n, m, os.time() - t0))
EOF
dnsdist --check-config -C "$OUT/dnsdist.conf" >"$OUT/dnsdist-check.log" 2>&1 ||
    { cat "$OUT/dnsdist-check.log" >&2; die "dnsdist config check failed"; }

# Unbound: a caching forwarder to the same nsd, one thread, one socket, no
# DNSSEC validation (module-config "iterator": ward and dnsdist do not
# validate either), the list as always_nxdomain local zones
# (unbound-zones.conf, written by prepare.py, which explains the exact
# rules), caches far larger than the 10 000 answers.
cat >"$OUT/unbound.conf" <<EOF
# bench/dnsperf.sh: Unbound under test
server:
    interface: 127.0.0.1@$UNBOUND_PORT
    do-ip6: no
    num-threads: 1
    so-reuseport: no
    # The same 4 MiB receive buffer as ward and dnsdist.
    so-rcvbuf: 4m
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    msg-cache-size: 64m
    rrset-cache-size: 128m
    num-queries-per-thread: 4096
    chroot: ""
    username: ""
    directory: "$OUT"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 1
    hide-version: yes
    include: "$OUT/unbound-zones.conf"
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@$UP_PORT
EOF
unbound-checkconf "$OUT/unbound.conf" >"$OUT/unbound-check.log" 2>&1 ||
    { cat "$OUT/unbound-check.log" >&2; die "unbound config check failed"; }

# ---------------------------------------------------------------- runs
RESULTS=$OUT/results.tsv
META=$OUT/meta.txt
printf 'server\tlist\tmix\trep\tqps\tcompleted\tlost\tcpu_s\twall_s\tutil\tclient_util\tanswers_per_cpu_s\tupstream_cpu_s\tothers_cpu_s\tsteal_s\tload1\trcodes\tlatency_ms\tcheck\tresponse_bytes\tnoisy\tcell\tworkers\tp50_us\tp99_us\tp999_us\tlat_answers\n' >"$RESULTS"
: >"$META"
meta() { printf '%s=%s\n' "$1" "$2" >>"$META"; }
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (uncommitted changes in src/ or Cargo files)')"
meta machine "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
meta ward "$WARD_VERSION"
meta dnsdist "$(dnsdist --version 2>&1 | head -1)"
meta unbound "Unbound $(unbound -V 2>&1 | sed -n 's/^Version //p')"
meta dnsperf "$(dnsperf -h 2>&1 | sed -n 's/^Version //p')"
meta nsd "$(nsd -v 2>&1 | head -1)"
meta entries "$ENTRIES"
meta entries_label "$(label "$ENTRIES")"
meta list "$ENTRIES entries, seed $SEED: $N_SUFFIX subtree + $N_EXACT exact rules"
meta unbound_list "every rule an always_nxdomain local-zone; exact rules so cover their subtree too, and $(sed -n 's/^queries_under_exact_rules=//p' "$OUT/prepare.meta") query names lie under one"
meta entries_big "$ENTRIES_BIG"
[ "$BIG" = 0 ] || {
    meta entries_big_label "$(label "$ENTRIES_BIG")"
    meta big_list "$ENTRIES_BIG entries, seed $SEED, $(stat -c %s "$OUT/dns-big-1.ward" | awk '{ printf "%.1f MiB", $1 / 1048576 }') artifact, built in ${BIG_BUILD_S} s"
}
meta dnsperf_args "-l $DURATION -c $CLIENTS -q $OUTSTANDING -T $THREADS -t 2"
meta lat_args "-Q $LAT_QPS -l $LAT_DURATION -c $CLIENTS -q $OUTSTANDING -T $THREADS -t 2 -v"
meta lat_qps "$LAT_QPS"
meta scale_args "-l $DURATION -c $SCALE_CLIENTS -q $OUTSTANDING -T $THREADS -t 2, dnsperf and ward both on CPUs $SCALE_CPUS"
meta repeats "$REPEATS"
meta other_max "$OTHER_MAX"
meta pinning "servers on CPU $SERVER_CPU (all running, one measured at a time; ward with udp_workers = 1), dnsperf on CPU $CLIENT_CPU, nsd on CPU $CLIENT_CPU; scale cell: ward and dnsperf on CPUs $SCALE_CPUS"

dnsperf_run() { # PORT FILE LOG [extra dnsperf args]
    local port=$1 file=$2 log=$3
    shift 3
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$file" -c "$CLIENTS" -T "$THREADS" -t 2 "$@" >"$log" 2>&1
}
field() { sed -n "s/^ *$2: *//p" "$1" | head -1; }

# The cell settings measure() reads: CELL (main|big|lat|scale), QTAG (the
# query files' suffix), WORKERS (ward's udp_workers, - for the others),
# DP_CPUS and DP_CLIENTS (dnsperf's CPUs and -c). NEXT_WAIT: how the next
# run waits for a quiet machine (load before the first, others after).
CELL=main QTAG='' WORKERS=- DP_CPUS=$CLIENT_CPU DP_CLIENTS=$CLIENTS NEXT_WAIT=load
measure() { # SERVER LIST MIX PORT PID REP: one run, repeated if others were busy
    local server=$1 list=$2 mix=$3 port=$4 pid=$5 rep=$6 try waitmode
    local file=$OUT/q-$mix$QTAG.txt tag=$CELL-$server-$list-$mix-w$WORKERS-$rep
    local log=$OUT/run-$tag.log vlog=$OUT/run-$tag.verbose
    local l c0 c1 u0 u1 b0 b1 s0 s1 t0 t1 dp args
    local qps completed lost rcodes lat cpu wall util apc up others steal check cutil rbytes noisy
    local p50=- p99=- p999=- nlat=-
    if [ "$CELL" = lat ]; then
        args=(-l "$LAT_DURATION" -Q "$LAT_QPS" -v)
    else
        args=(-l "$DURATION")
    fi
    for try in $(seq "$TRIES"); do
        waitmode=$NEXT_WAIT
        NEXT_WAIT=others
        wait_quiet "$waitmode" "(before $CELL $server $list $mix #$rep)"
        l=$(load1)
        read -r b0 s0 < <(cpu_busy)
        c0=$(ticks "$pid")
        u0=$(group_ticks "$NSD_PGID")
        t0=$(now)
        /usr/bin/time -f '%U %S' -o "$OUT/dnsperf.time" \
            taskset -c "$DP_CPUS" dnsperf -s 127.0.0.1 -p "$port" -d "$file" \
            -c "$DP_CLIENTS" -q "$OUTSTANDING" -T "$THREADS" -t 2 "${args[@]}" >"$vlog" 2>&1 ||
            { grep -v '^> ' "$vlog" >&2; die "dnsperf failed against $server"; }
        t1=$(now)
        c1=$(ticks "$pid")
        u1=$(group_ticks "$NSD_PGID")
        read -r b1 s1 < <(cpu_busy)
        kill -0 "$pid" 2>/dev/null || die "$server ($list) exited during the run; see its log in $OUT"
        if [ "$CELL" = lat ]; then
            # Every answered query's latency (lines `> RCODE NAME TYPE
            # SECONDS`; a lost one is `> T NAME TYPE`).
            read -r p50 p99 p999 nlat _ < <(python3 "$HERE/report.py" --latency "$vlog")
            grep -v '^> ' "$vlog" >"$log" || true
            if [ "$KEEP_VERBOSE" = 1 ]; then gzip -f "$vlog"; else rm -f "$vlog"; fi
        else
            mv -f "$vlog" "$log"
        fi
        dp=$(awk '{ printf "%.0f", ($1 + $2) * '"$HZ"' }' "$OUT/dnsperf.time")
        cutil=$(awk -v d="$dp" -v hz="$HZ" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", d / hz / (b - a) }')
        qps=$(field "$log" 'Queries per second' | awk '{ printf "%.0f", $1 }')
        completed=$(field "$log" 'Queries completed' | awk '{ print $1 }')
        lost=$(field "$log" 'Queries lost' | awk '{ print $1 }')
        rcodes=$(field "$log" 'Response codes')
        rbytes=$(field "$log" 'Average packet size' | sed -n 's/.*response \([0-9]*\).*/\1/p')
        lat=$(field "$log" 'Average Latency (s)' | awk '{ printf "%.3f", $1 * 1000 }')
        cpu=$(awk -v d=$((c1 - c0)) -v hz="$HZ" 'BEGIN { printf "%.2f", d / hz }')
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
        util=$(awk -v c="$cpu" -v w="$wall" 'BEGIN { printf "%.2f", c / w }')
        apc=$(awk -v n="$completed" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')
        up=$(awk -v d=$((u1 - u0)) -v hz="$HZ" 'BEGIN { printf "%.2f", d / hz }')
        # Busy CPU of the whole machine minus server, dnsperf and nsd: other
        # processes (and the idle servers' timers), in CPU-seconds.
        others=$(awk -v d=$((b1 - b0 - (c1 - c0) - (u1 - u0) - dp)) -v hz="$HZ" 'BEGIN { printf "%.2f", d / hz }')
        steal=$(awk -v d=$((s1 - s0)) -v hz="$HZ" 'BEGIN { printf "%.2f", d / hz }')
        # Expected response codes: every name of the mix answered as it should.
        case $list-$mix in
            *-allowed | empty-*) check=$(echo "$rcodes" | grep -q '^NOERROR [0-9]* (100.00%)$' && echo ok || echo BAD) ;;
            *-blocked) check=$(echo "$rcodes" | grep -q '^NXDOMAIN [0-9]* (100.00%)$' && echo ok || echo BAD) ;;
            *-mix9010) check=$(echo "$rcodes" | grep -Eq '^NOERROR [0-9]+ \((89|90)\.[0-9]+%\), NXDOMAIN [0-9]+ \((9|10)\.[0-9]+%\)$' && echo ok || echo BAD) ;;
        esac
        say "$CELL $server $list $mix w$WORKERS #$rep: $qps QPS, $apc answers/CPU-s (server CPU $util, dnsperf CPU $cutil, lost $lost, others $others CPU-s, steal $steal s, load $l)$([ "$CELL" != lat ] || echo " p50 $p50 p99 $p99 p99.9 $p999 us") [$rcodes] $check"
        noisy=no
        if awk -v o="$others" -v w="$wall" -v m="$OTHER_MAX" 'BEGIN { exit !(o > m * w) }'; then
            noisy=yes
            if [ "$try" -lt "$TRIES" ]; then
                say "  others were busy during the run ($others CPU-s): repeating it"
                continue
            fi
            say "  others were busy during the run ($others CPU-s); kept, marked noisy (left out of the medians)"
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
            "$server" "$list" "$mix" "$rep" "$qps" "$completed" "$lost" "$cpu" "$wall" "$util" "$cutil" \
            "$apc" "$up" "$others" "$steal" "$l" "$rcodes" "$lat" "$check" "$rbytes" "$noisy" \
            "$CELL" "$WORKERS" "$p50" "$p99" "$p999" "$nlat" >>"$RESULTS"
        return 0
    done
}

warm() { # PORT FILE: every name of FILE, until one pass gets every answer
    local i log port=$1 file=$2
    for i in 1 2 3 4 5; do
        log=$OUT/warm-$port-$(basename "$file" .txt)-$i.log
        dnsperf_run "$port" "$file" "$log" -n 1 -q 100
        if grep -q 'Queries lost: *0 ' "$log" &&
            [ "$(field "$log" 'Response codes')" = "NOERROR $NAMES (100.00%)" ]; then
            [ "$i" -gt 1 ] || continue # the first pass filled the cache
            return 0
        fi
        say "WARNING: warm-up pass $i of $file: lost $(field "$log" 'Queries lost'), $(field "$log" 'Response codes')"
    done
    die "the cache of the server on port $port could not be warmed; see $OUT/warm-$port-*.log"
}

say "starting nsd on 127.0.0.1:$UP_PORT (CPU $CLIENT_CPU)"
rm -f "$OUT/nsd/nsd.pid" "$OUT/nsd/nsd.log"
start nsd "$OUT/nsd-stdout.log" taskset -c "$CLIENT_CPU" nsd -d -c "$OUT/nsd/nsd.conf"
NSD_PGID=$LAST_PID
wait_dns "$UP_PORT" "$ALLOWED_NAME" "$NSD_PGID" 30 ||
    { cat "$OUT/nsd-stdout.log" "$OUT/nsd/nsd.log" >&2 2>/dev/null; die "nsd did not answer"; }

mem_meta() { # KEY PID WHEN: VmRSS, RssAnon, RssFile in MiB
    meta "${1}vmrss_${3}_mib" "$(status_mib "$2" VmRSS)"
    meta "${1}rssanon_${3}_mib" "$(status_mib "$2" RssAnon)"
    meta "${1}rssfile_${3}_mib" "$(status_mib "$2" RssFile)"
}
# Servers start one at a time (load time, CPU and RSS are measured with the
# others idle); then the runs rotate between them, so a slow drift of the
# machine hits every server alike.
server_up() { # KEY PORT PID T0 LOG BLOCKED_NAME WARM_FILE...: after start, wait and record
    local k=${1}_ port=$2 pid=$3 t0=$4 log=$5 blocked=$6 t1 f udp
    shift 6
    wait_dns "$port" "$(first_name "$1")" "$pid" 900 ||
        { cat "$log" >&2; die "$k did not answer; see $log"; }
    t1=$(now)
    meta "${k}ready_s" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
    meta "${k}load_cpu_s" "$(awk -v t="$(ticks "$pid")" -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')"
    meta "${k}rss_loaded_mib" "$(rss_mib "$pid")"
    meta "${k}threads" "$(ls "/proc/$pid/task" | wc -l)"
    meta "${k}rcvbuf" "$(ss -Hlnum "sport = :$port" | grep -o 'rb[0-9]*' | sort | uniq -c | awk '{ printf "%s%s%s", (NR > 1 ? ", " : ""), ($1 > 1 ? $1 " x " : ""), $2 }')"
    meta "${k}udp_sockets" "$(ss -Hlnu "sport = :$port" | wc -l)"
    udp=$(grep -o 'listening for UDP on [^ ]* with [0-9]* workers\?' "$log" | head -1 || true)
    [ -z "$udp" ] || meta "${k}udp_log" "$udp"
    if [ -n "$blocked" ] && [ "$(dig_status "$port" "$blocked")" != NXDOMAIN ]; then
        say "WARNING: $k did not answer NXDOMAIN for $blocked"
    fi
    for f in "$@"; do warm "$port" "$f"; done
    meta "${k}rss_warm_mib" "$(rss_mib "$pid")"
    mem_meta "$k" "$pid" warm
}
server_end() { # KEY PID
    local k=${1}_
    meta "${k}rss_end_mib" "$(rss_mib "$2")"
    meta "${k}hwm_mib" "$(hwm_mib "$2")"
}
start_ward() { # NAME CPUS CONFIG: sets LAST_PID and T0
    T0=$(now)
    start "$1" "$OUT/$1.log" taskset -c "$2" "$WARD" serve --config "$3"
}
check_workers() { # KEY LOG N: ward's log line names N UDP workers
    local got
    got=$(grep -o 'listening for UDP on [^ ]* with [0-9]* workers\?' "$2" | head -1 | awk '{ print $(NF - 1) }' || true)
    if [ "$got" != "$3" ]; then
        say "WARNING: $1: expected 'listening for UDP on ... with $3 worker(s)' in $2, got '${got:-nothing}' (a ward without udp_workers?)"
    fi
}

meta load_start "$(load1)"
wait_quiet load "(before starting the servers)"

say "starting ward (1M list) on 127.0.0.1:$WARD_PORT, CPU $SERVER_CPU"
start_ward ward-1m "$SERVER_CPU" "$OUT/ward-1m.toml"
WARD_PID=$LAST_PID
server_up ward_1m "$WARD_PORT" "$WARD_PID" "$T0" "$OUT/ward-1m.log" "$BLOCKED_NAME" \
    "$OUT/q-allowed.txt"
check_workers ward_1m "$OUT/ward-1m.log" 1

say "starting ward (empty list) on 127.0.0.1:$EMPTY_PORT, CPU $SERVER_CPU"
start_ward ward-empty "$SERVER_CPU" "$OUT/ward-empty.toml"
EMPTY_PID=$LAST_PID
empty_warm=("$OUT/q-allowed.txt")
[ "$BIG" = 0 ] || empty_warm+=("$OUT/q-allowed-big.txt")
server_up ward_empty "$EMPTY_PORT" "$EMPTY_PID" "$T0" "$OUT/ward-empty.log" "" "${empty_warm[@]}"
check_workers ward_empty "$OUT/ward-empty.log" 1

if [ "$BIG" = 1 ]; then
    say "starting ward ($(label "$ENTRIES_BIG") list) on 127.0.0.1:$BIG_PORT, CPU $SERVER_CPU"
    start_ward ward-big "$SERVER_CPU" "$OUT/ward-big.toml"
    BIG_PID=$LAST_PID
    server_up ward_big "$BIG_PORT" "$BIG_PID" "$T0" "$OUT/ward-big.log" \
        "$(first_name "$OUT/q-blocked-big.txt")" "$OUT/q-allowed-big.txt"
    check_workers ward_big "$OUT/ward-big.log" 1
fi

if [ "$SCHOOL" = 1 ]; then
    say "starting ward (1M list, 50 school profiles) on 127.0.0.1:$SCHOOL_PORT, CPU $SERVER_CPU"
    start_ward ward-school "$SERVER_CPU" "$OUT/ward-school.toml"
    SCHOOL_PID=$LAST_PID
    server_up ward_school "$SCHOOL_PORT" "$SCHOOL_PID" "$T0" "$OUT/ward-school.log" "$BLOCKED_NAME" \
        "$OUT/q-allowed.txt"
    check_workers ward_school "$OUT/ward-school.log" 1
fi

say "starting dnsdist on 127.0.0.1:$DNSDIST_PORT, CPU $SERVER_CPU (loads $((N_SUFFIX + N_EXACT)) names)"
T0=$(now)
start dnsdist "$OUT/dnsdist-1m.log" taskset -c "$SERVER_CPU" dnsdist --supervised --disable-syslog -C "$OUT/dnsdist.conf"
DNSDIST_PID=$LAST_PID
server_up dnsdist_1m "$DNSDIST_PORT" "$DNSDIST_PID" "$T0" "$OUT/dnsdist-1m.log" "$BLOCKED_NAME" \
    "$OUT/q-allowed.txt"

say "starting Unbound on 127.0.0.1:$UNBOUND_PORT, CPU $SERVER_CPU (loads $((N_SUFFIX + N_EXACT)) local zones)"
T0=$(now)
start unbound "$OUT/unbound-1m.log" taskset -c "$SERVER_CPU" unbound -d -p -c "$OUT/unbound.conf"
UNBOUND_PID=$LAST_PID
server_up unbound_1m "$UNBOUND_PORT" "$UNBOUND_PID" "$T0" "$OUT/unbound-1m.log" "$BLOCKED_NAME" \
    "$OUT/q-allowed.txt"

main_run() { # SERVER MIX REP: one run of the main or lat cell
    case $1 in
        ward) WORKERS=1 measure ward 1m "$2" "$WARD_PORT" "$WARD_PID" "$3" ;;
        dnsdist) WORKERS=- measure dnsdist 1m "$2" "$DNSDIST_PORT" "$DNSDIST_PID" "$3" ;;
        unbound) WORKERS=- measure unbound 1m "$2" "$UNBOUND_PORT" "$UNBOUND_PID" "$3" ;;
    esac
}
rotate() { # N WORD...: the words, rotated left by N
    local n=$1 i
    shift
    local a=("$@")
    for ((i = 0; i < ${#a[@]}; i++)); do printf '%s ' "${a[$(((i + n) % ${#a[@]}))]}"; done
}

# The load average is checked before the first run (after start-up and
# warm-up, which are ours); later runs check others' CPU use, since the
# load average then counts our own server and dnsperf.
NEXT_WAIT=load
for rep in $(seq "$REPEATS"); do
    # Rotate which server goes first from one repeat to the next.
    order=$(rotate $((rep - 1)) ward dnsdist unbound)
    CELL=main
    for mix in allowed blocked mix9010; do
        for server in $order; do
            main_run "$server" "$mix" "$rep"
            if [ "$server" = ward ] && [ "$mix" = allowed ]; then
                WORKERS=1 measure ward empty allowed "$EMPTY_PORT" "$EMPTY_PID" "$rep"
            fi
            if [ "$server" = ward ] && [ "$SCHOOL" = 1 ] && [ "$mix" != blocked ]; then
                WORKERS=1 measure ward school "$mix" "$SCHOOL_PORT" "$SCHOOL_PID" "$rep"
            fi
        done
    done
    if [ "$BIG" = 1 ]; then
        CELL=big QTAG=-big
        if [ $((rep % 2)) = 1 ]; then bigorder="big empty"; else bigorder="empty big"; fi
        for lst in $bigorder; do
            if [ "$lst" = big ]; then
                WORKERS=1 measure ward big allowed "$BIG_PORT" "$BIG_PID" "$rep"
            else
                WORKERS=1 measure ward empty allowed "$EMPTY_PORT" "$EMPTY_PID" "$rep"
            fi
        done
        QTAG=''
    fi
    CELL=lat
    for server in $order; do main_run "$server" mix9010 "$rep"; done
done
CELL=main

server_end ward_1m "$WARD_PID"
server_end ward_empty "$EMPTY_PID"
server_end dnsdist_1m "$DNSDIST_PID"
server_end unbound_1m "$UNBOUND_PID"
[ "$BIG" = 0 ] || server_end ward_big "$BIG_PID"
[ "$SCHOOL" = 0 ] || server_end ward_school "$SCHOOL_PID"

# ---------------------------------------------------------------- swap
if [ "$BIG" = 1 ]; then
    say "swap: serial 2 of the $(label "$ENTRIES_BIG") list over ward's list file, SIGHUP"
    [ "$(list_serial "$BIG_PORT")" = 1 ] || die "ward ($ENTRIES_BIG list) does not report serial=1"
    mem_meta swap_ "$BIG_PID" before
    meta swap_hwm_before_mib "$(status_mib "$BIG_PID" VmHWM)"
    # Reset VmHWM to the current RSS, so that it shows the swap's peak.
    echo 5 >"/proc/$BIG_PID/clear_refs"
    # Atomically, as a list updater would: copy next to it, rename over it.
    cp -f "$OUT/dns-big-2.ward" "$OUT/dns-big.ward.tmp"
    mv -f "$OUT/dns-big.ward.tmp" "$OUT/dns-big.ward"
    t0=$(now)
    kill -HUP "$BIG_PID"
    polls=0
    while :; do
        polls=$((polls + 1))
        s=$(list_serial "$BIG_PORT")
        [ "$s" != 2 ] || break
        if awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 60) }'; then
            tail -5 "$OUT/ward-big.log" >&2
            die "ward did not put serial 2 in force within 60 s (reports $s)"
        fi
        sleep 0.01
    done
    meta swap_activation_s "$(since "$t0")"
    meta swap_polls "$polls"
    meta swap_hwm_mib "$(status_mib "$BIG_PID" VmHWM)"
    sleep 5
    mem_meta swap_ "$BIG_PID" after
    meta swap_log "$(grep -o 'SIGHUP: list [a-z]*' "$OUT/ward-big.log" | tail -1)"
    st_a=$(dig_status "$BIG_PORT" "$(first_name "$OUT/q-allowed-big.txt")")
    st_b=$(dig_status "$BIG_PORT" "$(first_name "$OUT/q-blocked-big.txt")")
    meta swap_answers_after "allowed $st_a, blocked $st_b"
    if [ "$st_a" != NOERROR ] || [ "$st_b" != NXDOMAIN ]; then
        say "WARNING: after the swap ward answered $st_a (allowed) and $st_b (blocked)"
    fi
fi

for pid in "$WARD_PID" "$EMPTY_PID" "$DNSDIST_PID" "$UNBOUND_PID" ${BIG_PID:-} ${SCHOOL_PID:-}; do stop "$pid"; done

# ---------------------------------------------------------------- scale
if [ "$SCALE" = 1 ]; then
    say "scale cell: ward (1M list) with 1 and with 2 UDP workers, ward and dnsperf on CPUs $SCALE_CPUS"
    start_ward ward-w1 "$SCALE_CPUS" "$OUT/ward-w1.toml"
    W1_PID=$LAST_PID
    server_up ward_w1 "$W1_PORT" "$W1_PID" "$T0" "$OUT/ward-w1.log" "$BLOCKED_NAME" "$OUT/q-allowed.txt"
    check_workers ward_w1 "$OUT/ward-w1.log" 1
    start_ward ward-w2 "$SCALE_CPUS" "$OUT/ward-w2.toml"
    W2_PID=$LAST_PID
    server_up ward_w2 "$W2_PORT" "$W2_PID" "$T0" "$OUT/ward-w2.log" "$BLOCKED_NAME" "$OUT/q-allowed.txt"
    check_workers ward_w2 "$OUT/ward-w2.log" 2
    CELL=scale DP_CPUS=$SCALE_CPUS DP_CLIENTS=$SCALE_CLIENTS NEXT_WAIT=others
    for rep in $(seq "$REPEATS"); do
        if [ $((rep % 2)) = 1 ]; then worders="1 2"; else worders="2 1"; fi
        for mix in allowed blocked; do
            for w in $worders; do
                if [ "$w" = 1 ]; then
                    WORKERS=1 measure ward 1m "$mix" "$W1_PORT" "$W1_PID" "$rep"
                else
                    WORKERS=2 measure ward 1m "$mix" "$W2_PORT" "$W2_PID" "$rep"
                fi
            done
        done
    done
    CELL=main DP_CPUS=$CLIENT_CPU DP_CLIENTS=$CLIENTS
    server_end ward_w1 "$W1_PID"
    server_end ward_w2 "$W2_PID"
    stop "$W1_PID"
    stop "$W2_PID"
fi

meta load_end "$(load1)"
meta waited_for_quiet_s "$WAITED"
stop "$NSD_PGID"
for f in "$OUT"/ward-1m.log "$OUT"/ward-empty.log "$OUT"/ward-big.log "$OUT"/ward-w1.log "$OUT"/ward-w2.log; do
    [ -e "$f" ] || continue
    # Expected: the demo key's warning and, since the script runs as root,
    # the one about not dropping privileges ([process] user is not set: the
    # scratch files are root's).
    if grep -E 'WARN|ERROR|ALARM|panic' "$f" | grep -v -e 'DEMO key' -e 'running as root' >&2; then
        say "WARNING: ward logged the lines above ($f)"
    fi
done
if grep -Ei 'error|fatal' "$OUT/unbound-1m.log" >&2; then
    say "WARNING: Unbound logged the lines above"
fi

python3 "$HERE/report.py" "$RESULTS" "$META" | tee "$OUT/results.md" "$OUT/results-$(date -u +%Y%m%dT%H%M%SZ).md"
