/* "ctspawn console SOCKET": attach the terminal to a monitor's console socket.
 * Esc followed by '.' detaches. Without a tty on stdin it proxies plainly, which is what
 * scripts and tests use: printf 'echo hi\n' | ctspawn console SOCK */
#include <errno.h>
#include <stdnoreturn.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "protocol.h"
#include "term.h"
#include "util.h"

#define ESC 0x1b
/* A lone Esc is held back to see whether '.' follows; after this long it is sent on its
 * own, so Esc still works promptly enough in editors. */
#define ESC_HOLD_MS 1000
/* After stdin ends (non-interactive use), keep printing output until it has been quiet
 * this long, so the answer to the last command still arrives; capped in total. */
#define LINGER_IDLE_MS 500
#define LINGER_MAX_MS 5000

static const char busy_msg[] = "console is busy\r\n";

static void say(const char *s)
{
	(void)!write(STDERR_FILENO, s, strlen(s));
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int connect_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		diex_(EXIT_HELPER_FAILED, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die_(EXIT_HELPER_FAILED, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die_(EXIT_HELPER_FAILED, "connect %s", path);
	return fd;
}

static void send_all(int sock, const char *p, size_t n)
{
	if (n && write_all(sock, p, n) < 0) {
		term_restore();
		say("\r\nContainer console closed.\r\n");
		exit(0);
	}
}

static noreturn void detach(void)
{
	term_restore();
	say("\r\nDetached.\r\n");
	exit(0);
}

int cmd_console(int argc, char **argv)
{
	if (argc != 2)
		diex_(EXIT_HELPER_FAILED, "usage: ctspawn console SOCKET");
	int sock = connect_socket(argv[1]);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		die_(EXIT_HELPER_FAILED, "sigprocmask");
	int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sigfd < 0)
		die_(EXIT_HELPER_FAILED, "signalfd");

	term_raw(STDIN_FILENO);
	say("Attached to CT console. Press Esc then . to detach.\r\n");

	bool stdin_open = true, esc_held = false, first = true;
	long esc_at = 0, eof_at = 0, last_out = 0;
	for (;;) {
		int timeout = -1;
		long now = now_ms();
		if (esc_held)
			timeout = esc_at + ESC_HOLD_MS - now;
		if (!stdin_open) {
			long t = last_out + LINGER_IDLE_MS - now;
			if (eof_at + LINGER_MAX_MS - now < t)
				t = eof_at + LINGER_MAX_MS - now;
			if (timeout < 0 || t < timeout)
				timeout = t;
		}
		if (timeout < -1)
			timeout = 0;
		struct pollfd p[3] = {
			{ .fd = sock, .events = POLLIN },
			{ .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = sigfd, .events = POLLIN },
		};
		int r = poll(p, 3, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die_(EXIT_HELPER_FAILED, "poll");
		}
		now = now_ms();
		if (p[2].revents & POLLIN)
			detach(); /* SIGTERM/SIGINT/SIGHUP: leave the container running, restore the tty */
		if (p[0].revents) {
			char buf[4096];
			ssize_t n = read_retry(sock, buf, sizeof(buf));
			if (n <= 0) {
				term_restore();
				say("\r\nContainer console closed.\r\n");
				return 0;
			}
			/* The monitor serves one client; a second one gets this line and EOF. */
			if (first && (size_t)n == sizeof(busy_msg) - 1 && memcmp(buf, busy_msg, n) == 0) {
				term_restore();
				diex_(1, "console is busy (another client is attached)");
			}
			first = false;
			last_out = now;
			if (write_all(STDOUT_FILENO, buf, n) < 0)
				detach();
		}
		if (p[1].revents) {
			char in[4096], out[4097];
			ssize_t n = read_retry(STDIN_FILENO, in, sizeof(in));
			if (n <= 0) {
				stdin_open = false;
				eof_at = last_out = now;
				continue;
			}
			size_t o = 0;
			for (ssize_t i = 0; i < n; i++) {
				unsigned char c = in[i];
				if (esc_held) {
					esc_held = false;
					if (c == '.') {
						send_all(sock, out, o);
						detach();
					}
					out[o++] = ESC;
				}
				if (c == ESC) {
					esc_held = true;
					esc_at = now;
				} else {
					out[o++] = c;
				}
			}
			send_all(sock, out, o);
		} else if (r == 0 || (esc_held && now - esc_at >= ESC_HOLD_MS)) {
			if (esc_held && now - esc_at >= ESC_HOLD_MS) {
				esc_held = false;
				send_all(sock, "\x1b", 1);
			}
			if (!stdin_open && (now - last_out >= LINGER_IDLE_MS || now - eof_at >= LINGER_MAX_MS)) {
				term_restore();
				say("\r\nDetached.\r\n");
				return 0;
			}
		}
	}
}
