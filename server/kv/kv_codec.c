/* kv_codec.c — see kv_codec.h. */
#include "server/kv/kv_codec.h"
#include "core/assert.h"
#include "core/limits.h"

#include <string.h>

static size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static int varint_get(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*pos >= len)
			return ERR_CORRUPT;
		uint8_t b = p[(*pos)++];
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return ERR_CORRUPT;
}

size_t kv_value_header_encode(uint8_t *out, const struct kv_meta *m)
{
	ASSERT(m->create_revision >= 0 && m->mod_revision >= 0 && m->version >= 0);
	size_t n = 0;
	out[n++] = KV_VALUE_FORMAT;
	n += varint_put(out + n, (uint64_t)m->create_revision);
	n += varint_put(out + n, (uint64_t)m->mod_revision);
	n += varint_put(out + n, (uint64_t)m->version);
	ASSERT(n <= KV_VALUE_HEADER_MAX);
	return n;
}

int kv_value_decode(const uint8_t *buf, size_t len, struct kv_meta *m, const uint8_t **val,
		    size_t *vlen)
{
	if (len < 1 || buf[0] != KV_VALUE_FORMAT)
		return ERR_CORRUPT;
	size_t pos = 1;
	uint64_t c, mod, ver;
	if (varint_get(buf, len, &pos, &c) || varint_get(buf, len, &pos, &mod) ||
	    varint_get(buf, len, &pos, &ver))
		return ERR_CORRUPT;
	if (c > INT64_MAX || mod > INT64_MAX || ver > INT64_MAX)
		return ERR_CORRUPT;
	m->create_revision = (int64_t)c;
	m->mod_revision = (int64_t)mod;
	m->version = (int64_t)ver;
	*val = buf + pos;
	*vlen = len - pos;
	return 0;
}

int kv_bounds_make(const uint8_t *key, size_t klen, const uint8_t *end, size_t elen,
		   uint8_t *scratch, size_t scratch_len, struct kv_bounds *b)
{
	if (klen > LIMIT_KEY_BYTES + 1 || elen > LIMIT_KEY_BYTES + 1)
		return ERR_TOOBIG;
	ASSERT(scratch_len >= 2 * KV_BOUND_BYTES);
	memset(b, 0, sizeof *b);
	uint8_t *lo = scratch, *hi = scratch + KV_BOUND_BYTES;
	lo[0] = KV_PREFIX_USER;
	if (klen)
		memcpy(lo + 1, key, klen);
	b->lower = lo;
	b->lower_len = klen + 1;
	if (elen == 0) {
		/* A single key: upper is key + "\0", the smallest key after it. */
		b->single = 1;
		memcpy(hi, lo, klen + 1);
		hi[klen + 1] = 0;
		b->upper = hi;
		b->upper_len = klen + 2;
		return 0;
	}
	if (elen == 1 && end[0] == 0) {
		hi[0] = KV_PREFIX_USER + 1;
		b->upper = hi;
		b->upper_len = 1;
		return 0;
	}
	hi[0] = KV_PREFIX_USER;
	memcpy(hi + 1, end, elen);
	b->upper = hi;
	b->upper_len = elen + 1;
	size_t m = klen < elen ? klen : elen;
	int c = m ? memcmp(key, end, m) : 0;
	if (c > 0 || (c == 0 && klen >= elen))
		b->empty = 1;
	return 0;
}

static int bytes_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t m = al < bl ? al : bl;
	int c = m ? memcmp(a, b, m) : 0;
	if (c)
		return c;
	return al < bl ? -1 : al > bl ? 1 : 0;
}

int kv_bounds_contains(const struct kv_bounds *b, const uint8_t *sk, size_t sklen)
{
	if (b->empty)
		return 0;
	return bytes_cmp(sk, sklen, b->lower, b->lower_len) >= 0 &&
	       bytes_cmp(sk, sklen, b->upper, b->upper_len) < 0;
}
