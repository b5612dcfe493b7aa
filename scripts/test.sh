#!/usr/bin/env bash
# The one test command (README, CI): sets up what it needs, then runs every suite.
# Usage: scripts/test.sh [extra args passed to cargo test]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/setup.sh

# Release mode: the integration tests record real programs, which is slow in debug builds.
cargo test --workspace --release "$@"
