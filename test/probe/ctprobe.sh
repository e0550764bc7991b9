#!/bin/sh
# Runs INSIDE a container (busybox sh or any POSIX sh) and reports what the container sees,
# one "key=value" per line, for test/integration/isolation.test.ts to assert on.
echo "pid1=$(cat /proc/1/comm)"
echo "self_pid_ns_init=$(readlink /proc/1/ns/pid)"
echo "uid_map=$(cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
echo "gid_map=$(cat /proc/self/gid_map | tr -s ' ' | sed 's/^ //')"
echo "uid=$(id -u)"
echo "hostname=$(hostname)"
echo "nprocs=$(ls -d /proc/[0-9]* | wc -l)"
echo "cgroup=$(head -n1 /proc/self/cgroup | cut -d: -f3)"
echo "ifaces=$(ls /sys/class/net | tr '\n' ' ')"
echo "lo_up=$(cat /sys/class/net/lo/operstate)"
echo "lo_flags=$(cat /sys/class/net/lo/flags)"
while read -r _ mp fs opts _; do
  case "$mp" in
    /|/proc|/sys|/dev|/dev/pts|/dev/shm|/dev/console) echo "mount:$mp=$fs:$(echo "$opts" | cut -d, -f1)" ;;
  esac
done < /proc/mounts
echo "dev=$(ls /dev | tr '\n' ' ')"
echo "console_tty=$( [ -c /dev/console ] && echo yes || echo no)"
echo "ptmx=$( [ -e /dev/ptmx ] && echo yes || echo no)"
echo "null_write=$(echo x > /dev/null && echo ok)"
echo "urandom_read=$(head -c 8 /dev/urandom | wc -c)"
echo "sys_write=$(touch /sys/probe 2>/dev/null && echo yes || echo no)"
echo "mknod=$(mknod /tmp/probe-null c 1 3 2>/dev/null && echo yes || echo no)"
echo "host_root_visible=$( [ -e /proc/1/root/etc/vzkit-host-marker ] && echo yes || echo no)"
