#!/usr/bin/env bash
# packaging/ci-check.sh: build the ward Debian package and check it end to
# end on this machine: the rules and dashboard, the systemd units, then
# install, run as the `ward` user, reinstall, remove and purge.
#
# Run as root on Debian (it installs and finally PURGES the `ward` package):
#
#   sudo packaging/ci-check.sh
#
# .ci/run calls it after installing what it needs: cargo-deb, systemd
# (systemd-analyze), systemd-container (nspawn), promtool, shellcheck,
# lintian, dig, curl, openssl, python3.
#
# Environment:
#   CARGO_TARGET_DIR     honoured (cargo-deb finds the binary through it)
#   WARD_SECURITY_MAX    highest acceptable `systemd-analyze security`
#                        exposure of the units (default 2.5; they score 1.6)
#   WARD_SKIP_BUILD=1    reuse the release build and target/assets of an
#                        earlier run (the .deb is always rebuilt)
#   WARD_CI_FORCE=1      go on although a `ward` package or user exists
#                        already: they will be purged at the end
#   WARD_CI_KEEP=1       leave the package installed when a check fails
#                        (for debugging), instead of purging it
#   WARD_SKIP_NSPAWN=1   do not run the unit under systemd-nspawn
#                        (packaging/nspawn-check.sh)
#
# Every check prints `ok`, `FAIL` or `skip`; a summary follows. Exit status
# 0 only if nothing failed.

# `sh -c '...$1...' sh ARG`, single-quoted on purpose, throughout:
# shellcheck disable=SC2016
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

security_max=${WARD_SECURITY_MAX:-2.5}
assets=$repo/target/assets   # cargo-deb assets read target/assets/... literally

# --------------------------------------------------------------- reporting
passed=0 failed=0 skipped=0
failures=()
step_start=$SECONDS
timings=()

phase() {
    local now=$SECONDS
    if [ -n "${phase_name:-}" ]; then
        timings+=("$(printf '%-32s %4ds' "$phase_name" $((now - step_start)))")
    fi
    phase_name=$1
    step_start=$now
    printf '\n==> packaging: %s\n' "$1"
}
ok() { passed=$((passed + 1)); printf '  ok    %s\n' "$*"; }
fail() { failed=$((failed + 1)); failures+=("$*"); printf '  FAIL  %s\n' "$*"; }
skip() { skipped=$((skipped + 1)); printf '  skip  %s\n' "$*"; }
# check DESCRIPTION COMMAND...: ok if COMMAND succeeds, FAIL (with its
# output) otherwise.
check() {
    local desc=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$desc"
    else
        fail "$desc"
        [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/        | /' | tail -n 20
    fi
}
# check_not DESCRIPTION COMMAND...: ok if COMMAND fails.
check_not() {
    local desc=$1
    shift
    if "$@" >/dev/null 2>&1; then fail "$desc"; else ok "$desc"; fi
}
die() { printf 'packaging: error: %s\n' "$*" >&2; exit 2; }

# mode_owner PATH MODE USER GROUP
mode_owner() {
    local got
    got=$(stat -c '%a %U %G' "$1") || return 1
    [ "$got" = "$2 $3 $4" ] || { echo "$1: $got, expected $2 $3 $4"; return 1; }
}
absent() { for p; do if [ -e "$p" ] || [ -L "$p" ]; then echo "$p still exists"; return 1; fi; done; }
present() { for p; do [ -e "$p" ] || { echo "$p missing"; return 1; }; done; }
is_link_to() {
    if [ -L "$1" ] && [ "$(readlink "$1")" = "$2" ]; then return 0; fi
    echo "$1 -> $(readlink "$1" || echo '(none)'), expected $2"
    return 1
}

# ------------------------------------------------------------------ preflight
phase "preflight"
[ "$(id -u)" = 0 ] || die "run as root: this installs and purges the ward package"
for cmd in cargo dpkg dpkg-deb systemd-analyze promtool python3 setpriv; do
    command -v "$cmd" >/dev/null || die "$cmd not found (.ci/run installs what this needs)"
done
cargo deb --version >/dev/null 2>&1 || die "cargo-deb not found: cargo install --locked cargo-deb"
if [ "${WARD_CI_FORCE:-}" != 1 ]; then
    if dpkg-query -W -f '${db:Status-Status}' ward 2>/dev/null | grep -qv '^not-installed$'; then
        die "a ward package is installed on this machine; this check would purge it (and /var/lib/ward). WARD_CI_FORCE=1 to go on"
    fi
    if getent passwd ward >/dev/null || getent group ward >/dev/null; then
        die "a ward user or group exists; the purge check would delete it. WARD_CI_FORCE=1 to go on"
    fi
fi
metadata=$(cargo metadata --format-version 1 --no-deps)
target_dir=$(printf '%s' "$metadata" | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
version=$(printf '%s' "$metadata" |
    python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "ward"))')
ward_built=$target_dir/release/ward
echo "  ward $version, target dir: $target_dir"

installed=0
cleanup() {
    if [ "$installed" = 1 ] && [ "${WARD_CI_KEEP:-}" != 1 ]; then
        echo "packaging: purging the ward package left installed by a failed step" >&2
        dpkg -P ward >/dev/null 2>&1 || true
    fi
    if [ -n "${smoke_pid:-}" ]; then kill "$smoke_pid" 2>/dev/null || true; fi
    if [ -n "${notify_pid:-}" ]; then kill "$notify_pid" 2>/dev/null || true; fi
    if [ -n "${tmp:-}" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT
tmp=$(mktemp -d /tmp/ward-ci-check.XXXXXX)

# ------------------------------------------------------------- static checks
phase "static checks"
if command -v shellcheck >/dev/null; then
    check "shellcheck: .ci/run, packaging scripts, maintainer scripts" \
        shellcheck .ci/run packaging/ci-check.sh packaging/nspawn-check.sh packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm
else
    skip "shellcheck not installed"
    check "sh -n: maintainer scripts" sh -c 'for f in postinst prerm postrm; do sh -n "packaging/debian/$f" || exit 1; done'
fi

check "promtool check rules packaging/prometheus/ward.rules.yml" \
    promtool check rules packaging/prometheus/ward.rules.yml
check "promtool test rules packaging/prometheus/ward.rules.test.yml" \
    promtool test rules packaging/prometheus/ward.rules.test.yml

# Every alert the brief promises, with a severity and a summary/description.
check "alert rules: names, severity labels, annotations" python3 - packaging/prometheus/ward.rules.yml <<'PY'
import re, sys
text = open(sys.argv[1]).read()
want = ["WardListStale", "WardListEquivocation", "WardListFetchFailing", "WardNotReady",
        "WardReportSpoolGrowing", "WardUpstreamsDown", "WardNoList"]
blocks = re.split(r"\n\s*- alert: ", text)[1:]
names = {b.split("\n", 1)[0].strip(): b for b in blocks}
bad = [n for n in want if n not in names]
for n, b in names.items():
    for need in ("severity:", "summary:", "description:"):
        if need not in b:
            bad.append(f"{n}: no {need}")
if bad:
    sys.exit("\n".join(bad))
PY

# The dashboard: valid JSON, the expected shape, and every PromQL query valid
# (promtool parses them as recording rules after substituting variables).
check "grafana dashboard: JSON, variables, panels" python3 - packaging/grafana/ward.json "$tmp/dash-rules.yml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
errs = []
if not 36 <= d.get("schemaVersion", 0) <= 41:
    errs.append(f"schemaVersion {d.get('schemaVersion')}")
names = [v["name"] for v in d["templating"]["list"]]
for v in ("DS_PROMETHEUS", "instance"):
    if v not in names:
        errs.append(f"no template variable {v}")
ids, exprs, titles = set(), [], []
for p in d["panels"]:
    if p["id"] in ids:
        errs.append(f"duplicate panel id {p['id']}")
    ids.add(p["id"])
    titles.append(p["title"])
    for t in p.get("targets", []):
        if t.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            errs.append(f"{p['title']}: target not on ${{DS_PROMETHEUS}}")
        exprs.append(t["expr"])
for want in ("Queries per second by result", "Blocked per second by category", "Cache hit ratio",
             "Upstream latency p50 / p95 / p99", "Upstream up", "List serial", "List stale",
             "List fetch results", "Equivocation", "Ready", "Malformed packets per second", "SNI results"):
    if want not in titles:
        errs.append(f"no panel {want!r}")
with open(sys.argv[2], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "5m").replace("$instance", ".*")
        f.write(f"      - record: dashboard:expr_{i}\n        expr: {json.dumps(e)}\n")
if errs:
    sys.exit("\n".join(errs))
PY
check "grafana dashboard: every query parses (promtool)" promtool check rules "$tmp/dash-rules.yml"

# Metric names used by the dashboard and the rules exist in src/metrics/,
# except those of features still to come.
check "dashboard and rules use only metrics that ward exports" python3 - <<'PY'
import re
import glob
src = "".join(open(p).read() for p in sorted(glob.glob("src/metrics/*.rs")))
known = set(re.findall(r'pub const [A-Z_]+: &str =\s*"(ward_[a-z_]+)"', src))
# Series that exist only once a feature is configured: SNI connections,
# and one expiry series per [dot]/[doh] certificate in force.
later = {"ward_sni_connections_total", "ward_tls_cert_expiry_timestamp_seconds"}
bad = []
for f in ("packaging/grafana/ward.json", "packaging/prometheus/ward.rules.yml"):
    for m in sorted(set(re.findall(r"\bward_[a-z_]+", open(f).read()))):
        base = re.sub(r"_(bucket|count|sum)$", "", m)
        if m not in known and base not in known and m not in later and m not in ("ward_build_info",):
            bad.append(f"{f}: {m} is not a metric in src/metrics/")
if "ward_build" not in src:
    bad.append("ward_build_info: no ward_build info family in src/metrics/")
if bad:
    raise SystemExit("\n".join(bad))
PY

check "packaging/debian/changelog is at $version-1 (bump it with the version)" \
    sh -c '[ "$(sed -n "1s/^ward (\([^)]*\)).*/\1/p" packaging/debian/changelog)" = "$1" ]' sh "$version-1"

# The packaged config shows every key of examples/ward.toml (the reference),
# in the same section, active or as a `#key = default` line.
check "packaging/ward.toml shows every key of examples/ward.toml" python3 - <<'PY'
import re
def keys(path):
    out, section = set(), None
    for line in open(path):
        m = re.match(r"^#?\[([a-z_]+)\]\s*$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^#?([a-z_]+) = ", line)
        if m and section:
            out.add(f"{section}.{m.group(1)}")
    return out
missing = keys("examples/ward.toml") - keys("packaging/ward.toml")
if missing:
    raise SystemExit("missing: " + ", ".join(sorted(missing)))
PY

# ---------------------------------------------------------------- build
phase "build (release, docs, .deb)"
if [ "${WARD_SKIP_BUILD:-}" = 1 ] && [ -x "$ward_built" ] && [ -f "$assets/man/ward.8" ]; then
    echo "  WARD_SKIP_BUILD=1: reusing $ward_built and $assets"
else
    cargo build --release --locked --bin ward
    rm -rf "$assets"
    "$ward_built" generate-docs --out "$assets" || die "ward generate-docs failed"
fi
rm -f "$target_dir"/debian/ward_*.deb "$target_dir"/debian/ward-dbgsym_*.ddeb
# It prints the path of each package it writes: the .deb and the -dbgsym .ddeb.
deb=$(cargo deb --no-build | grep '\.deb$' | tail -n 1)
[ -f "$deb" ] || die "cargo deb did not report a package (got: $deb)"
echo "  package: $deb ($(du -h "$deb" | cut -f1))"
ls "$target_dir"/debian/

# ---------------------------------------------------------------- package contents
phase "package contents"
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' | sed 's#\./#/#' > "$tmp/contents"
for want in \
    "-rwxr-xr-x 0/0 /usr/bin/ward" \
    "-rw-r----- 0/0 /etc/ward/ward.toml" \
    "-rw-r--r-- 0/0 /lib/systemd/system/ward.service" \
    "-rw-r--r-- 0/0 /lib/systemd/system/ward-collector.service" \
    "-rw-r--r-- 0/0 /usr/lib/tmpfiles.d/ward.conf" \
    "-rw-r--r-- 0/0 /usr/share/man/man8/ward.8.gz" \
    "-rw-r--r-- 0/0 /usr/share/bash-completion/completions/ward" \
    "-rw-r--r-- 0/0 /usr/share/zsh/vendor-completions/_ward" \
    "-rw-r--r-- 0/0 /usr/share/fish/vendor_completions.d/ward.fish" \
    "-rw-r--r-- 0/0 /usr/share/ward/demo/demo.ward" \
    "-rw-r--r-- 0/0 /usr/share/ward/demo/demo.pub" \
    "-rw-r--r-- 0/0 /usr/share/ward/grafana/ward.json" \
    "-rw-r--r-- 0/0 /usr/share/ward/prometheus/ward.rules.yml" \
    "-rw-r--r-- 0/0 /usr/share/ward/blockpage/template.html" \
    "-rw-r--r-- 0/0 /usr/share/doc/ward/README.md" \
    "-rw-r--r-- 0/0 /usr/share/doc/ward/docs/configuration.md" \
    "-rw-r--r-- 0/0 /usr/share/doc/ward/copyright"; do
    check "in the .deb: $want" grep -qxF -- "$want" "$tmp/contents"
done
check "conffiles: exactly /etc/ward/ward.toml" \
    sh -c '[ "$(dpkg-deb --ctrl-tarfile "$1" | tar -xO ./conffiles)" = /etc/ward/ward.toml ]' sh "$deb"
check "maintainer scripts: postinst, prerm, postrm" \
    sh -c 'dpkg-deb --ctrl-tarfile "$1" | tar -t | grep -c -e postinst -e prerm -e postrm | grep -qx 3' sh "$deb"
check "Depends names adduser and init-system-helpers" \
    sh -c 'dpkg-deb -f "$1" Depends | grep -q adduser && dpkg-deb -f "$1" Depends | grep -q init-system-helpers' sh "$deb"

if command -v lintian >/dev/null; then
    # Expected warning: etc/ward/ward.toml is 0640 on purpose (not world-readable).
    check "lintian: no errors" lintian --fail-on error "$deb"
    lintian "$deb" 2>&1 | sed 's/^/        | /' || true
else
    skip "lintian not installed"
fi

# ---------------------------------------------------------------- units
phase "systemd units"
for unit in ward ward-collector; do
    out=$(systemd-analyze security --offline=yes --no-pager "systemd/$unit.service" 2>&1) || true
    score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
    if [ -z "$score" ]; then
        fail "systemd-analyze security $unit.service: no score"
        printf '%s\n' "$out" | tail -n 5 | sed 's/^/        | /'
    elif python3 -c "import sys; sys.exit(0 if float('$score') <= float('$security_max') else 1)"; then
        ok "systemd-analyze security $unit.service: exposure $score (limit $security_max)"
    else
        fail "systemd-analyze security $unit.service: exposure $score > $security_max"
        printf '%s\n' "$out" | grep '✗' | sed 's/^/        | /'
    fi
done
for key in "Type=notify" "NotifyAccess=main" "WatchdogSec=30s" \
    "ExecStartPre=/usr/bin/ward config check --strict /etc/ward/ward.toml" \
    "ExecStart=/usr/bin/ward serve --config /etc/ward/ward.toml" \
    "User=ward" "StateDirectory=ward" "ProtectSystem=strict" "UMask=0027" "LimitNOFILE=65536"; do
    check "ward.service: $key" grep -qxF -- "$key" systemd/ward.service
done
check "ward-collector.service: StateDirectory=ward-collector, Type=notify" \
    sh -c 'grep -qx StateDirectory=ward-collector systemd/ward-collector.service && grep -qx Type=notify systemd/ward-collector.service'

# ---------------------------------------------------------------- install
phase "install"
installed=1
if ! dpkg -i "$deb" > "$tmp/dpkg-i.log" 2>&1; then
    sed 's/^/        | /' "$tmp/dpkg-i.log"
    die "dpkg -i $deb failed"
fi
ok "dpkg -i $(basename "$deb")"
sed 's/^/        | /' "$tmp/dpkg-i.log"
check "ward --version" sh -c '/usr/bin/ward --version | grep -q "^ward "'
# verify also runs `man ward(8)` for Documentation= when man is there.
verify_man=--man=yes
command -v man >/dev/null || verify_man=--man=no
check "systemd-analyze verify $verify_man (installed units)" \
    systemd-analyze verify "$verify_man" /lib/systemd/system/ward.service /lib/systemd/system/ward-collector.service

config_check_out=$(/usr/bin/ward config check /etc/ward/ward.toml 2>&1) && rc=0 || rc=$?
if [ "$rc" = 0 ] && printf '%s' "$config_check_out" | grep -q 'demo key'; then
    ok "ward config check /etc/ward/ward.toml passes, warning about the demo key"
else
    fail "ward config check /etc/ward/ward.toml: exit $rc (want 0 and a demo-key warning)"
    printf '%s\n' "$config_check_out" | sed 's/^/        | /'
fi
/usr/bin/ward config check --strict /etc/ward/ward.toml > "$tmp/strict.log" 2>&1 && rc=0 || rc=$?
if [ "$rc" = 1 ]; then
    ok "ward config check --strict /etc/ward/ward.toml refuses the demo key (exit 1)"
else
    fail "ward config check --strict /etc/ward/ward.toml: exit $rc, want 1 (demo key)"
    sed 's/^/        | /' "$tmp/strict.log"
fi
# ExecStartPre runs as User=ward: it must be able to read everything.
as_ward() {
    (cd /var/lib/ward && setpriv --reuid=ward --regid=ward --init-groups --no-new-privs "$@")
}
check "as the ward user: ward config check /etc/ward/ward.toml passes" \
    as_ward /usr/bin/ward config check /etc/ward/ward.toml

check "user ward: system user, home /var/lib/ward, no login shell" sh -c '
    ent=$(getent passwd ward) || exit 1
    uid=$(echo "$ent" | cut -d: -f3); home=$(echo "$ent" | cut -d: -f6); shell=$(echo "$ent" | cut -d: -f7)
    [ "$uid" -lt 1000 ] && [ "$home" = /var/lib/ward ] && [ "$shell" = /usr/sbin/nologin ] || { echo "$ent"; exit 1; }'
check "group ward, primary group of ward" sh -c '[ "$(id -gn ward)" = ward ]'
check "/usr/bin/ward 0755 root:root" mode_owner /usr/bin/ward 755 root root
check "/etc/ward 0750 root:ward" mode_owner /etc/ward 750 root ward
check "/etc/ward/ward.toml 0640 root:ward" mode_owner /etc/ward/ward.toml 640 root ward
check "/var/lib/ward 0750 ward:ward" mode_owner /var/lib/ward 750 ward ward
check "/var/spool/ward 0750 ward:ward" mode_owner /var/spool/ward 750 ward ward
check "/etc/ward/ward.toml is the packaged config" cmp /etc/ward/ward.toml packaging/ward.toml
if command -v man >/dev/null; then
    check "man -w ward" sh -c '[ "$(man -w ward)" = /usr/share/man/man8/ward.8.gz ]'
else
    skip "man not installed; checking the file only"
fi
check "man page: ward(8), gzipped, mentions serve" \
    sh -c 'zcat /usr/share/man/man8/ward.8.gz | grep -q "^\.TH ward 8" && zcat /usr/share/man/man8/ward.8.gz | grep -q serve'
check "bash completion parses" bash -n /usr/share/bash-completion/completions/ward
check "zsh and fish completions installed" present /usr/share/zsh/vendor-completions/_ward /usr/share/fish/vendor_completions.d/ward.fish
check "ward.service enabled (multi-user.target.wants symlink)" \
    is_link_to /etc/systemd/system/multi-user.target.wants/ward.service /lib/systemd/system/ward.service
check "ward-collector.service not enabled" absent /etc/systemd/system/multi-user.target.wants/ward-collector.service
if [ -d /run/systemd/system ]; then
    check_not "ward.service not started on install" systemctl is-active --quiet ward.service
else
    skip "no running systemd here: \"not started on install\" is checked by nspawn-check.sh below"
fi

# Every commented-out `#key = value` line of the packaged config, turned on,
# still makes a valid config: no typo in a key or a value. [report] key
# names a node key that only exists once made: make one and point at it.
/usr/bin/ward keygen --out "$tmp/node" >/dev/null
python3 - /etc/ward/ward.toml "$tmp/all-keys.toml" "$tmp/node.key" <<'PY'
import re, sys
out = []
for line in open(sys.argv[1]):
    m = re.match(r"^#(\[[a-z_]+\]|[a-z_]+ = .*)$", line.rstrip("\n"))
    # ca_file names an example file that does not exist.
    if m and not m.group(1).startswith("ca_file"):
        line = m.group(1) + "\n"
    if line.startswith("key = "):
        line = f'key = "{sys.argv[3]}"\n'
    out.append(line)
open(sys.argv[2], "w").write("".join(out))
PY
check "packaged config with every commented key turned on is valid" \
    /usr/bin/ward config check "$tmp/all-keys.toml"

# ---------------------------------------------------------------- run it
# ward serve as systemd would run it (user ward, only CAP_NET_BIND_SERVICE,
# no new privileges, cwd /var/lib/ward), the packaged config, and a notify
# socket to see READY=1, WATCHDOG=1 and STOPPING=1. Not the unit's sandbox:
# that needs a running systemd.
phase "run the installed ward"
ports_free() {
    python3 - <<'PY'
import socket, sys
busy = []
for fam, addr, port in ((socket.AF_INET, "127.0.0.1", 53), (socket.AF_INET6, "::1", 53), (socket.AF_INET, "127.0.0.1", 9153)):
    for typ in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        if port == 9153 and typ == socket.SOCK_DGRAM:
            continue
        s = socket.socket(fam, typ)
        try:
            s.bind((addr, port))
        except OSError as e:
            busy.append(f"{addr}:{port}/{'udp' if typ == socket.SOCK_DGRAM else 'tcp'}: {e}")
        finally:
            s.close()
if busy:
    sys.exit("\n".join(busy))
PY
}
if ! busy=$(ports_free 2>&1); then
    skip "ward serve smoke run: ports in use: $busy"
else
    chmod 0711 "$tmp"
    notify_sock=$tmp/notify.sock
    python3 - "$notify_sock" "$tmp/notify.log" <<'PY' &
import os, socket, sys, time
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
t0 = time.monotonic()
with open(log, "a", buffering=1) as f:
    while True:
        msg = s.recv(4096).decode(errors="replace")
        for line in msg.splitlines():
            f.write(f"{time.monotonic() - t0:.3f} {line}\n")
PY
    notify_pid=$!
    for _ in $(seq 50); do [ -S "$notify_sock" ] && break; sleep 0.1; done
    : > "$tmp/notify.log"
    (
        cd /var/lib/ward
        exec setpriv --reuid=ward --regid=ward --init-groups \
            --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
            --bounding-set=-all,+net_bind_service --no-new-privs \
            env NOTIFY_SOCKET="$notify_sock" WATCHDOG_USEC=2000000 \
            sh -c 'WATCHDOG_PID=$$ exec /usr/bin/ward serve --config /etc/ward/ward.toml'
    ) > "$tmp/serve.log" 2>&1 &
    smoke_pid=$!
    ready=0
    for _ in $(seq 150); do
        grep -q ' READY=1$' "$tmp/notify.log" && { ready=1; break; }
        kill -0 "$smoke_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ "$ready" = 1 ]; then
        ok "ward serve (user ward, CAP_NET_BIND_SERVICE only) sent READY=1 on \$NOTIFY_SOCKET"
    elif kill -0 "$smoke_pid" 2>/dev/null; then
        fail "ward serve runs but sent no READY=1 within 15 s (sd_notify support not in this build yet?)"
    else
        fail "ward serve exited before READY=1"
    fi
    if kill -0 "$smoke_pid" 2>/dev/null; then
        if command -v dig >/dev/null; then
            check "dig @127.0.0.1 www.blocked.example.test: sinkhole 0.0.0.0" \
                sh -c '[ "$(dig +time=2 +tries=1 +short @127.0.0.1 www.blocked.example.test A)" = 0.0.0.0 ]'
            check "dig @::1 www.blocked.example.test AAAA over TCP: sinkhole ::" \
                sh -c '[ "$(dig +tcp +time=2 +tries=1 +short @::1 www.blocked.example.test AAAA)" = :: ]'
            # (dig 9.18 ignores the type in `-c CH list.ward TXT`: write CH TXT after the name)
            check "dig @127.0.0.1 list.ward CH TXT: the demo list" \
                sh -c 'dig +time=2 +tries=1 +short @127.0.0.1 list.ward CH TXT | grep -q "list=demo"'
        else
            skip "dig not installed: no DNS queries"
        fi
        check "GET /metrics and /healthz on 127.0.0.1:9153" python3 - "$tmp/metrics.txt" <<'PY'
import sys, urllib.request
open(sys.argv[1], "w").write(urllib.request.urlopen("http://127.0.0.1:9153/metrics", timeout=5).read().decode())
assert urllib.request.urlopen("http://127.0.0.1:9153/healthz", timeout=5).status == 200
PY
        check "every metric of the dashboard and the rules is exported (but later features')" python3 - "$tmp/metrics.txt" <<'PY'
import re, sys
exported = set(re.findall(r"^(ward_[a-z_]+)", open(sys.argv[1]).read(), re.M))
# Series that exist only once a feature is configured: SNI connections,
# and one expiry series per [dot]/[doh] certificate in force.
later = {"ward_sni_connections_total", "ward_tls_cert_expiry_timestamp_seconds"}
missing = []
for f in ("packaging/grafana/ward.json", "packaging/prometheus/ward.rules.yml"):
    for m in sorted(set(re.findall(r"\bward_[a-z_]+", open(f).read())) - later):
        if m not in exported and not any(e.startswith(m + "_") for e in exported):
            missing.append(f"{f}: {m}")
if missing:
    sys.exit("not in /metrics: " + ", ".join(missing))
PY
        sleep 2.5
        n=$(grep -c ' WATCHDOG=1$' "$tmp/notify.log" || true)
        if [ "$n" -ge 2 ]; then
            ok "WATCHDOG=1 sent $n times in ~3 s (WATCHDOG_USEC=2s)"
        else
            fail "WATCHDOG=1 sent $n times in ~3 s with WATCHDOG_USEC=2s (want >= 2)"
        fi
        kill -HUP "$smoke_pid"
        sleep 1
        check "SIGHUP (systemctl reload): still running" kill -0 "$smoke_pid"
        kill -TERM "$smoke_pid"
        rc=0
        for _ in $(seq 100); do kill -0 "$smoke_pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$smoke_pid" 2>/dev/null; then
            fail "SIGTERM: ward serve still running after 10 s"
            kill -KILL "$smoke_pid" 2>/dev/null || true
        fi
        wait "$smoke_pid" || rc=$?
        if [ "$rc" = 0 ]; then ok "SIGTERM: ward serve exited 0"; else fail "SIGTERM: ward serve exited $rc"; fi
        check "STOPPING=1 sent on SIGTERM" grep -q ' STOPPING=1$' "$tmp/notify.log"
    else
        wait "$smoke_pid" || true
    fi
    smoke_pid=
    kill "$notify_pid" 2>/dev/null || true
    wait "$notify_pid" 2>/dev/null || true
    notify_pid=
    echo "  notify messages (seconds since start):"
    sed 's/^/        | /' "$tmp/notify.log"
    echo "  ward serve log (last 15 lines):"
    tail -n 15 "$tmp/serve.log" | sed 's/^/        | /'
fi

# ---------------------------------------------------------------- reinstall
# The upgrade path (same version): an admin's edit and an admin's `disable`
# both survive.
phase "reinstall (upgrade path)"
echo "# local edit by ci-check" >> /etc/ward/ward.toml
rm -f /etc/systemd/system/multi-user.target.wants/ward.service
if dpkg -i --force-confold "$deb" > "$tmp/dpkg-i2.log" 2>&1; then
    ok "dpkg -i again (configure with the old version)"
else
    fail "dpkg -i again"
    sed 's/^/        | /' "$tmp/dpkg-i2.log"
fi
check "the admin's edit of /etc/ward/ward.toml is kept" grep -qx '# local edit by ci-check' /etc/ward/ward.toml
check "/etc/ward/ward.toml still 0640 root:ward" mode_owner /etc/ward/ward.toml 640 root ward
check "the admin's disable is kept (not re-enabled)" absent /etc/systemd/system/multi-user.target.wants/ward.service
check "user ward still exists" getent passwd ward

# ---------------------------------------------------------------- remove
phase "remove"
if dpkg -r ward > "$tmp/dpkg-r.log" 2>&1; then ok "dpkg -r ward"; else
    fail "dpkg -r ward"; sed 's/^/        | /' "$tmp/dpkg-r.log"
fi
check "binary and units removed" absent /usr/bin/ward /lib/systemd/system/ward.service \
    /lib/systemd/system/ward-collector.service /usr/share/man/man8/ward.8.gz
check "conffile kept, with the admin's edit" grep -qx '# local edit by ci-check' /etc/ward/ward.toml
check "state kept: /var/lib/ward, /var/spool/ward, user ward" \
    sh -c '[ -d /var/lib/ward ] && [ -d /var/spool/ward ] && getent passwd ward >/dev/null'
check "dpkg: ward is config-files" sh -c '[ "$(dpkg-query -W -f "\${db:Status-Status}" ward)" = config-files ]'

# ---------------------------------------------------------------- purge
phase "purge"
if dpkg -P ward > "$tmp/dpkg-p.log" 2>&1; then ok "dpkg -P ward"; else
    fail "dpkg -P ward"; sed 's/^/        | /' "$tmp/dpkg-p.log"
fi
installed=0
check "config, state and spool removed" absent /etc/ward /var/lib/ward /var/spool/ward
check "user and group ward removed" sh -c '! getent passwd ward && ! getent group ward'
check "no unit symlinks, masks or deb-systemd-helper state left" absent \
    /etc/systemd/system/multi-user.target.wants/ward.service \
    /etc/systemd/system/ward.service /etc/systemd/system/ward-collector.service \
    /var/lib/systemd/deb-systemd-helper-enabled/ward.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-enabled/ward-collector.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/ward.service \
    /var/lib/systemd/deb-systemd-helper-masked/ward.service
check "dpkg: ward is gone" sh -c '! dpkg-query -W ward >/dev/null 2>&1 || [ "$(dpkg-query -W -f "\${db:Status-Status}" ward)" = not-installed ]'

# ---------------------------------------------------------------- under systemd
# The unit itself, sandbox and all, under a real systemd: this machine's
# root booted in systemd-nspawn on a throw-away overlay.
phase "under systemd (nspawn-check.sh)"
if [ "${WARD_SKIP_NSPAWN:-}" = 1 ]; then
    skip "WARD_SKIP_NSPAWN=1: the unit was not run under systemd"
elif ! command -v systemd-nspawn >/dev/null; then
    skip "systemd-nspawn not installed (package systemd-container): the unit was not run under systemd"
else
    nrc=0
    packaging/nspawn-check.sh "$deb" > "$tmp/nspawn.out" 2>&1 || nrc=$?
    cat "$tmp/nspawn.out"
    n_ok=$(grep -c '^  ok ' "$tmp/nspawn.out" || true)
    passed=$((passed + n_ok))
    while IFS= read -r line; do
        failed=$((failed + 1)); failures+=("nspawn: ${line#  FAIL  }")
    done < <(grep '^  FAIL ' "$tmp/nspawn.out" || true)
    if [ "$nrc" != 0 ] && ! grep -q '^  FAIL ' "$tmp/nspawn.out"; then
        fail "nspawn-check.sh could not run (exit $nrc)"
    fi
fi

# ---------------------------------------------------------------- summary
phase "done"
echo
echo "==> packaging summary"
printf '  %s\n' "${timings[@]}"
printf '  %-32s %4ds\n' "total" "$SECONDS"
echo "  $passed ok, $failed failed, $skipped skipped"
for f in "${failures[@]}"; do printf '  FAILED: %s\n' "$f"; done
[ "$failed" = 0 ]
