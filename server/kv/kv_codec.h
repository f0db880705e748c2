/*
 * kv_codec.h — how a table's keys and values are laid out in its LSM tree.
 *
 * Keys: user key k is stored as 0x01 || k; internal keys (the replication position of a
 * follower table, table metadata) use the 0x00 prefix. So every user range maps to a range
 * inside [0x01, 0x02) and internal keys never show up in a user Range.
 *
 * Values: version byte 1, then create_revision, mod_revision and version as unsigned LEB128
 * varints, then the user value bytes. A stored value always decodes or is reported corrupt.
 */
#ifndef SERVER_KV_CODEC_H
#define SERVER_KV_CODEC_H

#include "core/err.h"
#include "core/limits.h"

#include <stddef.h>
#include <stdint.h>

#define KV_PREFIX_USER 0x01
#define KV_PREFIX_INTERNAL 0x00
#define KV_VALUE_FORMAT 1
#define KV_VALUE_HEADER_MAX (1 + 3 * 10)

struct kv_meta {
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
};

/* Encode the value header into out (>= KV_VALUE_HEADER_MAX bytes); returns its length. */
size_t kv_value_header_encode(uint8_t *out, const struct kv_meta *m);

/* Decode a stored value: fills m and points val, vlen at the user bytes inside buf.
 * ERR_CORRUPT if the header is malformed or has an unknown version. */
int kv_value_decode(const uint8_t *buf, size_t len, struct kv_meta *m, const uint8_t **val,
		    size_t *vlen) WUR;

/* Keys handed to kv_bounds_make may be one byte longer than a client key (a continuation key
 * "last key + \0" of a chunked read). Each bound needs a prefix byte and, for a single key, a
 * trailing zero: scratch holds two bounds of KV_BOUND_BYTES. */
#define KV_BOUND_BYTES (LIMIT_KEY_BYTES + 4)

_Static_assert(LIMIT_VALUE_BYTES + KV_VALUE_HEADER_MAX <= LIMIT_LSM_VALUE_BYTES,
	       "a max-size value with its header fits the LSM");
_Static_assert(KV_BOUND_BYTES <= LIMIT_LSM_KEY_BYTES, "a stored key or range bound fits the LSM");

/*
 * User range semantics (etcd/Regatta): from key and range_end, the stored-key bounds.
 *   range_end empty        -> exactly key (single is set)
 *   range_end == "\0"      -> all keys >= key (key "\0" too: the whole table)
 *   otherwise              -> [key, range_end); empty when range_end <= key
 * lower/upper point into `scratch` (>= 2 * KV_BOUND_BYTES bytes). *empty is set when
 * the range cannot contain any key.
 */
struct kv_bounds {
	const uint8_t *lower;
	size_t lower_len;
	const uint8_t *upper;
	size_t upper_len;
	int single;
	int empty;
};

int kv_bounds_make(const uint8_t *key, size_t klen, const uint8_t *end, size_t elen,
		   uint8_t *scratch, size_t scratch_len, struct kv_bounds *b) WUR;

/* Is stored key sk (with prefix) inside the user range [key, range_end) (etcd rules)? */
int kv_bounds_contains(const struct kv_bounds *b, const uint8_t *sk, size_t sklen);

#endif
