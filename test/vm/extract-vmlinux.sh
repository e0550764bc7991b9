#!/bin/bash
# Prints the uncompressed ELF vmlinux inside a bzImage (like the kernel's scripts/extract-vmlinux):
# try each compression magic at every offset where it occurs, keep the first result that is ELF.
set -euo pipefail
img=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
try() { # $1: magic as a grep -P byte pattern, $2...: decompressor reading stdin
  local magic=$1 off
  shift
  for off in $(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1); do
    # Trailing bytes after the stream make the decompressor complain; its output is still whole.
    tail -c +$((off + 1)) "$img" | "$@" >"$out" 2>/dev/null || true
    if [ "$(head -c 4 "$out" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
      cat "$out"
      exit 0
    fi
  done
}
try '\xfd7zXZ\x00' xz -dc        # Debian's default (CONFIG_KERNEL_XZ)
try '\x1f\x8b\x08' gzip -dc
try '\x28\xb5\x2f\xfd' zstd -dc
try '\x02\x21\x4c\x18' lz4 -dc
echo "extract-vmlinux: no ELF kernel found in $img" >&2
exit 1
