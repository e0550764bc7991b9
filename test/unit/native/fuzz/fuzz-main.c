/* usage: fuzz TARGET SEED ITERATIONS   (TARGET: json, devices, seccomp or all)
 * Runs the seeded loop of each target; exit 0 when every property held, 1 (with one line on
 * stderr naming target, seed and iteration) when one did not. The sanitizers report on their own. */
#include "fuzz.h"

#include <stdbool.h>
#include <string.h>

const char *fuzz_target = "-";
unsigned long long fuzz_seed, fuzz_iter;

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s json|devices|seccomp|all SEED ITERATIONS\n", argv[0]);
		return 2;
	}
	const char *t = argv[1];
	unsigned long long seed = strtoull(argv[2], NULL, 0);
	unsigned long iters = strtoul(argv[3], NULL, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	bool all = strcmp(t, "all") == 0, any = false;
	if (all || strcmp(t, "json") == 0)
		fuzz_json(seed, iters), any = true;
	if (all || strcmp(t, "devices") == 0)
		fuzz_devices(seed, iters), any = true;
	if (all || strcmp(t, "seccomp") == 0)
		fuzz_seccomp(seed, iters), any = true;
	if (!any) {
		fprintf(stderr, "unknown target %s\n", t);
		return 2;
	}
	return 0;
}
