/*
 * raft_multi.h — many Raft groups on one core, talking to other nodes in batched frames.
 *
 * One struct raft_multi per core. It owns no group (the caller embeds each struct raft in its
 * table object and registers it) and does no I/O: frames to send come out through a callback,
 * frames received are fed in, and every group update is handed to the caller (persist, apply,
 * reads, leadership) after its messages were encoded into the per-node outgoing frame.
 *
 * Heartbeat coalescing, so that 1,000 idle groups cost about what one does:
 *   1. Batching: everything for one destination node in one reactor turn goes into one frame;
 *      heartbeats and their replies are compact HB records (~10-20 bytes per group).
 *   2. Quiescence: a leader whose group is idle (every member caught up and knows the commit
 *      index, nothing pending) sends one last heartbeat flagged QUIESCE and stops heartbeating;
 *      followers that agree stop their election timers. An idle group then costs nothing.
 *   3. Node liveness: every frame starts with a NODE record (the sender's incarnation), and each
 *      core sends a NODE record to each peer node every heartbeat interval when nothing else went
 *      there. A peer node silent for an election timeout, or one whose incarnation changed
 *      (restart), wakes the local groups it led (they resume election timers and elect anew) and
 *      the local leaders it follows (they resume heartbeats so it catches up). Any message for a
 *      quiesced group also wakes it.
 * Safety never depends on quiescence (a quiesced follower still checks terms and logs); only
 * liveness does, and the simulator checks liveness with quiescence on.
 *
 * Threading: one core; no locking.
 */
#ifndef RAFT_RAFT_MULTI_H
#define RAFT_RAFT_MULTI_H

#include "raft/raft.h"
#include "raft/raft_codec.h"

#include <stddef.h>
#include <stdint.h>

struct raft_multi_config {
	uint64_t node_id;
	uint64_t incarnation;     /* different on every process start (e.g. boot time + random) */
	uint32_t heartbeat_ticks; /* node-level heartbeat interval (same ticks as the groups) */
	uint32_t election_ticks;  /* a node silent this long is considered down */
	uint32_t groups_max;      /* <= LIMIT_RAFT_GROUPS_PER_CORE */
	size_t frame_bytes; /* outgoing frame buffer per peer node (<= LIMIT_RAFT_FRAME_BYTES);
	                     * must hold the largest entry the groups carry plus ~1 KiB, or
	                     * messages with it are dropped (counted in stats.msgs_dropped) */
	uint32_t msgs_cap;  /* update arrays (see raft_update_init) */
	uint32_t ents_cap;
	uint32_t reads_cap;
	struct raft_mem mem; /* for the tables, update arrays, decode arrays and frame buffers */
	void *ctx;
	/* A finished frame for to_node; copy or send it before returning. */
	void (*send_frame)(void *ctx, uint64_t to_node, const uint8_t *frame, size_t len);
	/* One group's update, messages already encoded. The caller persists (then steps
	 * RAFT_EVENT_PERSISTED), applies, serves reads and notes leadership before returning or
	 * copies what it needs: pointers die at the next step. */
	void (*on_update)(void *ctx, void *group_user, struct raft *r, const struct raft_update *u);
};

void raft_multi_config_defaults(struct raft_multi_config *cfg);

struct raft_multi_group {
	uint64_t group_id; /* 0: empty slot */
	struct raft *r;
	void *user;
};

struct raft_multi_node {
	uint64_t id;
	uint64_t incarnation; /* last seen (0: never) */
	uint32_t silent_ticks;
	int alive;
	int sent_this_interval;
	uint8_t *buf; /* frame_bytes, allocated on first use */
	struct raft_frame_writer w;
};

struct raft_multi_stats {
	uint64_t frames_sent;
	uint64_t bytes_sent;
	uint64_t frames_received;
	uint64_t frames_bad;
	uint64_t msgs_sent;
	uint64_t msgs_received;
	uint64_t msgs_unknown_group;
	uint64_t msgs_dropped; /* no node slot / message larger than a frame */
	uint64_t node_heartbeats_sent;
	uint64_t wakes;
};

struct raft_multi {
	struct raft_multi_config cfg;
	struct raft_multi_group *groups; /* open addressing, linear probing, capacity power of 2 */
	uint32_t groups_cap;
	uint32_t n_groups;
	struct raft_multi_node nodes[LIMIT_RAFT_NODES_MAX];
	uint32_t n_nodes;
	uint32_t hb_elapsed;
	struct raft_update u;
	struct raft_message *dec_msgs; /* LIMIT_RAFT_FRAME_MSGS */
	struct raft_entry *dec_ents;   /* LIMIT_RAFT_FRAME_ENTRIES */
	int stepping;                  /* re-entrancy guard: on_update must not call back in */
	struct raft_multi_stats stats;
};

int raft_multi_init(struct raft_multi *m, const struct raft_multi_config *cfg) WUR;
void raft_multi_deinit(struct raft_multi *m);

/* Register a group (r initialised with raft_init, same node id). ERR_EXISTS, ERR_NOMEM (full). */
int raft_multi_add(struct raft_multi *m, uint64_t group_id, struct raft *r, void *user) WUR;
/* Forget a group (the caller deinitialises it). ERR_NOTFOUND. */
int raft_multi_remove(struct raft_multi *m, uint64_t group_id) WUR;
struct raft *raft_multi_find(const struct raft_multi *m, uint64_t group_id, void **user);

/* Step one group: raft_step, encode its messages, hand its update to on_update, and repeat with
 * RAFT_EVENT_FLUSH while the update says more (bounded). Returns raft_step's error, or
 * ERR_NOTFOUND for an unknown group. */
int raft_multi_step(struct raft_multi *m, uint64_t group_id, const struct raft_event *ev) WUR;

/* One tick: ticks every group that is not quiesced, tracks node liveness (waking groups whose
 * leader's node went silent or restarted) and queues node heartbeats. */
void raft_multi_tick(struct raft_multi *m);

/* Feed one received frame. Returns 0, or the decode error (the frame is dropped whole). */
int raft_multi_receive(struct raft_multi *m, const uint8_t *frame, size_t len) WUR;

/* Send every pending frame (call once per reactor turn, after persisting). */
void raft_multi_flush(struct raft_multi *m);

/* Counts for metrics and tests. */
uint32_t raft_multi_quiesced(const struct raft_multi *m);

#endif
