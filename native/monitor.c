/* M after the handshake: keeps the console drained and logged, serves one console client
 * on a unix socket, answers the sysinfo listeners, and when init ends records its status and
 * tears everything down. Single-threaded, epoll driven (the listeners are many and their
 * number is the tenant's to grow: nothing here costs per listener per event), and
 * deliberately small: one per running container.
 *
 * Nothing the container does may cost the host more than a bounded share of a core here, as
 * this process runs outside the container's cgroups: the console is read at most at
 * CONSOLE_RATE (a token bucket; when it is empty the master is not polled, so a flooding
 * writer blocks on the full pty, as on a slow serial line: back-pressure, nothing lost), and
 * sysinfo notifications are answered at most at NOTIFY_RATE the same way (callers wait). */
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
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/resource.h>
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
/* The console token bucket: bytes per second sustained, and the burst (a boot's messages,
 * a screenful after a quiet spell) read at full speed. A 9600 baud line gives ~1 KiB/s. */
#define CONSOLE_RATE (64 << 10)
#define CONSOLE_BURST (256 << 10)
/* The sysinfo answers' bucket: notifications per second sustained, and the burst. An answer
 * costs the monitor ~10-20 us (an /proc/PID/mem open and write), so this bounds a tenant
 * that calls sysinfo(2) in a loop to a few percent of a core. */
#define NOTIFY_RATE 1000
#define NOTIFY_BURST 1000
#define EVENTS 32

/* What an epoll event is about (the low byte of its data; above it an index and a gen). */
enum { EV_SIG = 1, EV_MASTER, EV_LISTEN, EV_CLIENT, EV_CTL, EV_SICTL, EV_LOAD, EV_PEND, EV_NOTIFY };

/* A token bucket: `tokens` refill at rate per second up to burst. */
struct bucket {
	double tokens;
	int64_t at; /* CLOCK_MONOTONIC ns of the last refill */
	double rate, burst;
};

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
	bool sictl_full;        /* one warning per streak of refused registrations */
	int ep;                 /* epoll of everything; the listeners through ntf_ep */
	int ntf_ep;             /* epoll of the sysinfo listeners, itself one item of ep */
	uint32_t ev_master, ev_client, ev_sictl, ev_ntf; /* what is registered for them now */
	bool console_dead;      /* the master failed: not polled any more */
	struct bucket console;  /* bytes */
	struct bucket notify;   /* notifications */
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
	epoll_ctl(m->ep, EPOLL_CTL_DEL, m->client, NULL);
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

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void bucket_init(struct bucket *b, double rate, double burst)
{
	*b = (struct bucket){ .tokens = burst, .at = mono_ns(), .rate = rate, .burst = burst };
}

static void bucket_refill(struct bucket *b, int64_t now)
{
	b->tokens += (double)(now - b->at) / 1e9 * b->rate;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->at = now;
}

/* 0 when `want` tokens are there, else the ms until they will be (at least 1). */
static int bucket_wait_ms(const struct bucket *b, double want)
{
	if (b->tokens >= want)
		return 0;
	return (int)((want - b->tokens) / b->rate * 1000) + 1;
}

/* Returns false when the master has nothing (more) to give. */
static bool console_read(struct monitor *m)
{
	char buf[IO_CHUNK];
	ssize_t n = read(m->ctx->master, buf, sizeof(buf));
	if (n <= 0) {
		/* EAGAIN is normal; EIO cannot happen while we hold the slave open. Should it
		 * happen anyway, the master would poll readable for ever: stop reading it. */
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			warn_("read console (not read any more)");
			m->console_dead = true;
			epoll_ctl(m->ep, EPOLL_CTL_DEL, m->ctx->master, NULL);
		}
		return false;
	}
	m->console.tokens -= n;
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
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_CLIENT };
	if (epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		warn_("epoll_ctl console client");
		close(fd);
		return;
	}
	m->client = fd;
	m->ev_client = EPOLLIN;
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

/* A slot is reserved (the table grown) for every accepted client, so that its listener is
 * never refused after its filter is installed (a filter without a listener fails sysinfo with
 * ENOSYS). At the cap the client gets SICTL_FULL: its command runs, with the host's figures
 * and a warning from the helper; the trees registered before keep their answers. */
static void sictl_accept(struct monitor *m)
{
	struct start_ctx *ctx = m->ctx;
	int fd = accept4(ctx->sictl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			warn_("accept on %s", ctx->sictl_path);
		return;
	}
	if (sysinfo_virt_reserve(&ctx->sv, m->npending + 1) < 0) {
		bool cap = errno == ENOSPC;
		if (!cap)
			warn_("sysinfo: grow the listener table (a process started by exec/enter sees the "
			      "host's figures)");
		else if (!m->sictl_full)
			warnx_("sysinfo: %d listeners in use, one per process tree started by exec/enter that "
			       "still has a process (the cap): new ones see the host's figures until some end",
			       ctx->sv.nlisteners);
		m->sictl_full = cap;
		sictl_reply(fd, SICTL_FULL);
		close(fd);
		return;
	}
	m->sictl_full = false;
	for (int i = 0; i < SICTL_PENDING; i++) {
		if (m->pending[i] < 0) {
			struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EV_PEND | (uint64_t)i << 8 };
			if (epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
				warn_("sysinfo: epoll_ctl");
				sictl_reply(fd, SICTL_FULL);
				close(fd);
				return;
			}
			m->pending[i] = fd;
			m->npending++;
			sictl_reply(fd, SICTL_READY);
			return;
		}
	}
	close(fd); /* not reached: the socket is only polled while a pending slot is free */
}

/* Answers on the listener in slot from now on: 0, or -1 (logged). */
static int notify_watch(struct monitor *m, int slot)
{
	const struct sysinfo_listener *l = &m->ctx->sv.listeners[slot];
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)l->gen << 32 | (uint32_t)slot };
	if (epoll_ctl(m->ntf_ep, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
		warn_("sysinfo: epoll_ctl");
		return -1;
	}
	return 0;
}

/* Out of ntf_ep before the close: the exec helper may still hold the same file, and epoll
 * forgets a file only once every fd of it is closed. */
static void notify_drop(struct monitor *m, int slot)
{
	struct sysinfo_virt *sv = &m->ctx->sv;
	epoll_ctl(m->ntf_ep, EPOLL_CTL_DEL, sv->listeners[slot].fd, NULL);
	sysinfo_virt_drop(sv, slot);
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
		} else if (notify_watch(m, slot) < 0) {
			sysinfo_virt_drop(&ctx->sv, slot); /* no 'A': the helper runs nothing under it */
		} else {
			debug_log(ctx, "sysinfo: listener of a joined process tree in slot %d (%d in use)", slot,
				  ctx->sv.nlisteners);
			sictl_reply(conn, SICTL_ACK);
		}
	}
	/* One listener per connection; EOF or a message without an fd ends it too. */
	epoll_ctl(m->ep, EPOLL_CTL_DEL, conn, NULL);
	close(conn);
	m->pending[i] = -1;
	m->npending--;
}

static void become_detached(struct monitor *m)
{
	struct start_ctx *ctx = m->ctx;
	debug_log(ctx, "detached");
	if (ctx->ctl.fd >= 0)
		epoll_ctl(m->ep, EPOLL_CTL_DEL, ctx->ctl.fd, NULL);
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

/* Registers fd for events (data: kind) unless *cur says it already is. EPOLLHUP and EPOLLERR
 * come whatever events say: the callers handle them (a client that hangs up is detached). */
static void ep_want(struct monitor *m, int fd, int kind, uint32_t *cur, uint32_t events)
{
	if (*cur == events)
		return;
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)kind };
	if (epoll_ctl(m->ep, EPOLL_CTL_MOD, fd, &ev) < 0) {
		warn_("epoll_ctl");
		return;
	}
	*cur = events;
}

static void ep_add(struct monitor *m, int fd, int kind, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)kind };
	if (epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		start_abort(m->ctx, STAGE_RUNNING, errno, "epoll_ctl");
}

/* The events of the batch's item of this kind (one at most: single fds only), or 0. */
static uint32_t has(const struct epoll_event *ev, int n, int kind)
{
	for (int k = 0; k < n; k++)
		if ((int)(ev[k].data.u64 & 0xff) == kind)
			return ev[k].events;
	return 0;
}

/* The listeners that are ready, as many as the notify bucket allows (the rest stay ready
 * for the next round: their callers wait). POLLHUP: no task uses the filter any more (init's:
 * the container is ending; an exec'd tree's: its last process is gone). Closing earlier
 * would make sysinfo fail with ENOSYS for whoever still has the filter. */
static void notify_events(struct monitor *m)
{
	struct sysinfo_virt *sv = &m->ctx->sv;
	struct epoll_event ev[EVENTS];
	int max = m->notify.tokens < 1 ? 1 : m->notify.tokens < EVENTS ? (int)m->notify.tokens : EVENTS;
	int n = epoll_wait(m->ntf_ep, ev, max, 0);
	for (int k = 0; k < n; k++) {
		int slot = (int)(uint32_t)ev[k].data.u64;
		uint32_t gen = (uint32_t)(ev[k].data.u64 >> 32);
		if (slot >= sv->nslots || sv->listeners[slot].fd < 0 || sv->listeners[slot].gen != gen)
			continue; /* dropped meanwhile */
		if (ev[k].events & EPOLLIN) {
			m->notify.tokens -= 1;
			sysinfo_virt_handle(sv, sv->listeners[slot].fd);
		} else {
			notify_drop(m, slot);
			debug_log(m->ctx, "sysinfo: listener in slot %d dropped (%d in use)", slot, sv->nlisteners);
		}
	}
}

/* Raises RLIMIT_NOFILE's soft limit to the hard one (nothing here uses select) and caps the
 * listener table below it, leaving room for the monitor's own fds. */
static void fit_fd_limit(struct monitor *m)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t cur = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = cur;
	}
	rlim_t room = rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 1;
	if (room < (rlim_t)m->ctx->sv.max)
		m->ctx->sv.max = (int)room;
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

	bucket_init(&m->console, CONSOLE_RATE, CONSOLE_BURST);
	bucket_init(&m->notify, NOTIFY_RATE, NOTIFY_BURST);
	fit_fd_limit(m);
	m->ep = epoll_create1(EPOLL_CLOEXEC);
	if (m->ep < 0)
		start_abort(ctx, STAGE_RUNNING, errno, "epoll_create1");
	ep_add(m, ctx->sigfd, EV_SIG, EPOLLIN);
	ep_add(m, ctx->master, EV_MASTER, m->ev_master = EPOLLIN);
	ep_add(m, ctx->listen_fd, EV_LISTEN, EPOLLIN);
	if (ctx->ctl.fd >= 0)
		ep_add(m, ctx->ctl.fd, EV_CTL, EPOLLIN);
	if (ctx->sictl_fd >= 0)
		ep_add(m, ctx->sictl_fd, EV_SICTL, m->ev_sictl = EPOLLIN);
	if (ctx->la.tfd >= 0)
		ep_add(m, ctx->la.tfd, EV_LOAD, EPOLLIN);
	m->ntf_ep = -1;
	if (ctx->sv.nlisteners > 0 || ctx->sictl_fd >= 0) {
		m->ntf_ep = epoll_create1(EPOLL_CLOEXEC);
		if (m->ntf_ep < 0)
			start_abort(ctx, STAGE_RUNNING, errno, "epoll_create1");
		ep_add(m, m->ntf_ep, EV_NOTIFY, m->ev_ntf = EPOLLIN);
		for (int i = 0; i < ctx->sv.nslots; i++)
			if (ctx->sv.listeners[i].fd >= 0 && notify_watch(m, i) < 0)
				start_abort(ctx, STAGE_RUNNING, errno, "watch the seccomp listener");
	}

	/* init may already have exited while we were still in the handshake. */
	reap(m);
	for (;;) {
		int64_t now = mono_ns();
		bucket_refill(&m->console, now);
		bucket_refill(&m->notify, now);
		int wait = -1;
		/* The master: read while the bucket holds a chunk's worth; written while the
		 * client's bytes wait (that direction is the admin's, never throttled). */
		int cw = bucket_wait_ms(&m->console, IO_CHUNK);
		if (!m->console_dead) {
			if (cw)
				wait = cw;
			ep_want(m, ctx->master, EV_MASTER, &m->ev_master, (cw ? 0 : EPOLLIN) | (m->in_len ? EPOLLOUT : 0));
		}
		if (m->client >= 0)
			/* Backpressure: stop reading the client until the pty took the last chunk. */
			ep_want(m, m->client, EV_CLIENT, &m->ev_client, m->in_len ? 0 : EPOLLIN);
		/* While every pending slot is taken, further clients wait in the backlog. */
		if (ctx->sictl_fd >= 0)
			ep_want(m, ctx->sictl_fd, EV_SICTL, &m->ev_sictl, m->npending < SICTL_PENDING ? EPOLLIN : 0);
		if (m->ntf_ep >= 0) {
			/* Once empty, wait for a batch's worth: a wake-up per answer would cost more
			 * than the answer. */
			int nw = bucket_wait_ms(&m->notify, m->ev_ntf ? 1 : EVENTS);
			if (nw && (wait < 0 || nw < wait))
				wait = nw;
			ep_want(m, m->ntf_ep, EV_NOTIFY, &m->ev_ntf, nw ? 0 : EPOLLIN);
		}
		struct epoll_event ev[EVENTS];
		int n = epoll_wait(m->ep, ev, EVENTS, wait);
		if (n < 0) {
			if (errno != EINTR)
				warn_("epoll_wait");
			continue;
		}
		/* In a fixed order, whatever order epoll reports them in. First: a container
		 * process is blocked until it gets its answer. */
		if (has(ev, n, EV_NOTIFY))
			notify_events(m);
		/* Registrations after the listeners' events were used: a new listener may reuse a
		 * dropped one's slot (its gen tells them apart anyway). Pending clients before
		 * accepting, likewise. */
		for (int k = 0; k < n; k++)
			if ((ev[k].data.u64 & 0xff) == EV_PEND) {
				int i = (int)(ev[k].data.u64 >> 8);
				if (m->pending[i] >= 0)
					sictl_read(m, i);
			}
		if (has(ev, n, EV_SICTL))
			sictl_accept(m);
		uint32_t re = has(ev, n, EV_MASTER);
		if ((re & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (m->ev_master & EPOLLIN))
			console_read(m);
		if (m->in_len && (re & EPOLLOUT))
			console_write(m);
		/* Client events before accepting: a client dropped here must not have its events
		 * applied to a newly accepted one (which may even reuse the fd number). */
		re = has(ev, n, EV_CLIENT);
		if (re && m->client >= 0) {
			if (re & EPOLLIN)
				client_read(m);
			else if (re & (EPOLLHUP | EPOLLERR))
				client_detach(m);
			if (m->in_len)
				console_write(m);
		}
		if (has(ev, n, EV_LISTEN))
			client_accept(m);
		if (has(ev, n, EV_CTL) && ctx->ctl.fd >= 0)
			on_control(m);
		if (has(ev, n, EV_LOAD))
			loadavg_tick(&ctx->la, &ctx->sv);
		if (has(ev, n, EV_SIG))
			on_signal(m);
	}
}
