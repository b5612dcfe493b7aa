#!/usr/bin/env bash
# The one test command (README, CI): sets up what it needs, then runs every suite.
# Usage: scripts/test.sh [extra args passed to cargo test]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/setup.sh

# Release mode: the integration tests record real programs, which is slow in debug builds.
cargo test --workspace --release "$@"

# Real programs: a representative subset of the conformance suite (the Go
# standard library's test binaries and the toolchain, recorded and replayed
# twice against native runs) on every pinned Go version.
bash scripts/conformance.sh --quick
