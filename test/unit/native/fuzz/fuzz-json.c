/* native/json.c under the fuzz loop. Properties:
 *   - every generated valid document (escapes of every kind, surrogate pairs, raw UTF-8, integers
 *     up to the limits, arrays, odd whitespace) is accepted with exactly the generated keys and
 *     values, in order, and json_get finds each;
 *   - every truncation of it that loses the closing brace is rejected, read from a buffer of
 *     exactly that size (ASan reports any read past the end);
 *   - a document with a repeated key (spelled with other escapes) is rejected;
 *   - a mutated document or random bytes is either rejected with an "invalid JSON: " message and
 *     an emptied object, or accepted and then survives a canonical re-serialization unchanged;
 *   - the writer (jw_*) round-trips keys and values through the parser, and into a buffer one
 *     byte too short it reports overflow without writing past the buffer. */
#include "fuzz.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "json.h"

/* ---- a growable byte buffer ---- */

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void putc_(struct buf *b, char c)
{
	put(b, &c, 1);
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct buf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(b, tmp, (size_t)n);
}

/* ---- what a generated document holds ---- */

#define MAXKEYS 12
#define MAXARR 5

struct gval {
	enum jtype type;
	struct buf s; /* JT_STR */
	long long n;
	bool b;
	struct buf arr[MAXARR];
	size_t len;
};

struct gdoc {
	struct buf keys[MAXKEYS];
	struct gval vals[MAXKEYS];
	size_t n;
	struct buf text;
	size_t close; /* offset of the object's closing '}' */
};

static void gdoc_free(struct gdoc *d)
{
	for (size_t i = 0; i < MAXKEYS; i++) {
		free(d->keys[i].p);
		free(d->vals[i].s.p);
		for (size_t j = 0; j < MAXARR; j++)
			free(d->vals[i].arr[j].p);
	}
	free(d->text.p);
	memset(d, 0, sizeof(*d));
}

static void ws(struct rng *r, struct buf *t)
{
	static const char sp[] = " \t\n\r";
	if (chance(r, 2))
		return;
	for (uint32_t k = below(r, 4); k; k--)
		putc_(t, sp[below(r, 4)]);
}

static void utf8(struct buf *b, uint32_t cp)
{
	char o[4];
	if (cp < 0x80) {
		o[0] = (char)cp;
		put(b, o, 1);
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		put(b, o, 2);
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		put(b, o, 3);
	} else {
		o[0] = (char)(0xf0 | (cp >> 18));
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		put(b, o, 4);
	}
}

static void uesc(struct rng *r, struct buf *t, uint32_t unit)
{
	putf(t, chance(r, 2) ? "\\u%04x" : "\\u%04X", unit);
}

/* One string: its decoded bytes into val, its JSON spelling (quotes included) into t. Every
 * character is written one of the ways JSON allows, chosen at random. */
static void gen_string(struct rng *r, struct buf *val, struct buf *t)
{
	putc_(val, 0), val->n = 0; /* an empty string is "" too */
	putc_(t, '"');
	for (uint32_t len = chance(r, 8) ? 0 : below(r, 24); len; len--) {
		uint32_t kind = below(r, 10), cp;
		if (kind == 0) {
			/* A byte that is not UTF-8 on its own: passed through as it is. */
			char c = (char)(0x80 | below(r, 0x80));
			put(val, &c, 1);
			put(t, &c, 1);
			continue;
		}
		if (kind <= 4)
			cp = 0x20 + below(r, 0x5f); /* printable ASCII */
		else if (kind == 5)
			cp = 1 + below(r, 0x1f); /* control: must be escaped */
		else if (kind == 6)
			cp = chance(r, 2) ? '"' : '\\';
		else if (kind == 7)
			cp = 0x80 + below(r, 0x780);
		else if (kind == 8)
			do
				cp = 0x800 + below(r, 0xf800);
			while (cp >= 0xd800 && cp <= 0xdfff);
		else
			cp = 0x10000 + below(r, 0x100000);
		utf8(val, cp);
		const char *shortesc = NULL;
		switch (cp) {
		case '"': shortesc = "\\\""; break;
		case '\\': shortesc = "\\\\"; break;
		case '/': shortesc = chance(r, 2) ? "\\/" : NULL; break;
		case '\b': shortesc = "\\b"; break;
		case '\f': shortesc = "\\f"; break;
		case '\n': shortesc = "\\n"; break;
		case '\r': shortesc = "\\r"; break;
		case '\t': shortesc = "\\t"; break;
		}
		bool must = cp < 0x20 || cp == '"' || cp == '\\';
		if (shortesc && (must || chance(r, 2)) && !(must && chance(r, 3))) {
			put(t, shortesc, strlen(shortesc));
		} else if (must || chance(r, 3)) {
			if (cp >= 0x10000) {
				uint32_t v = cp - 0x10000;
				uesc(r, t, 0xd800 + (v >> 10));
				uesc(r, t, 0xdc00 + (v & 0x3ff));
			} else {
				uesc(r, t, cp);
			}
		} else {
			utf8(t, cp);
		}
	}
	putc_(t, '"');
}

static long long gen_number(struct rng *r)
{
	switch (below(r, 6)) {
	case 0: return LLONG_MAX;
	case 1: return LLONG_MIN;
	case 2: return (long long)rnd(r);
	case 3: return 0;
	default: return (long long)below(r, 2000) - 1000;
	}
}

static bool same(const struct buf *a, const char *s)
{
	return strlen(s) == a->n && memcmp(a->p, s, a->n) == 0;
}

/* A valid document; dup: one key repeats an earlier one (spelled independently). */
static void gen_doc(struct rng *r, struct gdoc *d, bool dup)
{
	memset(d, 0, sizeof(*d));
	size_t want = chance(r, 10) ? 0 : 1 + below(r, MAXKEYS);
	if (dup && want < 2)
		want = 2;
	ws(r, &d->text);
	putc_(&d->text, '{');
	for (size_t i = 0; i < want; i++) {
		struct gval *v = &d->vals[i];
		ws(r, &d->text);
		struct buf spelled = { 0 };
		if (dup && i == want - 1) {
			/* the same decoded bytes as key 0: each character again, as plain as possible */
			putc_(&spelled, '"');
			for (size_t k = 0; k < d->keys[0].n; k++) {
				unsigned char c = (unsigned char)d->keys[0].p[k];
				if (c < 0x20 || c == '"' || c == '\\')
					putf(&spelled, "\\u%04x", c);
				else
					putc_(&spelled, (char)c);
			}
			putc_(&spelled, '"');
			put(&d->keys[i], d->keys[0].p, d->keys[0].n);
		} else {
			/* unique keys: regenerate on a clash */
			for (;;) {
				free(spelled.p), spelled = (struct buf){ 0 };
				free(d->keys[i].p), d->keys[i] = (struct buf){ 0 };
				gen_string(r, &d->keys[i], &spelled);
				size_t j = 0;
				while (j < i && !(d->keys[j].n == d->keys[i].n && memcmp(d->keys[j].p, d->keys[i].p, d->keys[i].n) == 0))
					j++;
				if (j == i)
					break;
			}
		}
		put(&d->text, spelled.p, spelled.n);
		free(spelled.p);
		ws(r, &d->text);
		putc_(&d->text, ':');
		ws(r, &d->text);
		switch (below(r, 5)) {
		case 0:
			v->type = JT_STR;
			gen_string(r, &v->s, &d->text);
			break;
		case 1:
			v->type = JT_NUM;
			v->n = gen_number(r);
			if (v->n == 0 && chance(r, 2))
				put(&d->text, "-0", 2);
			else
				putf(&d->text, "%lld", v->n);
			break;
		case 2:
			v->type = JT_BOOL;
			v->b = chance(r, 2);
			putf(&d->text, "%s", v->b ? "true" : "false");
			break;
		case 3:
			v->type = JT_NULL;
			put(&d->text, "null", 4);
			break;
		default:
			v->type = JT_ARR;
			putc_(&d->text, '[');
			v->len = below(r, MAXARR + 1);
			for (size_t k = 0; k < v->len; k++) {
				ws(r, &d->text);
				gen_string(r, &v->arr[k], &d->text);
				ws(r, &d->text);
				if (k + 1 < v->len)
					putc_(&d->text, ',');
			}
			if (!v->len)
				ws(r, &d->text);
			putc_(&d->text, ']');
		}
		ws(r, &d->text);
		if (i + 1 < want)
			putc_(&d->text, ',');
	}
	d->n = want;
	ws(r, &d->text);
	d->close = d->text.n;
	putc_(&d->text, '}');
	ws(r, &d->text);
}

/* ---- parsing from an exactly sized heap copy ---- */

static int parse_exact(const char *text, size_t len, struct jobj *o, char *err, size_t errlen)
{
	char *copy = malloc(len ? len : 1);
	if (!copy)
		abort();
	memcpy(copy, text, len);
	err[0] = 0;
	int rc = json_parse(copy, len, o, err, errlen);
	free(copy);
	return rc;
}

static void check_rejected(const struct jobj *o, const char *err)
{
	CHECK(strncmp(err, "invalid JSON: ", 14) == 0 && err[14], "rejected without a message (\"%s\")", err);
	CHECK(o->n == 0 && !o->keys && !o->vals, "a rejected parse leaves its object filled");
}

static void check_matches(const struct gdoc *d, const struct jobj *o)
{
	CHECK(o->n == d->n, "%zu keys parsed, %zu generated", o->n, d->n);
	for (size_t i = 0; i < d->n; i++) {
		const struct gval *g = &d->vals[i];
		const struct jval *v = &o->vals[i];
		CHECK(same(&d->keys[i], o->keys[i]), "key %zu differs", i);
		CHECK(json_get(o, o->keys[i]) == v, "json_get misses key %zu", i);
		CHECK(v->type == g->type, "key %zu: type %d, generated %d", i, v->type, g->type);
		switch (g->type) {
		case JT_STR: CHECK(same(&g->s, v->s), "key %zu: string differs", i); break;
		case JT_NUM: CHECK(v->n == g->n, "key %zu: %lld, generated %lld", i, v->n, g->n); break;
		case JT_BOOL: CHECK(v->b == g->b, "key %zu: bool differs", i); break;
		case JT_NULL: break;
		case JT_ARR:
			CHECK(v->len == g->len && v->arr && !v->arr[v->len], "key %zu: array of %zu, generated %zu", i, v->len, g->len);
			for (size_t k = 0; k < g->len; k++)
				CHECK(same(&g->arr[k], v->arr[k]), "key %zu: element %zu differs", i, k);
		}
	}
}

/* ---- canonical re-serialization of what the parser accepted ---- */

static void canon_str(struct buf *b, const char *s)
{
	putc_(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f)
			putf(b, "\\u%04x", *p);
		else
			putc_(b, (char)*p);
	}
	putc_(b, '"');
}

static void canon(struct buf *b, const struct jobj *o)
{
	putc_(b, '{');
	for (size_t i = 0; i < o->n; i++) {
		const struct jval *v = &o->vals[i];
		if (i)
			putc_(b, ',');
		canon_str(b, o->keys[i]);
		putc_(b, ':');
		switch (v->type) {
		case JT_STR: canon_str(b, v->s); break;
		case JT_NUM: putf(b, "%lld", v->n); break;
		case JT_BOOL: putf(b, "%s", v->b ? "true" : "false"); break;
		case JT_NULL: putf(b, "null"); break;
		case JT_ARR:
			putc_(b, '[');
			for (size_t k = 0; k < v->len; k++) {
				if (k)
					putc_(b, ',');
				canon_str(b, v->arr[k]);
			}
			putc_(b, ']');
		}
	}
	putc_(b, '}');
}

static void check_canonical_roundtrip(const struct jobj *o)
{
	struct buf c = { 0 };
	canon(&c, o);
	struct jobj again;
	char err[128];
	CHECK(parse_exact(c.p, c.n, &again, err, sizeof(err)) == 0, "accepted, but its canonical form is not: %s", err);
	struct buf c2 = { 0 };
	canon(&c2, &again);
	CHECK(c.n == c2.n && memcmp(c.p, c2.p, c.n) == 0, "canonical form changes when parsed again");
	json_free(&again);
	free(c.p);
	free(c2.p);
}

/* ---- mutations ---- */

static const char *const tokens[] = {
	"\"", "\\", "\\u", "\\uD83D", "\\udc00", "\\uD83D\\uDE00", "\\u0000", "\\u00", "{", "}", "[", "]", ",", ":", "-",
	"0", "00", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
	"18446744073709551616", "1e5", "1.5", "true", "false", "null", "nul", "\x01", "\xff", " ", "{}", "[\"a\"]", "[1]",
};

static void mutate(struct rng *r, struct buf *t)
{
	for (uint32_t m = 1 + below(r, 4); m; m--) {
		size_t at = t->n ? below(r, (uint32_t)t->n + 1) : 0;
		switch (below(r, 6)) {
		case 0: /* flip a bit */
			if (at < t->n)
				t->p[at] ^= (char)(1u << below(r, 8));
			break;
		case 1: /* set a byte */
			if (at < t->n)
				t->p[at] = (char)below(r, 256);
			break;
		case 2: { /* delete a range */
			size_t len = 1 + below(r, 8);
			if (at + len > t->n)
				len = t->n - at;
			memmove(t->p + at, t->p + at + len, t->n - at - len);
			t->n -= len;
			break;
		}
		case 3: /* duplicate a range */
		case 4: { /* insert a token */
			struct buf ins = { 0 };
			if (below(r, 2) && t->n) {
				size_t from = below(r, (uint32_t)t->n), len = 1 + below(r, 16);
				if (from + len > t->n)
					len = t->n - from;
				put(&ins, t->p + from, len);
			} else {
				const char *tok = tokens[below(r, sizeof(tokens) / sizeof(tokens[0]))];
				put(&ins, tok, strlen(tok));
			}
			struct buf out = { 0 };
			put(&out, t->p, at);
			put(&out, ins.p, ins.n);
			put(&out, t->p + at, t->n - at);
			free(t->p);
			free(ins.p);
			*t = out;
			break;
		}
		default: /* truncate anywhere */
			t->n = at;
		}
	}
}

/* Random bytes (mostly JSON's own), or an object of random tokens: the latter gets past the
 * first brace often enough to reach the value parsers. */
static void random_bytes(struct rng *r, struct buf *t)
{
	static const char alphabet[] = "{}[]\":,\\u0123456789abcdefABCDEF-tfnrlse \t\n";
	if (chance(r, 2)) {
		size_t n = below(r, 64);
		for (size_t i = 0; i < n; i++) {
			char c = chance(r, 4) ? (char)below(r, 256) : alphabet[below(r, sizeof(alphabet) - 1)];
			putc_(t, c);
		}
		return;
	}
	static const char *const soup[] = { "\"k\"", "\"k2\"", "\"\"", "\"\\u00e9\"", ":", ":", ",", "[", "]", "1", "-2", "true", "null", " " };
	putc_(t, '{');
	for (uint32_t n = below(r, 12); n; n--) {
		const char *tok = chance(r, 8) ? tokens[below(r, sizeof(tokens) / sizeof(tokens[0]))] : soup[below(r, sizeof(soup) / sizeof(soup[0]))];
		put(t, tok, strlen(tok));
	}
	putc_(t, '}');
}

/* An arbitrary input: accepted and canonical-stable, or rejected cleanly. */
static bool try_any(const struct buf *t)
{
	struct jobj o;
	char err[128];
	if (parse_exact(t->p ? t->p : "", t->n, &o, err, sizeof(err)) < 0) {
		check_rejected(&o, err);
		return false;
	}
	check_canonical_roundtrip(&o);
	json_free(&o);
	return true;
}

/* ---- the writer ---- */

static void writer_roundtrip(struct rng *r, unsigned long *overflows)
{
	char keys[6][20], vals[6][40];
	long long nums[6];
	bool isnum[6];
	size_t n = below(r, 6);
	for (size_t i = 0; i < n; i++) {
		/* unique keys: an index byte first */
		size_t kl = 1 + below(r, 18), vl = below(r, 39);
		keys[i][0] = (char)('A' + i);
		for (size_t k = 1; k < kl; k++)
			keys[i][k] = (char)(1 + below(r, 255));
		keys[i][kl] = 0;
		for (size_t k = 0; k < vl; k++)
			vals[i][k] = (char)(1 + below(r, 255));
		vals[i][vl] = 0;
		isnum[i] = chance(r, 3);
		nums[i] = gen_number(r);
	}
	char big[2048];
	struct jw w;
	jw_begin(&w, big, sizeof(big));
	for (size_t i = 0; i < n; i++)
		isnum[i] ? jw_num(&w, keys[i], nums[i]) : jw_str(&w, keys[i], vals[i]);
	long len = jw_end(&w);
	CHECK(len > 0 && (size_t)len == strlen(big) && big[len - 1] == '\n', "writer output of %ld bytes", len);
	struct jobj o;
	char err[128];
	CHECK(parse_exact(big, (size_t)len, &o, err, sizeof(err)) == 0, "the writer's line does not parse: %s", err);
	CHECK(o.n == n, "writer: %zu keys back, %zu written", o.n, n);
	for (size_t i = 0; i < n; i++) {
		CHECK(strcmp(o.keys[i], keys[i]) == 0, "writer: key %zu differs", i);
		if (isnum[i])
			CHECK(o.vals[i].type == JT_NUM && o.vals[i].n == nums[i], "writer: number %zu differs", i);
		else
			CHECK(o.vals[i].type == JT_STR && strcmp(o.vals[i].s, vals[i]) == 0, "writer: string %zu differs", i);
	}
	json_free(&o);
	/* Into buffers of exactly cap bytes: short ones report overflow (and ASan watches the
	 * bound); len + 1 (the line and its NUL) is enough. */
	size_t caps[] = { 0, 1, below(r, (uint32_t)len + 1), (size_t)len, (size_t)len + 1 };
	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		char *small = malloc(caps[c] ? caps[c] : 1);
		jw_begin(&w, small, caps[c]);
		for (size_t i = 0; i < n; i++)
			isnum[i] ? jw_num(&w, keys[i], nums[i]) : jw_str(&w, keys[i], vals[i]);
		long got = jw_end(&w);
		if (caps[c] <= (size_t)len) {
			CHECK(got == -1, "writer: %ld bytes into a buffer of %zu", got, caps[c]);
			(*overflows)++;
		} else {
			CHECK(got == len && memcmp(small, big, (size_t)len + 1) == 0, "writer: differs with an exact buffer");
		}
		free(small);
	}
}

/* ---- fixed cases at the edges ---- */

static void edges(void)
{
	static const struct {
		const char *text;
		bool ok;
	} cases[] = {
		{ "{}", true }, { " {\"a\":-0} ", true }, { "{\"a\":9223372036854775807}", true },
		{ "{\"a\":-9223372036854775808}", true }, { "{\"a\":9223372036854775808}", false },
		{ "{\"a\":-9223372036854775809}", false }, { "{\"a\":18446744073709551616}", false },
		{ "{\"a\":01}", false }, { "{\"a\":1.0}", false }, { "{\"a\":1e3}", false }, { "{\"a\":-}", false },
		{ "{\"a\":\"\\u0000\"}", false }, { "{\"a\":\"\\ud800\"}", false }, { "{\"a\":\"\\udc00\\ud800\"}", false },
		{ "{\"a\":\"\\ud83d\\u0041\"}", false }, { "{\"a\":\"\\ud83d\\ude00\"}", true }, { "{\"a\":\"\\x\"}", false },
		{ "{\"a\":\"\x01\"}", false }, { "{\"a\":{}}", false }, { "{\"a\":[1]}", false }, { "{\"a\":[\"x\",]}", false },
		{ "{\"a\":1,}", false }, { "{\"a\":1}x", false }, { "{\"a\" 1}", false }, { "{\"a\":tru}", false },
		{ "{\"a\":1,\"a\":2}", false }, { "{\"a\\u0062\":1,\"ab\":2}", false }, { "[]", false }, { "", false },
		{ "{\"a\":\"\\", false }, { "{\"a\":\"\\u12", false }, { "{\"a\":\"\\ud83d\\", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jobj o;
		char err[128];
		fuzz_iter = i;
		int rc = parse_exact(cases[i].text, strlen(cases[i].text), &o, err, sizeof(err));
		CHECK((rc == 0) == cases[i].ok, "edge case %s: %s", cases[i].text, rc ? err : "accepted");
		if (rc)
			check_rejected(&o, err);
		json_free(&o);
	}
}

void fuzz_json(unsigned long long seed, unsigned long iters)
{
	struct rng r = { seed };
	unsigned long docs = 0, prefixes = 0, dups = 0, mut_ok = 0, mut_bad = 0, rnd_ok = 0, rnd_bad = 0, writes = 0,
		      overflows = 0;
	size_t bytes = 0;
	fuzz_target = "json";
	fuzz_seed = seed;
	edges();
	for (unsigned long it = 0; it < iters; it++) {
		fuzz_iter = it;
		struct gdoc d;
		gen_doc(&r, &d, false);
		struct jobj o;
		char err[128];
		CHECK(parse_exact(d.text.p, d.text.n, &o, err, sizeof(err)) == 0, "valid document rejected: %s\n%s", err, d.text.p);
		check_matches(&d, &o);
		json_free(&o);
		docs++;
		bytes += d.text.n;
		/* Truncations: every one for some documents, a few for the rest. */
		bool all = it % 32 == 0;
		for (size_t k = 0; k < (all ? d.text.n : 4); k++) {
			size_t len = all ? k : below(&r, (uint32_t)d.text.n);
			int rc = parse_exact(d.text.p, len, &o, err, sizeof(err));
			CHECK((rc == 0) == (len > d.close), "prefix of %zu bytes (closing brace at %zu): %s", len, d.close,
			      rc ? err : "accepted");
			if (rc)
				check_rejected(&o, err);
			json_free(&o);
			prefixes++;
		}
		/* The same document mutated. */
		mutate(&r, &d.text);
		try_any(&d.text) ? mut_ok++ : mut_bad++;
		gdoc_free(&d);
		/* A repeated key. */
		gen_doc(&r, &d, true);
		CHECK(parse_exact(d.text.p, d.text.n, &o, err, sizeof(err)) < 0 && strstr(err, "duplicate key"),
		      "repeated key not refused (%s)\n%s", err, d.text.p);
		check_rejected(&o, err);
		dups++;
		gdoc_free(&d);
		/* Random bytes. */
		struct buf t = { 0 };
		random_bytes(&r, &t);
		try_any(&t) ? rnd_ok++ : rnd_bad++;
		free(t.p);
		writer_roundtrip(&r, &overflows);
		writes++;
	}
	printf("json: %lu documents (%zu bytes) parsed back exactly, %lu truncations rejected, %lu repeated keys rejected, "
	       "mutated %lu accepted/%lu rejected, random %lu accepted/%lu rejected, %lu writer round trips, %lu overflows "
	       "reported\n",
	       docs, bytes, prefixes, dups, mut_ok, mut_bad, rnd_ok, rnd_bad, writes, overflows);
}
