/* Just enough JSON for the control protocol: one flat object whose values are strings,
 * integers, booleans, null or arrays of strings; and a writer for such objects. */
#ifndef CTSPAWN_JSON_H
#define CTSPAWN_JSON_H

#include <stdbool.h>
#include <stddef.h>

enum jtype { JT_NULL, JT_STR, JT_NUM, JT_BOOL, JT_ARR };

struct jval {
	enum jtype type;
	char *s;      /* JT_STR */
	long long n;  /* JT_NUM */
	bool b;       /* JT_BOOL */
	char **arr;   /* JT_ARR: NULL-terminated, so it can go straight to execve */
	size_t len;   /* JT_ARR: number of elements */
};

struct jobj {
	char **keys;
	struct jval *vals;
	size_t n;
};

/* Parses exactly one object (surrounding whitespace allowed). Returns 0, or -1 with a
 * description in err. Strings must not contain NUL (\u0000 is rejected). */
int json_parse(const char *text, size_t len, struct jobj *out, char *err, size_t errlen);
const struct jval *json_get(const struct jobj *o, const char *key);
void json_free(struct jobj *o);

/* Writer into a caller-supplied buffer; on overflow ->bad is set and output is unusable. */
struct jw {
	char *buf;
	size_t len, cap;
	bool bad;
	bool first;
};
void jw_begin(struct jw *w, char *buf, size_t cap);
void jw_str(struct jw *w, const char *key, const char *val);
void jw_num(struct jw *w, const char *key, long long val);
/* Closes the object and appends '\n'. Returns the line length, or -1 on overflow. */
long jw_end(struct jw *w);

#endif
