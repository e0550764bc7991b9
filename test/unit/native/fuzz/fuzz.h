/* The native helper's fuzz driver (fuzz.test.ts builds it with -fsanitize=address,undefined):
 * a seeded loop, so every run tries the same inputs and a failure names the seed and iteration
 * that reproduce it. Each target checks properties of what it gets back, not only "no crash". */
#ifndef VZKIT_FUZZ_H
#define VZKIT_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* splitmix64: tiny, well mixed, and the same sequence on every machine. */
struct rng {
	uint64_t s;
};

static inline uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* 0..n-1 (n > 0) */
static inline uint32_t below(struct rng *r, uint32_t n)
{
	return (uint32_t)(rnd(r) % n);
}

static inline int chance(struct rng *r, uint32_t one_in)
{
	return below(r, one_in) == 0;
}

/* Where a failure happened: set by each target's loop. */
extern const char *fuzz_target;
extern unsigned long long fuzz_seed, fuzz_iter;

/* A broken property: one line naming target, seed and iteration, then exit 1. */
#define FAILF(...)                                                                                       \
	do {                                                                                             \
		fprintf(stderr, "PROPERTY FAILED [%s seed %llu iteration %llu] %s:%d: ", fuzz_target,   \
			fuzz_seed, fuzz_iter, __FILE__, __LINE__);                                        \
		fprintf(stderr, __VA_ARGS__);                                                            \
		fputc('\n', stderr);                                                                     \
		exit(1);                                                                                 \
	} while (0)
#define CHECK(cond, ...)                   \
	do {                               \
		if (!(cond))               \
			FAILF(__VA_ARGS__); \
	} while (0)

/* Each target: runs iters iterations from seed, prints one summary line on stdout. */
void fuzz_json(unsigned long long seed, unsigned long iters);
void fuzz_devices(unsigned long long seed, unsigned long iters);
void fuzz_seccomp(unsigned long long seed, unsigned long iters);

#endif
