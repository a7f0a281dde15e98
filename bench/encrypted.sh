#!/usr/bin/env bash
# Encrypted DNS of `ward serve` ([dot], [doh]) against dnsdist (addTLSLocal,
# addDOHLocal), same list, same upstream, same certificate, same pinning as
# bench/dnsperf.sh, measured with dnsperf -m dot and -m doh on loopback.
#
#   bench/encrypted.sh                       # as root: installs what is missing
#   REPEATS=1 DURATION=10 IDLE=2000 bench/encrypted.sh
#
# One run starts nsd (the authoritative upstream: the root zone with a
# wildcard), ward and dnsdist, both pinned to CPU $SERVER_CPU, warms both
# caches over plain DNS, then for each server and transport (dot, doh):
#
#   cached   dnsperf saturated (-q $OUTSTANDING) on allowed names, all in
#            the cache: answers per server CPU-second (answers / delta of
#            the server's utime+stime);
#   blocked  the same on listed names (NXDOMAIN);
#   lat      a fixed rate (-Q $LAT_QPS -v) on allowed names: p50/p99 of
#            every answer's latency (bench/dnsperf/report.py --latency);
#   idle     $IDLE TLS connections opened and left idle (DoT: handshake
#            done; DoH: handshake, ALPN h2, the HTTP/2 preface and SETTINGS
#            sent) by bench/encrypted/idle.py pinned to $CLIENT_CPU; the
#            server's VmRSS after minus before, scaled to MiB per 10,000
#            connections. Both servers' idle timeouts are raised so the
#            connections stay open while measured.
#
# dnsperf runs on CPU $CLIENT_CPU with -c $CLIENTS -T $THREADS. The servers
# run one measured at a time (the other idles), the order alternating
# between repeats; the tables show medians of $REPEATS runs.
#
# A server that does not listen on its DoT/DoH port (ward before it serves
# `[dot]`/`[doh]`) gets "n/a" in its rows and a warning; the rest runs.
#
# Environment (defaults): ENTRIES (100000) list size, SEED (1), NAMES
# (10000) distinct names per query file, DURATION (15) s per saturated run,
# REPEATS (3), CLIENTS (8), THREADS (2), OUTSTANDING (300), LAT_QPS (5000),
# LAT_DURATION (10), IDLE (10000) idle connections per server and
# transport, DOH_CLIENTS (64) DoH connections, one query outstanding on
# each (dnsperf 2.10 loses pipelined DoH queries), DOH_METHOD (POST), SERVER_CPU (1), CLIENT_CPU (0), PORT_BASE (53630: nsd, ward
# plain/DoT/DoH, dnsdist plain/DoT/DoH on PORT_BASE..+6), WARD_BIN
# (target/release/ward, built with cargo unless set).
#
# Not in CI. Scratch and results in bench/out/encrypted/ (git-ignored);
# the table is printed and written to bench/out/encrypted/results.md.
# Docs: docs/benchmarks.md ("Encrypted DNS").
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
HERE=$ROOT/bench/encrypted
OUT=$ROOT/bench/out/encrypted
mkdir -p "$OUT"

ENTRIES=${ENTRIES:-100000}
SEED=${SEED:-1}
NAMES=${NAMES:-10000}
DURATION=${DURATION:-15}
REPEATS=${REPEATS:-3}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
OUTSTANDING=${OUTSTANDING:-300}
LAT_QPS=${LAT_QPS:-5000}
LAT_DURATION=${LAT_DURATION:-10}
IDLE=${IDLE:-10000}
DOH_CLIENTS=${DOH_CLIENTS:-64}
DOH_METHOD=${DOH_METHOD:-POST}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
PORT_BASE=${PORT_BASE:-53630}
UP_PORT=$PORT_BASE
WARD_PORT=$((PORT_BASE + 1))
WARD_DOT=$((PORT_BASE + 2))
WARD_DOH=$((PORT_BASE + 3))
DD_PORT=$((PORT_BASE + 4))
DD_DOT=$((PORT_BASE + 5))
DD_DOH=$((PORT_BASE + 6))
SERVER_NAME=dns.bench.test
HZ=$(getconf CLK_TCK)
export NO_COLOR=1

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'encrypted.sh: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v dnsdist >/dev/null || need+=(dnsdist)
command -v nsd >/dev/null || need+=(nsd)
command -v dig >/dev/null || need+=(dnsutils)
command -v openssl >/dev/null || need+=(openssl)
command -v taskset >/dev/null || need+=(util-linux)
command -v ss >/dev/null || need+=(iproute2)
command -v pgrep >/dev/null || need+=(procps)
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${need[*]}; run as root, or apt-get install -y ${need[*]}"
    say "installing ${need[*]}"
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2
fi
dnsperf -h 2>&1 | grep -q 'dot or doh' || die "this dnsperf has no -m dot/doh (dnsperf 2.6 or later needed)"
# 10,000 idle connections per server, plus dnsperf's: descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((IDLE + 1000)) ] || die "ulimit -n is $(ulimit -n); IDLE=$IDLE needs more"

# ---------------------------------------------------------------- processes
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
for p in $UP_PORT $WARD_PORT $DD_PORT; do
    ! ss -Hlnu "sport = :$p" 2>/dev/null | grep -q . || die "UDP port $p is in use; set PORT_BASE"
done
for p in $WARD_DOT $WARD_DOH $DD_DOT $DD_DOH; do
    ! ss -Hlnt "sport = :$p" 2>/dev/null | grep -q . || die "TCP port $p is in use; set PORT_BASE"
done

LAST_PID=
start() { # NAME LOG CMD...
    local name=$1 log=$2
    shift 2
    setsid "$@" >"$log" 2>&1 </dev/null &
    LAST_PID=$!
    PGIDS+=("$LAST_PID")
    echo "$LAST_PID" >"$OUT/$name.pid"
}
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
now() { date +%s.%N; }
dig_status() { # PORT NAME
    local s
    s=$(dig +time=1 +tries=1 -p "$1" @127.0.0.1 "$2" A 2>/dev/null |
        sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
    echo "${s:-none}"
}
wait_dns() { # PORT NAME PID TIMEOUT
    local deadline=$(($(date +%s) + $4))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        kill -0 "$3" 2>/dev/null || return 1
        [ "$(dig_status "$1" "$2")" = NOERROR ] && return 0
        sleep 0.05
    done
    return 1
}
listens_tcp() { ss -Hlnt "sport = :$1" 2>/dev/null | grep -q .; }
field() { sed -n "s/^ *$2: *//p" "$1" | head -1; }

# ---------------------------------------------------------------- inputs
if [ -n "${WARD_BIN:-}" ]; then
    [ -x "$WARD_BIN" ] || die "WARD_BIN=$WARD_BIN is not executable"
else
    say "building ward (cargo build --release --bin ward)"
    cargo build --release --bin ward >&2
    WARD_BIN=$ROOT/target/release/ward
fi
cp -f "$WARD_BIN" "$OUT/ward.tmp" && mv -f "$OUT/ward.tmp" "$OUT/ward"
WARD=$OUT/ward

SRC=$OUT/src-$ENTRIES.txt
QTSV=$OUT/queries-$ENTRIES.tsv
GEN=$(sha256sum bench/gen-list.py bench/dnsperf/prepare.py | sha256sum | cut -c1-16)
STAMP="entries=$ENTRIES seed=$SEED names=$NAMES gen=$GEN"
if [ "$(cat "$OUT/inputs.stamp" 2>/dev/null)" != "$STAMP" ]; then
    say "generating the $ENTRIES-entry list and query files"
    rm -f "$OUT/inputs.stamp"
    python3 bench/gen-list.py --entries "$ENTRIES" --seed "$SEED" --per-class "$NAMES" \
        --out "$SRC" --queries "$QTSV"
    python3 bench/dnsperf/prepare.py --source "$SRC" --queries "$QTSV" --names "$NAMES" --outdir "$OUT"
    echo "$STAMP" >"$OUT/inputs.stamp"
fi
"$WARD" list build --key examples/demo.key --serial 1 --list-id bench --valid-for 7d \
    -o "$OUT/dns.ward" "$SRC" >&2
first_name() { head -1 "$1" | cut -d' ' -f1; }
ALLOWED_NAME=$(first_name "$OUT/q-allowed.txt")
BLOCKED_NAME=$(first_name "$OUT/q-blocked.txt")

# One test CA and one ECDSA P-256 server certificate for both servers:
# SAN dns.bench.test, *.dns.bench.test and 127.0.0.1.
if [ ! -s "$OUT/tls/server.pem" ]; then
    say "making a test CA and server certificate"
    mkdir -p "$OUT/tls"
    (
        cd "$OUT/tls"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
            -subj "/CN=ward bench CA" -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj "/CN=$SERVER_NAME" -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:%s,DNS:*.%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
            "$SERVER_NAME" "$SERVER_NAME" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
            -extfile server.ext -out server.pem 2>/dev/null
    )
fi
CERT=$OUT/tls/server.pem
KEY=$OUT/tls/server.key

# ---------------------------------------------------------------- configs
mkdir -p "$OUT/nsd"
cat >"$OUT/nsd/root.zone" <<'EOF'
$ORIGIN .
$TTL 86400
@                 IN SOA ns.example.test. hostmaster.example.test. 1 3600 900 604800 86400
@                 IN NS  ns.example.test.
ns.example.test.  IN A   127.0.0.1
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
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: "."
    zonefile: "root.zone"
EOF

# ward: plain DNS (for warming and checks), DoT and DoH with the same
# certificate; caps and idle timeouts above what the idle cell opens.
cat >"$OUT/ward.toml" <<EOF
# bench/encrypted.sh: ward under test
[dns]
listen = ["127.0.0.1:$WARD_PORT"]
upstreams = ["127.0.0.1:$UP_PORT"]
allow_clients = ["127.0.0.0/8"]
udp_workers = 1

[cache]
max_entries = 1000000
max_memory = "512MiB"

[list]
file = "$OUT/dns.ward"
trusted_keys = ["$ROOT/examples/demo.pub"]
state_dir = "$OUT/state"
require_list = true

[block]
action = "nxdomain"

[admin]
listen = "off"

[log]
level = "info"

[dot]
listen = ["127.0.0.1:$WARD_DOT"]
cert = "$CERT"
key = "$KEY"
server_name = "$SERVER_NAME"
idle_timeout = "600s"
max_connections = $((IDLE * 2 + 1000))
max_connections_per_client = $((IDLE * 2 + 1000))

[doh]
listen = ["127.0.0.1:$WARD_DOH"]
cert = "$CERT"
key = "$KEY"
server_name = "$SERVER_NAME"
idle_timeout = "600s"
max_connections = $((IDLE * 2 + 1000))
max_connections_per_client = $((IDLE * 2 + 1000))
EOF
mkdir -p "$OUT/state"
"$WARD" config check "$OUT/ward.toml" >&2

cat >"$OUT/dnsdist.conf" <<EOF
-- bench/encrypted.sh: dnsdist under test, same list as ward, NXDOMAIN.
setLocal("127.0.0.1:$DD_PORT")
addTLSLocal("127.0.0.1:$DD_DOT", "$CERT", "$KEY", {provider="openssl"})
addDOHLocal("127.0.0.1:$DD_DOH", "$CERT", "$KEY", "/dns-query", {idleTimeout=600})
setSecurityPollSuffix("")
setACL("127.0.0.0/8")
-- Idle DoT connections stay open while measured (default 2 s).
setTCPRecvTimeout(600)
setMaxTCPConnectionsPerClient(0)
setMaxTCPQueuedConnections($((IDLE * 2 + 1000)))
newServer({address="127.0.0.1:$UP_PORT"})
pc = newPacketCache(1000000)
getPool(""):setCache(pc)
local smn = newSuffixMatchNode()
for line in io.lines("$OUT/dnsdist-suffix.txt") do smn:add(newDNSName(line)) end
local exact = newDNSNameSet()
for line in io.lines("$OUT/dnsdist-exact.txt") do exact:add(newDNSName(line)) end
addAction(SuffixMatchNodeRule(smn, true), RCodeAction(DNSRCode.NXDOMAIN))
addAction(QNameSetRule(exact), RCodeAction(DNSRCode.NXDOMAIN))
EOF
dnsdist --check-config -C "$OUT/dnsdist.conf" >"$OUT/dnsdist-check.log" 2>&1 ||
    { cat "$OUT/dnsdist-check.log" >&2; die "dnsdist config check failed"; }

# ---------------------------------------------------------------- servers
say "starting nsd, ward and dnsdist"
start nsd "$OUT/nsd-stdout.log" taskset -c "$CLIENT_CPU" nsd -d -c "$OUT/nsd/nsd.conf"
NSD_PID=$LAST_PID
wait_dns "$UP_PORT" "$ALLOWED_NAME" "$NSD_PID" 30 || die "nsd did not answer"
start ward "$OUT/ward.log" taskset -c "$SERVER_CPU" "$WARD" serve --config "$OUT/ward.toml"
WARD_PID=$LAST_PID
start dnsdist "$OUT/dnsdist.log" taskset -c "$SERVER_CPU" dnsdist --supervised --disable-syslog -C "$OUT/dnsdist.conf"
DD_PID=$LAST_PID
wait_dns "$WARD_PORT" "$ALLOWED_NAME" "$WARD_PID" 300 || { cat "$OUT/ward.log" >&2; die "ward did not answer"; }
wait_dns "$DD_PORT" "$ALLOWED_NAME" "$DD_PID" 300 || { cat "$OUT/dnsdist.log" >&2; die "dnsdist did not answer"; }
for p in "$WARD_PORT" "$DD_PORT"; do
    [ "$(dig_status "$p" "$BLOCKED_NAME")" = NXDOMAIN ] || die "port $p did not block $BLOCKED_NAME"
done

# server transport -> port, or empty when it does not listen there.
port_of() { # SERVER MODE
    local p
    case $1-$2 in
        ward-dot) p=$WARD_DOT ;; ward-doh) p=$WARD_DOH ;;
        dnsdist-dot) p=$DD_DOT ;; dnsdist-doh) p=$DD_DOH ;;
    esac
    if listens_tcp "$p"; then echo "$p"; fi
}
pid_of() { case $1 in ward) echo "$WARD_PID" ;; dnsdist) echo "$DD_PID" ;; esac; }
for s in ward dnsdist; do
    for m in dot doh; do
        [ -n "$(port_of "$s" "$m")" ] || say "WARNING: $s does not listen for $m: its $m rows are n/a"
    done
done

# dnsperf 2.10's DoH loses queries when a connection has more than one
# outstanding (and waits ~40 ms per answer: delayed ACKs), against any
# server: DoH runs one query per connection on DOH_CLIENTS connections.
dnsperf_args() { # MODE PORT
    local a=(-m "$1" -s 127.0.0.1 -p "$2")
    if [ "$1" = doh ]; then
        a+=(-O "doh-uri=https://$SERVER_NAME/dns-query" -O "doh-method=$DOH_METHOD"
            -c "$DOH_CLIENTS" -q "$DOH_CLIENTS")
    else
        a+=(-c "$CLIENTS" -q "$OUTSTANDING")
    fi
    printf '%s\n' "${a[@]}"
}
warm() { # PORT: every allowed name, over plain DNS, twice
    local i
    for i in 1 2; do
        taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$1" -d "$OUT/q-allowed.txt" -n 1 -q 100 \
            >"$OUT/warm-$1-$i.log" 2>&1
    done
    grep -q "NOERROR $NAMES (100.00%)" "$OUT/warm-$1-2.log" || die "could not warm the cache on port $1"
}
warm "$WARD_PORT"
warm "$DD_PORT"

RESULTS=$OUT/results.tsv
printf 'server\tmode\tcell\trep\tcompleted\tlost\tcpu_s\tanswers_per_cpu_s\tp50_us\tp99_us\trcodes\n' >"$RESULTS"

run() { # SERVER MODE CELL REP
    local server=$1 mode=$2 cell=$3 rep=$4 port pid file log c0 c1 cpu apc completed lost rcodes
    local p50=- p99=- args
    port=$(port_of "$server" "$mode")
    [ -n "$port" ] || return 0
    pid=$(pid_of "$server")
    mapfile -t args < <(dnsperf_args "$mode" "$port")
    case $cell in
        blocked) file=$OUT/q-blocked.txt ;;
        *) file=$OUT/q-allowed.txt ;;
    esac
    log=$OUT/run-$server-$mode-$cell-$rep.log
    c0=$(ticks "$pid")
    if [ "$cell" = lat ]; then
        taskset -c "$CLIENT_CPU" dnsperf "${args[@]}" -d "$file" -T "$THREADS" \
            -t 2 -l "$LAT_DURATION" -Q "$LAT_QPS" -v >"$log.verbose" 2>&1 || die "dnsperf failed: $log.verbose"
        read -r p50 p99 _ < <(python3 bench/dnsperf/report.py --latency "$log.verbose")
        grep -v '^> ' "$log.verbose" >"$log" || true
        rm -f "$log.verbose"
    else
        taskset -c "$CLIENT_CPU" dnsperf "${args[@]}" -d "$file" -T "$THREADS" \
            -t 2 -l "$DURATION" >"$log" 2>&1 || die "dnsperf failed: $log"
    fi
    c1=$(ticks "$pid")
    kill -0 "$pid" 2>/dev/null || die "$server exited during $mode $cell; see $OUT/$server.log"
    completed=$(field "$log" 'Queries completed' | awk '{ print $1 }')
    lost=$(field "$log" 'Queries lost' | awk '{ print $1 }')
    rcodes=$(field "$log" 'Response codes')
    cpu=$(awk -v d=$((c1 - c0)) -v hz="$HZ" 'BEGIN { printf "%.2f", d / hz }')
    apc=$(awk -v n="$completed" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')
    say "$server $mode $cell #$rep: $completed answers, $apc answers/CPU-s, lost $lost, p50 $p50 p99 $p99 us [$rcodes]"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$mode" "$cell" "$rep" \
        "${completed:-0}" "${lost:-0}" "$cpu" "$apc" "$p50" "$p99" "$rcodes" >>"$RESULTS"
}

idle() { # SERVER MODE: RSS delta of IDLE idle connections, MiB per 10,000
    local server=$1 mode=$2 port pid before after
    port=$(port_of "$server" "$mode")
    [ -n "$port" ] || return 0
    pid=$(pid_of "$server")
    before=$(rss_kib "$pid")
    # idle.py opens the connections, prints "open N", then waits for a line.
    coproc IDLER { taskset -c "$CLIENT_CPU" python3 "$HERE/idle.py" --port "$port" --count "$IDLE" \
        --mode "$mode" --server-name "$SERVER_NAME" --ca "$OUT/tls/ca.pem" 2>"$OUT/idle-$server-$mode.log"; }
    local line opened
    read -r line <&"${IDLER[0]}" || die "idle.py failed; see $OUT/idle-$server-$mode.log"
    opened=${line#open }
    sleep 2 # let the server settle after the last handshake
    after=$(rss_kib "$pid")
    echo close >&"${IDLER[1]}"
    wait "$IDLER_PID" 2>/dev/null || true
    say "$server $mode idle: $opened connections open, VmRSS $before -> $after KiB"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$mode" "$opened" "$before" "$after" \
        "$(awk -v a="$after" -v b="$before" -v n="$opened" 'BEGIN { printf "%.1f", (n > 0 ? (a - b) / 1024 * 10000 / n : 0) }')" >>"$IDLE_RESULTS"
    sleep 1
}

IDLE_RESULTS=$OUT/idle.tsv
printf 'server\tmode\topened\trss_before_kib\trss_after_kib\tmib_per_10k\n' >"$IDLE_RESULTS"
for rep in $(seq "$REPEATS"); do
    order=(ward dnsdist)
    [ $((rep % 2)) = 1 ] || order=(dnsdist ward)
    for s in "${order[@]}"; do
        for m in dot doh; do
            for cell in cached blocked lat; do run "$s" "$m" "$cell" "$rep"; done
        done
    done
done
for s in ward dnsdist; do
    for m in dot doh; do idle "$s" "$m"; done
done

python3 "$HERE/table.py" --results "$RESULTS" --idle "$IDLE_RESULTS" --lat-qps "$LAT_QPS" \
    --meta "$("$WARD" --version), $(dnsdist --version 2>&1 | head -1), dnsperf $(dnsperf -h 2>&1 | sed -n 's/^Version //p'), $ENTRIES entries, servers on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU, $(nproc) CPUs $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')" |
    tee "$OUT/results.md"
