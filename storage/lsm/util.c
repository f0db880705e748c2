/*
 * util.c — small pieces every LSM file uses: byte buffers, the xxh3 checksum, per-thread error
 * records, option defaults, value buffers and write-batch encoding.
 *
 * Batch encoding (also the WAL record body, FORMAT.md "batch"): a sequence of records
 *   u8 type (0 delete, 1 put, 2 delete_range) | varint klen | key | [varint vlen | value]
 * where a delete has no value part and a delete_range's "value" is the exclusive end key.
 */
#include "storage/lsm/lsm_int.h"
#include "storage/lsm/lsm_batch.h"
#include "storage/lsm/lsm_log.h"
#include "core/limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

int lsm_bytes_reserve(struct lsm_bytes *b, size_t cap)
{
	if (cap <= b->cap)
		return 0;
	size_t nc = b->cap ? b->cap : 64;
	while (nc < cap)
		nc *= 2;
	unsigned char *p = realloc(b->p, nc);
	if (!p)
		return ERR_NOMEM;
	b->p = p;
	b->cap = nc;
	return 0;
}

int lsm_bytes_set(struct lsm_bytes *b, const void *p, size_t n)
{
	int rc = lsm_bytes_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->p, p, n);
	b->n = n;
	return 0;
}

int lsm_bytes_append(struct lsm_bytes *b, const void *p, size_t n)
{
	int rc = lsm_bytes_reserve(b, b->n + n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

void lsm_bytes_free(struct lsm_bytes *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

int lsm_bytes_set_ikey(struct lsm_bytes *b, const void *ukey, size_t n, uint64_t trailer)
{
	int rc = lsm_bytes_reserve(b, n + 8);
	if (rc)
		return rc;
	if (n)
		memcpy(b->p, ukey, n);
	lsm_put_u64(b->p + n, trailer);
	b->n = n + 8;
	return 0;
}

uint64_t lsm_hash64(const void *p, size_t n) { return XXH3_64bits(p, n); }

static _Thread_local struct lsm_error tls_err;

int lsm_err(int code, const char *file, uint64_t offset, const char *fmt, ...)
{
	ASSERT(code < 0);
	tls_err.code = code;
	snprintf(tls_err.file, sizeof tls_err.file, "%s", file ? file : "");
	tls_err.offset = offset;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(tls_err.msg, sizeof tls_err.msg, fmt, ap);
	va_end(ap);
	return code;
}

const struct lsm_error *lsm_error_last(void) { return &tls_err; }
void lsm_error_clear(void) { memset(&tls_err, 0, sizeof tls_err); }

void lsm_options_default(struct lsm_options *o)
{
	memset(o, 0, sizeof *o);
	o->durability = LSM_DURABILITY_APPLIED_INDEX;
	o->create_if_missing = 1;
	o->memtable_bytes = 64u << 20;
	o->memtables_max = 3;
	o->cache_bytes = 8u << 20;
	o->block_bytes = 4096;
	o->bloom_bits_per_key = 10;
	o->target_file_bytes = 64u << 20;
	o->level1_bytes = 256u << 20;
	o->l0_compaction_trigger = 4;
	o->l0_stop_trigger = 20;
	o->max_open_tables = 1000;
	o->paranoid_checks = 1;
}

void lsm_buf_init(struct lsm_buf *b) { memset(b, 0, sizeof *b); }
void lsm_buf_deinit(struct lsm_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

int lsm_buf_set(struct lsm_buf *b, const void *p, size_t n)
{
	if (n > b->cap) {
		size_t nc = b->cap ? b->cap : 64;
		while (nc < n)
			nc *= 2;
		unsigned char *q = realloc(b->data, nc);
		if (!q)
			return ERR_NOMEM;
		b->data = q;
		b->cap = nc;
	}
	if (n)
		memcpy(b->data, p, n);
	b->len = n;
	return 0;
}

/* ---- batches ------------------------------------------------------------------------------------ */

void lsm_batch_init(struct lsm_batch *b) { memset(b, 0, sizeof *b); }
void lsm_batch_deinit(struct lsm_batch *b)
{
	free(b->buf);
	memset(b, 0, sizeof *b);
}
void lsm_batch_clear(struct lsm_batch *b)
{
	b->len = 0;
	b->count = 0;
	b->applied_index = 0;
}
void lsm_batch_set_applied_index(struct lsm_batch *b, uint64_t index) { b->applied_index = index; }

static int batch_add(struct lsm_batch *b, unsigned type, const void *k, size_t kn, const void *v, size_t vn)
{
	size_t need = 1 + 10 + kn + (type == LSM_TYPE_DEL ? 0 : 10 + vn);
	if (b->len + need > LIMIT_LSM_BATCH_BYTES)
		return ERR_TOOBIG;
	if (b->len + need > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		while (nc < b->len + need)
			nc *= 2;
		unsigned char *p = realloc(b->buf, nc);
		if (!p)
			return ERR_NOMEM;
		b->buf = p;
		b->cap = nc;
	}
	unsigned char *p = b->buf + b->len;
	*p++ = (unsigned char)type;
	p += lsm_put_varint(p, kn);
	memcpy(p, k, kn);
	p += kn;
	if (type != LSM_TYPE_DEL) {
		p += lsm_put_varint(p, vn);
		if (vn)
			memcpy(p, v, vn);
		p += vn;
	}
	b->len = (size_t)(p - b->buf);
	b->count++;
	return 0;
}

int lsm_batch_put(struct lsm_batch *b, const void *key, size_t klen, const void *val, size_t vlen)
{
	if (klen == 0 || klen > LIMIT_KEY_BYTES || vlen > LIMIT_VALUE_BYTES)
		return klen == 0 ? ERR_INVAL : ERR_TOOBIG;
	return batch_add(b, LSM_TYPE_PUT, key, klen, val, vlen);
}

int lsm_batch_delete(struct lsm_batch *b, const void *key, size_t klen)
{
	if (klen == 0 || klen > LIMIT_KEY_BYTES)
		return klen == 0 ? ERR_INVAL : ERR_TOOBIG;
	return batch_add(b, LSM_TYPE_DEL, key, klen, NULL, 0);
}

int lsm_batch_delete_range(struct lsm_batch *b, const void *start, size_t slen, const void *end, size_t elen)
{
	if (slen > LIMIT_KEY_BYTES || elen > LIMIT_KEY_BYTES)
		return ERR_TOOBIG;
	if (lsm_ukey_cmp(start, slen, end, elen) >= 0)
		return 0; /* empty range: deletes nothing */
	return batch_add(b, LSM_TYPE_RANGEDEL, start, slen, end, elen);
}

int lsm_batch_iter_next(struct lsm_batch_iter *it, struct lsm_batch_rec *r)
{
	if (it->p >= it->end)
		return 0;
	const unsigned char *p = it->p;
	unsigned type = *p++;
	uint64_t kn, vn = 0;
	if (type > LSM_TYPE_RANGEDEL || lsm_get_varint(&p, it->end, &kn) || kn > (uint64_t)(it->end - p))
		return ERR_CORRUPT;
	r->type = type;
	r->key.p = p;
	r->key.n = (size_t)kn;
	p += kn;
	r->val.p = NULL;
	r->val.n = 0;
	if (type != LSM_TYPE_DEL) {
		if (lsm_get_varint(&p, it->end, &vn) || vn > (uint64_t)(it->end - p))
			return ERR_CORRUPT;
		r->val.p = p;
		r->val.n = (size_t)vn;
		p += vn;
	}
	it->p = p;
	return 1;
}

size_t lsm_wal_header_encode(unsigned char *p, uint64_t seq, uint64_t applied, uint32_t count)
{
	size_t n = lsm_put_varint(p, seq);
	n += lsm_put_varint(p + n, applied);
	n += lsm_put_varint(p + n, count);
	ASSERT(n <= LSM_WAL_HEADER_MAX);
	return n;
}

int lsm_wal_header_decode(const unsigned char *p, size_t n, uint64_t *seq, uint64_t *applied, uint32_t *count,
			  size_t *body_off)
{
	const unsigned char *q = p, *end = p + n;
	uint64_t c;
	if (lsm_get_varint(&q, end, seq) || lsm_get_varint(&q, end, applied) || lsm_get_varint(&q, end, &c) ||
	    c > UINT32_MAX || *seq >= LSM_SEQ_MAX)
		return ERR_CORRUPT;
	*count = (uint32_t)c;
	*body_off = (size_t)(q - p);
	return 0;
}
