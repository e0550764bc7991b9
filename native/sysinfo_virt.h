/* The monitor's answer to sysinfo(2) from inside a container (config "sysinfo_memcg"): the
 * container's memory cgroup instead of the host's RAM. The notification plumbing is in
 * seccomp_notify.c. */
#ifndef CTSPAWN_SYSINFO_VIRT_H
#define CTSPAWN_SYSINFO_VIRT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/sysinfo.h>
#include <sys/types.h>

/* Listeners the monitor answers on: init's (from stage 5) and one per process tree that
 * "ctspawn exec/enter --sysinfo-ctl" started (registered over the .ctl socket). A listener is
 * dropped when it polls POLLHUP: no task uses its filter any more. A tree that leaves a process
 * behind keeps its listener for as long as that process lives (its sysinfo calls still need an
 * answer), so the table grows as needed, up to SYSINFO_LISTENERS_MAX (less when the monitor's
 * RLIMIT_NOFILE is lower): each listener kept stands for at least one unreaped task of the
 * container (or a running exec helper), which costs the container a pid and far more kernel
 * memory than the listener costs the host (a file, its dentry, an epoll item and the notification state: about
 * 0.6 KiB; the filter itself, ~7 KiB with its BPF image, is pinned by the tasks anyway). */
#define SYSINFO_LISTENERS_MAX 4096

struct sysinfo_listener {
	int fd;       /* -1: free slot */
	uint32_t gen; /* bumped at every reuse of the slot: tells a stale event from a fresh one */
};

struct sysinfo_virt {
	int memcg;           /* the memory cgroup directory (O_RDONLY|O_DIRECTORY), -1 when off */
	int cgver;           /* 1 or 2 */
	struct sysinfo_listener *listeners; /* nslots of them, grown by doubling */
	int nslots;          /* allocated */
	int nlisteners;      /* slots in use */
	int max;             /* the cap: SYSINFO_LISTENERS_MAX or what RLIMIT_NOFILE allows */
	uint64_t init_start; /* init's start in clock ticks after boot (/proc/PID/stat field 22) */
	bool failing;        /* one warning per streak of failures */
	bool foreign_warned; /* a notification that was not a native sysinfo was logged */
	struct sysinfo cache; /* the cgroup figures of the last call ... */
	int64_t cached_at;    /* ... and when (CLOCK_MONOTONIC ns, 0: never) ... */
	int64_t cache_ns;     /* ... and for how long they are reused (see sysinfo_virt_fill) */
	bool own_loads;       /* loads[] below replace the host's (loadavg.c samples them) */
	unsigned long loads[3]; /* 1, 5, 15 min, fixed point with SI_LOAD_SHIFT like sysinfo(2) */
};

#define SYSINFO_VIRT_OFF { .memcg = -1, .max = SYSINFO_LISTENERS_MAX }

/* Records init's start time for the uptime figure; falls back to the host's uptime. */
void sysinfo_virt_start(struct sysinfo_virt *v, pid_t init_pid);
/* Fills *out from the cgroup; 0 or -1 (then the caller lets the real syscall run). Figures
 * younger than 10 ms, or than 50 times what the last reading of the cgroup files took, are
 * reused (the uptime is always fresh): a burst of calls costs the monitor the notification
 * round trip only, and the file reads at most 2% of its time. */
int sysinfo_virt_fill(struct sysinfo_virt *v, struct sysinfo *out);
/* Makes sure that `more` further listeners will fit (grows the table): 0, or -1 with errno
 * ENOSPC (the cap) or ENOMEM. */
int sysinfo_virt_reserve(struct sysinfo_virt *v, int more);
/* Takes over a listener fd: its slot, or -1 (fd left open) when the table is full (ENOSPC) or
 * cannot grow (ENOMEM); never fails after a successful sysinfo_virt_reserve for it. */
int sysinfo_virt_add(struct sysinfo_virt *v, int listener);
/* Closes the listener in slot and frees the slot. */
void sysinfo_virt_drop(struct sysinfo_virt *v, int slot);
/* A listener polled POLLIN: answer one notification. Any failure lets the real syscall run
 * (the container sees the host's figures rather than an error). A notification that is not a
 * native sysinfo (a container's own USER_NOTIF filter, given a listener by a restore) is
 * answered ENOSYS, what the kernel answers for a filter without a listener. No allocation. */
void sysinfo_virt_handle(struct sysinfo_virt *v, int listener);
/* Calls fn(dir_fd, arg) for dir and every directory below it (bounded depth, no symlinks
 * followed, nothing allocated): the container's cgroup subtree. dir's offset is rewound. */
void cgroup_tree_walk(int dir, void (*fn)(int dir_fd, void *arg), void *arg);
/* Closes every listener, frees the table and closes the cgroup fd (before the cgroup is
 * removed). */
void sysinfo_virt_close(struct sysinfo_virt *v);

#endif
