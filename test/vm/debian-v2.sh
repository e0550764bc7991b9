#!/bin/sh
# Runs INSIDE the cgroup v2 VM (test/vm/run.sh): a Debian 12 container with systemd on a pure
# cgroup v2 host, from the test template cache (debian.test.ts builds it). Prints one
# "STEP name rc=N" line per step followed by its output, for the vitest file to assert.
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$REPO/dist:$PATH"
# The container's files on ext4 (the VM's disk, VZKIT_VM_DISK_MB), as on a real host, not on the
# VM's overlayfs root or a tmpfs: CRIU finds what systemd's inotify watches point at by file
# handle (overlayfs without nfs_export gives none: "Can't dump that handle") or by path, and
# the watch on the /etc/localtime symlink itself resolves by path to its target on a tmpfs.
mkdir -p /tmp/dv2
mkfs.ext4 -q -F /dev/vda && mount /dev/vda /tmp/dv2 && chmod 711 /tmp/dv2
mkdir -p /tmp/dv2/root
printf 'root: /tmp/dv2/root\nnode: dv2\ntemplate_cache: %s\n' "${VZKIT_TEST_TEMPLATE_CACHE:-/var/cache/vzkit-test/templates}" >/tmp/dv2/vzkit.yaml
export VZKIT_CONFIG=/tmp/dv2/vzkit.yaml
step() {
  name=$1; shift
  "$@" >/tmp/dv2/o 2>&1; rc=$?
  echo "STEP $name rc=$rc"; cat /tmp/dv2/o
}
step create vzctl create 101 --ostemplate debian-12 --ram 256M
step start vzctl start 101
# Until systemd has made its private bus socket, systemctl cannot ask (emulation is slow).
step running sh -c 'for i in $(seq 1 120); do s=$(vzctl exec 101 systemctl is-system-running --wait 2>/dev/null); [ -n "$s" ] && [ "$s" != offline ] && { echo "$s"; exit 0; }; sleep 1; done; exit 1'
step failed vzctl exec 101 systemctl --failed --no-legend --plain
step cgroup vzctl exec 101 cat /proc/self/cgroup
step controllers cat /sys/fs/cgroup/dv2/101/cgroup.subtree_control
step tree sh -c 'ls /sys/fs/cgroup/dv2/101'
step memory.max cat /sys/fs/cgroup/dv2/101/memory.max
# Checkpoint/restore on v2 with the default node config: systemd runs on with its cgroup tree
# made again (CRIU --manage-cgroups=soft, --cgroup-root), limits and delegated controllers kept.
step suspend vzctl suspend 101
step resume vzctl resume 101
step resumed sh -c 'for i in $(seq 1 60); do s=$(vzctl exec 101 systemctl is-system-running 2>/dev/null); [ -n "$s" ] && [ "$s" != starting ] && { echo "$s"; break; }; sleep 1; done; cat /proc/$(cut -d" " -f2 /tmp/dv2/root/run/101.pid)/cgroup; cat /sys/fs/cgroup/dv2/101/memory.max; cat /sys/fs/cgroup/dv2/101/cgroup.subtree_control'
step failed2 vzctl exec 101 systemctl --failed --no-legend --plain
step stop vzctl stop 101
step status vzctl status 101
step destroy vzctl destroy 101
step gone sh -c 'test ! -e /sys/fs/cgroup/dv2/101 && echo gone'
