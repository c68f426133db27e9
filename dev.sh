#!/usr/bin/env bash
# Herald's developer entry point.
#   ./dev.sh run [serve flags]   build plugins + server, run `herald serve` (e.g. --demo)
#   ./dev.sh test                build everything and run the whole test suite
#   ./dev.sh build               build the plugin components only
set -euo pipefail
cd "$(dirname "$0")"

PLUGINS=(twilio-sms)
TEST_PLUGINS=(test-hostile)

build_plugins() {
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        rustup target add wasm32-wasip2
    fi
    local args=()
    for p in "${PLUGINS[@]}" "${TEST_PLUGINS[@]}"; do args+=(-p "$p"); done
    cargo build --release --target wasm32-wasip2 "${args[@]}"
    mkdir -p target/plugins target/test-plugins
    for p in "${PLUGINS[@]}"; do
        cp "target/wasm32-wasip2/release/${p//-/_}.wasm" target/plugins/
        cp "target/wasm32-wasip2/release/${p//-/_}.wasm" target/test-plugins/
    done
    for p in "${TEST_PLUGINS[@]}"; do
        cp "target/wasm32-wasip2/release/${p//-/_}.wasm" target/test-plugins/
    done
}

postgres_up() {
    pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null
}

case "${1:-}" in
    run)
        shift
        build_plugins
        exec cargo run -p herald -- serve "$@"
        ;;
    build)
        build_plugins
        ;;
    test)
        shift
        build_plugins
        if ! postgres_up; then
            echo "PostgreSQL is not answering on 127.0.0.1:5432; the PostgreSQL half of the suite will fail." >&2
            echo "Start it (see README) or set HERALD_SKIP_POSTGRES=1 to run SQLite only." >&2
        fi
        if cargo nextest --version >/dev/null 2>&1; then
            exec cargo nextest run --workspace --exclude test-hostile --no-fail-fast "$@"
        else
            exec cargo test --workspace --exclude test-hostile "$@"
        fi
        ;;
    *)
        sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
