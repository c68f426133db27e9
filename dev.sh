#!/usr/bin/env bash
# Herald's developer entry point.
#   ./dev.sh run [serve flags]   build plugins + server, run `herald serve` (e.g. --demo)
#   ./dev.sh test                build everything and run the whole test suite
#   ./dev.sh build               build the plugin components only
set -euo pipefail
cd "$(dirname "$0")"

PLUGINS=(twilio-sms example-http-sms whatsapp-cloud twilio-voice infobip-sms mailgun-email)
# Plugins written in Python (plugins/NAME/, entry module NAME with `-` as
# `_` minus `-py`), built with componentize-py; bundled like the above.
PY_PLUGINS=(vonage-sms-py)
# Loaded by the test servers next to the bundled plugins.
TEST_PLUGINS=(test-hostile)
# Components the tests upload themselves (refusals, hot reload).
TEST_ARTIFACTS=(test-other-world test-future-version)

build_plugins() {
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        rustup target add wasm32-wasip2
    fi
    local args=()
    for p in "${PLUGINS[@]}" "${TEST_PLUGINS[@]}" "${TEST_ARTIFACTS[@]}"; do args+=(-p "$p"); done
    cargo build --release --target wasm32-wasip2 "${args[@]}"
    # A second, distinguishable twilio-sms for hot-reload tests, built in its
    # own target dir so the two builds never invalidate each other.
    HERALD_PLUGIN_VERSION=1.1.0 cargo build --release --target wasm32-wasip2 \
        --target-dir target/plugin-v2 -p twilio-sms
    # test-hostile built as a twilio-sms version: a canary that traps on
    # recipients ending in 0666 where twilio-sms sends (canary rollback tests).
    HERALD_PLUGIN_NAME=twilio-sms HERALD_PLUGIN_VERSION=1.2.0 cargo build --release --target wasm32-wasip2 \
        --target-dir target/plugin-hostile -p test-hostile
    mkdir -p target/plugins target/test-plugins target/test-artifacts
    cp target/plugin-v2/wasm32-wasip2/release/twilio_sms.wasm target/test-artifacts/twilio_sms_v2.wasm
    cp target/plugin-hostile/wasm32-wasip2/release/test_hostile.wasm target/test-artifacts/twilio_sms_hostile.wasm
    for p in "${TEST_ARTIFACTS[@]}"; do
        cp "target/wasm32-wasip2/release/${p//-/_}.wasm" target/test-artifacts/
    done
    for p in "${PLUGINS[@]}"; do
        cp "target/wasm32-wasip2/release/${p//-/_}.wasm" target/plugins/
        cp "target/wasm32-wasip2/release/${p//-/_}.wasm" target/test-plugins/
    done
    for p in "${TEST_PLUGINS[@]}"; do
        cp "target/wasm32-wasip2/release/${p//-/_}.wasm" target/test-plugins/
    done
    build_python_plugins
}

# componentize-py (pinned, from PyPI, in its own virtualenv under target/)
# turns a Python module into a component of the provider world. A build
# takes ~20 s, so it is skipped when nothing it reads has changed: the
# plugin's sources, the contract and the tool's version.
COMPONENTIZE_PY_VERSION=0.25.1
build_python_plugins() {
    local venv=target/componentize-py
    if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q "componentize-py==$COMPONENTIZE_PY_VERSION"
    fi
    mkdir -p target/python-plugins
    for p in "${PY_PLUGINS[@]}"; do
        local module=${p%-py}
        module=${module//-/_}
        local out="target/python-plugins/${p//-/_}.wasm"
        local stamp="$out.inputs"
        local inputs
        inputs=$( { echo "$COMPONENTIZE_PY_VERSION"; cat wit/provider.wit;
                    find "plugins/$p" -name '*.py' ! -name 'test_*' | sort | xargs cat; } | sha256sum)
        if [ ! -f "$out" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$inputs" ]; then
            "$venv/bin/componentize-py" -q -d wit -w provider-plugin componentize "$module" \
                -p "plugins/$p" -o "$out.tmp"
            mv "$out.tmp" "$out"
            echo "$inputs" > "$stamp"
        fi
        cp "$out" target/plugins/
        cp "$out" target/test-plugins/
    done
}

# The Python plugins' own unit tests (their wire logic, plain CPython).
test_python_plugins() {
    for p in "${PY_PLUGINS[@]}"; do
        python3 -m unittest discover -s "plugins/$p" -p 'test_*.py'
    done
}

# The API contract test (tests/e2e/contract.rs) drives the server with
# schemathesis, pinned, in its own virtualenv under target/.
SCHEMATHESIS_VERSION=4.32.5
install_schemathesis() {
    local venv=target/schemathesis
    if [ -x "$venv/bin/st" ] && "$venv/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
        return
    fi
    if ! python3 -m venv "$venv" || ! "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"; then
        echo "Installing schemathesis from PyPI failed; the API contract test will fail." >&2
    fi
}

# The console's browser tests drive Debian's Chromium through chromedriver.
install_chromium() {
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
        return
    fi
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get install -y -q chromium chromium-driver >/dev/null \
            || echo "Installing chromium failed; the console's browser tests will report themselves skipped." >&2
    else
        echo "No apt-get (or not root): the console's browser tests will report themselves skipped." >&2
    fi
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
        test_python_plugins
        install_schemathesis
        install_chromium
        if ! postgres_up; then
            echo "PostgreSQL is not answering on 127.0.0.1:5432; the PostgreSQL half of the suite will fail." >&2
            echo "Start it (see README) or set HERALD_SKIP_POSTGRES=1 to run SQLite only." >&2
        fi
        if cargo nextest --version >/dev/null 2>&1; then
            exec cargo nextest run --workspace --exclude test-hostile --exclude test-other-world --exclude test-future-version --no-fail-fast "$@"
        else
            exec cargo test --workspace --exclude test-hostile --exclude test-other-world --exclude test-future-version "$@"
        fi
        ;;
    *)
        sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
