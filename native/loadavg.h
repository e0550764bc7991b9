/* The container's own load averages (config "loadavg_file", with "sysinfo_memcg"): sampled by
 * the monitor every 5 s from the tasks of the memory cgroup's subtree, written to the file for
 * vzlist's laverage and used for the loads of the sysinfo(2) answers. */
#ifndef CTSPAWN_LOADAVG_H
#define CTSPAWN_LOADAVG_H

#include <stdbool.h>
#include <stdint.h>

#include "sysinfo_virt.h"

#define LOADAVG_INTERVAL 5 /* seconds, like the kernel's LOAD_FREQ */

struct loadavg {
	int tfd;                  /* CLOCK_MONOTONIC timerfd, every LOADAVG_INTERVAL s; -1: off */
	const char *file;         /* where the samples go */
	unsigned long avenrun[3]; /* 1, 5, 15 min, fixed point with FSHIFT bits like the kernel's */
	bool own_file;            /* the file is ours to remove at teardown */
	bool failing;             /* one warning per streak of failed writes */
	uint64_t missed;          /* timer expirations not sampled yet */
	int64_t next_ns;          /* CLOCK_MONOTONIC: no sample before (a slow one defers the next) */
};

#define LOADAVG_OFF { .tfd = -1 }

/* Starts the timer and removes a stale file; sv->loads are the container's from now on (0
 * until the first sample). 0, or -1 (logged; then sysinfo keeps the host's loads). */
int loadavg_start(struct loadavg *la, const char *file, struct sysinfo_virt *sv);
/* The timer polled POLLIN: sample the tasks below sv->memcg, update the averages (once per
 * expiration, so a stalled monitor catches up), write the file and sv->loads. No allocation.
 * A sample that took long defers the next one to 20 times its duration after its start (the
 * missed expirations are folded in then, as after a stall): the container shapes the tree that
 * is walked, and sampling it may cost the monitor at most 5% of its time. */
void loadavg_tick(struct loadavg *la, struct sysinfo_virt *sv);
/* Closes the timer and removes the file if it is ours. */
void loadavg_stop(struct loadavg *la);

#endif
