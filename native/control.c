#include "control.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "json.h"
#include "protocol.h"
#include "util.h"

void ctl_open(struct ctl *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
}

void ctl_close(struct ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int ctl_fill(struct ctl *c)
{
	if (!c->buf) {
		/* +1 for the terminating NUL that ctl_take_line() writes over the '\n'. */
		c->buf = malloc(CTSPAWN_MAX_MSG + 1);
		if (!c->buf)
			return -1;
	}
	if (c->len >= CTSPAWN_MAX_MSG) {
		errno = EMSGSIZE;
		return -1;
	}
	ssize_t n = read_retry(c->fd, c->buf + c->len, CTSPAWN_MAX_MSG - c->len);
	if (n < 0)
		return -1;
	if (n == 0) {
		c->eof = true;
		return 0;
	}
	c->len += n;
	if (c->len >= CTSPAWN_MAX_MSG && !memchr(c->buf, '\n', c->len)) {
		errno = EMSGSIZE;
		return -1;
	}
	return 1;
}

char *ctl_take_line(struct ctl *c, size_t *len)
{
	if (!c->buf)
		return NULL;
	char *nl = memchr(c->buf, '\n', c->len);
	if (!nl)
		return NULL;
	size_t n = nl - c->buf;
	char *line = malloc(n + 1);
	if (!line)
		return NULL;
	memcpy(line, c->buf, n);
	line[n] = 0;
	c->len -= n + 1;
	memmove(c->buf, nl + 1, c->len);
	if (len)
		*len = n;
	return line;
}

static void send_line(struct ctl *c, const char *buf, long len)
{
	if (c->fd < 0 || len < 0)
		return;
	const char *p = buf;
	while (len > 0) {
		/* MSG_NOSIGNAL: node going away must not kill us; fall back to write() in case
		 * fd 3 is a pipe rather than the documented socketpair. */
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(c->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* the peer is gone; the next read sees EOF and handles it */
		}
		p += n;
		len -= n;
	}
}

void ctl_send_pid(struct ctl *c, const char *type, int pid)
{
	char buf[128];
	struct jw w;
	jw_begin(&w, buf, sizeof(buf));
	jw_str(&w, "t", type);
	jw_num(&w, "pid", pid);
	send_line(c, buf, jw_end(&w));
}

void ctl_send_error(struct ctl *c, int stage, int err, const char *msg)
{
	/* msg is at most a few hundred bytes; worst case every byte escapes to \u00XX. */
	char buf[2048];
	struct jw w;
	jw_begin(&w, buf, sizeof(buf));
	jw_str(&w, "t", "error");
	jw_num(&w, "stage", stage);
	jw_num(&w, "errno", err);
	jw_str(&w, "msg", msg);
	send_line(c, buf, jw_end(&w));
}

void ctl_send_log(struct ctl *c, const char *msg)
{
	char buf[2048];
	struct jw w;
	jw_begin(&w, buf, sizeof(buf));
	jw_str(&w, "t", "log");
	jw_str(&w, "msg", msg);
	send_line(c, buf, jw_end(&w));
}

const char *ctl_msg_type(const struct jobj *o)
{
	const struct jval *t = json_get(o, "t");
	return t && t->type == JT_STR ? t->s : NULL;
}
