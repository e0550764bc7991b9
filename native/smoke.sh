#!/bin/bash
# Smoke test for ctspawn: builds a throwaway busybox container, starts it through the real
# fd-3 protocol (smoke_driver.py plays node), checks exec/enter/console, halts it and checks
# that the monitor cleaned up. Needs root. Leaves nothing behind, also on failure.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CTSPAWN=${CTSPAWN:-$HERE/build/ctspawn}
BUSYBOX=${BUSYBOX:-/bin/busybox}
MAP="0 100000 65536"
HOSTID=100000

T= CG= MPID= CPID=
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*" >&2; [ -n "$T" ] && [ -f "$T/monitor.log" ] && tail -n 40 "$T/monitor.log" | sed 's/^/  monitor.log: /' >&2; exit 1; }

cleanup() {
	set +e
	[ -n "$CPID" ] && kill -0 "$CPID" 2>/dev/null && kill -KILL "$CPID"
	if [ -n "$MPID" ]; then
		for _ in $(seq 50); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$MPID" 2>/dev/null && kill -KILL "$MPID"
	fi
	if [ -n "$T" ]; then
		awk -v t="$T" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -ru | while read -r m; do umount -l "$m"; done
		rm -rf "$T"
	fi
	[ -n "$CG" ] && [ -d "$CG" ] && rmdir "$CG"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "smoke.sh must run as root" >&2; exit 1; }
[ "$CTSPAWN" = "$HERE/build/ctspawn" ] && make -s -C "$HERE" >/dev/null
pass "build"

T=$(mktemp -d /tmp/ctspawn-smoke.XXXXXX)
chmod 0755 "$T"   # uid 100000 must be able to reach the rootfs

# --- a busybox rootfs -------------------------------------------------------------------
R=$T/rootfs
mkdir -p "$R"/{bin,sbin,etc/init.d,proc,sys,dev,tmp,root}
cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$BUSYBOX" --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
ln -s ../bin/busybox "$R/sbin/init"
printf '::sysinit:/etc/init.d/rcS\n::respawn:-/bin/sh\n::ctrlaltdel:/sbin/reboot\n::shutdown:/bin/umount -a -r\n' >"$R/etc/inittab"
printf '#!/bin/sh\nmount -t tmpfs tmpfs /tmp\necho rcS-done\n' >"$R/etc/init.d/rcS"
chmod 0755 "$R/etc/init.d/rcS"
chmod 1777 "$R/tmp"
chown -R "$HOSTID:$HOSTID" "$R"
mount --bind "$R" "$R"          # the rootfs is a mount point, detached by the monitor at the end
pass "busybox rootfs in $T"

# --- a cgroup (v2) for rmdirs / --cgroup, when available ---------------------------------
for base in /sys/fs/cgroup /sys/fs/cgroup/unified; do
	if [ "$(stat -f -c %T "$base" 2>/dev/null)" = cgroup2fs ]; then
		CG=$base/ctspawn-smoke-$$
		mkdir "$CG"
		break
	fi
done

config() { # config NAME ROOTFS INIT...
	local name=$1 rootfs=$2; shift 2
	python3 - "$T" "$name" "$rootfs" "$MAP" "$HOSTID" "${CG:-}" "$@" >"$T/$name.json" <<'PY'
import json, sys
t, name, rootfs, idmap, hostid, cg, *init = sys.argv[1:]
print(json.dumps({
    "rootfs": rootfs, "hostname": "smoke-" + name,
    "uid_map": idmap + "\n", "gid_map": idmap + "\n",
    "init": init, "env": ["PATH=/bin:/sbin", "TERM=linux", "container=vzkit"],
    "console_log": f"{t}/{name}.console.log", "socket": f"{t}/{name}.sock",
    "pidfile": f"{t}/{name}.pid", "statusfile": f"{t}/{name}.status",
    "rmdirs": [cg] if cg else [], "umounts": [rootfs] if name == "ct" else [],
    "tty_gid": int(hostid) + 5, "root_uid": int(hostid), "root_gid": int(hostid),
    "debug": True,
}))
PY
}
cgargs=(); [ -n "$CG" ] && cgargs=(--cgroup-procs "$CG/cgroup.procs")

# --- failure paths first: they must clean up after themselves ------------------------------
config bad "$R" /sbin/does-not-exist
out=$(python3 "$HERE/smoke_driver.py" "$CTSPAWN" "$T/bad.json" "$T/monitor.log" "${cgargs[@]}" --expect-error) \
	|| fail "bad init: $out"
grep -qx "ERROR stage=5 errno=2 execve /sbin/does-not-exist" <<<"$out" || fail "bad init: $out"
[ -z "$CG" ] || [ ! -d "$CG" ] || fail "bad init: cgroup not removed"
[ ! -e "$T/bad.sock" ] && [ ! -e "$T/bad.pid" ] || fail "bad init: socket/pidfile left"
pass "failed exec of init reports stage 5: $(grep ERROR <<<"$out")"
[ -n "$CG" ] && mkdir "$CG"

EVIL=$T/evil
mkdir -p "$EVIL"; ln -s /etc "$EVIL/proc"; chown -R "$HOSTID:$HOSTID" "$EVIL"
config evil "$EVIL" /sbin/init
out=$(python3 "$HERE/smoke_driver.py" "$CTSPAWN" "$T/evil.json" "$T/monitor.log" "${cgargs[@]}" --expect-error) \
	|| fail "symlinked /proc: $out"
grep -qx "ERROR stage=4 errno=20 open /proc (must be a directory, not a symlink)" <<<"$out" || fail "symlinked /proc: $out"
pass "symlinked /proc in the rootfs is refused"
[ -n "$CG" ] && { [ -d "$CG" ] || mkdir "$CG"; }

for how in close bogus term; do
	config abort "$R" /sbin/init
	out=$(python3 "$HERE/smoke_driver.py" "$CTSPAWN" "$T/abort.json" "$T/monitor.log" "${cgargs[@]}" \
		--abort-after-spawned $how) || fail "abort ($how): $out"
	read -r _ rc ipid < <(grep '^ABORTED' <<<"$out") || fail "abort ($how): $out"
	[ "$rc" = rc=1 ] || fail "abort ($how): helper exit $rc"
	! kill -0 "$ipid" 2>/dev/null || fail "abort ($how): init $ipid survived"
	[ -z "$CG" ] || [ ! -d "$CG" ] || fail "abort ($how): cgroup not removed"
	[ ! -e "$T/abort.sock" ] || fail "abort ($how): socket left"
	[ "$how" != bogus ] || grep -q '"stage":3.*expected a \\"go\\" message' <<<"$out" || fail "abort ($how): $out"
	[ "$how" != term ] || grep -q '"stage":3.*start interrupted by SIGTERM' <<<"$out" || fail "abort ($how): $out"
	[ -n "$CG" ] && mkdir "$CG"
done
pass "EOF, a wrong message or SIGTERM instead of go: init killed, cleaned up, exit 1"

# --- the real start --------------------------------------------------------------------------
config ct "$R" /sbin/init
out=$(python3 "$HERE/smoke_driver.py" "$CTSPAWN" "$T/ct.json" "$T/monitor.log" "${cgargs[@]}") || fail "start: $out"
read -r _ MPID CPID < <(grep '^RUNNING' <<<"$out") || fail "start: $out"
grep -q '^< {"t":"spawned","pid":'"$CPID"'}$' <<<"$out" || fail "no spawned message: $out"
grep -q '^< {"t":"running","pid":'"$CPID"'}$' <<<"$out" || fail "no running message: $out"
[ "$(cat "$T/ct.pid")" = "$MPID $CPID" ] || fail "pidfile: $(cat "$T/ct.pid")"
pass "started: monitor $MPID, init $CPID; pidfile ok"

X() { "$CTSPAWN" exec --pid "$CPID" ${CG:+--cgroup "$CG/cgroup.procs"} "$@"; }
[ "$(X -- cat /proc/1/comm)" = init ] || fail "PID 1 is not init"
[ "$(X -- readlink /proc/1/exe)" = /bin/busybox ] || fail "PID 1 exe"
[ "$(X -- sh -c 'echo $PPID')" = 0 ] || fail "exec'd process not in the container pid namespace"
pass "init is PID 1 inside (ctspawn exec)"
[ "$(X -- hostname)" = smoke-ct ] || fail "hostname"
[ "$(X -- id -u):$(X -- id -g)" = 0:0 ] || fail "ids"
[ "$(X --uid 1000 --gid 1000 -- id -u)" = 1000 ] || fail "--uid"
[ "$(X -- cat /proc/self/uid_map | tr -s ' ')" = " 0 100000 65536" ] || fail "uid_map: $(X -- cat /proc/self/uid_map)"
X -- ip link show lo | grep -q '<LOOPBACK,UP' || fail "lo is not up"
[ "$(X --env FOO=bar --cwd /tmp -- sh -c 'echo $FOO $container $(pwd)')" = "bar vzkit /tmp" ] || fail "--env/--cwd"
[ -z "$CG" ] || X -- grep -qx "0::/" /proc/self/cgroup || fail "cgroup ns: $(X -- cat /proc/self/cgroup)"
X -- test -c /dev/null -a -c /dev/urandom -a -L /dev/ptmx -a -c /dev/console || fail "/dev"
X -- sh -c 'echo x >/dev/null' || fail "/dev/null not writable"
X -- grep -q ' /sys sysfs ro,' /proc/self/mounts || fail "/sys not read-only"
X -- grep -q ' /tmp tmpfs ' /proc/self/mounts || fail "rcS did not run"
set +e; X -- sh -c 'exit 7'; rc=$?; X -- /nonexistent 2>/dev/null; rc2=$?; X -- sh -c 'kill -TERM $$'; rc3=$?; set -e
[ "$rc:$rc2:$rc3" = "7:127:143" ] || fail "exit codes $rc:$rc2:$rc3"
pass "hostname, ids, uid_map, lo up, env, cwd, cgroup ns, /dev, ro /sys, exit codes"

out=$(printf 'echo $((6*7))\nexit\n' | timeout 10 "$CTSPAWN" enter --pid "$CPID" 2>&1) || fail "enter: $out"
grep -q '^42' <<<"$out" || fail "enter output: $out"
pass "enter without a tty"

out=$(printf 'echo con$((40+2))sole\n' | timeout 10 "$CTSPAWN" console "$T/ct.sock" 2>&1) || fail "console: $out"
grep -q 'con42sole' <<<"$out" || fail "console output: $out"
grep -q 'con42sole' "$T/ct.console.log" || fail "console log"
grep -q 'rcS-done' "$T/ct.console.log" || fail "console log lacks boot output"
pass "console client round trip; console log"

out=$(python3 "$HERE/smoke_tty.py" console "$CTSPAWN" "$T/ct.sock") || fail "console on a tty: $out"
pass "$out"
out=$(python3 "$HERE/smoke_tty.py" enter "$CTSPAWN" "$CPID") || fail "enter on a tty: $out"
pass "$out"

exec 7< <(sleep 3 | "$CTSPAWN" console "$T/ct.sock" 2>/dev/null)
sleep 0.5
busy=$(printf '' | timeout 5 "$CTSPAWN" console "$T/ct.sock" 2>&1 || true)
grep -q 'console is busy' <<<"$busy" || fail "second client: $busy"
exec 7<&-
pass "second console client is turned away"

kill -TERM "$MPID"; sleep 0.2
kill -0 "$MPID" || fail "monitor died of SIGTERM"
grep -q "ctspawn\[$CPID\]: ignoring SIGTERM" "$T/monitor.log" || fail "SIGTERM not logged"
pass "monitor ignores (and logs) SIGTERM"

X -- sh -c '{ head -c 1100000 /dev/zero | tr "\0" x; echo; echo after-rotate; } >/dev/console'
for _ in $(seq 50); do grep -q after-rotate "$T/ct.console.log" 2>/dev/null && break; sleep 0.1; done
[ "$(stat -c %s "$T/ct.console.log.1")" -ge 1048576 ] || fail "console log not rotated"
[ "$(stat -c %s "$T/ct.console.log")" -lt 1048576 ] || fail "console log not restarted"
pass "console log rotated at 1 MiB"

# No growth over many attach/detach cycles (the monitor lives as long as the container).
dirty() { awk '/^Private_Dirty:/ { print $2 }' "/proc/$MPID/smaps_rollup"; }
python3 - "$T/ct.sock" <<'PY'
import socket, sys
for _ in range(20):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"true\n"); s.recv(65536); s.close()
PY
before=$(dirty)
python3 - "$T/ct.sock" <<'PY'
import socket, sys
for i in range(1000):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"true\n"); s.recv(65536); s.close()
PY
after=$(dirty)
[ $((after - before)) -le 8 ] || fail "monitor private memory grew from $before to $after KiB over 1000 attaches"
pass "1000 console attach/detach cycles: monitor private dirty ${before} -> ${after} KiB"

RSS=$(ps -o rss= -p "$MPID" | tr -d ' ')
DIRTY=$(awk '/^Private_Dirty:/ { print $2 }' "/proc/$MPID/smaps_rollup")
PSS=$(awk '/^Pss:/ { print $2 }' "/proc/$MPID/smaps_rollup")
pass "monitor RSS ${RSS} KiB (Pss ${PSS} KiB, private dirty ${DIRTY} KiB; the rest is clean libc/binary text)"
[ -n "${SMOKE_SMAPS:-}" ] && grep -E '^[0-9a-f]|^Rss' "/proc/$MPID/smaps" | paste - - | awk '$NF != "kB" || 1' | grep -v ' 0 kB' 
[ "$(X -- ls /proc/1/fd | tr '\n' ' ')" = "0 1 2 " ] || fail "init has extra fds: $(X -- ls -l /proc/1/fd)"
X -- ls -l /proc/1/fd/0 | grep -q -- '-> /dev/console' || fail "init's stdin is not /dev/console"
[ -z "$(ls -l /proc/$MPID/fd | grep -F "$R")" ] || fail "monitor holds an fd in the rootfs"
[ "$(readlink /proc/$MPID/cwd)" = / ] || fail "monitor cwd"

# --- halt: busybox init halts on SIGUSR1 ----------------------------------------------------
X -- kill -USR1 1
for _ in $(seq 150); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$MPID" 2>/dev/null && fail "monitor still running after halt"
kill -0 "$CPID" 2>/dev/null && fail "init still running after halt"
status=$(cat "$T/ct.status")
pass "halted; statusfile: $status"
[ ! -e "$T/ct.sock" ] && [ ! -e "$T/ct.pid" ] || fail "socket/pidfile left behind"
[ -z "$CG" ] || [ ! -d "$CG" ] || fail "cgroup $CG left behind"
! grep -q " $T" /proc/self/mountinfo || fail "mounts left: $(grep " $T" /proc/self/mountinfo)"
[ -z "$(ps -e -o uid= | grep -x " *$HOSTID")" ] || fail "container processes left"
grep -v 'console client' "$T/monitor.log" | sed 's/^/  monitor.log: /'
pass "monitor cleaned up: no socket, pidfile, cgroup, mount or process left"
MPID= CPID=
echo "smoke.sh: all passed"
