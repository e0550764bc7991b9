/* Turns the stage-1 JSON object into a struct config, checking types and required fields. */
#include <stdio.h>
#include <string.h>

#include "ctspawn.h"

static char *empty_list[] = { NULL };

struct field {
	const char *key;
	enum jtype type;
	bool required;
	void *dst;
};

static int id_field(const struct jobj *o, const char *key, unsigned *dst, char *err, size_t errlen)
{
	const struct jval *v = json_get(o, key);
	if (!v || v->type != JT_NUM || v->n < 0 || v->n >= 0xffffffffLL) {
		snprintf(err, errlen, "config: \"%s\" must be a number (a host id)", key);
		return -1;
	}
	*dst = (unsigned)v->n;
	return 0;
}

/* An optional boolean: absent or null leaves *dst as it is. */
static int opt_bool(const struct jobj *o, const char *key, bool *dst, char *err, size_t errlen)
{
	const struct jval *v = json_get(o, key);
	if (!v || v->type == JT_NULL)
		return 0;
	if (v->type != JT_BOOL) {
		snprintf(err, errlen, "config: \"%s\" must be a boolean", key);
		return -1;
	}
	*dst = v->b;
	return 0;
}

int config_parse(const char *line, size_t len, struct config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	if (json_parse(line, len, &cfg->obj, err, errlen) < 0)
		return -1;
	const struct jval *t = json_get(&cfg->obj, "t");
	if (!t || t->type != JT_STR || strcmp(t->s, "config") != 0) {
		snprintf(err, errlen, "expected a config message");
		goto bad;
	}
	cfg->criu_args = cfg->env = cfg->rmdirs = cfg->umounts = cfg->poststop = cfg->bind_src = cfg->bind_dst = cfg->devnodes = empty_list;
	struct field fields[] = {
		{ "rootfs", JT_STR, true, &cfg->rootfs },
		{ "hostname", JT_STR, false, &cfg->hostname },
		{ "uid_map", JT_STR, true, &cfg->uid_map },
		{ "gid_map", JT_STR, true, &cfg->gid_map },
		{ "init", JT_ARR, true, &cfg->init },
		{ "env", JT_ARR, false, &cfg->env },
		{ "console_log", JT_STR, true, &cfg->console_log },
		{ "socket", JT_STR, true, &cfg->socket },
		{ "pidfile", JT_STR, true, &cfg->pidfile },
		{ "statusfile", JT_STR, true, &cfg->statusfile },
		{ "rmdirs", JT_ARR, false, &cfg->rmdirs },
		{ "umounts", JT_ARR, false, &cfg->umounts },
		{ "poststop", JT_ARR, false, &cfg->poststop },
		{ "bind_src", JT_ARR, false, &cfg->bind_src },
		{ "bind_dst", JT_ARR, false, &cfg->bind_dst },
		{ "devnodes", JT_ARR, false, &cfg->devnodes },
		{ "devnode_dir", JT_STR, false, &cfg->devnode_dir },
		{ "shm_size", JT_STR, false, &cfg->shm_size },
		{ "sysinfo_memcg", JT_STR, false, &cfg->sysinfo_memcg },
		{ "loadavg_file", JT_STR, false, &cfg->loadavg_file },
		{ "cgroup_mount", JT_STR, false, &cfg->cgroup_mount },
		{ "on_reboot", JT_ARR, false, &cfg->on_reboot },
		{ "cap_drop", JT_ARR, false, &cfg->cap_drop },
		{ "ns_allow", JT_ARR, false, &cfg->ns_allow },
		{ "criu", JT_STR, false, &cfg->criu },
		{ "criu_args", JT_ARR, false, &cfg->criu_args },
		{ "console_key", JT_STR, false, &cfg->console_key },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct field *f = &fields[i];
		const struct jval *v = json_get(&cfg->obj, f->key);
		if (!v || v->type == JT_NULL) {
			if (!f->required)
				continue;
			snprintf(err, errlen, "config: \"%s\" is missing", f->key);
			goto bad;
		}
		if (v->type != f->type) {
			snprintf(err, errlen, "config: \"%s\" must be %s", f->key,
				 f->type == JT_STR ? "a string" : "an array of strings");
			goto bad;
		}
		if (f->type == JT_STR)
			*(const char **)f->dst = v->s;
		else
			*(char ***)f->dst = v->arr;
	}
	if (!cfg->init[0] || cfg->init[0][0] != '/') {
		snprintf(err, errlen, "config: \"init\" must start with an absolute path");
		goto bad;
	}
	size_t nsrc = 0, ndst = 0;
	while (cfg->bind_src[nsrc])
		nsrc++;
	while (cfg->bind_dst[ndst])
		ndst++;
	if (nsrc != ndst) {
		snprintf(err, errlen, "config: \"bind_src\" and \"bind_dst\" differ in length");
		goto bad;
	}
	for (size_t i = 0; i < nsrc; i++) {
		if (cfg->bind_src[i][0] != '/' || cfg->bind_dst[i][0] != '/') {
			snprintf(err, errlen, "config: bind paths must be absolute");
			goto bad;
		}
	}
	if (cfg->devnodes[0] && (!cfg->devnode_dir || cfg->devnode_dir[0] != '/')) {
		snprintf(err, errlen, "config: \"devnodes\" needs an absolute \"devnode_dir\"");
		goto bad;
	}
	for (size_t i = 0; cfg->devnodes[i]; i++) {
		const char *d = cfg->devnodes[i];
		if (!d[0] || d[0] == '/' || strstr(d, "..")) {
			snprintf(err, errlen, "config: bad devnode \"%s\"", d);
			goto bad;
		}
	}
	if (cfg->shm_size && (!cfg->shm_size[0] || strspn(cfg->shm_size, "0123456789") != strlen(cfg->shm_size) ||
			      strlen(cfg->shm_size) > 19)) {
		snprintf(err, errlen, "config: \"shm_size\" must be a number of bytes");
		goto bad;
	}
	if (cfg->poststop[0] && cfg->poststop[0][0] != '/') {
		snprintf(err, errlen, "config: \"poststop\" must start with an absolute path");
		goto bad;
	}
	if (cfg->rootfs[0] != '/') {
		snprintf(err, errlen, "config: \"rootfs\" must be an absolute path");
		goto bad;
	}
	if (id_field(&cfg->obj, "root_uid", &cfg->root_uid, err, errlen) < 0 ||
	    id_field(&cfg->obj, "root_gid", &cfg->root_gid, err, errlen) < 0 ||
	    id_field(&cfg->obj, "tty_gid", &cfg->tty_gid, err, errlen) < 0)
		goto bad;
	const struct jval *cv = json_get(&cfg->obj, "sysinfo_cgver");
	if (cv && cv->type == JT_NULL)
		cv = NULL;
	if (cfg->sysinfo_memcg) {
		if (cfg->sysinfo_memcg[0] != '/') {
			snprintf(err, errlen, "config: \"sysinfo_memcg\" must be an absolute path");
			goto bad;
		}
		if (!cv || cv->type != JT_NUM || (cv->n != 1 && cv->n != 2)) {
			snprintf(err, errlen, "config: \"sysinfo_cgver\" must be 1 or 2 with \"sysinfo_memcg\"");
			goto bad;
		}
		cfg->sysinfo_cgver = (int)cv->n;
	} else if (cv) {
		snprintf(err, errlen, "config: \"sysinfo_cgver\" without \"sysinfo_memcg\"");
		goto bad;
	}
	/* Without sysinfo_memcg the monitor knows no cgroup to sample: accepted and ignored. */
	if (cfg->cgroup_mount && strcmp(cfg->cgroup_mount, "cgroup2") != 0) {
		snprintf(err, errlen, "config: \"cgroup_mount\" must be \"cgroup2\"");
		goto bad;
	}
	if (cfg->on_reboot && (!cfg->on_reboot[0] || cfg->on_reboot[0][0] != '/')) {
		snprintf(err, errlen, "config: \"on_reboot\" must start with an absolute path");
		goto bad;
	}
	if (cfg->loadavg_file && cfg->loadavg_file[0] != '/') {
		snprintf(err, errlen, "config: \"loadavg_file\" must be an absolute path");
		goto bad;
	}
	if (opt_bool(&cfg->obj, "debug", &cfg->debug, err, errlen) < 0 ||
	    opt_bool(&cfg->obj, "nesting", &cfg->nesting, err, errlen) < 0 ||
	    opt_bool(&cfg->obj, "pressure", &cfg->pressure, err, errlen) < 0)
		goto bad;
	if (cfg->pressure && !cfg->cgroup_mount) {
		snprintf(err, errlen, "config: \"pressure\" needs \"cgroup_mount\"");
		goto bad;
	}
	return 0;
bad:
	json_free(&cfg->obj);
	return -1;
}
