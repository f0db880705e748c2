/*
 * host_int.h — the host's private state, shared by its files:
 *   host.c          open/close, the replica map, tables create/remove, tick, frames, turns, status
 *   host_raft.c     the Raft glue: log storage callbacks, payload pool, on_update (persist, apply,
 *                   reads), the persist -> PERSISTED mapping and its backlog, restart state,
 *                   retention floors, snapshots taken
 *   host_pending.c  requests waiting for Raft: proposals and reads, deadlines, callbacks
 *   host_reactor.c  reactor mode (turn-end hook + raftlog_attach)
 *
 * Invariants:
 *   - callbacks to the user run only from host__leave() at depth 0, never inside a Raft step
 *     (raft_multi forbids re-entry), so a callback may call any host_* function;
 *   - a pending request is on exactly one of: the free list, the waiting lists (all + its
 *     replica's), the done queue;
 *   - a replica's inflight ring holds persist seqs in increasing order with non-decreasing
 *     raftlog mutation counts (raftlog_group_seq after submitting); a seq is reported PERSISTED
 *     only when the group's durable count (on_durable) reached its count;
 *   - while a replica's backlog is non-empty, every new Raft log mutation of that replica goes
 *     to the backlog's tail (the log sees mutations in the order Raft produced them);
 *   - rep->applied == the state machine's applied index == the Raft core's applied index.
 */
#ifndef SERVER_ENGINE_HOST_INT_H
#define SERVER_ENGINE_HOST_INT_H

#include "server/engine/host.h"
#include "server/engine/replica.h"

#include "core/arena.h"
#include "core/limits.h"
#include "raft/raft_multi.h"
#include "storage/lsm.h"
#include "storage/raftlog.h"

#include <stdint.h>

enum pending_kind { PENDING_PROPOSAL = 1, PENDING_READ = 2 };
enum pending_state { PENDING_FREE = 0, PENDING_WAITING = 1, PENDING_DONE = 2 };

struct pending {
	uint64_t id; /* 0: free */
	uint8_t kind;
	uint8_t state;
	uint8_t read_ready; /* READ: the read index is known */
	uint8_t serializable;
	uint64_t table_id;
	struct replica *rep; /* while WAITING */
	uint64_t index;      /* PROPOSAL: its log index once known (leader); READ: the read index */
	uint64_t deadline_ns;
	struct arena *arena;
	host_propose_cb pcb;
	host_read_cb rcb;
	void *ctx;
	int status;
	struct host_propose_result res;
	struct pending *prev, *next;   /* all waiting requests, oldest first */
	struct pending *rprev, *rnext; /* the replica's list (props or reads) */
	struct pending *link;          /* free list / done queue */
};

/* A catalogue change waiting for cfg.on_catalog_change. */
struct change_node {
	struct change_node *next;
	struct catalog_change ch;
};

struct host {
	struct host_config cfg;
	char data_dir[LIMIT_PATH_BYTES];
	char tables_dir[LIMIT_PATH_BYTES];
	char log_dir[LIMIT_PATH_BYTES];
	struct io_fs *fs;
	struct lsm_cache *cache;
	struct lsm_bg *bg;
	struct lsm_options lsm;
	struct raftlog *log;
	struct raft_multi multi;
	int multi_live;
	struct reactor *reactor;
	void (*detach)(struct host *h); /* set by host_reactor.c: no link dependency otherwise */
	int fatal;
	uint64_t now_ns;
	uint32_t budget_ticks; /* ticks since the memtable budget was last checked */

	/* replicas by id (sorted) and those needing work at the end of a turn */
	struct replica **reps;
	size_t n_reps, cap_reps;
	struct replica **active;
	size_t n_active, cap_active;

	/* Raft payload pool */
	uint64_t mem_used;

	/* per step: entries and snapshot chunks read from disk (reset after each update) */
	struct arena step_arena;
	struct arena decode_arena; /* one command's decoding */
	uint8_t *scratch;          /* an entry being proposed */
	size_t scratch_cap;
	struct raftlog_entry *conv; /* update entries converted for raftlog_append */
	uint32_t conv_cap;

	/* requests */
	struct pending *slots;
	uint32_t n_slots;
	struct pending *free_list;
	uint64_t id_base, id_counter;
	struct pending *wait_head, *wait_tail;
	struct pending *done_head, *done_tail;
	struct pending *proposing; /* the proposal being stepped (learns its index) */
	struct change_node *chg_head, *chg_tail;
	int depth;

	struct host_stats stats;
};

/* ---- host.c ---- */
void host__enter(struct host *h);
void host__leave(struct host *h); /* at depth 0: run queued callbacks */
struct replica *host__find(const struct host *h, uint64_t id);
void host__activate(struct host *h, struct replica *rep);
void host__replica_fail(struct host *h, struct replica *rep, int err, const char *what);
void host__fatal(struct host *h, int err, const char *what);
/* The turn's work; sync: also group-commit through raftlog_flush. */
void host__turn_work(struct host *h, int sync);

/* ---- host_raft.c ---- */
void host__raft_setup(struct host *h, struct raft_multi_config *mc);
int host__raft_start(struct host *h, struct replica *rep) WUR;
void host__raft_stop(struct host *h, struct replica *rep);
void host__on_durable(void *ctx, const struct raftlog_durable *d);
void host__on_fatal(void *ctx, int err, const char *what);
/* Submit backlogged mutations and report durable seqs; returns 1 if anything moved. */
int host__persist_progress(struct host *h, struct replica *rep);
int host__needs_turn(const struct replica *rep);
void host__set_floor(struct host *h, struct replica *rep);
void host__snapshot_take(struct host *h, struct replica *rep);
void host__backlog_free(struct replica *rep);

/* ---- host_pending.c ---- */
int host__pending_init(struct host *h) WUR;
void host__pending_deinit(struct host *h);
/* A waiting proposal of rep with this id, or NULL. */
struct pending *host__proposal_match(struct host *h, struct replica *rep, uint64_t id);
void host__proposal_applied(struct host *h, struct pending *p, uint64_t index,
			    const struct replica_applied *res);
/* Fail rep's proposals whose known index is <= index and that were not applied: status. */
void host__proposals_settle(struct host *h, struct replica *rep, uint64_t index, int status);
void host__read_state(struct host *h, struct replica *rep, const struct raft_read_state *rs);
void host__reads_serve(struct host *h, struct replica *rep);
void host__fail_replica(struct host *h, struct replica *rep, int status);
void host__fail_all(struct host *h, int status);
void host__expire(struct host *h);
void host__queue_change(struct host *h, const struct catalog_change *ch);
void host__drain(struct host *h);
void host__drop_callbacks(struct host *h); /* host_crash: forget them */
void host__drop_changes(struct host *h);

#endif
