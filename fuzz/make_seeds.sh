#!/usr/bin/env bash
# Regenerates the artifact seeds in fuzz/seeds/artifact_load/ from
# examples/demo.ward and the sources in fuzz/seeds/artifact_sources/, signed
# with the demo key. Run it after a change to the artifact format; the fuzz
# targets trust only the demo key. See docs/fuzzing.md.
#
# Also copies the real TLS client hellos of tests/fixtures/tls (the TCP
# ones, not the QUIC datagrams) into fuzz/seeds/tls_hello/, when that
# directory is there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cargo build --bin ward
ward=target/debug/ward
src=fuzz/seeds/artifact_sources
out=fuzz/seeds/artifact_load
common=(--key examples/demo.key --serial 2 --valid-for 36500d --issued-at 2026-01-01T00:00:00Z)

mkdir -p "$out"
cp examples/demo.ward "$out/demo.ward"
"$ward" list build "${common[@]}" --list-id seed-empty \
    -o "$out/empty.ward" "$src/empty.txt"
"$ward" list build "${common[@]}" --list-id seed-confidential \
    --confidential csam --confidential csam-exact \
    -o "$out/confidential_only.ward" "$src/confidential_only.txt"
"$ward" list build "${common[@]}" --list-id seed-nested --confidential c-1 \
    -o "$out/nested_mixed.ward" "$src/nested_mixed.txt"
for f in "$out"/*.ward; do
    "$ward" list verify --trust examples/demo.pub "$f"
done

# The repository's copy of ../shared/fixtures/tls (a unit test keeps the
# two identical).
tls_fixtures="$root/tests/fixtures/tls"
tls_out=fuzz/seeds/tls_hello
if [ -d "$tls_fixtures" ]; then
    mkdir -p "$tls_out"
    for name in curl-openssl openssl-s_client python-ssl node-tls java17 chromium; do
        cp "$tls_fixtures/$name.bin" "$tls_out/$name.bin"
        chmod 644 "$tls_out/$name.bin"
    done
else
    echo "make_seeds: $tls_fixtures not found; kept fuzz/seeds/tls_hello as is" >&2
fi
