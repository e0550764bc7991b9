/* The seccomp deny list and the capability bounding set; see harden.h. */
#include "harden.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

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

/* The namespace kinds a container may not make unless it has nesting on (harden.h): the kinds
 * upstream CRIU cannot dump nested. The ONE list; UTS and IPC are left allowed per container
 * when this node's CRIU has vzkit's patch 0003 (harden_ns_mask, "ns_allow" / --ns-allow, probed
 * by src/criu/criu.ts criuNestedKinds). Mount and network namespaces are not in it
 * (CRIU's mount-v2 engine and its net code dump them nested: PrivateTmp=, PrivateNetwork=). */
const struct harden_ns harden_ns_blocked[] = {
	{ "uts", CLONE_NEWUTS },
	{ "ipc", CLONE_NEWIPC },
	{ "pid", CLONE_NEWPID },
	{ "user", CLONE_NEWUSER },
	{ "cgroup", CLONE_NEWCGROUP },
	{ "time", CLONE_NEWTIME },
	{ NULL, 0 },
};

/* clone(2)'s low byte is the exit signal (CSIGNAL): CLONE_NEWTIME (0x80) cannot be asked for
 * there, and that bit must not be tested (SIGCHLD = 17 has no 0x80, but other signals may). */
#define CLONE_CSIGNAL 0xffu

/* unshare(flags), clone(flags, ...) and setns(fd, nstype) with a blocked kind: EPERM, what an
 * unprivileged caller gets and what systemd takes as "namespaces unavailable, carry on"
 * (ProtectHostname= logs a warning). clone3 passes its flags in memory, which seccomp cannot
 * read: ENOSYS for all of it, as Docker's default profile does; glibc (2.34+) then uses clone. */
static int add_ns_rules(scmp_filter_ctx ctx, unsigned long allow)
{
	int rc;
	for (const struct harden_ns *n = harden_ns_blocked; n->name; n++) {
		uint32_t bit = n->flag;
		if (n->flag & allow)
			continue; /* this node's CRIU dumps it nested (harden_ns_mask) */
		/* One rule per kind and syscall: rules of one syscall are OR'ed. Arguments are compared
		 * as 32 bits (they are ints/low flags on both ABIs). */
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1, SCMP_A0_32(SCMP_CMP_MASKED_EQ, bit, bit))) < 0)
			return rc;
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setns), 1, SCMP_A1_32(SCMP_CMP_MASKED_EQ, bit, bit))) < 0)
			return rc;
		if (!(bit & CLONE_CSIGNAL) &&
		    (rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0_32(SCMP_CMP_MASKED_EQ, bit, bit))) < 0)
			return rc;
	}
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
}

int harden_ns_mask(char *const *names, unsigned long *mask, const char **bad)
{
	*mask = 0;
	for (; names && *names; names++) {
		const struct harden_ns *n = harden_ns_blocked;
		while (n->name && strcmp(n->name, *names) != 0)
			n++;
		if (!n->name) {
			*bad = *names;
			return -1;
		}
		*mask |= n->flag;
	}
	return 0;
}

scmp_filter_ctx harden_filter(bool nesting, unsigned long allow)
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
	if (!nesting && (rc = add_ns_rules(ctx, allow)) < 0)
		goto fail;
	return ctx;
fail:
	seccomp_release(ctx);
	errno = -rc;
	return NULL;
}

int harden_seccomp(bool nesting, unsigned long allow)
{
	scmp_filter_ctx ctx = harden_filter(nesting, allow);
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
