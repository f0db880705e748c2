/*
 * block.c — sorted key/value blocks with prefix compression and restart points (data and index
 * blocks of a table), and their checksummed trailer.
 *
 * Body: entries, each varint shared | varint unshared | varint vlen | key[shared..] | value,
 * where `shared` is the length of the prefix common with the previous key (0 at a restart);
 * then u32 restart offsets and u32 restart count. Stored block = body | u8 compression (0) |
 * u64 xxh3(body | type). The iterator validates every entry against the body bounds, so a
 * corrupt block that passed its checksum (or a fuzzed one) yields ERR_CORRUPT, never a bad read.
 */
#include "storage/lsm/lsm_parts.h"
#include "core/limits.h"

#include <stdlib.h>

void lsm_block_builder_init(struct lsm_block_builder *b, uint32_t restart_interval)
{
	memset(b, 0, sizeof *b);
	ASSERT(restart_interval >= 1);
	b->interval = restart_interval;
}

void lsm_block_builder_deinit(struct lsm_block_builder *b)
{
	lsm_bytes_free(&b->buf);
	lsm_bytes_free(&b->last_key);
	free(b->restarts);
	memset(b, 0, sizeof *b);
}

void lsm_block_builder_reset(struct lsm_block_builder *b)
{
	b->buf.n = 0;
	b->last_key.n = 0;
	b->nrestarts = 0;
	b->counter = 0;
	b->entries = 0;
}

int lsm_block_builder_add(struct lsm_block_builder *b, const void *k, size_t kn, const void *v, size_t vn)
{
	size_t shared = 0;
	if (b->counter < b->interval && b->entries > 0) {
		size_t m = kn < b->last_key.n ? kn : b->last_key.n;
		const unsigned char *a = k, *l = b->last_key.p;
		while (shared < m && a[shared] == l[shared])
			shared++;
	} else {
		if (b->nrestarts == b->caprestarts) {
			size_t nc = b->caprestarts ? b->caprestarts * 2 : 64;
			uint32_t *r = realloc(b->restarts, nc * sizeof *r);
			if (!r)
				return ERR_NOMEM;
			b->restarts = r;
			b->caprestarts = nc;
		}
		b->restarts[b->nrestarts++] = (uint32_t)b->buf.n;
		b->counter = 0;
	}
	size_t unshared = kn - shared;
	int rc = lsm_bytes_reserve(&b->buf, b->buf.n + 30 + unshared + vn);
	if (rc)
		return rc;
	unsigned char *p = b->buf.p + b->buf.n;
	p += lsm_put_varint(p, shared);
	p += lsm_put_varint(p, unshared);
	p += lsm_put_varint(p, vn);
	memcpy(p, (const unsigned char *)k + shared, unshared);
	p += unshared;
	if (vn)
		memcpy(p, v, vn);
	p += vn;
	b->buf.n = (size_t)(p - b->buf.p);
	rc = lsm_bytes_set(&b->last_key, k, kn);
	if (rc)
		return rc;
	b->counter++;
	b->entries++;
	return 0;
}

size_t lsm_block_builder_size(const struct lsm_block_builder *b)
{
	return b->buf.n + 4 * b->nrestarts + 4 + LSM_BLOCK_TRAILER;
}

int lsm_block_builder_finish(struct lsm_block_builder *b, struct lsm_slice *out)
{
	if (b->nrestarts == 0) {
		/* An empty block still has one restart point at 0 so readers need no special case. */
		b->restarts = b->restarts ? b->restarts : malloc(64 * sizeof *b->restarts);
		if (!b->restarts)
			return ERR_NOMEM;
		b->caprestarts = b->caprestarts ? b->caprestarts : 64;
		b->restarts[b->nrestarts++] = 0;
	}
	int rc = lsm_bytes_reserve(&b->buf, b->buf.n + 4 * b->nrestarts + 4 + LSM_BLOCK_TRAILER);
	if (rc)
		return rc;
	for (size_t i = 0; i < b->nrestarts; i++) {
		lsm_put_u32(b->buf.p + b->buf.n, b->restarts[i]);
		b->buf.n += 4;
	}
	lsm_put_u32(b->buf.p + b->buf.n, (uint32_t)b->nrestarts);
	b->buf.n += 4;
	b->buf.p[b->buf.n++] = 0; /* no compression */
	lsm_put_u64(b->buf.p + b->buf.n, lsm_hash64(b->buf.p, b->buf.n));
	b->buf.n += 8;
	out->p = b->buf.p;
	out->n = b->buf.n;
	return 0;
}

int lsm_block_check(const unsigned char *p, size_t len)
{
	if (len < LSM_BLOCK_TRAILER)
		return ERR_CORRUPT;
	uint64_t want = lsm_get_u64(p + len - 8);
	if (lsm_hash64(p, len - 8) != want)
		return ERR_CORRUPT;
	if (p[len - LSM_BLOCK_TRAILER] != 0)
		return ERR_CORRUPT; /* unknown compression type */
	return 0;
}

int lsm_block_body_check(const unsigned char *p, size_t len)
{
	if (len < 8)
		return ERR_CORRUPT;
	uint32_t n = lsm_get_u32(p + len - 4);
	if (n == 0 || (uint64_t)n * 4 + 4 > len)
		return ERR_CORRUPT;
	size_t data_end = len - 4 - (size_t)n * 4;
	uint32_t prev = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t r = lsm_get_u32(p + data_end + 4 * (size_t)i);
		if (r > data_end || (i > 0 && r <= prev) || (i == 0 && r != 0))
			return ERR_CORRUPT;
		prev = r;
	}
	return 0;
}

int lsm_handle_decode(struct lsm_slice v, uint64_t *off, uint64_t *size)
{
	const unsigned char *p = v.p, *end = v.p + v.n;
	if (lsm_get_varint(&p, end, off) || lsm_get_varint(&p, end, size))
		return ERR_CORRUPT;
	return 0;
}

/* ---- iterator ---------------------------------------------------------------------------------- */

struct block_iter {
	struct lsm_iiter base;
	const unsigned char *data; /* body */
	size_t data_end;           /* end of entries = start of restart array */
	uint32_t nrestarts;
	const unsigned char *restarts;
	size_t cur;   /* offset of the current entry; data_end when invalid */
	size_t next;  /* offset of the entry after the current one */
	uint32_t restart_index; /* restart block containing cur */
	struct lsm_bytes key;
	struct lsm_slice val;
	int status;
	struct lsm_cache *cache;
	struct lsm_cache_handle *pin;
	void *owned;
};

static inline uint32_t restart_at(const struct block_iter *b, uint32_t i)
{
	return lsm_get_u32(b->restarts + 4 * (size_t)i);
}

static void bi_corrupt(struct block_iter *b)
{
	b->status = ERR_CORRUPT;
	b->cur = b->data_end;
	b->key.n = 0;
}

/* Decode the entry at b->next into key/val; returns 0 at end or on corruption (status set). */
static int parse_next(struct block_iter *b)
{
	b->cur = b->next;
	if (b->cur >= b->data_end) {
		b->cur = b->data_end;
		return 0;
	}
	const unsigned char *p = b->data + b->cur, *end = b->data + b->data_end;
	uint64_t shared, unshared, vn;
	if (lsm_get_varint(&p, end, &shared) || lsm_get_varint(&p, end, &unshared) ||
	    lsm_get_varint(&p, end, &vn) || shared > b->key.n || unshared > (uint64_t)(end - p) ||
	    vn > (uint64_t)(end - p) - unshared) {
		bi_corrupt(b);
		return 0;
	}
	b->key.n = (size_t)shared;
	if (lsm_bytes_append(&b->key, p, (size_t)unshared)) {
		b->status = ERR_NOMEM;
		b->cur = b->data_end;
		return 0;
	}
	if (b->key.n < 8) { /* every stored key is an internal key */
		bi_corrupt(b);
		return 0;
	}
	p += unshared;
	b->val.p = p;
	b->val.n = (size_t)vn;
	b->next = (size_t)(p + vn - b->data);
	while (b->restart_index + 1 < b->nrestarts && restart_at(b, b->restart_index + 1) <= b->cur)
		b->restart_index++;
	return 1;
}

static void seek_to_restart(struct block_iter *b, uint32_t i)
{
	b->key.n = 0;
	b->restart_index = i;
	b->next = restart_at(b, i);
	if (b->next > b->data_end) {
		b->next = b->data_end;
		b->status = ERR_CORRUPT;
	}
}

static int bi_valid(struct lsm_iiter *it)
{
	struct block_iter *b = (struct block_iter *)it;
	return b->cur < b->data_end;
}

static void bi_first(struct lsm_iiter *it)
{
	struct block_iter *b = (struct block_iter *)it;
	seek_to_restart(b, 0);
	parse_next(b);
}

static void bi_last(struct lsm_iiter *it)
{
	struct block_iter *b = (struct block_iter *)it;
	seek_to_restart(b, b->nrestarts - 1);
	while (parse_next(b) && b->next < b->data_end) {
	}
}

static void bi_seek(struct lsm_iiter *it, const unsigned char *k, size_t kn)
{
	struct block_iter *b = (struct block_iter *)it;
	/* Binary search for the last restart point whose key < target. */
	uint32_t lo = 0, hi = b->nrestarts - 1;
	while (lo < hi) {
		uint32_t mid = (lo + hi + 1) / 2;
		size_t off = restart_at(b, mid);
		if (off >= b->data_end) {
			bi_corrupt(b);
			return;
		}
		const unsigned char *p = b->data + off, *end = b->data + b->data_end;
		uint64_t shared, unshared, vn;
		if (lsm_get_varint(&p, end, &shared) || lsm_get_varint(&p, end, &unshared) ||
		    lsm_get_varint(&p, end, &vn) || shared != 0 || unshared > (uint64_t)(end - p) ||
		    unshared < 8) {
			bi_corrupt(b);
			return;
		}
		if (lsm_ikey_cmp(p, (size_t)unshared, k, kn) < 0)
			lo = mid;
		else
			hi = mid - 1;
	}
	seek_to_restart(b, lo);
	while (parse_next(b)) {
		if (lsm_ikey_cmp(b->key.p, b->key.n, k, kn) >= 0)
			return;
	}
}

static void bi_next(struct lsm_iiter *it)
{
	struct block_iter *b = (struct block_iter *)it;
	ASSERT(b->cur < b->data_end);
	parse_next(b);
}

static void bi_prev(struct lsm_iiter *it)
{
	struct block_iter *b = (struct block_iter *)it;
	ASSERT(b->cur < b->data_end);
	size_t orig = b->cur;
	/* Back up to a restart point strictly before orig, then scan forward. */
	uint32_t ri = b->restart_index;
	while (restart_at(b, ri) >= orig) {
		if (ri == 0) {
			b->cur = b->data_end; /* no entry before the first */
			return;
		}
		ri--;
	}
	seek_to_restart(b, ri);
	while (parse_next(b) && b->next < orig) {
	}
}

static struct lsm_slice bi_key(struct lsm_iiter *it)
{
	struct block_iter *b = (struct block_iter *)it;
	return (struct lsm_slice){b->key.p, b->key.n};
}

static struct lsm_slice bi_value(struct lsm_iiter *it) { return ((struct block_iter *)it)->val; }
static int bi_status(struct lsm_iiter *it) { return ((struct block_iter *)it)->status; }

static void bi_release(struct block_iter *b);

static void bi_free(struct lsm_iiter *it)
{
	struct block_iter *b = (struct block_iter *)it;
	bi_release(b);
	lsm_bytes_free(&b->key);
	free(b);
}

static void bi_release(struct block_iter *b)
{
	if (b->pin)
		lsm_cache_release(b->cache, b->pin);
	free(b->owned);
	b->pin = NULL;
	b->owned = NULL;
}

static const struct lsm_iiter_ops block_iter_ops = {bi_valid, bi_first, bi_last, bi_seek, bi_next,
						    bi_prev, bi_key, bi_value, bi_status, bi_free};

/* O(1) shape check for blocks already validated when they were read (cache, index): the
 * iterator bounds-checks every entry it decodes, so a bad restart offset cannot cause a bad read. */
static int body_shape_ok(const unsigned char *p, size_t len)
{
	if (len < 8)
		return 0;
	uint32_t n = lsm_get_u32(p + len - 4);
	return n > 0 && (uint64_t)n * 4 + 4 <= len;
}

static void bi_init(struct block_iter *b, const unsigned char *body, size_t len, struct lsm_cache *cache,
		    struct lsm_cache_handle *pin, void *owned)
{
	b->base.ops = &block_iter_ops;
	b->data = body;
	b->nrestarts = lsm_get_u32(body + len - 4);
	b->data_end = len - 4 - 4 * (size_t)b->nrestarts;
	b->restarts = body + b->data_end;
	b->cur = b->next = b->data_end;
	b->restart_index = 0;
	b->key.n = 0;
	b->val = (struct lsm_slice){0};
	b->status = 0;
	b->cache = cache;
	b->pin = pin;
	b->owned = owned;
}

int lsm_block_iter_new(const unsigned char *body, size_t len, struct lsm_cache *cache,
		       struct lsm_cache_handle *pin, void *owned, struct lsm_iiter **out)
{
	if (!body_shape_ok(body, len))
		return ERR_CORRUPT;
	struct block_iter *b = calloc(1, sizeof *b);
	if (!b)
		return ERR_NOMEM;
	bi_init(b, body, len, cache, pin, owned);
	*out = &b->base;
	return 0;
}

void lsm_block_iter_release(struct lsm_iiter *it)
{
	struct block_iter *b = (struct block_iter *)it;
	bi_release(b);
	b->data = NULL;
	b->cur = b->next = b->data_end = 0;
}

int lsm_block_iter_reset(struct lsm_iiter *it, const unsigned char *body, size_t len, struct lsm_cache *cache,
			 struct lsm_cache_handle *pin, void *owned)
{
	struct block_iter *b = (struct block_iter *)it;
	ASSERT(b->base.ops == &block_iter_ops);
	bi_release(b);
	if (!body_shape_ok(body, len))
		return ERR_CORRUPT;
	bi_init(b, body, len, cache, pin, owned);
	return 0;
}

int lsm_block_seek_once(const unsigned char *body, size_t len, const unsigned char *k, size_t kn,
			struct lsm_bytes *key, struct lsm_slice *val)
{
	/* The same search as bi_seek, on a stack iterator, for point lookups (no allocation
	 * beyond the caller's reusable key buffer). */
	if (!body_shape_ok(body, len))
		return ERR_CORRUPT;
	struct block_iter b;
	memset(&b, 0, sizeof b);
	b.base.ops = &block_iter_ops;
	b.data = body;
	b.nrestarts = lsm_get_u32(body + len - 4);
	b.data_end = len - 4 - 4 * (size_t)b.nrestarts;
	b.restarts = body + b.data_end;
	b.cur = b.data_end;
	b.key = *key;
	b.key.n = 0;
	bi_seek(&b.base, k, kn);
	*key = b.key; /* keep a grown buffer */
	if (b.status)
		return b.status;
	if (b.cur >= b.data_end)
		return 0;
	*val = b.val;
	return 1;
}
