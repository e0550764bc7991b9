/* The monitor's console: drains the pty master into the log (rotated) and a ring of recent
 * output, serves one client on the console socket (the ring replayed on attach), and writes
 * the client's keys to the master. Sources: the master, the client, the listening socket. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "monitor.h"
#include "protocol.h"
#include "util.h"

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

void client_detach(struct monitor *m)
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


/* Returns false when the master has nothing (more) to give. */
bool console_read(struct monitor *m)
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
	m->armed[EV_CLIENT] = EPOLLIN;
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

static int master_open(struct monitor *m)
{
	return m->ctx->master;
}

/* The master: read while the bucket holds a chunk's worth; written while the client's bytes
 * wait (that direction is the admin's, never throttled). */
static int master_arm(struct monitor *m)
{
	int cw = bucket_wait_ms(&m->console, IO_CHUNK);
	if (m->console_dead)
		return -1;
	ep_want(m, m->ctx->master, EV_MASTER, (cw ? 0 : EPOLLIN) | (m->in_len ? EPOLLOUT : 0));
	return cw ? cw : -1;
}

static void master_on(struct monitor *m, uint32_t re, uint64_t data)
{
	(void)data;
	if ((re & (EPOLLIN | EPOLLHUP | EPOLLERR)) && (m->armed[EV_MASTER] & EPOLLIN))
		console_read(m);
	if (m->in_len && (re & EPOLLOUT))
		console_write(m);
}

/* Backpressure: stop reading the client until the pty took the last chunk. */
static int client_arm(struct monitor *m)
{
	if (m->client >= 0)
		ep_want(m, m->client, EV_CLIENT, m->in_len ? 0 : EPOLLIN);
	return -1;
}

static void client_on(struct monitor *m, uint32_t re, uint64_t data)
{
	(void)data;
	if (m->client < 0)
		return;
	if (re & EPOLLIN)
		client_read(m);
	else if (re & (EPOLLHUP | EPOLLERR))
		client_detach(m);
	if (m->in_len)
		console_write(m);
}

static int listen_open(struct monitor *m)
{
	return m->ctx->listen_fd;
}

static void listen_on(struct monitor *m, uint32_t events, uint64_t data)
{
	(void)events, (void)data;
	client_accept(m);
}

const struct mon_source mon_master = { .kind = EV_MASTER, .open = master_open, .arm = master_arm, .on = master_on };
/* Added at accept (client_accept), not at start. */
const struct mon_source mon_client = { .kind = EV_CLIENT, .arm = client_arm, .on = client_on };
const struct mon_source mon_listen = { .kind = EV_LISTEN, .open = listen_open, .on = listen_on };
