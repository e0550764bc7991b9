/* Escape attempts made from inside a container as its root (test/integration/escape.test.ts).
 * Each line: NAME RESULT, where RESULT is "ok" (the attempt worked: an escape) or the errno
 * name it failed with. Built static by the test, copied into the container, run by vzctl exec. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <termios.h>
#include <unistd.h>

static void report(const char *name, long rc)
{
	printf("%s %s\n", name, rc < 0 ? strerrorname_np(errno) : "ok");
}

int main(int argc, char **argv)
{
	pid_t hostpid = argc > 1 ? atoi(argv[1]) : 1;
	const char *blockdev = argc > 2 ? argv[2] : "/dev/vda";
	unsigned maj = argc > 3 ? atoi(argv[3]) : 254, min = argc > 4 ? atoi(argv[4]) : 0;

	report("init_module", syscall(SYS_init_module, "", 0, ""));
	int fd = open("/bin/busybox", O_RDONLY);
	report("finit_module", syscall(SYS_finit_module, fd, "", 0));
	report("delete_module", syscall(SYS_delete_module, "ext4", 0));
	report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
	report("kexec_file_load", syscall(SYS_kexec_file_load, fd, -1, 0, "", 0));
	close(fd);
	struct { unsigned int bytes; int type; unsigned char f[128]; } fh = { .bytes = 128 };
	report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, &fh, O_RDONLY));
	report("iopl", syscall(SYS_iopl, 3));
	report("ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
	report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
	struct perf_event_attr pe = { .type = PERF_TYPE_SOFTWARE, .size = sizeof(pe), .config = PERF_COUNT_SW_CPU_CLOCK };
	report("perf_event_open", syscall(SYS_perf_event_open, &pe, -1, 0, -1, 0));
	report("bpf", syscall(SYS_bpf, 0, NULL, 0));
	report("userfaultfd", syscall(SYS_userfaultfd, 0));
	report("acct", syscall(SYS_acct, "/tmp/acct"));
	report("swapon", swapon("/tmp/swap", 0));
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
