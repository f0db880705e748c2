/*
 * helper_cluster.h — an in-process cluster for the engine tests: N nodes, each one struct host
 * (one core) on its own simulated disk, frames passed between them by the test with optional
 * loss, delay (which reorders) and partitions, all driven by a seeded PRNG and a simulated
 * clock. Nodes can be stopped cleanly, crashed (host_crash + io_fs_sim_crash: unsynced writes
 * vanish or tear) and restarted.
 *
 * One cl_step() is one tick: deliver the frames due, host_tick, host_turn on every node that is
 * up. Every wait is bounded in ticks. The seed comes from REGATTA_SEED when set and is printed.
 */
#ifndef TESTS_UNIT_SERVER_HELPER_CLUSTER_H
#define TESTS_UNIT_SERVER_HELPER_CLUSTER_H

#include "core/prng.h"
#include "server/engine/host.h"

#include <stddef.h>
#include <stdint.h>

#define CL_NODES_MAX 5
#define CL_TICK_NS 10000000ull /* 10 ms */

struct cl_frame {
	uint64_t from, to;
	uint64_t due_tick;
	uint64_t seq;
	uint8_t *data;
	size_t len;
};

struct cluster;

struct cl_node {
	struct cluster *c;
	uint64_t id;
	struct io_fs *fs;
	struct host *h;
	struct reactor *r; /* opt.reactors */
	char dir[256];
	uint64_t incarnation;
	uint64_t frames_out; /* frames this node sent (all time) */
	uint64_t bytes_out;
};

struct cl_options {
	uint32_t drop_permille;    /* frames lost */
	uint32_t delay_ticks_max;  /* extra delivery delay 0..max ticks (reorders frames) */
	uint64_t snapshot_log_bytes;
	uint64_t memtable_bytes;
	uint32_t groups_max;
	int auto_tables;           /* catalogue changes create/remove replicas on every node */
	int reactors;              /* real disk under a temp dir, each host attached to a reactor
				    * (REGATTA_IO_BACKEND picks the backend); crashes are process
				    * crashes only (the page cache survives) */
};

struct cluster {
	uint32_t n;
	struct cl_node nodes[CL_NODES_MAX];
	struct cl_options opt;
	uint64_t seed;
	struct prng rng;
	uint64_t tick;
	struct cl_frame *q;
	size_t nq, capq;
	uint64_t seq;
	int cut[CL_NODES_MAX][CL_NODES_MAX]; /* 1: frames from i to j are lost */
	int isolated[CL_NODES_MAX];          /* cl_isolate: left out of leader agreement */
	int may_fail[CL_NODES_MAX];          /* a fault is injected there: a fatal host is expected */
	uint64_t frames_delivered;
	uint64_t snapshots_taken, snapshots_installed; /* of hosts already stopped or crashed */
	char root[128]; /* opt.reactors: the temp directory */
	uint64_t reconciled_creates, reconciled_removes; /* auto_tables: fixed up at start */
};

/* Snapshots taken / installed by all nodes, over all their lives. */
void cl_snapshot_counts(struct cluster *c, uint64_t *taken, uint64_t *installed);

/* The seed to use: REGATTA_SEED or the clock; printed either way. */
uint64_t cl_seed(const char *test);

void cl_init(struct cluster *c, uint32_t n, uint64_t seed, const struct cl_options *o);
void cl_fini(struct cluster *c);

/* Node i (0-based; node id i + 1). */
void cl_start(struct cluster *c, uint32_t i);
void cl_stop(struct cluster *c, uint32_t i);  /* clean shutdown */
void cl_crash(struct cluster *c, uint32_t i); /* power loss */
int cl_up(const struct cluster *c, uint32_t i);
struct host *cl_host(struct cluster *c, uint32_t i);

/* Cut or heal the links between node i and everyone else. */
void cl_isolate(struct cluster *c, uint32_t i, int cut);

void cl_step(struct cluster *c);
void cl_run(struct cluster *c, uint32_t ticks);
uint64_t cl_now_ns(const struct cluster *c);

/* Create a table (or HOST_META_GROUP_ID) on every node that is up, all nodes as voters. */
void cl_create_table(struct cluster *c, uint64_t table);

/* Node index that leads `table` (a leader every up, not isolated node agrees on), or -1. */
int cl_leader(struct cluster *c, uint64_t table);
/* Run until a leader exists (bounded); returns its index or -1. */
int cl_wait_leader(struct cluster *c, uint64_t table, uint32_t max_ticks);

/* Synchronous helpers: propose / read through node i and run the cluster until answered. */
struct cl_result {
	int accepted_rc; /* what host_propose/host_read returned */
	int done;
	int status;
	uint64_t index;
	int64_t revision;
	char value[256];
	size_t value_len;
	int found;
};

int cl_put(struct cluster *c, uint32_t i, uint64_t table, const char *key, const char *val,
	   uint32_t max_ticks, struct cl_result *out);
int cl_get(struct cluster *c, uint32_t i, uint64_t table, const char *key, int linearizable,
	   uint32_t max_ticks, struct cl_result *out);
/* Put retried through any node until acknowledged (bounded); returns 0 when acknowledged. */
int cl_put_retry(struct cluster *c, uint64_t table, const char *key, const char *val, uint32_t max_ticks,
		 struct cl_result *out);

/* A fingerprint of a table's whole contents on node i (keys, values, revisions), and the
 * number of keys. Returns 0 or an error. */
int cl_table_digest(struct cluster *c, uint32_t i, uint64_t table, uint64_t *digest, uint64_t *keys);

/* Run until every up node applied the same index for `table` and the digests match. */
int cl_wait_converged(struct cluster *c, uint64_t table, uint32_t max_ticks);

/* Propose a MetaCommand (create or delete a table by name) through node i. */
int cl_meta_create(struct cluster *c, uint32_t i, const char *name, uint32_t max_ticks, uint64_t *id);
int cl_meta_delete(struct cluster *c, uint32_t i, const char *name, uint32_t max_ticks);

#endif
