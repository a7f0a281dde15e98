#!/usr/bin/env bash
# List activation benchmark: how long `ward serve` takes to put a new list
# in force through the updater (download over HTTPS on loopback, verify,
# rename, swap), and what a swap does to its memory.
#
#   bench/activation.sh                 # 1M and 10M entries
#   bench/activation.sh 1m              # one size
#
# Needs the artifacts' sources from bench/list.sh (bench/out/src-1m.txt,
# src-10m.txt; generated if missing) and python3 + openssl for a local
# HTTPS server with a throw-away CA. Traffic stays on 127.0.0.1.
# For each size: build serial 1 and serial 2 of the list, serve serial 1,
# start ward on an empty state_dir (start-up fetch = activation 1), sample
# memory at steady state, publish serial 2, reset the peak-RSS counter
# (/proc/PID/clear_refs), SIGHUP, and read the peak and the timings.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
mkdir -p "$OUT"
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1m 10m)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/bench-list}
cargo build --release >&2
WARD=$CARGO_TARGET_DIR/release/ward
WORK=$(mktemp -d)
cleanup() { kill "${SERVER_PID:-}" "${WARD_PID:-}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# A throw-away CA and a certificate for localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=bench-ca -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$WORK/srv.key" -out "$WORK/srv.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$WORK/ext"
openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
    -CAcreateserial -days 1 -extfile "$WORK/ext" -out "$WORK/srv.pem" 2>/dev/null
mkdir -p "$WORK/www"
cat >"$WORK/serve.py" <<'PY'
import http.server, ssl, sys, functools
root, cert, key = sys.argv[1:4]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
handler.log_message = lambda *a: None
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
print(httpd.server_address[1], flush=True)
httpd.serve_forever()
PY
python3 "$WORK/serve.py" "$WORK/www" "$WORK/srv.pem" "$WORK/srv.key" >"$WORK/port" &
SERVER_PID=$!
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/port")

status() { grep -E "^($2):" "/proc/$1/status" | awk '{printf "%s %d MiB  ", $1, $2/1024}'; }
metric() { curl -s "http://$ADMIN/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

echo "# ward list activation benchmark"
echo
echo "- date: $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
for S in "${SIZES[@]}"; do
    SRC=$OUT/src-$S.txt
    [ -f "$SRC" ] || { echo "missing $SRC: run bench/list.sh first" >&2; exit 1; }
    for SERIAL in 1 2; do
        [ -f "$OUT/act-$S-$SERIAL.ward" ] || "$WARD" list build --key examples/demo.key \
            --serial $SERIAL --list-id bench --valid-for 30d --confidential csam \
            -o "$OUT/act-$S-$SERIAL.ward" "$SRC" >/dev/null
    done
    cp "$OUT/act-$S-1.ward" "$WORK/www/list.ward"
    rm -rf "$WORK/state"
    cat >"$WORK/ward.toml" <<TOML
[dns]
listen = ["127.0.0.1:0"]
upstreams = ["127.0.0.1:9"]
[list]
url = "https://localhost:$PORT/list.ward"
ca_file = "$WORK/ca.pem"
trusted_keys = ["$ROOT/examples/demo.pub"]
state_dir = "$WORK/state"
poll_interval = "1h"
[admin]
listen = "127.0.0.1:0"
TOML
    NO_COLOR=1 RUST_LOG=info "$WARD" serve --config "$WORK/ward.toml" 2>"$WORK/log" &
    WARD_PID=$!
    for _ in $(seq 600); do grep -q "admin listening" "$WORK/log" && break; sleep 0.1; done
    ADMIN=$(grep -o 'admin listening on [0-9.:]*' "$WORK/log" | awk '{print $4}')
    sleep 2
    echo
    echo "## $S entries ($(stat -c %s "$OUT/act-$S-1.ward" | awk '{printf "%.1f MiB", $1/1048576}'))"
    echo
    echo "- first activation (start-up fetch): $(grep -o 'download_ms=[0-9]* verify_ms=[0-9]* activation_ms=[0-9]*' "$WORK/log" | head -1)"
    echo "- steady state: $(status $WARD_PID 'VmRSS|RssAnon|RssFile')"
    cp "$OUT/act-$S-2.ward" "$WORK/www/list.ward.new" && mv "$WORK/www/list.ward.new" "$WORK/www/list.ward"
    echo 5 >"/proc/$WARD_PID/clear_refs"
    kill -HUP $WARD_PID
    for _ in $(seq 600); do [ "$(metric ward_list_serial)" = 2 ] && break; sleep 0.05; done
    echo "- swap to serial 2: $(grep -o 'download_ms=[0-9]* verify_ms=[0-9]* activation_ms=[0-9]*' "$WORK/log" | tail -1); ward_list_activation_seconds $(metric ward_list_activation_seconds)"
    echo "- peak during the swap: $(status $WARD_PID 'VmHWM')"
    sleep 2
    echo "- after the swap: $(status $WARD_PID 'VmRSS|RssAnon|RssFile')"
    kill $WARD_PID; wait $WARD_PID 2>/dev/null || true; WARD_PID=
done
