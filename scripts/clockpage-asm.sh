#!/usr/bin/env bash
# Re-assembles src/tracee/clockpage.S and prints its bytes and label
# offsets, to paste into src/tracee/clockpage.rs after changing the code.
# Needs binutils (as, objcopy, nm); the build itself does not.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
as -o "$tmp/c.o" "$repo/src/tracee/clockpage.S"
objcopy -O binary -j .text "$tmp/c.o" "$tmp/c.bin"
nm "$tmp/c.o" | awk '$2 == "t" { print "// " $3 " = 0x" substr($1, 9) }'
od -An -v -tx1 "$tmp/c.bin" | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1, /g'
