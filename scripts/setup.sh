#!/usr/bin/env bash
# Prepares a fresh machine for working on rrgo; idempotent, safe to re-run.
#   1. installs the pinned Go toolchains (scripts/go-versions) into .tools/
#   2. builds rrgo (release) into target/release/rrgo
#   3. builds every program in examples/ with every pinned Go into .build/
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
echo "setup: done" >&2
