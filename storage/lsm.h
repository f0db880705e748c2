/*
 * lsm.h — the public API of our LSM tree: one ordered key-value store per directory.
 *
 * A table's state lives in one tree. Writes are atomic batches (put, delete, delete_range) that
 * carry an "applied index" (the Raft index of the last entry they apply); reads are point gets,
 * bounded forward/reverse iterators, prefix scans and counts, all at the latest state or at a
 * snapshot (a sequence number). Checkpoints hard-link the live files into another directory.
 *
 * Durability modes (lsm_options.durability):
 *   LSM_DURABILITY_APPLIED_INDEX — no WAL. The Raft log is the write-ahead log: a crash loses the
 *     memtable, and recovery reports the applied index of what survived. The surviving state is
 *     exactly the batches up to that index (a prefix of the applied batches, never a mix), so
 *     the caller replays its log from index+1.
 *   LSM_DURABILITY_WAL — standalone use: every batch is appended to a write-ahead log before it
 *     is applied; with lsm_write_options.sync it is fdatasync'ed before lsm_tree_write returns.
 *
 * Threads. A tree belongs to one thread (the owning core's reactor): every lsm_tree_* /
 * lsm_iter_* / lsm_snapshot_* call on a tree must come from that thread. Disk reads are
 * synchronous through struct io_fs (page cache hits in the common case). Flushes and
 * compactions run on a background thread (struct lsm_bg): one per core shared by the trees of
 * that core, or one private thread per tree when none is given. The block cache (struct
 * lsm_cache) is shared by the trees of a core and by their background thread (it locks inside).
 *
 * Write stalls. When the memtables or level 0 are full, a write waits for the background thread
 * (or, with lsm_options.stall_nonblocking, returns ERR_AGAIN). Every stall is counted in
 * lsm_stats (stall_count, stall_ns); lsm_tree_write_would_stall() lets the caller apply
 * backpressure before it happens.
 *
 * Errors: 0 or a negative ERR_* (core/err.h). ERR_CORRUPT and ERR_IO also record the file and
 * byte offset in a per-thread struct lsm_error (lsm_error_last()). A failed background flush or
 * compaction puts the tree into a sticky error state: writes then return that error (reads go on).
 */
#ifndef STORAGE_LSM_H
#define STORAGE_LSM_H

#include "core/err.h"
#include "core/io_fs.h"

#include <stddef.h>
#include <stdint.h>

#define LSM_LEVELS 7 /* level 0 (overlapping flushed tables) .. level 6 */

struct lsm_tree;
struct lsm_cache;
struct lsm_bg;
struct lsm_snapshot;
struct lsm_iter;

/* ---- errors ---------------------------------------------------------------------------------- */

struct lsm_error {
	int code;              /* ERR_CORRUPT, ERR_IO, ... or 0 when none recorded */
	char file[256];        /* file name inside the tree directory (or full path), "" if n/a */
	uint64_t offset;       /* byte offset in that file where the bad data starts */
	char msg[160];         /* what was wrong ("block checksum mismatch", "bad footer magic") */
};

/* The last error recorded on the calling thread by any lsm_* call (code 0 if none). */
const struct lsm_error *lsm_error_last(void);
void lsm_error_clear(void);

/* ---- shared resources (one per core) --------------------------------------------------------- */

/* A block cache with a byte limit, shared by all trees of a core. Thread-safe. */
int lsm_cache_new(uint64_t capacity_bytes, struct lsm_cache **out) WUR;
/* Free after every tree that uses it was closed. */
void lsm_cache_free(struct lsm_cache *c);
uint64_t lsm_cache_used_bytes(struct lsm_cache *c);

/* A background thread that runs flushes and compactions for the trees of one core. */
int lsm_bg_new(struct lsm_bg **out) WUR;
/* Free after every tree that uses it was closed (stops and joins the thread). */
void lsm_bg_free(struct lsm_bg *bg);

/* A background "thread" without a thread: flush and compaction steps run only when the owner
 * calls lsm_bg_run() (e.g. one step per reactor turn — bounded work per turn), or inline when a
 * tree has to wait for them (a stall, lsm_tree_flush with wait, close). Deterministic: tests use
 * it to replay a seed exactly. Free with lsm_bg_free. */
int lsm_bg_new_inline(struct lsm_bg **out) WUR;
/* Run up to max_steps queued steps (each a flush or one compaction) on the calling thread;
 * returns how many ran (0: nothing to do). Inline backgrounds only. */
int lsm_bg_run(struct lsm_bg *bg, int max_steps);

/* ---- options --------------------------------------------------------------------------------- */

enum lsm_durability {
	LSM_DURABILITY_APPLIED_INDEX = 1, /* table trees: no WAL, applied index persisted with data */
	LSM_DURABILITY_WAL = 2,           /* standalone: own write-ahead log */
};

struct lsm_options {
	struct io_fs *fs;               /* required: every byte goes through it */
	struct lsm_cache *cache;        /* shared block cache; NULL: a private one of cache_bytes */
	struct lsm_bg *bg;              /* shared background thread; NULL: a private thread */
	enum lsm_durability durability; /* default LSM_DURABILITY_APPLIED_INDEX */
	int create_if_missing;          /* default 1 */
	int error_if_exists;            /* default 0 */
	uint64_t memtable_bytes;        /* one memtable's size before it is flushed; default 64 MiB */
	uint32_t memtables_max;         /* active + immutable memtables before writes stall; default 3 */
	uint64_t cache_bytes;           /* private cache size when cache == NULL; default 8 MiB */
	uint32_t block_bytes;           /* data block target size; default 4 KiB */
	uint32_t bloom_bits_per_key;    /* 0 disables the filter; default 10 */
	uint64_t target_file_bytes;     /* compaction output file size; default 64 MiB */
	uint64_t level1_bytes;          /* level 1 target size; default 256 MiB; x10 per level */
	uint32_t l0_compaction_trigger; /* level 0 files that start a compaction; default 4 */
	uint32_t l0_stop_trigger;       /* level 0 files at which writes stall; default 20 */
	uint32_t max_open_tables;       /* table readers kept open (index+filter in memory); 1000 */
	int stall_nonblocking;          /* 1: a write that would stall returns ERR_AGAIN instead */
	int paranoid_checks;            /* 1: verify every block checksum on every read (default 1) */
};

/* Fill with the defaults above (fs stays NULL: set it). */
void lsm_options_default(struct lsm_options *o);

/* ---- open / close ---------------------------------------------------------------------------- */

/* Open (or create) the tree stored in `dir`. Recovery reads the manifest (O(number of files)),
 * replays WAL files in WAL mode, deletes files no version refers to, and never reads table data.
 * ERR_CORRUPT (with lsm_error_last() naming file and offset) if stored metadata is damaged. */
int lsm_tree_open(const char *dir, const struct lsm_options *o, struct lsm_tree **out) WUR;

/* Close: wait for running background work, free everything. In APPLIED_INDEX mode the memtable
 * is flushed first (so a clean shutdown needs no log replay); in WAL mode the WAL is synced.
 * All iterators and snapshots must have been released. Returns the first error met. */
int lsm_tree_close(struct lsm_tree *t) WUR;

/* Close without flushing (as after a crash: APPLIED_INDEX mode loses the memtable). */
void lsm_tree_close_noflush(struct lsm_tree *t);

/* ---- write batches --------------------------------------------------------------------------- */

/* An atomic group of updates, encoded as it is logged. Owned and reused by the caller. */
struct lsm_batch {
	unsigned char *buf;      /* encoded records (see storage/FORMAT.md, "batch") */
	size_t len, cap;
	uint32_t count;          /* records */
	uint64_t applied_index;  /* persisted atomically with the batch's data; 0 = unchanged */
};

void lsm_batch_init(struct lsm_batch *b);
void lsm_batch_deinit(struct lsm_batch *b);
void lsm_batch_clear(struct lsm_batch *b); /* keeps the buffer */
/* Limits: key 1..LIMIT_KEY_BYTES, value 0..LIMIT_VALUE_BYTES, batch LIMIT_LSM_BATCH_BYTES;
 * ERR_TOOBIG / ERR_INVAL otherwise (the batch is unchanged on error). */
int lsm_batch_put(struct lsm_batch *b, const void *key, size_t klen, const void *val, size_t vlen) WUR;
int lsm_batch_delete(struct lsm_batch *b, const void *key, size_t klen) WUR;
/* Delete every key in [start, end) — O(1) in the write path (a range tombstone). An empty or
 * inverted range is accepted and deletes nothing. */
int lsm_batch_delete_range(struct lsm_batch *b, const void *start, size_t slen, const void *end,
			   size_t elen) WUR;
/* The applied index this batch brings the tree to (must not go backwards; 0 = keep). */
void lsm_batch_set_applied_index(struct lsm_batch *b, uint64_t index);

struct lsm_write_options {
	int sync; /* WAL mode: fdatasync the WAL before returning. Ignored without a WAL. */
};

/* Apply a batch atomically: all of it is visible (and after a crash, recovered) or none.
 * ERR_AGAIN only with stall_nonblocking; ERR_INVAL if applied_index goes backwards; the tree's
 * sticky background error if it has one. An empty batch only moves the applied index. */
int lsm_tree_write(struct lsm_tree *t, const struct lsm_batch *b, const struct lsm_write_options *wo) WUR;

/* 1 if a write now would stall (memtables full or level 0 at l0_stop_trigger). */
int lsm_tree_write_would_stall(struct lsm_tree *t);

/* The applied index of the last written batch (in memory), and of the durable state: what a
 * crash now would recover to. After open both are the recovered index. */
uint64_t lsm_tree_applied_index(struct lsm_tree *t);
uint64_t lsm_tree_durable_applied_index(struct lsm_tree *t);

/* ---- reads ----------------------------------------------------------------------------------- */

/* A growable output buffer for values; reuse it across calls (no allocation in steady state). */
struct lsm_buf {
	unsigned char *data;
	size_t len, cap;
};
void lsm_buf_init(struct lsm_buf *b);
void lsm_buf_deinit(struct lsm_buf *b);

struct lsm_read_options {
	const struct lsm_snapshot *snap; /* NULL: latest */
	int no_fill_cache;                /* 1: blocks read are not inserted in the cache (scans) */
};

/* Point lookup: 0 and the value in *val, ERR_NOTFOUND, or an error (ERR_CORRUPT...).
 * Key limits as for batches (ERR_INVAL for an empty key, ERR_TOOBIG past LIMIT_KEY_BYTES). */
int lsm_tree_get(struct lsm_tree *t, const struct lsm_read_options *ro, const void *key, size_t klen,
		 struct lsm_buf *val) WUR;

/* Number of live keys in [lower, upper) (NULL/0-length bounds are open). Iterates the range. */
int lsm_tree_count(struct lsm_tree *t, const struct lsm_read_options *ro, const void *lower,
		   size_t lower_len, const void *upper, size_t upper_len, uint64_t *out) WUR;

/* ---- snapshots ------------------------------------------------------------------------------- */

/* A point-in-time view: reads at it see exactly the batches written before it was taken.
 * Snapshots keep old versions alive through compaction; release them. */
int lsm_tree_snapshot(struct lsm_tree *t, struct lsm_snapshot **out) WUR;
void lsm_tree_snapshot_release(struct lsm_tree *t, struct lsm_snapshot *s);
uint64_t lsm_snapshot_seq(const struct lsm_snapshot *s);
uint64_t lsm_snapshot_applied_index(const struct lsm_snapshot *s);

/* ---- iterators ------------------------------------------------------------------------------- */

struct lsm_iter_options {
	const struct lsm_snapshot *snap; /* NULL: an implicit snapshot taken at lsm_iter_new; else it
					  * must stay alive (unreleased) as long as the iterator */
	const void *lower;               /* inclusive lower bound, NULL = none */
	size_t lower_len;
	const void *upper;               /* exclusive upper bound, NULL = none */
	size_t upper_len;
	const void *prefix;              /* only keys starting with prefix (narrows the bounds) */
	size_t prefix_len;
	int no_fill_cache;
};

/* An iterator sees a stable view (its snapshot) while writes go on. Free it before closing the
 * tree. It starts unpositioned: call a seek first. */
int lsm_iter_new(struct lsm_tree *t, const struct lsm_iter_options *o, struct lsm_iter **out) WUR;
void lsm_iter_free(struct lsm_iter *it);
void lsm_iter_seek_first(struct lsm_iter *it);
void lsm_iter_seek_last(struct lsm_iter *it);
void lsm_iter_seek(struct lsm_iter *it, const void *key, size_t klen);          /* first >= key */
void lsm_iter_seek_for_prev(struct lsm_iter *it, const void *key, size_t klen); /* last <= key */
void lsm_iter_next(struct lsm_iter *it);
void lsm_iter_prev(struct lsm_iter *it);
int lsm_iter_valid(const struct lsm_iter *it);
/* Valid until the iterator moves. */
const void *lsm_iter_key(const struct lsm_iter *it, size_t *len);
const void *lsm_iter_value(const struct lsm_iter *it, size_t *len);
/* 0, or the error that stopped the iteration (then lsm_iter_valid() is 0). */
int lsm_iter_status(const struct lsm_iter *it);

/* ---- maintenance ----------------------------------------------------------------------------- */

/* Flush the active memtable to a table; with wait, return after it (and every earlier one) is
 * durable, so lsm_tree_durable_applied_index() == lsm_tree_applied_index(). */
int lsm_tree_flush(struct lsm_tree *t, int wait) WUR;

/* Compact every level over [lower, upper) down to the last level (NULL bounds = all). Waits. */
int lsm_tree_compact_range(struct lsm_tree *t, const void *lower, size_t lower_len, const void *upper,
			   size_t upper_len) WUR;

/* Wait until no flush or compaction is queued or running for this tree. */
int lsm_tree_wait_idle(struct lsm_tree *t) WUR;

/* Write a consistent copy of the tree into `dir` (created; must not exist): flushes, then
 * hard-links every live table and writes a manifest there. The copy opens as a tree on its own;
 * *applied_index (may be NULL) is the index it contains. Used for Raft snapshots and backups. */
int lsm_tree_checkpoint(struct lsm_tree *t, const char *dir, uint64_t *applied_index) WUR;

struct lsm_stats {
	uint64_t last_seq;                  /* sequence number of the last write */
	uint64_t applied_index;             /* in memory */
	uint64_t durable_applied_index;     /* what a crash would recover to */
	uint64_t memtable_bytes;            /* active memtable */
	uint32_t immutable_memtables;       /* waiting for flush */
	uint32_t level_files[LSM_LEVELS];
	uint64_t level_bytes[LSM_LEVELS];
	uint64_t table_bytes;               /* all live tables */
	uint64_t live_snapshots;
	uint64_t user_bytes_written;        /* keys+values given to lsm_tree_write */
	uint64_t wal_bytes_written;
	uint64_t flush_bytes_written;
	uint64_t compaction_bytes_written;
	uint64_t compaction_bytes_read;
	uint64_t flushes, compactions;
	uint64_t stall_count;               /* writes that had to wait (or got ERR_AGAIN) */
	uint64_t stall_ns;                  /* total time writes waited */
	uint64_t stall_memtable_count;      /* ... because all memtables were full */
	uint64_t stall_l0_count;            /* ... because level 0 reached l0_stop_trigger */
	uint64_t cache_hits, cache_misses;  /* this tree's block lookups */
	uint64_t cache_used_bytes;          /* the (possibly shared) cache */
	int bg_error;                       /* sticky background error, 0 if none */
};

void lsm_tree_stats(struct lsm_tree *t, struct lsm_stats *out);

/* The sticky background error and where it happened (0 if none). */
int lsm_tree_bg_error(struct lsm_tree *t, struct lsm_error *out);

#endif
