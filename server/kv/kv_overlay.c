/* kv_overlay.c — see kv_overlay.h. */
#include "server/kv/kv_overlay.h"
#include "core/assert.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int kv_key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	size_t m = al < bl ? al : bl;
	int c = m ? memcmp(a, b, m) : 0;
	if (c)
		return c;
	return al < bl ? -1 : al > bl ? 1 : 0;
}

void kv_overlay_init(struct kv_overlay *o, struct arena *arena)
{
	memset(o, 0, sizeof *o);
	o->arena = arena;
}

void kv_overlay_reset(struct kv_overlay *o)
{
	struct arena *a = o->arena;
	memset(o, 0, sizeof *o);
	o->arena = a;
}

int kv_overlay_empty(const struct kv_overlay *o) { return o->n == 0; }

static size_t slot_of(const struct kv_overlay *o, const uint8_t *k, size_t klen)
{
	ASSERT(o->nslots && (o->nslots & (o->nslots - 1)) == 0);
	return (size_t)XXH3_64bits(k, klen) & (o->nslots - 1);
}

/* Slot holding key k, or the empty slot where it would go. */
static size_t find_slot(const struct kv_overlay *o, const uint8_t *k, size_t klen)
{
	size_t i = slot_of(o, k, klen);
	for (size_t probes = 0; probes < o->nslots; probes++) {
		int32_t idx = o->slots[i];
		if (idx < 0)
			return i;
		const struct kv_op *op = &o->ops[idx];
		if (op->key_len == klen && memcmp(op->key, k, klen) == 0)
			return i;
		i = (i + 1) & (o->nslots - 1);
	}
	UNREACHABLE(); /* the table is never full: load factor <= 1/2 */
}

static int rehash(struct kv_overlay *o, size_t nslots)
{
	int32_t *slots = arena_alloc(o->arena, nslots * sizeof *slots);
	if (!slots)
		return ERR_NOMEM;
	for (size_t i = 0; i < nslots; i++)
		slots[i] = -1;
	int32_t *old = o->slots;
	size_t oldn = o->nslots;
	o->slots = slots;
	o->nslots = nslots;
	for (size_t i = 0; i < oldn; i++) {
		if (old[i] < 0)
			continue;
		const struct kv_op *op = &o->ops[old[i]];
		o->slots[find_slot(o, op->key, op->key_len)] = old[i];
	}
	return 0;
}

int kv_overlay_add(struct kv_overlay *o, enum kv_op_kind kind, const uint8_t *key, size_t klen,
		   const uint8_t *end, size_t elen, const uint8_t *val, size_t vlen)
{
	ASSERT(kind == KV_OP_PUT || kind == KV_OP_DEL || kind == KV_OP_DELRANGE);
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;
		struct kv_op *ops = arena_alloc(o->arena, cap * sizeof *ops);
		if (!ops)
			return ERR_NOMEM;
		if (o->n)
			memcpy(ops, o->ops, o->n * sizeof *ops);
		o->ops = ops;
		o->cap = cap;
	}
	if (o->n >= INT32_MAX)
		return ERR_TOOBIG;
	struct kv_op op = {.kind = kind, .key_len = klen, .end_len = elen, .val_len = vlen};
	op.key = arena_memdup(o->arena, key, klen);
	if (!op.key)
		return ERR_NOMEM;
	if (kind == KV_OP_DELRANGE) {
		op.end = arena_memdup(o->arena, end, elen);
		if (!op.end)
			return ERR_NOMEM;
	}
	if (kind == KV_OP_PUT) {
		op.val = arena_memdup(o->arena, val, vlen);
		if (!op.val)
			return ERR_NOMEM;
	}
	int32_t idx = (int32_t)o->n;
	o->ops[o->n++] = op;
	if (kind == KV_OP_DELRANGE) {
		o->ndelranges++;
		return 0;
	}
	if ((o->npoints + 1) * 2 > o->nslots) {
		int rc = rehash(o, o->nslots ? o->nslots * 2 : 64);
		if (rc)
			return rc;
	}
	size_t s = find_slot(o, key, klen);
	if (o->slots[s] < 0)
		o->npoints++;
	o->slots[s] = idx;
	return 0;
}

enum kv_resolve kv_overlay_resolve(const struct kv_overlay *o, const uint8_t *k, size_t klen,
				   const uint8_t **val, size_t *vlen)
{
	if (o->n == 0)
		return KV_UNTOUCHED;
	int32_t point = -1;
	if (o->nslots) {
		size_t s = find_slot(o, k, klen);
		point = o->slots[s];
	}
	int32_t range = -1;
	if (o->ndelranges) {
		for (size_t i = o->n; i-- > 0;) {
			const struct kv_op *op = &o->ops[i];
			if ((int32_t)i < point)
				break; /* older than the point op: cannot win */
			if (op->kind == KV_OP_DELRANGE && kv_key_cmp(k, klen, op->key, op->key_len) >= 0 &&
			    kv_key_cmp(k, klen, op->end, op->end_len) < 0) {
				range = (int32_t)i;
				break;
			}
		}
	}
	if (point < 0 && range < 0)
		return KV_UNTOUCHED;
	if (range > point)
		return KV_DELETED;
	const struct kv_op *op = &o->ops[point];
	if (op->kind == KV_OP_DEL)
		return KV_DELETED;
	*val = op->val;
	*vlen = op->val_len;
	return KV_PUT;
}

static int op_ptr_cmp(const void *a, const void *b)
{
	const struct kv_op *x = *(const struct kv_op *const *)a, *y = *(const struct kv_op *const *)b;
	return kv_key_cmp(x->key, x->key_len, y->key, y->key_len);
}

int kv_overlay_keys_in(const struct kv_overlay *o, const uint8_t *lower, size_t llen,
		       const uint8_t *upper, size_t ulen, const struct kv_op ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!o->npoints)
		return 0;
	const struct kv_op **v = arena_alloc(o->arena, o->npoints * sizeof *v);
	if (!v)
		return ERR_NOMEM;
	size_t cnt = 0;
	for (size_t i = 0; i < o->nslots; i++) {
		if (o->slots[i] < 0)
			continue;
		const struct kv_op *op = &o->ops[o->slots[i]];
		if (kv_key_cmp(op->key, op->key_len, lower, llen) < 0)
			continue;
		if (upper && kv_key_cmp(op->key, op->key_len, upper, ulen) >= 0)
			continue;
		v[cnt++] = op;
	}
	ASSERT(cnt <= o->npoints);
	qsort(v, cnt, sizeof *v, op_ptr_cmp);
	*out = v;
	*n = cnt;
	return 0;
}
