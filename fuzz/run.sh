#!/usr/bin/env bash
# Runs each fuzz target for a set time, each in its own `cargo fuzz run`,
# and prints a table: executions, exec/s, corpus size, crashes.
#
#   fuzz/run.sh [SECONDS_PER_TARGET (60)] [TARGET...]   (default: all)
#
# Works on the stable toolchain: libFuzzer's instrumentation needs -Z flags,
# which RUSTC_BOOTSTRAP=1 allows. Builds with AddressSanitizer, and falls
# back to no sanitizer (`-s none`) when the ASan build fails.
# Environment: FUZZ_TOOLCHAIN (stable), FUZZ_SANITIZER (address|none),
# UPDATE_CORPUS=1 (merge what the run found into fuzz/corpus/, minimised
# with `cargo fuzz cmin`). New inputs otherwise go to fuzz/target/corpus/.
# Exits 1 when any target crashed (artifacts under fuzz/artifacts/).
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2
ALL_TARGETS=(csv_import phone template infobip_webhook mailgun_webhook whatsapp_webhook twilio_webhook)

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
[[ $seconds =~ ^[0-9]+$ ]] || { echo "seconds must be a number: $seconds" >&2; exit 2; }

toolchain=${FUZZ_TOOLCHAIN:-stable}
export RUSTC_BOOTSTRAP=1
cargo=(cargo)
command -v rustup >/dev/null && cargo=(cargo "+$toolchain")

if [ "$("${cargo[@]}" fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
    "${cargo[@]}" install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

cd "$root"
logs=$here/target/run-logs
mkdir -p "$logs"
sanitizer=${FUZZ_SANITIZER:-address}
echo "== building ${targets[*]} ($toolchain, sanitizer: $sanitizer)" >&2
build() {
    local t
    for t in "${targets[@]}"; do
        "${cargo[@]}" fuzz build -s "$1" "$t" || return 1
    done
}
if ! build "$sanitizer" 2>"$logs/build.log"; then
    if [ "$sanitizer" = none ]; then
        cat "$logs/build.log" >&2
        exit 2
    fi
    echo "== the $sanitizer build failed (see $logs/build.log); using -s none" >&2
    sanitizer=none
    build none 2>"$logs/build.log" || { cat "$logs/build.log" >&2; exit 2; }
fi

rows=()
failed=0
for t in "${targets[@]}"; do
    work=$here/target/corpus/$t
    seeds=$here/corpus/$t
    mkdir -p "$work" "$seeds" "$here/artifacts/$t"
    marker=$(mktemp)
    echo "== $t: ${seconds}s" >&2
    status=0
    "${cargo[@]}" fuzz run -s "$sanitizer" "$t" "$work" "$seeds" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$logs/$t.log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log" | tail -1)
    corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$logs/$t.log" | tail -1 | cut -d' ' -f2)
    crashes=$(find "$here/artifacts/$t" -type f -newer "$marker" | sed "s|^$root/||" | tr '\n' ' ')
    rm -f "$marker"
    if [ "$status" -ne 0 ] || [ -n "$crashes" ]; then
        failed=1
        [ -n "$crashes" ] || crashes="exit $status (see ${logs#"$root"/}/$t.log)"
    else
        crashes=0
    fi
    if [ "${UPDATE_CORPUS:-0}" = 1 ] && [ "$crashes" = 0 ]; then
        cp -n "$work"/* "$seeds"/ 2>/dev/null || true
        "${cargo[@]}" fuzz cmin -s "$sanitizer" "$t" "$seeds" >"$logs/$t.cmin.log" 2>&1
        rm -rf "$work"
    fi
    rows+=("$(printf '%-18s %12s %8s %14s  %s' "$t" "${execs:-?}" "${rate:-?}" "${corp:-?}" "$crashes")")
done

echo
echo "toolchain: $toolchain ($(rustc "+$toolchain" --version 2>/dev/null || rustc --version)), sanitizer: $sanitizer, ${seconds}s per target"
printf '%-18s %12s %8s %14s  %s\n' target executions exec/s corpus crashes
printf '%s\n' "${rows[@]}"
exit "$failed"
