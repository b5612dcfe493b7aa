#!/usr/bin/env bash
# build-examples.sh — build rrgo's Go example programs with project-local Go toolchains.
#
# Usage:
#   scripts/build-examples.sh [VERSION...]    build for VERSIONs (default: every
#                                             version in scripts/go-versions)
#   scripts/build-examples.sh --print-dir [VERSION]
#                                             print the output directory for VERSION
#                                             (default: the first in go-versions); no build
#   scripts/build-examples.sh --list          print the example names
#
# For each version the toolchain is installed if needed (scripts/install-go.sh),
# then every directory examples/<name>/ holding a main package is built into
#   .build/go<VERSION>/<name>         plain `go build`: optimized, with DWARF
#   .build/go<VERSION>/<name>.debug   `go build -gcflags='all=-N -l'`: no
#                                     optimization, no inlining (and cgo's C
#                                     code built with CGO_CFLAGS='-g -O0')
# Both builds use -buildvcs=false (the work tree may have no commits) and never
# -trimpath, so DWARF names the real source files under examples/ and the
# toolchain's GOROOT under .tools/.
#
# cgo: an example whose .go files contain `import "C"` is built with
# CGO_ENABLED=1 (dynamically linked against glibc, needs gcc); every other
# example with CGO_ENABLED=0, which gives a static binary.
#
# Incremental: a binary is rebuilt only when a file in its example directory,
# examples/go.mod or this script is newer than it. Outputs are written to a
# temporary name and renamed, and builds of one version are serialized with
# flock(1) when available, so concurrent callers (e.g. parallel tests) are safe.
# The go command runs offline (GOPROXY=off, GOTOOLCHAIN=local): examples use
# the standard library only.
#
# Prints one summary line per version on stdout; progress and compiler errors go
# to stderr. Exits non-zero, naming the failed builds, if any build fails.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT_PATH="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
EXAMPLES_DIR="$REPO_ROOT/examples"
BUILD_ROOT="$REPO_ROOT/.build"
INSTALL_GO="$SCRIPT_DIR/install-go.sh"

log() { printf 'build-examples: %s\n' "$*" >&2; }
die() { printf 'build-examples: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '/^# Usage:/,/^# For each version/p' "$SCRIPT_PATH" | sed '$d; s/^# \{0,1\}//' >&2
}

# Example directories with a main package, one name per line.
list_examples() {
    local dir name
    for dir in "$EXAMPLES_DIR"/*/; do
        [[ -d "$dir" ]] || continue
        name="$(basename "$dir")"
        if grep -qs '^package main$' "$dir"*.go; then
            printf '%s\n' "$name"
        fi
    done
}

uses_cgo() {
    grep -qs '^import "C"$' "$EXAMPLES_DIR/$1/"*.go
}

# True if $1 exists and nothing it is built from is newer.
up_to_date() {
    local target="$1" name="$2" newer
    [[ -x "$target" ]] || return 1
    newer="$(find "$EXAMPLES_DIR/$name" "$EXAMPLES_DIR/go.mod" "$SCRIPT_PATH" \
        -newer "$target" -print -quit 2>/dev/null)"
    [[ -z "$newer" ]]
}

build_version() {
    local ver="$1" out lockfd="" name variant tmp cgo
    local built=0 fresh=0 started=$SECONDS
    local -a failed=() gcflags
    local cflags
    # Toolchain environment (installs the toolchain if needed).
    local envs
    envs="$("$INSTALL_GO" --env "$ver")" || die "could not install Go $ver"
    eval "$envs"
    out="$BUILD_ROOT/go$ver"
    mkdir -p "$out"
    if command -v flock >/dev/null 2>&1; then
        exec {lockfd}>"$BUILD_ROOT/.go$ver.lock"
        flock "$lockfd"
        rm -rf "$out"/.tmp.*  # leftovers of interrupted runs
    fi

    local -a names
    mapfile -t names < <(list_examples)
    [[ ${#names[@]} -gt 0 ]] || die "no examples found under $EXAMPLES_DIR"

    # One `go build -o DIR/ ./a ./b ...` per (variant, cgo) group: the go command
    # builds the packages in parallel. If a group fails, its members are rebuilt
    # one by one to name the culprits.
    local -a stale
    for variant in "" ".debug"; do
        gcflags=()
        cflags="-g -O2"   # the go command's default
        [[ "$variant" == ".debug" ]] && gcflags=("-gcflags=all=-N -l") && cflags="-g -O0"
        for cgo in 0 1; do
            stale=()
            for name in "${names[@]}"; do
                if uses_cgo "$name"; then [[ $cgo == 1 ]] || continue; else [[ $cgo == 0 ]] || continue; fi
                if up_to_date "$out/$name$variant" "$name"; then
                    fresh=$((fresh + 1))
                else
                    stale+=("$name")
                fi
            done
            [[ ${#stale[@]} -gt 0 ]] || continue
            tmp="$(mktemp -d "$out/.tmp.XXXXXX")"
            log "go$ver: building${variant:+ $variant variant of} ${stale[*]} (CGO_ENABLED=$cgo)"
            if (cd "$EXAMPLES_DIR" && CGO_CFLAGS="$cflags" CGO_ENABLED=$cgo go build -buildvcs=false \
                "${gcflags[@]}" -o "$tmp/" "${stale[@]/#/./}") 2>"$tmp/.log"; then
                cat "$tmp/.log" >&2
            else
                # The one-by-one builds below print the errors.
                for name in "${stale[@]}"; do
                    rm -f "$tmp/$name"
                    (cd "$EXAMPLES_DIR" && CGO_CFLAGS="$cflags" CGO_ENABLED=$cgo go build -buildvcs=false \
                        "${gcflags[@]}" -o "$tmp/$name" "./$name") || failed+=("$name$variant")
                done
            fi
            for name in "${stale[@]}"; do
                if [[ -f "$tmp/$name" ]]; then
                    mv -f "$tmp/$name" "$out/$name$variant"
                    built=$((built + 1))
                fi
            done
            rm -rf "$tmp"
        done
    done
    [[ -n "$lockfd" ]] && exec {lockfd}>&-

    if [[ ${#failed[@]} -gt 0 ]]; then
        printf 'go%s: FAILED to build: %s (see the compiler output above)\n' "$ver" "${failed[*]}"
        die "go$ver: ${#failed[@]} build(s) failed: ${failed[*]}"
    fi
    printf 'go%s: %d examples (%d binaries) in %s: built %d, up to date %d (%ds)\n' \
        "$ver" "${#names[@]}" $((2 * ${#names[@]})) "$out" "$built" "$fresh" $((SECONDS - started))
}

main() {
    case "${1:-}" in
        -h|--help) usage; exit 0 ;;
        --list) list_examples; exit 0 ;;
        --print-dir)
            [[ $# -le 2 ]] || die "--print-dir takes at most one VERSION"
            printf '%s\n' "$BUILD_ROOT/go${2:-$("$INSTALL_GO" --default-version)}"
            exit 0
            ;;
        -*) usage; die "unknown option: $1" ;;
    esac
    local -a versions=("$@")
    if [[ ${#versions[@]} -eq 0 ]]; then
        mapfile -t versions < <("$INSTALL_GO" --list)
    fi
    local ver
    for ver in "${versions[@]}"; do
        # A subshell per version keeps one toolchain's environment from leaking
        # into the next.
        (build_version "$ver")
    done
}

main "$@"
