/* "ctspawn exec" and "ctspawn enter": join a running container through a pidfd of its init
 * and run a command (exec) or a login shell on a new pty inside the container (enter). The
 * command gets a pty of the container or pipes, never our stdio (relay.c). "ctspawn
 * sethostname": sethostname(2) in the container's UTS namespace, running nothing of it.
 *
 * After setns() this process is inside the container's mount namespace, so it must not use
 * anything that would load code or configuration from the container's filesystem (NSS,
 * locales): only plain syscalls from here on. */
#include <errno.h>
#include <stdnoreturn.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "attach.h"
#include "protocol.h"
#include "relay.h"
#include "seccomp_notify.h"
#include "harden.h"
#include "term.h"
#include "util.h"

#define JOIN_FLAGS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP)
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

struct opts {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	const char *cwd;
	const char *sysinfo_ctl; /* the monitor's "<socket>.ctl", or NULL */
	char **cap_drop;         /* capability numbers for the bounding set, as init has it */
	bool nesting;            /* the container's namespace policy, as init has it (harden.h) */
	char **ns_allow;         /* kinds allowed anyway (--ns-allow, harden_ns_mask) */
	size_t nns_allow;
	size_t ncap_drop;
	char **cgroups, **envs;
	size_t ncgroups, nenvs;
	char **cmd;
	long timeout_ms; /* exec --timeout: 0 = none */
};

static noreturn void usage(bool enter)
{
	if (enter)
		diex_(EXIT_HELPER_FAILED, "usage: ctspawn enter --pid PID [--cgroup FILE]... [--env K=V]... "
					   "[--cwd DIR] [--uid N] [--gid N] [--sysinfo-ctl PATH] [--nesting] [--ns-allow KIND]...");
	diex_(EXIT_HELPER_FAILED, "usage: ctspawn exec --pid PID [--cgroup FILE]... [--env K=V]... "
				   "[--cwd DIR] [--uid N] [--gid N] [--sysinfo-ctl PATH] [--nesting] [--ns-allow KIND]... [--timeout MS] -- CMD [ARG]...");
}

static void parse_opts(int argc, char **argv, bool enter, struct opts *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' }, { "cgroup", required_argument, NULL, 'c' },
		{ "env", required_argument, NULL, 'e' }, { "cwd", required_argument, NULL, 'd' },
		{ "uid", required_argument, NULL, 'u' }, { "gid", required_argument, NULL, 'g' },
		{ "sysinfo-ctl", required_argument, NULL, 's' }, { "cap-drop", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' }, { "nesting", no_argument, NULL, 'n' },
		{ "ns-allow", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	long long v;
	memset(o, 0, sizeof(*o));
	o->cgroups = calloc(argc, sizeof(char *));
	o->envs = calloc(argc, sizeof(char *));
	o->cap_drop = calloc(argc, sizeof(char *));
	o->ns_allow = calloc(argc, sizeof(char *));
	if (!o->cgroups || !o->envs || !o->cap_drop || !o->ns_allow)
		diex_(EXIT_HELPER_FAILED, "out of memory");
	opterr = 0;
	int c;
	/* "+": stop at the first non-option so CMD's own options are left alone. */
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_ll(optarg, 1, 0x7fffffff, &v) < 0)
				diex_(EXIT_HELPER_FAILED, "bad --pid %s", optarg);
			o->pid = v;
			break;
		case 'u':
		case 'g':
			if (parse_ll(optarg, 0, 0xfffffffeLL, &v) < 0)
				diex_(EXIT_HELPER_FAILED, "bad --%s %s", c == 'u' ? "uid" : "gid", optarg);
			if (c == 'u')
				o->uid = v;
			else
				o->gid = v;
			break;
		case 'c':
			o->cgroups[o->ncgroups++] = optarg;
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				diex_(EXIT_HELPER_FAILED, "bad --env %s (want KEY=VALUE)", optarg);
			o->envs[o->nenvs++] = optarg;
			break;
		case 'd':
			o->cwd = optarg;
			break;
		case 's':
			o->sysinfo_ctl = optarg;
			break;
		case 'k':
			o->cap_drop[o->ncap_drop++] = optarg;
			break;
		case 'n':
			o->nesting = true;
			break;
		case 'a':
			o->ns_allow[o->nns_allow++] = optarg;
			break;
		case 't':
			if (enter || parse_ll(optarg, 1, 86400000, &v) < 0)
				diex_(EXIT_HELPER_FAILED, "bad --timeout %s (milliseconds, exec only)", optarg);
			o->timeout_ms = v;
			break;
		default:
			warnx_("unknown option %s", argv[optind - 1]);
			usage(enter);
		}
	}
	if (!o->pid)
		usage(enter);
	o->cmd = argv + optind;
	if (enter ? *o->cmd != NULL : *o->cmd == NULL)
		usage(enter);
}

/* PATH, HOME, TERM, container=vzkit, then --env entries (which replace same-named ones). */
static char **build_env(const struct opts *o)
{
	char **env = calloc(o->nenvs + 5, sizeof(char *));
	if (!env)
		diex_(EXIT_HELPER_FAILED, "out of memory");
	size_t n = 0;
	env[n++] = DEFAULT_PATH;
	env[n++] = o->uid == 0 ? "HOME=/root" : "HOME=/";
	const char *term = getenv("TERM");
	if (term) {
		char *t = malloc(strlen(term) + 6);
		if (!t)
			diex_(EXIT_HELPER_FAILED, "out of memory");
		strcpy(t, "TERM=");
		strcat(t, term);
		env[n++] = t;
	}
	env[n++] = "container=vzkit";
	for (size_t i = 0; i < o->nenvs; i++) {
		size_t klen = strchr(o->envs[i], '=') - o->envs[i] + 1;
		size_t j;
		for (j = 0; j < n; j++)
			if (strncmp(env[j], o->envs[i], klen) == 0)
				break;
		env[j] = o->envs[i];
		if (j == n)
			n++;
	}
	env[n] = NULL;
	return env;
}

static int *cgroup_fds;
static size_t ncgroup_fds;
/* init's pidfd, kept until the command runs: a join step that fails because a stop raced
 * with us (init exiting, its cgroup removed) must stay silent, like a pidfd_open ESRCH. */
static int init_pidfd = -1;

/* True once init has exited within ms (a pidfd polls readable from then on, zombie or reaped). */
static bool init_exited(int ms)
{
	struct pollfd p = { .fd = init_pidfd, .events = POLLIN };
	int r;
	if (init_pidfd < 0)
		return false;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

/* How long a failed join step waits for init's exit: an init in the middle of its exit has
 * already dropped its namespaces (setns: ESRCH) and left its cgroup (which a stop then
 * removes) a moment before its pidfd says so. */
#define EXIT_WAIT_MS 2000

/* die_ for the join: silent EXIT_HELPER_FAILED when init exits meanwhile, so vzctl says
 * "container stopped" in one line of its own instead of a helper's errno. */
#define die_join(...)                                       \
	do {                                                \
		int err_ = errno;                           \
		if (init_exited(EXIT_WAIT_MS))              \
			_exit(EXIT_HELPER_FAILED);          \
		errno = err_;                               \
		die_(EXIT_HELPER_FAILED, __VA_ARGS__);      \
	} while (0)

/* fork(), with the child moved into the container's cgroups before it runs anything. */
static pid_t fork_joined(void)
{
	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0)
		die_(EXIT_HELPER_FAILED, "pipe");
	pid_t child = fork();
	if (child < 0)
		die_join("fork"); /* ENOMEM: the pid namespace died with its init */
	if (child == 0) {
		char c;
		close(sync[1]);
		/* EOF: the parent has moved us (or died, and then we are not wanted). */
		while (read(sync[0], &c, 1) < 0 && errno == EINTR)
			;
		close(sync[0]);
		return 0;
	}
	close(sync[0]);
	char buf[24];
	int len = snprintf(buf, sizeof(buf), "%d\n", child);
	for (size_t i = 0; i < ncgroup_fds; i++) {
		if (write(cgroup_fds[i], buf, len) != len) {
			int err = errno;
			kill(child, SIGKILL);
			errno = err;
			die_join("move pid %d into cgroup %zu", child, i);
		}
	}
	close(sync[1]);
	return child;
}

/* ---- sysinfo(2) interception for the process tree we start (protocol.h, SYSINFO CTL SOCKET) */

#define SICTL_READY_MS 5000
#define SICTL_ACK_MS 10000

/* One byte from fd within ms; the byte, or -1 on EOF, error or timeout (errno set). */
static int read_byte_timeout(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		errno = ETIMEDOUT;
	if (r <= 0)
		return -1;
	unsigned char c;
	ssize_t n = read_retry(fd, &c, 1);
	if (n == 1)
		return c;
	if (n == 0)
		errno = ECONNRESET; /* EOF */
	return -1;
}

/* Before setns (the path is a host path): a connection with a reserved listener slot, or -1
 * when there is to be no interception. */
static int sysinfo_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		diex_(EXIT_HELPER_FAILED, "--sysinfo-ctl: path too long: %s", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die_(EXIT_HELPER_FAILED, "socket");
	/* A unix connect() waits while the backlog is full: bounded like the answer. */
	struct timeval tv = { .tv_sec = SICTL_READY_MS / 1000 };
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		die_(EXIT_HELPER_FAILED, "setsockopt SO_SNDTIMEO");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		/* No socket: the monitor does not intercept (or predates it); a stale one: no
		 * monitor. Either way nothing would answer a filter: run without one. */
		if (errno != ENOENT && errno != ECONNREFUSED)
			warn_("sysinfo: connect %s (the command sees the host's figures)", path);
		close(fd);
		return -1;
	}
	int c = read_byte_timeout(fd, SICTL_READY_MS);
	if (c == SICTL_READY)
		return fd;
	if (c == SICTL_FULL)
		warnx_("sysinfo: the monitor has no free listener slot (the command sees the host's figures)");
	else if (c < 0)
		warn_("sysinfo: no answer on %s (the command sees the host's figures)", path);
	else
		warnx_("sysinfo: unexpected answer on %s (the command sees the host's figures)", path);
	close(fd);
	return -1;
}

/* After setns, with CAP_SYS_ADMIN in the container's user namespace: installs the filter on
 * ourselves (the command inherits it at fork) and has the monitor take the listener. Returns
 * only when the monitor listens, or when no filter was installed. */
static void sysinfo_register(int conn)
{
	int listener = seccomp_notify_install();
	if (listener < 0) {
		/* EBUSY: our caller's chain already has a listener (vzctl in a container that
		 * intercepts syscalls itself). Nothing was installed. */
		warn_("sysinfo: install the seccomp filter (the command sees the host's figures)");
		close(conn);
		return;
	}
	/* From here on a sysinfo call of ours or the command's waits for an answer: never run
	 * anything unless the monitor has the listener. */
	if (send_fd(conn, listener) < 0)
		die_join("cannot register sysinfo listener with the monitor: send");
	int c = read_byte_timeout(conn, SICTL_ACK_MS);
	if (c != SICTL_ACK) {
		if (c >= 0)
			errno = EPROTO;
		die_join("cannot register sysinfo listener with the monitor");
	}
	close(listener);
	close(conn);
}

static void join_container(const struct opts *o)
{
	int pidfd = pidfd_open(o->pid, 0);
	/* ESRCH: init ended (a stop raced with us). Silent: vzctl sees it is gone and says so. */
	if (pidfd < 0 && errno == ESRCH)
		_exit(EXIT_HELPER_FAILED);
	if (pidfd < 0)
		die_(EXIT_HELPER_FAILED, "pidfd_open %d", o->pid);
	init_pidfd = pidfd;
	/* The pidfd pins the process; signal 0 tells whether it is still running. */
	if (pidfd_send_signal(pidfd, 0, NULL, 0) < 0) {
		if (errno == ESRCH)
			_exit(EXIT_HELPER_FAILED);
		die_join("container init %d", o->pid);
	}

	/* Open the cgroups while their host paths still resolve. The command's process is moved
	 * into them after the fork (fork_joined): a migration is allowed past pids.max, a fork
	 * inside the cgroup is not, so exec still works in a container at its process limit.
	 * The kernel checks a migration against the opener's credentials, so these host-root
	 * fds keep working after setns. */
	cgroup_fds = calloc(o->ncgroups + 1, sizeof(int));
	if (!cgroup_fds)
		die_(EXIT_HELPER_FAILED, "calloc");
	for (size_t i = 0; i < o->ncgroups; i++) {
		cgroup_fds[i] = open(o->cgroups[i], O_WRONLY | O_CLOEXEC);
		if (cgroup_fds[i] < 0)
			die_join("open cgroup %s", o->cgroups[i]);
	}
	ncgroup_fds = o->ncgroups;
	int sictl = o->sysinfo_ctl ? sysinfo_connect(o->sysinfo_ctl) : -1;

	/* Nothing in the container may ptrace us or open /proc/PID/exe of this host binary. */
	if (prctl(PR_SET_DUMPABLE, 0) < 0)
		die_(EXIT_HELPER_FAILED, "prctl PR_SET_DUMPABLE");
	/* A container restored by CRIU runs in a time namespace of its own (CRIU keeps its
	 * monotonic clocks going on): join it too, or the next dump finds a task outside it
	 * ("Can't restore sub-task in NS"). Only when it differs from ours. */
	int flags = JOIN_FLAGS;
	char tpath[64], a[64] = "", b[64] = "";
	snprintf(tpath, sizeof(tpath), "/proc/%d/ns/time", o->pid);
	if (readlink(tpath, a, sizeof(a) - 1) > 0 && readlink("/proc/self/ns/time", b, sizeof(b) - 1) > 0 &&
	    strcmp(a, b) != 0)
		flags |= CLONE_NEWTIME;
	/* One call: the kernel orders the joins (user namespace first) and does all or none. */
	if (setns(pidfd, flags) < 0)
		die_join("setns into the namespaces of %d", o->pid);
	/* Before the ids change: seccomp wants CAP_SYS_ADMIN (which setns gave us in the
	 * container's user namespace) or no_new_privs, which would break setuid programs. */
	if (sictl >= 0)
		sysinfo_register(sictl);
	/* The same policy as init's (harden.h): a process that joins from the host must not be
	 * a way around it. */
	unsigned long allow = 0;
	const char *badns = NULL;
	if (harden_ns_mask(o->ns_allow, &allow, &badns) < 0)
		diex_(EXIT_HELPER_FAILED, "unknown namespace kind --ns-allow %s", badns);
	if (harden_seccomp(o->nesting, allow) < 0)
		die_(EXIT_HELPER_FAILED, "seccomp: install the deny filter");
	const char *bad = NULL;
	if (harden_caps(o->cap_drop, &bad) < 0)
		die_(EXIT_HELPER_FAILED, "drop capability %s from the bounding set", bad ? bad : "?");
	if (setresgid(o->gid, o->gid, o->gid) < 0)
		die_(EXIT_HELPER_FAILED, "setresgid %u", o->gid);
	if (setgroups(0, NULL) < 0)
		die_(EXIT_HELPER_FAILED, "setgroups");
	if (setresuid(o->uid, o->uid, o->uid) < 0)
		die_(EXIT_HELPER_FAILED, "setresuid %u", o->uid);
	const char *cwd = o->cwd ? o->cwd : "/";
	if (chdir(cwd) < 0)
		die_join("chdir %s", cwd);
}

static noreturn void exec_cmd(char **cmd, char **env)
{
	/* execvp searches the PATH of environ, so make the clean env the current one. */
	environ = env;
	execvp(cmd[0], cmd);
	int err = errno;
	fprintf(stderr, "ctspawn: exec %s: %s\n", cmd[0], strerror(err));
	_exit(err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
}

static void unblock_all(void)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static int open_container_pty(int *slave)
{
	/* /dev/ptmx is the container's own (-> pts/ptmx of its devpts); O_NONBLOCK so a FIFO
	 * planted there cannot hang us, TIOCGPTN proves it is really a pty master. */
	int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (m < 0)
		die_(EXIT_HELPER_FAILED, "open /dev/ptmx in the container");
	unsigned ptn;
	if (ioctl(m, TIOCGPTN, &ptn) < 0)
		die_(EXIT_HELPER_FAILED, "/dev/ptmx in the container is not a pty multiplexer");
	int unlock = 0;
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
		die_(EXIT_HELPER_FAILED, "unlock pty");
	/* TIOCGPTPEER opens the slave without a path lookup in the container's /dev/pts. */
	*slave = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0)
		die_(EXIT_HELPER_FAILED, "open pty slave");
	return m;
}

/* A pipe whose `ours` end (0 read, 1 write) stays with us, non-blocking; the other end is the
 * command's. Both close on exec until the child dup2()s its end onto 0, 1 or 2. */
static int make_pipe(int ours, int *theirs)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		die_(EXIT_HELPER_FAILED, "pipe");
	if (set_nonblock(p[ours], 1) < 0)
		die_(EXIT_HELPER_FAILED, "fcntl O_NONBLOCK");
	*theirs = p[!ours];
	return p[ours];
}

/* The command's stdio (child[0..2]) and our ends of it (r). No descriptor of the caller is
 * ever the command's: what stands for the caller's terminal is the slave of a new pty of the
 * container (as with lxc-attach and `enter`), everything else is a pipe we relay.
 * enter: the pty for all three.
 * exec: the pty for stdin and stdout when both are the terminal we are in the foreground of
 * (an interactive command; stderr too when it is a terminal). A terminal on stdin otherwise
 * (output piped into a pager, redirected, or a background job) is not read at all: the
 * command's stdin is at EOF, as with `ssh -n`, so we never take keystrokes meant for the
 * shell or the pager, nor change the terminal's mode under them. Anything else: pipes. */
static void plan_stdio(bool enter, struct relay *r, int child[3], int *slave)
{
	*slave = -1;
	r->master = r->in = r->out = r->err = -1;
	r->master_out = STDOUT_FILENO;
	bool term_in = isatty(STDIN_FILENO);
	bool pty = enter || (term_in && isatty(STDOUT_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp());
	if (pty) {
		r->master = open_container_pty(slave);
		term_copy_winsize(STDIN_FILENO, r->master);
	}
	child[0] = pty ? *slave : -1;
	child[1] = pty ? *slave : -1;
	child[2] = pty && (enter || isatty(STDERR_FILENO)) ? *slave : -1;
	if (child[0] < 0) {
		r->in = make_pipe(1, &child[0]);
		if (term_in) {
			close(r->in);
			r->in = -1;
		}
	}
	if (child[1] < 0)
		r->out = make_pipe(0, &child[1]);
	if (child[2] < 0)
		r->err = make_pipe(0, &child[2]);
	r->to_group = !pty;
}

/* In the forked child: its own session (with the pty as controlling terminal when it has one),
 * child[] on 0, 1 and 2, and no other descriptor. */
static void child_stdio(const int child[3], int slave)
{
	unblock_all();
	if (setsid() < 0 || (slave >= 0 && ioctl(slave, TIOCSCTTY, 0) < 0)) {
		fprintf(stderr, "ctspawn: a session of its own for the command: %s\n", strerror(errno));
		_exit(EXIT_HELPER_FAILED);
	}
	/* Our fds 0-2 are taken (ensure_stdio), so child[] are all >= 3: no dup2 clobbers one. */
	for (int i = 0; i < 3; i++)
		if (dup2(child[i], i) < 0)
			_exit(EXIT_HELPER_FAILED);
	if (close_range(3, ~0U, 0) < 0)
		_exit(EXIT_HELPER_FAILED);
}

static int run_cmd(const struct opts *o, char **env, bool enter)
{
	struct relay r;
	int child_fds[3], slave;
	plan_stdio(enter, &r, child_fds, &slave);
	r.timeout_ms = o->timeout_ms;
	sigset_t set;
	relay_signals(&set);
	int sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0)
		die_(EXIT_HELPER_FAILED, "signalfd");
	pid_t child = fork_joined();
	if (child == 0) {
		child_stdio(child_fds, slave);
		if (!enter)
			exec_cmd(o->cmd, env);
		static char *bash[] = { "/bin/bash", "-l", NULL };
		static char *sh[] = { "/bin/sh", "-l", NULL };
		exec_cmd(access("/bin/bash", X_OK) == 0 ? bash : sh, env);
	}
	for (int i = 0; i < 3; i++)
		if (child_fds[i] != slave)
			close(child_fds[i]);
	if (slave >= 0)
		close(slave);
	r.tty = r.master >= 0 && term_raw(STDIN_FILENO);
	return relay_run(&r, child, sigfd);
}

int cmd_attach(int argc, char **argv, bool enter)
{
	struct opts o;
	/* A descriptor leaked to us by the caller would reach into the container (a host
	 * directory fd is an escape): keep only stdio. */
	if (close_range(3, ~0U, 0) < 0)
		die_(EXIT_HELPER_FAILED, "close_range");
	parse_opts(argc, argv, enter, &o);
	join_container(&o);
	char **env = build_env(&o);
	return run_cmd(&o, env, enter);
}

/* ---- sethostname ---- */

/* RFC 1123 labels as vzkit's parameter table has them, within the kernel's 64 bytes. */
static bool valid_hostname(const char *s)
{
	size_t len = strlen(s), label = 0;
	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-') {
			if (label == 0 && c == '-')
				return false;
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

int cmd_sethostname(int argc, char **argv)
{
	if (close_range(3, ~0U, 0) < 0)
		die_(EXIT_HELPER_FAILED, "close_range");
	long long pid;
	if (argc != 4 || strcmp(argv[1], "--pid") != 0)
		diex_(EXIT_HELPER_FAILED, "usage: ctspawn sethostname --pid PID NAME");
	if (parse_ll(argv[2], 1, 0x7fffffff, &pid) < 0)
		diex_(EXIT_HELPER_FAILED, "bad --pid %s", argv[2]);
	const char *name = argv[3];
	if (!valid_hostname(name))
		diex_(EXIT_HELPER_FAILED, "invalid hostname (letters, digits, '-' and '.', at most 64)");
	int pidfd = pidfd_open(pid, 0);
	if (pidfd < 0 && errno == ESRCH)
		_exit(EXIT_HELPER_FAILED); /* init ended: the caller tells */
	if (pidfd < 0)
		die_(EXIT_HELPER_FAILED, "pidfd_open %lld", pid);
	if (prctl(PR_SET_DUMPABLE, 0) < 0)
		die_(EXIT_HELPER_FAILED, "prctl PR_SET_DUMPABLE");
	/* Only the user namespace (for CAP_SYS_ADMIN over the UTS namespace it owns) and the UTS
	 * namespace: nothing of the container runs, and nothing in it can see this process. */
	if (setns(pidfd, CLONE_NEWUSER | CLONE_NEWUTS) < 0) {
		if (errno == ESRCH)
			_exit(EXIT_HELPER_FAILED);
		die_(EXIT_HELPER_FAILED, "setns into the UTS namespace of %lld", pid);
	}
	if (sethostname(name, strlen(name)) < 0)
		die_(EXIT_HELPER_FAILED, "sethostname %s", name);
	return 0;
}
