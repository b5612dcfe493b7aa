#!/usr/bin/env bash
# The demo of rrgo's main job: record examples/sigterm-delay, send it SIGTERM
# from outside a moment after it is ready, then replay the recording exactly.
#   scripts/demo.sh [GO_VERSION]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
version="${1:-$(bash scripts/install-go.sh --default-version)}"
if [[ ! -x target/release/rrgo || ! -x ".build/go$version/sigterm-delay" ]]; then
    bash scripts/setup.sh
fi
rrgo="$repo/target/release/rrgo"
prog="$repo/.build/go$version/sigterm-delay"
trace="$(mktemp -d -t rrgo-demo-XXXXXX)/sigterm-delay"
log="$(mktemp -t rrgo-demo-log-XXXXXX)"

echo "== recording $prog (SIGTERM will be sent from outside once it is ready)"
"$rrgo" record -o "$trace" -- "$prog" 2> >(tee "$log" >&2) &
rec=$!
for _ in $(seq 1 200); do
    pid=$(grep -o 'ready pid=[0-9]*' "$log" 2>/dev/null | cut -d= -f2 || true)
    [[ -n "$pid" ]] && break
    sleep 0.05
done
[[ -n "${pid:-}" ]] || { echo "demo: the program never became ready" >&2; kill "$rec"; exit 1; }
sleep 0.5
echo "== kill -TERM $pid"
kill -TERM "$pid"
wait "$rec"

echo
echo "== replaying the recording (the same instructions run again; output must match)"
"$rrgo" replay -a "$trace"
echo
echo "== why did SIGTERM take so long? (rrgo replay --signals)"
"$rrgo" replay --signals "$trace"
handler=$("$rrgo" replay --signals "$trace" | grep -o 'goroutine [0-9]* received it' | head -1 | awk '{print $2}')
if [[ -n "$handler" ]]; then
    echo
    echo "== the handler goroutine's history (rrgo replay --goroutine $handler)"
    "$rrgo" replay --goroutine "$handler" "$trace"
fi
echo
echo "trace kept in $trace (rrgo replay -a $trace to replay it again)"
rm -f "$log"
