#!/usr/bin/env bash
# packaging/nspawn-check.sh DEB: run the packaged ward.service under a real
# systemd, sandbox and all: boots this machine's own root filesystem (a
# throw-away overlay, nothing is written to the host) in systemd-nspawn,
# installs DEB there and checks the unit's behaviour:
#
#   * enabled, not started, on install; `systemctl start` refused with the
#     demo key (ExecStartPre --strict), giving up after the start limit;
#   * with a real key: starts (Type=notify), answers DNS, runs as `ward`
#     with only CAP_NET_BIND_SERVICE, seccomp on, no new privileges;
#   * list.url over HTTPS (a local server, list.ca_file): the updater writes
#     /var/lib/ward under ProtectSystem=strict and activates a new serial;
#   * the watchdog keeps it alive past WatchdogSec; reload (SIGHUP) works;
#   * `systemd-analyze security ward` on the running unit;
#   * upgrade restarts it (try-restart), remove stops it, purge cleans up.
#
# Needs root, systemd-nspawn (package systemd-container) and overlayfs.
# packaging/ci-check.sh calls it with the .deb it built; by hand:
#
#   sudo packaging/nspawn-check.sh target/debian/ward_*.deb
#
# Exit 0 if every check passed, 1 if one failed, 2 if it could not run.
set -euo pipefail

deb=$(realpath "${1:?usage: $0 WARD.deb}")
[ -f "$deb" ] || { echo "nspawn-check: no such file: $deb" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "nspawn-check: run as root" >&2; exit 2; }
command -v systemd-nspawn >/dev/null || { echo "nspawn-check: systemd-nspawn not found (apt-get install systemd-container)" >&2; exit 2; }
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || { echo "nspawn-check: no overlayfs" >&2; exit 2; }
[ -x /lib/systemd/systemd ] || { echo "nspawn-check: this root filesystem has no systemd to boot" >&2; exit 2; }
for cmd in dig openssl python3 curl; do
    command -v "$cmd" >/dev/null || { echo "nspawn-check: $cmd not found; the checks inside the container need it" >&2; exit 2; }
done

work=$(mktemp -d /tmp/ward-nspawn.XXXXXX)
root=$work/root
cleanup() {
    umount "$root" 2>/dev/null || true
    umount "$work/rw" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/rw" "$root" "$work/results" "$work/debs"
# The writable layer lives in a tmpfs: nothing reaches the host's disk.
mount -t tmpfs -o size=2g,mode=0755 tmpfs "$work/rw"
mkdir -p "$work/rw/upper" "$work/rw/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/rw/upper,workdir=$work/rw/work" "$root"
cp "$deb" "$work/debs/"

# Docker-style images forbid service starts in maintainer scripts; a real
# host does not.
rm -f "$root/usr/sbin/policy-rc.d"
# shellcheck disable=SC2016  # a dpkg-query format, not a shell expansion
if chroot "$root" dpkg-query -W -f '${db:Status-Status}' ward 2>/dev/null | grep -qv not-installed; then
    echo "nspawn-check: a ward package is installed on this host; purge it first" >&2
    exit 2
fi

# Boot straight into a target of our own: nothing the host enables
# (another DNS server, databases...) starts in the container.
cat > "$root/etc/systemd/system/ward-check.target" <<'EOF'
[Unit]
Description=ward package check
Requires=basic.target ward-check.service
After=basic.target ward-check.service
AllowIsolate=yes
EOF
cat > "$root/etc/systemd/system/ward-check.service" <<'EOF'
[Unit]
Description=ward package check (runs the checks, then powers off)
After=basic.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/ward-check
ExecStopPost=/bin/systemctl --no-block poweroff
TimeoutStartSec=300
EOF
cat > "$root/usr/local/sbin/ward-check" <<'INNER'
#!/bin/bash
# Runs inside the container. Results: /results/results.txt, one
# "ok|FAIL<TAB>what" line per check; a trace in /results/trace.log.
exec 2>/results/trace.log
set -x
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
res=/results/results.txt
ok() { printf 'ok\t%s\n' "$*" >> "$res"; }
fail() { printf 'FAIL\t%s\n' "$*" >> "$res"; }
check() { local d=$1; shift; if "$@" >&2; then ok "$d"; else fail "$d"; fi; }
prop() { systemctl show ward -p "$1" --value; }
wait_for() { # wait_for SECONDS COMMAND...
    local n=$(( $1 * 10 )); shift
    while [ "$n" -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; n=$((n - 1)); done
    return 1
}
serial_is() { dig +short +time=1 +tries=1 @127.0.0.1 list.ward CH TXT | grep -q "\"serial=$1\""; }

deb=$(ls /debs/ward_*.deb)
check "dpkg -i $(basename "$deb")" dpkg -i "$deb"
check "ward.service enabled on install" systemctl is-enabled --quiet ward
check "ward.service not started on install" test "$(systemctl is-active ward)" = inactive
check "ward-collector.service not enabled" test "$(systemctl is-enabled ward-collector)" = disabled
check "/var/spool/ward exists (tmpfiles.d)" test -d /var/spool/ward

# The demo key: refused, and systemd stops retrying.
if systemctl start ward; then fail "systemctl start refused with the demo key"; else ok "systemctl start refused with the demo key"; fi
check "journal says why (--strict)" sh -c 'journalctl -u ward --no-pager | grep -q "refusing (--strict)"'
check "gives up after the start limit: failed, not restarting forever" \
    wait_for 30 sh -c '[ "$(systemctl show ward -p ActiveState --value)" = failed ]'
restarts=$(prop NRestarts)
sleep 5
check "... and stays failed (restarts: $restarts)" test "$(prop ActiveState)/$(prop NRestarts)" = "failed/$restarts"
systemctl reset-failed ward

# A "ministry" key and a list served over HTTPS by a local server.
mkdir -p /srv/lists && cd /srv/lists
ward keygen --out /root/ministry >&2
cp /root/ministry.pub /etc/ward/ministry.pub
printf 'blocked.example.test adult\ncasino.example gambling\n' > src.txt
ward list build --key /root/ministry.key --serial 7 --list-id national --valid-for 7d -o national.ward src.txt >&2
# A CA (list.ca_file) and a server certificate it signs: rustls refuses a
# self-signed CA certificate used as the server's own.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=ward-check-ca -keyout /root/ca.key -out /etc/ward/ca.pem >&2 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj /CN=127.0.0.1 -keyout /root/tls.key -out /root/tls.csr >&2 2>&1
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > /root/tls.ext
openssl x509 -req -in /root/tls.csr -CA /etc/ward/ca.pem -CAkey /root/ca.key -CAserial /root/ca.srl -CAcreateserial \
    -days 2 -extfile /root/tls.ext -out /root/tls.pem >&2 2>&1
chmod 644 /etc/ward/ca.pem /etc/ward/ministry.pub
python3 - <<'PY' &
import http.server, ssl, functools
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory="/srv/lists")
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 8443), h)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("/root/tls.pem", "/root/tls.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY
# An upstream that answers every query NXDOMAIN: enough for ward's health
# probe and for a forwarded query (outbound UDP from the sandbox).
python3 - <<'PY' &
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5300))
while True:
    q, peer = s.recvfrom(4096)
    if len(q) < 12:
        continue
    # id, QR=1 RD copied RA=1 rcode=3, qdcount copied, no records; the question echoed
    flags = bytes([0x80 | (q[2] & 0x01), 0x83])
    end = 12
    while end < len(q) and q[end] != 0:
        end += q[end] + 1
    s.sendto(q[:2] + flags + q[4:6] + b"\0\0\0\0\0\0" + q[12:end + 5], peer)
PY
# Only the first `#url`/`#ca_file` line: the [list] ones ([report] has its
# own further down, which must stay commented).
sed -i -e 's|^file = .*|#file = "/usr/share/ward/demo/demo.ward"|' \
    -e 's|^#upstreams = .*|upstreams = ["127.0.0.1:5300"]|' \
    -e 's|^trusted_keys = .*|trusted_keys = ["/etc/ward/ministry.pub"]|' \
    -e '0,/^#url = /s|^#url = .*|url = "https://127.0.0.1:8443/national.ward"|' \
    -e 's|^#poll_interval = .*|poll_interval = "2s"|' \
    -e '0,/^#ca_file = /s|^#ca_file = .*|ca_file = "/etc/ward/ca.pem"|' /etc/ward/ward.toml
grep -nE '^(file|trusted_keys|url|poll_interval|ca_file|upstreams) ' /etc/ward/ward.toml >&2
check "ward config check --strict passes with the ministry key" ward config check --strict /etc/ward/ward.toml

check "systemctl start ward" systemctl start ward
check "active (running), READY=1 received" test "$(prop ActiveState)/$(prop SubState)" = active/running
pid=$(prop MainPID)
check "status text set by ward: $(prop StatusText)" test -n "$(prop StatusText)"
check "runs as user and group ward" test "$(ps -o user=,group= -p "$pid" | tr -s ' ')" = "ward ward"
check "capabilities: only CAP_NET_BIND_SERVICE (0x400)" sh -c "grep -q '^CapEff:[[:space:]]*0000000000000400$' /proc/$pid/status && grep -q '^CapBnd:[[:space:]]*0000000000000400$' /proc/$pid/status"
check "NoNewPrivs=1, seccomp filter on" sh -c "grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$pid/status && grep -q '^Seccomp:[[:space:]]*2' /proc/$pid/status"
check "dig A: blocked name gets the sinkhole 0.0.0.0" test "$(dig +short +time=2 +tries=1 @127.0.0.1 www.blocked.example.test A)" = 0.0.0.0
check "dig AAAA over TCP on [::1]: sinkhole ::" test "$(dig +tcp +short +time=2 +tries=1 @::1 casino.example AAAA)" = ::
check "list.ward CH TXT: serial 7 from list.url" wait_for 10 serial_is 7
check "updater wrote /var/lib/ward/list.ward and state.json (ProtectSystem=strict)" \
    sh -c '[ "$(stat -c %U /var/lib/ward/list.ward)" = ward ] && [ -f /var/lib/ward/state.json ]'
check "/var/lib/ward is 0750 ward:ward under StateDirectory=" test "$(stat -c '%a %U %G' /var/lib/ward)" = "750 ward ward"
check "allowed name forwarded to the upstream: NXDOMAIN" \
    sh -c 'dig +time=2 +tries=1 @127.0.0.1 www.example.com A | grep -q "status: NXDOMAIN"'
check "/readyz: 200" wait_for 10 curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:9153/readyz

# A new serial is picked up by the next poll, under the sandbox.
ward list build --key /root/ministry.key --serial 8 --list-id national --valid-for 7d -o national.ward.new src.txt >&2
# HTTP dates have 1 s resolution and this server sends no ETag: give the new
# file a later mtime than the Last-Modified ward already holds.
touch -d "@$(( $(date +%s) + 5 ))" national.ward.new
mv national.ward.new national.ward
check "new serial 8 activated by the updater" wait_for 15 serial_is 8
check "list.prev.ward kept beside it" test -f /var/lib/ward/list.prev.ward

# The watchdog: alive and not restarted past WatchdogSec=30s.
sleep 35
check "watchdog: still running after 35 s, same PID, no restart" \
    test "$(prop ActiveState)/$(prop MainPID)/$(prop NRestarts)" = "active/$pid/0"
check "watchdog timestamp recent" test -n "$(prop WatchdogTimestamp)"
check "systemctl reload ward (SIGHUP)" systemctl reload ward
check "journal shows the SIGHUP" wait_for 5 sh -c 'journalctl -u ward --no-pager | grep -q SIGHUP'
check "still active after reload, same PID" test "$(prop ActiveState)/$(prop MainPID)" = "active/$pid"

score=$(systemd-analyze security ward --no-pager 2>/dev/null | sed -n 's/.*Overall exposure level for ward.service: \([0-9.]*\).*/\1/p')
echo "score $score" >&2
check "systemd-analyze security ward (running unit): ${score:-?}" test -n "$score"
printf 'score\t%s\n' "$score" >> "$res"

# Upgrade (same version again): a running unit is restarted.
check "dpkg -i again (upgrade)" dpkg -i "$deb"
check "upgrade restarted the running unit" wait_for 10 sh -c "[ \"\$(systemctl show ward -p MainPID --value)\" != $pid ] && [ \"\$(systemctl show ward -p MainPID --value)\" != 0 ]"
check "active after upgrade, list kept (serial 8)" wait_for 10 serial_is 8
check "systemctl stop ward: clean exit" sh -c 'systemctl stop ward && [ "$(systemctl show ward -p Result --value)" = success ]'
systemctl start ward
check "dpkg -r ward stops the running unit" sh -c 'dpkg -r ward && [ "$(systemctl is-active ward)" = inactive ]'
rm -f /etc/ward/ministry.pub /etc/ward/ca.pem
ls -la /etc/ward >&2
check "dpkg -P ward removes user, state and config" sh -c 'dpkg -P ward && ! getent passwd ward && [ ! -e /var/lib/ward ] && [ ! -e /etc/ward ]'

journalctl -u ward --no-pager > /results/journal.txt 2>&1
printf 'DONE\n' >> "$res"
INNER
chmod 755 "$root/usr/local/sbin/ward-check"

echo "==> booting $root in systemd-nspawn (ward-check.target)"
start=$SECONDS
rc=0
timeout 360 systemd-nspawn --quiet -D "$root" --boot \
    --register=no --keep-unit --link-journal=no \
    --uuid="$(cat /proc/sys/kernel/random/uuid)" --private-network --console=pipe \
    --bind-ro="$work/debs:/debs" --bind="$work/results:/results" \
    systemd.unit=ward-check.target > "$work/nspawn.log" 2>&1 || rc=$?
echo "    container ran for $((SECONDS - start)) s (systemd-nspawn exit $rc)"

failed=0
if [ -f "$work/results/results.txt" ]; then
    while IFS=$'\t' read -r status what; do
        case $status in
            ok) printf '  ok    %s\n' "$what" ;;
            FAIL) printf '  FAIL  %s\n' "$what"; failed=$((failed + 1)) ;;
            score) printf '  systemd-analyze security ward (running, in the container): %s\n' "$what" ;;
        esac
    done < "$work/results/results.txt"
fi
if ! grep -qx DONE "$work/results/results.txt" 2>/dev/null; then
    echo "  FAIL  the checks in the container did not finish"
    failed=$((failed + 1))
fi
if [ "$failed" != 0 ]; then
    keep=/tmp/ward-nspawn-results.$$
    cp -r "$work/results" "$keep" && cp "$work/nspawn.log" "$keep/"
    echo "  results, trace and journal kept in $keep"
    echo "  --- trace (last 40 lines) ---"; tail -n 40 "$work/results/trace.log" 2>/dev/null | sed 's/^/  | /'
    echo "  --- ward journal (last 30 lines) ---"; tail -n 30 "$work/results/journal.txt" 2>/dev/null | sed 's/^/  | /'
    echo "  --- nspawn (last 20 lines) ---"; tail -n 20 "$work/nspawn.log" | sed 's/^/  | /'
    exit 1
fi
