/* prng.c — xoshiro256** (Blackman & Vigna), public-domain algorithm, written here. */
#include "core/prng.h"
#include "core/assert.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void prng_init(struct prng *p, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		p->s[i] = splitmix64(&x);
}

uint64_t prng_next(struct prng *p)
{
	uint64_t *s = p->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t prng_below(struct prng *p, uint64_t bound)
{
	ASSERT(bound > 0);
	/* Lemire's nearly-divisionless method would be faster; rejection keeps it unbiased. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
	uint64_t r;
	do {
		r = prng_next(p);
	} while (r >= limit);
	return r % bound;
}

uint64_t prng_range(struct prng *p, uint64_t lo, uint64_t hi)
{
	ASSERT(lo <= hi);
	if (lo == 0 && hi == UINT64_MAX)
		return prng_next(p);
	return lo + prng_below(p, hi - lo + 1);
}

int prng_chance(struct prng *p, uint64_t num, uint64_t den)
{
	ASSERT(den > 0);
	return prng_below(p, den) < num;
}

void prng_fill(struct prng *p, void *buf, uint64_t len)
{
	unsigned char *b = buf;
	while (len >= 8) {
		uint64_t r = prng_next(p);
		memcpy(b, &r, 8);
		b += 8;
		len -= 8;
	}
	if (len) {
		uint64_t r = prng_next(p);
		memcpy(b, &r, len);
	}
}

uint64_t prng_seed_from_time(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t x = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	x ^= (uint64_t)getpid() << 32;
	return splitmix64(&x);
}
