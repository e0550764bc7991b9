/* sysinfo(2) figures for a container, computed from its memory cgroup (reused for 10 ms, so a
 * limit changed at run time shows at once and a burst of calls reads the files once; for longer
 * when reading them took long: 50 times that, so the reads cost at most 2% of the monitor's
 * time however many sub-cgroups the container makes).
 *
 *   totalram   the memory limit (v1 memory.stat hierarchical_memory_limit, i.e. the lowest
 *              limit up the tree; v2 memory.max of the dir itself), the host's RAM when
 *              unlimited or larger
 *   freeram    totalram - usage (v1 memory.usage_in_bytes, v2 memory.current; both include
 *              page cache). This is the kernel's meaning of "free" and the MemFree that LXCFS
 *              shows in the same container's /proc/meminfo: BusyBox free computes "used" as
 *              totalram - freeram - bufferram - Cached (from /proc/meminfo), so subtracting
 *              the cache here as well would count it twice.
 *   sharedram  shmem of the cgroup (v1 total_shmem)
 *   bufferram  0 (block device buffers have no per-cgroup figure)
 *   totalswap  v1: memsw limit - memory limit; v2: memory.swap.max; the host's when unlimited,
 *              never more than the host's. Without swap accounting: the host's (total and free)
 *   freeswap   totalswap - swap in use (v1 memory.stat total_swap, v2 memory.swap.current)
 *   procs      tasks (threads, as the kernel counts) in the cgroup and below: v2 pids.current
 *              when the pids controller is on there, else the lines of every tasks (v1) or
 *              cgroup.threads (v2) file in the subtree
 *   uptime     seconds since the container's init started
 *   loads      the container's own 1, 5 and 15 min load averages when the monitor samples them
 *              (config loadavg_file, native/loadavg.c; 0 until the first sample), else the host's
 *   mem_unit   1
 */
#include "sysinfo_virt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "seccomp_notify.h"
#include "util.h"

#define STAT_BUF 8192
#define MAX_DEPTH 16
#define UNLIMITED UINT64_MAX
#define CACHE_MIN_NS (10 * 1000000) /* figures are reused for 10 ms at least ... */
#define CACHE_COST_SHARE 50         /* ... and for 50 times what reading them took */

/* Reads a whole (small) file below dir into buf, NUL-terminated; -1 when it cannot. */
static ssize_t read_at(int dir, const char *name, char *buf, size_t size)
{
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	size_t len = 0;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = 0;
	return len;
}

/* A decimal number or "max" (UNLIMITED) at s, followed by whitespace or the end. */
static int parse_u64(const char *s, uint64_t *out)
{
	if (strncmp(s, "max", 3) == 0 && (s[3] == 0 || s[3] == '\n' || s[3] == ' ')) {
		*out = UNLIMITED;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || (*end && *end != '\n' && *end != ' '))
		return -1;
	*out = v;
	return 0;
}

static int read_u64(int dir, const char *name, uint64_t *out)
{
	char buf[64];
	if (read_at(dir, name, buf, sizeof(buf)) < 0)
		return -1;
	return parse_u64(buf, out);
}

/* The value of "KEY N" in a flat keyed file such as memory.stat. */
static int keyed(const char *text, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return parse_u64(p + kl + 1, out);
	}
	return -1;
}

static unsigned long count_lines_at(int dir, const char *name)
{
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	char buf[4096];
	unsigned long lines = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (char *p = buf; (p = memchr(p, '\n', buf + n - p)); p++)
			lines++;
	}
	close(fd);
	return lines;
}

static void walk(int dir, void (*fn)(int, void *), void *arg, int depth)
{
	fn(dir, arg);
	if (depth >= MAX_DEPTH || lseek(dir, 0, SEEK_SET) < 0)
		return;
	char buf[1024] __attribute__((aligned(8)));
	for (;;) {
		ssize_t got = getdents64(dir, buf, sizeof(buf));
		if (got <= 0)
			break;
		for (ssize_t off = 0; off < got;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			if (d->d_type != DT_DIR || strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
				continue;
			int sub = openat(dir, d->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (sub < 0)
				continue; /* removed meanwhile */
			walk(sub, fn, arg, depth + 1);
			close(sub);
		}
	}
}

/* getdents64 rather than readdir so that nothing is allocated. */
void cgroup_tree_walk(int dir, void (*fn)(int, void *), void *arg)
{
	walk(dir, fn, arg, 0);
}

struct count_arg {
	const char *file;
	unsigned long n;
};

static void count_one(int dir, void *arg)
{
	struct count_arg *a = arg;
	a->n += count_lines_at(dir, a->file);
}

/* Lines of `file` in dir and every cgroup below it. */
static unsigned long count_tree(int dir, const char *file)
{
	struct count_arg a = { file, 0 };
	cgroup_tree_walk(dir, count_one, &a);
	return a.n;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

void sysinfo_virt_start(struct sysinfo_virt *v, pid_t init_pid)
{
	char path[32], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", init_pid);
	v->init_start = 0;
	v->cached_at = 0;
	if (read_at(AT_FDCWD, path, buf, sizeof(buf)) < 0) {
		warn_("read %s (sysinfo shows the host's uptime)", path);
		return;
	}
	/* Field 22 is starttime; the comm (field 2) may hold spaces and parentheses. */
	char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p || parse_u64(p + 1, &v->init_start) < 0) {
		warnx_("cannot parse %s (sysinfo shows the host's uptime)", path);
		v->init_start = 0;
	}
}

static int64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Everything but the uptime. */
static int fill_from_cgroup(struct sysinfo_virt *v, struct sysinfo *out)
{
	struct sysinfo host;
	if (sysinfo(&host) < 0) /* the monitor itself is not filtered */
		return -1;
	uint64_t unit = host.mem_unit ? host.mem_unit : 1;
	uint64_t host_ram = (uint64_t)host.totalram * unit, host_swap = (uint64_t)host.totalswap * unit;

	char stat[STAT_BUF];
	uint64_t limit, usage, shmem = 0, swap_limit = UNLIMITED, swap_used = 0;
	bool swap_known;
	int d = v->memcg;
	if (read_at(d, "memory.stat", stat, sizeof(stat)) < 0)
		return -1;
	if (v->cgver == 1) {
		uint64_t memsw;
		if (keyed(stat, "hierarchical_memory_limit", &limit) < 0 ||
		    read_u64(d, "memory.usage_in_bytes", &usage) < 0)
			return -1;
		keyed(stat, "total_shmem", &shmem);
		/* memsw is RAM + swap; without swap accounting neither key is there. */
		swap_known = keyed(stat, "hierarchical_memsw_limit", &memsw) == 0;
		if (swap_known) {
			if (memsw <= host_ram + host_swap)
				swap_limit = memsw - min_u64(limit, memsw);
			keyed(stat, "total_swap", &swap_used);
		}
	} else {
		if (read_u64(d, "memory.max", &limit) < 0 || read_u64(d, "memory.current", &usage) < 0)
			return -1;
		keyed(stat, "shmem", &shmem);
		swap_known = read_u64(d, "memory.swap.max", &swap_limit) == 0;
		if (swap_known)
			read_u64(d, "memory.swap.current", &swap_used);
	}

	memset(out, 0, sizeof(*out));
	uint64_t total = min_u64(limit, host_ram);
	out->totalram = total;
	out->freeram = total - min_u64(usage, total);
	out->sharedram = min_u64(shmem, total);
	out->bufferram = 0;
	if (swap_known) {
		swap_limit = min_u64(swap_limit, host_swap);
		out->totalswap = swap_limit;
		out->freeswap = swap_limit - min_u64(swap_used, swap_limit);
	} else {
		out->totalswap = host_swap;
		out->freeswap = (uint64_t)host.freeswap * unit;
	}
	out->mem_unit = 1;
	memcpy(out->loads, host.loads, sizeof(out->loads));

	uint64_t procs;
	if (v->cgver == 1 || read_u64(d, "pids.current", &procs) < 0)
		procs = count_tree(d, v->cgver == 1 ? "tasks" : "cgroup.threads");
	out->procs = procs > 0xffff ? 0xffff : procs;
	return 0;
}

int sysinfo_virt_fill(struct sysinfo_virt *v, struct sysinfo *out)
{
	int64_t now = now_ns(CLOCK_MONOTONIC);
	if (!v->cached_at || now - v->cached_at > v->cache_ns) {
		if (fill_from_cgroup(v, &v->cache) < 0) {
			v->cached_at = 0;
			return -1;
		}
		/* The tenant shapes the subtree that is walked (a v1 memcg delegated to it can have
		 * thousands of sub-cgroups): reading it may cost the monitor at most 1/CACHE_COST_SHARE
		 * of its time, whatever that tree looks like. */
		int64_t done = now_ns(CLOCK_MONOTONIC), took = done - now;
		v->cache_ns = took * CACHE_COST_SHARE > CACHE_MIN_NS ? took * CACHE_COST_SHARE : CACHE_MIN_NS;
		v->cached_at = done;
	}
	*out = v->cache;
	if (v->own_loads)
		memcpy(out->loads, v->loads, sizeof(out->loads));
	/* Like the kernel: whole seconds of CLOCK_BOOTTIME, rounded up; the host's when init's
	 * start is unknown. */
	int64_t up = now_ns(CLOCK_BOOTTIME);
	long hz = sysconf(_SC_CLK_TCK);
	if (v->init_start && hz > 0)
		up -= (int64_t)(v->init_start / hz * 1000000000 + v->init_start % hz * 1000000000 / hz);
	out->uptime = up > 0 ? (up + 999999999) / 1000000000 : 0;
	return 0;
}

static void failed(struct sysinfo_virt *v, const char *what, pid_t pid)
{
	if (!v->failing)
		warn_("sysinfo for pid %d: %s (it sees the host's figures)", pid, what);
	v->failing = true;
}

void sysinfo_virt_handle(struct sysinfo_virt *v, int listener)
{
	struct notify_req req;
	if (notify_recv(listener, &req) < 0) {
		if (errno != ENOENT) /* ENOENT: the caller is gone already */
			warn_("seccomp: receive a notification");
		return;
	}
	if (!notify_is_native_sysinfo(&req)) {
		/* Not from our filter, which notifies native sysinfo only: a USER_NOTIF filter of the
		 * container's own whose listener a restore attached (the first of a chain gets it;
		 * criu-patches/0002). Without that listener the kernel answered ENOSYS: so do we,
		 * and nothing else (its arguments are the tenant's: nothing is read or written). */
		if (!v->foreign_warned)
			warnx_("seccomp: syscall %d (arch 0x%x) of pid %d notified by a filter of the container's "
			       "own: refused with ENOSYS, as without a listener (logged once)",
			       req.nr, req.arch, req.pid);
		v->foreign_warned = true;
		notify_reply(listener, req.id, 0, ENOSYS);
		return;
	}
	struct sysinfo si;
	if (sysinfo_virt_fill(v, &si) < 0) {
		failed(v, "read the memory cgroup", req.pid);
		notify_continue(listener, req.id);
		return;
	}
	/* /proc/PID/mem is bound to the task's mm when opened; checking the id after the open
	 * makes sure that mm still belongs to the caller (and not to a task that reused the pid). */
	char path[32];
	snprintf(path, sizeof(path), "/proc/%d/mem", req.pid);
	int mem = open(path, O_RDWR | O_CLOEXEC);
	if (mem < 0) {
		if (notify_id_valid(listener, req.id)) {
			failed(v, "open /proc/PID/mem", req.pid);
			notify_continue(listener, req.id);
		}
		return;
	}
	if (!notify_id_valid(listener, req.id)) {
		close(mem);
		return; /* killed meanwhile: there is nobody to answer */
	}
	/* Like Incus: note that /proc/PID/mem writes through a read-only mapping too (FOLL_FORCE),
	 * where the real syscall would fail with EFAULT; an unmapped buffer fails as it should. */
	ssize_t w = pwrite(mem, &si, sizeof(si), (off_t)req.args[0]);
	close(mem);
	if (w != (ssize_t)sizeof(si)) {
		/* A bad pointer: the real syscall fails with EFAULT just as it would have. */
		notify_continue(listener, req.id);
		return;
	}
	v->failing = false;
	notify_reply(listener, req.id, 0, 0);
}

int sysinfo_virt_reserve(struct sysinfo_virt *v, int more)
{
	int need = v->nlisteners + more;
	if (need > v->max) {
		errno = ENOSPC;
		return -1;
	}
	if (need <= v->nslots)
		return 0;
	int n = v->nslots ? v->nslots : 8;
	while (n < need)
		n *= 2;
	if (n > v->max)
		n = v->max;
	struct sysinfo_listener *l = realloc(v->listeners, n * sizeof(*l));
	if (!l)
		return -1; /* ENOMEM */
	for (int i = v->nslots; i < n; i++)
		l[i] = (struct sysinfo_listener){ .fd = -1 };
	v->listeners = l;
	v->nslots = n;
	return 0;
}

int sysinfo_virt_add(struct sysinfo_virt *v, int listener)
{
	if (sysinfo_virt_reserve(v, 1) < 0)
		return -1;
	/* A linear search: registrations are as rare as exec/enter calls. */
	for (int i = 0; i < v->nslots; i++) {
		if (v->listeners[i].fd < 0) {
			v->listeners[i].fd = listener;
			v->listeners[i].gen++;
			v->nlisteners++;
			return i;
		}
	}
	errno = ENOSPC; /* not reached: reserved above */
	return -1;
}

void sysinfo_virt_drop(struct sysinfo_virt *v, int slot)
{
	if (slot < 0 || slot >= v->nslots || v->listeners[slot].fd < 0)
		return;
	close(v->listeners[slot].fd);
	v->listeners[slot].fd = -1;
	v->nlisteners--;
}

void sysinfo_virt_close(struct sysinfo_virt *v)
{
	for (int i = 0; i < v->nslots; i++)
		sysinfo_virt_drop(v, i);
	free(v->listeners);
	v->listeners = NULL;
	v->nslots = 0;
	if (v->memcg >= 0)
		close(v->memcg);
	v->memcg = -1;
}
