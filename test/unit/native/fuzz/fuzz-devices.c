/* The device-rule compiler of native/devices.c (rule list -> v1 policy -> eBPF program) under the
 * fuzz loop. devices.c is included whole so that its own static functions are what runs; its
 * fatal error path (diex_) comes back here by longjmp instead of exiting. Properties:
 *   - a list of well-formed rules is refused only for a hole in a wider rule or too many rules;
 *     a malformed rule always is, with the rule quoted;
 *   - the program checks out statically: known opcodes only, jumps forward and inside it, no
 *     register read before it is written, context loads aligned inside bpf_cgroup_dev_ctx, r0
 *     set at every exit, length within what compile() allocated;
 *   - interpreted, it gives the policy's verdict (v1 semantics: under default deny one exception
 *     must cover all requested access, under default allow any overlap denies) for requests at
 *     and around every rule's device;
 *   - the last rule has its say: a request it names gets its action (where v1 promises that);
 *   - appending an exception never loosens (default deny: allows more; default allow: denies more);
 *   - the kernel's verifier loads it (BPF_PROG_LOAD, as root), the largest allowed one included. */
#include "fuzz.h"

#include <setjmp.h>
#include <stdarg.h>

/* devices.c's fatal errors: back to the caller of guarded(). */
static jmp_buf *fuzz_jmp;
static char fuzz_msg[1024];

#include "devices.c"

void diex_(int code, const char *fmt, ...)
{
	va_list ap;
	(void)code;
	va_start(ap, fmt);
	vsnprintf(fuzz_msg, sizeof(fuzz_msg), fmt, ap);
	va_end(ap);
	if (!fuzz_jmp) {
		fprintf(stderr, "fuzz: diex_ outside a guarded call: %s\n", fuzz_msg);
		abort();
	}
	longjmp(*fuzz_jmp, 1);
}

static struct policy pol, pol2;

/* The helper's fatal path (diex_) longjmps here: the guarded call's function returns -1, the message in fuzz_msg. */
#define GUARD(jb)                 \
	jmp_buf jb;               \
	fuzz_msg[0] = 0;          \
	fuzz_jmp = &jb;           \
	if (setjmp(jb)) {         \
		fuzz_jmp = NULL;  \
		return -1;        \
	}

/* build(): 0, or -1 with the message in fuzz_msg. */
static int guarded_build(struct policy *p, int n, char **texts)
{
	GUARD(jb);
	build(p, n, texts);
	fuzz_jmp = NULL;
	return 0;
}

static int guarded_load(const struct prog *pr)
{
	GUARD(jb);
	int fd = load(pr);
	fuzz_jmp = NULL;
	return fd;
}

/* ---- a static check of the program, in the spirit of the kernel's verifier ---- */

enum rstate { R_UNINIT, R_CTX, R_SCALAR };

static void verify(const struct prog *pr, size_t nex)
{
	size_t n = pr->n;
	CHECK(n >= 2 && n <= nex * 14 + 2, "program of %zu instructions for %zu exceptions", n, nex);
	/* Jumps only go forward, so one pass in order sees every predecessor of an instruction
	 * first: the state at each one is the meet of what flows in. */
	enum rstate (*st)[11] = calloc(n + 1, sizeof(*st));
	bool *reach = calloc(n + 1, sizeof(bool));
	reach[0] = true;
	st[0][1] = R_CTX;
	for (size_t pc = 0; pc < n; pc++) {
		const struct bpf_insn *i = &pr->insn[pc];
		if (!reach[pc])
			continue;
		enum rstate s[11];
		memcpy(s, st[pc], sizeof(s));
		uint8_t cls = BPF_CLASS(i->code);
		CHECK(i->dst_reg <= 10 && i->src_reg <= 10, "pc %zu: register out of range", pc);
		bool falls = true;
		size_t target = 0;
		if (cls == BPF_LDX) {
			CHECK(i->code == (BPF_LDX | BPF_MEM | BPF_W), "pc %zu: load opcode %#x", pc, i->code);
			CHECK(s[i->src_reg] == R_CTX, "pc %zu: load through r%d, not the context", pc, i->src_reg);
			CHECK(i->off >= 0 && i->off % 4 == 0 && (size_t)i->off + 4 <= sizeof(struct bpf_cgroup_dev_ctx),
			      "pc %zu: context load at %d", pc, i->off);
			s[i->dst_reg] = R_SCALAR;
		} else if (cls == BPF_ALU) {
			uint8_t op = BPF_OP(i->code);
			CHECK(op == BPF_AND || op == BPF_RSH || op == BPF_MOV, "pc %zu: alu op %#x", pc, op);
			if (BPF_SRC(i->code) == BPF_X)
				CHECK(s[i->src_reg] == R_SCALAR, "pc %zu: r%d read before it is written", pc, i->src_reg);
			if (op != BPF_MOV)
				CHECK(s[i->dst_reg] == R_SCALAR, "pc %zu: r%d read before it is written", pc, i->dst_reg);
			if (op == BPF_RSH && BPF_SRC(i->code) == BPF_K)
				CHECK(i->imm >= 0 && i->imm < 32, "pc %zu: shift by %d", pc, i->imm);
			s[i->dst_reg] = R_SCALAR;
		} else if (cls == BPF_JMP) {
			uint8_t op = BPF_OP(i->code);
			if (op == BPF_EXIT) {
				CHECK(s[0] == R_SCALAR, "pc %zu: exit with r0 unset", pc);
				falls = false;
			} else {
				CHECK(op == BPF_JEQ || op == BPF_JNE, "pc %zu: jump op %#x", pc, op);
				CHECK(s[i->dst_reg] == R_SCALAR, "pc %zu: r%d compared before it is written", pc, i->dst_reg);
				if (BPF_SRC(i->code) == BPF_X)
					CHECK(s[i->src_reg] == R_SCALAR, "pc %zu: r%d compared before it is written", pc, i->src_reg);
				CHECK(i->off >= 0, "pc %zu: backward jump", pc);
				target = pc + 1 + (size_t)i->off;
				CHECK(target < n, "pc %zu: jump to %zu of %zu", pc, target, n);
			}
		} else {
			FAILF("pc %zu: instruction class %#x", pc, cls);
		}
		/* merge into the successors: a register is only as set as on its worst path */
		size_t succ[2] = { falls ? pc + 1 : (size_t)-1, target ? target : (size_t)-1 };
		for (int k = 0; k < 2; k++) {
			if (succ[k] == (size_t)-1)
				continue;
			CHECK(succ[k] < n, "pc %zu: runs off the end", pc);
			if (!reach[succ[k]]) {
				memcpy(st[succ[k]], s, sizeof(s));
				reach[succ[k]] = true;
			} else {
				for (int r = 0; r < 11; r++)
					if (st[succ[k]][r] != s[r])
						st[succ[k]][r] = R_UNINIT;
			}
		}
	}
	CHECK(pr->insn[n - 1].code == (BPF_JMP | BPF_EXIT), "the last instruction is no exit");
	free(st);
	free(reach);
}

/* ---- running it ---- */

static int interpret(const struct prog *pr, uint32_t type, uint32_t access, uint32_t major, uint32_t minor)
{
	struct bpf_cgroup_dev_ctx ctx = { .access_type = type | (access << 16), .major = major, .minor = minor };
	uint64_t r[11] = { 0 };
	for (size_t pc = 0; pc < pr->n; pc++) {
		const struct bpf_insn *i = &pr->insn[pc];
		uint64_t src = BPF_SRC(i->code) == BPF_X ? r[i->src_reg] : (uint64_t)(int64_t)i->imm;
		switch (BPF_CLASS(i->code)) {
		case BPF_LDX: {
			uint32_t v;
			memcpy(&v, (const char *)&ctx + i->off, 4);
			r[i->dst_reg] = v;
			break;
		}
		case BPF_ALU: {
			uint32_t d = (uint32_t)r[i->dst_reg], s = (uint32_t)src;
			switch (BPF_OP(i->code)) {
			case BPF_AND: d &= s; break;
			case BPF_RSH: d >>= s; break;
			case BPF_MOV: d = s; break;
			}
			r[i->dst_reg] = d; /* 32-bit ALU zero-extends */
			break;
		}
		case BPF_JMP:
			if (BPF_OP(i->code) == BPF_EXIT)
				return (int)r[0];
			if ((BPF_OP(i->code) == BPF_JEQ) == (r[i->dst_reg] == src))
				pc += i->off;
			break;
		}
	}
	FAILF("fell off the end");
}

static int policy_verdict(const struct policy *p, int type, unsigned access, long long major, long long minor)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct exception *e = &p->ex[i];
		if (e->type != type || (e->major != WILDCARD && e->major != major) || (e->minor != WILDCARD && e->minor != minor))
			continue;
		if (p->default_allow ? (e->access & access) != 0 : (e->access & access) == access)
			return !p->default_allow;
	}
	return p->default_allow;
}

/* ---- rules ---- */

static const long long pool[] = { -1, 0, 1, 3, 4, 5, 7, 10, 136, 254, 2147483647 };

static long long pick_num(struct rng *r)
{
	return chance(r, 6) ? (long long)below(r, 0x7fffffff) : pool[below(r, sizeof(pool) / sizeof(pool[0]))];
}

struct grule {
	bool allow, all;
	int type;
	long long major, minor;
	unsigned access;
	char text[128];
};

static void gen_rule(struct rng *r, struct grule *g)
{
	memset(g, 0, sizeof(*g));
	g->allow = chance(r, 2);
	const char *act = g->allow ? "allow" : "deny";
	if (chance(r, 8)) {
		g->all = true;
		snprintf(g->text, sizeof(g->text), chance(r, 2) ? "%s a" : "%s a *:* rwm", act);
		return;
	}
	g->type = chance(r, 2) ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK;
	g->major = pick_num(r);
	g->minor = pick_num(r);
	do
		g->access = below(r, 8);
	while (!g->access);
	char acc[8];
	size_t n = 0;
	/* any order, letters repeated at times */
	static const char letters[] = "rwm";
	static const unsigned bits[] = { BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE, BPF_DEVCG_ACC_MKNOD };
	for (uint32_t start = below(r, 3), k = 0; k < 3; k++) {
		uint32_t j = (start + k) % 3;
		if (g->access & bits[j]) {
			acc[n++] = letters[j];
			if (chance(r, 8))
				acc[n++] = letters[j];
		}
	}
	acc[n] = 0;
	char maj[16] = "*", min[16] = "*";
	if (g->major != WILDCARD)
		snprintf(maj, sizeof(maj), "%lld", g->major);
	if (g->minor != WILDCARD)
		snprintf(min, sizeof(min), "%lld", g->minor);
	snprintf(g->text, sizeof(g->text), "%s%s%c%s%s:%s%s%s", act, chance(r, 4) ? "\t" : " ",
		 g->type == BPF_DEVCG_DEV_CHAR ? 'c' : 'b', chance(r, 4) ? "  " : " ", maj, min, " ", acc);
}

/* A rule that must be refused. */
static void gen_bad(struct rng *r, char *out, size_t len)
{
	static const char *const bad[] = {
		"allow c 1:3", "allow x 1:3 r", "allow c 1:3 rx", "allow c 1 r", "allow c 2147483648:1 r",
		"allow c 1:2147483648 r", "allow c 1:3 r extra", "permit a", "allow a 1:2 r", "", "allow", "allow c :3 r",
		"allow c 1: r", "allow c -1:3 r", "deny b 1:3 ", "allow c 1:3 R", "allow c 00000000001:3 r", "allow a *:* rx",
		"ALLOW c 1:3 r", "allow c **:3 r", "allow c 1::3 r",
	};
	uint32_t k = below(r, sizeof(bad) / sizeof(bad[0]) + 1);
	if (k < sizeof(bad) / sizeof(bad[0])) {
		snprintf(out, len, "%s", bad[k]);
	} else {
		/* too long */
		memset(out, 'r', len - 1);
		memcpy(out, "allow c 1:3 ", 12);
		out[len - 1] = 0;
	}
}

static void check_program(const struct policy *p, const struct prog *pr, struct grule *rules, size_t nr, struct rng *r,
			  unsigned long *requests)
{
	verify(pr, p->n);
	/* Requests at and around each rule's device, and some anywhere. */
	for (size_t k = 0; k < nr + 4; k++) {
		long long maj = k < nr && !rules[k].all ? rules[k].major : pick_num(r);
		long long min = k < nr && !rules[k].all ? rules[k].minor : pick_num(r);
		for (int d = 0; d < 3; d++) {
			uint32_t M = (uint32_t)(maj == WILDCARD ? below(r, 300) : maj + (d == 1)), m = (uint32_t)(min == WILDCARD ? below(r, 300) : min + (d == 2));
			for (int type = 1; type <= 2; type++)
				for (unsigned acc = 1; acc < 8; acc++) {
					int want = policy_verdict(p, type, acc, M, m), got = interpret(pr, type, acc, M, m);
					CHECK(got == want, "type %d %u:%u access %u: program says %d, policy %d", type, M, m, acc, got, want);
					(*requests)++;
				}
		}
	}
}

void fuzz_devices(unsigned long long seed, unsigned long iters)
{
	struct rng r = { seed };
	unsigned long lists = 0, refused_hole = 0, malformed = 0, loaded = 0, requests = 0, longest = 0, mono = 0, last = 0;
	bool can_load = geteuid() == 0;
	fuzz_target = "devices";
	fuzz_seed = seed;
	for (unsigned long it = 0; it < iters; it++) {
		fuzz_iter = it;
		struct grule rules[16];
		char *texts[17];
		size_t nr = 1 + below(&r, 12);
		for (size_t k = 0; k < nr; k++) {
			gen_rule(&r, &rules[k]);
			texts[k] = rules[k].text;
		}
		if (chance(&r, 2)) {
			/* the usual shape: a reset first */
			snprintf(rules[0].text, sizeof(rules[0].text), "%s a", chance(&r, 3) ? "allow" : "deny");
			rules[0].all = true;
			rules[0].allow = rules[0].text[0] == 'a';
		}
		if (guarded_build(&pol, (int)nr, texts) < 0) {
			CHECK(strstr(fuzz_msg, "cannot punch a hole"), "well-formed rules refused: %s", fuzz_msg);
			refused_hole++;
		} else {
			struct prog pr;
			compile(&pol, &pr);
			lists++;
			if (pr.n > longest)
				longest = pr.n;
			check_program(&pol, &pr, rules, nr, &r, &requests);
			/* The last rule's own device, as v1 promises it: an exception it adds, or an exact
			 * one it takes access from. */
			const struct grule *g = &rules[nr - 1];
			bool adds = !g->all && g->allow != pol.default_allow;
			bool exact = !g->all && g->major != WILDCARD && g->minor != WILDCARD;
			if (g->all || adds || exact) {
				uint32_t M = g->major == WILDCARD ? below(&r, 1000) : (uint32_t)g->major;
				uint32_t m = g->minor == WILDCARD ? below(&r, 1000) : (uint32_t)g->minor;
				unsigned acc = g->all ? 1 + below(&r, 7) : g->access;
				int type = g->all ? 1 + (int)below(&r, 2) : g->type;
				CHECK(interpret(&pr, type, acc, M, m) == g->allow, "the last rule \"%s\" is not what happens", g->text);
				last++;
			}
			if (can_load && it % 4 == 0) {
				int fd = guarded_load(&pr);
				CHECK(fd >= 0, "the kernel refuses the program: %s", fuzz_msg);
				close(fd);
				loaded++;
			}
			/* One more exception never loosens. */
			struct grule extra;
			do
				gen_rule(&r, &extra);
			while (extra.all || extra.allow == pol.default_allow);
			texts[nr] = extra.text;
			CHECK(guarded_build(&pol2, (int)nr + 1, texts) == 0, "adding \"%s\" fails: %s", extra.text, fuzz_msg);
			struct prog pr2;
			compile(&pol2, &pr2);
			verify(&pr2, pol2.n);
			for (int k = 0; k < 64; k++) {
				uint32_t M = (uint32_t)(chance(&r, 2) && extra.major != WILDCARD ? extra.major : pick_num(&r) & 0x7fffffff);
				uint32_t m = (uint32_t)(chance(&r, 2) && extra.minor != WILDCARD ? extra.minor : pick_num(&r) & 0x7fffffff);
				int type = 1 + (int)below(&r, 2);
				unsigned acc = 1 + below(&r, 7);
				int before = interpret(&pr, type, acc, M, m), after = interpret(&pr2, type, acc, M, m);
				CHECK(pol.default_allow ? after <= before : after >= before, "\"%s\" loosened %d %u:%u %u", extra.text, type, M, m, acc);
				mono++;
			}
			free(pr2.insn);
			free(pr.insn);
		}
		/* A malformed rule somewhere in a list. */
		char bad[256];
		gen_bad(&r, bad, sizeof(bad));
		size_t at = below(&r, (uint32_t)nr);
		char *saved = texts[at];
		texts[at] = bad;
		CHECK(guarded_build(&pol2, (int)nr, texts) < 0, "malformed rule \"%s\" accepted", bad);
		CHECK(strstr(fuzz_msg, "rule \"") || strstr(fuzz_msg, "cannot punch"), "refusal does not quote the rule: %s", fuzz_msg);
		texts[at] = saved;
		malformed++;
	}
	/* The most rules there can be: 1024 distinct exceptions load; one more is refused. */
	fuzz_iter = iters;
	static char big[MAX_EXCEPTIONS + 1][40];
	static char *bigp[MAX_EXCEPTIONS + 2];
	bigp[0] = "deny a";
	for (int k = 0; k <= MAX_EXCEPTIONS; k++) {
		snprintf(big[k], sizeof(big[k]), "allow %c %d:%d r%s", k % 2 ? 'b' : 'c', k, k * 7, k % 3 ? "w" : "");
		bigp[k + 1] = big[k];
	}
	CHECK(guarded_build(&pol, MAX_EXCEPTIONS + 1, bigp) == 0, "%d rules refused: %s", MAX_EXCEPTIONS, fuzz_msg);
	struct prog pr;
	compile(&pol, &pr);
	verify(&pr, pol.n);
	if (can_load) {
		int fd = guarded_load(&pr);
		CHECK(fd >= 0, "the kernel refuses the largest program (%zu instructions): %s", pr.n, fuzz_msg);
		close(fd);
		loaded++;
	}
	CHECK(interpret(&pr, BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_ACC_READ, 1023, 1023 * 7) == 1, "the last of the 1024 rules lost");
	free(pr.insn);
	CHECK(guarded_build(&pol, MAX_EXCEPTIONS + 2, bigp) < 0 && strstr(fuzz_msg, "distinct device rules"), "rule 1025 accepted");
	printf("devices: %lu rule lists compiled (longest program %lu instructions), %lu refused for a hole, %lu malformed "
	       "refused, %lu verdicts checked against the policy, %lu last-rule checks, %lu monotonicity checks, %lu "
	       "programs loaded by the kernel%s\n",
	       lists, longest, refused_hole, malformed, requests, last, mono, loaded, can_load ? "" : " (not root: none)");
}
