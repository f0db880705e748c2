/*
 * bloom.c — the per-table bloom filter over user keys.
 *
 * Layout (filter block body, FORMAT.md): bit array (a multiple of 64 bits) | u8 k (probes).
 * Probes use double hashing from the 64-bit xxh3 of the user key: h1 = low 32 bits, h2 = high
 * 32 bits, bit_i = (h1 + i*h2) mod nbits. ~1% false positives at 10 bits per key.
 */
#include "storage/lsm/lsm_parts.h"

#include <stdlib.h>

int lsm_bloom_build(const uint64_t *hashes, size_t n, uint32_t bits_per_key, struct lsm_bytes *out)
{
	ASSERT(bits_per_key > 0);
	uint64_t bits = (uint64_t)n * bits_per_key;
	if (bits < 64)
		bits = 64;
	bits = (bits + 63) / 64 * 64;
	unsigned k = (unsigned)(bits_per_key * 69 / 100); /* ln 2 */
	k = k < 1 ? 1 : k > 30 ? 30 : k;
	size_t bytes = (size_t)(bits / 8);
	size_t base = out->n;
	int rc = lsm_bytes_reserve(out, base + bytes + 1);
	if (rc)
		return rc;
	unsigned char *a = out->p + base;
	memset(a, 0, bytes);
	for (size_t i = 0; i < n; i++) {
		uint32_t h1 = (uint32_t)hashes[i], h2 = (uint32_t)(hashes[i] >> 32) | 1u;
		for (unsigned j = 0; j < k; j++) {
			uint64_t bit = (h1 + (uint64_t)j * h2) % bits;
			a[bit / 8] |= (unsigned char)(1u << (bit % 8));
		}
	}
	a[bytes] = (unsigned char)k;
	out->n = base + bytes + 1;
	return 0;
}

int lsm_bloom_may_contain(const unsigned char *f, size_t n, uint64_t hash)
{
	if (n < 9 || (n - 1) % 8 != 0)
		return 1;
	unsigned k = f[n - 1];
	if (k < 1 || k > 30)
		return 1;
	uint64_t bits = (uint64_t)(n - 1) * 8;
	uint32_t h1 = (uint32_t)hash, h2 = (uint32_t)(hash >> 32) | 1u;
	for (unsigned j = 0; j < k; j++) {
		uint64_t bit = (h1 + (uint64_t)j * h2) % bits;
		if (!(f[bit / 8] & (1u << (bit % 8))))
			return 0;
	}
	return 1;
}
