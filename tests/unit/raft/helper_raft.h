/*
 * helper_raft.h — a tiny in-memory cluster for unit tests of the Raft core (trace tests).
 *
 * Each node owns a struct raft, an in-memory store (hard state, log, snapshot) and the update
 * arrays. Messages from every step are deep-copied into one FIFO queue; tests deliver them (all,
 * or one by one, or drop them), tick nodes, and report persistence explicitly or automatically.
 * Nothing here is random: each test is one exact trace.
 */
#ifndef TESTS_UNIT_RAFT_HELPER_RAFT_H
#define TESTS_UNIT_RAFT_HELPER_RAFT_H

#include "raft/raft.h"
#include "raft/raft_impl.h"

#include <stdint.h>

#define TH_MAX 5
#define TH_LOG_MAX 1024
#define TH_DATA_MAX 200
#define TH_APPLIED_MAX 1024
#define TH_QUEUE_MAX 4096

struct th_entry {
	uint64_t term;
	uint8_t type;
	uint32_t len;
	uint8_t data[TH_DATA_MAX];
};

struct th_store {
	struct raft_hard_state hs;
	struct raft_snapshot_meta snap;
	uint8_t snap_data[256];
	uint32_t snap_len;
	uint8_t staging[256];
	uint32_t staging_len;
	uint64_t first; /* index of log[0] */
	uint64_t prev_term;
	struct th_entry log[TH_LOG_MAX];
	uint64_t n;
};

struct th_msg {
	struct raft_message m;
	struct raft_entry ents[LIMIT_RAFT_MSG_ENTRIES_MAX];
	uint8_t *buf; /* entry payloads and chunk data */
};

struct th_node {
	uint64_t id;
	int up;
	struct raft r;
	struct th_store st;
	int auto_persist;
	int hold_flush;  /* batch_appends: 1 = the test steps RAFT_EVENT_FLUSH itself */
	int want_flush;  /* an update asked for a FLUSH that has not been stepped yet */
	uint64_t seq_handed;
	struct raft_update u;
	struct raft_message msgs[256];
	struct raft_entry ents[1024];
	struct raft_read_state reads[64];
	/* what the node did */
	uint64_t applied[TH_APPLIED_MAX]; /* indexes applied, in order */
	uint64_t applied_term[TH_APPLIED_MAX];
	uint8_t applied_type[TH_APPLIED_MAX];
	uint32_t n_applied;
	struct raft_read_state read_states[64];
	uint32_t n_read_states;
	uint64_t proposed_index;
	uint64_t compact_to;
	uint32_t installs;
};

struct th_cluster {
	struct th_node nodes[TH_MAX + 1]; /* 1-based */
	uint32_t n;
	struct th_msg *queue[TH_QUEUE_MAX];
	uint32_t n_queue;
	int cut[TH_MAX + 1][TH_MAX + 1]; /* from -> to dropped */
	uint64_t seed;
};

/* n nodes; nodes 1..voters are the bootstrap voters, the rest start with that conf but not in it.
 */
void th_init(struct th_cluster *c, uint32_t n, uint32_t voters);
/* Same, with a hook to adjust each node's config before raft_init. */
void th_init_cfg(struct th_cluster *c, uint32_t n, uint32_t voters,
                 void (*adjust)(struct raft_config *cfg, uint64_t id));
void th_free(struct th_cluster *c);

int th_step(struct th_cluster *c, uint64_t id, const struct raft_event *ev);
void th_tick(struct th_cluster *c, uint64_t id, uint32_t ticks);
/* The end of a node's turn: step RAFT_EVENT_FLUSH if an update asked for it (batch_appends).
 * th_step and th_persist do this themselves unless the node's hold_flush is set. */
void th_flush(struct th_cluster *c, uint64_t id);
/* Report every handed-out persist seq of this node as durable. */
void th_persist(struct th_cluster *c, uint64_t id);
void th_auto_persist(struct th_cluster *c, int on);
int th_propose(struct th_cluster *c, uint64_t id, const char *text);
int th_read(struct th_cluster *c, uint64_t id, uint64_t ctx);

/* Deliver queued messages (and what they cause) until the queue is empty or max_rounds. */
uint32_t th_deliver(struct th_cluster *c);
/* Deliver the oldest queued message matching (from, to, type); 0 = any. Returns 1 if one went. */
int th_deliver_one(struct th_cluster *c, uint64_t from, uint64_t to, uint8_t type);
/* Drop all queued messages (optionally only those to `to`; 0 = all). */
void th_drop(struct th_cluster *c, uint64_t to);
uint32_t th_count(const struct th_cluster *c, uint64_t from, uint64_t to, uint8_t type);
const struct raft_message *th_find(const struct th_cluster *c, uint64_t from, uint64_t to,
                                   uint8_t type);

/* Campaign on id and deliver (auto persist on) until it leads; returns 1 on success. */
int th_elect(struct th_cluster *c, uint64_t id);
/* Campaign on id (no transfer) and deliver everything; returns 1 if it leads. */
int th_campaign(struct th_cluster *c, uint64_t id);
/* Cut (or restore) every link to and from id. */
void th_isolate(struct th_cluster *c, uint64_t id, int cut);
/* Crash a node: volatile state lost, the store keeps what was reported persisted... the harness
 * persists synchronously, so the store keeps everything handed out. Then restart it. */
void th_restart(struct th_cluster *c, uint64_t id);

/* The node checkpoints its state machine at its applied index: the store gets the snapshot (data
 * bytes given), and the core hears RAFT_EVENT_SNAPSHOT_TAKEN. Returns the step's result. */
int th_take_snapshot(struct th_cluster *c, uint64_t id, const char *data);

struct raft_status th_status(const struct th_cluster *c, uint64_t id);

#endif
