/* seccomp user notification (SECCOMP_RET_USER_NOTIF): the filter that init installs right
 * before it executes the container's init, the passing of its listener fd to M, and the small
 * receive/answer helpers the monitor uses. What an intercepted call is answered with lives
 * elsewhere (sysinfo_virt.c); this file knows nothing about cgroups.
 *
 * One filter with one listener for init, inherited by every descendant of init; "ctspawn
 * exec/enter --sysinfo-ctl" installs the same filter once more for each process tree it starts
 * (those join from the host and never pass through init) and registers that listener with the
 * monitor too. A later, separate policy filter (issue 9) can simply be stacked: the kernel
 * runs every filter and acts on the most severe result, so ERRNO/KILL from a policy still beat
 * USER_NOTIF from this one. */
#ifndef CTSPAWN_SECCOMP_NOTIFY_H
#define CTSPAWN_SECCOMP_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Installs the filter on the calling thread (needs no_new_privs or CAP_SYS_ADMIN in its user
 * namespace; init, and the exec helper right after setns, have the latter) and returns the
 * listener fd (close-on-exec), or -1 with errno. Only sysinfo(2) of the native ABI notifies;
 * everything else, and every other ABI (i386, x32), is allowed untouched. ENOSYS on
 * architectures we have no filter for. */
int seccomp_notify_install(void);

/* Sends fd over a unix socket as SCM_RIGHTS (one byte of payload, 'L' = SICTL_LISTENER of
 * protocol.h); 0 or -1 with errno. */
int send_fd(int sock, int fd);
/* Receives one fd sent by send_fd, close-on-exec, without blocking: -1 with errno EAGAIN when
 * nothing is queued, EPROTO when a message came without an fd. */
int recv_fd(int sock);
/* The same for a message whose payload is exactly len bytes (read into data), such as the
 * patched criu's listener hand-over (payload: the task's pid); -1 with errno ECONNRESET at EOF. */
int recv_fd_data(int sock, void *data, size_t len);
/* The fd really is a seccomp listener ("anon_inode:seccomp notify")? */
bool is_seccomp_listener(int fd);

/* Monitor side. The kernel's notification structs may be larger than the ones we were
 * compiled with; these are sized from SECCOMP_GET_NOTIF_SIZES once. */
struct notify_req {
	uint64_t id;
	pid_t pid;      /* thread id in M's (the host's) pid namespace */
	int nr;         /* syscall number */
	uint32_t arch;  /* AUDIT_ARCH_* */
	uint64_t args[6];
};

/* Checks that the kernel's struct sizes fit our fixed buffers; 0 or -1 with errno. */
int notify_init(void);
/* SECCOMP_IOCTL_NOTIF_RECV into req. 0; -1 with errno (ENOENT: the caller died meanwhile,
 * nothing to answer). Never blocks after the listener polled POLLIN. */
int notify_recv(int listener, struct notify_req *req);
/* Still pending (the task has not been killed and its pid not reused)? */
bool notify_id_valid(int listener, uint64_t id);
/* Answers the call: return value val and errno err (0: success). */
void notify_reply(int listener, uint64_t id, int64_t val, int err);
/* Lets the real syscall run as if nothing had intercepted it (SECCOMP_USER_NOTIF_FLAG_CONTINUE). */
void notify_continue(int listener, uint64_t id);
/* Native ABI and syscall number of sysinfo, for checking a request. */
bool notify_is_native_sysinfo(const struct notify_req *req);

#endif
