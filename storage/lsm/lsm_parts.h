/*
 * lsm_parts.h — the LSM's building blocks and how they fit: internal iterators, range-tombstone
 * fragments, memtables, blocks, bloom filters, tables (SSTables) and the merging iterator.
 *
 * Every source of entries (memtable, data block, table, level, merge of those) is an internal
 * iterator over internal keys (lsm_int.h) with the same vtable; the user-facing iterator
 * (dbiter.c) sits on a merge of them and applies the snapshot, deletions and range tombstones.
 */
#ifndef STORAGE_LSM_PARTS_H
#define STORAGE_LSM_PARTS_H

#include "storage/lsm/lsm_int.h"

/* ---- internal iterators -------------------------------------------------------------------------- */

struct lsm_iiter;
struct lsm_iiter_ops {
	int (*valid)(struct lsm_iiter *it);
	void (*seek_first)(struct lsm_iiter *it);
	void (*seek_last)(struct lsm_iiter *it);
	void (*seek)(struct lsm_iiter *it, const unsigned char *ikey, size_t n); /* first >= ikey */
	void (*next)(struct lsm_iiter *it);
	void (*prev)(struct lsm_iiter *it);
	struct lsm_slice (*key)(struct lsm_iiter *it);   /* internal key, valid until it moves */
	struct lsm_slice (*value)(struct lsm_iiter *it);
	int (*status)(struct lsm_iiter *it);
	void (*free)(struct lsm_iiter *it);
};
struct lsm_iiter {
	const struct lsm_iiter_ops *ops;
};

#define II_VALID(it) ((it)->ops->valid(it))
#define II_KEY(it) ((it)->ops->key(it))
#define II_VALUE(it) ((it)->ops->value(it))

/* ---- range-tombstone fragments (rangedel.c) ------------------------------------------------------- */

struct lsm_tomb {
	struct lsm_slice start, end; /* [start, end) */
	uint64_t seq;
};

struct lsm_frag {
	struct lsm_slice start, end; /* non-overlapping, sorted */
	const uint64_t *seqs;        /* descending */
	size_t nseq;
};

/* An immutable, refcounted set of non-overlapping fragments; owns its bytes. */
struct lsm_frags {
	int refs; /* atomic */
	size_t n;
	struct lsm_frag *v;
	unsigned char *bytes;
	uint64_t *seqs;
	size_t ntombs; /* total (fragment, seq) pairs */
};

/* Build from tombstones in any order (copied). n == 0 gives an empty set. */
int lsm_frags_build(const struct lsm_tomb *t, size_t n, struct lsm_frags **out) WUR;
void lsm_frags_ref(struct lsm_frags *f);
void lsm_frags_unref(struct lsm_frags *f);
/* The largest seq <= snap of a tombstone covering ukey, 0 if none. */
uint64_t lsm_frags_max_seq(const struct lsm_frags *f, const void *ukey, size_t n, uint64_t snap);
/* Index of the first fragment whose end > ukey (n if none). */
size_t lsm_frags_find(const struct lsm_frags *f, const void *ukey, size_t n);
/* Append every (fragment, seq) of f as a tombstone into *arr (grown with realloc). */
int lsm_frags_collect(const struct lsm_frags *f, struct lsm_tomb **arr, size_t *n, size_t *cap) WUR;
/* Encode as a rangedel block body (FORMAT.md) / decode one (bytes are copied). */
int lsm_frags_encode(const struct lsm_frags *f, struct lsm_bytes *out) WUR;
int lsm_frags_decode(const unsigned char *p, size_t n, struct lsm_frags **out) WUR;

/* ---- memtable (memtable.c) ---------------------------------------------------------------------- */

struct lsm_mem {
	int refs;                /* atomic */
	uint64_t applied_index;  /* of the last batch written into it */
	uint64_t first_seq, last_seq;
	uint64_t log_number;     /* WAL file holding its batches (WAL mode) */
	uint64_t entries;
	struct lsm_mem_impl *impl;
};

int lsm_mem_new(struct lsm_mem **out) WUR;
void lsm_mem_ref(struct lsm_mem *m);
void lsm_mem_unref(struct lsm_mem *m);
/* Single writer. For LSM_TYPE_RANGEDEL, val is the end key. */
int lsm_mem_add(struct lsm_mem *m, uint64_t seq, unsigned type, const void *key, size_t kn,
		const void *val, size_t vn) WUR;
/* Newest version of ukey with seq <= snap: returns 1 and fills type/seq/val, or 0. */
int lsm_mem_get(struct lsm_mem *m, const void *ukey, size_t kn, uint64_t snap, unsigned *type,
		uint64_t *seq, struct lsm_slice *val);
/* Largest seq <= snap of a range tombstone in m covering ukey (0 if none; UINT64_MAX when memory
 * ran out). Owner thread only (may build the cached fragment set). */
uint64_t lsm_mem_tomb_max_seq(struct lsm_mem *m, const void *ukey, size_t kn, uint64_t snap);
size_t lsm_mem_bytes(const struct lsm_mem *m);
size_t lsm_mem_tomb_count(const struct lsm_mem *m);
/* The memtable's range tombstones as fragments (ref'd; unref when done). */
int lsm_mem_frags(struct lsm_mem *m, struct lsm_frags **out) WUR;
int lsm_mem_iter(struct lsm_mem *m, struct lsm_iiter **out) WUR; /* holds a ref on m */
/* The memtable takes no more writes: build its cached state now, on the owner thread. */
int lsm_mem_freeze(struct lsm_mem *m) WUR;

/* ---- blocks (block.c) ------------------------------------------------------------------------- */

#define LSM_BLOCK_TRAILER 9 /* u8 compression type + u64 xxh3 */

struct lsm_block_builder {
	struct lsm_bytes buf;
	struct lsm_bytes last_key;
	uint32_t *restarts;
	size_t nrestarts, caprestarts;
	uint32_t interval, counter;
	size_t entries;
};

void lsm_block_builder_init(struct lsm_block_builder *b, uint32_t restart_interval);
void lsm_block_builder_deinit(struct lsm_block_builder *b);
void lsm_block_builder_reset(struct lsm_block_builder *b);
int lsm_block_builder_add(struct lsm_block_builder *b, const void *k, size_t kn, const void *v, size_t vn) WUR;
size_t lsm_block_builder_size(const struct lsm_block_builder *b); /* bytes if finished now */
/* Finish: appends restarts, trailer type and checksum; returns the whole stored block. */
int lsm_block_builder_finish(struct lsm_block_builder *b, struct lsm_slice *out) WUR;

/* Check the trailer of a stored block (len includes the trailer); 0 or ERR_CORRUPT. */
int lsm_block_check(const unsigned char *p, size_t len);
/* Validate the restart array of a block body (without trailer). */
int lsm_block_body_check(const unsigned char *p, size_t len);

/* An iterator over a block body (without trailer), which must stay alive (pinned by the caller
 * through `pin` released on free: a cache handle or malloc'd memory, see block.c). */
struct lsm_block_iter;
struct lsm_cache_handle;
int lsm_block_iter_new(const unsigned char *body, size_t len, struct lsm_cache *cache,
		       struct lsm_cache_handle *pin, void *owned, struct lsm_iiter **out) WUR;
/* Reuse a block iterator (and its key buffer) for another block: releases the old block's pin
 * first. ERR_CORRUPT (nothing pinned then; the caller still owns pin/owned) on a bad shape. */
int lsm_block_iter_reset(struct lsm_iiter *it, const unsigned char *body, size_t len, struct lsm_cache *cache,
			 struct lsm_cache_handle *pin, void *owned) WUR;
/* Drop the block a block iterator pins, keeping the iterator for reuse. */
void lsm_block_iter_release(struct lsm_iiter *it);
/* Find the first entry >= k in a block body: 1 (key in *key, value in *val, pointing into body),
 * 0 if none, ERR_CORRUPT. *key is a reusable buffer. */
int lsm_block_seek_once(const unsigned char *body, size_t len, const unsigned char *k, size_t kn,
			struct lsm_bytes *key, struct lsm_slice *val);
/* Decode an index entry value: varint offset, varint size. */
int lsm_handle_decode(struct lsm_slice v, uint64_t *off, uint64_t *size) WUR;

/* ---- bloom filter (bloom.c) ----------------------------------------------------------------------- */

/* Build a filter over the given key hashes (xxh3 of user keys) into out (appends). */
int lsm_bloom_build(const uint64_t *hashes, size_t n, uint32_t bits_per_key, struct lsm_bytes *out) WUR;
/* 1 if the key may be present, 0 if surely absent. An empty or malformed filter says 1. */
int lsm_bloom_may_contain(const unsigned char *f, size_t n, uint64_t hash);

/* ---- tables (sst_write.c, sst_read.c) -------------------------------------------------------------- */

#define LSM_SST_MAGIC UINT64_C(0x52454741544c534d) /* "REGATLSM" read as little-endian bytes */
#define LSM_SST_VERSION 1
#define LSM_FOOTER_BYTES 96

struct lsm_sst_props {
	uint64_t entries, deletions, range_dels;
	uint64_t smallest_seq, largest_seq;
	uint64_t raw_key_bytes, raw_value_bytes;
	uint64_t data_blocks;
};

struct lsm_sst_builder;
struct lsm_sst_builder_opts {
	uint32_t block_bytes;
	uint32_t bloom_bits_per_key;
};
int lsm_sst_builder_new(struct io_file *f, const char *name, const struct lsm_sst_builder_opts *o,
			struct lsm_sst_builder **out) WUR;
/* Entries in strictly increasing internal-key order. */
int lsm_sst_builder_add(struct lsm_sst_builder *b, const unsigned char *ikey, size_t kn, const void *v, size_t vn) WUR;
/* Range tombstones for this table (must be set before finish; copied). */
int lsm_sst_builder_set_frags(struct lsm_sst_builder *b, struct lsm_frags *f) WUR;
uint64_t lsm_sst_builder_size(const struct lsm_sst_builder *b);
uint64_t lsm_sst_builder_entries(const struct lsm_sst_builder *b);
/* Write filter, rangedel, props, index and footer; fdatasync. *size = file size. */
int lsm_sst_builder_finish(struct lsm_sst_builder *b, uint64_t *size) WUR;
/* Smallest and largest point internal keys added (n == 0 if none). */
void lsm_sst_builder_bounds(const struct lsm_sst_builder *b, struct lsm_slice *smallest, struct lsm_slice *largest);
/* Smallest and largest seq of everything added, tombstones included (0, 0 if empty). */
void lsm_sst_builder_seqs(const struct lsm_sst_builder *b, uint64_t *lo, uint64_t *hi);
void lsm_sst_builder_free(struct lsm_sst_builder *b);

/* An open table: footer, index, filter, props and range tombstones in memory; data blocks
 * through the block cache. Refcounted; shared by threads (immutable after open). */
struct lsm_sst {
	int refs; /* atomic */
	struct io_file *f;
	char name[64];
	uint64_t size;
	uint64_t cache_id;
	struct lsm_cache *cache;
	unsigned char *index; /* index block body */
	size_t index_len;
	unsigned char *filter;
	size_t filter_len;
	struct lsm_frags *frags; /* never NULL (maybe empty) */
	struct lsm_sst_props props;
	int paranoid;
};

/* Open and validate the footer and metadata blocks. `name` is used in error reports. */
int lsm_sst_open(struct io_file *f, const char *name, uint64_t size, struct lsm_cache *cache,
		 int paranoid, struct lsm_sst **out) WUR;
void lsm_sst_ref(struct lsm_sst *s);
void lsm_sst_unref(struct lsm_sst *s);
/* Newest entry for ukey with seq <= snap: 1 found (type, seq, value copied into val unless
 * type is a deletion), 0 absent, or a negative error. Checks the bloom filter first. */
int lsm_sst_get(struct lsm_sst *s, const void *ukey, size_t kn, uint64_t snap, int fill_cache,
		unsigned *type, uint64_t *seq, struct lsm_buf *val, uint64_t *hits, uint64_t *misses);
int lsm_sst_iter(struct lsm_sst *s, int fill_cache, struct lsm_iiter **out) WUR; /* refs s */
/* Read and verify one whole data block (for fuzzing and checks). */
int lsm_sst_verify(struct lsm_sst *s) WUR;

/* ---- merging iterator (merge.c) ------------------------------------------------------------------- */

/* Takes ownership of the children (freed with it). */
int lsm_merge_iter_new(struct lsm_iiter **children, size_t n, struct lsm_iiter **out) WUR;

#endif
