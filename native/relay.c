/* Copies between the caller's stdio and what a command inside a container holds: a pty of the
 * container and/or pipes the helper made (relay.h). The caller's descriptors never reach the
 * container, so nothing there can type into the caller's terminal (TIOCSTI), read from it, or
 * reopen, seek or re-flag a host file that the caller redirected into, during the command or
 * after it. */
#include "relay.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#include "term.h"
#include "util.h"

/* Read after the command has ended: a process it left behind may write for ever. */
#define DRAIN_MAX (4u << 20)

struct out_stream {
	int src, dst;
};

void relay_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
	sigaddset(set, SIGWINCH);
	sigaddset(set, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		die_(EXIT_HELPER_FAILED, "sigprocmask");
}

/* write_all() that also waits when the caller gave us a non-blocking descriptor (a shared
 * open file description that someone else made O_NONBLOCK: ours to use, not to change). */
static int write_out(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -1;
			struct pollfd q = { .fd = fd, .events = POLLOUT };
			if (poll(&q, 1, -1) < 0 && errno != EINTR)
				return -1;
			continue;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* Moves what s->src has now to s->dst: the byte count, 0 when there is nothing now, -1 when
 * the stream is done (EOF; EIO from a pty master whose slaves are all closed; nobody reads
 * dst). A pipe is closed then, so a writer inside gets EPIPE as it would from the caller's. */
static ssize_t pump(struct out_stream *s, int master)
{
	char buf[65536];
	ssize_t n = read(s->src, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n > 0 && write_out(s->dst, buf, n) == 0)
		return n;
	if (s->src != master)
		close(s->src);
	s->src = -1;
	return -1;
}

static int wait_status(int st)
{
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void pass_signal(const struct relay *r, pid_t child, int sig)
{
	/* After setsid() the command leads its own process group. */
	if (!r->to_group || kill(-child, sig) < 0)
		kill(child, sig);
}

int relay_run(struct relay *r, pid_t child, int sigfd)
{
	struct out_stream outs[3] = {
		{ r->master, r->master_out },
		{ r->out, STDOUT_FILENO },
		{ r->err, STDERR_FILENO },
	};
	/* Our stdin goes to the stdin pipe, or else to the pty (enter, or exec on a terminal). */
	int in_dst = r->in >= 0 ? r->in : r->master;
	bool stdin_open = in_dst >= 0;
	char in[4096];
	size_t in_off = 0, in_len = 0;
	long long deadline = r->timeout_ms > 0 ? now_ms() + r->timeout_ms : 0;
	bool timed_out = false;
	int st = 0;

	for (bool running = true; running;) {
		/* EOF from our stdin: the pipe's EOF once the buffer is written. */
		if (!stdin_open && !in_len && in_dst >= 0 && in_dst != r->master) {
			close(in_dst);
			in_dst = -1;
		}
		struct pollfd p[6] = {
			{ .fd = sigfd, .events = POLLIN },
			{ .fd = stdin_open && !in_len ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = in_len ? in_dst : -1, .events = POLLOUT },
			{ .fd = outs[0].src, .events = POLLIN },
			{ .fd = outs[1].src, .events = POLLIN },
			{ .fd = outs[2].src, .events = POLLIN },
		};
		int ms = -1;
		if (deadline) {
			long long left = deadline - now_ms();
			if (left <= 0) {
				/* Nothing inside may keep vzkit's own commands (and a lock) waiting. */
				warnx_("the command did not end within %ld ms: killed", r->timeout_ms);
				kill(-child, SIGKILL);
				kill(child, SIGKILL);
				timed_out = true;
				break;
			}
			ms = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		if (poll(p, 6, ms) < 0) {
			if (errno == EINTR)
				continue;
			die_(EXIT_HELPER_FAILED, "poll");
		}
		if (p[1].revents) {
			ssize_t n = read(STDIN_FILENO, in, sizeof(in));
			if (n > 0) {
				in_off = 0;
				in_len = n;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				stdin_open = false;
				if (in_dst == r->master) {
					/* A program on a pty cannot see our EOF; its EOF character is the
					 * equivalent (at the start of a line in canonical mode). */
					struct termios t;
					in[0] = tcgetattr(r->master, &t) == 0 ? t.c_cc[VEOF] : 4;
					in_off = 0;
					in_len = 1;
				}
			}
		}
		if (in_len && in_dst >= 0 && (p[2].revents || p[1].revents)) {
			ssize_t n = write(in_dst, in + in_off, in_len - in_off);
			if (n >= 0) {
				in_off += n;
				if (in_off == in_len)
					in_off = in_len = 0;
			} else if (errno != EAGAIN && errno != EINTR) {
				/* The command closed its stdin (or the pty is gone): read no more of
				 * ours, so that it stays for whoever reads it next. */
				in_off = in_len = 0;
				stdin_open = false;
			}
		}
		for (int i = 0; i < 3; i++)
			if (p[3 + i].revents)
				pump(&outs[i], r->master);
		if (!(p[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		while (read_retry(sigfd, &si, sizeof(si)) == sizeof(si)) {
			int sig = si.ssi_signo;
			if (sig == SIGCHLD) {
				if (waitpid(child, &st, WNOHANG) == child)
					running = false;
			} else if (sig == SIGWINCH) {
				if (r->tty)
					term_copy_winsize(STDIN_FILENO, r->master);
			} else if (sig != SIGPIPE) {
				pass_signal(r, child, sig);
			}
		}
	}

	/* What the command wrote before it ended is readable now (a pty master read also flushes
	 * the pty's pending buffer). Then stop: processes it left behind may hold the write ends
	 * for ever, and they must keep neither us nor the caller waiting. */
	size_t drained = 0;
	for (int i = 0; i < 3; i++) {
		ssize_t n;
		while (outs[i].src >= 0 && drained < DRAIN_MAX && (n = pump(&outs[i], r->master)) > 0)
			drained += n;
		if (outs[i].src >= 0 && outs[i].src != r->master)
			close(outs[i].src);
	}
	if (in_dst >= 0 && in_dst != r->master)
		close(in_dst);
	if (r->master >= 0)
		close(r->master);
	close(sigfd);
	term_restore();
	return timed_out ? EXIT_TIMED_OUT : wait_status(st);
}
