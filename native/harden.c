/* The seccomp deny list and the capability bounding set; see harden.h. */
#include "harden.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define X32_BIT 0x40000000u
#define DENY(nr, err) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err))

int harden_seccomp(void)
{
#if defined(__x86_64__) && !defined(__ILP32__)
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 42), /* not native: to the i386 part */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		DENY(246, EPERM),  /* kexec_load */
		DENY(320, EPERM),  /* kexec_file_load */
		DENY(175, EPERM),  /* init_module */
		DENY(313, EPERM),  /* finit_module */
		DENY(176, EPERM),  /* delete_module */
		DENY(304, EPERM),  /* open_by_handle_at */
		DENY(172, EPERM),  /* iopl */
		DENY(173, EPERM),  /* ioperm */
		DENY(163, EPERM),  /* acct */
		DENY(167, EPERM),  /* swapon */
		DENY(168, EPERM),  /* swapoff */
		DENY(103, EPERM),  /* syslog */
		DENY(250, ENOSYS), /* keyctl */
		DENY(248, ENOSYS), /* add_key */
		DENY(249, ENOSYS), /* request_key */
		DENY(298, EPERM),  /* perf_event_open */
		DENY(321, EPERM),  /* bpf */
		DENY(323, EPERM),  /* userfaultfd */
		DENY(212, EPERM),  /* lookup_dcookie */
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* i386 (int 0x80 from a 64-bit or a 32-bit program). */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS), /* any other ABI */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		DENY(283, EPERM),  /* kexec_load */
		DENY(128, EPERM),  /* init_module */
		DENY(350, EPERM),  /* finit_module */
		DENY(129, EPERM),  /* delete_module */
		DENY(342, EPERM),  /* open_by_handle_at */
		DENY(110, EPERM),  /* iopl */
		DENY(101, EPERM),  /* ioperm */
		DENY(51, EPERM),   /* acct */
		DENY(87, EPERM),   /* swapon */
		DENY(115, EPERM),  /* swapoff */
		DENY(103, EPERM),  /* syslog */
		DENY(288, ENOSYS), /* keyctl */
		DENY(286, ENOSYS), /* add_key */
		DENY(287, ENOSYS), /* request_key */
		DENY(336, EPERM),  /* perf_event_open */
		DENY(357, EPERM),  /* bpf */
		DENY(374, EPERM),  /* userfaultfd */
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
#else
	errno = ENOSYS;
	return -1;
#endif
}

int harden_caps(char *const *caps, const char **failed)
{
	for (size_t i = 0; caps && caps[i]; i++) {
		char *end;
		long cap = strtol(caps[i], &end, 10);
		if (*end || cap < 0 || cap > 63) {
			*failed = caps[i];
			errno = EINVAL;
			return -1;
		}
		/* EINVAL: a capability this kernel does not know; it cannot be held either. */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) {
			*failed = caps[i];
			return -1;
		}
	}
	return 0;
}
