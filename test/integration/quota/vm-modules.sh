#!/bin/bash
# Prints a directory holding the kernel modules the quota tests need in the test VM (test/vm),
# for the VM's own kernel, and a `load-order` file listing them. Idempotent and cached in
# $VZKIT_QUOTA_VM_CACHE/<kver> (default /var/cache/vzkit-vm-quota). Root, Debian 12.
#
# Why: the development hosts' kernel has no CONFIG_QFMT_V2 and no CONFIG_XFS_QUOTA, so neither
# ext4 nor XFS project quotas exist there. The test VM boots a stock Debian 6.1 kernel, which
# has both - as modules the VM's initramfs does not carry. test/vm/build.sh keeps only the
# modules it needs itself, so this fetches the same kernel package again (apt-get download,
# never installed) and keeps: crc32c_generic (ext4 metadata_csum and libcrc32c look "crc32c" up
# at load time and the VM has no modprobe for them), crc16 mbcache jbd2 ext4, quota_tree
# quota_v2 (ext4's hidden quota files), libcrc32c xfs, loop.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
log() { echo "vzkit-quota-vm: $*" >&2; }

vmcache=$("$repo/test/vm/build.sh")
kver=$(cat "$vmcache/kver")
cache=${VZKIT_QUOTA_VM_CACHE:-/var/cache/vzkit-vm-quota}/$kver
if [ -s "$cache/load-order" ]; then
  echo "$cache"
  exit 0
fi
mkdir -p "$(dirname "$cache")"
exec 9>"$(dirname "$cache")/.lock"
flock 9
if [ -s "$cache/load-order" ]; then
  echo "$cache"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkg=linux-image-$kver
log "downloading $pkg for its quota and file system modules"
(cd "$tmp" && apt-get download "$pkg" 2>&1 | grep -v unsandboxed >&2) ||
  { apt-get update >&2 && (cd "$tmp" && apt-get download "$pkg" 2>&1 | grep -v unsandboxed >&2); }
dpkg -x "$tmp"/*.deb "$tmp/x"
moddir=$tmp/x/lib/modules/$kver
/bin/busybox depmod -b "$tmp/x" "$kver"

rm -rf "$cache.tmp"
mkdir -p "$cache.tmp"
# modules.dep lists a module's whole dependency closure, so dependencies have shorter lines:
# sorting by line length gives an insmod order. crc32c_generic goes first (looked up by name).
for m in crc32c_generic loop quota_v2 ext4 xfs; do
  line=$(grep -E "(^|/)$m\.ko:" "$moddir/modules.dep") || { log "no $m.ko in $pkg"; exit 1; }
  echo "$line" | tr -d ':' | tr ' ' '\n'
done | sort -u | while read -r ko; do
  [ -n "$ko" ] || continue
  n=$(grep -E "^$ko:" "$moddir/modules.dep" | wc -w)
  [ "$(basename "$ko")" = crc32c_generic.ko ] && n=0
  echo "$n $ko"
done | sort -n | while read -r _ ko; do
  cp "$moddir/$ko" "$cache.tmp/"
  basename "$ko" >>"$cache.tmp/load-order"
done
rm -rf "$cache"
mv "$cache.tmp" "$cache"
log "modules for $kver in $cache: $(tr '\n' ' ' <"$cache/load-order")"
echo "$cache"
