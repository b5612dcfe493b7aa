#!/usr/bin/env bash
# Prepares a fresh machine for working on rrgo; idempotent, safe to re-run.
#   1. installs the pinned Go toolchains (scripts/go-versions) into .tools/
#   2. builds rrgo (release) into target/release/rrgo
#   3. builds every program in examples/ with every pinned Go into .build/
#   4. installs the DAP tests' node packages (tests/dap/package-lock.json) into
#      tests/dap/node_modules (needs node >= 20 and npm)
#   5. installs Debian's chromium (apt-get, as root or through sudo) if no
#      chromium is on PATH: the timeline page is tested in a headless browser
# Never touches a global Go installation or your PATH.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

echo "setup: Go toolchains" >&2
bash scripts/install-go.sh

echo "setup: building rrgo (release)" >&2
cargo build --release --workspace --quiet
echo "setup: rrgo is at $repo/target/release/rrgo" >&2

echo "setup: building examples" >&2
bash scripts/build-examples.sh

echo "setup: DAP test dependencies (tests/dap)" >&2
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup: error: node and npm are needed for the DAP tests (tests/dap); install Node.js >= 20 with npm" >&2
    exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [[ "$node_major" -lt 20 ]]; then
    echo "setup: error: the DAP tests need Node.js >= 20, found $(node --version)" >&2
    exit 1
fi
# npm ci rewrites node_modules/.package-lock.json: newer than the lock file and
# package.json means the install is current.
stamp=tests/dap/node_modules/.package-lock.json
if [[ "$stamp" -nt tests/dap/package-lock.json && "$stamp" -nt tests/dap/package.json ]]; then
    echo "setup: tests/dap/node_modules is up to date" >&2
else
    if ! npm_out="$(npm ci --prefix tests/dap --no-audit --no-fund --loglevel=error 2>&1)"; then
        printf '%s\n' "$npm_out" >&2
        echo "setup: error: npm ci --prefix tests/dap failed (output above)" >&2
        exit 1
    fi
    echo "setup: installed tests/dap/node_modules" >&2
fi
echo "setup: a headless browser for the timeline page test" >&2
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    echo "setup: chromium is installed" >&2
else
    sudo=()
    [[ "$(id -u)" == 0 ]] || sudo=(sudo -n)
    apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
    # Stale package lists on a fresh machine: update once, then try again.
    if ! apt_out="$("${apt[@]}" install -y --no-install-recommends chromium 2>&1)" &&
        ! apt_out="$("${apt[@]}" update 2>&1 && "${apt[@]}" install -y --no-install-recommends chromium 2>&1)"; then
        printf '%s\n' "$apt_out" | tail -20 >&2
        echo "setup: error: could not install chromium with apt-get (output above); install a chromium that runs headless" >&2
        exit 1
    fi
    echo "setup: installed chromium" >&2
fi
echo "setup: done" >&2
