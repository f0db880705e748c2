/*
 * host.h — the per-core engine: the replicated tables of one core, with no networking of its own.
 *
 * One struct host per core. It owns the core's Raft groups (raft/raft_multi.h), the core's Raft
 * log (storage/raftlog.h), the LSM block cache and background thread shared by the core's trees,
 * and one replica per table placed on this core: a Raft group plus its state machine — a
 * kv_store (server/kv) for a table, the catalogue (server/meta) for the metadata group
 * (HOST_META_GROUP_ID). The caller moves bytes and time:
 *   - frames: cfg.send_frame hands out batched Raft frames for a peer node; host_receive_frame
 *     feeds in what peers sent (the transport is the gRPC layer's business);
 *   - time: host_tick every cfg.tick_ms with a monotonic clock; deadlines use the same clock;
 *   - turns: host_turn at the end of every loop turn (sync mode: group commit through
 *     raftlog_flush). With host_attach (host_reactor.c) a reactor turn-end hook does it and the
 *     Raft log commits with one linked write+fdatasync per turn.
 *
 * Durability: a proposal is answered only after its entry committed (durable on a quorum) and
 * was applied on this node; the answer carries revision == the entry's Raft index.
 *
 * Callbacks (proposal results, reads, catalogue changes) never run inside Raft processing: they
 * are queued and run at the end of the host_* call that completed them, so a callback may call
 * any host_* function (propose again, create a table, ...). Each accepted request gets exactly one
 * callback; a host_* call that returns an error accepted nothing and calls nothing.
 *
 * On-disk layout under cfg.data_dir (shared by the cores of a node):
 *   raftlog/core-<i>/          this core's Raft log segments
 *   tables/<id>/REPLICA        a replica's metadata (core, group, members, snapshot, data dir)
 *   tables/<id>/data-<g>/      its live LSM tree (g changes when a snapshot is installed)
 *   tables/<id>/snap-<index>/  its latest checkpoint, served as a snapshot archive
 *
 * Threads: every function must be called from the core's thread (host_open's caller).
 */
#ifndef SERVER_ENGINE_HOST_H
#define SERVER_ENGINE_HOST_H

#include "core/arena.h"
#include "core/err.h"
#include "core/io_fs.h"
#include "server/kv/kv_store.h"
#include "server/meta/catalog.h"

#include "proto/mvcc/v1/mvcc.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define HOST_META_GROUP_ID 1 /* the metadata group (table catalogue); table ids are > 1 */

struct host;
struct replica;
struct reactor;

struct host_config {
	uint64_t node_id;      /* != 0 */
	uint64_t incarnation;  /* different on every process start (boot time + random) */
	int core_id;           /* this core's index (directory names, REPLICA ownership) */
	const char *data_dir;  /* the node's data directory (created if missing) */
	struct io_fs *fs;      /* io_fs_posix() or a simulated disk */

	uint32_t tick_ms;         /* how often the caller calls host_tick (docs only; default 10) */
	uint32_t election_ticks;  /* default 30 */
	uint32_t heartbeat_ticks; /* default 5 */
	int quiesce;              /* idle groups stop heartbeating (default 1) */
	uint32_t groups_max;      /* replicas on this core (default 1024) */
	uint32_t raft_cache_entries; /* in-memory log tail per group, power of 2 (default 256) */
	uint64_t raft_mem_bytes;  /* cap of the core's Raft payload pool (default 512 MiB) */

	uint64_t snapshot_log_bytes; /* take a snapshot once this many entry bytes were applied
				      * since the last one (default 64 MiB) */
	uint64_t lsm_cache_bytes;    /* block cache shared by the core's trees (default 64 MiB) */
	uint64_t memtable_bytes;     /* per tree (default 16 MiB) */
	uint64_t memtable_budget_bytes; /* all the core's active memtables together: past it the
					 * largest is flushed (default 64 MiB; 0 = no budget) */

	void *ctx; /* passed to the callbacks below */
	/* A finished frame for to_node: copy or send it before returning. Required. */
	void (*send_frame)(void *ctx, uint64_t to_node, const uint8_t *frame, size_t len);
	/* The metadata group applied a change (on every node that hosts it). Optional. The node
	 * layer creates / removes the table's replica on the core that owns it. */
	void (*on_catalog_change)(void *ctx, const struct catalog_change *ch);
	/* The core's Raft log failed for good (fsync error): the host refuses all work. Optional. */
	void (*on_fatal)(void *ctx, int err, const char *what);
};

/* Fill the defaults above (node_id, data_dir, fs and send_frame stay unset). */
void host_config_defaults(struct host_config *cfg);

/* Open the core's Raft log and recover every replica whose REPLICA file names this core:
 * each reopens its state machine at its applied index and replays its log from there as the
 * group commits again. Returns 0, ERR_INVAL (bad config), ERR_CORRUPT / ERR_IO (disk; logged
 * with file and offset), ERR_NOMEM. */
int host_open(const struct host_config *cfg, struct host **out) WUR;

/* Clean shutdown: every pending request fails with ERR_STOPPED (callbacks run), the Raft log
 * is flushed, trees are closed (flushed). Must not be attached to a running reactor turn. */
void host_close(struct host *h);

/* Tests: a process crash. Nothing more is written; pending callbacks are dropped silently. */
void host_crash(struct host *h);

/* Reactor mode (host_reactor.c): group commit and frame output at the end of every turn.
 * Needs a real file system (io_fs_posix). host_detach first runs the reactor until the Raft
 * log's queued writes completed (a write in flight cannot be abandoned), so call it outside a
 * reactor turn (e.g. after the loop stopped); host_close detaches if needed. */
int host_attach(struct host *h, struct reactor *r) WUR;
void host_detach(struct host *h);
/* 1 while the core's Raft log has a write in flight or mutations waiting for a group commit. */
int host_log_busy(const struct host *h);

/* ---- tables ------------------------------------------------------------------------------- */

/* Create the replica of table `table_id` (HOST_META_GROUP_ID: the metadata group) with the
 * given voters (this node among them, all initial replicas use the same list). Durable when it
 * returns. ERR_EXISTS if it is already here, ERR_NOMEM (groups_max), ERR_INVAL, ERR_IO. */
int host_table_create(struct host *h, uint64_t table_id, const uint64_t *voters, uint32_t n_voters) WUR;

/* Delete the replica: pending requests fail with ERR_STOPPED, its Raft group leaves the
 * core's log (raftlog_drop_group) and its directory is removed, freeing the disk space.
 * ERR_NOTFOUND if it is not here. */
int host_table_remove(struct host *h, uint64_t table_id) WUR;

/* The replica of a table on this core, or NULL. Valid until the table is removed. */
struct replica *host_table_find(struct host *h, uint64_t table_id);

/* Call fn for each table id hosted here (any order). Non-zero from fn stops and is returned.
 * fn must not create or remove tables. */
int host_table_foreach(struct host *h, int (*fn)(void *ctx, uint64_t table_id), void *ctx) WUR;

/* Serializable (local) reads go straight to the state machine: */
struct kv_store *replica_store(struct replica *r);  /* NULL for the metadata group */
struct catalog *replica_catalog(struct replica *r); /* NULL for a table */

/* ---- proposals ---------------------------------------------------------------------------- */

struct host_propose_result {
	int status; /* 0: committed and applied here. Otherwise nothing is known to have happened:
		     *   ERR_AGAIN    the entry lost its log position (leader change): not applied;
		     *   ERR_TIMEOUT  the deadline passed: the outcome is unknown (it may still apply);
		     *   ERR_STOPPED  the table was removed or the host closed: outcome unknown;
		     *   ERR_IO / ERR_CORRUPT  the replica failed (its state machine could not apply);
		     *   ERR_INVAL / ERR_TOOBIG  applied as a deterministic skip (invalid command) */
	uint64_t index;    /* the entry's Raft index (0 unless applied) */
	int64_t revision;  /* the state's revision after it (== index on the leader cluster) */
	uint64_t term;     /* the group's term when it applied */
	uint64_t leader;   /* the group's leader as known here */
	struct kv_apply_out out;       /* tables: responses, in the arena given to host_propose */
	struct catalog_change *change; /* metadata group: what changed (in that arena), or NULL */
};

typedef void (*host_propose_cb)(void *ctx, const struct host_propose_result *res);

/*
 * Propose a command for a table (any node: a follower forwards it to the leader). The caller
 * has validated it (kv_command_validate). The answer is built from this node's own apply into
 * `arena` (NULL: no responses, status/revision only), which must live until cb ran.
 * deadline_ns is on host_tick's clock (0: none — the request waits until answered or stopped). Returns 0 (cb will run once), ERR_NOTFOUND (no such
 * table here), ERR_NOTLEADER (no leader known yet: retry shortly), ERR_AGAIN (backpressure),
 * ERR_BUSY (too many pending requests on this core), ERR_TOOBIG, ERR_STOPPED (replica failed).
 */
int host_propose(struct host *h, uint64_t table_id, const Mvcc__V1__Command *cmd, struct arena *arena,
		 uint64_t deadline_ns, host_propose_cb cb, void *ctx) WUR;

/* The same for the metadata group: `cmd` is regatta.internal.v1.MetaCommand bytes. */
int host_propose_meta(struct host *h, const uint8_t *cmd, size_t len, struct arena *arena,
		      uint64_t deadline_ns, host_propose_cb cb, void *ctx) WUR;

/* ---- reads -------------------------------------------------------------------------------- */

enum host_read_mode {
	HOST_READ_SERIALIZABLE = 1, /* local state as it is (any node) */
	HOST_READ_LINEARIZABLE = 2, /* ReadIndex: sees every write acknowledged before the call */
};

struct host_read_ready {
	int status;              /* 0, or ERR_NOTLEADER / ERR_TIMEOUT / ERR_STOPPED / ERR_AGAIN */
	struct kv_store *store;  /* a table: read it now (valid during the callback only) */
	struct catalog *catalog; /* the metadata group */
	uint64_t applied;        /* applied index of the state you see */
	int64_t revision;        /* its revision */
	uint64_t term, leader;
};

typedef void (*host_read_cb)(void *ctx, const struct host_read_ready *r);

/* Read a table. The callback runs once the state is ready (serializable: before host_read
 * returns; linearizable: once applied >= the confirmed read index, on followers too) and reads
 * from r->store itself. Returns 0 (cb will run once), ERR_NOTFOUND, ERR_NOTLEADER (no leader
 * known for a linearizable read), ERR_AGAIN, ERR_BUSY. */
int host_read(struct host *h, uint64_t table_id, enum host_read_mode mode, uint64_t deadline_ns,
	      host_read_cb cb, void *ctx) WUR;

/* ---- management --------------------------------------------------------------------------- */

/* Ask the leader (this node) to hand leadership to `to_node`. ERR_NOTLEADER, ERR_INVAL, ERR_BUSY. */
int host_transfer_leader(struct host *h, uint64_t table_id, uint64_t to_node) WUR;

/* Start an election now (bootstrap, tests). ERR_NOTFOUND. */
int host_campaign(struct host *h, uint64_t table_id) WUR;

/* Entries <= index are still needed by someone outside this cluster (follower clusters pulling
 * the log): the log keeps them even after a snapshot. 0 = no such need. */
int host_set_external_floor(struct host *h, uint64_t table_id, uint64_t index) WUR;

#define HOST_ROLE_FOLLOWER 1 /* the values of raft/raft.h's enum raft_role */
#define HOST_ROLE_PRE_CANDIDATE 2
#define HOST_ROLE_CANDIDATE 3
#define HOST_ROLE_LEADER 4

struct host_table_status {
	uint64_t table_id;
	uint8_t role; /* HOST_ROLE_* */
	uint64_t leader, term;
	uint64_t commit, applied;
	uint64_t first_index, last_index, snapshot_index;
	int quiesced;
	uint64_t log_bytes;      /* entry bytes in the log since the last snapshot (approximate) */
	uint64_t lsm_bytes;      /* tables + memtable */
	uint64_t durable_applied; /* what a crash now would recover the state machine to */
	int64_t revision;
	int error;               /* sticky failure of the replica (0 if fine) */
};

int host_table_status(struct host *h, uint64_t table_id, struct host_table_status *out) WUR;

/* ---- time, frames, turns ------------------------------------------------------------------ */

/* One tick of logical time (every cfg.tick_ms); now_ns (monotonic) expires deadlines. */
void host_tick(struct host *h, uint64_t now_ns);

/* Feed one frame received from a peer node. Returns 0 or the frame's decode error (dropped). */
int host_receive_frame(struct host *h, const uint8_t *frame, size_t len) WUR;

/* End of a loop turn (sync mode; attached hosts do it in the turn hook): make the turn's Raft
 * log writes durable (one fdatasync for every group), report them to Raft, apply what
 * committed, take due snapshots, send the frames, run callbacks. Returns 0 or the host's
 * sticky fatal error. */
int host_turn(struct host *h) WUR;

struct host_stats {
	uint64_t proposals, proposals_ok, proposals_failed;
	uint64_t reads, reads_ok, reads_failed;
	uint64_t entries_applied;
	uint64_t snapshots_taken, snapshots_installed, snapshot_bytes_sent;
	uint64_t persist_backlogged; /* updates that waited for room in the Raft log's batch */
	uint64_t frames_sent, frames_received, msgs_sent, msgs_received;
	uint32_t groups, groups_quiesced;
	uint64_t raft_mem_bytes;
	int fatal;
};

void host_stats(struct host *h, struct host_stats *out);

/* The core's Raft log counters (group commits, bytes, segments): storage/raftlog.h. */
struct raftlog_stats;
void host_log_stats(struct host *h, struct raftlog_stats *out);

#endif
