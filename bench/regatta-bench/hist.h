/*
 * hist.h — latency histogram with bounded relative error (HdrHistogram's layout, our code).
 *
 * Values (nanoseconds) below 2^HIST_SUB_BITS are counted exactly; above, each power-of-two
 * range [2^k, 2^(k+1)) is split into 2^HIST_SUB_BITS equal buckets, so a bucket is never wider
 * than 1/128 of its values (< 0.8 % error). Values of 2^HIST_MAX_BITS ns (~18 minutes) and
 * more are clamped into the last bucket (and counted in `clamped`). min, max and the sum are
 * exact. Fixed size (no allocation): one per operation kind per worker thread, merged at the
 * end. Not thread-safe: each worker owns its own.
 */
#ifndef BENCH_RB_HIST_H
#define BENCH_RB_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_MAX_BITS 40
/* Buckets: 2^(S+1) for values below 2^(S+1), then 2^S per further power of two up to 2^MAX. */
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 1) << HIST_SUB_BITS)

struct hist {
	uint64_t count;
	uint64_t clamped;
	uint64_t min_ns;
	uint64_t max_ns;
	uint64_t sum_ns; /* 2^64 ns = 584 years of summed latency: no overflow in a bounded run */
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t value_ns);
/* dst += src. */
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at percentile p (0 < p <= 100): the highest value of the bucket holding the
 * ceil(p/100 * count)-th smallest value, capped at max. 0 when empty. */
uint64_t hist_percentile(const struct hist *h, double p);
/* Mean in ns (0 when empty). */
double hist_mean(const struct hist *h);

/* Bucket arithmetic, exposed for the self-check in main (--self-test). */
uint32_t hist_index(uint64_t value_ns);
uint64_t hist_bucket_low(uint32_t index);
uint64_t hist_bucket_high(uint32_t index);

#endif
