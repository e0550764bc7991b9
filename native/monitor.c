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
 * sysinfo notifications are answered at most at NOTIFY_RATE the same way (callers wait).
 *
 * Each event source lives in its own file (monitor_console.c, monitor_sysinfo.c,
 * monitor_control.c, monitor_signals.c; the end in monitor_teardown.c) and describes itself
 * as a struct mon_source; the table below is the order in which each round handles them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor.h"
#include "protocol.h"
#include "util.h"

static int load_open(struct monitor *m)
{
	return m->ctx->la.tfd;
}

static void load_on(struct monitor *m, uint32_t events, uint64_t data)
{
	(void)events, (void)data;
	loadavg_tick(&m->ctx->la, &m->ctx->sv);
}

static const struct mon_source mon_load = { .kind = EV_LOAD, .open = load_open, .on = load_on };

/* In a fixed order, whatever order epoll reports them in. First: a container process is
 * blocked until it gets its answer. Registrations after the listeners' events were used: a new
 * listener may reuse a dropped one's slot (its gen tells them apart anyway). Pending clients
 * before accepting, likewise. Client events before accepting: a client dropped there must not
 * have its events applied to a newly accepted one (which may even reuse the fd number). */
static const struct mon_source *const sources[] = {
	&mon_notify, &mon_pending, &mon_sictl, &mon_master, &mon_client, &mon_listen, &mon_control, &mon_load, &mon_signal,
};
#define NSOURCES (sizeof(sources) / sizeof(sources[0]))

/* Registers fd for events (data: kind) unless it already is. EPOLLHUP and EPOLLERR
 * come whatever events say: the callers handle them (a client that hangs up is detached). */
void ep_want(struct monitor *m, int fd, int kind, uint32_t events)
{
	if (m->armed[kind] == events)
		return;
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)kind };
	if (epoll_ctl(m->ep, EPOLL_CTL_MOD, fd, &ev) < 0) {
		warn_("epoll_ctl");
		return;
	}
	m->armed[kind] = events;
}

static void ep_add(struct monitor *m, int fd, int kind, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)kind };
	if (epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		start_abort(m->ctx, STAGE_RUNNING, errno, "epoll_ctl");
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
	for (size_t s = 0; s < NSOURCES; s++) {
		int fd = sources[s]->open ? sources[s]->open(m) : -1;
		if (fd >= 0)
			ep_add(m, fd, sources[s]->kind, m->armed[sources[s]->kind] = EPOLLIN);
	}

	/* init may already have exited while we were still in the handshake. */
	reap(m);
	for (;;) {
		int64_t now = mono_ns();
		bucket_refill(&m->console, now);
		bucket_refill(&m->notify, now);
		int wait = -1;
		for (size_t s = 0; s < NSOURCES; s++) {
			int w = sources[s]->arm ? sources[s]->arm(m) : -1;
			if (w > 0 && (wait < 0 || w < wait))
				wait = w;
		}
		struct epoll_event ev[EVENTS];
		int n = epoll_wait(m->ep, ev, EVENTS, wait);
		if (n < 0) {
			if (errno != EINTR)
				warn_("epoll_wait");
			continue;
		}
		for (size_t s = 0; s < NSOURCES; s++) {
			for (int k = 0; k < n; k++) {
				if ((int)(ev[k].data.u64 & 0xff) != sources[s]->kind)
					continue;
				sources[s]->on(m, ev[k].events, ev[k].data.u64);
				if (!sources[s]->each)
					break;
			}
		}
	}
}
