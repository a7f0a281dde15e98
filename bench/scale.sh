#!/usr/bin/env bash
# How `ward serve`'s UDP path scales from 1 to 2 worker threads on a
# 2-CPU machine where the load generator (dnsperf) shares the CPUs with
# ward, measured on loopback.
#
#   bench/scale.sh                                  # as root
#   REPEATS=2 DURATION=5 WARD_BIN=target/release/ward bench/scale.sh
#
# On two CPUs, ward with two workers and two dnsperf processes fight over
# the same cores, so an unbounded run measures the scheduler more than
# ward. Instead every ward runs in a cgroup with a CFS bandwidth quota of
# QUOTA CPU per worker (period PERIOD_US): ward, not dnsperf, is then the
# bottleneck, and "twice the workers" means "twice the CPU budget". Three
# configurations, each in its own cgroup:
#
#   one1  one ward process, udp_workers = 1, quota 1 x QUOTA
#   one2  one ward process, udp_workers = 2, quota 2 x QUOTA
#   two   two independent ward processes, udp_workers = 1 each, on two
#         ports, together in one cgroup with quota 2 x QUOTA
#
# `two` is the control: two processes share nothing, so it is what ideal
# 2-worker scaling looks like on this machine. If one2 matches two, what
# one2 loses against 2 x one1 is the machine's (dnsperf and the kernel's
# loopback work sharing the two CPUs with ward), not shared state in ward.
#
# The client load is the same every time: two dnsperf processes, each
# -T 1 -c 8 -q 100 (16 sockets in all, so SO_REUSEPORT spreads them over
# one2's two sockets); for `two` one dnsperf per ward port, otherwise both
# at the one port. Each measurement: 3 s of warm-up with that load (it
# also fills the cache for the allowed mix), then DURATION seconds
# measured. Mixes `allowed` (cached answers) and `blocked`, REPEATS times,
# the order of the configurations rotated from one repeat to the next so a
# slow drift of the machine hits all alike.
#
# Every measurement records the total QPS (sum of both dnsperf), queries
# lost, ward CPU-seconds over the measured run (utime+stime of every ward
# process of the configuration, /proc/PID/stat), answers per ward
# CPU-second, dnsperf's CPU-seconds, how busy the whole machine was
# (results.tsv only), other processes' CPU-seconds, and the cgroup's CFS
# throttling counts. Warnings (stderr, and the `check` column): lost
# queries, unexpected response codes, a ward log without `listening for
# UDP on ... with N worker(s)` for the expected N, and a ward that used
# well under its quota (then ward was not the bottleneck and the run says
# little).
#
# The machine must be otherwise idle: a compiler on the two CPUs starves
# dnsperf and cost up to a third of the QPS in a test run. Before each
# measurement the script waits until other processes use at most
# QUIET_OTHERS CPU; a run during which they used more than OTHER_MAX of a
# CPU on average is repeated, TRIES times at most, and if still noisy kept
# but marked and left out of the medians.
#
# Inputs: what bench/dnsperf.sh prepares in bench/out/dnsperf/: the 1M
# list dns-1m.ward (signed with the demo key, trusted through
# examples/demo.pub; valid 7 days), the query files q-allowed.txt and
# q-blocked.txt, and nsd/nsd.conf + nsd/root.zone, the authoritative
# upstream (root zone with a wildcard). This script runs its own nsd from a
# copy of that config on its own port, so it neither needs nor disturbs an
# nsd that dnsperf.sh (or anyone) runs on 53530. If the inputs are missing
# or the list has expired, run bench/dnsperf.sh once first.
#
# Environment (defaults): QUOTA (0.2) CPU per worker, PERIOD_US (10000)
# the CFS period (with 100 ms the throttling stalls distorted the
# results), DURATION (10) measured seconds, WARMUP (3) seconds, REPEATS
# (3), UTIL_MIN (0.9): warn when ward used less than this fraction of its
# quota, QUIET_OTHERS (0.10 CPU), QUIET_WAIT (300 s at most per wait),
# OTHER_MAX (0.05), TRIES (3): see above, PORT_BASE (53560): nsd, one1,
# one2, two (first), two (second) listen on 127.0.0.1:PORT_BASE..+4,
# WARD_BIN (unless set, built with `cargo build --release` into
# CARGO_TARGET_DIR, default target/), DNSPERF_IN (bench/out/dnsperf):
# where the inputs are.
#
# Needs root (cgroups) and cgroup v1 (the cpu controller at
# /sys/fs/cgroup/cpu/) or v2 (/sys/fs/cgroup/cgroup.controllers). Only
# sends to 127.0.0.1; every dnsperf run is bounded by -l. Scratch and
# results go to bench/out/scale/ (git-ignored): results.tsv (one row per
# measurement) and results.md (also kept as results-TIMESTAMP.md), which
# is printed at the end. Everything this script starts is stopped, and its
# cgroups removed, on exit; leftovers of an interrupted earlier run are
# stopped at start.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out/scale
IN=${DNSPERF_IN:-$ROOT/bench/out/dnsperf}

QUOTA=${QUOTA:-0.2}
PERIOD_US=${PERIOD_US:-10000}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
REPEATS=${REPEATS:-3}
UTIL_MIN=${UTIL_MIN:-0.9}
QUIET_OTHERS=${QUIET_OTHERS:-0.10}
QUIET_WAIT=${QUIET_WAIT:-300}
OTHER_MAX=${OTHER_MAX:-0.05}
TRIES=${TRIES:-3}
PORT_BASE=${PORT_BASE:-53560}
UP_PORT=$PORT_BASE
ONE1_PORT=$((PORT_BASE + 1))
ONE2_PORT=$((PORT_BASE + 2))
TWO_A_PORT=$((PORT_BASE + 3))
TWO_B_PORT=$((PORT_BASE + 4))
# Per dnsperf process; there are always two.
DP_ARGS=(-T 1 -c 8 -q 100)
HZ=$(getconf CLK_TCK)
# ward's log lines are grepped: no colour codes.
export NO_COLOR=1

say() { printf '== %s\n' "$*" >&2; }
warn() { printf '== WARNING: %s\n' "$*" >&2; }
die() { printf 'scale.sh: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root: it creates cgroups to cap ward's CPU (sudo bench/scale.sh)"
for v in DURATION WARMUP REPEATS PERIOD_US PORT_BASE TRIES; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (is '${!v}')"
done
# CFS bandwidth limits (v1 and v2 alike): period 1 ms .. 1 s, quota >= 1 ms.
if [ "$PERIOD_US" -lt 1000 ] || [ "$PERIOD_US" -gt 1000000 ]; then
    die "PERIOD_US must be between 1000 and 1000000 (the kernel's limits)"
fi
quota_us() { # WORKERS -> the cgroup's quota in microseconds per period
    awk -v q="$QUOTA" -v n="$1" -v p="$PERIOD_US" 'BEGIN { printf "%.0f", q * n * p }'
}
[ "$(quota_us 1)" -ge 1000 ] ||
    die "QUOTA x PERIOD_US must be at least 1000 us (the kernel's minimum quota); raise QUOTA or PERIOD_US"
[ "$(nproc)" -ge 2 ] || warn "$(nproc) CPU; this benchmark is meant for a 2-CPU machine"

# ---------------------------------------------------------------- tools
need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v nsd >/dev/null || need+=(nsd)
command -v dig >/dev/null || need+=(dnsutils)
[ -x /usr/bin/time ] || need+=(time)
command -v ss >/dev/null || need+=(iproute2)
command -v setsid >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    # On a host with systemd this also enables nsd's own service (port 53);
    # this script never uses or touches it.
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >&2
fi

# ---------------------------------------------------------------- inputs
missing=()
for f in dns-1m.ward q-allowed.txt q-blocked.txt nsd/nsd.conf nsd/root.zone; do
    [ -s "$IN/$f" ] || missing+=("$f")
done
[ ${#missing[@]} = 0 ] ||
    die "missing in $IN: ${missing[*]}. Run bench/dnsperf.sh once first: it prepares them (generating and signing the 1M list takes a minute or two; the whole run much longer, e.g. REPEATS=1 ENTRIES_BIG=0 SCALE=0 bench/dnsperf.sh for a short one)"

mkdir -p "$OUT"
if [ -n "${WARD_BIN:-}" ]; then
    [ -x "$WARD_BIN" ] || die "WARD_BIN=$WARD_BIN is not executable"
else
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    say "building ward (cargo build --release --bin ward, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    cargo build --release --bin ward >&2
    WARD_BIN=$CARGO_TARGET_DIR/release/ward
fi
# A private copy: another build must not swap the binary mid-run.
cp -f "$WARD_BIN" "$OUT/ward.tmp" && mv -f "$OUT/ward.tmp" "$OUT/ward"
WARD=$OUT/ward
# The list is valid for 7 days from dnsperf.sh's run; ward would refuse an
# expired one (require_list), so say so now rather than "did not answer".
"$WARD" list verify --trust "$ROOT/examples/demo.pub" "$IN/dns-1m.ward" >"$OUT/verify.log" 2>&1 ||
    { cat "$OUT/verify.log" >&2; die "$IN/dns-1m.ward does not verify (expired? run bench/dnsperf.sh again to rebuild it)"; }

first_name() { head -1 "$1" | cut -d' ' -f1; }
ALLOWED_NAME=$(first_name "$IN/q-allowed.txt")
BLOCKED_NAME=$(first_name "$IN/q-blocked.txt")

# ---------------------------------------------------------------- processes
# Every server runs in its own session (setsid), so it and its children
# (nsd forks) are stopped as one process group. Pid files let a later run
# stop what an interrupted one left behind.
PGIDS=()
DP_PIDS=()
CGROUPS=()
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
cleanup() {
    local g p c i
    # dnsperf runs under /usr/bin/time: stop both (each run is bounded by
    # -l anyway).
    for p in "${DP_PIDS[@]}"; do
        pkill -TERM -P "$p" 2>/dev/null || true
        kill -TERM "$p" 2>/dev/null || true
    done
    for g in "${PGIDS[@]}"; do stop_group "$g"; done
    # Reap them: a cgroup can only be removed once its processes are gone.
    wait 2>/dev/null || true
    PGIDS=()
    rm -f "$OUT"/*.pid
    for c in "${CGROUPS[@]}"; do
        for i in $(seq 20); do
            [ -d "$c" ] || break
            rmdir "$c" 2>/dev/null && break
            sleep 0.1
        done
        [ ! -d "$c" ] || warn "could not remove cgroup $c (still has processes?)"
    done
    CGROUPS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_leftovers "$OUT"

for p in $UP_PORT $ONE1_PORT $ONE2_PORT $TWO_A_PORT $TWO_B_PORT; do
    if ss -Hlnu "sport = :$p" 2>/dev/null | grep -q .; then
        die "UDP port $p is in use; set PORT_BASE (this script uses PORT_BASE..PORT_BASE+4)"
    fi
done

# ---------------------------------------------------------------- cgroups
# One cgroup per configuration, named after this shell's pid, so that
# concurrent runs do not collide and leftovers are recognisable.
CG_PREFIX=ward-scale
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    # v2, the unified hierarchy. Our groups are children of the root: the
    # root is exempt from the "no internal processes" rule, so the cpu
    # controller can be enabled for its children while processes (this
    # shell, say) live in it. A controller's files (cpu.max) appear in a
    # child only when the parent's cgroup.subtree_control has it.
    CG_VER=2
    CG_BASE=/sys/fs/cgroup
    grep -qw cpu "$CG_BASE/cgroup.controllers" ||
        die "cgroup v2 without the cpu controller ($CG_BASE/cgroup.controllers: $(cat "$CG_BASE/cgroup.controllers")); is it bound to a v1 hierarchy?"
    if ! grep -qw cpu "$CG_BASE/cgroup.subtree_control"; then
        say "enabling the cpu controller in $CG_BASE/cgroup.subtree_control"
        # Fails if a real-time process sits in a non-root cgroup (v2 does
        # not control RT tasks), or if this "root" is really a non-root
        # cgroup with processes (a container's cgroup namespace).
        echo +cpu >"$CG_BASE/cgroup.subtree_control" ||
            die "could not enable +cpu in $CG_BASE/cgroup.subtree_control (real-time processes outside the root cgroup? a container whose cgroup root has processes?)"
    fi
elif [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    # v1: the cpu controller's own hierarchy.
    CG_VER=1
    CG_BASE=/sys/fs/cgroup/cpu
else
    die "no cgroup cpu controller found (neither /sys/fs/cgroup/cgroup.controllers nor /sys/fs/cgroup/cpu/cpu.cfs_quota_us)"
fi
# Groups of an interrupted earlier run: those whose script is gone (the
# pid in the name) and that are empty (rmdir refuses others).
for c in "$CG_BASE/$CG_PREFIX".*.*; do
    [ -d "$c" ] || continue
    owner=${c#"$CG_BASE/$CG_PREFIX".}
    owner=${owner%%.*}
    [ ! -e "/proc/$owner" ] || continue
    rmdir "$c" 2>/dev/null && say "removed leftover cgroup $c"
done

cg_make() { # NAME WORKERS: creates the cgroup with the quota for WORKERS; prints its path
    local c=$CG_BASE/$CG_PREFIX.$$.$1 q
    q=$(quota_us "$2")
    mkdir "$c"
    CGROUPS+=("$c")
    if [ "$CG_VER" = 2 ]; then
        [ -e "$c/cpu.max" ] || die "$c/cpu.max missing: the cpu controller is not enabled for $CG_BASE's children"
        echo "$q $PERIOD_US" >"$c/cpu.max"
    else
        # The period first: the quota is checked against it.
        echo "$PERIOD_US" >"$c/cpu.cfs_period_us"
        echo "$q" >"$c/cpu.cfs_quota_us"
    fi
}
cg_path() { echo "$CG_BASE/$CG_PREFIX.$$.$1"; }
cg_limit() { # CGROUP -> "QUOTA_US PERIOD_US" as the kernel has it
    if [ "$CG_VER" = 2 ]; then cat "$1/cpu.max"; else echo "$(cat "$1/cpu.cfs_quota_us") $(cat "$1/cpu.cfs_period_us")"; fi
}
cg_stat() { # CGROUP -> "NR_PERIODS NR_THROTTLED THROTTLED_US"
    # v1 reports throttled_time in ns, v2 throttled_usec.
    awk '$1 == "nr_periods" { p = $2 } $1 == "nr_throttled" { t = $2 }
         $1 == "throttled_usec" { u = $2 } $1 == "throttled_time" { u = $2 / 1000 }
         END { printf "%d %d %.0f\n", p, t, u }' "$1/cpu.stat" 2>/dev/null || echo "0 0 0"
}
cg_check() { # CGROUP PID: every thread of PID is in CGROUP (v1: moves strays)
    local c=$1 pid=$2 t
    if [ "$CG_VER" = 2 ]; then
        # All threads of a process share its cgroup in v2 (no threaded
        # subtrees here): "0::/PATH" of /proc/PID/cgroup.
        grep -qx "0::/${c#"$CG_BASE"/}" "/proc/$pid/cgroup" ||
            die "ward (pid $pid) is not in $c: $(cat "/proc/$pid/cgroup")"
    else
        # v1 places threads one by one (the tasks file): a thread started
        # before the process joined would escape the quota. ward joins
        # before exec (see start_ward), so this only checks, and moves any
        # thread that is elsewhere.
        for t in "/proc/$pid/task"/*; do
            t=${t##*/}
            grep -qx "$t" "$c/tasks" && continue
            warn "thread $t of ward (pid $pid) was outside $c; moving it"
            echo "$t" >"$c/tasks"
        done
    fi
}

# ---------------------------------------------------------------- configs
# Our own nsd: dnsperf.sh's config and zone, with this run's port and
# files (pid, log, xfrd state) in bench/out/scale/nsd.
mkdir -p "$OUT/nsd"
cp -f "$IN/nsd/root.zone" "$OUT/nsd/root.zone"
sed -e "s#$IN/nsd#$OUT/nsd#g" -e "s#^\( *ip-address: *127\.0\.0\.1\)@[0-9]*#\1@$UP_PORT#" \
    "$IN/nsd/nsd.conf" >"$OUT/nsd/nsd.conf"
grep -q "ip-address: *127.0.0.1@$UP_PORT\$" "$OUT/nsd/nsd.conf" ||
    die "could not set the port in $OUT/nsd/nsd.conf (has $IN/nsd/nsd.conf changed?)"
! grep -qF "$IN/" "$OUT/nsd/nsd.conf" || die "$OUT/nsd/nsd.conf still names files in $IN"
rm -f "$OUT/nsd/nsd.pid" "$OUT/nsd/nsd.log" "$OUT/nsd/xfrd.state" "$OUT/nsd/zone.list"

ward_conf() { # NAME PORT UDP_WORKERS
    cat >"$OUT/$1.toml" <<EOF
# bench/scale.sh: ward under test ($1)
[dns]
listen = ["127.0.0.1:$2"]
upstreams = ["127.0.0.1:$UP_PORT"]
allow_clients = ["127.0.0.0/8"]
udp_workers = $3

[list]
file = "$IN/dns-1m.ward"
trusted_keys = ["$ROOT/examples/demo.pub"]
state_dir = "$OUT/state-$1"
require_list = true

[block]
action = "nxdomain"

[admin]
listen = "off"

# info: the "listening for UDP on ... with N worker(s)" line is checked.
[log]
level = "info"
EOF
    rm -rf "$OUT/state-$1"
    mkdir -p "$OUT/state-$1"
    # (It warns about the demo key, as ward serve does.)
    "$WARD" config check "$OUT/$1.toml" >"$OUT/$1.check" 2>&1 ||
        { cat "$OUT/$1.check" >&2; die "ward config check failed for $OUT/$1.toml"; }
}
ward_conf one1 "$ONE1_PORT" 1
ward_conf one2 "$ONE2_PORT" 2
ward_conf two-a "$TWO_A_PORT" 1
ward_conf two-b "$TWO_B_PORT" 1

# ---------------------------------------------------------------- helpers
LAST_PID=
start() { # NAME LOG CMD...: starts CMD in a new session; sets LAST_PID
    local name=$1 log=$2
    shift 2
    setsid "$@" >"$log" 2>&1 </dev/null &
    LAST_PID=$!
    PGIDS+=("$LAST_PID")
    echo "$LAST_PID" >"$OUT/$name.pid"
}
start_ward() { # NAME CGROUP: sets LAST_PID
    # The shell joins the cgroup and then execs ward, so every thread ward
    # ever makes is born inside it (list loading included) and nothing
    # escapes the quota, in v1 (per-thread) and v2 alike. cgroup.procs: one
    # pid per write; in v1 it moves the whole (here single-threaded) process.
    # shellcheck disable=SC2016 # $$, $1 and $@ are the inner shell's
    start "$1" "$OUT/$1.log" sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' \
        sh "$2" "$WARD" serve --config "$OUT/$1.toml"
}
dig_status() { # PORT NAME -> rcode word, or "none"
    local s
    s=$(dig +time=1 +tries=1 -p "$1" @127.0.0.1 "$2" A 2>/dev/null |
        sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
    echo "${s:-none}"
}
wait_dns() { # PORT NAME PID TIMEOUT: until the server answers NOERROR
    local deadline
    deadline=$(($(date +%s) + $4))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        kill -0 "$3" 2>/dev/null || return 1
        [ "$(dig_status "$1" "$2")" = NOERROR ] && return 0
        sleep 0.05
    done
    return 1
}
ticks() { # PID: utime+stime of the process (all its threads), clock ticks
    # Fields after the command name, which may contain spaces.
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
pids_ticks() { # PID...: summed
    local t=0 p
    for p in "$@"; do t=$((t + $(ticks "$p"))); done
    echo "$t"
}
# The machine's busy time, ticks: user+nice+system+irq+softirq of the
# /proc/stat "cpu" line. Tick-sampled, so only roughly (results.tsv only).
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
load1() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }
field() { sed -n "s/^ *$2: *//p" "$1" | head -1; }
worker_line() { # LOG -> N of "listening for UDP on ... with N worker(s)", or nothing
    grep -o 'listening for UDP on [^ ]* with [0-9]* workers\?' "$1" | head -1 | awk '{ print $(NF - 1) }' || true
}

# ---------------------------------------------------------------- servers
say "starting nsd on 127.0.0.1:$UP_PORT"
start nsd "$OUT/nsd-stdout.log" nsd -d -c "$OUT/nsd/nsd.conf"
NSD_PGID=$LAST_PID
wait_dns "$UP_PORT" "$ALLOWED_NAME" "$NSD_PGID" 30 ||
    { cat "$OUT/nsd-stdout.log" "$OUT/nsd/nsd.log" >&2 2>/dev/null; die "nsd did not answer"; }

say "cgroup v$CG_VER under $CG_BASE: $QUOTA CPU per worker, period $PERIOD_US us"
cg_make one1 1
cg_make one2 2
cg_make two 2

# Config name -> its ward processes, ports, expected workers per process.
declare -A CPIDS CPORTS CWORKERS CNAMES CLOGCHECK
CNAMES=([one1]="one1" [one2]="one2" [two]="two-a two-b")
CWORKERS=([one1]=1 [one2]=2 [two]=1)
CPORTS=([one1]="$ONE1_PORT $ONE1_PORT" [one2]="$ONE2_PORT $ONE2_PORT" [two]="$TWO_A_PORT $TWO_B_PORT")
declare -A PORT_OF=([one1]=$ONE1_PORT [one2]=$ONE2_PORT [two-a]=$TWO_A_PORT [two-b]=$TWO_B_PORT)
for cfg in one1 one2 two; do
    cg=$(cg_path "$cfg")
    CPIDS[$cfg]=""
    CLOGCHECK[$cfg]=ok
    for name in ${CNAMES[$cfg]}; do
        say "starting ward $name on 127.0.0.1:${PORT_OF[$name]} (udp_workers = ${CWORKERS[$cfg]}) in $cg"
        start_ward "$name" "$cg"
        pid=$LAST_PID
        # Under the quota loading the 1M list takes a little longer.
        wait_dns "${PORT_OF[$name]}" "$ALLOWED_NAME" "$pid" 120 ||
            { cat "$OUT/$name.log" >&2; die "ward $name did not answer; see $OUT/$name.log"; }
        [ "$(dig_status "${PORT_OF[$name]}" "$BLOCKED_NAME")" = NXDOMAIN ] ||
            warn "ward $name did not answer NXDOMAIN for $BLOCKED_NAME"
        got=$(worker_line "$OUT/$name.log")
        if [ "$got" != "${CWORKERS[$cfg]}" ]; then
            warn "ward $name: expected 'listening for UDP on ... with ${CWORKERS[$cfg]} worker(s)' in $OUT/$name.log, got '${got:-nothing}'"
            CLOGCHECK[$cfg]=workers-not-logged
        fi
        cg_check "$cg" "$pid"
        CPIDS[$cfg]="${CPIDS[$cfg]} $pid"
    done
    say "  $cg: limit $(cg_limit "$cg") (quota period, us)"
done

# ---------------------------------------------------------------- runs
RESULTS=$OUT/results.tsv
META=$OUT/meta.txt
printf 'rep\tmix\tconfig\tprocesses\tworkers\tquota_cpus\tqps\tcompleted\tlost\tward_cpu_s\twall_s\tward_util\tanswers_per_cpu_s\tclient_cpu_s\tmachine_busy_cpus\tothers_cpu_s\tperiods\tthrottled\tthrottled_ms\tload1\trcodes\tnoisy\tcheck\n' >"$RESULTS"
: >"$META"
meta() { printf '%s=%s\n' "$1" "$2" >>"$META"; }
meta date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# Read-only (no index refresh): someone may be working in this tree.
git --no-optional-locks diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null ||
    commit="$commit (uncommitted changes in src/ or Cargo files)"
meta commit "$commit"
meta machine "$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r)"
meta ward "$("$WARD" --version) ($WARD_BIN)"
meta dnsperf "$(dnsperf -h 2>&1 | sed -n 's/^Version //p')"
meta cgroup "v$CG_VER"
meta quota "$QUOTA"
meta period_us "$PERIOD_US"
meta duration "$DURATION"
meta warmup "$WARMUP"
meta repeats "$REPEATS"
meta dnsperf_args "2 x dnsperf ${DP_ARGS[*]} -l $DURATION"
meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
meta other_max "$OTHER_MAX"

# Other processes' CPU time, ticks: utime+stime+cutime+cstime summed over
# every user process that is neither this script nor one of its
# descendants (dnsperf, ...) nor in one of our servers' process groups
# (ward, nsd); kernel threads are left out (much of their work is
# loopback's, for us). Per process these add up to the exact run time,
# unlike /proc/stat's ticks, which under this load were off by up to a
# CPU-second in 5 s in either direction depending on the configuration.
# The difference of two sums is others' CPU time in between: a process
# that exits in between and is reaped moves its total into its parent's
# cutime, and its earlier part cancels with the first sum.
others_ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v me=$$ -v servers="${PGIDS[*]}" '
        BEGIN { n = split(servers, s, " "); for (i = 1; i <= n; i++) srv[s[i]] = 1 }
        {
            pid = $1
            sub(/.*\) /, "")   # past the command name, which may hold spaces
            ppid[pid] = $2; pg[pid] = $3; v[pid] = $12 + $13 + $14 + $15
        }
        END {
            t = 0
            for (p in v) {
                if (p == 2 || ppid[p] == 2 || (pg[p] in srv)) continue
                q = p; ours = 0
                for (i = 0; i < 100 && q > 1; i++) {
                    if (q == me) { ours = 1; break }
                    if (!(q in ppid)) break
                    q = ppid[q]
                }
                if (!ours) t += v[p]
            }
            print t
        }'
}
others_now() { # others' CPU use over 2 s, in CPUs
    local a b
    a=$(others_ticks)
    sleep 2
    b=$(others_ticks)
    awk -v d=$((b - a)) -v hz="$HZ" 'BEGIN { printf "%.2f", d / hz / 2 }'
}
WAITED=0
wait_quiet() { # WHY: until others use at most QUIET_OTHERS CPU (QUIET_WAIT s at most)
    local start o said=0
    start=$(date +%s)
    while :; do
        o=$(others_now)
        awk -v o="$o" -v q="$QUIET_OTHERS" 'BEGIN { exit !(o <= q) }' && break
        if [ $(($(date +%s) - start)) -ge "$QUIET_WAIT" ]; then
            warn "others still use $o CPU after ${QUIET_WAIT}s; measuring anyway"
            break
        fi
        if [ $(($(date +%s) - said)) -ge 30 ]; then
            say "waiting for a quiet machine: others use $o CPU ($1)"
            said=$(date +%s)
        fi
        sleep 3
    done
    WAITED=$((WAITED + $(date +%s) - start))
}

dnsperf_pair() { # SECONDS PORT_A PORT_B FILE TAG: two dnsperf at once, bounded by -l
    local secs=$1 pa=$2 pb=$3 file=$4 tag=$5 rc=0 p
    DP_PIDS=()
    for p in a:"$pa" b:"$pb"; do
        /usr/bin/time -f '%U %S' -o "$OUT/$tag-${p%%:*}.time" \
            dnsperf -s 127.0.0.1 -p "${p#*:}" -d "$file" "${DP_ARGS[@]}" -l "$secs" \
            >"$OUT/$tag-${p%%:*}.log" 2>&1 &
        DP_PIDS+=($!)
    done
    for p in "${DP_PIDS[@]}"; do wait "$p" || rc=$?; done
    DP_PIDS=()
    [ "$rc" = 0 ] || { cat "$OUT/$tag-a.log" "$OUT/$tag-b.log" >&2; die "dnsperf failed ($tag)"; }
}

measure() { # CONFIG MIX REP: one measurement, repeated if others were busy
    local cfg=$1 mix=$2 rep=$3 cg file tag ports pids p try
    local c0 c1 o0 o1 s0 s1 b0 b1 t0 t1 l qps completed lost rcodes expect
    local cpu wall util apc client busy others quota_cpus periods throttled thr_ms nprocs noisy
    local problems
    cg=$(cg_path "$cfg")
    file=$IN/q-$mix.txt
    tag=run-$rep-$mix-$cfg
    read -r -a ports <<<"${CPORTS[$cfg]}"
    read -r -a pids <<<"${CPIDS[$cfg]}"
    nprocs=${#pids[@]}
    quota_cpus=$(awk -v q="$QUOTA" -v n="${CWORKERS[$cfg]}" -v k="$nprocs" 'BEGIN { printf "%.2f", q * n * k }')
    case $mix in
        allowed) expect=NOERROR ;;
        blocked) expect=NXDOMAIN ;;
    esac
    for try in $(seq "$TRIES"); do
        problems=()
        wait_quiet "before $cfg $mix #$rep"
        dnsperf_pair "$WARMUP" "${ports[0]}" "${ports[1]}" "$file" "warm-$rep-$mix-$cfg"
        l=$(load1)
        c0=$(pids_ticks "${pids[@]}")
        o0=$(others_ticks)
        s0=$(cg_stat "$cg")
        b0=$(cpu_busy)
        t0=$(now)
        dnsperf_pair "$DURATION" "${ports[0]}" "${ports[1]}" "$file" "$tag"
        t1=$(now)
        c1=$(pids_ticks "${pids[@]}")
        o1=$(others_ticks)
        s1=$(cg_stat "$cg")
        b1=$(cpu_busy)
        for p in "${pids[@]}"; do
            kill -0 "$p" 2>/dev/null || die "ward (pid $p, $cfg) exited during the run; see its log in $OUT"
        done
        qps=$(cat "$OUT/$tag-a.log" "$OUT/$tag-b.log" | sed -n 's/^ *Queries per second: *//p' |
            awk '{ s += $1 } END { printf "%.0f", s }')
        completed=$(cat "$OUT/$tag-a.log" "$OUT/$tag-b.log" | sed -n 's/^ *Queries completed: *//p' |
            awk '{ s += $1 } END { print s + 0 }')
        lost=$(cat "$OUT/$tag-a.log" "$OUT/$tag-b.log" | sed -n 's/^ *Queries lost: *//p' |
            awk '{ s += $1 } END { print s + 0 }')
        rcodes="$(field "$OUT/$tag-a.log" 'Response codes') / $(field "$OUT/$tag-b.log" 'Response codes')"
        cpu=$(awk -v d=$((c1 - c0)) -v hz="$HZ" 'BEGIN { printf "%.2f", d / hz }')
        wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
        util=$(awk -v c="$cpu" -v w="$wall" 'BEGIN { printf "%.2f", c / w }')
        apc=$(awk -v n="$completed" -v c="$cpu" 'BEGIN { printf "%.0f", (c > 0 ? n / c : 0) }')
        client=$(cat "$OUT/$tag-a.time" "$OUT/$tag-b.time" | awk '{ s += $1 + $2 } END { printf "%.2f", s }')
        busy=$(awk -v d=$((b1 - b0)) -v hz="$HZ" -v w="$wall" 'BEGIN { printf "%.2f", d / hz / w }')
        others=$(awk -v d=$((o1 - o0)) -v hz="$HZ" 'BEGIN { printf "%.2f", d / hz }')
        read -r periods throttled thr_ms < <(awk -v a="$s0" -v b="$s1" 'BEGIN {
            split(a, x, " "); split(b, y, " "); printf "%d %d %.0f\n", y[1] - x[1], y[2] - x[2], (y[3] - x[3]) / 1000 }')
        say "$cfg $mix #$rep: $qps QPS, $apc answers/CPU-s (ward $util of $quota_cpus CPU, dnsperf $client CPU-s, machine $busy CPUs busy, others $others CPU-s, throttled $throttled of $periods periods, lost $lost, load $l)"
        noisy=no
        if awk -v o="$others" -v w="$wall" -v m="$OTHER_MAX" 'BEGIN { exit !(o > m * w) }'; then
            noisy=yes
            if [ "$try" -lt "$TRIES" ]; then
                say "  others were busy during the run ($others CPU-s): repeating it"
                continue
            fi
            warn "$cfg $mix #$rep: others were busy during the run ($others CPU-s); kept, marked noisy (left out of the medians)"
        fi
        for p in a b; do
            if ! field "$OUT/$tag-$p.log" 'Response codes' | grep -Eq "^$expect [0-9]+ \(100\.00%\)$"; then
                warn "$cfg $mix #$rep: expected only $expect, got: $rcodes"
                problems+=(rcodes)
                break
            fi
        done
        if [ "$lost" != 0 ]; then
            warn "$cfg $mix #$rep: dnsperf lost $lost queries"
            problems+=(lost)
        fi
        [ "${CLOGCHECK[$cfg]}" = ok ] || problems+=("${CLOGCHECK[$cfg]}")
        if awk -v u="$util" -v q="$quota_cpus" -v m="$UTIL_MIN" 'BEGIN { exit !(u < m * q) }'; then
            warn "$cfg $mix #$rep: ward used $util CPU of its $quota_cpus: ward was not the bottleneck"
            problems+=(under-quota)
        fi
        [ "$noisy" = no ] || problems+=(noisy)
        check=$(IFS=,; echo "${problems[*]:-ok}")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
            "$rep" "$mix" "$cfg" "$nprocs" "${CWORKERS[$cfg]}" "$quota_cpus" "$qps" "$completed" "$lost" \
            "$cpu" "$wall" "$util" "$apc" "$client" "$busy" "$others" "$periods" "$throttled" "$thr_ms" "$l" \
            "$rcodes" "$noisy" "$check" >>"$RESULTS"
        return 0
    done
}

configs=(one1 one2 two)
# The first measurement on freshly started wards read a quarter to a third
# low (one1 allowed, first in the first repeat, in 2 of 3 test runs), even
# after its own warm-up: load every configuration with both mixes once,
# unmeasured, before the first repeat.
say "settling: ${WARMUP}s of load per configuration and mix, not measured"
for mix in allowed blocked; do
    for cfg in "${configs[@]}"; do
        read -r -a ports <<<"${CPORTS[$cfg]}"
        dnsperf_pair "$WARMUP" "${ports[0]}" "${ports[1]}" "$IN/q-$mix.txt" "settle-$mix-$cfg"
    done
done
for rep in $(seq "$REPEATS"); do
    # Rotate which configuration goes first from one repeat to the next.
    order=()
    for i in 0 1 2; do order+=("${configs[$(((i + rep - 1) % 3))]}"); done
    for mix in allowed blocked; do
        for cfg in "${order[@]}"; do measure "$cfg" "$mix" "$rep"; done
    done
done
meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
meta waited_s "$WAITED"

for name in one1 one2 two-a two-b; do
    # Expected: the demo key's warning and, as root, the one about not
    # dropping privileges ([process] user is not set).
    if grep -E 'WARN|ERROR|ALARM|panic' "$OUT/$name.log" | grep -v -e 'DEMO key' -e 'running as root' >&2; then
        warn "ward $name logged the lines above ($OUT/$name.log)"
    fi
done
cleanup

# ---------------------------------------------------------------- report
python3 - "$RESULTS" "$META" >"$OUT/results.md" <<'EOF'
import csv, statistics, sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
meta = dict(l.rstrip("\n").split("=", 1) for l in open(sys.argv[2]) if "=" in l)
q, per = float(meta["quota"]), int(meta["period_us"])

print("# ward UDP scaling, 1 to 2 workers, CPU-capped (bench/scale.sh)\n")
print(f"- date: {meta['date']}, commit {meta['commit']}")
print(f"- machine: {meta['machine']}; load average at start {meta['load_start']}, at end {meta['load_end']}")
print(f"- {meta['ward']}; dnsperf {meta['dnsperf']}")
print(f"- cgroup {meta['cgroup']} CFS quota: {q:g} CPU per worker ({q * per:.0f} us per {per} us period)")
print(f"- load: {meta['dnsperf_args']} (one per port for `two`), after {meta['warmup']} s of warm-up; "
      f"{meta['duration']} s measured, {meta['repeats']} repeats, configurations rotated; "
      f"waited {meta['waited_s']} s in all for a quiet machine")
print("- one1: 1 process x 1 worker, quota 1 x Q; one2: 1 process x 2 workers, quota 2 x Q; "
      "two: 2 processes x 1 worker, quota 2 x Q together (the ideal-scaling control)\n")

print("## Measurements\n")
print("| # | mix | config | quota CPU | QPS | lost | ward CPU-s | ward CPU | answers/CPU-s "
      "| dnsperf CPU-s | others CPU-s | throttled periods | load | check |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for r in rows:
    print(f"| {r['rep']} | {r['mix']} | {r['config']} | {r['quota_cpus']} | {int(r['qps']):,} | {r['lost']} "
          f"| {r['ward_cpu_s']} | {r['ward_util']} | {int(r['answers_per_cpu_s']):,} | {r['client_cpu_s']} "
          f"| {r['others_cpu_s']} | {r['throttled']}/{r['periods']} | {r['load1']} | {r['check']} |")

noisy_only = set()
def med(mix, cfg, key):
    # Noisy runs (others busy) are left out, unless there is nothing else.
    cell = [r for r in rows if r["mix"] == mix and r["config"] == cfg]
    quiet = [r for r in cell if r["noisy"] == "no"]
    if cell and not quiet:
        noisy_only.add(f"{mix} {cfg}")
    v = [float(r[key]) for r in (quiet or cell)]
    return statistics.median(v) if v else float("nan")

print("\n## Summary (medians; ratios of the medians)\n")
print("| mix | QPS one1 | QPS one2 | QPS two | answers/CPU-s one1 | one2 | two "
      "| one2 ÷ one1 QPS | two ÷ one1 QPS | one2 ÷ two QPS | one2 ÷ two answers/CPU-s |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for mix in dict.fromkeys(r["mix"] for r in rows):
    qp = {c: med(mix, c, "qps") for c in ("one1", "one2", "two")}
    ap = {c: med(mix, c, "answers_per_cpu_s") for c in ("one1", "one2", "two")}
    print(f"| {mix} | {qp['one1']:,.0f} | {qp['one2']:,.0f} | {qp['two']:,.0f} "
          f"| {ap['one1']:,.0f} | {ap['one2']:,.0f} | {ap['two']:,.0f} "
          f"| {qp['one2'] / qp['one1']:.2f} | {qp['two'] / qp['one1']:.2f} "
          f"| {qp['one2'] / qp['two']:.2f} | {ap['one2'] / ap['two']:.2f} |")
print("\nward CPU: ward's CPU-s / wall time, against its quota; answers/CPU-s: answers / ward CPU-s; "
      "others: CPU-s of user processes other than ward, nsd, dnsperf and this script; "
      "throttled: CFS periods in which the cgroup ran out of quota / periods.")
if noisy_only:
    print(f"\nOnly noisy runs for: {', '.join(sorted(noisy_only))}; their medians use them.")
bad = [r for r in rows if r["check"] != "ok"]
if bad:
    print(f"\n{len(bad)} measurement(s) not ok (check column): noisy (others busy; left out of the "
          "medians), lost queries, unexpected response codes, a worker count not confirmed by "
          "ward's log, or under-quota (ward used under its quota: it was not the bottleneck).")
EOF
cp -f "$OUT/results.md" "$OUT/results-$(date -u +%Y%m%dT%H%M%SZ).md"
cat "$OUT/results.md"
