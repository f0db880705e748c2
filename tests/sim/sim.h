/*
 * sim.h — the deterministic whole-cluster simulator for the Raft core (tests/sim).
 *
 * One seed drives N nodes x G groups: every node runs a struct raft_multi with one struct raft per
 * group; frames travel through a simulated network (drop, delay, reorder, duplicate, corrupt,
 * partitions, asymmetric links); each node has a simulated disk with fsync latency where a crash
 * keeps what was synced plus a random prefix of later writes, the last one possibly torn (the
 * semantics of core/io_fs_sim.h, modelled here at the level of Raft's persist updates); nodes
 * crash and restart, pause (and then see a clock jump), and a client workload of puts and
 * linearizable reads (ReadIndex, on leaders and followers) runs against a small KV per group while
 * membership changes and leader transfers happen.
 *
 * Everything random comes from one struct prng seeded by the run's seed; events with equal times
 * run in the order they were scheduled. So `sim --seed S` replays a run exactly.
 *
 * Checkers (sim_check.c) run at every relevant step: election safety, log matching, leader
 * completeness, state-machine safety, acknowledged writes never lost; at the end: liveness after
 * faults stop, and linearizability of each key's history (Wing & Gong / Lowe search).
 */
#ifndef SIM_SIM_H
#define SIM_SIM_H

#include "raft/raft.h"
#include "raft/raft_impl.h"
#include "raft/raft_multi.h"

#include "core/prng.h"

#include <stddef.h>
#include <stdint.h>

#define SIM_NODES_MAX 7
#define SIM_GROUPS_MAX 4
#define SIM_KEYS 4
#define SIM_CLIENTS 3           /* per group */
#define SIM_TICK_NS 10000000ULL /* one Raft tick = 10 ms of simulated time */
#define SIM_MS 1000000ULL
#define SIM_SEC 1000000000ULL

/* ---- run parameters (chosen from the seed, printed at start) ------------------------------- */

struct sim_params {
	uint64_t seed;
	uint32_t nodes;
	uint32_t groups;
	uint32_t voters0;     /* initial voters per group: nodes 1..voters0 */
	uint64_t chaos_ns;    /* faults happen during [0, chaos_ns) */
	uint64_t liveness_ns; /* after faults stop, every group must elect and commit within this */
	uint32_t drop_permille;
	uint32_t dup_permille;
	uint32_t corrupt_permille;
	uint64_t delay_min_ns;
	uint64_t delay_max_ns;
	uint64_t fsync_min_ns;
	uint64_t fsync_max_ns;
	uint64_t fault_every_ns; /* mean time between chaos actions */
	uint32_t snapshot_every; /* applied entries between snapshots */
	uint32_t chunk_bytes;    /* snapshot chunk size (small, so transfers take several chunks) */
	uint32_t cache_entries;
	uint32_t msg_bytes_max; /* small values cut MsgApps into single entries: partial acks */
	uint32_t isolate_leader_permille; /* chance a new leader is cut off right after winning */
	uint32_t mem_fail_permille;       /* payload allocations that fail (pool exhausted) */
	uint32_t storage_again_permille;  /* log reads that answer ERR_AGAIN (not in memory yet) */
	int quiesce;
	int batch_appends; /* leaders send appends only at the end of a node's turn */
	int verbose;
};

/* ---- disk -------------------------------------------------------------------------------- */

struct sim_entry {
	uint64_t term;
	uint8_t type;
	uint32_t len;
	uint8_t *data;
};

/* One group's storage on one node: what the log ops see (cur) or what survives a crash (dur). */
struct sim_store {
	struct raft_hard_state hs;
	struct raft_snapshot_meta snap;
	uint8_t *snap_data;
	uint32_t snap_len;
	struct raft_snapshot_meta staging;
	uint8_t *staging_data;
	uint32_t staging_len;
	uint64_t first;     /* index of ents[0] */
	uint64_t prev_term; /* term of entry first - 1 */
	struct sim_entry *ents;
	uint64_t n; /* entries [first, first + n) */
	uint64_t cap;
};

/* One persist update, copied (the core's pointers die at the next step). Parts, in order:
 * compaction, hard state, truncation, each entry, the chunk, the install. */
struct sim_write {
	uint32_t group;
	uint64_t seq;
	uint64_t compact_to;
	int has_hs;
	struct raft_hard_state hs;
	uint64_t truncate_from;
	uint64_t first_index; /* of ents[0] */
	struct sim_entry *ents;
	uint32_t n_ents;
	int has_chunk;
	struct raft_snapshot_meta chunk_meta;
	uint64_t chunk_offset;
	uint8_t *chunk_data;
	uint32_t chunk_len;
	int install;
	struct raft_snapshot_meta install_meta;
};

void sim_store_init(struct sim_store *s, const struct raft_conf *bootstrap);
void sim_store_free(struct sim_store *s);
void sim_store_copy(struct sim_store *dst, const struct sim_store *src);
uint64_t sim_store_last(const struct sim_store *s);
uint64_t sim_store_term(const struct sim_store *s, uint64_t index, int *ok);
/* Apply the first `parts` parts of w (all if parts == UINT32_MAX); a torn chunk keeps
 * torn_bytes of its data. */
void sim_store_apply(struct sim_store *s, const struct sim_write *w, uint32_t parts,
                     uint32_t torn_bytes);
uint32_t sim_write_parts(const struct sim_write *w);
void sim_write_free(struct sim_write *w);
/* The core's view of the log (ctx = struct sim_group_state). */
extern const struct raft_log_ops sim_log_ops_template;

/* ---- nodes and groups ------------------------------------------------------------------------ */

struct sim_kv {
	uint64_t applied;
	uint64_t values[SIM_KEYS];
	uint64_t sessions[SIM_CLIENTS]; /* last op seq applied per client (exactly-once puts) */
};

#define SIM_KV_BYTES (8 * (1 + SIM_KEYS + SIM_CLIENTS))

struct sim_pending_read {
	uint64_t op;    /* client op id (the read ctx) */
	uint64_t index; /* 0 until the read state arrived */
};

struct sim_node;

struct sim_group_state {
	struct sim_node *node;
	uint32_t group;
	struct raft r;
	struct sim_store cur;
	struct sim_store dur;
	struct sim_kv kv;
	uint64_t last_snap_applied;
	struct sim_pending_read reads[64];
	uint32_t n_reads;
	uint64_t last_commit_seen; /* for monotonicity checks within one incarnation */
	uint64_t last_term_seen;
	int want_flush; /* batch_appends: step RAFT_EVENT_FLUSH in sim_node_after */
};

struct sim_node {
	struct sim *sim;
	uint32_t id; /* 1-based */
	int up;
	int paused;
	uint64_t incarnation;
	uint32_t missed_ticks; /* ticks that fell into a pause: delivered at once on resume */
	struct raft_multi multi;
	struct sim_group_state groups[SIM_GROUPS_MAX];
	/* writes since the last completed fsync, in order; [0, fsync_covers) are being synced */
	struct sim_write **pending;
	uint32_t n_pending;
	uint32_t cap_pending;
	uint32_t fsync_covers;
	int fsync_inflight;
	/* deferred work (cannot re-enter raft_multi_step from on_update) */
	struct sim_deferred {
		uint32_t group;
		uint64_t persisted_seq; /* unused */
		uint64_t snap_index;
		uint64_t snap_size;
		struct raft_conf snap_conf;
	} deferred[SIM_GROUPS_MAX * 4];
	uint32_t n_deferred;
	/* held frames while paused */
	struct sim_frame **inbox;
	uint32_t n_inbox;
	uint32_t cap_inbox;
};

struct sim_frame {
	uint32_t from;
	uint32_t to;
	size_t len;
	uint8_t bytes[];
};

/* ---- clients and history -----------------------------------------------------------------------
 */

enum sim_op_kind { SIM_OP_PUT = 1, SIM_OP_GET = 2 };

struct sim_hist_op {
	uint8_t kind;
	uint64_t value;    /* put: value written; get: value read */
	uint64_t invoke;   /* ns */
	uint64_t response; /* ns, UINT64_MAX if the outcome is unknown (put timed out) */
};

struct sim_history {
	struct sim_hist_op *ops;
	uint32_t n;
	uint32_t cap;
};

struct sim_client {
	uint32_t group;
	uint32_t idx;
	uint64_t seq; /* op sequence (session) */
	int waiting;
	uint64_t op_id; /* unique across the run (read ctx / put identity) */
	uint8_t kind;
	uint32_t key;
	uint64_t value;
	uint32_t node; /* node the request went to */
	uint64_t invoke;
	uint64_t deadline;
	uint64_t acks;
};

/* ---- checker state ------------------------------------------------------------------------ */

struct sim_variant {
	uint64_t term;
	uint64_t hash;
	uint64_t prev_term; /* 0 = unknown */
};

struct sim_index_info {
	struct sim_variant *v; /* entries ever persisted at this index (log matching) */
	uint32_t n;
	uint64_t applied_term; /* state machine safety: what was applied here (0 = nothing yet) */
	uint64_t applied_hash;
	uint64_t state_hash; /* the KV after applying this index (first node to get there) */
};

struct sim_group_check {
	struct sim_index_info *idx;
	uint64_t cap;
	uint64_t max_applied;
	uint64_t *leader_of_term; /* term -> node id (0 none) */
	uint64_t terms_cap;
	uint64_t elections;
	uint64_t commit_at_heal;
	uint64_t acks_after_heal;
	int leader_after_heal;
	struct sim_history hist[SIM_KEYS];
};

/* ---- the simulation ----------------------------------------------------------------------------
 */

struct sim_event;

struct sim {
	struct sim_params p;
	struct prng prng;
	uint64_t now;
	uint64_t next_seq;
	struct sim_event **heap;
	uint32_t n_heap;
	uint32_t cap_heap;
	struct sim_node nodes[SIM_NODES_MAX + 1]; /* 1-based */
	struct sim_client clients[SIM_GROUPS_MAX][SIM_CLIENTS];
	struct sim_group_check check[SIM_GROUPS_MAX];
	uint8_t link_down[SIM_NODES_MAX + 1][SIM_NODES_MAX + 1]; /* from -> to */
	uint64_t next_op_id;
	uint64_t next_incarnation;
	int healed;
	uint64_t heal_time;
	int failed;
	char failure[512];
	/* counters */
	uint64_t steps;
	uint64_t frames;
	uint64_t crashes;
	uint64_t conf_changes;
	uint64_t transfers;
	uint64_t snapshots_installed;
	uint64_t puts_acked;
	uint64_t gets_ok;
	uint64_t ops_timed_out;
	uint64_t quiesced_ticks; /* sum over node ticks of groups quiesced on that node */
	uint64_t mem_failures;
	uint64_t storage_agains;
	int in_init; /* allocation faults are off while a node starts */
};

/* The run in progress (the simulator is single-threaded; allocator callbacks need it). */
extern struct sim *sim_current;

/* sim_main.c */
void sim_fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_schedule_deliver(struct sim *s, uint32_t from, uint32_t to, const uint8_t *bytes,
                          size_t len);
void sim_schedule_fsync(struct sim *s, struct sim_node *n);
void sim_new_leader(struct sim *s, struct sim_node *n);

/* sim_node.c */
void sim_node_start(struct sim *s, struct sim_node *n);
void sim_node_crash(struct sim *s, struct sim_node *n);
void sim_node_tick(struct sim *s, struct sim_node *n);
void sim_node_receive(struct sim *s, struct sim_node *n, const uint8_t *bytes, size_t len);
void sim_node_fsync_done(struct sim *s, struct sim_node *n);
void sim_node_after(struct sim *s, struct sim_node *n); /* deferred work + flush frames */
int sim_node_step(struct sim *s, struct sim_node *n, uint32_t group, const struct raft_event *ev);
struct sim_group_state *sim_leader_of(struct sim *s, uint32_t group);
void sim_client_issue(struct sim *s, struct sim_client *c);
void sim_client_timeout(struct sim *s, struct sim_client *c, uint64_t op_id);
void sim_node_free(struct sim_node *n);

/* sim_check.c */
void sim_check_init(struct sim *s);
void sim_check_free(struct sim *s);
void sim_check_persist(struct sim *s, struct sim_group_state *g, const struct raft_update *u);
void sim_check_apply(struct sim *s, struct sim_group_state *g, const struct raft_entry *e);
void sim_check_leader(struct sim *s, struct sim_group_state *g, uint64_t term);
void sim_check_node(struct sim *s, struct sim_group_state *g);
void sim_check_commit(struct sim *s, struct sim_group_state *g, uint64_t n);
/* The state machine after `index` (applied or installed) equals what every other node had there. */
void sim_check_state(struct sim *s, struct sim_group_state *g, uint64_t index, uint64_t hash,
                     int installed);
void sim_history_add(struct sim *s, uint32_t group, uint32_t key, const struct sim_hist_op *op);
int sim_check_linearizable(struct sim *s, uint32_t group, uint32_t key);
uint64_t sim_entry_hash(const struct raft_entry *e);

#endif
