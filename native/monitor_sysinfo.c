/* The monitor's sysinfo(2) answers: init's seccomp listener and those that "ctspawn exec/enter
 * --sysinfo-ctl" register through the .ctl socket (protocol.h), answered at most at NOTIFY_RATE
 * (sysinfo_virt.c knows what to answer). Sources: the listeners' own epoll, the .ctl socket,
 * and its accepted connections until each has sent its listener. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "monitor.h"
#include "protocol.h"
#include "seccomp_notify.h"
#include "util.h"

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
void fit_fd_limit(struct monitor *m)
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

/* The listeners' epoll, itself one item of the monitor's: while there are listeners or may be. */
static int notify_open(struct monitor *m)
{
	struct start_ctx *ctx = m->ctx;
	m->ntf_ep = -1;
	if (ctx->sv.nlisteners > 0 || ctx->sictl_fd >= 0) {
		m->ntf_ep = epoll_create1(EPOLL_CLOEXEC);
		if (m->ntf_ep < 0)
			start_abort(ctx, STAGE_RUNNING, errno, "epoll_create1");
		for (int i = 0; i < ctx->sv.nslots; i++)
			if (ctx->sv.listeners[i].fd >= 0 && notify_watch(m, i) < 0)
				start_abort(ctx, STAGE_RUNNING, errno, "watch the seccomp listener");
	}
	return m->ntf_ep;
}

/* Once empty, wait for a batch's worth: a wake-up per answer would cost more than the answer. */
static int notify_arm(struct monitor *m)
{
	if (m->ntf_ep < 0)
		return -1;
	int nw = bucket_wait_ms(&m->notify, m->armed[EV_NOTIFY] ? 1 : EVENTS);
	ep_want(m, m->ntf_ep, EV_NOTIFY, nw ? 0 : EPOLLIN);
	return nw ? nw : -1;
}

static void notify_on(struct monitor *m, uint32_t events, uint64_t data)
{
	(void)events, (void)data;
	notify_events(m);
}

static void pending_on(struct monitor *m, uint32_t events, uint64_t data)
{
	(void)events;
	int i = (int)(data >> 8);
	if (m->pending[i] >= 0)
		sictl_read(m, i);
}

static int sictl_open(struct monitor *m)
{
	return m->ctx->sictl_fd;
}

/* While every pending slot is taken, further clients wait in the backlog. */
static int sictl_arm(struct monitor *m)
{
	if (m->ctx->sictl_fd >= 0)
		ep_want(m, m->ctx->sictl_fd, EV_SICTL, m->npending < SICTL_PENDING ? EPOLLIN : 0);
	return -1;
}

static void sictl_on(struct monitor *m, uint32_t events, uint64_t data)
{
	(void)events, (void)data;
	sictl_accept(m);
}

const struct mon_source mon_notify = { .kind = EV_NOTIFY, .open = notify_open, .arm = notify_arm, .on = notify_on };
/* One item per accepted connection (its slot above the kind), added at accept. */
const struct mon_source mon_pending = { .kind = EV_PEND, .on = pending_on, .each = true };
const struct mon_source mon_sictl = { .kind = EV_SICTL, .open = sictl_open, .arm = sictl_arm, .on = sictl_on };
