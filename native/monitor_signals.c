/* The monitor's signals (blocked, read from a signalfd): SIGCHLD reaps, and init's end ends
 * the monitor (monitor_teardown.c); SIGPIPE is nothing; any other is logged and ignored. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include "monitor.h"
#include "util.h"

void reap(struct monitor *m)
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

static int signal_open(struct monitor *m)
{
	return m->ctx->sigfd;
}

static void signal_on(struct monitor *m, uint32_t events, uint64_t data)
{
	(void)events, (void)data;
	on_signal(m);
}

const struct mon_source mon_signal = { .kind = EV_SIG, .open = signal_open, .on = signal_on };
