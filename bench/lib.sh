# shellcheck shell=bash
# Shell helpers shared by the bench scripts (sourced, not run).
#
# Servers run in their own sessions (setsid), so a server and its children
# stop as one process group; pid files in the script's output folder let a
# later run stop what an interrupted one left behind. The caller defines
# `say` (used by stop_leftovers).

# Stops process group PGID: SIGTERM, up to 5 s to exit, then SIGKILL.
stop_group() { # PGID
    local g=$1
    kill -TERM -- "-$g" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 -- "-$g" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$g" 2>/dev/null || true
}

# Stops the process groups an earlier run left in DIR/*.pid, and removes
# the pid files. Only a group this script started is stopped: its leader's
# command line names a file in DIR.
stop_leftovers() { # DIR
    local f g
    for f in "$1"/*.pid; do
        [ -e "$f" ] || continue
        g=$(cat "$f")
        if [ -r "/proc/$g/cmdline" ] && tr '\0' ' ' <"/proc/$g/cmdline" | grep -qF "$1/"; then
            say "stopping leftover $(basename "$f" .pid) (pgid $g) of an earlier run"
            stop_group "$g"
        fi
        rm -f "$f"
    done
}

# Sets WARD to the binary to measure: $WARD_BIN when set, else a release
# build into CARGO_TARGET_DIR (default ROOT/target/bench-list, the list
# benchmarks' own, so a debug build elsewhere is not disturbed).
# shellcheck disable=SC2034 # WARD is for the caller
bench_ward() { # ROOT
    if [ -n "${WARD_BIN:-}" ]; then
        WARD=$WARD_BIN
    else
        export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$1/target/bench-list}
        cargo build --release >&2
        WARD=$CARGO_TARGET_DIR/release/ward
    fi
}
