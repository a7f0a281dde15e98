#!/usr/bin/env bash
# Runs every ward fuzz target (or those named as arguments) for a bounded
# time each. See docs/fuzzing.md.
#
#   fuzz/smoke.sh                        # every target: FUZZ_SECONDS (60) each
#   FUZZ_SECONDS=600 fuzz/smoke.sh source_line
#   fuzz/smoke.sh dns_query artifact_signed
#
# Targets: source_line, artifact_load, artifact_signed (behind a valid
# signature; its three historic crashes are regression tests now, see
# docs/fuzzing.md "Findings"), dns_query (the DNS request path from raw
# bytes), tls_hello (the TLS ClientHello reader, any split of the stream),
# http_head (the HTTP request-head parser of the block page and [http]),
# import_lines (RPZ, hosts, domain and adblock lists read as sources),
# doh_request (a DoH request's head, an answer's EDNS padding and
# Cache-Control).
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_SANITIZER  address (default) or none; ASan works on stable here
#   FUZZ_TOOLCHAIN  rustup toolchain to use, e.g. nightly (default: the
#                   default toolchain; stable works through RUSTC_BOOTSTRAP)
#   FUZZ_JOBS       libFuzzer -jobs/-workers per target (default 1)
#
# Each target's corpus is fuzz/corpus/<target> (git-ignored); the checked-in
# seeds in fuzz/seeds/ are copied into it first. Crash inputs land in
# fuzz/artifacts/<target>/. Exits non-zero if any target crashed, leaked,
# timed out or failed to build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"
jobs="${FUZZ_JOBS:-1}"
default_targets=(source_line artifact_load artifact_signed dns_query tls_hello http_head import_lines doh_request)
all_targets=(source_line artifact_load artifact_signed dns_query tls_hello http_head import_lines doh_request)
if [ "$#" -eq 0 ]; then
    targets=("${default_targets[@]}")
else
    targets=("$@")
fi
for t in "${targets[@]}"; do
    case " ${all_targets[*]} " in
        *" $t "*) ;;
        *) echo "smoke: unknown target $t (known: ${all_targets[*]})" >&2; exit 2 ;;
    esac
done

cargo=(cargo)
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
    cargo=(cargo "+$FUZZ_TOOLCHAIN")
fi

if ! "${cargo[@]}" fuzz --version >/dev/null 2>&1; then
    echo "smoke: installing cargo-fuzz" >&2
    "${cargo[@]}" install cargo-fuzz --locked
fi

# cargo fuzz passes -Zsanitizer=... and other unstable flags to rustc. On a
# stable toolchain RUSTC_BOOTSTRAP=1 allows them (harmless on nightly).
export RUSTC_BOOTSTRAP=1

# Seeds per target; artifact_signed shares artifact_load's.
seeds_of() {
    case "$1" in
        artifact_signed) echo "fuzz/seeds/artifact_load" ;;
        *) echo "fuzz/seeds/$1" ;;
    esac
}
dict_of() {
    case "$1" in
        source_line) echo "fuzz/dicts/source_line.dict" ;;
        dns_query) echo "fuzz/dicts/dns.dict" ;;
        tls_hello) echo "" ;; # none yet: the seeds carry the structure
        http_head) echo "" ;;
        import_lines) echo "fuzz/dicts/import.dict" ;;
        doh_request) echo "fuzz/dicts/dns.dict" ;;
        *) echo "fuzz/dicts/artifact.dict" ;;
    esac
}

# One build for all targets up front, so build failures are reported as such
# and the timed runs time fuzzing only.
echo "smoke: building fuzz targets (sanitizer: $sanitizer)" >&2
for t in "${targets[@]}"; do
    "${cargo[@]}" fuzz build --sanitizer "$sanitizer" "$t"
done

failed=()
for t in "${targets[@]}"; do
    corpus="fuzz/corpus/$t"
    seeds="$(seeds_of "$t")"
    mkdir -p "$corpus"
    if [ -d "$seeds" ]; then
        cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
    fi
    dict="$(dict_of "$t")"
    libfuzzer_args=(
        "-max_total_time=$seconds"
        -timeout=10
        -rss_limit_mb=2048
        -print_final_stats=1
    )
    [ -f "$dict" ] && libfuzzer_args+=("-dict=$dict")
    if [ "$jobs" -gt 1 ]; then
        libfuzzer_args+=("-jobs=$jobs" "-workers=$jobs")
    fi
    artifacts="fuzz/artifacts/$t"
    mkdir -p "$artifacts"
    marker="$(mktemp)"
    echo "smoke: fuzzing $t for ${seconds}s (corpus $corpus)" >&2
    if "${cargo[@]}" fuzz run --sanitizer "$sanitizer" "$t" "$corpus" -- "${libfuzzer_args[@]}"; then
        echo "smoke: $t: OK" >&2
    else
        new_inputs="$(find "$artifacts" -type f -newer "$marker" | sort)"
        if [ -n "$new_inputs" ]; then
            echo "smoke: $t: FAILED; reproduce with:" >&2
            for f in $new_inputs; do
                echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer $sanitizer $t $f" >&2
            done
        else
            echo "smoke: $t: FAILED without a crash input (build or fuzzer error; see above)" >&2
        fi
        failed+=("$t")
    fi
    rm -f "$marker"
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "smoke: failed targets: ${failed[*]}" >&2
    exit 1
fi
echo "smoke: all targets ran ${seconds}s without a crash: ${targets[*]}" >&2
