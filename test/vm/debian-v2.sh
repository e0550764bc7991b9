#!/bin/sh
# Runs INSIDE the cgroup v2 VM (test/vm/run.sh): a Debian 12 container with systemd on a pure
# cgroup v2 host, from the test template cache (debian.test.ts builds it). Prints one
# "STEP name rc=N" line per step followed by its output, for the vitest file to assert.
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$REPO/dist:$PATH"
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
step stop vzctl stop 101
step status vzctl status 101
step destroy vzctl destroy 101
step gone sh -c 'test ! -e /sys/fs/cgroup/dv2/101 && echo gone'
