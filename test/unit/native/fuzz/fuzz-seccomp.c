/* The helper's two seccomp filters under the fuzz loop: the deny filter libseccomp builds from
 * native/harden.c's table (for random nesting / ns_allow settings, unknown kind names included)
 * and the sysinfo notification filter of native/seccomp_notify.c (its classic BPF taken as it is
 * handed to seccomp(2): the file is included here with syscall() caught). Properties:
 *   - harden_ns_mask gives exactly the CLONE_NEW* bits of the names, or names the unknown one;
 *   - each program passes the checks of the kernel's bpf_check_classic and seccomp_check_filter
 *     (length, known opcodes, aligned loads inside struct seccomp_data, jumps inside, a return
 *     at the end, scratch memory written before read);
 *   - interpreted, it gives the documented verdict for every deny-listed syscall of both ABIs,
 *     for unshare/clone/setns/clone3 with random flags, for random numbers, x32 and foreign ABIs;
 *   - the kernel loads it (in a forked child), and the syscalls that child then makes get the
 *     verdict the policy promises, from the real kernel: EPERM/ENOSYS where denied, the
 *     kernel's own error for the same invalid call where allowed; int 0x80 (i386) too. */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harden.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#define X32_BIT 0x40000000u
#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | (uint32_t)(e))

/* ---- seccomp_notify.c, with its seccomp(2) call caught while capturing ---- */

static bool capturing;
static struct sock_filter captured[64];
static size_t captured_len;
static unsigned long captured_flags;

/* Every syscall() in seccomp_notify.c is seccomp(2), with three arguments. */
static long capture_syscall(long nr, ...)
{
	va_list ap;
	long a[3];
	CHECK(nr == SYS_seccomp, "seccomp_notify.c made syscall %ld", nr);
	va_start(ap, nr);
	for (int i = 0; i < 3; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (capturing && nr == SYS_seccomp && a[0] == SECCOMP_SET_MODE_FILTER) {
		const struct sock_fprog *p = (const struct sock_fprog *)a[2];
		CHECK(p->len <= 64, "notify filter of %u instructions", p->len);
		memcpy(captured, p->filter, p->len * sizeof(*captured));
		captured_len = p->len;
		captured_flags = (unsigned long)a[1];
		return 99;
	}
	return syscall(nr, a[0], a[1], a[2]);
}

#define syscall capture_syscall
#include "seccomp_notify.c"
#undef syscall

/* ---- classic BPF: the kernel's load-time checks, and an interpreter ---- */

static void check_classic(const struct sock_filter *f, size_t n)
{
	CHECK(n > 0 && n <= BPF_MAXINSNS, "program of %zu instructions", n);
	/* Scratch memory must be written before it is read on every path (check_load_and_stores);
	 * jumps only go forward, so one pass in order merges all predecessors. */
	uint16_t *valid = calloc(n, sizeof(*valid));
	bool *reach = calloc(n, sizeof(bool));
	reach[0] = true;
	valid[0] = 0;
	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *i = &f[pc];
		if (!reach[pc])
			continue;
		uint16_t mem = valid[pc];
		size_t succ[2] = { pc + 1, (size_t)-1 };
		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			CHECK(i->k < sizeof(struct seccomp_data) && i->k % 4 == 0, "pc %zu: load at %u", pc, i->k);
			break;
		case BPF_LD | BPF_W | BPF_LEN:
		case BPF_LDX | BPF_W | BPF_LEN:
		case BPF_LD | BPF_IMM:
		case BPF_LDX | BPF_IMM:
		case BPF_MISC | BPF_TAX:
		case BPF_MISC | BPF_TXA:
		case BPF_ALU | BPF_NEG:
			break;
		case BPF_LD | BPF_MEM:
		case BPF_LDX | BPF_MEM:
			CHECK(i->k < BPF_MEMWORDS && (mem & (1u << i->k)), "pc %zu: M[%u] read before it is written", pc, i->k);
			break;
		case BPF_ST:
		case BPF_STX:
			CHECK(i->k < BPF_MEMWORDS, "pc %zu: M[%u]", pc, i->k);
			mem |= (uint16_t)(1u << i->k);
			break;
		case BPF_RET | BPF_K:
		case BPF_RET | BPF_A:
			succ[0] = (size_t)-1;
			break;
		case BPF_JMP | BPF_JA:
			CHECK((uint64_t)pc + 1 + i->k < n, "pc %zu: ja %u out of the program", pc, i->k);
			succ[0] = pc + 1 + i->k;
			break;
		default:
			if (BPF_CLASS(i->code) == BPF_ALU) {
				uint16_t op = BPF_OP(i->code);
				CHECK(op == BPF_ADD || op == BPF_SUB || op == BPF_MUL || op == BPF_DIV || op == BPF_MOD || op == BPF_AND ||
					      op == BPF_OR || op == BPF_XOR || op == BPF_LSH || op == BPF_RSH,
				      "pc %zu: alu op %#x", pc, op);
				if (BPF_SRC(i->code) == BPF_K && (op == BPF_DIV || op == BPF_MOD))
					CHECK(i->k != 0, "pc %zu: division by constant 0", pc);
				if (BPF_SRC(i->code) == BPF_K && (op == BPF_LSH || op == BPF_RSH))
					CHECK(i->k < 32, "pc %zu: shift by %u", pc, i->k);
				break;
			}
			if (BPF_CLASS(i->code) == BPF_JMP) {
				uint16_t op = BPF_OP(i->code);
				CHECK(op == BPF_JEQ || op == BPF_JGT || op == BPF_JGE || op == BPF_JSET, "pc %zu: jump op %#x", pc, op);
				CHECK(pc + 1 + i->jt < n && pc + 1 + i->jf < n, "pc %zu: jump out of the program", pc);
				succ[0] = pc + 1 + i->jt;
				succ[1] = pc + 1 + i->jf;
				break;
			}
			FAILF("pc %zu: opcode %#x that seccomp refuses", pc, i->code);
		}
		for (int k = 0; k < 2; k++) {
			if (succ[k] == (size_t)-1)
				continue;
			CHECK(succ[k] < n, "pc %zu: runs off the end", pc);
			valid[succ[k]] = reach[succ[k]] ? valid[succ[k]] & mem : mem;
			reach[succ[k]] = true;
		}
	}
	CHECK(BPF_CLASS(f[n - 1].code) == BPF_RET, "the last instruction is no return");
	free(valid);
	free(reach);
}

static uint32_t run(const struct sock_filter *f, size_t n, const struct seccomp_data *d)
{
	uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = { 0 };
	for (size_t pc = 0; pc < n; pc++) {
		const struct sock_filter *i = &f[pc];
		uint32_t src = BPF_SRC(i->code) == BPF_X ? X : i->k;
		switch (BPF_CLASS(i->code)) {
		case BPF_LD:
		case BPF_LDX: {
			uint32_t v = 0;
			switch (BPF_MODE(i->code)) {
			case BPF_ABS: memcpy(&v, (const char *)d + i->k, 4); break;
			case BPF_IMM: v = i->k; break;
			case BPF_MEM: v = M[i->k]; break;
			case BPF_LEN: v = sizeof(*d); break;
			}
			if (BPF_CLASS(i->code) == BPF_LD)
				A = v;
			else
				X = v;
			break;
		}
		case BPF_ST: M[i->k] = A; break;
		case BPF_STX: M[i->k] = X; break;
		case BPF_ALU:
			switch (BPF_OP(i->code)) {
			case BPF_ADD: A += src; break;
			case BPF_SUB: A -= src; break;
			case BPF_MUL: A *= src; break;
			case BPF_DIV: if (!src) return 0; A /= src; break;
			case BPF_MOD: if (!src) return 0; A %= src; break;
			case BPF_AND: A &= src; break;
			case BPF_OR: A |= src; break;
			case BPF_XOR: A ^= src; break;
			case BPF_LSH: A = src >= 32 ? 0 : A << src; break;
			case BPF_RSH: A = src >= 32 ? 0 : A >> src; break;
			case BPF_NEG: A = -A; break;
			}
			break;
		case BPF_JMP: {
			bool c;
			switch (BPF_OP(i->code)) {
			case BPF_JA: pc += i->k; continue;
			case BPF_JEQ: c = A == src; break;
			case BPF_JGT: c = A > src; break;
			case BPF_JGE: c = A >= src; break;
			default: c = (A & src) != 0; break; /* JSET */
			}
			pc += c ? i->jt : i->jf;
			break;
		}
		case BPF_RET: return BPF_RVAL(i->code) == BPF_A ? A : i->k;
		case BPF_MISC:
			if (BPF_MISCOP(i->code) == BPF_TAX)
				X = A;
			else
				A = X;
			break;
		}
	}
	FAILF("fell off the end of the program");
}

/* ---- what harden.h documents ---- */

struct kind {
	const char *name;
	unsigned long flag;
};
static const struct kind kinds[] = {
	{ "uts", CLONE_NEWUTS }, { "ipc", CLONE_NEWIPC }, { "pid", CLONE_NEWPID },
	{ "user", CLONE_NEWUSER }, { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static int nr_of(uint32_t arch_token, const char *name)
{
	return seccomp_syscall_resolve_name_arch(arch_token, name);
}

static uint32_t expected(const struct seccomp_data *d, bool nesting, unsigned long allow)
{
	uint32_t token;
	if (d->arch == AUDIT_ARCH_X86_64 && !((uint32_t)d->nr & X32_BIT))
		token = SCMP_ARCH_X86_64;
	else if (d->arch == AUDIT_ARCH_I386)
		token = SCMP_ARCH_X86;
	else
		return RET_ERRNO(ENOSYS); /* x32 and every other ABI */
	for (const struct harden_rule *r = harden_deny; r->name; r++)
		if (nr_of(token, r->name) == d->nr)
			return RET_ERRNO(r->err);
	if (nesting)
		return SECCOMP_RET_ALLOW;
	uint32_t blocked = 0;
	for (size_t k = 0; k < NKINDS; k++)
		if (!(kinds[k].flag & allow))
			blocked |= (uint32_t)kinds[k].flag;
	/* Flags are compared as 32 bits; clone's low byte is the exit signal, not CLONE_NEWTIME. */
	if (d->nr == nr_of(token, "unshare") && ((uint32_t)d->args[0] & blocked))
		return RET_ERRNO(EPERM);
	if (d->nr == nr_of(token, "setns") && ((uint32_t)d->args[1] & blocked))
		return RET_ERRNO(EPERM);
	if (d->nr == nr_of(token, "clone") && ((uint32_t)d->args[0] & blocked & ~0xffu))
		return RET_ERRNO(EPERM);
	if (d->nr == nr_of(token, "clone3"))
		return RET_ERRNO(ENOSYS);
	return SECCOMP_RET_ALLOW;
}

static uint64_t random_flags(struct rng *r)
{
	uint64_t v = 0;
	switch (below(r, 4)) {
	case 0: v = rnd(r); break;
	case 1: v = kinds[below(r, NKINDS)].flag | (chance(r, 2) ? SIGCHLD : 0); break;
	case 2: v = CLONE_NEWNS | CLONE_NEWNET | (chance(r, 2) ? 0x80 : SIGCHLD); break;
	default: v = kinds[below(r, NKINDS)].flag | kinds[below(r, NKINDS)].flag; break;
	}
	if (chance(r, 4))
		v |= (uint64_t)rnd(r) << 32; /* the high half is not looked at */
	return v;
}

/* ---- the real kernel, in a child ---- */

static bool have_int80;

static long int80(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory", "cc", "r8", "r9", "r10", "r11");
	return ret;
}

#define I386_GETPID 20
#define I386_SYSINFO 116
#define I386_KEYCTL 288
#define I386_UNSHARE 310
#define I386_BPF 357

#define PROBE(want, call)                                                                                     \
	do {                                                                                                  \
		errno = 0;                                                                                    \
		long rc_ = (call);                                                                            \
		if (rc_ != -1 || errno != (want)) {                                                           \
			fprintf(stderr, "kernel: %s gave %ld (%s), want %s\n", #call, rc_, strerror(errno),   \
				strerror(want));                                                              \
			_exit(12);                                                                            \
		}                                                                                             \
	} while (0)
#define PROBE80(want, call)                                                                           \
	do {                                                                                          \
		long rc_ = (call);                                                                    \
		if (rc_ != -(want)) {                                                                 \
			fprintf(stderr, "kernel: %s gave %ld, want -%s\n", #call, rc_, strerror(want)); \
			_exit(12);                                                                    \
		}                                                                                     \
	} while (0)

/* Loads the deny filter in a child (raw: the exported program through seccomp(2); otherwise
 * harden_seccomp, the helper's own call) and asks the kernel. */
static void kernel_harden(const struct sock_filter *f, size_t n, bool raw, bool nesting, unsigned long allow)
{
	pid_t pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(10);
		struct sock_fprog prog = { .len = (unsigned short)n, .filter = (struct sock_filter *)f };
		if (raw ? syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0 : harden_seccomp(nesting, allow) != 0) {
			fprintf(stderr, "kernel: the filter does not load: %s\n", strerror(errno));
			_exit(11);
		}
		PROBE(EPERM, syscall(__NR_bpf, -1, NULL, 0));
		PROBE(ENOSYS, syscall(__NR_keyctl, -1, 0, 0, 0, 0));
		PROBE(ENOSYS, syscall(__NR_io_uring_setup, 0, NULL));
		PROBE(EPERM, syscall(__NR_perf_event_open, NULL, 0, -1, -1, 0));
		for (size_t k = 0; k < NKINDS; k++) {
			bool blocked = !nesting && !(kinds[k].flag & allow);
			/* The same call is invalid to the kernel itself, so what comes back says who answered. */
			PROBE(blocked ? EPERM : EBADF, syscall(__NR_setns, -1, kinds[k].flag));
			PROBE(blocked ? EPERM : EINVAL, syscall(__NR_unshare, kinds[k].flag | 0x1000 /* CLONE_PIDFD */));
			if (kinds[k].flag != CLONE_NEWTIME) /* CLONE_SIGHAND without CLONE_VM */
				PROBE(blocked ? EPERM : EINVAL, syscall(__NR_clone, kinds[k].flag | CLONE_SIGHAND, 0, 0, 0, 0));
			if (have_int80)
				PROBE80(blocked ? EPERM : EINVAL, int80(I386_UNSHARE, (long)(kinds[k].flag | 0x1000), 0, 0));
		}
		PROBE(nesting ? EINVAL : ENOSYS, syscall(__NR_clone3, NULL, 0));
		if (getpid() <= 0)
			_exit(13);
		if (have_int80) {
			PROBE80(ENOSYS, int80(I386_KEYCTL, -1, 0, 0));
			PROBE80(EPERM, int80(I386_BPF, -1, 0, 0));
			if (int80(I386_GETPID, 0, 0, 0) != getpid())
				_exit(14);
		}
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the kernel's verdicts differ (child status %#x, nesting %d, allow %#lx, %s)",
	      st, nesting, allow, raw ? "exported program" : "harden_seccomp");
}

/* The notification filter in a child: seccomp_notify_install itself; with its listener closed,
 * the kernel answers native sysinfo with ENOSYS, and leaves i386 sysinfo alone. */
static void kernel_notify(void)
{
	pid_t pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		capturing = false;
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(10);
		int fd = seccomp_notify_install();
		if (fd < 0 || !is_seccomp_listener(fd)) {
			fprintf(stderr, "kernel: seccomp_notify_install: %d (%s)\n", fd, strerror(errno));
			_exit(11);
		}
		close(fd);
		struct sysinfo si;
		PROBE(ENOSYS, sysinfo(&si));
		if (have_int80) {
			void *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
			if (low == MAP_FAILED || int80(I386_SYSINFO, (long)low, 0, 0) != 0) {
				fprintf(stderr, "kernel: i386 sysinfo was not let through\n");
				_exit(12);
			}
		}
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the notification filter in the kernel (child status %#x)", st);
}

/* ---- the loop ---- */

static size_t export_filter(scmp_filter_ctx ctx, struct sock_filter *out, size_t max)
{
	int fd = memfd_create("bpf", MFD_CLOEXEC);
	CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
	int rc = seccomp_export_bpf(ctx, fd);
	CHECK(rc == 0, "seccomp_export_bpf: %s", strerror(-rc));
	off_t len = lseek(fd, 0, SEEK_END);
	CHECK(len > 0 && len % sizeof(struct sock_filter) == 0 && (size_t)len <= max * sizeof(*out), "exported %ld bytes", (long)len);
	CHECK(pread(fd, out, (size_t)len, 0) == len, "pread");
	close(fd);
	return (size_t)len / sizeof(*out);
}

void fuzz_seccomp(unsigned long long seed, unsigned long iters)
{
	struct rng r = { seed };
	static struct sock_filter prog[BPF_MAXINSNS];
	unsigned long filters = 0, verdicts = 0, kernel = 0, masks = 0, unknown = 0;
	bool root = geteuid() == 0;
	fuzz_target = "seccomp";
	fuzz_seed = seed;
	/* int 0x80 from a 64-bit program needs the kernel's IA32 emulation: tried in a child first,
	 * where a kernel without it can only kill that child. */
	pid_t pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(int80(I386_GETPID, 0, 0, 0) == getpid() ? 0 : 1);
	int st;
	have_int80 = waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;

	/* The notification filter: fixed, so checked once over many inputs. */
	fuzz_iter = 0;
	capturing = true;
	CHECK(seccomp_notify_install() == 99, "the notification filter was not handed to seccomp(2)");
	capturing = false;
	CHECK(captured_flags == SECCOMP_FILTER_FLAG_NEW_LISTENER, "notification filter flags %#lx", captured_flags);
	check_classic(captured, captured_len);
	for (unsigned long it = 0; it < iters * 64; it++) {
		struct seccomp_data d = { 0 };
		uint32_t arch = below(&r, 4);
		d.arch = arch == 0 ? AUDIT_ARCH_X86_64 : arch == 1 ? AUDIT_ARCH_I386 : arch == 2 ? AUDIT_ARCH_AARCH64 : (uint32_t)rnd(&r);
		d.nr = chance(&r, 4) ? __NR_sysinfo : (int)(chance(&r, 8) ? X32_BIT | below(&r, 600) : below(&r, 600));
		if (chance(&r, 8))
			d.nr = (int)(X32_BIT | __NR_sysinfo);
		uint32_t want = d.arch == AUDIT_ARCH_X86_64 && d.nr == __NR_sysinfo ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_ALLOW;
		CHECK(run(captured, captured_len, &d) == want, "notification filter: arch %#x nr %d", d.arch, d.nr);
		verdicts++;
	}
	if (root) {
		kernel_notify();
		kernel++;
	}

	/* The deny filter, for random settings. */
	for (unsigned long it = 0; it < iters; it++) {
		fuzz_iter = it;
		bool nesting = chance(&r, 4);
		char *names[NKINDS + 2];
		size_t nn = 0;
		unsigned long want_mask = 0;
		const char *bogus = NULL;
		for (size_t k = 0; k < NKINDS; k++)
			if (chance(&r, 3)) {
				names[nn++] = (char *)kinds[k].name;
				want_mask |= kinds[k].flag;
			}
		if (chance(&r, 8)) {
			static const char *const wrong[] = { "net", "mnt", "", "UTS", "uts ", "pid_for_children", "cgroups" };
			bogus = wrong[below(&r, sizeof(wrong) / sizeof(wrong[0]))];
			size_t at = below(&r, (uint32_t)nn + 1);
			memmove(&names[at + 1], &names[at], (nn - at) * sizeof(*names));
			names[at] = (char *)bogus;
			nn++;
		}
		names[nn] = NULL;
		unsigned long allow = 0;
		const char *bad = NULL;
		int rc = harden_ns_mask(names, &allow, &bad);
		if (bogus) {
			CHECK(rc < 0 && bad == bogus, "unknown kind \"%s\" accepted", bogus);
			unknown++;
			continue;
		}
		CHECK(rc == 0 && allow == want_mask, "mask %#lx, want %#lx", allow, want_mask);
		masks++;
		scmp_filter_ctx ctx = harden_filter(nesting, allow);
		CHECK(ctx, "harden_filter: %s", strerror(errno));
		size_t n = export_filter(ctx, prog, BPF_MAXINSNS);
		seccomp_release(ctx);
		check_classic(prog, n);
		filters++;
		/* The whole deny list on both ABIs, the namespace calls with random flags, random numbers. */
		for (uint32_t a = 0; a < 2; a++) {
			uint32_t arch = a ? AUDIT_ARCH_I386 : AUDIT_ARCH_X86_64, token = a ? SCMP_ARCH_X86 : SCMP_ARCH_X86_64;
			for (const struct harden_rule *h = harden_deny; h->name; h++) {
				int nr = nr_of(token, h->name);
				if (nr < 0)
					continue; /* not in this ABI */
				struct seccomp_data d = { .nr = nr, .arch = arch };
				CHECK(run(prog, n, &d) == RET_ERRNO(h->err), "%s on %s not refused", h->name, a ? "i386" : "x86_64");
				verdicts++;
			}
			static const char *const nscalls[] = { "unshare", "clone", "setns", "clone3" };
			for (int k = 0; k < 32; k++) {
				struct seccomp_data d = { .arch = arch };
				d.nr = k < 24 ? nr_of(token, nscalls[k % 4]) : (int)below(&r, 600);
				for (int j = 0; j < 6; j++)
					d.args[j] = random_flags(&r);
				uint32_t want = expected(&d, nesting, allow), got = run(prog, n, &d);
				CHECK(got == want, "arch %#x nr %d args %#llx %#llx (nesting %d, allow %#lx): %#x, want %#x", d.arch, d.nr,
				      (unsigned long long)d.args[0], (unsigned long long)d.args[1], nesting, allow, got, want);
				verdicts++;
			}
		}
		for (int k = 0; k < 8; k++) {
			struct seccomp_data d = { .arch = chance(&r, 2) ? AUDIT_ARCH_X86_64 : chance(&r, 2) ? AUDIT_ARCH_AARCH64 : (uint32_t)rnd(&r) };
			d.nr = (int)(X32_BIT | below(&r, 600));
			if (d.arch != AUDIT_ARCH_X86_64)
				d.nr = (int)below(&r, 600);
			CHECK(run(prog, n, &d) == RET_ERRNO(ENOSYS), "x32 / foreign arch %#x nr %#x allowed", d.arch, d.nr);
			verdicts++;
		}
		if (root) {
			kernel_harden(prog, n, it % 2 == 0, nesting, allow);
			kernel++;
		}
	}
	printf("seccomp: %lu deny filters built (nesting and ns_allow at random) and checked like the kernel does, %lu "
	       "masks right, %lu unknown kinds refused, %lu verdicts interpreted (notification filter included), %lu "
	       "filters loaded into the kernel and probed%s%s\n",
	       filters, masks, unknown, verdicts, kernel, have_int80 ? " (i386 through int 0x80 too)" : "",
	       root ? "" : " (not root: none)");
}
