/*
 * ctspawn devices: device access control on cgroup v2, where there is no devices.allow /
 * devices.deny: a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup decides every
 * open(2) and mknod(2) of a device node by the tasks in it (and its descendants).
 *
 * The rule list is first run through an emulation of the v1 devices controller, the way runc's
 * devicefilter (after crun's ebpf.c) does it, so the same list means the same on v1 and v2:
 *
 *   state: a default (allow or deny) and a set of exceptions {type, major, minor -> access};
 *   the state starts as "default deny, no exceptions" (NOT v1's "allow all" of a fresh
 *   cgroup: each call replaces the whole program, so a list that forgot its leading "deny a"
 *   must fail closed, not open).
 *   "allow a" / "deny a"        reset: default allow / deny, no exceptions.
 *   a rule whose action is the opposite of the default ("allow c 1:3 rw" under default deny)
 *                               adds an exception; access bits for an identical
 *                               type/major/minor merge.
 *   a rule whose action equals the default ("deny c 1:3 w" under default deny)
 *                               removes those access bits from the exception with exactly that
 *                               type/major/minor, as v1 does. v1 silently keeps a wildcard
 *                               exception that also covers the device ("c *:* m" still allows
 *                               mknod of 1:3 after "deny c 1:3 m"); like runc we refuse such a
 *                               rule ("cannot punch a hole") instead of pretending to deny.
 *
 * The program (registers: r1 = struct bpf_cgroup_dev_ctx *, kept; each block loads from it what
 * it compares, see below):
 *   r2 = ctx->access_type & 0xffff  (BPF_DEVCG_DEV_BLOCK 1 / _CHAR 2)
 *   r3 = ctx->access_type >> 16     (BPF_DEVCG_ACC_MKNOD 1 | _READ 2 | _WRITE 4)
 *   r4 = ctx->major, r5 = ctx->minor, r6 scratch
 *   per exception: if r2 != type goto next;
 *                  default deny:  if (r3 & access) != r3 goto next   (one exception must cover
 *                                                                    all requested access, v1)
 *                  default allow: if (r3 & access) == 0 goto next    (any overlap denies, v1)
 *                  (no access test when access is "rwm")
 *                  if major given: if r4 != major goto next; the same for minor;
 *                  return !default
 *   return default                  (1 = allow, 0 = deny: the syscall fails with EPERM)
 * Since all exceptions have the same verdict, their order does not matter.
 * Every block loads r2..r5 again instead of once up front: then no register is live where the
 * blocks join, and the kernel's verifier, which tracks what each branch taught it about a value,
 * sees one state there and checks the program in linear time. With one load up front it followed
 * every path: about 600 exceptions of mixed types ran into its limit of a million instructions,
 * short of MAX_EXCEPTIONS (found by test/unit/native/fuzz).
 *
 * Attaching: BPF_F_ALLOW_MULTI, so programs of ancestors and descendants all run and each can
 * only deny more (a container cannot lift a parent's restriction). Replacing a previous vzkit
 * program (found with BPF_PROG_QUERY, recognised by its name "vzkit_devices") uses
 * BPF_F_REPLACE: the kernel swaps the two in place atomically, with no moment without a filter
 * nor with both. On kernels without BPF_F_REPLACE (< 5.6: EINVAL) the new program is attached
 * next to the old one, then the old one is detached: meanwhile both run, an access must pass
 * both, so the window is stricter than either policy, never looser. Other programs attached
 * to the cgroup (not named vzkit_devices) are left alone. No libbpf: the program is a plain
 * struct bpf_insn array loaded with bpf(2).
 */
#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "protocol.h"
#include "util.h"

#define PROG_NAME "vzkit_devices"
#define MAX_EXCEPTIONS 1024
#define WILDCARD (-1LL)
#define ACC_ALL (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

struct exception {
	int type; /* BPF_DEVCG_DEV_CHAR / BPF_DEVCG_DEV_BLOCK */
	long long major, minor; /* WILDCARD or 0..INT32_MAX */
	unsigned access; /* BPF_DEVCG_ACC_* bits */
};

struct policy {
	bool default_allow;
	struct exception ex[MAX_EXCEPTIONS];
	size_t n;
};

struct rule {
	bool allow, all; /* all: the "a" rule */
	struct exception e;
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diex_(EXIT_HELPER_FAILED, "devices: %s", msg);
}

static long bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static uint64_t ptr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* ---- rules ---- */

static int parse_num(const char *s, size_t len, long long *out)
{
	if (len == 1 && s[0] == '*') {
		*out = WILDCARD;
		return 0;
	}
	if (len == 0 || len > 10)
		return -1;
	long long v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	/* JNE compares the 64-bit register with a sign-extended 32-bit immediate: stay positive.
	 * (Real majors have 12 bits, minors 20.) */
	if (v > INT32_MAX)
		return -1;
	*out = v;
	return 0;
}

static int parse_access(const char *s, unsigned *out)
{
	unsigned a = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		switch (*s) {
		case 'r': a |= BPF_DEVCG_ACC_READ; break;
		case 'w': a |= BPF_DEVCG_ACC_WRITE; break;
		case 'm': a |= BPF_DEVCG_ACC_MKNOD; break;
		default: return -1;
		}
	}
	*out = a;
	return 0;
}

/* "allow c 1:3 rwm", "deny b *:* m", "deny a", "allow a *:* rwm". */
static void parse_rule(const char *text, struct rule *r)
{
	char buf[128], *save = NULL;
	if (strlen(text) >= sizeof(buf))
		fail("rule \"%.40s...\": too long", text);
	strcpy(buf, text);
	char *action = strtok_r(buf, " \t", &save);
	char *type = strtok_r(NULL, " \t", &save);
	char *num = strtok_r(NULL, " \t", &save);
	char *acc = strtok_r(NULL, " \t", &save);
	char *extra = strtok_r(NULL, " \t", &save);
	memset(r, 0, sizeof(*r));
	if (!action || (strcmp(action, "allow") && strcmp(action, "deny")))
		fail("rule \"%s\": must start with \"allow \" or \"deny \"", text);
	r->allow = action[0] == 'a';
	if (!type || extra)
		fail("rule \"%s\": expected ACTION TYPE MAJOR:MINOR ACCESS, or ACTION a", text);
	if (strcmp(type, "a") == 0) {
		/* v1 ignores what follows "a"; accept only the spelling devices.list uses. */
		unsigned a;
		if (num && (strcmp(num, "*:*") || !acc || parse_access(acc, &a)))
			fail("rule \"%s\": \"a\" takes no device (\"%s a\" or \"%s a *:* rwm\")", text, action, action);
		r->all = true;
		return;
	}
	if (strcmp(type, "c") == 0)
		r->e.type = BPF_DEVCG_DEV_CHAR;
	else if (strcmp(type, "b") == 0)
		r->e.type = BPF_DEVCG_DEV_BLOCK;
	else
		fail("rule \"%s\": type must be a, b or c", text);
	const char *colon = num ? strchr(num, ':') : NULL;
	if (!colon || parse_num(num, colon - num, &r->e.major) || parse_num(colon + 1, strlen(colon + 1), &r->e.minor))
		fail("rule \"%s\": MAJOR:MINOR must be numbers up to 2147483647 or *", text);
	if (!acc || parse_access(acc, &r->e.access))
		fail("rule \"%s\": access must be a non-empty subset of \"rwm\"", text);
}

static struct exception *find(struct policy *p, int type, long long major, long long minor)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->ex[i].type == type && p->ex[i].major == major && p->ex[i].minor == minor)
			return &p->ex[i];
	return NULL;
}

static void fmt_exception(char *buf, size_t len, const struct exception *e)
{
	char maj[16] = "*", min[16] = "*", acc[4];
	size_t n = 0;
	if (e->major != WILDCARD)
		snprintf(maj, sizeof(maj), "%lld", e->major);
	if (e->minor != WILDCARD)
		snprintf(min, sizeof(min), "%lld", e->minor);
	if (e->access & BPF_DEVCG_ACC_READ)
		acc[n++] = 'r';
	if (e->access & BPF_DEVCG_ACC_WRITE)
		acc[n++] = 'w';
	if (e->access & BPF_DEVCG_ACC_MKNOD)
		acc[n++] = 'm';
	acc[n] = 0;
	snprintf(buf, len, "%c %s:%s %s", e->type == BPF_DEVCG_DEV_CHAR ? 'c' : 'b', maj, min, acc);
}

static void add_exception(struct policy *p, const struct exception *e)
{
	struct exception *x = find(p, e->type, e->major, e->minor);
	if (x) {
		x->access |= e->access;
		return;
	}
	if (p->n == MAX_EXCEPTIONS)
		fail("more than %d distinct device rules", MAX_EXCEPTIONS);
	p->ex[p->n++] = *e;
}

/* A rule with the default's own action: takes access away from the exact exception. */
static void remove_exception(struct policy *p, const struct exception *e, const char *text)
{
	const long long partial[3][2] = { { WILDCARD, e->minor }, { e->major, WILDCARD }, { WILDCARD, WILDCARD } };
	for (size_t i = 0; i < 3; i++) {
		if (partial[i][0] == e->major && partial[i][1] == e->minor)
			continue;
		struct exception *w = find(p, e->type, partial[i][0], partial[i][1]);
		if (w && (w->access & e->access)) {
			char wt[64];
			fmt_exception(wt, sizeof(wt), w);
			fail("rule \"%s\": cannot punch a hole in the wider rule \"%s %s\" (cgroup v1 would silently "
			     "ignore it); narrow that rule instead",
			     text, p->default_allow ? "deny" : "allow", wt);
		}
	}
	struct exception *x = find(p, e->type, e->major, e->minor);
	if (!x)
		return;
	x->access &= ~e->access;
	if (!x->access) {
		*x = p->ex[p->n - 1];
		p->n--;
	}
}

static void apply_rule(struct policy *p, const struct rule *r, const char *text)
{
	if (r->all) {
		p->default_allow = r->allow;
		p->n = 0;
	} else if (r->allow != p->default_allow) {
		add_exception(p, &r->e);
	} else {
		remove_exception(p, &r->e, text);
	}
}

/* ---- the program ---- */

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX_W(dst, src, off) INSN(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
#define ALU32_IMM(op, dst, imm) INSN(BPF_ALU | (op) | BPF_K, dst, 0, 0, imm)
#define MOV32_REG(dst, src) INSN(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
#define JMP_IMM(op, dst, imm, off) INSN(BPF_JMP | (op) | BPF_K, dst, 0, off, imm)
#define JMP_REG(op, dst, src, off) INSN(BPF_JMP | (op) | BPF_X, dst, src, off, 0)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

struct prog {
	struct bpf_insn *insn;
	size_t n;
};

static void emit(struct prog *pr, struct bpf_insn i)
{
	pr->insn[pr->n++] = i;
}

static size_t block_len(const struct exception *e)
{
	return 3 + (e->access != ACC_ALL ? 5 : 0) + (e->major != WILDCARD ? 2 : 0) + (e->minor != WILDCARD ? 2 : 0) + 2;
}

static void compile(const struct policy *p, struct prog *pr)
{
	pr->insn = calloc(p->n * 14 + 2, sizeof(*pr->insn)); /* blocks of <= 14, default */
	if (!pr->insn)
		fail("out of memory");
	pr->n = 0;
	for (size_t i = 0; i < p->n; i++) {
		const struct exception *e = &p->ex[i];
		size_t next = pr->n + block_len(e);
#define TO_NEXT ((short)(next - pr->n - 1))
		emit(pr, LDX_W(BPF_REG_2, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, access_type)));
		emit(pr, ALU32_IMM(BPF_AND, BPF_REG_2, 0xffff));
		emit(pr, JMP_IMM(BPF_JNE, BPF_REG_2, e->type, TO_NEXT));
		if (e->access != ACC_ALL) {
			emit(pr, LDX_W(BPF_REG_3, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, access_type)));
			emit(pr, ALU32_IMM(BPF_RSH, BPF_REG_3, 16));
			emit(pr, MOV32_REG(BPF_REG_6, BPF_REG_3));
			emit(pr, ALU32_IMM(BPF_AND, BPF_REG_6, (int)e->access));
			if (p->default_allow)
				emit(pr, JMP_IMM(BPF_JEQ, BPF_REG_6, 0, TO_NEXT));
			else
				emit(pr, JMP_REG(BPF_JNE, BPF_REG_6, BPF_REG_3, TO_NEXT));
		}
		if (e->major != WILDCARD) {
			emit(pr, LDX_W(BPF_REG_4, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, major)));
			emit(pr, JMP_IMM(BPF_JNE, BPF_REG_4, (int)e->major, TO_NEXT));
		}
		if (e->minor != WILDCARD) {
			emit(pr, LDX_W(BPF_REG_5, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, minor)));
			emit(pr, JMP_IMM(BPF_JNE, BPF_REG_5, (int)e->minor, TO_NEXT));
		}
#undef TO_NEXT
		emit(pr, ALU32_IMM(BPF_MOV, BPF_REG_0, p->default_allow ? 0 : 1));
		emit(pr, EXIT());
		if (pr->n != next)
			fail("internal error: block %zu has %zu instructions, expected %zu", i, pr->n, next);
	}
	emit(pr, ALU32_IMM(BPF_MOV, BPF_REG_0, p->default_allow ? 1 : 0));
	emit(pr, EXIT());
}

/* The verifier's log, last lines first cut to fit one message line. */
static void log_excerpt(const char *log, char *out, size_t len)
{
	size_t n = strlen(log);
	while (n && (log[n - 1] == '\n' || log[n - 1] == ' '))
		n--;
	size_t start = n > 400 ? n - 400 : 0;
	size_t o = 0;
	for (size_t i = start; i < n && o + 4 < len; i++) {
		if (log[i] == '\n') {
			memcpy(out + o, " | ", 3);
			o += 3;
		} else if (log[i] != ' ' || (o && out[o - 1] != ' ')) {
			out[o++] = log[i]; /* runs of blanks (column padding) as one */
		}
	}
	out[o] = 0;
}

static int load(const struct prog *pr)
{
	/* Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK (64 KiB by default): lift it. */
	struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	(void)setrlimit(RLIMIT_MEMLOCK, &unlimited);
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = ptr(pr->insn);
	a.insn_cnt = pr->n;
	a.license = ptr("Apache");
	memcpy(a.prog_name, PROG_NAME, sizeof(PROG_NAME));
	int fd = bpf(BPF_PROG_LOAD, &a);
	if (fd >= 0)
		return fd;
	/* Again with the verifier's log (not the first time: a full log buffer is itself an error). */
	int err = errno;
	static char log[65536];
	a.log_level = 1;
	a.log_buf = ptr(log);
	a.log_size = sizeof(log);
	log[0] = 0;
	fd = bpf(BPF_PROG_LOAD, &a);
	if (fd >= 0)
		return fd;
	char ex[512];
	log_excerpt(log, ex, sizeof(ex));
	fail("loading the BPF device program (%zu instructions): %s%s%s", pr->n, strerror(err), ex[0] ? "; verifier: " : "",
	     ex);
}

/* ---- attached programs ---- */

struct attached {
	uint32_t id;
	int fd; /* -1 if it could not be opened */
	char name[BPF_OBJ_NAME_LEN];
};

/* The device programs attached to the cgroup itself (not inherited ones). */
static size_t query(int cgfd, const char *dir, struct attached **out)
{
	uint32_t cap = 64;
	uint32_t *ids = NULL;
	union bpf_attr a;
	for (;;) {
		ids = realloc(ids, cap * sizeof(*ids));
		if (!ids)
			fail("out of memory");
		memset(&a, 0, sizeof(a));
		a.query.target_fd = cgfd;
		a.query.attach_type = BPF_CGROUP_DEVICE;
		a.query.prog_ids = ptr(ids);
		a.query.prog_cnt = cap;
		if (bpf(BPF_PROG_QUERY, &a) == 0)
			break;
		if (errno != ENOSPC || a.query.prog_cnt <= cap) {
			int err = errno;
			fail("querying the device programs of %s: %s", dir, strerror(err));
		}
		cap = a.query.prog_cnt;
	}
	struct attached *list = calloc(a.query.prog_cnt + 1, sizeof(*list));
	if (!list)
		fail("out of memory");
	for (uint32_t i = 0; i < a.query.prog_cnt; i++) {
		list[i].id = ids[i];
		union bpf_attr g;
		memset(&g, 0, sizeof(g));
		g.prog_id = ids[i];
		list[i].fd = bpf(BPF_PROG_GET_FD_BY_ID, &g);
		if (list[i].fd < 0)
			continue; /* gone meanwhile */
		struct bpf_prog_info info;
		memset(&info, 0, sizeof(info));
		memset(&g, 0, sizeof(g));
		g.info.bpf_fd = list[i].fd;
		g.info.info_len = sizeof(info);
		g.info.info = ptr(&info);
		if (bpf(BPF_OBJ_GET_INFO_BY_FD, &g) == 0)
			memcpy(list[i].name, info.name, sizeof(list[i].name) - 1);
	}
	free(ids);
	*out = list;
	return a.query.prog_cnt;
}

static bool ours(const struct attached *p)
{
	return p->fd >= 0 && strcmp(p->name, PROG_NAME) == 0;
}

static int attach(int cgfd, int progfd, int replace_fd)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.target_fd = cgfd;
	a.attach_bpf_fd = progfd;
	a.attach_type = BPF_CGROUP_DEVICE;
	a.attach_flags = BPF_F_ALLOW_MULTI;
	if (replace_fd >= 0) {
		a.attach_flags |= BPF_F_REPLACE;
		a.replace_bpf_fd = replace_fd;
	}
	return (int)bpf(BPF_PROG_ATTACH, &a);
}

static int detach(int cgfd, int progfd)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.target_fd = cgfd;
	a.attach_bpf_fd = progfd;
	a.attach_type = BPF_CGROUP_DEVICE;
	return (int)bpf(BPF_PROG_DETACH, &a);
}

static int open_cgroup(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		fail("cannot open %s: %s", dir, strerror(err));
	}
	struct statfs st;
	if (fstatfs(fd, &st) == 0 && st.f_type != CGROUP2_SUPER_MAGIC)
		fail("%s is not a cgroup v2 directory", dir);
	return fd;
}

/* ---- the subcommand ---- */

static int usage(void)
{
	fputs("usage: ctspawn devices CGROUP_DIR RULE...   replace the cgroup's device program\n"
	      "       ctspawn devices --query CGROUP_DIR    list its device programs: \"ID NAME\"\n"
	      "       ctspawn devices --print RULE...       show the policy the rules compile to\n"
	      "RULE: \"allow|deny TYPE MAJOR:MINOR ACCESS\" (TYPE b or c, * for any number, ACCESS of rwm)\n"
	      "      or \"allow|deny a\" (everything); the list starts from \"deny a\"\n",
	      stderr);
	return EXIT_HELPER_FAILED;
}

static void build(struct policy *p, int n, char **texts)
{
	memset(p, 0, sizeof(*p));
	for (int i = 0; i < n; i++) {
		struct rule r;
		parse_rule(texts[i], &r);
		apply_rule(p, &r, texts[i]);
	}
}

int cmd_devices(int argc, char **argv)
{
	static struct policy pol;
	if (argc >= 2 && strcmp(argv[1], "--query") == 0) {
		if (argc != 3)
			return usage();
		int cgfd = open_cgroup(argv[2]);
		struct attached *list;
		size_t n = query(cgfd, argv[2], &list);
		for (size_t i = 0; i < n; i++)
			printf("%u %s\n", list[i].id, list[i].name[0] ? list[i].name : "-");
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "--print") == 0) {
		build(&pol, argc - 2, argv + 2);
		struct prog pr;
		compile(&pol, &pr);
		printf("default %s\n", pol.default_allow ? "allow" : "deny");
		for (size_t i = 0; i < pol.n; i++) {
			char t[64];
			fmt_exception(t, sizeof(t), &pol.ex[i]);
			printf("%s %s\n", pol.default_allow ? "deny" : "allow", t);
		}
		printf("instructions %zu\n", pr.n);
		return 0;
	}
	if (argc < 3 || argv[1][0] == '-')
		return usage();
	const char *dir = argv[1];
	build(&pol, argc - 2, argv + 2);
	struct prog pr;
	compile(&pol, &pr);
	int cgfd = open_cgroup(dir);
	int progfd = load(&pr);

	struct attached *list;
	size_t n = query(cgfd, dir, &list);
	size_t first = n; /* the old vzkit program swapped in place, if any */
	for (size_t i = 0; i < n && first == n; i++)
		if (ours(&list[i]))
			first = i;
	bool attached = false;
	if (first < n) {
		attached = attach(cgfd, progfd, list[first].fd) == 0;
		if (!attached && errno != EINVAL)
			fail("replacing device program %u of %s: %s", list[first].id, dir, strerror(errno));
		if (!attached)
			first = n; /* no BPF_F_REPLACE (kernel < 5.6): attach next to it, detach below */
	}
	if (!attached && attach(cgfd, progfd, -1) < 0)
		fail("attaching the device program to %s: %s", dir, strerror(errno));
	/* Older vzkit programs left over (replaced without BPF_F_REPLACE, or an interrupted run). */
	for (size_t i = 0; i < n; i++) {
		if (i == first || !ours(&list[i]))
			continue;
		if (detach(cgfd, list[i].fd) < 0 && errno != ENOENT)
			fail("detaching the old device program %u from %s: %s", list[i].id, dir, strerror(errno));
	}
	return 0;
}
