#!/usr/bin/env bash
# DNS throughput of `ward serve` against dnsdist 1.7 (Debian), both with the
# same 1-million-entry blocklist, measured with dnsperf on loopback.
#
#   bench/dnsperf.sh                  # as root: installs dnsperf, dnsdist, nsd
#   REPEATS=1 DURATION=10 bench/dnsperf.sh
#
# One run starts nsd as the authoritative upstream (root zone with a
# wildcard, so every allowed name resolves) and three servers, one after
# the other, all pinned to CPU $SERVER_CPU, and warms their caches:
#
#   ward, 1M list       mixes: allowed (cached), blocked, 90/10
#   ward, empty list    mix:   allowed (cached)
#   dnsdist, 1M list    mixes: allowed (cached), blocked, 90/10
#
# then measures one server at a time (the others idle) with dnsperf pinned
# to CPU $CLIENT_CPU, alternating servers run by run, REPEATS times,
# and prints markdown tables: QPS, answers per server CPU-second (queries
# answered / delta of utime+stime of the server process over the dnsperf
# run), the ward/dnsdist ratios, load times and RSS. Docs and results:
# docs/benchmarks-dns.md.
#
# Environment (defaults): ENTRIES (1000000) list size, SEED (1), NAMES
# (10000) distinct names per query file, DURATION (15) seconds per dnsperf
# run, REPEATS (5) runs per server and mix (the table shows medians),
# CLIENTS (8), THREADS (2) and OUTSTANDING (300) for dnsperf -c/-T/-q
# (two dnsperf threads on the one client CPU: with -T 1 dnsperf itself is
# the bottleneck and the server idles about 10 % of the time), SERVER_CPU (1),
# CLIENT_CPU (0), LOAD_MAX (0.7) and LOAD_WAIT (1200 s): wait at most that
# long for the 1-minute load average to drop to LOAD_MAX before starting
# the servers and before the first run, and for other processes' CPU use
# (sampled for 2 s) to drop to QUIET_OTHERS (0.10 CPU) before every run
# (the load average then counts the benchmark itself); OTHER_MAX (0.05): a run
# during which other processes used more than this fraction of a CPU is
# repeated, TRIES (5) times at most, and if still noisy kept but left out
# of the medians,
# PORT_BASE (53530): nsd, ward, ward-empty, dnsdist listen on PORT_BASE..+3,
# WARD_BIN (target/release/ward, built with cargo unless set).
#
# Everything scratch goes to bench/out/dnsperf/ (git-ignored); the table is
# also written to bench/out/dnsperf/results.md. All servers are stopped on
# exit, and leftovers of an interrupted earlier run are stopped at start.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
HERE=$ROOT/bench/dnsperf
OUT=$ROOT/bench/out/dnsperf
mkdir -p "$OUT"

ENTRIES=${ENTRIES:-1000000}
SEED=${SEED:-1}
NAMES=${NAMES:-10000}
DURATION=${DURATION:-15}
REPEATS=${REPEATS:-5}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
OUTSTANDING=${OUTSTANDING:-300}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
LOAD_MAX=${LOAD_MAX:-0.7}
LOAD_WAIT=${LOAD_WAIT:-1200}
OTHER_MAX=${OTHER_MAX:-0.05}
TRIES=${TRIES:-5}
QUIET_OTHERS=${QUIET_OTHERS:-0.10}
PORT_BASE=${PORT_BASE:-53530}
UP_PORT=$PORT_BASE
WARD_PORT=$((PORT_BASE + 1))
EMPTY_PORT=$((PORT_BASE + 2))
DNSDIST_PORT=$((PORT_BASE + 3))
HZ=$(getconf CLK_TCK)

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'dnsperf.sh: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v dnsdist >/dev/null || need+=(dnsdist)
command -v nsd >/dev/null || need+=(nsd)
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

# ---------------------------------------------------------------- processes
# Every server runs in its own session (setsid), so it and its children
# (nsd forks) are stopped as one process group. Pid files let a later run
# stop what an interrupted one left behind.
PGIDS=()
stop_group() { # PGID
    local g=$1 i
    kill -TERM -- "-$g" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 -- "-$g" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$g" 2>/dev/null || true
}
cleanup() {
    local g
    for g in "${PGIDS[@]}"; do stop_group "$g"; done
    PGIDS=()
    rm -f "$OUT"/*.pid
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for f in "$OUT"/*.pid; do
    [ -e "$f" ] || continue
    g=$(cat "$f")
    # Only a process group this script started: its leader's command line
    # names a file in bench/out/dnsperf.
    if [ -r "/proc/$g/cmdline" ] && tr '\0' ' ' <"/proc/$g/cmdline" | grep -qF "$OUT/"; then
        say "stopping leftover $(basename "$f" .pid) (pgid $g) of an earlier run"
        stop_group "$g"
    fi
    rm -f "$f"
done

for p in $UP_PORT $WARD_PORT $EMPTY_PORT $DNSDIST_PORT; do
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
rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
# /proc/stat "cpu" line: user+nice+system+irq+softirq (busy) and steal, ticks.
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat; }
now() { date +%s.%N; }

dig_status() { # PORT NAME -> rcode word, or "none"
    local s
    s=$(dig +time=1 +tries=1 -p "$1" @127.0.0.1 "$2" A 2>/dev/null |
        sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
    echo "${s:-none}"
}
wait_dns() { # PORT NAME PGID TIMEOUT: until the server answers NOERROR
    local deadline
    deadline=$(($(date +%s) + $4))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        kill -0 "$3" 2>/dev/null || return 1
        [ "$(dig_status "$1" "$2")" = NOERROR ] && return 0
        sleep 0.1
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
cp -f "$WARD_BIN" "$OUT/ward"
WARD=$OUT/ward
WARD_VERSION=$("$WARD" --version)

SRC=$OUT/src-$ENTRIES.txt
QTSV=$OUT/queries-$ENTRIES.tsv
STAMP="entries=$ENTRIES seed=$SEED names=$NAMES gen=$(sha256sum bench/gen-list.py "$HERE/prepare.py" | sha256sum | cut -c1-16)"
if [ "$(cat "$OUT/inputs.stamp" 2>/dev/null)" != "$STAMP" ]; then
    say "generating the $ENTRIES-entry list and query files (bench/gen-list.py)"
    rm -f "$OUT/inputs.stamp"
    python3 bench/gen-list.py --entries "$ENTRIES" --seed "$SEED" --per-class "$NAMES" \
        --out "$SRC" --queries "$QTSV"
    python3 "$HERE/prepare.py" --source "$SRC" --queries "$QTSV" --names "$NAMES" --outdir "$OUT"
    printf '# empty benchmark list\n' >"$OUT/src-empty.txt"
    echo "$STAMP" >"$OUT/inputs.stamp"
fi
# The artifacts are built by the ward under test, every run (seconds).
# No --confidential: every rule is plaintext, so ward and dnsdist hold
# exactly the same names (confidential rules would cost ward extra hashing).
say "building the signed artifacts"
"$WARD" list build --key examples/demo.key --serial 1 --list-id bench --valid-for 7d \
    -o "$OUT/dns-1m.ward" "$SRC" >&2
"$WARD" list build --key examples/demo.key --serial 1 --list-id bench-empty --valid-for 7d \
    -o "$OUT/dns-empty.ward" "$OUT/src-empty.txt" >&2
N_SUFFIX=$(wc -l <"$OUT/dnsdist-suffix.txt")
N_EXACT=$(wc -l <"$OUT/dnsdist-exact.txt")
ALLOWED_NAME=$(head -1 "$OUT/q-allowed.txt" | cut -d' ' -f1)
BLOCKED_NAME=$(head -1 "$OUT/q-blocked.txt" | cut -d' ' -f1)

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

ward_conf() { # FILE PORT ARTIFACT STATE
    cat >"$1" <<EOF
# bench/dnsperf.sh: ward under test
[dns]
listen = ["127.0.0.1:$2"]
upstreams = ["127.0.0.1:$UP_PORT"]
allow_clients = ["127.0.0.0/8"]

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
ward_conf "$OUT/ward-1m.toml" "$WARD_PORT" "$OUT/dns-1m.ward" "$OUT/state-1m"
ward_conf "$OUT/ward-empty.toml" "$EMPTY_PORT" "$OUT/dns-empty.ward" "$OUT/state-empty"

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

# ---------------------------------------------------------------- runs
RESULTS=$OUT/results.tsv
META=$OUT/meta.txt
printf 'server\tlist\tmix\trep\tqps\tcompleted\tlost\tcpu_s\twall_s\tutil\tclient_util\tanswers_per_cpu_s\tupstream_cpu_s\tothers_cpu_s\tsteal_s\tload1\trcodes\tlatency_ms\tcheck\tresponse_bytes\tnoisy\n' >"$RESULTS"
: >"$META"
meta() { printf '%s=%s\n' "$1" "$2" >>"$META"; }
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
meta commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (uncommitted changes in src/ or Cargo files)')"
meta machine "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
meta ward "$WARD_VERSION"
meta dnsdist "$(dnsdist --version 2>&1 | head -1)"
meta dnsperf "$(dnsperf -h 2>&1 | sed -n 's/^Version //p')"
meta nsd "$(nsd -v 2>&1 | head -1)"
meta list "$ENTRIES entries, seed $SEED: $N_SUFFIX subtree + $N_EXACT exact rules"
meta dnsperf_args "-l $DURATION -c $CLIENTS -q $OUTSTANDING -T $THREADS -t 2"
meta repeats "$REPEATS"
meta other_max "$OTHER_MAX"
meta pinning "servers on CPU $SERVER_CPU (all three running, one measured at a time), dnsperf on CPU $CLIENT_CPU, nsd on CPU $CLIENT_CPU"

dnsperf_run() { # PORT FILE LOG [extra dnsperf args]
    local port=$1 file=$2 log=$3
    shift 3
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$file" -c "$CLIENTS" -T "$THREADS" -t 2 "$@" >"$log" 2>&1
}
field() { sed -n "s/^ *$2: *//p" "$1" | head -1; }

measure() { # SERVER LIST MIX PORT PID REP WAIT(load|others): one run, repeated if others were busy
    local server=$1 list=$2 mix=$3 port=$4 pid=$5 rep=$6 waitmode=$7 try
    local file=$OUT/q-$mix.txt log=$OUT/run-$server-$list-$mix-$rep.log
    local l c0 c1 u0 u1 b0 b1 s0 s1 t0 t1 dp
    local qps completed lost rcodes lat cpu wall util apc up others steal check cutil rbytes noisy
    for try in $(seq "$TRIES"); do
        wait_quiet "$waitmode" "(before $server $list $mix #$rep)"
        waitmode=others
        l=$(load1)
        read -r b0 s0 < <(cpu_busy)
        c0=$(ticks "$pid")
        u0=$(group_ticks "$NSD_PGID")
        t0=$(now)
        /usr/bin/time -f '%U %S' -o "$OUT/dnsperf.time" \
            taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$file" \
            -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" -T "$THREADS" -t 2 >"$log" 2>&1 ||
            { cat "$log" >&2; die "dnsperf failed against $server"; }
        t1=$(now)
        c1=$(ticks "$pid")
        u1=$(group_ticks "$NSD_PGID")
        read -r b1 s1 < <(cpu_busy)
        kill -0 "$pid" 2>/dev/null || die "$server ($list) exited during the run; see $OUT/$server-$list.log"
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
        say "$server $list $mix #$rep: $qps QPS, $apc answers/CPU-s (server CPU $util, dnsperf CPU $cutil, lost $lost, others $others CPU-s, steal $steal s, load $l) [$rcodes] $check"
        noisy=no
        if awk -v o="$others" -v w="$wall" -v m="$OTHER_MAX" 'BEGIN { exit !(o > m * w) }'; then
            noisy=yes
            if [ "$try" -lt "$TRIES" ]; then
                say "  others were busy during the run ($others CPU-s): repeating it"
                continue
            fi
            say "  others were busy during the run ($others CPU-s); kept, marked noisy (left out of the medians)"
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
            "$server" "$list" "$mix" "$rep" "$qps" "$completed" "$lost" "$cpu" "$wall" "$util" "$cutil" \
            "$apc" "$up" "$others" "$steal" "$l" "$rcodes" "$lat" "$check" "$rbytes" "$noisy" >>"$RESULTS"
        return 0
    done
}

warm() { # PORT: every allowed name, until one pass gets every answer
    local i log
    for i in 1 2 3 4 5; do
        log=$OUT/warm-$1-$i.log
        dnsperf_run "$1" "$OUT/q-allowed.txt" "$log" -n 1 -q 100
        if grep -q 'Queries lost: *0 ' "$log" &&
            [ "$(field "$log" 'Response codes')" = "NOERROR $NAMES (100.00%)" ]; then
            [ "$i" -gt 1 ] || continue # the first pass filled the cache
            return 0
        fi
        say "WARNING: warm-up pass $i: lost $(field "$log" 'Queries lost'), $(field "$log" 'Response codes')"
    done
    die "the cache of the server on port $1 could not be warmed; see $OUT/warm-$1-*.log"
}

say "starting nsd on 127.0.0.1:$UP_PORT (CPU $CLIENT_CPU)"
rm -f "$OUT/nsd/nsd.pid" "$OUT/nsd/nsd.log"
start nsd "$OUT/nsd-stdout.log" taskset -c "$CLIENT_CPU" nsd -d -c "$OUT/nsd/nsd.conf"
NSD_PGID=$LAST_PID
wait_dns "$UP_PORT" "$ALLOWED_NAME" "$NSD_PGID" 30 ||
    { cat "$OUT/nsd-stdout.log" "$OUT/nsd/nsd.log" >&2 2>/dev/null; die "nsd did not answer"; }

# Servers start one at a time (load time, CPU and RSS are measured with the
# others idle), all pinned to SERVER_CPU; then the runs alternate between
# them, so a slow drift of the machine hits every server alike.
server_up() { # NAME LIST PORT PID T0: after start, wait and record
    local name=$1 list=$2 port=$3 pid=$4 t0=$5 t1 k=${1}_${2}_
    wait_dns "$port" "$ALLOWED_NAME" "$pid" 600 ||
        { cat "$OUT/$name-$list.log" >&2; die "$name ($list) did not answer"; }
    t1=$(now)
    meta "${k}ready_s" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
    meta "${k}load_cpu_s" "$(awk -v t="$(ticks "$pid")" -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')"
    meta "${k}rss_loaded_mib" "$(rss_mib "$pid")"
    meta "${k}threads" "$(ls "/proc/$pid/task" | wc -l)"
    meta "${k}rcvbuf" "$(ss -Hlnum "sport = :$port" | grep -o 'rb[0-9]*' | head -1)"
    if [ "$list" != empty ] && [ "$(dig_status "$port" "$BLOCKED_NAME")" != NXDOMAIN ]; then
        say "WARNING: $name did not answer NXDOMAIN for $BLOCKED_NAME"
    fi
    warm "$port"
    meta "${k}rss_warm_mib" "$(rss_mib "$pid")"
}
server_end() { # NAME LIST PID
    local k=${1}_${2}_
    meta "${k}rss_end_mib" "$(rss_mib "$3")"
    meta "${k}hwm_mib" "$(hwm_mib "$3")"
}

meta load_start "$(load1)"
wait_quiet load "(before starting the servers)"

say "starting ward (1M list) on 127.0.0.1:$WARD_PORT, CPU $SERVER_CPU"
t0=$(now)
start ward-1m "$OUT/ward-1m.log" taskset -c "$SERVER_CPU" "$WARD" serve --config "$OUT/ward-1m.toml"
WARD_PID=$LAST_PID
server_up ward 1m "$WARD_PORT" "$WARD_PID" "$t0"

say "starting ward (empty list) on 127.0.0.1:$EMPTY_PORT, CPU $SERVER_CPU"
t0=$(now)
start ward-empty "$OUT/ward-empty.log" taskset -c "$SERVER_CPU" "$WARD" serve --config "$OUT/ward-empty.toml"
EMPTY_PID=$LAST_PID
server_up ward empty "$EMPTY_PORT" "$EMPTY_PID" "$t0"

say "starting dnsdist on 127.0.0.1:$DNSDIST_PORT, CPU $SERVER_CPU (loads $((N_SUFFIX + N_EXACT)) names)"
t0=$(now)
start dnsdist "$OUT/dnsdist-1m.log" taskset -c "$SERVER_CPU" dnsdist --supervised --disable-syslog -C "$OUT/dnsdist.conf"
DNSDIST_PID=$LAST_PID
server_up dnsdist 1m "$DNSDIST_PORT" "$DNSDIST_PID" "$t0"

# The load average is checked before the first run (after start-up and
# warm-up, which are ours); later runs check others' CPU use, since the
# load average then counts our own server and dnsperf.
first=load
for rep in $(seq "$REPEATS"); do
    for mix in allowed blocked mix9010; do
        # Alternate which server goes first from one repeat to the next.
        if [ $((rep % 2)) = 1 ]; then order="ward dnsdist"; else order="dnsdist ward"; fi
        for server in $order; do
            if [ "$server" = ward ]; then
                measure ward 1m "$mix" "$WARD_PORT" "$WARD_PID" "$rep" "$first"
                [ "$mix" != allowed ] ||
                    measure ward empty allowed "$EMPTY_PORT" "$EMPTY_PID" "$rep" others
            else
                measure dnsdist 1m "$mix" "$DNSDIST_PORT" "$DNSDIST_PID" "$rep" "$first"
            fi
            first=others
        done
    done
done

server_end ward 1m "$WARD_PID"
server_end ward empty "$EMPTY_PID"
server_end dnsdist 1m "$DNSDIST_PID"
meta load_end "$(load1)"
meta waited_for_quiet_s "$WAITED"
for pid in "$WARD_PID" "$EMPTY_PID" "$DNSDIST_PID" "$NSD_PGID"; do stop "$pid"; done
if grep -E 'WARN|ERROR|ALARM|panic' "$OUT/ward-1m.log" "$OUT/ward-empty.log" | grep -v 'DEMO key'; then
    say "WARNING: ward logged the lines above"
fi

python3 "$HERE/report.py" "$RESULTS" "$META" | tee "$OUT/results.md" "$OUT/results-$(date -u +%Y%m%dT%H%M%SZ).md"
