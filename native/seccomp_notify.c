/* The sysinfo(2) notification filter and its listener plumbing; see seccomp_notify.h. */
#include "seccomp_notify.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) && !defined(__ILP32__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int seccomp_notify_install(void)
{
#ifdef NATIVE_AUDIT_ARCH
	/* Classic BPF over struct seccomp_data. A foreign ABI (i386 through int 0x80, whose
	 * struct sysinfo has another layout) is allowed before the number is even looked at; x32
	 * numbers carry __X32_SYSCALL_BIT, so they never equal the native __NR_sysinfo. */
	struct sock_filter insns[] = {
		/* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 0, 3), /* no: 5 */
		/* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		/* 3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_sysinfo, 0, 1),      /* no: 5 */
		/* 4 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		/* 5 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };
	/* The listener comes back close-on-exec. EBUSY: a filter with a listener is already in
	 * our chain (the kernel allows one per chain). */
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
#else
	errno = ENOSYS;
	return -1;
#endif
}

int send_fd(int sock, int fd)
{
	char byte = 'L';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

int recv_fd_data(int sock, void *data, size_t len)
{
	struct iovec iov = { .iov_base = data, .iov_len = len };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if ((size_t)n != len || !c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int))) {
		/* One fd at most fits the control buffer; a message with more is truncated, and the
		 * kernel closes what did not fit. */
		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
			int fd;
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
			close(fd);
		}
		errno = n == 0 ? ECONNRESET : EPROTO;
		return -1;
	}
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
		close(fd);
		errno = EPROTO;
		return -1;
	}
	return fd;
}

int recv_fd(int sock)
{
	char byte;
	return recv_fd_data(sock, &byte, 1);
}

bool is_seccomp_listener(int fd)
{
	char path[32], target[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return strcmp(target, "anon_inode:seccomp notify") == 0;
}

/* Room for struct growth in future kernels; notify_init checks the real sizes against it. */
static union {
	struct seccomp_notif n;
	char raw[256];
} g_req;
static union {
	struct seccomp_notif_resp r;
	char raw[64];
} g_resp;
static struct seccomp_notif_sizes g_sizes;

int notify_init(void)
{
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &g_sizes) < 0)
		return -1;
	if (g_sizes.seccomp_notif > sizeof(g_req) || g_sizes.seccomp_notif_resp > sizeof(g_resp) ||
	    g_sizes.seccomp_notif < sizeof(g_req.n) || g_sizes.seccomp_notif_resp < sizeof(g_resp.r)) {
		errno = EOVERFLOW;
		return -1;
	}
	return 0;
}

int notify_recv(int listener, struct notify_req *req)
{
	int r;
	do {
		/* The kernel refuses a buffer that is not all zeroes. */
		memset(&g_req, 0, sizeof(g_req));
		r = ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &g_req);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	req->id = g_req.n.id;
	req->pid = g_req.n.pid;
	req->nr = g_req.n.data.nr;
	req->arch = g_req.n.data.arch;
	memcpy(req->args, g_req.n.data.args, sizeof(req->args));
	return 0;
}

bool notify_id_valid(int listener, uint64_t id)
{
	return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

static void send_resp(int listener, uint64_t id, int64_t val, int err, uint32_t flags)
{
	memset(&g_resp, 0, sizeof(g_resp));
	g_resp.r.id = id;
	g_resp.r.val = val;
	g_resp.r.error = -err; /* the kernel wants a negative errno */
	g_resp.r.flags = flags;
	int r;
	do
		r = ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &g_resp);
	while (r < 0 && errno == EINTR);
	/* ENOENT: the caller was killed meanwhile; nobody is left to answer. */
}

void notify_reply(int listener, uint64_t id, int64_t val, int err)
{
	send_resp(listener, id, val, err, 0);
}

void notify_continue(int listener, uint64_t id)
{
	send_resp(listener, id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
}

bool notify_is_native_sysinfo(const struct notify_req *req)
{
#ifdef NATIVE_AUDIT_ARCH
	return req->arch == NATIVE_AUDIT_ARCH && req->nr == __NR_sysinfo;
#else
	(void)req;
	return false;
#endif
}
