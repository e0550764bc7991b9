/* A tenant's own seccomp USER_NOTIF filter across a checkpoint (sysinfo-restore.test.ts).
 *
 *   usernotif OUT DIR
 *
 * Installs a filter that turns mkdir, mkdirat and sysinfo into user notifications, without
 * a listener (a process that holds one cannot be dumped by CRIU). Before a checkpoint the
 * kernel answers them ENOSYS; after a restore the first such filter of the chain gets a
 * listener that the monitor holds (criu-patches/0002), which must answer nothing but sysinfo
 * and refuse the rest. Then, every 100 ms, it tries mkdir DIR and sysinfo and writes one line
 * to OUT (replaced atomically through OUT.tmp):
 *   SEQ mkdir=RET/ERRNO sysinfo=RET/ERRNO total=BYTES
 * Static, so that it runs in a busybox root. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: usernotif OUT DIR\n");
		return 2;
	}
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdir, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mkdirat, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sysinfo, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	};
	struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		perror("seccomp");
		return 1;
	}
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	for (unsigned long seq = 1;; seq++) {
		errno = 0;
		int m = mkdir(argv[2], 0755);
		int me = m < 0 ? errno : 0;
		struct sysinfo si = { 0 };
		errno = 0;
		int s = sysinfo(&si);
		int se = s < 0 ? errno : 0;
		FILE *f = fopen(tmp, "w");
		if (f) {
			fprintf(f, "%lu mkdir=%d/%d sysinfo=%d/%d total=%llu\n", seq, m, me, s, se,
				(unsigned long long)si.totalram * (si.mem_unit ? si.mem_unit : 1));
			fclose(f);
			rename(tmp, argv[1]);
		}
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}
