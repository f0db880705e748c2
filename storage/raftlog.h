/*
 * raftlog.h — the Raft log of one core: segment files shared by every Raft group on that core.
 *
 * One struct raftlog per core (its own directory). All groups pinned to the core append to the
 * same sequence of segment files; each record carries its group id, term, index, kind, payload
 * length and an xxh3 checksum (byte format: storage/FORMAT.md, "Raft log"; design:
 * docs/raftlog.md). An in-memory index (group -> index -> segment/offset, plus term runs) is
 * rebuilt at open by scanning the segments; payloads of recent write batches stay in memory,
 * older entries are read back from the segment files.
 *
 * Group commit. Mutations (append, truncate, compact, reset, hard state, drop) only serialize
 * records into the current write batch; nothing is durable until the batch is written and
 * fdatasync'ed. With a reactor attached (raftlog_attach), a turn-end hook writes the whole
 * batch of that turn — every group on the core — with ONE linked write+fdatasync; without one,
 * raftlog_flush() does the same synchronously through io_fs (tests, simulator, tools). At most
 * one write+fdatasync is in flight per log; batches gathered meanwhile go out together next.
 * When a batch is durable, on_durable runs once per group that had mutations in it: everything
 * submitted for that group before the batch was started — entries, truncations, compactions,
 * hard state — is durable; it reports the group's durable index (its last index when the batch
 * started, lowered by any truncation submitted since) and its durable record count (seq).
 *
 * Durable index. For a group, durable_index d means: every entry of the current in-memory log
 * with index <= d is on disk. Truncating below d lowers d at once; a reset to base b lowers it
 * below b until the reset record is durable ("the base is durable" is d >= base_index).
 *
 * Errors. An fsync or write failure is fatal: it is logged once, reported through on_fatal, and
 * every later mutating call returns the same error (raftlog_error()). It is never retried as if
 * fine (a failed fsync may have dropped dirty pages). Recovery (raftlog_open) truncates a torn
 * tail — an incomplete or checksum-failing last write batch — and refuses corruption anywhere
 * before it with ERR_CORRUPT, logging the file and offset (also in raftlog_open_error()), and
 * makes everything it keeps durable before returning.
 *
 * Retention. Each group has a floor set by the caller (min of the Raft snapshot index, the LSM's
 * applied-and-flushed index and follower clusters' needs). A segment file is deleted only when
 * every group with records in it is past its floor; groups losing entries that way get a
 * compaction record first, so recovery sees the same first index.
 *
 * Threading: a raftlog belongs to one core; every call must come from that core's thread.
 * Memory: raftlog copies entry payloads during append; data pointers handed to callbacks are
 * valid only during the callback.
 */
#ifndef STORAGE_RAFTLOG_H
#define STORAGE_RAFTLOG_H

#include "core/err.h"
#include "core/io_fs.h"

#include <stddef.h>
#include <stdint.h>

struct raftlog;
struct reactor;

/* One log entry. For append: the caller's data (copied). For reads: valid during the callback.
 * Same fields, order and types as struct raft_entry (raft/raft.h). */
struct raftlog_entry {
	uint64_t term;
	uint64_t index;
	uint8_t type; /* the Raft layer's entry type (normal, config change, ...); opaque here */
	uint32_t len; /* payload bytes, <= LIMIT_RAFTLOG_ENTRY_BYTES */
	const uint8_t *data;
};

/* Raft's persistent state besides the log (Figure 2: currentTerm, votedFor; plus commit).
 * Same fields as struct raft_hard_state (raft/raft.h). */
struct raftlog_hard_state {
	uint64_t term;
	uint64_t vote;   /* node id voted for in term, 0 = none */
	uint64_t commit;
};

struct raftlog_group_info {
	uint64_t base_index;    /* entries <= base_index were compacted (or reset away) */
	uint64_t base_term;     /* term of the entry at base_index (0 if unknown / none) */
	uint64_t first_index;   /* base_index + 1: lowest readable index */
	uint64_t last_index;    /* == base_index when the log is empty */
	uint64_t last_term;     /* term at last_index (base_term when empty) */
	uint64_t durable_index; /* see "Durable index" above */
	uint64_t floor;         /* retention floor set by the caller (0 = keep everything) */
	int has_hard_state;
	struct raftlog_hard_state hard_state; /* latest submitted (durable once reported) */
	uint64_t submitted_seq; /* records written for this group since open (see below) */
	uint64_t durable_seq;   /* the first durable_seq of them are durable */
};

/* A group commit's report for one group: everything submitted for it before the batch started
 * is durable. seq counts the records written for the group since open (every mutating call that
 * changes something writes at least one): the first `seq` of them are durable. The Raft glue maps it to
 * RAFT_EVENT_PERSISTED: after submitting an update's state, note (submitted_seq, persist_seq);
 * when a report's seq reaches it, that update is durable. */
struct raftlog_durable {
	uint64_t group;
	uint64_t index; /* durable_index after this batch */
	uint64_t seq;   /* durable_seq after this batch */
};

/* Runs once per group per durable batch (see "Group commit"). May call back into raftlog. */
typedef void (*raftlog_durable_fn)(void *ctx, const struct raftlog_durable *d);
/* Runs once when the log fails for good (an fsync/write error); `what` names file and op. */
typedef void (*raftlog_fatal_fn)(void *ctx, int err, const char *what);

struct raftlog_config {
	struct io_fs *fs;          /* io_fs_posix() or a simulated disk */
	const char *dir;           /* this core's log directory; created if missing */
	int core_id;               /* written into segment headers, for operators */
	uint64_t segment_bytes;    /* roll size; 0 = LIMIT_RAFTLOG_SEGMENT_BYTES */
	int no_preallocate;        /* 1: do not fallocate new segments (real disks only) */
	raftlog_durable_fn on_durable;
	raftlog_fatal_fn on_fatal; /* optional */
	void *ctx;                 /* passed to both callbacks */
};

/* Open (or create) the log in cfg->dir and recover it: scan every segment, rebuild the index,
 * truncate a torn tail (made durable before returning), and refuse corruption before the tail
 * with ERR_CORRUPT. All recovered entries are durable (durable_index = last_index).
 * Returns 0, ERR_CORRUPT, ERR_IO, ERR_NOMEM, ERR_INVAL (bad config). */
int raftlog_open(const struct raftlog_config *cfg, struct raftlog **out) WUR;
/* Human-readable reason of the last failed raftlog_open on this thread (file and offset for
 * corruption), or "" if none. */
const char *raftlog_open_error(void);
/* Close files and free memory. Submitted but not yet durable mutations are dropped (as in a
 * crash); call raftlog_flush() first for a clean shutdown. Detaches from the reactor; must not
 * be called while a write is in flight (raftlog_busy()). */
void raftlog_close(struct raftlog *log);

/* ---- mutations (buffered into the current batch; durable after the next group commit) ---- */

/* Indices and terms are at most 2^62 (ERR_RANGE above): no arithmetic on them can overflow. */

/* Append n >= 1 entries with consecutive indices to a group (created on first use). The first
 * index may be anywhere in [first_index, last_index + 1]: existing entries from it on are
 * replaced (a follower's conflicting suffix). Terms must not decrease along the log.
 * Returns ERR_RANGE (index outside that window), ERR_INVAL (bad batch), ERR_TOOBIG (an entry
 * over LIMIT_RAFTLOG_ENTRY_BYTES or the call over LIMIT_RAFTLOG_BATCH_BYTES), ERR_AGAIN (the
 * current batch is full: retry after the next durable callback), ERR_NOMEM (too many groups),
 * or the sticky fatal error. All-or-nothing. */
int raftlog_append(struct raftlog *log, uint64_t group, const struct raftlog_entry *v, size_t n) WUR;

/* Drop the group's entries with index >= index (index in [first_index, last_index + 1]). */
int raftlog_truncate(struct raftlog *log, uint64_t group, uint64_t index) WUR;

/* Compaction: entries <= index are dropped from the log; term is the term at index (must match
 * the entry if it is present). index past last_index empties the log with base (index, term).
 * index <= base_index is a no-op. */
int raftlog_compact(struct raftlog *log, uint64_t group, uint64_t index, uint64_t term) WUR;

/* Snapshot install: drop every entry; the log restarts after (index, term). index >= 1. */
int raftlog_reset(struct raftlog *log, uint64_t group, uint64_t index, uint64_t term) WUR;

/* Store the group's hard state (a no-op if unchanged). term must not decrease. */
int raftlog_set_hard_state(struct raftlog *log, uint64_t group,
			   const struct raftlog_hard_state *hs) WUR;

/* Forget a group entirely (its table was deleted). Its records stop pinning segments. */
int raftlog_drop_group(struct raftlog *log, uint64_t group) WUR;

/* Retention floor: the caller no longer needs entries <= index (memory only; not persisted,
 * set it again after a restart). Segments are freed at a later group commit. */
int raftlog_set_floor(struct raftlog *log, uint64_t group, uint64_t index) WUR;

/* ---- reads (see everything submitted, durable or not) ---- */

int raftlog_group_info(const struct raftlog *log, uint64_t group, struct raftlog_group_info *out) WUR;
/* Term of the entry at index; index == base_index gives base_term. ERR_RANGE outside
 * [base_index, last_index], ERR_NOTFOUND for an unknown group. */
int raftlog_term(const struct raftlog *log, uint64_t group, uint64_t index, uint64_t *term) WUR;
/* The group's mutation counter (raftlog_group_info().submitted_seq), 0 for an unknown group:
 * cheap, for the Raft glue after each update. */
uint64_t raftlog_group_seq(const struct raftlog *log, uint64_t group);

/* Read entries [lo, hi) of a group in order, calling fn for each until max_bytes of payload
 * were delivered (at least one entry is always delivered) or fn returns non-zero (stops, and
 * that value is returned if negative). Recent entries come from memory, older ones from the
 * segment files (checksum verified: ERR_CORRUPT names the file and offset in the log).
 * Returns the number of entries delivered, ERR_RANGE if lo < first_index or hi > last+1,
 * ERR_NOTFOUND for an unknown group, ERR_IO/ERR_CORRUPT from the disk. */
typedef int (*raftlog_read_fn)(void *ctx, const struct raftlog_entry *e);
int raftlog_read(struct raftlog *log, uint64_t group, uint64_t lo, uint64_t hi, size_t max_bytes,
		 raftlog_read_fn fn, void *ctx) WUR;

/* Call fn for every group known to the log (after open: every recovered group). fn must not
 * add or drop groups. Non-zero from fn stops and is returned. */
typedef int (*raftlog_group_fn)(void *ctx, uint64_t group);
int raftlog_groups(const struct raftlog *log, raftlog_group_fn fn, void *ctx) WUR;

/* ---- group commit ---- */

/* Synchronous group commit through io_fs: write the pending batch, fdatasync, run on_durable,
 * free segments past every floor. Returns 0 or the fatal error. Not while attached. */
int raftlog_flush(struct raftlog *log) WUR;

/* Asynchronous group commit on a reactor (core/reactor.h): a turn-end hook issues one linked
 * write+fdatasync per turn for the whole batch; completions run on_durable on that reactor.
 * Needs a real file system (io_file_fd() >= 0). */
int raftlog_attach(struct raftlog *log, struct reactor *r) WUR;
void raftlog_detach(struct raftlog *log);

/* 0, or the sticky fatal error. */
int raftlog_error(const struct raftlog *log);
/* Non-zero while a write is in flight or mutations are waiting for a group commit. */
int raftlog_busy(const struct raftlog *log);

struct raftlog_stats {
	uint64_t syncs;            /* fdatasyncs issued for batches (one per group commit) */
	uint64_t batches;          /* write batches made durable */
	uint64_t entries_written;  /* entry records made durable */
	uint64_t bytes_written;    /* record bytes made durable */
	uint64_t segments;         /* live segment files */
	uint64_t segments_deleted; /* by retention since open */
	uint64_t disk_reads;       /* entry reads served from segment files (not memory) */
	uint64_t groups;
};
void raftlog_stats(const struct raftlog *log, struct raftlog_stats *out);

#endif
