#!/bin/bash
# usage: test/vm/run.sh COMMAND [ARG...]
# Boots the cgroup v2 test VM (test/vm/build.sh builds it on first use) and runs COMMAND as root
# in the host's file tree (read-only, with a throwaway tmpfs overlay), in the current directory,
# with cgroup2 at /sys/fs/cgroup. Prints its stdout and stderr and exits with its exit code;
# 124 if the VM ran past $VZKIT_VM_TIMEOUT seconds (default 900), 125 if it never ran COMMAND
# (then the serial console log goes to stderr). Env: VZKIT_VM_CACHE, VZKIT_VM_MEM (MiB, 1024),
# VZKIT_VM_CPUS (2), VZKIT_VM_MACHINE (microvm | pc), VZKIT_VM_VERBOSE=1 (console log always),
# VZKIT_VM_KEEP=DIR (what COMMAND writes into /out/keep is copied there). The VM's environment is
# empty: pass variables in COMMAND (env VAR=VALUE ...).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
cache=$("$here/build.sh")
tmp=$(mktemp -d /tmp/vzkit-vm.XXXXXX)
qpid=
cleanup() {
  [ -n "$qpid" ] && kill "$qpid" 2>/dev/null && wait "$qpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/out/keep"
{ printf 'cd %q || exit 126\nexec' "$PWD"; printf ' %q' "$@"; echo; } >"$tmp/out/cmd"
# A virtio disk (sparse), so io.max has a device to limit; VZKIT_VM_DISK_MB makes it big enough
# for a file system of containers (debian-v2.sh).
truncate -s "${VZKIT_VM_DISK_MB:-64}M" "$tmp/disk.img"

# Under TCG the guest's TSC ticks at the host's rate; tell the guest that rate so it need not
# calibrate (microvm has no good reference timer for that; without it, it was seen to hang). The kernel
# logs the rate it measured; dmesg may have been rotated away, then /proc/cpuinfo's "cpu MHz".
tsc_mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Refined TSC clocksource calibration: \([0-9.]*\) MHz.*/\1/p' | tail -1)
[ -n "$tsc_mhz" ] || tsc_mhz=$(dmesg 2>/dev/null | sed -n 's/.*tsc: Detected \([0-9.]*\) MHz processor.*/\1/p' | tail -1)
[ -n "$tsc_mhz" ] || tsc_mhz=$(awk -F': *' '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo)
tsc_khz=$(awk -v m="$tsc_mhz" 'BEGIN {printf "%d", m * 1000}')

# tsc=reliable: with 2 vCPUs the guest's TSC sync check fails under emulation and it falls back
# to jiffies, which drift; all vCPUs read the one host TSC, so it is in fact reliable.
append="console=ttyS0 quiet panic=-1 cgroup_no_v1=all tsc_early_khz=$tsc_khz tsc=reliable"
machine=${VZKIT_VM_MACHINE:-microvm}
if [ "$machine" = microvm ]; then
  kernel=$cache/vmlinux dev=device
  mach=(-M microvm)
else # the pc machine boots the bzImage and has PCI: slower to boot, but no TSC trouble
  kernel=$cache/vmlinuz dev=pci
  mach=(-M pc)
fi
# /dev/kvm on these hosts cannot run a stock kernel: pure emulation (tcg), -cpu max for node.
# multidevs=remap: / spans several host filesystems; keeps inode numbers from colliding.
start=$(date +%s.%N)
timeout "${VZKIT_VM_TIMEOUT:-900}" qemu-system-x86_64 "${mach[@]}" -accel tcg -cpu max \
  -smp "${VZKIT_VM_CPUS:-2}" -m "${VZKIT_VM_MEM:-1024}" -nodefaults -no-user-config -display none -no-reboot \
  -serial "file:$tmp/console.log" -kernel "$kernel" -initrd "$cache/initrd.cpio.gz" -append "$append" \
  -fsdev local,id=host,path=/,security_model=passthrough,readonly=on,multidevs=remap \
  -device "virtio-9p-$dev,fsdev=host,mount_tag=share" \
  -fsdev "local,id=out,path=$tmp/out,security_model=passthrough" \
  -device "virtio-9p-$dev,fsdev=out,mount_tag=out" \
  -drive "file=$tmp/disk.img,format=raw,if=none,id=disk" -device "virtio-blk-$dev,drive=disk" \
  </dev/null >"$tmp/qemu.log" 2>&1 &
qpid=$!
set +e
wait "$qpid"
qrc=$?
set -e
qpid=
end=$(date +%s.%N)

# What the command left in /out/keep (e.g. a test report) is copied to $VZKIT_VM_KEEP.
if [ -n "${VZKIT_VM_KEEP:-}" ] && [ -d "$tmp/out/keep" ]; then
  mkdir -p "$VZKIT_VM_KEEP" && cp -r "$tmp/out/keep/." "$VZKIT_VM_KEEP/"
fi
cat "$tmp/out/stdout" 2>/dev/null || true
cat "$tmp/out/stderr" >&2 2>/dev/null || true
if [ "${VZKIT_VM_VERBOSE:-}" = 1 ] || [ ! -s "$tmp/out/rc" ]; then
  echo "--- vzkit-vm: qemu exit $qrc; serial console:" >&2
  cat "$tmp/console.log" "$tmp/qemu.log" >&2 2>/dev/null || true
fi
t() { cat "$tmp/out/t-$1" 2>/dev/null || echo '?'; }
awk -v a="$start" -v b="$end" -v s="$(t start)" -v e="$(t end)" 'BEGIN {
  printf "vzkit-vm: command started %s s after boot, ran %s s; qemu ran %.1f s\n", s, (e == "?" ? "?" : sprintf("%.1f", e - s)), b - a }' >&2
[ "$qrc" = 124 ] && exit 124
[ -s "$tmp/out/rc" ] || exit 125
exit "$(cat "$tmp/out/rc")"
