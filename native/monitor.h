/* The monitor's parts (monitor.c runs the loop; see there): what they share. Internal to the
 * monitor_*.c files. */
#ifndef CTSPAWN_MONITOR_H
#define CTSPAWN_MONITOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "ctspawn.h"

#define LOG_ROTATE_SIZE (1 << 20)
#define RING_SIZE (16 << 10)
#define IO_CHUNK 4096
#define SICTL_PENDING 8 /* .ctl clients that have a slot reserved but not sent their listener */
/* The console token bucket: bytes per second sustained, and the burst (a boot's messages,
 * a screenful after a quiet spell) read at full speed. A 9600 baud line gives ~1 KiB/s. */
#define CONSOLE_RATE (64 << 10)
#define CONSOLE_BURST (256 << 10)
/* The sysinfo answers' bucket: notifications per second sustained, and the burst. An answer
 * costs the monitor ~10-20 us (an /proc/PID/mem open and write), so this bounds a tenant
 * that calls sysinfo(2) in a loop to a few percent of a core. */
#define NOTIFY_RATE 1000
#define NOTIFY_BURST 1000
#define EVENTS 32

/* What an epoll event is about (the low byte of its data; above it an index and a gen). */
enum { EV_SIG = 1, EV_MASTER, EV_LISTEN, EV_CLIENT, EV_CTL, EV_SICTL, EV_LOAD, EV_PEND, EV_NOTIFY, EV_COUNT };

/* A token bucket: `tokens` refill at rate per second up to burst. */
struct bucket {
	double tokens;
	int64_t at; /* CLOCK_MONOTONIC ns of the last refill */
	double rate, burst;
};

struct monitor {
	struct start_ctx *ctx;
	int client;             /* attached console client or -1 */
	char *ring;             /* recent console output, replayed on attach */
	size_t ring_pos, ring_len;
	off_t log_size;
	char *log_old;          /* console_log + ".1" */
	bool log_failing;       /* rate-limits log-write warnings to one per failure streak */
	char in[1024];          /* client bytes the pty master did not take yet */
	size_t in_off, in_len;
	int pending[SICTL_PENDING]; /* accepted .ctl connections, -1: free */
	int npending;
	bool sictl_full;        /* one warning per streak of refused registrations */
	int ep;                 /* epoll of everything; the listeners through ntf_ep */
	int ntf_ep;             /* epoll of the sysinfo listeners, itself one item of ep */
	uint32_t armed[EV_COUNT]; /* per kind: the events registered for it now */
	bool console_dead;      /* the master failed: not polled any more */
	struct bucket console;  /* bytes */
	struct bucket notify;   /* notifications */
};

/* One event source of the monitor: monitor.c's table lists them in the order their events are
 * handled in each round. */
struct mon_source {
	int kind; /* EV_*: what its epoll items carry in the low byte of their data */
	/* At start: the fd to watch for EPOLLIN from now on, or -1 (none, or not in this run). */
	int (*open)(struct monitor *m);
	/* Before each wait: registers what it wants now (ep_want); the ms until it wants another
	 * look whatever happens (a bucket refilling), or -1. */
	int (*arm)(struct monitor *m);
	/* Its events: with the first of its items in the batch, or with each (each). */
	void (*on)(struct monitor *m, uint32_t events, uint64_t data);
	bool each;
};

/* monitor.c */
void ep_want(struct monitor *m, int fd, int kind, uint32_t events);

/* monitor_console.c: the console (pty master, log, ring) and its one client */
extern const struct mon_source mon_master, mon_client, mon_listen;
bool console_read(struct monitor *m);
void client_detach(struct monitor *m);

/* monitor_sysinfo.c: the sysinfo listeners and the .ctl socket that registers more */
extern const struct mon_source mon_notify, mon_pending, mon_sictl;
void fit_fd_limit(struct monitor *m);

/* monitor_control.c: the control channel until "detach" */
extern const struct mon_source mon_control;

/* monitor_signals.c: signals, and reaping init */
extern const struct mon_source mon_signal;
void reap(struct monitor *m);

/* monitor_teardown.c: the end of init, and everything torn down after it */
noreturn void init_ended(struct monitor *m, int st);

static inline int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void bucket_init(struct bucket *b, double rate, double burst)
{
	*b = (struct bucket){ .tokens = burst, .at = mono_ns(), .rate = rate, .burst = burst };
}

static inline void bucket_refill(struct bucket *b, int64_t now)
{
	b->tokens += (double)(now - b->at) / 1e9 * b->rate;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->at = now;
}

/* 0 when `want` tokens are there, else the ms until they will be (at least 1). */
static inline int bucket_wait_ms(const struct bucket *b, double want)
{
	if (b->tokens >= want)
		return 0;
	return (int)((want - b->tokens) / b->rate * 1000) + 1;
}

#endif
