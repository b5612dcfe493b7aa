#!/usr/bin/env bash
# Measures rrgo on the examples, side by side in one run: native wall and CPU
# time, record wall time, replay (-a) wall time, trace size, events,
# preemptions, bytes per event. Medians of N runs (default 3).
#   scripts/bench.sh [-n RUNS] [--go VERSION] [PROGRAM...]
# Needs scripts/setup.sh to have run. Numbers are wall-clock on a shared
# machine: compare ratios within one run, not across machines.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec python3 "$repo/scripts/bench.py" "$@"
