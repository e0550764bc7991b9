/* sysinfo(2) in a loop from 2 threads (sysinfo-restore.test.ts): some call is always waiting for
 * the monitor's answer when the container is frozen, so a checkpoint catches callers blocked in
 * the notification. Every 100 ms it writes to OUT (atomically through OUT.tmp):
 *   calls=N bad=N wrong=N errno=E
 * bad: calls that failed (E the last errno), wrong: totalram other than EXPECT bytes.
 *   sysinfo-loop OUT EXPECT
 * Static, so that it runs in a busybox root. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static unsigned long calls, bad, wrong, last_errno, expect;

static void *loop(void *arg)
{
	struct sysinfo si;
	for (;;) {
		int r = sysinfo(&si);
		__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
		if (r < 0) {
			__atomic_store_n(&last_errno, (unsigned long)errno, __ATOMIC_RELAXED);
			__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
		} else if ((unsigned long)si.totalram * si.mem_unit != expect) {
			__atomic_add_fetch(&wrong, 1, __ATOMIC_RELAXED);
		}
	}
	return arg;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: sysinfo-loop OUT EXPECT\n");
		return 2;
	}
	expect = strtoul(argv[2], NULL, 10);
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	pthread_t t;
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t, NULL, loop, NULL) != 0)
			return 1;
	for (;;) {
		FILE *f = fopen(tmp, "w");
		if (f) {
			fprintf(f, "calls=%lu bad=%lu wrong=%lu errno=%lu\n", __atomic_load_n(&calls, __ATOMIC_RELAXED),
				__atomic_load_n(&bad, __ATOMIC_RELAXED), __atomic_load_n(&wrong, __ATOMIC_RELAXED),
				__atomic_load_n(&last_errno, __ATOMIC_RELAXED));
			fclose(f);
			rename(tmp, argv[1]);
		}
		usleep(100000);
	}
}
