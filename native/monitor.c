/* M after the handshake: keeps the console drained and logged, serves one console client
 * on a unix socket, and when init ends records its status and tears everything down.
 * Single-threaded, poll() driven, and deliberately small: one per running container. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctspawn.h"
#include "protocol.h"
#include "seccomp_notify.h"
#include "util.h"

#define LOG_ROTATE_SIZE (1 << 20)
#define RING_SIZE (16 << 10)
#define IO_CHUNK 4096
#define SICTL_PENDING 8 /* .ctl clients that have a slot reserved but not sent their listener */

struct monitor {
	struct start_ctx *ctx;
	int client;             /* attached console client or -1 */
	char *ring;             /* recent console output, replayed on attach */
	size_t ring_pos, ring_len;
	off_t log_size;
	char *log_old;          /* console_log + ".1" */
	bool log_failing;       /* rate-limits log-write warnings to one per failure streak */
	char in[1024];          /* client bytes the pty master did not take yet */
	size_t in_off, in_len;
	int pending[SICTL_PENDING]; /* accepted .ctl connections, -1: free */
	int npending;
};

static const char busy_msg[] = "console is busy\r\n";

static void ring_put(struct monitor *m, const char *p, size_t n)
{
	if (n >= RING_SIZE) {
		p += n - RING_SIZE;
		n = RING_SIZE;
	}
	while (n > 0) {
		size_t chunk = RING_SIZE - m->ring_pos;
		if (chunk > n)
			chunk = n;
		memcpy(m->ring + m->ring_pos, p, chunk);
		m->ring_pos = (m->ring_pos + chunk) % RING_SIZE;
		p += chunk;
		n -= chunk;
		m->ring_len = m->ring_len + chunk > RING_SIZE ? RING_SIZE : m->ring_len + chunk;
	}
}

static void client_detach(struct monitor *m)
{
	if (m->client < 0)
		return;
	close(m->client);
	m->client = -1;
	m->in_off = m->in_len = 0;
	debug_log(m->ctx, "console client detached");
}

/* Non-blocking: a slow client loses output rather than stalling the container's console
 * (the log keeps everything). */
static void client_send(struct monitor *m, const char *p, size_t n)
{
	while (m->client >= 0 && n > 0) {
		ssize_t w = send(m->client, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				client_detach(m);
			return;
		}
		p += w;
		n -= w;
	}
}

static void log_open(struct monitor *m)
{
	const char *path = m->ctx->cfg.console_log;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0) {
		warn_("open %s", path);
		return;
	}
	m->ctx->log_fd = fd;
	m->log_size = 0;
}

static void log_write(struct monitor *m, const char *p, size_t n)
{
	struct start_ctx *ctx = m->ctx;
	if (ctx->log_fd < 0) {
		log_open(m); /* retry after an earlier failure, e.g. a full disk */
		if (ctx->log_fd < 0)
			return;
	}
	if (write_all(ctx->log_fd, p, n) < 0) {
		if (!m->log_failing)
			warn_("write %s", ctx->cfg.console_log);
		m->log_failing = true;
		return;
	}
	m->log_failing = false;
	m->log_size += n;
	if (m->log_size < LOG_ROTATE_SIZE)
		return;
	if (rename(ctx->cfg.console_log, m->log_old) < 0)
		warn_("rename %s to %s", ctx->cfg.console_log, m->log_old);
	close(ctx->log_fd);
	ctx->log_fd = -1;
	log_open(m);
}

/* Returns false when the master has nothing (more) to give. */
static bool console_read(struct monitor *m)
{
	char buf[IO_CHUNK];
	ssize_t n = read(m->ctx->master, buf, sizeof(buf));
	if (n <= 0) {
		/* EAGAIN is normal; EIO cannot happen while we hold the slave open. */
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			warn_("read console");
		return false;
	}
	log_write(m, buf, n);
	ring_put(m, buf, n);
	client_send(m, buf, n);
	return true;
}

static void client_accept(struct monitor *m)
{
	int fd = accept4(m->ctx->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			warn_("accept on %s", m->ctx->cfg.socket);
		return;
	}
	if (m->client >= 0) {
		(void)!send(fd, busy_msg, sizeof(busy_msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	m->client = fd;
	debug_log(m->ctx, "console client attached");
	/* Replay the ring in order: the older part starts at ring_pos once it has wrapped. */
	size_t start = (m->ring_pos + RING_SIZE - m->ring_len) % RING_SIZE;
	size_t first = m->ring_len < RING_SIZE - start ? m->ring_len : RING_SIZE - start;
	client_send(m, m->ring + start, first);
	client_send(m, m->ring, m->ring_len - first);
}

static void client_read(struct monitor *m)
{
	ssize_t n = read(m->client, m->in, sizeof(m->in));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_detach(m);
		return;
	}
	m->in_off = 0;
	m->in_len = n;
}

static void console_write(struct monitor *m)
{
	ssize_t n = write(m->ctx->master, m->in + m->in_off, m->in_len - m->in_off);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return; /* poll for POLLOUT; the client is not read meanwhile */
		warn_("write console");
		m->in_off = m->in_len = 0;
		return;
	}
	m->in_off += n;
	if (m->in_off == m->in_len)
		m->in_off = m->in_len = 0;
}

static void write_status(struct start_ctx *ctx, int st)
{
	char buf[32];
	int n;
	if (WIFSIGNALED(st))
		n = snprintf(buf, sizeof(buf), "killed %d\n", WTERMSIG(st));
	else
		n = snprintf(buf, sizeof(buf), "exited %d\n", WEXITSTATUS(st));
	if (write_file_atomic(ctx->cfg.statusfile, buf, n) < 0)
		warn_("write %s", ctx->cfg.statusfile);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- teardown: the cgroups, including those the container made below its own ---- */

#define RMDIR_MAX_DEPTH 32
#define RMDIR_TRIES 200 /* of 10 ms: how long a configured dir's tree may stay busy */

struct rmtree {
	char path[PATH_MAX]; /* of the dir at hand, for messages */
	size_t len;
	int tries;           /* left for this configured dir's whole tree */
};

/* rmdir of name in parent (rt->path) waiting for EBUSY to pass. A cgroup stays busy for a
 * moment while the kernel finishes tearing down the pid namespace. 0: removed or gone. */
static int rmdir_retry(struct rmtree *rt, int parent, const char *name)
{
	while (unlinkat(parent, name, AT_REMOVEDIR) < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != EBUSY || rt->tries <= 0) {
			warn_("rmdir %s", rt->path);
			return -1;
		}
		rt->tries--;
		sleep_ms(10);
	}
	return 0;
}

/* Removes every directory below dir (an fd of rt->path), depth-first: a cgroup with children
 * cannot be removed. Only directories (a cgroup's files go with it); symlinks are not
 * followed; nothing is allocated. true when nothing is left below dir. A dir whose subtree
 * could not be removed is not tried itself: only the deepest failure is logged. */
static bool rm_subdirs(struct rmtree *rt, int dir, int depth)
{
	char buf[1024] __attribute__((aligned(8)));
	bool ok = true;
	/* Another pass only when this one removed something and nothing failed (so nothing is
	 * retried or logged twice): entries may move while their dir changes. */
	for (bool again = true; again;) {
		bool removed = false;
		if (lseek(dir, 0, SEEK_SET) < 0)
			return false;
		ssize_t got;
		while ((got = getdents64(dir, buf, sizeof(buf))) > 0) {
			for (ssize_t off = 0; off < got;) {
				struct dirent64 *d = (struct dirent64 *)(buf + off);
				off += d->d_reclen;
				if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
					continue;
				struct stat st;
				if (d->d_type != DT_DIR && (d->d_type != DT_UNKNOWN ||
							    fstatat(dir, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
							    !S_ISDIR(st.st_mode)))
					continue;
				if (depth >= RMDIR_MAX_DEPTH) {
					warnx_("rmdir: %s has directories more than %d levels down: left alone", rt->path,
					       RMDIR_MAX_DEPTH);
					return false;
				}
				size_t nl = strlen(d->d_name), len = rt->len;
				if (len + 1 + nl >= sizeof(rt->path)) {
					warnx_("rmdir: a path below %s is too long", rt->path);
					ok = false;
					continue;
				}
				rt->path[len] = '/';
				memcpy(rt->path + len + 1, d->d_name, nl + 1);
				rt->len = len + 1 + nl;
				/* Not openable (gone meanwhile, or no dir after all): rmdir says which. */
				int sub = openat(dir, d->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
				bool empty = sub < 0 || rm_subdirs(rt, sub, depth + 1);
				if (sub >= 0)
					close(sub);
				if (empty && rmdir_retry(rt, dir, d->d_name) == 0)
					removed = true;
				else
					ok = false;
				rt->len = len;
				rt->path[len] = 0;
			}
		}
		again = removed && ok;
	}
	return ok;
}

/* The poststop command: host-side state that does not die with the container's namespaces
 * (proxy neighbour entries on the host's own interfaces, a veth the kernel frees lazily). */
static void run_poststop(char **argv)
{
	if (!argv[0])
		return;
	pid_t pid = fork();
	if (pid < 0) {
		warn_("fork for poststop");
		return;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL); /* the monitor blocks them for its signalfd */
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		alarm(10); /* SIGALRM's default action ends a hung command */
		execv(argv[0], argv);
		warn_("exec %s", argv[0]);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			warn_("waitpid poststop");
			return;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		warnx_("poststop %s ended with status 0x%x", argv[0], st);
}

void teardown(struct start_ctx *ctx)
{
	const struct config *c = &ctx->cfg;
	loadavg_stop(&ctx->la);
	sysinfo_virt_close(&ctx->sv); /* its fd must not keep the memory cgroup busy */
	static struct rmtree rt; /* PATH_MAX: not on the stack of an abort path */
	for (char **d = c->rmdirs; *d; d++) {
		rt.tries = RMDIR_TRIES;
		rt.len = strlen(*d);
		if (rt.len >= sizeof(rt.path)) {
			errno = ENAMETOOLONG;
			warn_("rmdir %s", *d);
			continue;
		}
		memcpy(rt.path, *d, rt.len + 1);
		/* The container's own sub-cgroups first (delegation: its root owns the dir). */
		int dir = open(*d, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (dir >= 0) {
			if (!rm_subdirs(&rt, dir, 0))
				rt.tries = 0; /* it cannot become empty: say so at once */
			close(dir);
		}
		rmdir_retry(&rt, AT_FDCWD, *d);
	}
	for (char **u = c->umounts; *u; u++)
		if (umount2(*u, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			warn_("umount %s", *u);
	run_poststop(c->poststop);
	if (ctx->own_socket && unlink(c->socket) < 0 && errno != ENOENT)
		warn_("unlink %s", c->socket);
	if (ctx->own_sictl && unlink(ctx->sictl_path) < 0 && errno != ENOENT)
		warn_("unlink %s", ctx->sictl_path);
	if (ctx->own_pidfile && unlink(c->pidfile) < 0 && errno != ENOENT)
		warn_("unlink %s", c->pidfile);
}

static noreturn void init_ended(struct monitor *m, int st)
{
	struct start_ctx *ctx = m->ctx;
	if (WIFSIGNALED(st))
		debug_log(ctx, "init %d killed by signal %d", ctx->init_pid, WTERMSIG(st));
	else
		debug_log(ctx, "init %d exited with %d", ctx->init_pid, WEXITSTATUS(st));
	write_status(ctx, st);
	/* Whatever init printed last is still in the pty: keep it in the log. Bounded, in
	 * case something else still writes to the slave. */
	for (int i = 0; i < 64 && console_read(m); i++)
		;
	client_detach(m);
	close(ctx->listen_fd);
	if (ctx->sictl_fd >= 0)
		close(ctx->sictl_fd);
	for (int i = 0; i < SICTL_PENDING; i++)
		if (m->pending[i] >= 0)
			close(m->pending[i]);
	close(ctx->master);
	close(ctx->slave);
	if (ctx->log_fd >= 0)
		close(ctx->log_fd);
	ctl_close(&ctx->ctl);
	teardown(ctx);
	/* reboot(2) in a pid namespace kills its init with SIGHUP (SIGINT for halt/poweroff):
	 * a reboot inside starts the container again, as vzctl does. */
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGHUP && ctx->cfg.on_reboot) {
		debug_log(ctx, "reboot from inside: running %s", ctx->cfg.on_reboot[0]);
		sigset_t none; /* the monitor's signals are blocked for its signalfd: not the command's */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(ctx->cfg.on_reboot[0], ctx->cfg.on_reboot);
		warn_("exec %s", ctx->cfg.on_reboot[0]);
	}
	exit(0);
}

static void reap(struct monitor *m)
{
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		if (pid == m->ctx->init_pid)
			init_ended(m, st);
	if (pid < 0 && errno != ECHILD)
		warn_("waitpid");
}

static void on_signal(struct monitor *m)
{
	struct signalfd_siginfo si;
	while (read_retry(m->ctx->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(m);
			break;
		case SIGPIPE:
			break;
		default:
			/* The container is stopped by signalling its init, never the monitor. */
			warnx_("ignoring SIG%s from pid %u", sigabbrev_np(si.ssi_signo) ?: "?", si.ssi_pid);
		}
	}
}

/* ---- the .ctl socket: listeners of "ctspawn exec/enter --sysinfo-ctl" (protocol.h) ---- */

static void sictl_reply(int fd, char byte)
{
	/* A fresh SEQPACKET connection: its send buffer is empty, this cannot block. */
	(void)!send(fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* A slot is reserved for every accepted client, so that its listener is never refused after
 * its filter is installed (a filter without a listener fails sysinfo with ENOSYS). */
static void sictl_accept(struct monitor *m)
{
	struct start_ctx *ctx = m->ctx;
	int fd = accept4(ctx->sictl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			warn_("accept on %s", ctx->sictl_path);
		return;
	}
	if (ctx->sv.nlisteners + m->npending >= SYSINFO_LISTENERS) {
		warnx_("sysinfo: all %d listener slots are in use: a process started by exec/enter "
		       "sees the host's figures", SYSINFO_LISTENERS);
		sictl_reply(fd, SICTL_FULL);
		close(fd);
		return;
	}
	for (int i = 0; i < SICTL_PENDING; i++) {
		if (m->pending[i] < 0) {
			m->pending[i] = fd;
			m->npending++;
			sictl_reply(fd, SICTL_READY);
			return;
		}
	}
	close(fd); /* not reached: the socket is only polled while a pending slot is free */
}

/* The fd really is a seccomp listener ("anon_inode:seccomp notify")? */
static bool is_seccomp_listener(int fd)
{
	char path[32], target[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return strcmp(target, "anon_inode:seccomp notify") == 0;
}

static void sictl_read(struct monitor *m, int i)
{
	struct start_ctx *ctx = m->ctx;
	int conn = m->pending[i];
	int fd = recv_fd(conn);
	if (fd < 0 && errno == EAGAIN)
		return;
	if (fd >= 0 && !is_seccomp_listener(fd)) {
		warnx_("sysinfo: %s: the fd received is not a seccomp listener", ctx->sictl_path);
		close(fd);
		fd = -1;
	}
	if (fd >= 0) {
		int slot = sysinfo_virt_add(&ctx->sv, fd); /* cannot fail: reserved at accept */
		if (slot < 0) {
			close(fd);
		} else {
			debug_log(ctx, "sysinfo: listener of a joined process tree in slot %d (%d in use)", slot,
				  ctx->sv.nlisteners);
			sictl_reply(conn, SICTL_ACK);
		}
	}
	/* One listener per connection; EOF or a message without an fd ends it too. */
	close(conn);
	m->pending[i] = -1;
	m->npending--;
}

static void become_detached(struct monitor *m)
{
	struct start_ctx *ctx = m->ctx;
	debug_log(ctx, "detached");
	ctl_close(&ctx->ctl);
	/* Give the parsing buffers back: the monitor lives as long as the container. */
	malloc_trim(0);
}

/* Control messages between "running" and "detach": EOF counts as detach, "detach" is the
 * only acceptable message, anything else aborts the container as protocol.h requires. */
static void on_control(struct monitor *m)
{
	struct start_ctx *ctx = m->ctx;
	int r = ctl_fill(&ctx->ctl);
	if (r < 0 && errno == EAGAIN)
		return;
	size_t len;
	char *line = r > 0 ? ctl_take_line(&ctx->ctl, &len) : NULL;
	if (!line) {
		if (r > 0)
			return; /* partial line */
		become_detached(m); /* EOF or a dead channel */
		return;
	}
	struct jobj o;
	char err[200];
	bool ok = json_parse(line, len, &o, err, sizeof(err)) == 0;
	free(line);
	if (ok) {
		const char *t = ctl_msg_type(&o);
		ok = t && strcmp(t, "detach") == 0;
		json_free(&o);
		snprintf(err, sizeof(err), "expected a \"detach\" message");
	}
	if (!ok)
		start_abort(ctx, STAGE_DETACH, EPROTO, err);
	become_detached(m);
}

noreturn void monitor_run(struct start_ctx *ctx)
{
	static struct monitor mon;
	struct monitor *m = &mon;
	m->ctx = ctx;
	m->client = -1;
	for (int i = 0; i < SICTL_PENDING; i++)
		m->pending[i] = -1;
	m->ring = malloc(RING_SIZE);
	size_t l = strlen(ctx->cfg.console_log);
	m->log_old = malloc(l + 3);
	if (!m->ring || !m->log_old)
		start_abort(ctx, STAGE_RUNNING, ENOMEM, "out of memory");
	memcpy(m->log_old, ctx->cfg.console_log, l);
	memcpy(m->log_old + l, ".1", 3);
	struct stat st;
	if (fstat(ctx->log_fd, &st) == 0)
		m->log_size = st.st_size;

	snprintf(g_log_prefix, sizeof(g_log_prefix), "ctspawn[%d]", ctx->init_pid);
	/* Node's stdin/stdout are none of our business any more; stderr is the monitor log.
	 * /dev/null keeps fds 0 and 1 from being reused by something we would write to. */
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
		warn_("redirect stdin/stdout to /dev/null");
	if (null > 1)
		close(null);
	if (chdir("/") < 0)
		warn_("chdir /");

	/* Load averages of its own: the container runs from here on. */
	if (ctx->cfg.loadavg_file && ctx->cfg.sysinfo_memcg &&
	    loadavg_start(&ctx->la, ctx->cfg.loadavg_file, &ctx->sv) == 0)
		debug_log(ctx, "load averages every %d s to %s", LOADAVG_INTERVAL, ctx->cfg.loadavg_file);
	else if (ctx->cfg.loadavg_file && !ctx->cfg.sysinfo_memcg)
		debug_log(ctx, "loadavg_file ignored: no sysinfo_memcg to sample");

	/* init may already have exited while we were still in the handshake. */
	reap(m);
	for (;;) {
		struct pollfd p[8 + SYSINFO_LISTENERS + SICTL_PENDING];
		int slot[SYSINFO_LISTENERS], pend[SICTL_PENDING];
		int n = 0, i_sig, i_master, i_listen, i_client = -1, i_ctl = -1, i_ntf = -1, i_sictl = -1, i_pend;
		int i_load = -1;
		int nntf = 0, npend = 0;
		p[i_sig = n++] = (struct pollfd){ .fd = ctx->sigfd, .events = POLLIN };
		p[i_master = n++] = (struct pollfd){ .fd = ctx->master,
						     .events = POLLIN | (m->in_len ? POLLOUT : 0) };
		p[i_listen = n++] = (struct pollfd){ .fd = ctx->listen_fd, .events = POLLIN };
		if (m->client >= 0)
			/* Backpressure: stop reading the client until the pty took the last chunk. */
			p[i_client = n++] = (struct pollfd){ .fd = m->client, .events = m->in_len ? 0 : POLLIN };
		if (ctx->ctl.fd >= 0)
			p[i_ctl = n++] = (struct pollfd){ .fd = ctx->ctl.fd, .events = POLLIN };
		i_ntf = n;
		for (int s = 0; s < SYSINFO_LISTENERS; s++)
			if (ctx->sv.listeners[s] >= 0) {
				slot[nntf++] = s;
				p[n++] = (struct pollfd){ .fd = ctx->sv.listeners[s], .events = POLLIN };
			}
		i_pend = n;
		for (int i = 0; i < SICTL_PENDING; i++)
			if (m->pending[i] >= 0) {
				pend[npend++] = i;
				p[n++] = (struct pollfd){ .fd = m->pending[i], .events = POLLIN };
			}
		/* While every pending slot is taken, further clients wait in the backlog. */
		if (ctx->sictl_fd >= 0 && m->npending < SICTL_PENDING)
			p[i_sictl = n++] = (struct pollfd){ .fd = ctx->sictl_fd, .events = POLLIN };
		if (ctx->la.tfd >= 0)
			p[i_load = n++] = (struct pollfd){ .fd = ctx->la.tfd, .events = POLLIN };
		if (poll(p, n, -1) < 0) {
			if (errno != EINTR)
				warn_("poll");
			continue;
		}
		/* First: a container process is blocked until it gets its answer. */
		for (int k = 0; k < nntf; k++) {
			short re = p[i_ntf + k].revents;
			if (re & POLLIN) {
				sysinfo_virt_handle(&ctx->sv, ctx->sv.listeners[slot[k]]);
			} else if (re) {
				/* POLLHUP: no task uses the filter any more (init's: the container is
				 * ending; an exec'd tree's: its last process is gone). Closing earlier would
				 * make sysinfo fail with ENOSYS for whoever still has the filter. */
				sysinfo_virt_drop(&ctx->sv, slot[k]);
				debug_log(ctx, "sysinfo: listener in slot %d dropped (%d in use)", slot[k],
					  ctx->sv.nlisteners);
			}
		}
		/* Registrations after the listeners' revents were used: a new listener may reuse
		 * a dropped one's fd number and slot. Pending clients before accepting, likewise. */
		for (int k = 0; k < npend; k++)
			if (p[i_pend + k].revents)
				sictl_read(m, pend[k]);
		if (i_sictl >= 0 && (p[i_sictl].revents & POLLIN))
			sictl_accept(m);
		if (p[i_master].revents & (POLLIN | POLLHUP | POLLERR))
			console_read(m);
		if (m->in_len && (p[i_master].revents & POLLOUT))
			console_write(m);
		/* Client events before accepting: a client dropped above must not have its
		 * revents applied to a newly accepted one (which may even reuse the fd number). */
		if (i_client >= 0 && m->client >= 0 && p[i_client].revents) {
			if (p[i_client].revents & POLLIN)
				client_read(m);
			else if (p[i_client].revents & (POLLHUP | POLLERR))
				client_detach(m);
			if (m->in_len)
				console_write(m);
		}
		if (p[i_listen].revents & POLLIN)
			client_accept(m);
		if (i_ctl >= 0 && p[i_ctl].revents)
			on_control(m);
		if (i_load >= 0 && (p[i_load].revents & POLLIN))
			loadavg_tick(&ctx->la, &ctx->sv);
		if (p[i_sig].revents & POLLIN)
			on_signal(m);
	}
}
