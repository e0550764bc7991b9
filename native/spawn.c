/* "ctspawn start": the helper M. Reads the config, creates the console and the init process C
 * in its new namespaces, walks the handshake on fd 3 and then turns into the monitor. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "ctspawn.h"
#include "protocol.h"
#include "seccomp_notify.h"
#include "util.h"

#define CLONE_FLAGS (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)

void debug_log(struct start_ctx *ctx, const char *fmt, ...)
{
	if (!ctx->cfg.debug)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx->ctl.fd >= 0)
		ctl_send_log(&ctx->ctl, msg);
	else
		warnx_("%s", msg);
}

noreturn void start_abort(struct start_ctx *ctx, int stage, int err, const char *msg)
{
	if (msg) {
		ctl_send_error(&ctx->ctl, stage, err, msg);
		/* Also into the monitor log, which is where an operator looks later. */
		warnx_("start failed at stage %d: %s%s%s", stage, msg, err ? ": " : "", err ? strerror(err) : "");
	} else {
		warnx_("control channel closed at stage %d: aborting the start", stage);
	}
	if (ctx->init_pid > 0) {
		kill(ctx->init_pid, SIGKILL);
		/* Blocks until the whole pid namespace is gone, so rmdir below can succeed. */
		while (waitpid(ctx->init_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (ctx->have_cfg)
		teardown(ctx);
	exit(1);
}

/* Formats the operation (errno goes in its own field) and aborts. */
noreturn void fail(struct start_ctx *ctx, int stage, const char *fmt, ...)
{
	int err = errno;
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	start_abort(ctx, stage, err, msg);
}


/* Waits for a complete control line or for extra_fd to become readable. EOF on fd 3, a
 * read error or a terminating signal abort the start; so does C dying before stage 4. */
enum wait_result wait_ctl(struct start_ctx *ctx, int stage, int extra_fd, char **line, size_t *len)
{
	for (;;) {
		if ((*line = ctl_take_line(&ctx->ctl, len)))
			return GOT_LINE;
		if (ctx->ctl.eof)
			start_abort(ctx, stage, 0, NULL);
		struct pollfd p[3] = {
			{ .fd = ctx->ctl.fd, .events = POLLIN },
			{ .fd = ctx->sigfd, .events = POLLIN },
			{ .fd = extra_fd, .events = POLLIN },
		};
		if (poll(p, extra_fd >= 0 ? 3 : 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail(ctx, stage, "poll");
		}
		/* The err pipe first: it carries the precise failure when C dies during setup. */
		if (extra_fd >= 0 && p[2].revents)
			return EXTRA_READY;
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read_retry(ctx->sigfd, &si, sizeof(si)) == sizeof(si)) {
				int sig = si.ssi_signo;
				if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
					char msg[64];
					snprintf(msg, sizeof(msg), "start interrupted by SIG%s", sigabbrev_np(sig) ?: "?");
					start_abort(ctx, stage, EINTR, msg);
				}
				if (sig == SIGCHLD && ctx->init_pid > 0 && stage < STAGE_SETUP) {
					int st;
					if (waitpid(ctx->init_pid, &st, WNOHANG) == ctx->init_pid) {
						ctx->init_pid = 0;
						start_abort(ctx, stage, ECHILD, "init exited before setup");
					}
				}
			}
		}
		if (p[0].revents) {
			int r = ctl_fill(&ctx->ctl);
			if (r < 0)
				fail(ctx, stage, "read control message");
		}
	}
}

/* Reads the next message and insists on type `want`; returns the parsed object. */
void expect_msg(struct start_ctx *ctx, int stage, const char *want)
{
	char *line;
	size_t len;
	struct jobj o;
	char err[200];
	wait_ctl(ctx, stage, -1, &line, &len);
	if (json_parse(line, len, &o, err, sizeof(err)) < 0) {
		free(line);
		start_abort(ctx, stage, EINVAL, err);
	}
	free(line);
	const char *t = ctl_msg_type(&o);
	if (!t || strcmp(t, want) != 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "expected a \"%s\" message, got \"%.64s\"", want, t ? t : "?");
		json_free(&o);
		start_abort(ctx, stage, EPROTO, msg);
	}
	json_free(&o);
}

void read_config(struct start_ctx *ctx)
{
	char *line;
	size_t len;
	char err[256];
	wait_ctl(ctx, STAGE_CONFIG, -1, &line, &len);
	int r = config_parse(line, len, &ctx->cfg, err, sizeof(err));
	free(line);
	if (r < 0)
		start_abort(ctx, STAGE_CONFIG, EINVAL, err);
	ctx->have_cfg = true;
}

void open_console(struct start_ctx *ctx)
{
	const struct config *c = &ctx->cfg;
	ctx->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (ctx->master < 0)
		fail(ctx, STAGE_SPAWNED, "open /dev/ptmx");
	if (grantpt(ctx->master) < 0 || unlockpt(ctx->master) < 0)
		fail(ctx, STAGE_SPAWNED, "unlock console pty");
	if (ptsname_r(ctx->master, ctx->pts_path, sizeof(ctx->pts_path)) != 0)
		fail(ctx, STAGE_SPAWNED, "ptsname of console pty");
	ctx->slave = open(ctx->pts_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (ctx->slave < 0)
		fail(ctx, STAGE_SPAWNED, "open %s", ctx->pts_path);
	/* The container's root owns its console, group tty, like a login tty. */
	if (fchown(ctx->slave, c->root_uid, c->tty_gid) < 0)
		fail(ctx, STAGE_SPAWNED, "chown %s", ctx->pts_path);
	if (fchmod(ctx->slave, 0620) < 0)
		fail(ctx, STAGE_SPAWNED, "chmod %s", ctx->pts_path);
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	if (ioctl(ctx->master, TIOCSWINSZ, &ws) < 0)
		fail(ctx, STAGE_SPAWNED, "set console window size");
	if (set_nonblock(ctx->master, 1) < 0)
		fail(ctx, STAGE_SPAWNED, "set console non-blocking");
}

/* A listening unix socket at path, mode 0600, replacing a stale one; *own is set once it is
 * ours to remove. */
static int listen_unix(struct start_ctx *ctx, const char *path, int type, int backlog, bool *own)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		fail(ctx, STAGE_SPAWNED, "socket %s", path);
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fail(ctx, STAGE_SPAWNED, "socket");
	if (unlink(path) < 0 && errno != ENOENT)
		fail(ctx, STAGE_SPAWNED, "unlink stale %s", path);
	/* umask rather than chmod after bind: no window in which the socket is group/world
	 * accessible. */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		fail(ctx, STAGE_SPAWNED, "bind %s", path);
	*own = true;
	if (listen(fd, backlog) < 0)
		fail(ctx, STAGE_SPAWNED, "listen %s", path);
	return fd;
}

/* The console log and the socket are created before init exists, so a bad path fails
 * the start instead of leaving a container without a console. */
void open_monitor_files(struct start_ctx *ctx)
{
	const struct config *c = &ctx->cfg;
	ctx->log_fd = open(c->console_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0640);
	if (ctx->log_fd < 0)
		fail(ctx, STAGE_SPAWNED, "open %s", c->console_log);

	ctx->listen_fd = listen_unix(ctx, c->socket, SOCK_STREAM, 4, &ctx->own_socket);

	if (c->sysinfo_memcg) {
		ctx->sv.cgver = c->sysinfo_cgver;
		ctx->sv.memcg = open(c->sysinfo_memcg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (ctx->sv.memcg < 0)
			fail(ctx, STAGE_SPAWNED, "open sysinfo_memcg %s", c->sysinfo_memcg);
		/* Fails here rather than in every call later: a wrong version or a dir without the
		 * memory controller. */
		struct sysinfo si;
		errno = 0;
		if (sysinfo_virt_fill(&ctx->sv, &si) < 0) {
			if (!errno)
				errno = EINVAL;
			fail(ctx, STAGE_SPAWNED, "read the memory cgroup v%d files in %s", c->sysinfo_cgver,
			     c->sysinfo_memcg);
		}
		if (notify_init() < 0)
			fail(ctx, STAGE_SPAWNED, "seccomp: SECCOMP_GET_NOTIF_SIZES");
		/* Where "ctspawn exec/enter --sysinfo-ctl" registers the listeners of the process
		 * trees it starts (protocol.h). Only with interception: its absence tells exec to
		 * install no filter. */
		if ((size_t)snprintf(ctx->sictl_path, sizeof(ctx->sictl_path), "%s.ctl", c->socket) >=
		    sizeof(ctx->sictl_path)) {
			errno = ENAMETOOLONG;
			fail(ctx, STAGE_SPAWNED, "socket %s.ctl", c->socket);
		}
		ctx->sictl_fd = listen_unix(ctx, ctx->sictl_path, SOCK_SEQPACKET, 16, &ctx->own_sictl);
	}
}

static void write_maps(struct start_ctx *ctx)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/uid_map", ctx->init_pid);
	if (write_file(path, ctx->cfg.uid_map, strlen(ctx->cfg.uid_map)) < 0)
		fail(ctx, STAGE_SPAWNED, "write %s", path);
	snprintf(path, sizeof(path), "/proc/%d/gid_map", ctx->init_pid);
	if (write_file(path, ctx->cfg.gid_map, strlen(ctx->cfg.gid_map)) < 0)
		fail(ctx, STAGE_SPAWNED, "write %s", path);
}

static void spawn_init(struct start_ctx *ctx)
{
	int go[2], er[2];
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0)
		fail(ctx, STAGE_SPAWNED, "pipe");
	ctx->go_r = go[0];
	ctx->go_w = go[1];
	ctx->err_r = er[0];
	ctx->err_w = er[1];
	if (ctx->cfg.sysinfo_memcg) {
		int sp[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
			fail(ctx, STAGE_SPAWNED, "socketpair");
		ctx->ntf_m = sp[0];
		ctx->ntf_c = sp[1];
	}

	/* Raw clone with a NULL stack has fork semantics; all namespaces in one step, so M is
	 * directly init's parent and reaper (no intermediate process). */
	pid_t pid = syscall(SYS_clone, CLONE_FLAGS | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid < 0)
		fail(ctx, STAGE_SPAWNED, "clone");
	if (pid == 0)
		init_main(ctx);
	ctx->init_pid = pid;
	close(ctx->go_r);
	close(ctx->err_w);
	ctx->go_r = ctx->err_w = -1;
	if (ctx->ntf_c >= 0) {
		close(ctx->ntf_c);
		ctx->ntf_c = -1;
	}
	debug_log(ctx, "cloned init %d", pid);

	write_maps(ctx);
	ctl_send_pid(&ctx->ctl, "spawned", pid);
}

/* init sent its seccomp listener before execve, so it is queued by the time the err pipe
 * reports EOF. Until the monitor polls it, a sysinfo call in the container waits. */
static void receive_listener(struct start_ctx *ctx)
{
	int fd = recv_fd(ctx->ntf_m);
	if (fd < 0)
		fail(ctx, STAGE_RUNNING, "receive the seccomp listener from init");
	close(ctx->ntf_m);
	ctx->ntf_m = -1;
	if (sysinfo_virt_add(&ctx->sv, fd) < 0) /* the first slot: only ENOMEM */
		fail(ctx, STAGE_RUNNING, "keep the seccomp listener");
	sysinfo_virt_start(&ctx->sv, ctx->init_pid);
	debug_log(ctx, "intercepting sysinfo: listener fd %d, memory cgroup v%d %s", fd, ctx->cfg.sysinfo_cgver,
		  ctx->cfg.sysinfo_memcg);
}

static void release_init(struct start_ctx *ctx)
{
	expect_msg(ctx, STAGE_CGROUP, "go");
	if (write_all(ctx->go_w, "g", 1) < 0)
		fail(ctx, STAGE_CGROUP, "release init");
	close(ctx->go_w);
	ctx->go_w = -1;

	struct child_err rec;
	char *line;
	size_t len;
	if (wait_ctl(ctx, STAGE_SETUP, ctx->err_r, &line, &len) == GOT_LINE) {
		free(line);
		start_abort(ctx, STAGE_SETUP, EPROTO, "unexpected message while init is being set up");
	}
	ssize_t n = read_retry(ctx->err_r, &rec, sizeof(rec));
	if (n < 0)
		fail(ctx, STAGE_SETUP, "read init status pipe");
	if (n > 0) {
		if (n != sizeof(rec)) {
			errno = 0;
			fail(ctx, STAGE_SETUP, "short failure record from init (%zd bytes)", n);
		}
		rec.msg[sizeof(rec.msg) - 1] = 0;
		start_abort(ctx, rec.stage, rec.err, rec.msg);
	}
	/* EOF: the O_CLOEXEC write end went away in a successful execve. */
	close(ctx->err_r);
	ctx->err_r = -1;
	if (ctx->ntf_m >= 0)
		receive_listener(ctx);
}

void write_pidfile(struct start_ctx *ctx)
{
	char buf[48];
	int n = snprintf(buf, sizeof(buf), "%d %d\n", getpid(), ctx->init_pid);
	if (write_file_atomic(ctx->cfg.pidfile, buf, n) < 0)
		fail(ctx, STAGE_RUNNING, "write %s", ctx->cfg.pidfile);
	ctx->own_pidfile = true;
}

/* What start and restore share before reading the config: every fd "none", the control fd,
 * and the signals, all of which arrive through a signalfd (C unblocks them before execve). */
void start_ctx_init(struct start_ctx *ctx)
{
	*ctx = (struct start_ctx){ .sigfd = -1, .master = -1, .slave = -1, .listen_fd = -1, .log_fd = -1,
				   .go_r = -1, .go_w = -1, .err_r = -1, .err_w = -1, .ntf_m = -1, .ntf_c = -1,
				   .sv = SYSINFO_VIRT_OFF, .sictl_fd = -1, .la = LOADAVG_OFF };
	if (fcntl(CTSPAWN_CONTROL_FD, F_SETFD, FD_CLOEXEC) < 0)
		die_(1, "control fd %d", CTSPAWN_CONTROL_FD);
	ctl_open(&ctx->ctl, CTSPAWN_CONTROL_FD);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		fail(ctx, STAGE_CONFIG, "sigprocmask");
	ctx->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (ctx->sigfd < 0)
		fail(ctx, STAGE_CONFIG, "signalfd");
}

int cmd_start(void)
{
	static struct start_ctx ctx;
	start_ctx_init(&ctx);

	read_config(&ctx);
	debug_log(&ctx, "config accepted, rootfs %s", ctx.cfg.rootfs);
	open_monitor_files(&ctx);
	open_console(&ctx);
	spawn_init(&ctx);
	release_init(&ctx);
	write_pidfile(&ctx);
	ctl_send_pid(&ctx.ctl, "running", ctx.init_pid);
	monitor_run(&ctx);
}
