/* Isolation policy applied to everything that runs in a container (init, and what exec/enter
 * start from the host): a seccomp deny list and the capability bounding set. Stacked on top of
 * the sysinfo notification filter (seccomp_notify.h): the kernel acts on the most severe
 * result of all filters, so ERRNO here beats USER_NOTIF there.
 *
 * The deny list (EPERM unless noted), from what LXC, Docker/moby and crun refuse by default:
 *   kexec_load, kexec_file_load, reboot of the host is namespaced already (kept for init);
 *   init_module, finit_module, delete_module   (module loading; also CAP_SYS_MODULE dropped)
 *   open_by_handle_at                          (the "shocker" escape: file handles bypass the root)
 *   iopl, ioperm                               (raw port I/O)
 *   acct, swapon, swapoff, syslog              (host-global state)
 *   uselib, nfsservctl, lookup_dcookie, _sysctl (obsolete host-global interfaces)
 *   quotactl_fd                                (host quota changes by fd)
 *   keyctl, add_key, request_key -> ENOSYS     (the kernel keyring is not namespaced; ENOSYS makes
 *                                               callers like systemd fall back, as with LXC)
 *   perf_event_open, bpf -> EPERM              (host-wide tracing and programs)
 *   userfaultfd -> EPERM                       (a classic exploit primitive; Docker refuses it too)
 *   io_uring_setup, io_uring_enter, io_uring_register -> ENOSYS
 *                                              (a large kernel attack surface that also runs
 *                                               operations past seccomp; Docker 25 and containerd
 *                                               2.0 refuse it too. ENOSYS is what a kernel built
 *                                               without io_uring answers, which every user of it
 *                                               (liburing, libuv, tokio) takes as "use the
 *                                               fallback"; EPERM is not always taken so.)
 *
 * Namespaces (unless the container has the feature nesting on): unshare, clone and setns with
 * a kind in harden_ns_blocked (UTS, IPC, PID, user, cgroup, time: what CRIU cannot dump nested)
 * -> EPERM; clone3 -> ENOSYS (its flags are in memory, out of seccomp's reach; glibc falls back
 * to clone). systemd carries on without the namespace on EPERM (ProtectHostname= warns), so a
 * stock systemd guest stays checkpointable. Mount and network namespaces stay allowed, and so
 * do the kinds this node's CRIU dumps nested (UTS and IPC with vzkit's patch 0003: "ns_allow"
 * in the spawn config, --ns-allow for exec/enter), so ProtectHostname= keeps working there.
 * One table by name (harden.c), made into BPF by libseccomp: the i386 ABI (int 0x80, from a
 * 32-bit or a 64-bit program) gets the same list by its own numbers. The x32 ABI (x86_64 with
 * __X32_SYSCALL_BIT) is refused whole with ENOSYS, as a kernel without x32 support (Debian's
 * default) refuses it: no distribution a container runs ships x32 programs, and its compat
 * paths have had escapes of their own (CVE-2014-0038). Any other ABI gets ENOSYS too. */
#ifndef CTSPAWN_HARDEN_H
#define CTSPAWN_HARDEN_H

#include <seccomp.h>
#include <stdbool.h>

struct harden_rule {
	const char *name; /* the syscall's name as libseccomp knows it */
	int err;          /* the errno the container sees */
};

/* The deny list, ended by { NULL, 0 }. */
extern const struct harden_rule harden_deny[];

struct harden_ns {
	const char *name;   /* as in /proc/PID/ns/ */
	unsigned long flag; /* CLONE_NEW* */
};

/* The namespace kinds refused without nesting, ended by { NULL, 0 }. */
extern const struct harden_ns harden_ns_blocked[];

/* The CLONE_NEW* mask of the kinds in names (NULL-terminated, as in harden_ns_blocked): the
 * kinds this node's CRIU can dump nested after all (vzkit's CRIU patch 0003: "uts", "ipc"),
 * left allowed without nesting. 0, or -1 with *bad set to the unknown name. */
int harden_ns_mask(char *const *names, unsigned long *mask, const char **bad);

/* Builds the filter without loading it (the unit test exports and replays it); nesting: leave
 * namespace creation alone; allow: kinds (CLONE_NEW*) not refused even without nesting. NULL
 * with errno on failure; seccomp_release() it. */
scmp_filter_ctx harden_filter(bool nesting, unsigned long allow);

/* Installs the deny filter on the calling thread (no_new_privs or CAP_SYS_ADMIN in its user
 * namespace needed). 0, or -1 with errno. */
int harden_seccomp(bool nesting, unsigned long allow);

/* Drops the capabilities numbered in caps (strings of decimal numbers, NULL-terminated) from
 * the bounding set of the calling thread; what its exec'd program gets as root is then
 * bounded. 0, or -1 with errno (the name of the failing one in *failed). */
int harden_caps(char *const *caps, const char **failed);

#endif
