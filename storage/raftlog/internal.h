/*
 * internal.h — the Raft log's private state, shared by its files:
 *   format.c   bytes on disk            group.c    per-group index, group map
 *   segment.c  segment files, reads     recover.c  open + recovery scan
 *   raftlog.c  mutations, group commit, retention, reads
 *   attach.c   the reactor path (linked write+fdatasync, turn-end hook)
 *
 * Invariants:
 *   - segs[] holds the live segments in seq order, seqs contiguous; the last is the active one
 *     (open for writing as `active`); only the active segment receives new records;
 *   - batches[cur] is the collecting batch; when bound it targets the active segment at
 *     offset active->end - len; at most one batch (batches[inflight]) is being written, and a
 *     batch is started only after the previous one is durable (so a later batch on disk proves
 *     every earlier one durable: recovery's torn-tail rule relies on it);
 *   - a group id is on the dirty list iff its group has dirty set (duplicates of dropped ids
 *     are skipped by lookups); likewise the cycle list and in_cycle;
 *   - after a fatal error (`failed`), nothing is written again.
 */
#ifndef STORAGE_RAFTLOG_INTERNAL_H
#define STORAGE_RAFTLOG_INTERNAL_H

#include "core/limits.h"
#include "core/reactor.h"
#include "storage/raftlog.h"
#include "storage/raftlog/format.h"
#include "storage/raftlog/group.h"

#include <stdint.h>

/* Per segment, which groups have records in it and their highest entry index there (0 if only
 * other records): retention asks whether every one of them is past its floor. */
struct rl_seg_group {
	uint64_t group;
	uint64_t max_index;
};

struct rl_seg {
	uint32_t seq;
	uint64_t end; /* end of the records (for the active segment: next append offset) */
	struct rl_seg_group *groups;
	uint32_t ngroups, cap;
};

struct rl_batch {
	unsigned char *data;
	size_t len, cap;
	uint32_t seq; /* segment and offset of data[0], valid when bound */
	uint32_t off;
	int bound;
	uint64_t gen;     /* when it became the collecting batch; the oldest is reused first */
	uint64_t entries; /* entry records in it */
};

struct rl_rfile {
	uint32_t seq;
	struct io_file *f; /* NULL if the slot is free */
	uint64_t used;     /* LRU clock */
};

struct raftlog {
	struct raftlog_config cfg;
	char dir[LIMIT_PATH_BYTES];
	struct io_fs *fs;
	uint64_t segment_bytes;

	struct rl_map groups;
	struct rl_seg **segs;
	size_t nsegs, segs_cap;
	struct io_file *active;  /* write handle of segs[nsegs - 1] */
	struct io_file *retired; /* previous active, while the batch in flight still targets it */
	struct io_file *spare;   /* next segment, made ahead while a batch was in flight, or NULL */
	uint32_t spare_seq;
	uint64_t written_end;    /* active segment bytes written by completed batches */

	struct rl_batch batches[LIMIT_RAFTLOG_CACHE_BATCHES];
	int cur;      /* collecting batch */
	int inflight; /* batch being written, or -1 */
	struct io_file *inflight_file;
	uint64_t batch_gen;

	uint64_t *dirty; /* group ids with records in the collecting batch */
	size_t ndirty, dirty_cap;
	uint64_t *cycle; /* group ids with records in the batch in flight */
	size_t ncycle, cycle_cap;
	uint64_t cycles_started;
	int in_callbacks;

	int failed; /* sticky fatal error, 0 if fine */

	int retention_dirty;   /* a floor moved, a group was dropped or a segment sealed */
	int delete_pending;    /* segments <= delete_upto go once cycle delete_after is durable */
	uint32_t delete_upto;
	uint64_t delete_after;
	uint64_t stamp;        /* scratch generation for retention's per-group dedup */

	struct rl_rfile rfiles[LIMIT_RAFTLOG_READ_FILES];
	uint64_t rfile_clock;
	unsigned char *win; /* read-ahead window over one segment */
	size_t win_cap, win_len;
	uint32_t win_seq;
	uint64_t win_off;
	int win_valid;

	struct reactor *reactor;
	void (*detach)(struct raftlog *log); /* set by attach.c: no link dependency otherwise */
	struct io_op op;
	uint64_t op_done;     /* rewrite after a short linked write: bytes written so far */
	unsigned op_attempts; /* rewrites of the batch in flight */
	unsigned op_steps;    /* short plain writes in this rewrite */

	struct raftlog_stats stats;
};

/* raftlog.c */
int rl_fatal(struct raftlog *log, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Start a group commit: moves the collecting batch in flight. Returns 1 with the batch and the
 * file to write it to, or 0 if there is nothing to write. */
int rl_cycle_begin(struct raftlog *log, struct rl_batch **b, struct io_file **f);
/* Finish it: rc is 0 when the write and the fdatasync both succeeded, else the error (fatal). */
void rl_cycle_end(struct raftlog *log, int rc);
/* Run retention if a floor moved (writes carry-forward records or deletes segments). */
void rl_retention_run(struct raftlog *log);
/* Apply one record to the in-memory state (recovery: lenient; see recover.c). */
int rl_apply_recovered(struct raftlog *log, const struct rl_rec *r, struct rl_loc loc) WUR;

/* segment.c */
int rl_seg_path(const struct raftlog *log, uint64_t seq, char *out, size_t cap) WUR;
struct rl_seg *rl_seg_get(const struct raftlog *log, uint32_t seq);
static inline struct rl_seg *rl_seg_active(const struct raftlog *log)
{
	return log->nsegs ? log->segs[log->nsegs - 1] : 0;
}
/* Append a new segment struct for seq (no file I/O). */
int rl_seg_push(struct raftlog *log, uint32_t seq, struct rl_seg **out) WUR;
/* Create segment file seq (header, preallocation, fdatasync, directory fsync) and make it the
 * active one. */
int rl_seg_create(struct raftlog *log, uint32_t seq) WUR;
/* Make the next segment file ahead of time (once the active one is 3/4 full), so the roll is
 * only a switch. Called while a batch is in flight: the fsyncs overlap it. A failure is logged
 * (a failed fsync is fatal) and retried by the roll itself. */
void rl_seg_prepare_spare(struct raftlog *log);
/* Note that group g has a record in segment s (entry index, or 0). */
int rl_seg_note(struct raftlog *log, struct rl_seg *s, struct rl_group *g, uint64_t entry_index) WUR;
/* Reserve room for one more summary slot in s (so rl_seg_note cannot fail afterwards). */
int rl_seg_reserve(struct rl_seg *s, uint32_t more) WUR;
/* Unlink segments up to seq (a prefix, never the active one), then fsync the directory. */
int rl_seg_delete_prefix(struct raftlog *log, uint32_t upto) WUR;
/* A handle to read segment seq (the active handle or a cached read-only one). */
int rl_seg_file(struct raftlog *log, uint32_t seq, struct io_file **out) WUR;
void rl_seg_close_all(struct raftlog *log);
/* Read and verify the record at loc (from memory if it is in a batch). */
int rl_read_record(struct raftlog *log, struct rl_loc loc, struct rl_rec *out) WUR;
/* posix_fallocate-like preallocation of [0, bytes) when the file has a real descriptor. */
int rl_preallocate(struct raftlog *log, struct io_file *f, uint64_t bytes) WUR;

/* recover.c */
int rl_recover(struct raftlog *log) WUR;
void rl_set_open_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
