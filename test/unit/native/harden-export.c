/* Builds the deny filter exactly as ctspawn does (native/harden.c), without loading it: prints
 * the deny table ("name errno" lines) and the blocked namespace kinds ("ns NAME FLAG") on
 * stdout and writes the BPF program that libseccomp makes of it to argv[1]; argv[2] "nesting"
 * builds it for a container with nesting on, "allow=KIND,..." for a node whose CRIU dumps those
 * kinds nested (harden_ns_mask). test/unit/native/harden.test.ts replays it. */
#include "harden.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	bool nesting = argc == 3 && strcmp(argv[2], "nesting") == 0;
	unsigned long allow = 0;
	if (argc == 3 && strncmp(argv[2], "allow=", 6) == 0) {
		char *names[8] = { 0 }, *save = NULL;
		int k = 0;
		for (char *t = strtok_r(argv[2] + 6, ",", &save); t && k < 7; t = strtok_r(NULL, ",", &save))
			names[k++] = t;
		const char *bad = NULL;
		if (harden_ns_mask(names, &allow, &bad) < 0) {
			fprintf(stderr, "unknown kind %s\n", bad);
			return 2;
		}
	} else if (argc != 2 && !nesting) {
		fprintf(stderr, "usage: %s BPF-OUT [nesting|allow=KIND,...]\n", argv[0]);
		return 2;
	}
	scmp_filter_ctx ctx = harden_filter(nesting, allow);
	if (!ctx) {
		fprintf(stderr, "harden_filter: %s\n", strerror(errno));
		return 1;
	}
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
	if (rc < 0 || close(fd) < 0) {
		fprintf(stderr, "export %s: %s\n", argv[1], strerror(rc < 0 ? -rc : errno));
		return 1;
	}
	seccomp_release(ctx);
	for (const struct harden_rule *r = harden_deny; r->name; r++)
		printf("%s %d\n", r->name, r->err);
	for (const struct harden_ns *n = harden_ns_blocked; n->name; n++)
		printf("ns %s %lu\n", n->name, n->flag);
	return 0;
}
