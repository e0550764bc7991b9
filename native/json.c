#include "json.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *p, *end;
	char *err;
	size_t errlen;
};

static int fail(struct parser *ps, const char *what)
{
	if (ps->err && ps->errlen)
		snprintf(ps->err, ps->errlen, "invalid JSON: %s", what);
	return -1;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int hex4(struct parser *ps, unsigned *out)
{
	unsigned v = 0;
	if (ps->end - ps->p < 4)
		return fail(ps, "short \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = *ps->p++;
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return fail(ps, "bad \\u escape");
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = 0xc0 | (cp >> 6);
		o[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = 0xe0 | (cp >> 12);
		o[1] = 0x80 | ((cp >> 6) & 0x3f);
		o[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	o[0] = 0xf0 | (cp >> 18);
	o[1] = 0x80 | ((cp >> 12) & 0x3f);
	o[2] = 0x80 | ((cp >> 6) & 0x3f);
	o[3] = 0x80 | (cp & 0x3f);
	return 4;
}

/* The decoded string is never longer than its escaped form, so one allocation of the
 * remaining input length bound is enough; we size it by scanning to the closing quote. */
static int parse_string(struct parser *ps, char **out)
{
	if (ps->p >= ps->end || *ps->p != '"')
		return fail(ps, "expected string");
	ps->p++;
	const char *q = ps->p;
	while (q < ps->end && *q != '"') {
		if (*q == '\\')
			q++;
		q++;
	}
	if (q >= ps->end)
		return fail(ps, "unterminated string");
	char *buf = malloc((size_t)(q - ps->p) + 1);
	if (!buf)
		return fail(ps, "out of memory");
	size_t n = 0;
	while (*ps->p != '"') {
		unsigned char c = *ps->p++;
		if (c < 0x20) {
			free(buf);
			return fail(ps, "control character in string");
		}
		if (c != '\\') {
			buf[n++] = c;
			continue;
		}
		c = *ps->p++;
		switch (c) {
		case '"': case '\\': case '/': buf[n++] = c; break;
		case 'b': buf[n++] = '\b'; break;
		case 'f': buf[n++] = '\f'; break;
		case 'n': buf[n++] = '\n'; break;
		case 'r': buf[n++] = '\r'; break;
		case 't': buf[n++] = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (hex4(ps, &cp) < 0)
				goto bad;
			if (cp >= 0xd800 && cp < 0xdc00) {
				/* High surrogate: must be followed by an escaped low surrogate. */
				if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
					goto badsur;
				ps->p += 2;
				if (hex4(ps, &lo) < 0)
					goto bad;
				if (lo < 0xdc00 || lo > 0xdfff)
					goto badsur;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				goto badsur;
			}
			if (cp == 0) {
				free(buf);
				return fail(ps, "\\u0000 in string");
			}
			/* A \uXXXX escape is 6 input bytes and at most 3 output bytes; a pair is
			 * 12 -> 4, so the buffer bound above holds. */
			n += put_utf8(buf + n, cp);
			break;
		}
		default:
			free(buf);
			return fail(ps, "bad escape");
		}
	}
	ps->p++;
	buf[n] = 0;
	*out = buf;
	return 0;
badsur:
	free(buf);
	return fail(ps, "bad surrogate pair");
bad:
	free(buf);
	return -1;
}

static int parse_number(struct parser *ps, long long *out)
{
	const char *s = ps->p;
	bool neg = false;
	if (s < ps->end && *s == '-') {
		neg = true;
		s++;
	}
	if (s >= ps->end || *s < '0' || *s > '9')
		return fail(ps, "bad number");
	if (*s == '0' && s + 1 < ps->end && s[1] >= '0' && s[1] <= '9')
		return fail(ps, "leading zero");
	unsigned long long v = 0;
	while (s < ps->end && *s >= '0' && *s <= '9') {
		unsigned d = *s++ - '0';
		if (v > (ULLONG_MAX - d) / 10)
			return fail(ps, "number out of range");
		v = v * 10 + d;
	}
	if (s < ps->end && (*s == '.' || *s == 'e' || *s == 'E'))
		return fail(ps, "only integers are supported");
	if (v > (unsigned long long)LLONG_MAX + neg)
		return fail(ps, "number out of range");
	*out = neg ? (long long)(0 - v) : (long long)v;
	ps->p = s;
	return 0;
}

static int match_word(struct parser *ps, const char *w)
{
	size_t n = strlen(w);
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
		return 0;
	ps->p += n;
	return 1;
}

static void free_val(struct jval *v)
{
	free(v->s);
	if (v->arr) {
		for (size_t i = 0; i < v->len; i++)
			free(v->arr[i]);
		free(v->arr);
	}
	memset(v, 0, sizeof(*v));
}

static int parse_array(struct parser *ps, struct jval *v)
{
	size_t cap = 4;
	ps->p++; /* '[' */
	v->type = JT_ARR;
	v->arr = calloc(cap + 1, sizeof(char *));
	if (!v->arr)
		return fail(ps, "out of memory");
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return 0;
	}
	for (;;) {
		skip_ws(ps);
		if (v->len == cap) {
			char **n = realloc(v->arr, (cap * 2 + 1) * sizeof(char *));
			if (!n)
				return fail(ps, "out of memory");
			v->arr = n;
			cap *= 2;
		}
		if (parse_string(ps, &v->arr[v->len]) < 0)
			return fail(ps, "arrays may only hold strings");
		v->arr[++v->len] = NULL;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return 0;
		}
		return fail(ps, "expected ',' or ']' in array");
	}
}

static int parse_value(struct parser *ps, struct jval *v)
{
	memset(v, 0, sizeof(*v));
	if (ps->p >= ps->end)
		return fail(ps, "missing value");
	switch (*ps->p) {
	case '"':
		v->type = JT_STR;
		return parse_string(ps, &v->s);
	case '[':
		return parse_array(ps, v);
	case 't':
	case 'f':
	case 'n':
		if (match_word(ps, "true")) {
			v->type = JT_BOOL;
			v->b = true;
		} else if (match_word(ps, "false")) {
			v->type = JT_BOOL;
		} else if (match_word(ps, "null")) {
			v->type = JT_NULL;
		} else {
			return fail(ps, "unknown literal");
		}
		return 0;
	case '{':
		return fail(ps, "nested objects are not supported");
	default:
		v->type = JT_NUM;
		return parse_number(ps, &v->n);
	}
}

int json_parse(const char *text, size_t len, struct jobj *o, char *err, size_t errlen)
{
	struct parser ps = { text, text + len, err, errlen };
	size_t cap = 0;
	memset(o, 0, sizeof(*o));
	skip_ws(&ps);
	if (ps.p >= ps.end || *ps.p != '{')
		return fail(&ps, "expected an object");
	ps.p++;
	skip_ws(&ps);
	if (ps.p < ps.end && *ps.p == '}') {
		ps.p++;
		goto tail;
	}
	for (;;) {
		char *key;
		skip_ws(&ps);
		if (parse_string(&ps, &key) < 0)
			goto bad;
		if (json_get(o, key)) {
			free(key);
			fail(&ps, "duplicate key");
			goto bad;
		}
		if (o->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **nk = realloc(o->keys, ncap * sizeof(*nk));
			if (nk)
				o->keys = nk;
			struct jval *nv = nk ? realloc(o->vals, ncap * sizeof(*nv)) : NULL;
			if (!nv) {
				free(key);
				fail(&ps, "out of memory");
				goto bad;
			}
			o->vals = nv;
			cap = ncap;
		}
		o->keys[o->n] = key;
		skip_ws(&ps);
		if (ps.p >= ps.end || *ps.p != ':') {
			o->vals[o->n++] = (struct jval){ 0 };
			fail(&ps, "expected ':'");
			goto bad;
		}
		ps.p++;
		skip_ws(&ps);
		int r = parse_value(&ps, &o->vals[o->n]);
		o->n++; /* counted even on failure so json_free releases partial arrays */
		if (r < 0)
			goto bad;
		skip_ws(&ps);
		if (ps.p < ps.end && *ps.p == ',') {
			ps.p++;
			continue;
		}
		if (ps.p < ps.end && *ps.p == '}') {
			ps.p++;
			break;
		}
		fail(&ps, "expected ',' or '}'");
		goto bad;
	}
tail:
	skip_ws(&ps);
	if (ps.p != ps.end) {
		fail(&ps, "trailing data after object");
		goto bad;
	}
	return 0;
bad:
	json_free(o);
	return -1;
}

const struct jval *json_get(const struct jobj *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return &o->vals[i];
	return NULL;
}

void json_free(struct jobj *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->keys[i]);
		free_val(&o->vals[i]);
	}
	free(o->keys);
	free(o->vals);
	memset(o, 0, sizeof(*o));
}

/* ---- writer ---- */

static void put(struct jw *w, const char *s, size_t n)
{
	if (w->bad || w->cap - w->len < n + 1) {
		w->bad = true;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = 0;
}

static void put_escaped(struct jw *w, const char *s)
{
	put(w, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];
		switch (*p) {
		case '"': put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		case '\b': put(w, "\\b", 2); break;
		case '\f': put(w, "\\f", 2); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u%04x", *p);
				put(w, esc, 6);
			} else {
				put(w, (const char *)p, 1);
			}
		}
	}
	put(w, "\"", 1);
}

static void put_key(struct jw *w, const char *key)
{
	if (!w->first)
		put(w, ",", 1);
	w->first = false;
	put_escaped(w, key);
	put(w, ":", 1);
}

void jw_begin(struct jw *w, char *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->bad = cap == 0;
	w->first = true;
	put(w, "{", 1);
}

void jw_str(struct jw *w, const char *key, const char *val)
{
	put_key(w, key);
	put_escaped(w, val ? val : "");
}

void jw_num(struct jw *w, const char *key, long long val)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", val);
	put_key(w, key);
	put(w, num, n);
}

long jw_end(struct jw *w)
{
	put(w, "}\n", 2);
	return w->bad ? -1 : (long)w->len;
}
