#!/bin/busybox sh
# PID 1 of the test VM (copied to /init of the initramfs by build.sh). Builds the view the command
# runs in: the host's / (9p tag "share", read-only) under a tmpfs overlay so writes work, with
# fresh proc/sys/dev and cgroup2 at /sys/fs/cgroup; runs /out/cmd there (9p tag "out", the host's
# read-write results dir) and writes its stdout, stderr and exit code back to /out.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "vzkit-vm init: $*" >/dev/console; poweroff -f; }

for ko in $(cat /lib/modules/load-order); do insmod "/lib/modules/$ko" || fail "insmod $ko"; done
# msize: 9p's per-message payload; the default 8 KiB makes node's startup reads crawl.
opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts" out /out || fail "mount results share"
# cache=loose: the host tree is read-only for the VM's lifetime, so caching it is safe and fast.
mount -t 9p -o "$opts,ro,cache=loose" share /host || fail "mount host share"
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "mount overlay"
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/shm /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
# Nothing mounts a v1 hierarchy (and cgroup_no_v1=all forbids it): every controller is on v2.
mount -t cgroup2 -o nsdelegate cgroup2 /newroot/sys/fs/cgroup || fail "mount cgroup2"

# Loopback up, as on any host (CRIU's kernel feature probe connects to 127.0.0.1), and an address
# of the host's own, as a real host has on its uplink: without one the host's packets to a routed
# container leave with no usable IPv4 source and the answers never come back.
ip link set lo up
ip addr add 192.0.2.2/32 dev lo
# switch_root, not chroot: the kernel refuses CLONE_NEWUSER to a chrooted task
# (create_user_ns -> current_chrooted()), and vzctl start needs a user namespace.
mkdir -p /newroot/out
mount --move /out /newroot/out
cat > /newroot/stage2.sh <<'S2'
cut -d' ' -f1 /proc/uptime >/out/t-start
/usr/bin/env -i HOME=/root LANG=C.UTF-8 \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/sh -c "$(cat /out/cmd)" </dev/null >/out/stdout 2>/out/stderr
echo $? >/out/rc
cut -d' ' -f1 /proc/uptime >/out/t-end
sync
echo o > /proc/sysrq-trigger
sleep 100
S2
exec switch_root /newroot /bin/sh /stage2.sh
