/*
 * hist.c — see hist.h. Index of a value v >= 2^S (S = HIST_SUB_BITS): with m = the position of
 * v's highest set bit and shift = m - S, the top S+1 bits of v are `sub` in [2^S, 2^(S+1)) and
 * index = shift * 2^S + sub. For v < 2^(S+1) this is v itself, so small values are exact and
 * the index grows monotonically with v (asserted by the self-test).
 */
#include "hist.h"

#include "core/assert.h"

#include <math.h>
#include <string.h>

#define HIST_SUB_COUNT (1ull << HIST_SUB_BITS)
#define HIST_VALUE_MAX ((1ull << HIST_MAX_BITS) - 1)

void hist_init(struct hist *h)
{
	ASSERT(h != NULL);
	memset(h, 0, sizeof *h);
	h->min_ns = UINT64_MAX;
}

uint32_t hist_index(uint64_t v)
{
	if (v > HIST_VALUE_MAX)
		v = HIST_VALUE_MAX;
	if (v < 2 * HIST_SUB_COUNT)
		return (uint32_t)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - HIST_SUB_BITS;
	uint64_t sub = v >> shift;
	ASSERT(sub >= HIST_SUB_COUNT && sub < 2 * HIST_SUB_COUNT);
	uint64_t idx = (uint64_t)shift * HIST_SUB_COUNT + sub;
	ASSERT(idx < HIST_BUCKETS);
	return (uint32_t)idx;
}

uint64_t hist_bucket_low(uint32_t index)
{
	ASSERT(index < HIST_BUCKETS);
	if (index < 2 * HIST_SUB_COUNT)
		return index;
	uint64_t shift = index / HIST_SUB_COUNT - 1;
	uint64_t sub = index - shift * HIST_SUB_COUNT;
	return sub << shift;
}

uint64_t hist_bucket_high(uint32_t index)
{
	ASSERT(index < HIST_BUCKETS);
	if (index < 2 * HIST_SUB_COUNT)
		return index;
	uint64_t shift = index / HIST_SUB_COUNT - 1;
	uint64_t sub = index - shift * HIST_SUB_COUNT;
	return ((sub + 1) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t v)
{
	if (v > HIST_VALUE_MAX)
		h->clamped++;
	h->buckets[hist_index(v)]++;
	h->count++;
	h->sum_ns += v;
	if (v < h->min_ns)
		h->min_ns = v;
	if (v > h->max_ns)
		h->max_ns = v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	ASSERT(dst != NULL && src != NULL && dst != src);
	for (uint32_t i = 0; i < HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->clamped += src->clamped;
	dst->sum_ns += src->sum_ns;
	if (src->min_ns < dst->min_ns)
		dst->min_ns = src->min_ns;
	if (src->max_ns > dst->max_ns)
		dst->max_ns = src->max_ns;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	ASSERT(p > 0.0 && p <= 100.0);
	if (h->count == 0)
		return 0;
	double want_d = ceil(p / 100.0 * (double)h->count);
	uint64_t want = want_d < 1.0 ? 1 : (uint64_t)want_d;
	if (want > h->count)
		want = h->count;
	uint64_t seen = 0;
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= want) {
			uint64_t v = hist_bucket_high(i);
			return v > h->max_ns ? h->max_ns : (v < h->min_ns ? h->min_ns : v);
		}
	}
	UNREACHABLE();
}

double hist_mean(const struct hist *h)
{
	return h->count ? (double)h->sum_ns / (double)h->count : 0.0;
}
