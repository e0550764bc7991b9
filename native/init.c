/* The init process C between clone and execve: waits for "go", becomes root of its user
 * namespace, sets up the root filesystem and console, and executes the container's init.
 * Failures travel to M as a fixed-size record on the err pipe. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctspawn.h"
#include "harden.h"
#include "protocol.h"
#include "seccomp_notify.h"
#include "util.h"

static int g_errfd = -1;
static int g_stage = STAGE_SETUP;

noreturn void child_fail(int err, const char *fmt, ...)
{
	struct child_err rec;
	memset(&rec, 0, sizeof(rec));
	rec.stage = g_stage;
	rec.err = err;
	va_list ap;
	va_start(ap, fmt);
	/* Operation and path only: the errno travels in its own field. */
	vsnprintf(rec.msg, sizeof(rec.msg), fmt, ap);
	va_end(ap);
	/* Below PIPE_BUF, so the record arrives in one piece or not at all. */
	if (g_errfd >= 0)
		(void)!write(g_errfd, &rec, sizeof(rec));
	_exit(1);
}

static void set_ids(void)
{
	/* Ids 0 inside the new user namespace (the maps are written by M by now). */
	if (setresgid(0, 0, 0) < 0)
		child_fail(errno, "setresgid 0");
	if (setgroups(0, NULL) < 0)
		child_fail(errno, "setgroups");
	if (setresuid(0, 0, 0) < 0)
		child_fail(errno, "setresuid 0");
	/* Credential changes clear the parent-death signal, so set it only now. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(errno, "prctl PR_SET_PDEATHSIG");
	/* getppid() is 0 here (M lives outside our pid namespace), so it cannot tell whether M
	 * died before the line above. The err pipe can: M holds its read end until exec, and
	 * a pipe whose readers are gone polls as POLLERR. */
	struct pollfd p = { .fd = g_errfd, .events = POLLOUT };
	if (poll(&p, 1, 0) < 0)
		child_fail(errno, "poll err pipe");
	if (p.revents & POLLERR)
		_exit(1);
}

static void set_hostname(const char *name)
{
	if (name && sethostname(name, strlen(name)) < 0)
		child_fail(errno, "sethostname %s", name);
}

static void loopback_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		child_fail(errno, "socket for lo");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		child_fail(errno, "get flags of lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		child_fail(errno, "bring up lo");
	close(s);
}

static void attach_console(void)
{
	/* init must be a session leader with the console as its controlling tty (getty-less
	 * inits and CRIU expect that). */
	if (setsid() < 0)
		child_fail(errno, "setsid");
	int fd = open("/dev/console", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		child_fail(errno, "open /dev/console");
	for (int i = 0; i < 3; i++)
		if (dup2(fd, i) < 0)
			child_fail(errno, "dup2 /dev/console to %d", i);
	if (fd > 2)
		close(fd);
	if (ioctl(0, TIOCSCTTY, 0) < 0)
		child_fail(errno, "TIOCSCTTY on /dev/console");
}

static void reset_signals(void)
{
	/* M blocked its signals and node may have left some ignored; init starts clean. */
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* fails harmlessly for SIGKILL/SIGSTOP and glibc-reserved ones */
	sigset_t all;
	sigemptyset(&all);
	if (sigprocmask(SIG_SETMASK, &all, NULL) < 0)
		child_fail(errno, "sigprocmask");
}

/* Last of the setup, so that nothing of it runs through the filter: from here on sysinfo(2)
 * in init and every descendant waits for M's answer. No no_new_privs: root of the new user
 * namespace has CAP_SYS_ADMIN there, which is what seccomp asks for instead, and setuid
 * programs in the container keep working. */
static void intercept_sysinfo(struct start_ctx *ctx)
{
	int listener = seccomp_notify_install();
	if (listener < 0)
		child_fail(errno, "seccomp: install the sysinfo notification filter");
	if (send_fd(ctx->ntf_c, listener) < 0)
		child_fail(errno, "seccomp: pass the listener to the monitor");
	close(listener);
	close(ctx->ntf_c);
	ctx->ntf_c = -1;
}

static void close_fds(void)
{
	/* Everything except 0-2 and the err pipe (which is O_CLOEXEC and closes on execve). */
	if (g_errfd > 3 && close_range(3, g_errfd - 1, 0) < 0)
		child_fail(errno, "close_range");
	if (close_range(g_errfd + 1, ~0U, 0) < 0)
		child_fail(errno, "close_range");
}

noreturn void init_main(struct start_ctx *ctx)
{
	const struct config *cfg = &ctx->cfg;
	g_errfd = ctx->err_w;
	/* Our copies of M's ends: without closing go_w we would never see EOF if M dies. */
	close(ctx->go_w);
	close(ctx->err_r);
	if (ctx->ntf_m >= 0)
		close(ctx->ntf_m);

	char b;
	ssize_t n = read_retry(ctx->go_r, &b, 1);
	if (n != 1)
		_exit(1); /* M gave up (EOF) before releasing us: nothing to report to */
	close(ctx->go_r);

	/* Before anything else: a container process must never ptrace us or open
	 * /proc/PID/exe of this host binary. */
	if (prctl(PR_SET_DUMPABLE, 0) < 0)
		child_fail(errno, "prctl PR_SET_DUMPABLE");
	set_ids();
	/* Rooted at the container's cgroup, which node has just moved us into. */
	if (unshare(CLONE_NEWCGROUP) < 0)
		child_fail(errno, "unshare cgroup namespace");
	rootfs_setup(cfg, ctx->pts_path, ctx->slave);
	set_hostname(cfg->hostname);
	loopback_up();
	attach_console();
	reset_signals();
	if (cfg->sysinfo_memcg)
		intercept_sysinfo(ctx);
	/* The policy (harden.h) last, so none of our own setup runs through it. */
	unsigned long allow = 0;
	const char *badns = NULL;
	if (harden_ns_mask(cfg->ns_allow, &allow, &badns) < 0)
		child_fail(EINVAL, "seccomp: unknown namespace kind in ns_allow");
	if (harden_seccomp(cfg->nesting, allow) < 0)
		child_fail(errno, "seccomp: install the deny filter");
	const char *bad = NULL;
	if (harden_caps(cfg->cap_drop, &bad) < 0)
		child_fail(errno, "drop capability %s from the bounding set", bad ? bad : "?");
	close_fds();
	g_stage = STAGE_RUNNING; /* setup is done; what fails now is the container's init itself */
	execve(cfg->init[0], cfg->init, cfg->env);
	child_fail(errno, "execve %s", cfg->init[0]);
}
