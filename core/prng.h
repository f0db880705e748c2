/*
 * prng.h — seeded pseudo-random numbers (xoshiro256**, seeded with splitmix64).
 *
 * Deterministic for a given seed on every platform: the simulator and the randomized tests
 * print the seed so one run can be replayed exactly. Not for cryptography.
 */
#ifndef CORE_PRNG_H
#define CORE_PRNG_H

#include <stdint.h>

struct prng {
	uint64_t s[4];
};

void prng_init(struct prng *p, uint64_t seed);
uint64_t prng_next(struct prng *p);
/* Uniform in [0, bound); bound must be > 0. */
uint64_t prng_below(struct prng *p, uint64_t bound);
/* Uniform in [lo, hi]; lo <= hi. */
uint64_t prng_range(struct prng *p, uint64_t lo, uint64_t hi);
/* True with probability num/den. */
int prng_chance(struct prng *p, uint64_t num, uint64_t den);
void prng_fill(struct prng *p, void *buf, uint64_t len);
/* A seed from the clock and pid, for runs that were not given one (print it!). */
uint64_t prng_seed_from_time(void);

#endif
