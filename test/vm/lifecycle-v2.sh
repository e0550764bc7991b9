#!/bin/sh
# Runs INSIDE the cgroup v2 VM (test/vm/run.sh): vzkit's whole lifecycle on a pure v2 host.
# Prints one "STEP name rc=N" line per step followed by its output, for the vitest file to assert.
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$REPO/dist:$PATH"
mkdir -p /tmp/v2t/root
printf 'root: /tmp/v2t/root\nnode: vt2\n' >/tmp/v2t/vzkit.yaml
export VZKIT_CONFIG=/tmp/v2t/vzkit.yaml
step() {
  name=$1; shift
  "$@" >/tmp/v2t/o 2>&1; rc=$?
  echo "STEP $name rc=$rc"; cat /tmp/v2t/o
}
step create vzctl create 101 --ostemplate busybox --ram 64M --numproc 32 --cpus 1
step start vzctl start 101
step ps vzctl exec 101 ps
step cgroup vzctl exec 101 cat /proc/self/cgroup
step nproc vzctl exec 101 nproc
step set vzctl set 101 --ram 96M --save
step memory.max cat /sys/fs/cgroup/vt2/101/memory.max
step pids.max cat /sys/fs/cgroup/vt2/101/pids.max
step hog vzctl exec 101 dd if=/dev/zero of=/dev/null bs=200M count=1
step oom_kill sh -c 'grep oom_kill /sys/fs/cgroup/vt2/101/memory.events'
# Checkpoint/restore on v2 with the default node config: a counter goes on, the restored init is in
# the container's cgroup with its limit, sysinfo still answers from it.
step counter vzctl exec 101 sh -c 'setsid sh -c "i=0; while :; do i=\$((i+1)); echo \$i > /c; sleep 0.2; done" </dev/null >/dev/null 2>&1 &'
sleep 2
step suspend vzctl suspend 101
step resume vzctl resume 101
sleep 2
step resumed sh -c 'cat /tmp/v2t/root/root/101/c; cat /proc/$(cut -d" " -f2 /tmp/v2t/root/run/101.pid)/cgroup; cat /sys/fs/cgroup/vt2/101/memory.max'
step free vzctl exec 101 free -m
# A RAM limit below what the container uses: refused (21) and the old limit kept, as on v1; v2
# alone would OOM-kill the container. ~40 MiB pinned in a tmpfs (no swap to go to).
step swap0 vzctl set 101 --swap 0 --save
step ram-pin vzctl exec 101 sh -c 'mkdir -p /run/pin && mount -t tmpfs tmpfs /run/pin && dd if=/dev/zero of=/run/pin/x bs=1M count=40 2>/dev/null'
step ram-low vzctl set 101 --ram 16M --save
step ram-kept sh -c 'cat /sys/fs/cgroup/vt2/101/memory.max /sys/fs/cgroup/vt2/101/memory.high; vzctl status 101; vzlist -H -o ram 101'
step ram-unpin vzctl exec 101 sh -c 'rm -f /run/pin/x; umount /run/pin'
step ram-48 vzctl set 101 --ram 48M
step ram-48-max cat /sys/fs/cgroup/vt2/101/memory.max
step ram-96 vzctl set 101 --ram 96M
step iolimit vzctl set 101 --iolimit 10M --save
step iolimit-off vzctl set 101 --iolimit 0 --save
step delegate vzctl exec 101 sh -c 'mkdir -p /tmp/cg && mount -t cgroup2 none /tmp/cg && mkdir /tmp/cg/sub && echo $$ > /tmp/cg/sub/cgroup.procs && echo delegated'
step list vzlist -a -o ctid,status,ram,numproc.l
step stop vzctl stop 101
step status vzctl status 101
step destroy vzctl destroy 101
step gone sh -c 'test ! -e /sys/fs/cgroup/vt2/101 && echo gone'
