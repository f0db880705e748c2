/*
 * kv_overlay.h — the writes of the command being applied, visible to its own later reads.
 *
 * A Txn may put a key, read it back, delete a range and put again; all of it lands in one LSM
 * batch at the end. Until then reads resolve through this overlay: the newest point operation
 * on a key wins over older range deletions, a newer range deletion wins over older points.
 * Point lookups are O(1) (hash index) plus O(range deletions); ranges merge the overlay's sorted
 * keys with the LSM iterator. Memory comes from an arena reset after every command.
 */
#ifndef SERVER_KV_OVERLAY_H
#define SERVER_KV_OVERLAY_H

#include "core/arena.h"
#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

enum kv_op_kind { KV_OP_PUT = 1, KV_OP_DEL = 2, KV_OP_DELRANGE = 3 };

struct kv_op {
	enum kv_op_kind kind;
	const uint8_t *key; /* stored key (with prefix); for DELRANGE the lower bound */
	size_t key_len;
	const uint8_t *end; /* DELRANGE: exclusive stored upper bound */
	size_t end_len;
	const uint8_t *val; /* PUT: stored value (with header) */
	size_t val_len;
};

struct kv_overlay {
	struct arena *arena;
	struct kv_op *ops;
	size_t n, cap;
	int32_t *slots; /* hash: index of the newest point op per key, -1 empty */
	size_t nslots;
	size_t npoints; /* distinct point keys */
	size_t ndelranges;
};

enum kv_resolve { KV_UNTOUCHED = 0, KV_DELETED = 1, KV_PUT = 2 };

void kv_overlay_init(struct kv_overlay *o, struct arena *arena);
/* Forget all ops (the arena is reset by the owner). */
void kv_overlay_reset(struct kv_overlay *o);
int kv_overlay_empty(const struct kv_overlay *o);
/* Record an op; key/val/end are copied into the arena. ERR_NOMEM if the arena is full. */
int kv_overlay_add(struct kv_overlay *o, enum kv_op_kind kind, const uint8_t *key, size_t klen,
		   const uint8_t *end, size_t elen, const uint8_t *val, size_t vlen) WUR;
/* What the overlay says about stored key k; for KV_PUT, val and vlen get the stored value. */
enum kv_resolve kv_overlay_resolve(const struct kv_overlay *o, const uint8_t *k, size_t klen,
				   const uint8_t **val, size_t *vlen);
/* The distinct point keys in [lower, upper), sorted; array in the arena. */
int kv_overlay_keys_in(const struct kv_overlay *o, const uint8_t *lower, size_t llen,
		       const uint8_t *upper, size_t ulen, const struct kv_op ***out, size_t *n) WUR;

int kv_key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl);

#endif
