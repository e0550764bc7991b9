#!/bin/bash
# Builds (once) what test/vm/run.sh boots: a stock Debian 6.1 kernel (pure cgroup v2 when nothing
# mounts v1) and a busybox initramfs whose /init is test/vm/init.sh. Idempotent: the kernel is
# fetched only when missing; the initramfs is rebuilt only when missing or init.sh changed.
# Cache: $VZKIT_VM_CACHE (default /var/cache/vzkit-vm). Needs root (apt-get) on Debian 12.
# Prints the cache dir on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${VZKIT_VM_CACHE:-/var/cache/vzkit-vm}
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9 # two test runs building at once would trample each other's files

log() { echo "vzkit-vm build: $*" >&2; }
tmps=()
trap 'rm -rf "${tmps[@]}"' EXIT

# Host tools. --no-install-recommends keeps qemu small (no GUI, no firmware extras).
pkgs="qemu-system-x86 busybox-static cpio"
if ! command -v qemu-system-x86_64 >/dev/null || ! command -v cpio >/dev/null ||
  ! /bin/busybox --list 2>/dev/null | grep -x depmod >/dev/null; then # not -q: with pipefail an early exit of grep makes busybox die of SIGPIPE
  log "installing $pkgs"
  apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends $pkgs >&2 ||
    { apt-get update >&2 && apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends $pkgs >&2; }
fi

# 1. Kernel: the newest linux-image-6.1.0-N-amd64, downloaded and unpacked, never installed.
# virtio_mmio: microvm's devices; virtio_pci: the pc machine's; 9p: the host's tree; overlay: a
# writable view of it; virtio_blk: a disk for io.max; veth: containers' links; nf_tables: CRIU's
# network lock (--network-lock nftables), the *_diag modules (CRIU finds sockets through them) and
# nf_conntrack_netlink (it dumps the conntrack table; /init has no modprobe to load it on demand) for
# checkpoint/restore; tun, fuse: what containers ask for; ext4: a container file system on the
# VM disk (test/vm/debian-v2.sh); bridge: bridged networking; ifb, sch_tbf, sch_ingress, cls_u32,
# act_mirred: --rate (src/net/rate.ts).
# pre: loaded before everything (soft dependencies: libcrc32c, for nf_tables, asks the crypto API
# for crc32c when it loads, and /init has no modprobe to fetch it then).
pre="crc32c_generic"
mods="$pre virtio_mmio virtio_pci virtio_blk 9pnet_virtio 9p overlay veth nf_tables tun fuse unix_diag inet_diag tcp_diag udp_diag netlink_diag af_packet_diag nf_conntrack_netlink ext4 bridge ifb sch_tbf sch_ingress cls_u32 act_mirred loop"
if [ ! -s "$cache/vmlinux" ] || [ ! -s "$cache/modules/load-order" ] || [ "$(cat "$cache/modules/list" 2>/dev/null)" != "$mods" ]; then
  pick() { apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1; }
  pkg=${VZKIT_VM_KERNEL_PKG:-$(pick)}
  [ -n "$pkg" ] || { apt-get update >&2; pkg=$(pick); }
  [ -n "$pkg" ] || { log "no linux-image-6.1.0-*-amd64 in apt"; exit 1; }
  log "downloading $pkg"
  tmp=$(mktemp -d) && tmps+=("$tmp")
  (cd "$tmp" && apt-get download "$pkg" 2>&1 | grep -v unsandboxed >&2)
  dpkg -x "$tmp"/*.deb "$tmp/x"
  kver=$(ls "$tmp/x/lib/modules")
  moddir=$tmp/x/lib/modules/$kver
  # The package has no modules.dep (its postinst runs depmod); busybox depmod makes one.
  /bin/busybox depmod -b "$tmp/x" "$kver"
  # Keep only the modules /init loads ($mods), their dependencies, and a load order. modules.dep lists a module's whole dependency
  # closure, so a dependency has a shorter line than its dependants: sorting by length gives
  # an insmod order.
  rm -rf "$cache/modules" "$cache/initrd.cpio.gz"
  mkdir -p "$cache/modules"
  for m in $mods; do
    grep -E "/$m\.ko:" "$moddir/modules.dep" | tr -d ':' | tr ' ' '\n' || { log "no module $m in $pkg"; exit 1; }
  done | sort -u | while read -r ko; do
    case " $pre " in *" $(basename "$ko" .ko) "*) w=0 ;; *) w=$(grep -E "^$ko:" "$moddir/modules.dep" | wc -w) ;; esac
    echo "$w $ko"
  done | sort -n | while read -r _ ko; do
    cp "$moddir/$ko" "$cache/modules/"
    basename "$ko" >>"$cache/modules/load-order"
  done
  # microvm boots an ELF vmlinux (PVH entry), so undo the bzImage's compression; the pc
  # machine boots the bzImage itself.
  cp "$tmp/x/boot/vmlinuz-$kver" "$cache/vmlinuz"
  "$here/extract-vmlinux.sh" "$cache/vmlinuz" >"$cache/vmlinux.tmp"
  mv "$cache/vmlinux.tmp" "$cache/vmlinux"
  echo "$kver" >"$cache/kver"
  echo "$mods" >"$cache/modules/list"
fi

# 2. Initramfs: static busybox, /init, the modules.
stamp=$(cat "$here/init.sh" "$cache/modules/load-order" | sha256sum | cut -c1-16)
if [ ! -s "$cache/initrd.cpio.gz" ] || [ "$(cat "$cache/initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
  log "building initramfs for $(cat "$cache/kver")"
  root=$(mktemp -d) && tmps+=("$root")
  mkdir -p "$root"/{bin,dev,proc,sys,host,out,rw,newroot,lib/modules}
  cp /bin/busybox "$root/bin/busybox"
  cp "$here/init.sh" "$root/init" && chmod 755 "$root/init"
  cp "$cache"/modules/* "$root/lib/modules/"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$cache/initrd.cpio.gz.tmp"
  mv "$cache/initrd.cpio.gz.tmp" "$cache/initrd.cpio.gz"
  echo "$stamp" >"$cache/initrd.stamp"
fi
echo "$cache"
