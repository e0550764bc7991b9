/* The workload of the CRIU tests, built static into the container: "counter FILE" appends
 * "N MS\n" every 100 ms (N counts up from 1, MS is CLOCK_REALTIME in ms); "mem FILE MIB" fills
 * MIB MiB with a fixed pseudo-random pattern and writes the FNV-1a checksum of that memory to
 * FILE at start and on every SIGUSR1 (recomputed from memory, so a restore that lost or
 * changed a page shows). "shm KEY TEXT" makes a SysV shm segment with that key in its ipc
 * namespace, writes TEXT into it and stays attached; "shmcat KEY" prints "SHMID TEXT" of it.
 * "watchlink PATH FILE" puts an inotify watch on PATH itself (IN_DONT_FOLLOW: a symlink, as
 * systemd's PID 1 watches /etc/localtime), appends "watching" to FILE, then "event MASK" for each
 * event. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t again;
static void on_usr1(int s) { (void)s; again = 1; }

static void write_sum(const char *file, const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
	FILE *f = fopen(file, "w");
	if (f) { fprintf(f, "%016llx %d\n", (unsigned long long)h, getpid()); fclose(f); }
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "shmcat") == 0) {
		int id = shmget((key_t)atol(argv[2]), 0, 0);
		char *p = id < 0 ? (char *)-1 : shmat(id, NULL, SHM_RDONLY);
		if (p == (char *)-1) { perror("shm"); return 1; }
		printf("%d %.*s\n", id, 4096, p);
		return 0;
	}
	setsid();
	if (argc >= 4 && strcmp(argv[1], "shm") == 0) {
		int id = shmget((key_t)atol(argv[2]), 4096, IPC_CREAT | IPC_EXCL | 0600);
		char *p = id < 0 ? (char *)-1 : shmat(id, NULL, 0);
		if (p == (char *)-1) { perror("shm"); return 1; }
		snprintf(p, 4096, "%s", argv[3]);
		for (;;) pause();
	}
	if (argc >= 4 && strcmp(argv[1], "watchlink") == 0) {
		int fd = inotify_init1(0);
		if (fd < 0 || inotify_add_watch(fd, argv[2], IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVE_SELF | IN_DONT_FOLLOW) < 0) { perror("inotify"); return 1; }
		FILE *f = fopen(argv[3], "a");
		if (f) { fprintf(f, "watching\n"); fclose(f); }
		char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		for (;;) {
			ssize_t n = read(fd, buf, sizeof(buf));
			for (char *p = buf; n > 0 && p < buf + n;) {
				const struct inotify_event *e = (const struct inotify_event *)p;
				if ((f = fopen(argv[3], "a"))) { fprintf(f, "event %x\n", e->mask); fclose(f); }
				p += sizeof(*e) + e->len;
			}
		}
	}
	if (argc >= 3 && strcmp(argv[1], "counter") == 0) {
		for (long n = 1;; n++) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			FILE *f = fopen(argv[2], "a");
			if (f) { fprintf(f, "%ld %lld\n", n, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000); fclose(f); }
			usleep(100000);
		}
	}
	if (argc >= 4 && strcmp(argv[1], "mem") == 0) {
		size_t n = (size_t)atol(argv[3]) << 20;
		uint8_t *p = malloc(n);
		if (!p) return 1;
		uint32_t x = 12345;
		for (size_t i = 0; i < n; i++) { x = x * 1103515245 + 12345; p[i] = x >> 16; }
		signal(SIGUSR1, on_usr1);
		write_sum(argv[2], p, n);
		for (;;) {
			pause();
			if (again) { again = 0; write_sum(argv[2], p, n); }
		}
	}
	return 2;
}
