/* "ctspawn restore": like "start", but init and its tree come back from a CRIU dump instead
 * of being cloned. The monitor forks criu itself with --restore-sibling, so the restored root
 * task is the monitor's own child (CLONE_PARENT): the monitor reaps it, holds its console and
 * runs the same teardown as after a start (LXC's design: its monitor runs criu restore).
 * The steps and what node does between them are in protocol.h, RESTORE. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctspawn.h"
#include "protocol.h"
#include "seccomp_notify.h"
#include "util.h"

#define CRIU_MAX_ARGS 512

/* The criu child: waits for "go" (node has put it into the container's cgroups, which the
 * restored tasks then inherit: --manage-cgroups=ignore), then execs criu. */
static noreturn void criu_child(struct start_ctx *ctx, const char *pidfile)
{
	const struct config *c = &ctx->cfg;
	close(ctx->go_w);
	char b;
	if (read_retry(ctx->go_r, &b, 1) != 1)
		_exit(1);
	static char *argv[CRIU_MAX_ARGS];
	static char inherit[160], console[160];
	int n = 0;
	argv[n++] = (char *)c->criu;
	argv[n++] = "restore";
	for (char **a = c->criu_args; *a && n < CRIU_MAX_ARGS - 12; a++)
		argv[n++] = *a;
	argv[n++] = "--restore-detached";
	argv[n++] = "--restore-sibling";
	argv[n++] = "--pidfile";
	argv[n++] = (char *)pidfile;
	/* The console: the new pty slave stands in for the dumped one (an external tty), and is
	 * bind-mounted on /dev/console where the dump had the old one (external mount "console"). */
	snprintf(inherit, sizeof(inherit), "fd[%d]:%s", ctx->slave, c->console_key);
	argv[n++] = "--inherit-fd";
	argv[n++] = inherit;
	snprintf(console, sizeof(console), "mnt[console]:%s", ctx->pts_path);
	argv[n++] = "--external";
	argv[n++] = console;
	argv[n] = NULL;
	/* The slave must survive execve; everything else of the monitor's is O_CLOEXEC. */
	if (fcntl(ctx->slave, F_SETFD, 0) < 0)
		_exit(1);
	/* sysinfo interception: the patched criu (criu-patches/0002) gives each restored USER_NOTIF
	 * filter its listener back and sends it over this socket; the restored tasks keep none. */
	if (ctx->ntf_c >= 0) {
		char num[16];
		snprintf(num, sizeof(num), "%d", ctx->ntf_c);
		if (fcntl(ctx->ntf_c, F_SETFD, 0) < 0 || setenv("CRIU_SECCOMP_LISTENER_FD", num, 1) < 0)
			_exit(1);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* criu's own output goes to the monitor log (stderr); stdout too. */
	dup2(2, 1);
	execv(c->criu, argv);
	warn_("exec %s", c->criu);
	_exit(127);
}

/* Takes the listeners criu has sent so far into the monitor's table (answered from
 * "running" on, like init's after a start; the tasks' sysinfo calls wait until then). criu
 * writes to the socket while it restores: it blocks when the queue is full, so this runs
 * whenever the socket is readable. One that does not fit is closed: sysinfo in its tasks
 * fails with ENOSYS (logged). Returns false once criu's end is closed (nothing more comes). */
static bool take_listeners(struct start_ctx *ctx)
{
	for (;;) {
		pid_t pid = 0;
		int fd = recv_fd_data(ctx->ntf_m, &pid, sizeof(pid));
		if (fd < 0) {
			if (errno == EAGAIN)
				return true;
			if (errno == ECONNRESET)
				return false;
			warn_("sysinfo: receive a listener from criu");
			if (errno == EPROTO)
				continue; /* that message is consumed */
			return false;
		}
		if (!is_seccomp_listener(fd)) {
			warnx_("sysinfo: criu sent an fd that is not a seccomp listener (pid %d)", pid);
			close(fd);
			continue;
		}
		int slot = sysinfo_virt_add(&ctx->sv, fd);
		if (slot < 0) {
			warn_("sysinfo: no room for the listener of restored pid %d (its sysinfo fails with ENOSYS)", pid);
			close(fd);
			continue;
		}
		debug_log(ctx, "sysinfo: listener of restored pid %d in slot %d", pid, slot);
	}
}

/* Waits for the criu child to end; aborts on EOF of the control channel or a terminating
 * signal (criu is killed: it then kills what it restored so far). Returns its wait status. */
static int wait_criu(struct start_ctx *ctx, pid_t criu)
{
	bool ntf_open = ctx->ntf_m >= 0;
	for (;;) {
		struct pollfd p[3] = { { .fd = ctx->sigfd, .events = POLLIN },
				       { .fd = ctx->ctl.fd, .events = POLLIN },
				       { .fd = ntf_open ? ctx->ntf_m : -1, .events = POLLIN } }; /* -1: ignored */
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail(ctx, STAGE_SETUP, "poll");
		}
		if (p[1].revents) {
			int r = ctl_fill(&ctx->ctl);
			if ((r == 0 || ctx->ctl.eof) || (r < 0 && errno != EAGAIN)) {
				kill(criu, SIGKILL);
				waitpid(criu, NULL, 0);
				start_abort(ctx, STAGE_SETUP, 0, NULL);
			}
		}
		if (p[2].revents && !take_listeners(ctx))
			ntf_open = false; /* criu closed its end: no POLLHUP spin until it is reaped */
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read_retry(ctx->sigfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGHUP) {
				kill(criu, SIGKILL);
				waitpid(criu, NULL, 0);
				start_abort(ctx, STAGE_SETUP, EINTR, "restore interrupted by a signal");
			}
			int st;
			if (si.ssi_signo == SIGCHLD && waitpid(criu, &st, WNOHANG) == criu)
				return st;
		}
	}
}

/* The root task's pid from criu's pidfile; kills and reaps it when something is wrong. */
static pid_t read_root_pid(struct start_ctx *ctx, const char *pidfile)
{
	char buf[32] = { 0 };
	int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read_retry(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	unlink(pidfile);
	long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
	if (pid <= 0)
		fail(ctx, STAGE_SETUP, "read criu's pidfile %s", pidfile);
	/* --restore-sibling: it must be our child, or nobody would reap it. */
	char path[64], stat[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read_retry(fd, stat, sizeof(stat) - 1) : -1;
	if (fd >= 0)
		close(fd);
	char *rp = n > 0 ? (stat[n] = 0, strrchr(stat, ')')) : NULL;
	long ppid = -1;
	if (rp)
		sscanf(rp + 2, "%*c %ld", &ppid);
	if (ppid != getpid()) {
		errno = 0;
		kill(pid, SIGKILL);
		fail(ctx, STAGE_SETUP, "restored init %ld is not the monitor's child (parent %ld)", pid, ppid);
	}
	return pid;
}

int cmd_restore(void)
{
	static struct start_ctx ctx;
	start_ctx_init(&ctx);

	read_config(&ctx);
	const struct config *c = &ctx.cfg;
	if (!c->criu || c->criu[0] != '/' || !c->console_key) {
		errno = 0;
		fail(&ctx, STAGE_CONFIG, "config: restore needs \"criu\" (absolute) and \"console_key\"");
	}
	open_monitor_files(&ctx);
	open_console(&ctx);
	if (c->sysinfo_memcg) {
		/* Only with interception: without it criu attaches no listener (upstream behaviour). */
		int sp[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
			fail(&ctx, STAGE_SPAWNED, "socketpair");
		ctx.ntf_m = sp[0];
		ctx.ntf_c = sp[1];
		if (fcntl(ctx.ntf_m, F_SETFL, O_NONBLOCK) < 0)
			fail(&ctx, STAGE_SPAWNED, "fcntl O_NONBLOCK");
		/* One listener per restored process (a filter cannot be shared across a fork that
		 * CRIU does): room for them before they come. */
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	char pidfile[4096];
	snprintf(pidfile, sizeof(pidfile), "%s.criu", c->pidfile);
	unlink(pidfile);
	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		fail(&ctx, STAGE_SPAWNED, "pipe");
	ctx.go_r = go[0];
	ctx.go_w = go[1];
	pid_t criu = fork();
	if (criu < 0)
		fail(&ctx, STAGE_SPAWNED, "fork");
	if (criu == 0)
		criu_child(&ctx, pidfile);
	close(ctx.go_r);
	ctx.go_r = -1;
	if (ctx.ntf_c >= 0) {
		close(ctx.ntf_c);
		ctx.ntf_c = -1;
	}
	debug_log(&ctx, "criu %d waits for go", criu);
	/* Stage 2 names criu's pid: node joins it to the cgroups (stage 3), then "go". */
	ctl_send_pid(&ctx.ctl, "spawned", criu);
	expect_msg(&ctx, STAGE_CGROUP, "go");
	if (write_all(ctx.go_w, "g", 1) < 0)
		fail(&ctx, STAGE_CGROUP, "release criu");
	close(ctx.go_w);
	ctx.go_w = -1;

	int st = wait_criu(&ctx, criu);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		unlink(pidfile);
		errno = 0;
		char msg[128];
		if (WIFSIGNALED(st))
			snprintf(msg, sizeof(msg), "criu restore killed by signal %d", WTERMSIG(st));
		else
			snprintf(msg, sizeof(msg), "criu restore failed with exit code %d", WEXITSTATUS(st));
		/* criu kills what it restored on failure; reap any sibling it left to us. */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		start_abort(&ctx, STAGE_SETUP, 0, msg);
	}
	ctx.init_pid = read_root_pid(&ctx, pidfile);
	debug_log(&ctx, "criu restored init %d", ctx.init_pid);
	if (ctx.ntf_m >= 0) {
		take_listeners(&ctx); /* what came after the last poll */
		close(ctx.ntf_m);
		ctx.ntf_m = -1;
		/* node asks for interception only for a dump whose init had the filter, and checks the
		 * criu binary first: none back means a criu without the patch after all. The tasks have
		 * run by now (their files may have changed since the dump), so killing them would lose
		 * the container: it runs on, with sysinfo failing (ENOSYS), and says so. */
		if (ctx.sv.nlisteners == 0)
			warnx_("sysinfo: criu gave back no seccomp listener of the restored filters (a criu "
			       "without vzkit's criu-patches/0002?): sysinfo(2) fails with ENOSYS in the container "
			       "until it is restarted");
		/* The uptime counts from the restored init's start, like LXCFS's /proc/uptime. */
		sysinfo_virt_start(&ctx.sv, ctx.init_pid);
		debug_log(&ctx, "intercepting sysinfo: %d listener(s) of restored tasks, memory cgroup v%d %s",
			  ctx.sv.nlisteners, c->sysinfo_cgver, c->sysinfo_memcg);
	}
	write_pidfile(&ctx);
	ctl_send_pid(&ctx.ctl, "running", ctx.init_pid);
	monitor_run(&ctx);
}
