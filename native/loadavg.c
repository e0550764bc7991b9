/* Per-container load averages, like OpenVZ's (vzlist laverage) and computed exactly as the
 * kernel computes the host's (kernel/sched/loadavg.c): every 5 s the number of active tasks
 * (state R or D) is folded into three exponentially damped averages in FSHIFT fixed point.
 *
 *   tasks      every tid in the tasks (v1) / cgroup.threads (v2) file of the memory cgroup dir
 *              and of every cgroup below it (the container may create its own): threads, as
 *              the kernel counts them
 *   state      /proc/TID/stat, the field after the comm, found from the LAST ')' (a comm may
 *              hold spaces and parentheses)
 *   file       "L1 L5 L15 RUNNING/TOTAL\n" like the first four fields of /proc/loadavg: two
 *              decimals rounded as the kernel rounds them, RUNNING the tasks in state R,
 *              TOTAL all tasks; replaced atomically (FILE.tmp, rename) after every sample
 */
#include "loadavg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* The kernel's constants (include/linux/sched/loadavg.h): 1/exp(5s/1min) etc. in FSHIFT bits. */
#define FSHIFT 11
#define FIXED_1 (1UL << FSHIFT)
#define EXP_1 1884UL
#define EXP_5 2014UL
#define EXP_15 2037UL
#define LOAD_INT(x) ((x) >> FSHIFT)
#define LOAD_FRAC(x) LOAD_INT(((x) & (FIXED_1 - 1)) * 100)
#define MAX_CATCHUP 1024 /* expirations folded in after a stall; more changes nothing visible */
#define SAMPLE_COST_SHARE 20 /* a sample may take 1/20 of the time until the next one */

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const unsigned long exps[3] = { EXP_1, EXP_5, EXP_15 };

struct sample {
	const char *file; /* "tasks" or "cgroup.threads" */
	unsigned long running, active, total;
};

/* calc_load() of the kernel: active is the task count times FIXED_1. */
static unsigned long calc_load(unsigned long load, unsigned long exp, unsigned long active)
{
	unsigned long newload = load * exp + active * (FIXED_1 - exp);
	if (active >= load)
		newload += FIXED_1 - 1;
	return newload / FIXED_1;
}

/* The state letter of a task, 0 when it is gone (or unreadable). */
static char task_state(unsigned long tid)
{
	char path[32], buf[256];
	snprintf(path, sizeof(path), "/proc/%lu/stat", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	/* "TID (COMM) S ...": COMM is at most 64 bytes, so the state is in the first 256. */
	ssize_t n = read_retry(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return 0;
	const char *p = memrchr(buf, ')', n);
	if (!p || buf + n - p < 3 || p[1] != ' ')
		return 0;
	return p[2];
}

static void count_task(struct sample *s, unsigned long tid)
{
	char st = task_state(tid);
	if (!st)
		return; /* exited since the tasks file was read */
	s->total++;
	if (st == 'R')
		s->running++;
	if (st == 'R' || st == 'D')
		s->active++;
}

/* One cgroup dir: every tid in its tasks file. */
static void sample_dir(int dir, void *arg)
{
	struct sample *s = arg;
	int fd = openat(dir, s->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	char buf[4096];
	unsigned long tid = 0;
	bool digits = false;
	for (;;) {
		ssize_t n = read_retry(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		/* A number may span two reads: it ends at its newline only. */
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] >= '0' && buf[i] <= '9') {
				tid = tid * 10 + (buf[i] - '0');
				digits = true;
			} else {
				if (digits)
					count_task(s, tid);
				tid = 0;
				digits = false;
			}
		}
	}
	if (digits)
		count_task(s, tid);
	close(fd);
}

int loadavg_start(struct loadavg *la, const char *file, struct sysinfo_virt *sv)
{
	la->file = file;
	la->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct itimerspec its = { .it_interval = { LOADAVG_INTERVAL, 0 }, .it_value = { LOADAVG_INTERVAL, 0 } };
	if (la->tfd < 0 || timerfd_settime(la->tfd, 0, &its, NULL) < 0) {
		warn_("loadavg: timerfd (no load averages; sysinfo shows the host's)");
		if (la->tfd >= 0)
			close(la->tfd);
		la->tfd = -1;
		return -1;
	}
	/* A file left by an earlier run of the container would show its figures until the first
	 * sample. */
	if (unlink(file) < 0 && errno != ENOENT)
		warn_("loadavg: unlink stale %s", file);
	la->own_file = true;
	memset(la->avenrun, 0, sizeof(la->avenrun));
	memset(sv->loads, 0, sizeof(sv->loads));
	sv->own_loads = true;
	return 0;
}

void loadavg_tick(struct loadavg *la, struct sysinfo_virt *sv)
{
	uint64_t expirations;
	if (read_retry(la->tfd, &expirations, sizeof(expirations)) != sizeof(expirations) || !expirations)
		return; /* EAGAIN: nothing expired after all */
	if (sv->memcg < 0)
		return;
	la->missed += expirations;
	int64_t start = mono_ns();
	if (start < la->next_ns)
		return;
	expirations = la->missed;
	la->missed = 0;
	struct sample s = { .file = sv->cgver == 1 ? "tasks" : "cgroup.threads" };
	cgroup_tree_walk(sv->memcg, sample_dir, &s);
	la->next_ns = start + (mono_ns() - start) * SAMPLE_COST_SHARE;

	unsigned long active = s.active * FIXED_1;
	if (expirations > MAX_CATCHUP)
		expirations = MAX_CATCHUP;
	for (uint64_t k = 0; k < expirations; k++)
		for (int i = 0; i < 3; i++)
			la->avenrun[i] = calc_load(la->avenrun[i], exps[i], active);
	/* sysinfo(2): the same figures shifted to SI_LOAD_SHIFT (kernel: get_avenrun(.., 0, 5)). */
	for (int i = 0; i < 3; i++)
		sv->loads[i] = la->avenrun[i] << (SI_LOAD_SHIFT - FSHIFT);

	/* /proc/loadavg: rounded to two decimals (kernel: get_avenrun(.., FIXED_1/200, 0)). */
	unsigned long r[3];
	for (int i = 0; i < 3; i++)
		r[i] = la->avenrun[i] + FIXED_1 / 200;
	char line[128];
	int n = snprintf(line, sizeof(line), "%lu.%02lu %lu.%02lu %lu.%02lu %lu/%lu\n", LOAD_INT(r[0]),
			 LOAD_FRAC(r[0]), LOAD_INT(r[1]), LOAD_FRAC(r[1]), LOAD_INT(r[2]), LOAD_FRAC(r[2]),
			 s.running, s.total);
	if (write_file_atomic(la->file, line, n) < 0) {
		if (!la->failing)
			warn_("loadavg: write %s", la->file);
		la->failing = true;
		return;
	}
	la->failing = false;
}

void loadavg_stop(struct loadavg *la)
{
	if (la->tfd >= 0)
		close(la->tfd);
	la->tfd = -1;
	if (!la->own_file)
		return;
	la->own_file = false;
	if (unlink(la->file) < 0 && errno != ENOENT)
		warn_("unlink %s", la->file);
	char tmp[PATH_MAX]; /* left by a monitor killed while writing */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", la->file) < sizeof(tmp))
		unlink(tmp);
}
