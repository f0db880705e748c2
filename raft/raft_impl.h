/*
 * raft_impl.h — the layout of struct raft and the core's internal functions.
 *
 * Callers may embed a struct raft (include "raft/raft.h", which includes this) but must treat the
 * fields as private: only the raft/ sources touch them. Internal functions are prefixed raft__ (two
 * underscores) and declared here so the core can be split into files of one concept each:
 *   raft.c           init, step dispatch, terms and roles, elections, ticks, status
 *   raft_log.c       the in-memory log tail (ring), term lookups, slices, append/truncate,
 * compaction raft_leader.c    progress, replication with flow control, commit, heartbeats,
 * ReadIndex, leader transfer, membership changes, snapshot sending raft_follower.c  AppendEntries,
 * heartbeats and snapshot chunks on the receiving side raft_flush.c     building the update:
 * persist, send, apply, reads, held replies, soft state raft_conf.c      configurations:
 * encode/decode, single-server changes
 *
 * Log invariants (checked by raft__log_check):
 *   log_first <= cache_first <= last_index + 1;   stable <= last_index;
 *   every index in (stable, last_index] is in the cache (unstable entries are never evicted);
 *   handed <= last_index (entries handed out for persisting); applied <= commit <= last_index
 *   (except the apply_past_commit canary); snap.index < log_first or snap.index within the log.
 */
#ifndef RAFT_RAFT_IMPL_H
#define RAFT_RAFT_IMPL_H

#include "raft/raft.h"

enum raft_progress_state {
	RAFT_PR_PROBE = 1,     /* one MsgApp at a time until the follower's match is found */
	RAFT_PR_REPLICATE = 2, /* pipelined MsgApps within the inflight window */
	RAFT_PR_SNAPSHOT = 3,  /* sending snapshot chunks; appends paused */
};

struct raft_progress {
	uint64_t id;
	uint64_t match;
	uint64_t next;
	uint64_t commit_sent;  /* highest commit index sent in an MsgApp */
	uint64_t commit_known; /* follower's commit as reported by a heartbeat response */
	uint64_t read_acked;   /* highest read round the follower echoed in this term */
	uint8_t state;         /* enum raft_progress_state */
	uint8_t probe_sent;    /* PROBE: an MsgApp is outstanding; wait for a reply or heartbeat */
	uint8_t recent_active; /* heard from since the last check-quorum round */
	uint8_t need_append;   /* a heartbeat reply showed the follower behind */
	uint8_t vote;          /* election: 0 = no answer, 1 = granted, 2 = rejected */
	/* inflight window: last index of each MsgApp in flight (ring of cfg.inflight_max) */
	uint64_t *inflight;
	uint32_t inflight_start;
	uint32_t inflight_count;
	/* snapshot sending */
	uint64_t snap_index;
	uint64_t snap_sent;  /* bytes sent */
	uint64_t snap_acked; /* bytes the follower has durably staged */
	uint64_t snap_size;
	uint64_t snap_hb_acked; /* snap_acked at the previous heartbeat reply (stall detection) */
};

struct raft_cached {
	uint64_t term;
	uint8_t type;
	uint32_t len;
	uint8_t *data; /* from cfg.mem, len bytes (NULL if len == 0) */
};

struct raft_persist_rec {
	uint64_t seq;
	uint64_t last_index; /* log end when the update was handed out */
	uint64_t last_term;
};

/* A reply waiting for durability: only the fields such replies use (they never carry entries,
 * data or snapshot metadata), so holding and releasing stays cheap. */
struct raft_held {
	uint8_t type;
	uint8_t flags;
	uint64_t to;
	uint64_t term;
	uint64_t index;
	uint64_t log_term;
	uint64_t hint;
	uint64_t offset;
	uint64_t need_seq;   /* released when persisted_seq >= need_seq */
	uint64_t need_index; /* ... and stable >= need_index */
};

struct raft_read {
	uint64_t ctx;
	uint64_t from;  /* requester (this node for local reads) */
	uint64_t index; /* read index; 0 until the leader committed an entry of its term */
	uint64_t round; /* heartbeat round that confirms it */
};

struct raft_conf_hist {
	uint64_t index; /* 0 for the base taken from a snapshot */
	struct raft_conf conf;
};

struct raft {
	struct raft_config cfg;
	struct prng prng;

	/* persistent state (mirrors what was handed out; durable once reported) */
	uint64_t term;
	uint64_t vote;

	/* volatile */
	uint8_t role;
	uint64_t leader;
	uint64_t commit;
	uint64_t applied; /* handed out for apply */
	uint32_t election_elapsed;
	uint32_t heartbeat_elapsed;
	uint32_t randomized_timeout;
	int quiesced;
	int flush_step; /* the current step is RAFT_EVENT_FLUSH (batch_appends sends now) */

	/* log: see the invariants above */
	uint64_t log_first;
	uint64_t first_prev_term; /* term of log_first - 1 if known, else 0 */
	int first_prev_known;
	uint64_t last_index;
	uint64_t last_term;
	uint64_t stable;
	uint64_t handed;
	uint64_t truncate_pending; /* 0, or the index the next update must truncate from */
	struct raft_cached *cache;
	uint32_t cache_mask;
	uint64_t cache_first;
	uint64_t cache_bytes;

	/* persistence bookkeeping */
	uint64_t seq_next;      /* seq the next persisting update gets */
	uint64_t seq_handed;    /* last seq handed out */
	uint64_t persisted_seq; /* last seq reported durable */
	int hs_dirty;           /* term/vote changed since last hand-out */
	uint64_t hs_seq;        /* seq that carries the newest term/vote */
	uint64_t hs_commit_written;
	struct raft_persist_rec recs[LIMIT_RAFT_PERSIST_PENDING];
	uint32_t recs_start;
	uint32_t recs_count;
	struct raft_held held[LIMIT_RAFT_HELD_MSGS];
	uint32_t held_count;
	uint64_t held_min_seq; /* lower bounds over held[]: below them nothing can be released */
	uint64_t held_min_index;
	int commit_dirty; /* leader: our stable index or the configuration changed */

	/* snapshots */
	struct raft_snapshot_meta snap; /* newest local snapshot */
	int snap_available;             /* a checkpoint exists that snapshot_read can serve */
	int staging_active;             /* follower: receiving a snapshot */
	struct raft_snapshot_meta staging;
	uint64_t staging_next; /* next byte offset expected */
	int chunk_pending;     /* a chunk to hand out in this step */
	struct raft_snapshot_chunk chunk;
	int install_pending;
	uint64_t floor;           /* entries >= floor are kept (0: none) */
	uint64_t compact_pending; /* compact_to to hand out */

	/* membership: hist[0] is the committed base, later ones may be uncommitted */
	struct raft_conf_hist hist[LIMIT_RAFT_CONF_HISTORY];
	uint32_t n_hist;
	struct raft_conf conf_applied;

	/* progress of every member (leader: replication; candidate: votes) */
	struct raft_progress prs[LIMIT_RAFT_MEMBERS_MAX];
	uint32_t n_prs;
	uint64_t *inflight_block; /* LIMIT_RAFT_MEMBERS_MAX * cfg.inflight_max, from cfg.mem */

	/* leader */
	uint64_t term_start; /* index of this leader's first (no-op) entry */
	uint64_t pending_conf_index;
	uint64_t transferee;
	uint32_t transfer_elapsed;
	uint64_t read_round;
	struct raft_read reads[LIMIT_RAFT_READS_PENDING];
	uint32_t n_reads;

	/* read states ready to hand out (local reads on leader; answers on followers) */
	struct raft_read_state ready[LIMIT_RAFT_READS_PENDING];
	uint32_t n_ready;

	/* soft state last reported */
	uint64_t rep_leader;
	uint8_t rep_role;
	uint64_t rep_term;

	/* counters (for tests and metrics) */
	uint64_t msgs_dropped;
};

/* ---- raft.c ---- */
void raft__become_follower(struct raft *r, uint64_t term, uint64_t leader);
void raft__become_leader(struct raft *r, struct raft_update *u);
void raft__campaign(struct raft *r, struct raft_update *u, int pre, int transfer);
void raft__send(struct raft *r, struct raft_update *u, const struct raft_message *m);
void raft__hold(struct raft *r, struct raft_update *u, const struct raft_message *m,
                uint64_t need_seq, uint64_t need_index);
uint64_t raft__hs_seq_need(const struct raft *r);
int raft__is_voter(const struct raft *r, uint64_t id);
uint32_t raft__quorum(const struct raft *r);
const struct raft_conf *raft__conf(const struct raft *r);
void raft__reset_progress(struct raft *r);
struct raft_progress *raft__progress(struct raft *r, uint64_t id);
void raft__unquiesce(struct raft *r, struct raft_update *u);
void raft__set_term(struct raft *r, uint64_t term);
void raft__set_vote(struct raft *r, uint64_t vote);

/* ---- raft_log.c ---- */
int raft__log_init(struct raft *r, const struct raft_init_state *st) WUR;
void raft__log_deinit(struct raft *r);
/* Term of index, 0 with *ok=0 when unknown (compacted or beyond the end). */
uint64_t raft__log_term(const struct raft *r, uint64_t index, int *ok);
int raft__log_match(const struct raft *r, uint64_t index, uint64_t term);
int raft__log_up_to_date(const struct raft *r, uint64_t last_index, uint64_t last_term);
/* Append one entry at last_index + 1 (copies data). ERR_AGAIN when the tail or pool is full. */
int raft__log_append(struct raft *r, uint64_t term, uint8_t type, const uint8_t *data,
                     uint32_t len) WUR;
/* Drop entries >= index (index > commit, > log_first - 1). */
void raft__log_truncate(struct raft *r, uint64_t index);
/* Entries [lo, hi) into out (cache or storage), at least one if any; 0, ERR_RANGE, ERR_AGAIN. */
int raft__log_slice(const struct raft *r, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                    struct raft_entry *out, uint32_t cap, uint32_t *n) WUR;
void raft__log_stable_to(struct raft *r, uint64_t index, uint64_t term);
void raft__log_reset(struct raft *r, uint64_t index, uint64_t term);
void raft__log_compact(struct raft *r, uint64_t to);
void raft__log_check(const struct raft *r);

/* ---- raft_leader.c ---- */
void raft__leader_tick(struct raft *r, struct raft_update *u);
void raft__leader_recv(struct raft *r, struct raft_update *u, const struct raft_message *m);
int raft__leader_propose(struct raft *r, struct raft_update *u, uint8_t type, const uint8_t *data,
                         uint32_t len) WUR;
int raft__leader_conf_change(struct raft *r, struct raft_update *u, uint8_t type, uint64_t id) WUR;
int raft__leader_read(struct raft *r, struct raft_update *u, uint64_t ctx, uint64_t from) WUR;
int raft__leader_transfer(struct raft *r, struct raft_update *u, uint64_t to) WUR;
void raft__leader_send_appends(struct raft *r, struct raft_update *u);
/* batch_appends: would raft__leader_send_appends send anything now? */
int raft__leader_appends_due(const struct raft *r);
void raft__leader_maybe_commit(struct raft *r, struct raft_update *u);
void raft__leader_heartbeat_all(struct raft *r, struct raft_update *u, uint8_t flags);
void raft__leader_fail_reads(struct raft *r, struct raft_update *u);
void raft__leader_read_ready(struct raft *r, struct raft_update *u);
void raft__progress_sync_conf(struct raft *r);
uint64_t raft__find_conflict_by_term(const struct raft *r, uint64_t index, uint64_t term);

/* ---- raft_follower.c ---- */
void raft__follower_recv(struct raft *r, struct raft_update *u, const struct raft_message *m);

/* ---- raft_flush.c ---- */
void raft__flush(struct raft *r, struct raft_update *u);
void raft__release_held(struct raft *r, struct raft_update *u);
struct raft_entry *raft__ents_alloc(struct raft_update *u, uint32_t n);
void raft__ready_read(struct raft *r, uint64_t ctx, uint64_t index, int status);

/* ---- raft_conf.c ---- */
void raft__conf_push(struct raft *r, uint64_t index, const struct raft_conf *c);
void raft__conf_truncate(struct raft *r, uint64_t index);
void raft__conf_compact(struct raft *r);
void raft__conf_reset(struct raft *r, uint64_t index, const struct raft_conf *c);
int raft__conf_has_room(const struct raft *r);

#endif
