/* Escape attempts made from inside a container as its root (test/integration/escape.test.ts).
 * Each line: NAME RESULT, where RESULT is "ok" (the attempt worked: an escape) or the errno
 * name it failed with. Built static by the test, copied into the container, run by vzctl exec. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <termios.h>
#include <unistd.h>

#include "escape.h"

static void report(const char *name, long rc)
{
	printf("%s %s\n", name, rc < 0 ? strerrorname_np(errno) : "ok");
}

/* Names and native numbers of the DENIED list (escape.h); escape_abi.c has the foreign ones. */
#define NAME(n) #n,
#define NR(n) __NR_##n,
static const char *const names[] = { DENIED(NAME) };
static const long nrs_x86_64[] = { DENIED(NR) };

enum abi { X86_64, I386, X32 };

/* The i386 ABI from this 64-bit program: int 0x80 takes the number in eax and the arguments in
 * ebx, ecx, edx, esi, edi (32 bits each; pointers must be below 4 GiB: MAP_32BIT). The sixth
 * (ebp) is left out: no call below needs it. */
static long int80(long nr, const long *a)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2]), "S"(a[3]), "D"(a[4])
			 : "memory", "cc", "r8", "r9", "r10", "r11");
	int r = (int)ret;
	if (r < 0 && r > -4096) {
		errno = -r;
		return -1;
	}
	return r;
}

/* Arguments that make each call harmless, and that succeed where nothing but the filter
 * stands in the way (keyctl, add_key, perf_event_open on itself, userfaultfd for user pages,
 * io_uring_setup), so that a hole shows as "ok"; elsewhere the kernel's own answer (ENOSYS for
 * the removed ones, EBADF for a bad fd) differs from the filter's. low: a zeroed MAP_32BIT page
 * for the pointers. */
static void args_for(const char *n, long *a, char *low, int fd)
{
	char *empty = low, *mod = low + 16, *path = low + 32, *type = low + 64, *desc = low + 80, *payload = low + 112;
	struct file_handle *fh = (struct file_handle *)(low + 512);
	struct perf_event_attr *pe = (struct perf_event_attr *)(low + 1024);
	memset(low, 0, 4096);
	strcpy(mod, "vzkit_none");
	strcpy(path, "/tmp/esc-none");
	strcpy(type, "user");
	strcpy(desc, "vzkit-probe");
	strcpy(payload, "x");
	fh->handle_bytes = 128;
	pe->type = PERF_TYPE_SOFTWARE;
	pe->size = sizeof(*pe);
	pe->config = PERF_COUNT_SW_CPU_CLOCK;
	pe->exclude_kernel = 1;
	pe->exclude_hv = 1;
	long v[6] = { 0 };
	if (!strcmp(n, "kexec_file_load"))
		v[0] = fd, v[1] = -1, v[3] = (long)empty;
	else if (!strcmp(n, "init_module"))
		v[0] = (long)low, v[2] = (long)empty;
	else if (!strcmp(n, "finit_module"))
		v[0] = fd, v[1] = (long)empty;
	else if (!strcmp(n, "delete_module"))
		v[0] = (long)mod;
	else if (!strcmp(n, "open_by_handle_at"))
		v[0] = AT_FDCWD, v[1] = (long)fh, v[2] = O_RDONLY;
	else if (!strcmp(n, "iopl"))
		v[0] = 3;
	else if (!strcmp(n, "ioperm"))
		v[0] = 0x80, v[1] = 1, v[2] = 1;
	else if (!strcmp(n, "swapon") || !strcmp(n, "swapoff") || !strcmp(n, "uselib"))
		v[0] = (long)path;
	else if (!strcmp(n, "syslog"))
		v[0] = 10; /* SYSLOG_ACTION_SIZE_BUFFER */
	else if (!strcmp(n, "quotactl_fd") || !strcmp(n, "io_uring_enter") || !strcmp(n, "io_uring_register"))
		v[0] = -1;
	else if (!strcmp(n, "keyctl"))
		v[0] = 0 /* KEYCTL_GET_KEYRING_ID */, v[1] = -3 /* session */;
	else if (!strcmp(n, "add_key"))
		v[0] = (long)type, v[1] = (long)desc, v[2] = (long)payload, v[3] = 1, v[4] = -2 /* process keyring */;
	else if (!strcmp(n, "request_key"))
		v[0] = (long)type, v[1] = (long)desc;
	else if (!strcmp(n, "perf_event_open"))
		v[0] = (long)pe, v[1] = 0 /* this process */, v[2] = -1 /* any cpu */, v[3] = -1;
	else if (!strcmp(n, "userfaultfd"))
		v[0] = O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */;
	else if (!strcmp(n, "io_uring_setup"))
		v[0] = 1, v[1] = (long)(low + 2048); /* struct io_uring_params, zeroed */
	memcpy(a, v, sizeof(v));
}

/* Every DENIED call through one ABI: "ABI:NAME RESULT". */
static void try_abi(enum abi abi, char *low, int fd)
{
	static const char *const abiname[] = { "x86_64", "i386", "x32" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		long nr = abi == X86_64 ? nrs_x86_64[i] : abi == I386 ? probe_nrs_i386[i] : probe_nrs_x32[i];
		if (nr < 0)
			continue; /* this ABI has no such call */
		long a[6];
		args_for(names[i], a, low, fd);
		errno = 0;
		long rc = abi == I386 ? int80(nr, a) : syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		char label[64];
		snprintf(label, sizeof(label), "%s:%s", abiname[abi], names[i]);
		report(label, rc);
		/* What a hole hands out: perf, userfaultfd, io_uring and file handle fds. */
		if (rc > 2 && (!strcmp(names[i], "perf_event_open") || !strcmp(names[i], "userfaultfd") ||
			       !strcmp(names[i], "io_uring_setup") || !strcmp(names[i], "open_by_handle_at")))
			close(rc);
	}
}

/* escape-probe [HOSTPID [BLOCKDEV [MAJOR MINOR]]]: everything; escape-probe --abi: only the
 * deny list through the three ABIs (run from the container's boot script too). */
int main(int argc, char **argv)
{
	bool abi_only = argc > 1 && !strcmp(argv[1], "--abi");
	pid_t hostpid = argc > 1 && !abi_only ? atoi(argv[1]) : 1;
	const char *blockdev = argc > 2 ? argv[2] : "/dev/vda";
	unsigned maj = argc > 3 ? atoi(argv[3]) : 254, min = argc > 4 ? atoi(argv[4]) : 0;

	/* Meant for a container: in the host's user namespace (uid_map 0 0 4294967295) its attempts
	 * would work, writing the host's hostname, clock and /tmp. */
	FILE *m = fopen("/proc/self/uid_map", "r");
	unsigned long in = 1, out = 1, len = 0;
	if (!m || fscanf(m, "%lu %lu %lu", &in, &out, &len) != 3 || (in == 0 && out == 0 && len == 4294967295UL)) {
		fprintf(stderr, "escape-probe: not in a container's user namespace; refusing to run\n");
		return 2;
	}
	fclose(m);

	/* The deny list through x86_64, through int 0x80 (i386) and through x32. */
	char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (low == MAP_FAILED) {
		perror("mmap MAP_32BIT");
		return 1;
	}
	int fd = open("/bin/busybox", O_RDONLY | O_CLOEXEC);
	try_abi(X86_64, low, fd);
	try_abi(I386, low, fd);
	try_abi(X32, low, fd);
	close(fd);
	if (abi_only)
		return 0;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	report("settimeofday", settimeofday(&tv, NULL));
	/* Device nodes: creating one, and mounting the host's block device through it. */
	report("mknod_block", mknod("/tmp/esc-blk", S_IFBLK | 0600, makedev(maj, min)));
	report("mknod_char_mem", mknod("/tmp/esc-mem", S_IFCHR | 0600, makedev(1, 1)));
	mkdir("/tmp/esc-mnt", 0700);
	report("mount_host_blockdev", mount(blockdev, "/tmp/esc-mnt", "ext4", MS_RDONLY, NULL));
	/* Host processes: not visible, not signalable. */
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d", hostpid);
	struct stat st;
	report("see_host_process", stat(p, &st));
	report("signal_host_process", kill(hostpid, 0));
	/* Host /proc/sys and /sys, also after trying to make them writable again. */
	fd = open("/proc/sys/kernel/hostname", O_WRONLY);
	report("write_proc_sys", fd < 0 ? -1 : write(fd, "x", 1));
	report("remount_proc_sys_rw", mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL));
	fd = open("/sys/kernel/uevent_helper", O_WRONLY);
	report("write_sys", fd < 0 ? -1 : write(fd, "/x", 2));
	report("mount_new_proc", mount("proc", "/tmp/esc-mnt", "proc", 0, NULL));
	/* Its own limits: the memory cgroup's limit file is the host's. */
	mkdir("/tmp/esc-cg", 0700);
	long r = mount("none", "/tmp/esc-cg", "cgroup", 0, "memory");
	if (r < 0)
		r = mount("none", "/tmp/esc-cg", "cgroup2", 0, NULL);
	if (r == 0) {
		fd = open("/tmp/esc-cg/memory.limit_in_bytes", O_WRONLY);
		if (fd < 0)
			fd = open("/tmp/esc-cg/memory.max", O_WRONLY);
		report("raise_memory_limit", fd < 0 ? -1 : write(fd, "max\n", 4) < 0 && write(fd, "-1\n", 3) < 0 ? -1 : 0);
		umount2("/tmp/esc-cg", MNT_DETACH);
	} else {
		report("raise_memory_limit", -1);
	}
	/* The console: injecting input into a terminal. */
	fd = open("/dev/console", O_RDWR | O_NOCTTY);
	char c = 'x';
	report("console_tiocsti", fd < 0 ? -1 : ioctl(fd, TIOCSTI, &c));
	printf("capbnd_sys_module %s\n", prctl(PR_CAPBSET_READ, 16) == 1 ? "held" : "dropped");
	printf("capbnd_sys_rawio %s\n", prctl(PR_CAPBSET_READ, 17) == 1 ? "held" : "dropped");
	return 0;
}
