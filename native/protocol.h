/*
 * The control protocol between vzkit (Node) and ctspawn, mirrored by src/runtime/protocol.ts.
 *
 * Transport: fd 3 of ctspawn is one end of a socketpair; each message is one line of JSON
 * (UTF-8, no embedded newlines) terminated by '\n'. Both sides reject a message that is not
 * the one expected at the current stage: the helper answers with an error and exits.
 *
 *   stage  direction        message
 *   1      node -> helper   {"t":"config", ...see CONFIG FIELDS...}
 *   2      helper -> node   {"t":"spawned","pid":P}     init is cloned into new user, pid, mount,
 *                                                       net, uts and ipc namespaces; uid/gid maps
 *                                                       are written; init waits
 *   3      node -> helper   {"t":"go"}                  node has put P into the container's cgroups
 *   4      (init)           unshare(CLONE_NEWCGROUP), ids, mounts, /dev, pivot_root, hostname, lo
 *   5      helper -> node   {"t":"running","pid":P}     execve of the container's init succeeded
 *   6      node -> helper   {"t":"detach"}              node has recorded the state; helper closes
 *                                                       fd 3 and stays as the monitor
 *   any    helper -> node   {"t":"error","stage":N,"errno":E,"msg":"..."}   then the helper exits 1
 *                           (msg names the operation and path, e.g. "mount proc on /proc";
 *                           E is the errno, 0 if none; a failed execve of init is stage 5)
 *   any    helper -> node   {"t":"log","msg":"..."}     debug log lines (only with "debug":true)
 *
 * EOF on fd 3 before stage 6 aborts the start: init is killed and the helper cleans up and exits.
 * EOF after "running" counts as "detach" (node may have died after the container came up).
 *
 * CONFIG FIELDS (all strings unless noted):
 *   rootfs        host path of the container's mounted root (must be a mount point or is bind-mounted)
 *   hostname
 *   uid_map, gid_map   contents for /proc/P/uid_map and gid_map, e.g. "0 100000 65536\n"
 *   init          array of strings: argv of the container's init, e.g. ["/sbin/init"]
 *   env           array of strings: init's environment, "KEY=VALUE"
 *   console_log   host path; console output is appended there (rotated to .1 at 1 MiB). The
 *                 monitor reads the console at most at 64 KiB/s sustained after a 256 KiB burst
 *                 (a token bucket): over that it stops reading the pty master for a while, so a
 *                 writer inside that floods the console blocks on the full pty (back-pressure,
 *                 nothing is lost) instead of costing the host CPU outside the container's
 *                 cgroups. The console client (`vzctl console`) sees the same stream; what the
 *                 admin types is never throttled.
 *   socket        host path of the monitor's unix socket (console attach)
 *   pidfile       host path; the monitor writes "MONITOR_PID INIT_PID\n" before stage 5
 *   statusfile    host path; the monitor writes init's wait status ("exited N" / "killed SIG")
 *                 when init ends
 *   rmdirs        array: directories (cgroups) the monitor removes after init has ended, each
 *                 after the directories below it, depth-first (sub-cgroups the container made
 *                 in a cgroup delegated to it, e.g. systemd's; only directories, symlinks not
 *                 followed, at most 32 levels down). Each dir's tree may stay busy (EBUSY) for
 *                 up to 2 s in all while the kernel tears down the pid namespace; what cannot be
 *                 removed is logged and left
 *   umounts       array: host mount points the monitor detaches after init has ended
 *   poststop      optional array: argv (absolute path first) of a host command the monitor runs
 *                 after init has ended and the umounts are done, before it removes its pidfile
 *                 (vzkit: /bin/sh running "ip -force -batch run/CTID.netdown", which removes host
 *                 interfaces and proxy neighbour entries, then removing that file). stdin and stdout on /dev/null, stderr the monitor
 *                 log, signals unblocked; killed after 10 s. A failure is logged, not fatal.
 *   bind_src, bind_dst   arrays: host files bind-mounted over the same-index path inside (LXCFS)
 *   devnodes      array: names under /dev, bind-mounted from devnode_dir/NAME
 *   devnode_dir   host dir holding the devnodes
 *   sysinfo_memcg optional: host path of the container's memory cgroup directory (v1
 *                 /sys/fs/cgroup/memory/NODE/CTID, v2 /sys/fs/cgroup/NODE/CTID). When present,
 *                 sysinfo(2) is intercepted (like Incus' security.syscalls.intercept.sysinfo):
 *                 init installs a seccomp filter with a user-notification listener right before
 *                 its execve and passes the listener to the monitor, which answers every sysinfo
 *                 call of init and its descendants from this cgroup (RAM = the memory limit,
 *                 free = limit - usage, swap, task count; uptime since init started; the
 *                 host's loads unless loadavg_file is set; see native/sysinfo_virt.c). On any
 *                 failure the real syscall runs. The monitor answers at most 1000 calls per
 *                 second after a burst of 1000 (a token bucket over all listeners); callers over
 *                 that wait for their answer, so a tenant calling sysinfo in a loop costs the
 *                 host's CPU a few percent of a core at most. The cgroup figures are reused
 *                 for 10 ms, or for 50 times what reading them took when that was long (a v1
 *                 memcg subtree with thousands of sub-cgroups made inside), so reading them
 *                 costs at most 2% of a core.
 *                 "ctspawn exec/enter" processes do not descend from init: with --sysinfo-ctl
 *                 they get a filter of their own whose listener is registered with the monitor
 *                 over "<socket>.ctl" (SYSINFO CTL SOCKET below), so they and everything they
 *                 start are answered alike. Not covered: exec/enter without that option, and
 *                 32-bit (i386, x32) callers. With it, nothing in the container can install a
 *                 seccomp listener of its own (the kernel allows one per filter chain: EBUSY),
 *                 e.g. a nested container manager's syscall interception.
 *                 Errors: stage 2 "open sysinfo_memcg ..." / "read the memory cgroup vN files
 *                 in ..." (missing dir, wrong version), stage 4 "seccomp: ...", stage 5
 *                 "receive the seccomp listener from init".
 *   sysinfo_cgver number, 1 or 2: the cgroup version of sysinfo_memcg (required with it, refused
 *                 without it)
 *   cgroup_mount  optional: "cgroup2" mounts a cgroup2 on /sys/fs/cgroup inside (after the
 *                 cgroup namespace is made, so rooted at the container's cgroup); for systemd,
 *                 which then runs in unified mode, also on a v1 hybrid host. Absent: nothing.
 *   pressure      optional boolean, only with cgroup_mount: /proc/pressure (PSI) is shown, read-only,
 *                 instead of hidden; systemd (254+) then watches memory pressure on its own
 *                 cgroups' memory.pressure files. For a node whose CRIU sets PSI triggers again
 *                 at restore (patch 0015); without it a trigger breaks every checkpoint.
 *   on_reboot     optional array: argv (absolute path first) the monitor execs after its teardown
 *                 when init was killed by SIGHUP, i.e. reboot(2) inside; signals unblocked.
 *   loadavg_file  optional: host path where the monitor keeps the container's load averages
 *                 (vzlist laverage, like OpenVZ's), only together with sysinfo_memcg (accepted
 *                 and ignored without it; must be absolute). Every 5 s (a CLOCK_MONOTONIC
 *                 timerfd; the first sample 5 s after "running") the monitor counts the tasks
 *                 (threads) of the sysinfo_memcg dir and of every cgroup below it (v1 "tasks",
 *                 v2 "cgroup.threads" files, up to 16 levels) whose state in /proc/TID/stat is
 *                 R or D, and folds that into the kernel's three exponentially damped averages
 *                 (1, 5, 15 min: FSHIFT 11, EXP_1 1884, EXP_5 2014, EXP_15 2037; missed ticks
 *                 are caught up). A sample that took long (the container shapes the tree:
 *                 thousands of sub-cgroups) defers the next one to 20 times its duration after
 *                 its start, so sampling costs the monitor at most 5% of a core. After each sample it replaces the file atomically (FILE.tmp,
 *                 rename) with "L1 L5 L15 RUNNING/TOTAL\n", e.g. "0.52 0.21 0.08 1/7\n": like
 *                 the first four fields of /proc/loadavg (two decimals, rounded like the kernel;
 *                 RUNNING the tasks in state R, TOTAL all of them). The sysinfo(2) answers carry
 *                 these averages as loads[] (SI_LOAD_SHIFT 16; 0 before the first sample)
 *                 instead of the host's. A stale file is removed when the monitor starts, the
 *                 file at teardown. A failed write is logged (once per streak) and retried at
 *                 the next sample; without a timer (logged) there is no file and sysinfo shows
 *                 the host's loads.
 *   tty_gid       number: the host gid that the container's tty group (5) maps to
 *   root_uid, root_gid   numbers: host ids of the container's root
 *   debug         bool
 *
 * RESTORE ("ctspawn restore", vzctl resume and vzmigrate --online on DEST; restore.c): the same
 *   stages and messages as a start, with the container's init coming back from a CRIU dump
 *   instead of being cloned (LXC's design: the monitor runs criu, so the restored tree's root is
 *   the monitor's own child and everything after "running" is exactly as after a start).
 *   Extra config fields: "criu" (absolute path of the binary), "criu_args" (array: what comes
 *   after "criu restore", chosen by node: -D, --root, external mounts, --empty-ns net,
 *   --action-script ...), "console_key" ("tty[RDEV:DEV]", hex, the dumped console's key).
 *   "sysinfo_memcg" (node passes it when the dump's monitor intercepted): a listener cannot be
 *   dumped, so the restored tasks' sysinfo filters come back without one (sysinfo would fail
 *   with ENOSYS). The criu that vzkit builds (criu-patches/0002) takes a unix socket in
 *   $CRIU_SECCOMP_LISTENER_FD: its restorer installs the oldest filter of each restored chain
 *   that may return SECCOMP_RET_USER_NOTIF with a listener (one per chain; every restored
 *   process has a chain of its own, CRIU cannot share one across its forks), criu sends each
 *   listener over the socket (SCM_RIGHTS, payload the host pid as an int) while every task
 *   waits for its last stage, and the restorer closes its own copy before the task runs again:
 *   no restored task holds a listener. The monitor reads the socket while criu runs (criu
 *   blocks when it is full), keeps every fd that is a seccomp listener in its table (as the
 *   exec trees' ones; one that does not fit is closed and logged: sysinfo in its tasks fails
 *   with ENOSYS) and answers them from "running" on; a notification that is not a native
 *   sysinfo (a filter of the container's own that got the listener because the monitor's is
 *   not in that chain) is answered ENOSYS, as without a listener. The uptime counts from the
 *   restored init's start (like LXCFS's /proc/uptime). No listener at all (a criu without the
 *   patch, which node checks for before: see criuRestoresListeners): a warning in the monitor
 *   log, and the container runs on (its tasks have run already, so its dump may be stale: a
 *   kill would lose it), with sysinfo failing with ENOSYS. Without "sysinfo_memcg" criu gets
 *   no socket and attaches no listener. "init"/"env" are required but not executed.
 *   1  node -> helper   config
 *      helper: console log, socket, a new console pty (slave chowned to root_uid:tty_gid, as
 *      CRIU restores the tty's owner from inside the user namespace), then forks the criu child,
 *      which waits
 *   2  helper -> node   {"t":"spawned","pid":CRIU}  the criu child's pid
 *   3  node -> helper   {"t":"go"}                  node has put CRIU into the container's
 *                                                   cgroups: the restored tasks inherit them
 *                                                   (criu runs with --manage-cgroups=ignore)
 *   4  the child execs  criu restore ARGS --restore-detached --restore-sibling --pidfile
 *      PIDFILE.criu --inherit-fd fd[SLAVE]:CONSOLE_KEY --external mnt[console]:/dev/pts/N
 *      (the new pty stands in for the dumped console, also as the /dev/console bind mount);
 *      criu's output goes to the monitor log. The monitor waits for criu to exit; EOF on fd 3 or
 *      SIGTERM/INT/HUP kill criu (which kills what it restored) and abort.
 *   5  helper -> node   {"t":"running","pid":P}     criu exited 0; P (from PIDFILE.criu) is the
 *                                                   restored init, checked to be the monitor's
 *                                                   child; the pidfile "MPID P" is written
 *   6  node -> helper   {"t":"detach"}              as after a start
 *   A failed criu: {"t":"error","stage":4,"errno":0,"msg":"criu restore failed with exit code N"}
 *   (or "killed by signal N"); the details are in the dump directory's restore.log.
 *
 * HELPER SUBCOMMANDS (argv, not the protocol):
 *   ctspawn start                      the protocol above, on fd 3
 *   ctspawn restore                    the same protocol for a CRIU restore (RESTORE above)
 *   ctspawn tcp-unrepair PID...        takes the TCP sockets of the PIDs out of repair mode
 *                                      (pidfd_getfd + TCP_REPAIR 0): vzmigrate thaws a container
 *                                      that `criu dump --leave-stopped` left stopped when the
 *                                      migration is undone. Prints the count; exit 0.
 *   ctspawn exec  [options] -- CMD...  joins the namespaces of init PID through a pidfd and runs CMD
 *   ctspawn enter [options]            the same with a pty inside the container running a shell
 *   ctspawn console SOCKET             attaches the terminal to a monitor's console; Esc then '.'
 *                                      (anywhere in the input) detaches
 *   exec/enter also join init's time namespace when it differs from theirs (a container
 *   restored by CRIU has one of its own; a task outside it would make the next dump fail).
 *   exec/enter options: --pid P (init's host pid, required), --cgroup FILE (a cgroup.procs to
 *   join first; repeatable), --env K=V (repeatable), --cwd DIR, --uid N --gid N (ids inside,
 *   default 0), --sysinfo-ctl PATH (the monitor's "<socket>.ctl": sysinfo(2) of CMD and all
 *   its descendants is answered by the monitor, see below; a PATH that does not exist or
 *   refuses the connection means no interception, silently)
 *   exec --timeout MS: after MS milliseconds the command's process group is SIGKILLed and the
 *   helper exits EXIT_TIMED_OUT (vzkit's own commands inside; never for the user's exec).
 *   exec/enter stdio (relay.c): no descriptor of the caller ever reaches the container. The
 *   command runs in a session of its own (setsid). enter: a new pty of the container (its
 *   /dev/ptmx, slave through TIOCGPTPEER) is the shell's controlling terminal and 0, 1, 2.
 *   exec: when the helper's stdin and stdout are the terminal it is in the foreground of,
 *   that pty is the command's stdin, stdout and controlling terminal, and its stderr too
 *   when the helper's is a terminal (the caller's terminal is raw meanwhile; window size and
 *   SIGWINCH follow); every other one of 0, 1, 2 is a pipe the helper made. A terminal on
 *   the helper's stdin without the pty (stdout piped or redirected, a background job) is
 *   not read: the command's stdin pipe is at EOF at once. The helper copies its 0 to the
 *   command (EOF closes the stdin pipe; on the pty it types the EOF character), and the
 *   command's pipes and pty to its own 1 and 2. When the command ends, the helper reads what is
 *   readable (at most 4 MiB) and exits: processes left behind keep only pipes or a pty
 *   whose other end is closed. Signals sent to the helper (and the terminal's, with pipes)
 *   go to the command, or to its process group when it has no pty.
 *   exec/enter exit code: the command's exit status, 128+SIGNAL when killed by a signal, and
 *   EXIT_HELPER_FAILED when the helper itself failed (message on stderr, "ctspawn: ..."), or
 *   silently when init PID no longer exists (a stop won the race; the caller tells).
 *   ctspawn sethostname --pid PID NAME  joins only the user and UTS namespaces of init PID
 *                                      and calls sethostname(2): nothing of the container
 *                                      runs. NAME: RFC 1123 labels, at most 64 bytes. Exit 0,
 *                                      or EXIT_HELPER_FAILED (silently when PID is gone).
 *
 * SYSINFO CTL SOCKET "<socket>.ctl" (only with sysinfo_memcg; created with the console socket
 *   at stage 2, mode 0600, SOCK_SEQPACKET, removed by the monitor's cleanup). One connection
 *   registers one seccomp listener; every message is one byte:
 *     monitor -> client  SICTL_READY 'R'   on accept: a listener slot is reserved for this
 *                                          connection (at most 8 connections wait at a time)
 *                        SICTL_FULL 'F'    on accept: the table is at its cap (logged once per
 *                                          streak), or cannot grow; then EOF
 *     client -> monitor  SICTL_LISTENER 'L' with the listener fd as SCM_RIGHTS
 *     monitor -> client  SICTL_ACK 'A'     the listener is polled from now on; then EOF
 *   EOF or a message without a seccomp listener fd ends the connection without 'A'. The
 *   monitor answers on the listener exactly as on init's and drops it on POLLHUP (no task
 *   uses the filter any more, i.e. every task of the tree has been reaped). A tree that leaves
 *   a process behind (a daemon started by exec) keeps its listener for as long as that process
 *   lives, so the listener table grows as needed (doubling) up to SYSINFO_LISTENERS_MAX = 4096,
 *   init's included, or fewer when the monitor's RLIMIT_NOFILE (raised to its hard limit)
 *   minus 64 is lower. Each listener kept stands for at least one unreaped task of the
 *   container or a running exec helper (a task costs the container a pid and kernel memory
 *   charged to it, far more than the listener); the listener itself costs the
 *   host about 0.6 KiB (the filter is pinned by the tasks anyway). At the cap new exec/enter
 *   commands run without interception (the helper warns on stderr, the monitor logs it) and
 *   every registered tree keeps its answers; a slot frees as soon as a tree's last task is
 *   reaped. Listeners sit in an epoll set: nothing costs per listener per event.
 *   Client side ("ctspawn exec/enter --sysinfo-ctl PATH"): connect to PATH and wait up to 5 s
 *   for 'R' while host paths still resolve, before setns; no socket (ENOENT), a stale one
 *   (ECONNREFUSED): no filter, silently; 'F', EOF or a timeout: no filter, with a warning.
 *   After setns (CAP_SYS_ADMIN in the container's user namespace, before the ids change) the
 *   helper installs the filter of init (seccomp_notify.c) on itself with
 *   SECCOMP_FILTER_FLAG_NEW_LISTENER (EBUSY when the caller already has a listener in its
 *   chain, e.g. vzctl itself runs in a container with interception: no filter, a warning),
 *   sends the listener, waits up to 10 s for 'A', and only then forks CMD, which inherits
 *   the filter; so the monitor listens before anything inside can call sysinfo, and daemons
 *   CMD leaves behind stay covered after the helper has exited. No 'A' (the monitor died or
 *   refused it): the helper cannot run anything under a filter nobody answers and exits
 *   EXIT_HELPER_FAILED with "ctspawn: cannot register sysinfo listener with the monitor: ...". The helper itself stays under the filter until it exits (it never calls sysinfo).
 *
 *   ctspawn devices CGROUP_DIR RULE...   cgroup v2 device control (devices.c): compiles RULEs
 *                                      into a BPF_PROG_TYPE_CGROUP_DEVICE program named
 *                                      "vzkit_devices", attaches it to CGROUP_DIR (a cgroup2
 *                                      directory) with BPF_F_ALLOW_MULTI and atomically replaces
 *                                      the vzkit program attached before (BPF_F_REPLACE; kernels
 *                                      < 5.6: attach, then detach the old one). Programs of other
 *                                      names are left alone. Prints nothing; exit 0.
 *   ctspawn devices --query CGROUP_DIR   one line per device program attached to the dir itself:
 *                                      "ID NAME" ("-" when unnamed)
 *   ctspawn devices --print RULE...      the policy the RULEs reduce to ("default allow|deny",
 *                                      then one exception per line) and the instruction count;
 *                                      loads nothing
 *   RULE (one argv element each): "allow|deny TYPE MAJOR:MINOR ACCESS" (TYPE b or c; MAJOR,
 *   MINOR a number up to 2^31-1 or "*"; ACCESS a non-empty subset of "rwm"), or "allow|deny a"
 *   (also "... a *:* rwm"), as written to v1's devices.allow / devices.deny. The list is
 *   evaluated like v1 would evaluate it on a cgroup whose list is "deny all" (runc's emulator):
 *   "a" resets to default allow/deny with no exceptions; a rule with the opposite action of the
 *   default adds (merges) an exception; a rule with the default's action removes access bits
 *   from the exception with exactly that type and numbers, and is refused when a wildcard
 *   exception would still cover it ("cannot punch a hole"). Default deny: an access is allowed
 *   when one exception covers all of it; default allow: denied when any exception overlaps it.
 *   Every call replaces the whole policy (v1 rules add to the current list): pass the full list.
 *   Errors: one line "ctspawn: devices: ..." on stderr (with the verifier log's tail when the
 *   kernel refuses the program; 'rule "TEXT": ...' for a bad or refused rule), exit
 *   EXIT_HELPER_FAILED. Needs CAP_SYS_ADMIN (BPF_PROG_LOAD/ATTACH/QUERY, GET_FD_BY_ID).
 */
#ifndef VZKIT_PROTOCOL_H
#define VZKIT_PROTOCOL_H

enum ctspawn_stage {
	STAGE_CONFIG = 1,
	STAGE_SPAWNED = 2,
	STAGE_CGROUP = 3,
	STAGE_SETUP = 4,
	STAGE_RUNNING = 5,
	STAGE_DETACH = 6,
	STAGE_MONITOR = 7, /* errors after detach only reach the monitor log */
};

#define CTSPAWN_CONTROL_FD 3
#define CTSPAWN_MAX_MSG 65536
#define EXIT_TIMED_OUT 124 /* like timeout(1): exec --timeout expired, the command was killed */
#define EXIT_HELPER_FAILED 125 /* like env(1)/chroot(1): the helper, not the command, failed */
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

/* The bytes of the SYSINFO CTL SOCKET exchange. */
#define SICTL_READY 'R'
#define SICTL_FULL 'F'
#define SICTL_LISTENER 'L' /* what send_fd() sends */
#define SICTL_ACK 'A'

#endif
