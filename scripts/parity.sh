#!/usr/bin/env bash
# parity.sh — compare what rrgo's DAP server shows with what Delve's `dlv dap` shows.
#
# Usage:
#   scripts/parity.sh [--go VERSION] [--max-stops N] [PROGRAM...]
#
# PROGRAMs are example names under examples/ (default: debugvars dapdemo). For each:
#   1. builds it -N -l (scripts/build-examples.sh: .build/go<VERSION>/<PROGRAM>.debug)
#   2. records that binary with rrgo (.parity/traces/<PROGRAM>-go<VERSION>)
#   3. runs `dlv dap` (launch, mode exec, on the same binary, stopOnEntry false) and
#      `rrgo replay --dap` (attach to the recording) with the same breakpoints (the
#      program's `// #BP` markers, or a list in scripts/parity/parity.js), and at every
#      stop collects threads, the stopped goroutine's stack, scopes, variables 3 levels
#      deep and the evaluate results of the program's expression list
#   4. normalises addresses, thread numbers and goroutine ids other than 1, compares
#      variables by name (map order does not matter), prints every difference
#      (path: delve value vs rrgo value), the difference categories and a summary, and
#      writes the same to .parity/report-<PROGRAM>.txt (raw JSON: .parity/raw/).
# A report, not a test: exits 0 when the reports were written.
#
# Delve is built from source, offline (GOTOOLCHAIN=local, GOPROXY=off, -mod=vendor),
# with the newest pinned toolchain (PARITY_DELVE_GO=VERSION for another), once per
# (Delve commit, Go version): .parity/delve/<commit>/dlv-go<VERSION>.
# Its source comes from DELVE_SRC (a checkout), else DELVE_GIT (a git dir of
# github.com/go-delve/delve, bare or not; DELVE_REF, default HEAD), else the mirror at
# /work/.mirror/go-delve+delve/repo.
# rrgo: $RRGO, else `cargo build --release` ($CARGO_TARGET_DIR, default target/).
# Needs node (>= 18). PARITY_TIMEOUT_SCALE=3 triples every deadline.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
OUT="$REPO_ROOT/.parity"

log() { printf 'parity: %s\n' "$*" >&2; }
die() { printf 'parity: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '/^# Usage:/,/^# A report/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

GO_VERSION=""
MAX_STOPS=60
PROGRAMS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --go) [[ $# -ge 2 ]] || die "--go needs a VERSION"; GO_VERSION="$2"; shift 2 ;;
        --go=*) GO_VERSION="${1#--go=}"; shift ;;
        --max-stops) [[ $# -ge 2 ]] || die "--max-stops needs N"; MAX_STOPS="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        -*) usage; die "unknown option: $1" ;;
        *) PROGRAMS+=("$1"); shift ;;
    esac
done
[[ ${#PROGRAMS[@]} -gt 0 ]] || PROGRAMS=(debugvars dapdemo)
[[ -n "$GO_VERSION" ]] || GO_VERSION="$("$SCRIPT_DIR/install-go.sh" --default-version)"
command -v node >/dev/null || die "node is needed (scripts/setup.sh)"
for p in "${PROGRAMS[@]}"; do
    [[ -d "$REPO_ROOT/examples/$p" ]] || die "no example examples/$p"
done
mkdir -p "$OUT"

# Delve is built with the newest pinned toolchain (its go.mod may need a newer Go than
# the one the programs are built with); one dlv debugs programs of every Go version.
DELVE_GO="${PARITY_DELVE_GO:-$("$SCRIPT_DIR/install-go.sh" --default-version)}"

# ------------------------------------------------------------------------ Delve ----
build_delve() {
    local src commit dir dlv tmp
    if [[ -n "${DELVE_SRC:-}" ]]; then
        src="$(cd "$DELVE_SRC" && pwd)"
        commit="$(git -C "$src" rev-parse HEAD 2>/dev/null || echo local)"
        dir="$OUT/delve/${commit:0:12}"
    else
        local gitdir="${DELVE_GIT:-/work/.mirror/go-delve+delve/repo}"
        [[ -e "$gitdir" ]] || die "no Delve source: set DELVE_SRC to a checkout or DELVE_GIT to a clone of github.com/go-delve/delve"
        commit="$(git --git-dir="$gitdir" rev-parse "${DELVE_REF:-HEAD}^{commit}" 2>/dev/null ||
            git -C "$gitdir" rev-parse "${DELVE_REF:-HEAD}^{commit}")" || die "cannot resolve ${DELVE_REF:-HEAD} in $gitdir"
        dir="$OUT/delve/${commit:0:12}"
        src="$dir/src"
        if [[ ! -f "$src/.complete" ]]; then
            log "extracting Delve ${commit:0:12} from $gitdir"
            rm -rf "$src"
            tmp="$(mktemp -d "$OUT/.delve-src.XXXXXX")"
            # Only what `go build ./cmd/dlv` needs: no test data (a mirror may lack its
            # large files, and git archive stops at a missing blob).
            git --git-dir="$gitdir" archive "$commit" go.mod go.sum cmd pkg service vendor \
                ':(exclude,glob)**/_testdata/**' ':(exclude,glob)**/_fixtures/**' \
                2>"$tmp.err" | tar -x -C "$tmp" || true
            [[ -f "$tmp/vendor/modules.txt" && -f "$tmp/cmd/dlv/main.go" ]] ||
                { cat "$tmp.err" >&2; rm -rf "$tmp" "$tmp.err"; die "could not extract Delve's source"; }
            rm -f "$tmp.err"
            mkdir -p "$dir"
            mv "$tmp" "$src"
            touch "$src/.complete"
        fi
    fi
    dlv="$dir/dlv-go$DELVE_GO"
    if [[ ! -x "$dlv" ]]; then
        log "building Delve ${commit:0:12} with go$DELVE_GO (offline, vendored; about a minute)"
        # The toolchain's environment (GOROOT, GOCACHE…, GOTOOLCHAIN=local, GOPROXY=off).
        (eval "$("$SCRIPT_DIR/install-go.sh" --env "$DELVE_GO")" && cd "$src" &&
            GOFLAGS=-mod=vendor GOTOOLCHAIN=local GOPROXY=off CGO_ENABLED=0 \
            go build -buildvcs=false -o "$dlv.tmp" ./cmd/dlv) || die "building Delve failed"
        mv -f "$dlv.tmp" "$dlv"
    fi
    DLV="$dlv"
}

build_delve
log "delve: $DLV ($("$DLV" version 2>/dev/null | sed -n 's/^Version: //p'))"

# ------------------------------------------------------------------------- rrgo ----
if [[ -z "${RRGO:-}" ]]; then
    log "building rrgo (cargo build --release)"
    (cd "$REPO_ROOT" && cargo build --release --quiet) || die "building rrgo failed"
    RRGO="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/rrgo"
fi
[[ -x "$RRGO" ]] || die "no rrgo binary at $RRGO"
log "rrgo: $RRGO"

# --------------------------------------------------------------------- examples ----
"$SCRIPT_DIR/build-examples.sh" "$GO_VERSION" >&2 || die "building the examples failed"
BUILD_DIR="$("$SCRIPT_DIR/build-examples.sh" --print-dir "$GO_VERSION")"

for p in "${PROGRAMS[@]}"; do
    bin="$BUILD_DIR/$p.debug"
    [[ -x "$bin" ]] || die "no binary $bin"
    trace="$OUT/traces/$p-go$GO_VERSION"
    mkdir -p "$OUT/traces"
    rm -rf "$trace" "$OUT/report-$p.txt"
    log "$p: recording $bin"
    (cd "$REPO_ROOT/examples/$p" && RRGO_TRACE_DIR="$OUT/traces" "$RRGO" -q record -o "$trace" -- "$bin" \
        >"$OUT/record-$p.out" 2>&1) || log "$p: the recorded program exited non-zero (see $OUT/record-$p.out)"
    [[ -d "$trace" ]] || die "$p: no trace at $trace"
    log "$p: comparing"
    node "$SCRIPT_DIR/parity/parity.js" --program "$p" --binary "$bin" --trace "$trace" \
        --dlv "$DLV" --rrgo "$RRGO" --source "$REPO_ROOT/examples/$p" \
        --out "$OUT/report-$p.txt" --raw "$OUT/raw" --max-stops "$MAX_STOPS" ||
        log "$p: the comparison failed (see above)"
    printf '\n'
done

printf 'parity (go%s, %s):\n' "$GO_VERSION" "$(basename "$DLV")"
for p in "${PROGRAMS[@]}"; do
    if [[ -f "$OUT/report-$p.txt" ]]; then
        sed -n '/^summary /,$p' "$OUT/report-$p.txt"
    else
        printf 'summary %s: no report\n' "$p"
    fi
done
exit 0
