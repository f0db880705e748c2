/*
 * raft.h — one Raft group on one node, as a pure step function.
 *
 * The caller feeds events (a tick, a received message, a proposal, "persisted up to", a read
 * request, ...) into raft_step(); each call fills a struct raft_update with what to do next:
 * hard state and entries to persist, messages to send, committed entries to apply, snapshot
 * chunks to stage and a snapshot to install, read states that became ready, and leadership
 * changes. The core does no I/O, reads no clock (time is ticks) and allocates nothing on the
 * hot path: payload bytes of the in-memory log tail come from a caller-provided allocator
 * (struct raft_mem, a bounded per-core pool in the server), update arrays are caller-provided
 * (struct raft_update), and every queue has a maximum in core/limits.h ("raft" section).
 *
 * Durability contract (the rule the canary "ack_before_fsync" breaks):
 *   - An update with persist_seq != 0 carries state that must become durable in the order the
 *     updates were produced (hard state, truncation, entries, snapshot chunk, snapshot install).
 *     When it is durable (after fdatasync), the caller reports RAFT_EVENT_PERSISTED with that seq
 *     (or any later seq: a report covers every earlier update). Updates may be persisted as one
 *     group commit.
 *   - Every message in an update is safe to send at once: replies that promise durability (append
 *     acknowledgements, votes, snapshot-chunk acknowledgements) are held inside the core until the
 *     state they promise is reported persisted. A leader counts its own log only up to what is
 *     persisted.
 *   - Committed entries handed out for apply are always already persisted locally, so applying
 *     may run concurrently with persisting the same update.
 *
 * Lifetime: pointers in an update (entries, message payloads, snapshot chunk data) stay valid
 * until the next raft_step() on the same struct raft, and may point into the event's own message
 * buffers, into the core's log cache, or into buffers returned by struct raft_log_ops; the caller
 * keeps the event's buffers alive until it has consumed the update.
 *
 * Threading: a struct raft belongs to one core; every function here must be called from it.
 *
 * Choices (see docs/raft.md): pre-vote and check-quorum are on; no leader lease is assumed, so a
 * ReadIndex always confirms leadership with a heartbeat round; membership changes are single-server
 * changes (one voter added or removed per configuration entry, effective when appended), and a
 * leader accepts one only after an entry of its own term committed and the previous change
 * committed.
 */
#ifndef RAFT_RAFT_H
#define RAFT_RAFT_H

#include "core/err.h"
#include "core/limits.h"
#include "core/prng.h"

#include <stddef.h>
#include <stdint.h>

/* ---- entries and configuration ------------------------------------------------------------- */

enum raft_entry_type {
	RAFT_ENTRY_NORMAL = 1, /* a state-machine command (opaque bytes) */
	RAFT_ENTRY_CONF = 2,   /* a membership configuration: data is raft_conf_encode() output */
	RAFT_ENTRY_NOOP = 3,   /* appended by a new leader to commit its term; apply skips it */
};

struct raft_entry {
	uint64_t term;
	uint64_t index;
	uint8_t type; /* enum raft_entry_type */
	uint32_t len;
	const uint8_t *data; /* len bytes; NULL iff len == 0 */
};

/* A membership configuration: voters elect and count for commit, learners only receive the log.
 * Ids are non-zero, unique across both sets. */
struct raft_conf {
	uint32_t n_voters;
	uint32_t n_learners;
	uint64_t voters[LIMIT_RAFT_VOTERS_MAX];
	uint64_t learners[LIMIT_RAFT_LEARNERS_MAX];
};

enum raft_conf_change_type {
	RAFT_CONF_ADD_VOTER = 1,   /* add a voter, or promote a learner */
	RAFT_CONF_ADD_LEARNER = 2, /* add a learner, or demote a voter */
	RAFT_CONF_REMOVE = 3,      /* remove a voter or a learner */
};

/* Encoded size of any configuration is at most this many bytes. */
#define RAFT_CONF_ENCODED_MAX (8 + 8 * (LIMIT_RAFT_VOTERS_MAX + LIMIT_RAFT_LEARNERS_MAX))

/* Encode into buf (>= RAFT_CONF_ENCODED_MAX bytes); returns the length. */
uint32_t raft_conf_encode(const struct raft_conf *c, uint8_t *buf);
/* Decode; ERR_CORRUPT on malformed input (never asserts on peer bytes). */
int raft_conf_decode(const uint8_t *buf, uint32_t len, struct raft_conf *out) WUR;
int raft_conf_is_voter(const struct raft_conf *c, uint64_t id);
int raft_conf_is_learner(const struct raft_conf *c, uint64_t id);
int raft_conf_equal(const struct raft_conf *a, const struct raft_conf *b);
/* Apply one single-server change; ERR_INVAL if it is a no-op or breaks a limit/invariant. */
int raft_conf_apply_change(struct raft_conf *c, enum raft_conf_change_type type, uint64_t id) WUR;

/* ---- durable state ------------------------------------------------------------------------- */

struct raft_hard_state {
	uint64_t term;   /* currentTerm */
	uint64_t vote;   /* votedFor in term (0 = none) */
	uint64_t commit; /* a hint: commit index known when written (not needed for safety) */
};

/* What a snapshot stands for: the state machine after applying entry `index` of `term`. */
struct raft_snapshot_meta {
	uint64_t index;
	uint64_t term;
	uint64_t size_bytes;   /* length of the checkpoint's byte stream */
	struct raft_conf conf; /* membership as of `index` */
};

/* ---- messages -------------------------------------------------------------------------------- */

enum raft_msg_type {
	RAFT_MSG_APP = 1,       /* AppendEntries: index=prev index, log_term=prev term, commit */
	RAFT_MSG_APP_RESP = 2,  /* index=match (or rejected prev index); hint/log_term on reject */
	RAFT_MSG_VOTE = 3,      /* RequestVote: index/log_term = candidate's last entry */
	RAFT_MSG_VOTE_RESP = 4, /* reject=0: granted */
	RAFT_MSG_PREVOTE = 5,   /* term = the term the candidate would use (not adopted) */
	RAFT_MSG_PREVOTE_RESP = 6,
	RAFT_MSG_HEARTBEAT = 7,        /* commit, ctx = read round; flags may say quiesce */
	RAFT_MSG_HEARTBEAT_RESP = 8,   /* ctx echoed; index = follower's last index */
	RAFT_MSG_SNAP = 9,             /* one snapshot chunk: snap meta, offset, data */
	RAFT_MSG_SNAP_RESP = 10,       /* index = snapshot index, offset = next offset wanted */
	RAFT_MSG_TIMEOUT_NOW = 11,     /* leader transfer: campaign now, skipping pre-vote */
	RAFT_MSG_PROP = 12,            /* a follower forwards proposals (entries) to the leader */
	RAFT_MSG_READ_INDEX = 13,      /* a follower asks the leader for a read index (ctx) */
	RAFT_MSG_READ_INDEX_RESP = 14, /* index = read index; REJECT: could not serve */
	RAFT_MSG_TYPE_MAX = 14,
};

enum raft_msg_flags {
	RAFT_MSG_F_REJECT = 1u << 0,   /* a refusal (vote not granted, append rejected, ...) */
	RAFT_MSG_F_TRANSFER = 1u << 1, /* VOTE: from a leader transfer (ignore stickiness) */
	RAFT_MSG_F_QUIESCE = 1u << 2,  /* HEARTBEAT: the group is idle; stop election timers */
	RAFT_MSG_F_LAST = 1u << 3,     /* SNAP: this chunk is the last one */
};

struct raft_message {
	uint8_t type;  /* enum raft_msg_type */
	uint8_t flags; /* enum raft_msg_flags */
	uint64_t group_id;
	uint64_t from;
	uint64_t to;
	uint64_t term;
	uint64_t index;
	uint64_t log_term;
	uint64_t commit;
	uint64_t hint; /* APP_RESP reject: follower's last index */
	uint64_t ctx;  /* HEARTBEAT(_RESP): read round; READ_INDEX(_RESP): requester's ctx */
	/* APP, PROP */
	const struct raft_entry *entries;
	uint32_t n_entries;
	/* SNAP (snap.index/term also in index/log_term); SNAP_RESP uses offset */
	struct raft_snapshot_meta snap;
	uint64_t offset;
	const uint8_t *data;
	uint32_t len;
};

/* ---- the caller's log storage, as the core sees it ---------------------------------------- */

/*
 * The core does not own the durable log. It keeps the unstable tail (and a bounded cache of
 * recently persisted entries) in memory and reads older entries through these callbacks, which the
 * Raft-log segment store (storage/raftlog) or the simulator implements. The callbacks see only
 * entries this core handed out for persisting and that were reported persisted; the core never
 * asks for an index below the first index it knows storage holds (init's log_first, then each
 * compact_to it emitted).
 */
struct raft_log_ops {
	void *ctx;
	/* Term of the durable entry at `index`. Must answer from memory (segment index). 0 or
	 * ERR_RANGE if storage no longer holds it. */
	int (*term)(void *ctx, uint64_t group_id, uint64_t index, uint64_t *term);
	/* Copy entry headers [lo, hi) into out[0..cap), stopping before max_bytes of payload is
	 * exceeded (but always at least one entry); *n = count. Payload pointers stay valid until
	 * the next raft_step() on this group (a per-step arena is enough). Returns 0, ERR_RANGE if
	 * lo was compacted, ERR_AGAIN if the entries are not in memory yet (the caller loads them
	 * and steps RAFT_EVENT_FLUSH later; the core retries on its own at the next heartbeat), or
	 * ERR_IO. */
	int (*entries)(void *ctx, uint64_t group_id, uint64_t lo, uint64_t hi, uint64_t max_bytes,
	               struct raft_entry *out, uint32_t cap, uint32_t *n);
	/* Read up to `len_max` bytes of the snapshot at `index` starting at `offset`; *data stays
	 * valid until the next raft_step() on this group. Returns 0, ERR_NOTFOUND if that snapshot
	 * is gone (the core then waits for a newer RAFT_EVENT_SNAPSHOT_TAKEN), ERR_AGAIN or ERR_IO.
	 */
	int (*snapshot_read)(void *ctx, uint64_t group_id, uint64_t index, uint64_t offset,
	                     uint32_t len_max, const uint8_t **data, uint32_t *len);
};

/* Payload memory for the in-memory log tail (copies of proposals and received entries). alloc
 * returns NULL when the pool is exhausted: the core answers with backpressure (ERR_AGAIN for a
 * proposal; a follower accepts fewer entries), never with growth. */
struct raft_mem {
	void *ctx;
	void *(*alloc)(void *ctx, size_t bytes);
	void (*free)(void *ctx, void *p, size_t bytes);
};

/* ---- configuration and restart state ------------------------------------------------------ */

struct raft_config {
	uint64_t id;              /* this node, != 0 */
	uint64_t group_id;        /* carried in every message */
	uint32_t election_ticks;  /* election timeout is random in [this, 2*this) */
	uint32_t heartbeat_ticks; /* leader heartbeat interval; < election_ticks / 2 */
	uint32_t inflight_max;    /* MsgApp in flight per follower (<= LIMIT_RAFT_INFLIGHT_MAX) */
	uint32_t msg_bytes_max;   /* entry payload bytes per MsgApp */
	uint32_t cache_entries;   /* in-memory log tail capacity (power of 2) */
	uint64_t cache_bytes_max; /* payload bytes held in the tail (unstable + cache) */
	uint32_t snapshot_chunk_bytes; /* <= LIMIT_RAFT_SNAPSHOT_CHUNK_BYTES */
	uint64_t seed;                 /* randomizes election timeouts (deterministic) */
	int pre_vote;                  /* 1: pre-vote before campaigning */
	int check_quorum; /* 1: leaders step down without a quorum; leader stickiness */
	int quiesce;      /* 1: idle groups stop heartbeats (see raft/multi.h) */
	/* 1: a leader sends log entries and commit updates to its followers, and any node hands
	 * new entries and hard state out for persisting, only when stepped with RAFT_EVENT_FLUSH;
	 * any other step that leaves such work due sets update.want_flush. The host steps FLUSH
	 * once at the end of its turn (before its log writes the turn's batch), so all proposals
	 * of a turn reach each follower in one MsgApp (and come back in one MsgAppResp) and the
	 * log in one persist record, instead of one per proposal. */
	int batch_appends;
	struct raft_log_ops log;
	struct raft_mem mem;
};

/* Fill sensible defaults (ticks of ~10 ms: heartbeat 5, election 30). id/group/log/mem unset. */
void raft_config_defaults(struct raft_config *cfg);

/* A conf entry found in storage after the snapshot (for restart). */
struct raft_conf_entry {
	uint64_t index;
	uint64_t term;
	struct raft_conf conf;
};

struct raft_init_state {
	struct raft_hard_state hard;
	/* The newest durable snapshot; for a brand-new group index = term = 0 and conf = the
	 * bootstrap members (all initial nodes use the same one), or an empty conf for a node that
	 * will be added later. */
	struct raft_snapshot_meta snapshot;
	uint64_t log_first;     /* first index storage holds (<= snapshot.index + 1) */
	uint64_t log_last;      /* last durable index (>= snapshot.index) */
	uint64_t log_last_term; /* its term (snapshot.term if log_last == snapshot.index) */
	uint64_t applied;       /* the state machine's applied index (>= snapshot.index) */
	/* Conf entries in storage with index > snapshot.index, ascending; only the last
	 * LIMIT_RAFT_CONF_HISTORY matter. */
	const struct raft_conf_entry *confs;
	uint32_t n_confs;
};

/* ---- events ---------------------------------------------------------------------------------- */

enum raft_event_type {
	RAFT_EVENT_TICK = 1,    /* one tick of logical time (ticks elapsed: .ticks, >= 1) */
	RAFT_EVENT_RECEIVE = 2, /* .msg from a peer (to == this node, group matches) */
	RAFT_EVENT_PROPOSE = 3, /* .propose: one normal entry; leader appends, follower forwards */
	RAFT_EVENT_CONF_CHANGE = 4,    /* .conf_change on the leader */
	RAFT_EVENT_PERSISTED = 5,      /* .persisted_seq: every update up to it is durable */
	RAFT_EVENT_SNAPSHOT_TAKEN = 6, /* .snapshot: the caller checkpointed its state machine */
	RAFT_EVENT_READ = 7,           /* .read_ctx: linearizable read request (ReadIndex) */
	RAFT_EVENT_TRANSFER = 8,       /* .transfer_to: leader hands leadership to that voter */
	RAFT_EVENT_SET_FLOOR = 9,      /* .floor: entries >= floor must be kept (0 = no floor) */
	RAFT_EVENT_CAMPAIGN = 10,      /* start an election now (bootstrap, tests) */
	RAFT_EVENT_WAKE = 11,          /* leave quiescence (leader's node looked dead, ...) */
	RAFT_EVENT_UNREACHABLE = 12,   /* .peer: the transport failed to reach it; probe again */
	RAFT_EVENT_FLUSH = 13, /* nothing new: hand out what did not fit in the last update */
};

struct raft_event {
	uint8_t type; /* enum raft_event_type */
	union {
		uint32_t ticks;
		const struct raft_message *msg;
		struct {
			const uint8_t *data;
			uint32_t len;
		} propose;
		struct {
			uint8_t type; /* enum raft_conf_change_type */
			uint64_t id;
		} conf_change;
		uint64_t persisted_seq;
		struct {
			uint64_t index;      /* <= applied index handed out */
			uint64_t size_bytes; /* checkpoint stream length */
			struct raft_conf
			    conf; /* membership as of index (raft_conf_applied() then) */
		} snapshot;
		uint64_t read_ctx;
		uint64_t transfer_to;
		uint64_t floor;
		uint64_t peer;
	};
};

/* ---- updates --------------------------------------------------------------------------------- */

enum raft_role {
	RAFT_FOLLOWER = 1,
	RAFT_PRE_CANDIDATE = 2,
	RAFT_CANDIDATE = 3,
	RAFT_LEADER = 4,
};

/* A ReadIndex result: serve the read once the local state machine applied >= index.
 * status != 0 means the read failed (ERR_NOTLEADER: leadership lost or unknown). */
struct raft_read_state {
	uint64_t ctx;
	uint64_t index;
	int status;
};

/* One chunk of an incoming snapshot to stage (write at offset; offset 0 starts a new staging
 * file and discards any older one). */
struct raft_snapshot_chunk {
	struct raft_snapshot_meta meta;
	uint64_t offset;
	const uint8_t *data;
	uint32_t len;
	int last;
};

struct raft_update {
	/* -- caller-provided arrays (raft_update_init) -- */
	struct raft_message *msgs;
	uint32_t msgs_cap;
	struct raft_entry *ents; /* backing store for persist, apply and message entry lists */
	uint32_t ents_cap;
	struct raft_read_state *reads;
	uint32_t reads_cap;

	/* -- persist (in this order), then report RAFT_EVENT_PERSISTED(persist_seq) -- */
	uint64_t persist_seq; /* 0: nothing in this update needs persisting */
	int hard_state_changed;
	struct raft_hard_state hard_state;
	uint64_t truncate_from; /* 0, or: delete entries >= this index before appending */
	const struct raft_entry *persist;
	uint32_t n_persist;
	int have_chunk;
	struct raft_snapshot_chunk chunk;
	int install; /* 1: install the staged snapshot `snapshot`: the state machine becomes it and
	              * the log is reset to start after it (all older entries dropped) */
	struct raft_snapshot_meta snapshot;

	/* -- storage may now drop entries <= compact_to (respects the floor and the snapshot) -- */
	uint64_t compact_to;

	/* -- send -- */
	uint32_t n_msgs;

	/* -- apply, in order (already durable locally and committed) -- */
	const struct raft_entry *apply;
	uint32_t n_apply;

	/* -- ReadIndex results -- */
	uint32_t n_reads;

	/* -- leadership -- */
	int soft_changed;
	uint64_t leader; /* 0 = unknown */
	uint8_t role;    /* enum raft_role */
	uint64_t term;

	/* -- result of a PROPOSE / CONF_CHANGE on the leader -- */
	uint64_t proposed_index;
	uint64_t proposed_term;

	/* -- 1 if something did not fit: step RAFT_EVENT_FLUSH to get the rest -- */
	int more;
	/* -- batch_appends: sends or persisting are due; step RAFT_EVENT_FLUSH at the end of the
	 * turn (not necessarily now) -- */
	int want_flush;

	uint32_t n_ents_used; /* internal: ents consumed */
};

/* Point an update at caller-owned arrays (kept across steps; one per core is enough). */
void raft_update_init(struct raft_update *u, struct raft_message *msgs, uint32_t msgs_cap,
                      struct raft_entry *ents, uint32_t ents_cap, struct raft_read_state *reads,
                      uint32_t reads_cap);

/* ---- the group ------------------------------------------------------------------------------ */

/* The layout lives in raft/raft_impl.h: include it to embed a struct raft in a parent object,
 * or allocate raft_sizeof() bytes. The fields are private to raft/. */
struct raft;

/* Bytes for a struct raft (the definition lives in raft/raft_impl.h for embedding). */
size_t raft_sizeof(void);

/*
 * Initialise a group from its durable state. Allocates the log-tail ring (cache_entries headers)
 * through cfg->mem once; ERR_NOMEM if that fails, ERR_INVAL on an inconsistent config/state.
 * The group starts as a follower; it does not campaign before its first election timeout.
 */
int raft_init(struct raft *r, const struct raft_config *cfg, const struct raft_init_state *st) WUR;
void raft_deinit(struct raft *r);

/*
 * Feed one event; fills *u (previous contents are discarded). Returns 0, or an error about the
 * event, in which case nothing changed and *u is empty:
 *   PROPOSE/CONF_CHANGE: ERR_NOTLEADER (no leader known / not leader for conf changes),
 *     ERR_AGAIN (log tail or pool full: backpressure), ERR_BUSY (leader transfer in progress,
 *     or a conf change pending / not yet allowed), ERR_TOOBIG (entry > LIMIT_RAFT_ENTRY_BYTES),
 *     ERR_INVAL (bad conf change).
 *   READ: ERR_NOTLEADER (no leader known), ERR_AGAIN (too many reads pending).
 *   TRANSFER: ERR_NOTLEADER, ERR_INVAL (not a voter / self), ERR_BUSY (already transferring).
 *   SNAPSHOT_TAKEN: ERR_INVAL (index beyond applied or older than the current snapshot).
 *   RECEIVE: ERR_PROTO (malformed message: wrong group/to, bad indexes) — changes nothing.
 */
int raft_step(struct raft *r, const struct raft_event *ev, struct raft_update *u) WUR;

/* ---- read-only views ------------------------------------------------------------------------ */

struct raft_status {
	uint64_t id;
	uint64_t group_id;
	uint8_t role;
	uint64_t leader;
	uint64_t term;
	uint64_t vote;
	uint64_t commit;
	uint64_t applied; /* last index handed out for apply */
	uint64_t last_index;
	uint64_t last_term;
	uint64_t stable_index; /* persisted prefix of the current log */
	uint64_t first_index;  /* first index the core can still read */
	uint64_t snapshot_index;
	int quiesced;
	uint64_t transferee; /* leader transfer in progress to (0 = none) */
};

void raft_status_get(const struct raft *r, struct raft_status *s);
/* Current configuration (latest in the log, effective when appended). */
const struct raft_conf *raft_conf_current(const struct raft *r);
/* Configuration as of the last index handed out for apply (for snapshot metadata). */
const struct raft_conf *raft_conf_applied(const struct raft *r);
/* Term of entry `index` if the core can tell without storage (0 if not). For checkers. */
uint64_t raft_term_at(const struct raft *r, uint64_t index);
int raft_is_quiesced(const struct raft *r);
uint64_t raft_leader(const struct raft *r);

const char *raft_msg_type_str(uint8_t type);

#endif
