/*
 * lsm_int.h — declarations shared by the LSM's own files (not part of the public API).
 *
 * Internal keys. Every stored entry is keyed by user_key || trailer, the trailer a little-endian
 * u64 (seq << 8 | type). Internal order: user key ascending (memcmp, shorter first), then
 * trailer descending, so the newest version of a key comes first. A lookup for key k at snapshot
 * s seeks to (k, s, LSM_TYPE_SEEK) and lands on the newest version with seq <= s.
 * Sequence numbers are < LSM_SEQ_MAX; LSM_SEQ_MAX with LSM_TYPE_SEEK is the smallest internal
 * key of a user key and marks exclusive range-tombstone ends in table bounds (FORMAT.md).
 */
#ifndef STORAGE_LSM_INT_H
#define STORAGE_LSM_INT_H

#include "storage/lsm.h"
#include "core/assert.h"

#include <stdint.h>
#include <string.h>

#define LSM_TYPE_DEL 0
#define LSM_TYPE_PUT 1
#define LSM_TYPE_RANGEDEL 2
#define LSM_TYPE_SEEK 0xff
#define LSM_SEQ_MAX ((UINT64_C(1) << 56) - 1)
#define LSM_TRAILER_BYTES 8

/* ---- little-endian fixed and varint coding ---------------------------------------------------- */

static inline void lsm_put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void lsm_put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t lsm_get_u32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t lsm_get_u64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Writes a varint, returns bytes written (<= 10). */
static inline size_t lsm_put_varint(unsigned char *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/* Reads a varint from [*p, end); returns 0 and advances *p, or ERR_CORRUPT. */
static inline int lsm_get_varint(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
	uint64_t v = 0;
	const unsigned char *q = *p;
	for (unsigned shift = 0; shift <= 63 && q < end; shift += 7) {
		unsigned char b = *q++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*p = q;
			*out = v;
			return 0;
		}
	}
	return ERR_CORRUPT;
}

static inline size_t lsm_varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* ---- slices and internal keys ------------------------------------------------------------------ */

struct lsm_slice {
	const unsigned char *p;
	size_t n;
};

static inline int lsm_ukey_cmp(const void *a, size_t an, const void *b, size_t bn)
{
	size_t m = an < bn ? an : bn;
	int c = m ? memcmp(a, b, m) : 0;
	if (c)
		return c;
	return an < bn ? -1 : an > bn ? 1 : 0;
}

static inline uint64_t lsm_trailer(uint64_t seq, unsigned type) { return seq << 8 | type; }
static inline uint64_t lsm_ikey_trailer(const unsigned char *ik, size_t n) { return lsm_get_u64(ik + n - 8); }
static inline uint64_t lsm_ikey_seq(const unsigned char *ik, size_t n) { return lsm_ikey_trailer(ik, n) >> 8; }
static inline unsigned lsm_ikey_type(const unsigned char *ik, size_t n) { return (unsigned)(ik[n - 8]); }

/* Compare two internal keys (each >= 8 bytes). */
static inline int lsm_ikey_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
	int c = lsm_ukey_cmp(a, an - 8, b, bn - 8);
	if (c)
		return c;
	uint64_t ta = lsm_get_u64(a + an - 8), tb = lsm_get_u64(b + bn - 8);
	return ta > tb ? -1 : ta < tb ? 1 : 0;
}

/* Swallow a result on purpose (best-effort cleanup), which a (void) cast does not do for WUR. */
static inline void lsm_ignore(int rc) { (void)rc; }

/* A growable byte buffer (internal). */
struct lsm_bytes {
	unsigned char *p;
	size_t n, cap;
};
int lsm_bytes_reserve(struct lsm_bytes *b, size_t cap) WUR;
int lsm_bytes_set(struct lsm_bytes *b, const void *p, size_t n) WUR;
int lsm_bytes_append(struct lsm_bytes *b, const void *p, size_t n) WUR;
void lsm_bytes_free(struct lsm_bytes *b);
/* Set b to user_key || trailer. */
int lsm_bytes_set_ikey(struct lsm_bytes *b, const void *ukey, size_t n, uint64_t trailer) WUR;

/* ---- checksums and errors ---------------------------------------------------------------------- */

uint64_t lsm_hash64(const void *p, size_t n); /* XXH3_64bits */

/* Record an error on this thread (lsm_error_last) and return code. */
int lsm_err(int code, const char *file, uint64_t offset, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---- the block cache (cache.c) ------------------------------------------------------------------ */

struct lsm_cache_handle;
/* Look up (id, off); on a hit returns a pinned handle. */
struct lsm_cache_handle *lsm_cache_lookup(struct lsm_cache *c, uint64_t id, uint64_t off);
/* Insert data (malloc'd, ownership passes to the cache) and return a pinned handle. */
struct lsm_cache_handle *lsm_cache_insert(struct lsm_cache *c, uint64_t id, uint64_t off, void *data,
					  size_t size);
void lsm_cache_release(struct lsm_cache *c, struct lsm_cache_handle *h);
const void *lsm_cache_data(const struct lsm_cache_handle *h, size_t *size);
/* A process-unique id for a table reader's blocks. */
uint64_t lsm_cache_new_id(void);

#endif
