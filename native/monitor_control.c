/* The control channel after "running" (protocol.h): "detach" or EOF ends it, anything else
 * aborts the container. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "monitor.h"
#include "protocol.h"
#include "util.h"

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

static int control_open(struct monitor *m)
{
	return m->ctx->ctl.fd;
}

static void control_on(struct monitor *m, uint32_t events, uint64_t data)
{
	(void)events, (void)data;
	if (m->ctx->ctl.fd >= 0)
		on_control(m);
}

const struct mon_source mon_control = { .kind = EV_CTL, .open = control_open, .on = control_on };
