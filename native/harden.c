/* The seccomp deny list and the capability bounding set; see harden.h. */
#include "harden.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>

/* By name only: libseccomp looks up each ABI's own number, so no hand-written number (or jump
 * offset) can be wrong. Keep in step with the list in harden.h. */
const struct harden_rule harden_deny[] = {
	{ "kexec_load", EPERM },
	{ "kexec_file_load", EPERM },
	{ "init_module", EPERM },
	{ "finit_module", EPERM },
	{ "delete_module", EPERM },
	{ "open_by_handle_at", EPERM },
	{ "iopl", EPERM },
	{ "ioperm", EPERM },
	{ "acct", EPERM },
	{ "swapon", EPERM },
	{ "swapoff", EPERM },
	{ "syslog", EPERM },
	{ "uselib", EPERM },
	{ "nfsservctl", EPERM },
	{ "lookup_dcookie", EPERM },
	{ "_sysctl", EPERM },
	{ "quotactl_fd", EPERM },
	{ "keyctl", ENOSYS },
	{ "add_key", ENOSYS },
	{ "request_key", ENOSYS },
	{ "perf_event_open", EPERM },
	{ "bpf", EPERM },
	{ "userfaultfd", EPERM },
	{ "io_uring_setup", ENOSYS },
	{ "io_uring_enter", ENOSYS },
	{ "io_uring_register", ENOSYS },
	{ NULL, 0 },
};

scmp_filter_ctx harden_filter(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		errno = ENOMEM;
		return NULL;
	}
	int rc;
	/* No no_new_privs: setuid programs in the container keep working (seccomp accepts
	 * CAP_SYS_ADMIN in our user namespace instead). A foreign ABI, which on x86_64 means x32
	 * (native arch, numbers with __X32_SYSCALL_BIT), is refused whole with ENOSYS, as a kernel
	 * without x32 support does: see harden.h. Kernel errnos come back unchanged. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS))) < 0 ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1)) < 0)
		goto fail;
#if defined(__x86_64__) && !defined(__ILP32__)
	/* int 0x80 works from any 64-bit program: the i386 ABI gets the same list. */
	if ((rc = seccomp_arch_add(ctx, SCMP_ARCH_X86)) < 0)
		goto fail;
#endif
	for (const struct harden_rule *r = harden_deny; r->name; r++) {
		int nr = seccomp_syscall_resolve_name(r->name);
		/* A name this libseccomp does not know is a build problem: refuse to run without it
		 * rather than run with a hole. */
		if (nr == __NR_SCMP_ERROR) {
			rc = -ENOSYS;
			goto fail;
		}
		/* Pseudo-numbers (negative) stand for a syscall one ABI lacks; libseccomp leaves
		 * it out of that ABI's part. */
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(r->err), nr, 0)) < 0)
			goto fail;
	}
	return ctx;
fail:
	seccomp_release(ctx);
	errno = -rc;
	return NULL;
}

int harden_seccomp(void)
{
	scmp_filter_ctx ctx = harden_filter();
	if (!ctx)
		return -1;
	int rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
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
