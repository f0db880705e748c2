/*
 * rest_metrics.h — what the REST port reports, as plain data: a snapshot of the node gathered
 * from every core (rest_gather.c fills it by walking the cores), the health verdicts computed
 * from it, and its rendering as Prometheus text. Everything here except rest_proc_sample is a
 * pure function of its arguments, so tests build snapshots by hand.
 *
 * Ownership: a snapshot (with its tables array, fixed capacity) is allocated by the core that
 * answers the HTTP request and travels with the walk; exactly one core touches it at a time.
 */
#ifndef SERVER_REST_REST_METRICS_H
#define SERVER_REST_REST_METRICS_H

#include "core/err.h"
#include "core/limits.h"
#include "core/reactor.h"
#include "net/buf.h"
#include "server/engine/host.h"
#include "storage/raftlog.h"

#include <stddef.h>
#include <stdint.h>

/* One core's view, filled on that core. */
struct rest_core_sample {
	int answered;  /* the walk ran on this core */
	int stopping;  /* its shutdown began (or it closed) */
	int engine;    /* it has an open engine: host and log stats are valid */
	struct host_stats host;
	struct raftlog_stats log;
	struct reactor_stats reactor;
	const char *backend; /* reactor backend name (static string) */
	uint64_t api_conns, raft_conns;
	uint32_t peers, peers_connected; /* Raft transport streams to other nodes */
	uint64_t peer_frames_sent, peer_frames_dropped;
};

/* One replica hosted on this node (a table or the metadata group). */
struct rest_table_sample {
	struct host_table_status st;
	int core;
};

/* The process, from /proc (rest_proc_sample). */
struct rest_proc {
	int ok;                     /* the values below were read */
	double cpu_seconds;         /* user + system */
	double start_time_seconds;  /* since the Unix epoch */
	uint64_t resident_bytes, virtual_bytes;
	uint64_t open_fds, max_fds;
};

/* The REST server's own counters (core 0). */
enum {
	REST_CODE_200, REST_CODE_400, REST_CODE_404, REST_CODE_405, REST_CODE_413, REST_CODE_414,
	REST_CODE_431, REST_CODE_500, REST_CODE_503, REST_CODE_505, REST_CODE_OTHER, REST_CODES
};
struct rest_self_stats {
	uint64_t requests[REST_CODES];
	uint64_t conns, conns_accepted, conns_refused;
};
int rest_code_slot(int status);
int rest_code_of_slot(int slot); /* 0 for REST_CODE_OTHER */

struct rest_snapshot {
	uint64_t node_id;
	int cores;
	uint32_t voters;   /* members of the cluster (this node included) */
	int node_stopping; /* a shutdown began on the answering core / the node failed */
	struct rest_core_sample core[LIMIT_CORES_MAX];
	int meta_seen;     /* core 0 hosts the metadata group and reported it */
	struct host_table_status meta;
	/* tables: filled only when asked (metrics, readyz); cap fixed at allocation */
	struct rest_table_sample *tables;
	size_t n_tables, cap_tables;
	uint64_t tables_missed; /* replicas that did not fit (the catalogue grew meanwhile) */
	struct rest_proc proc;
	struct rest_self_stats self;
};

/* A table's name by id (the answering core's catalogue copy), sorted by id for lookups. */
struct rest_name {
	uint64_t id;
	const char *name;
};
const char *rest_name_find(const struct rest_name *names, size_t n, uint64_t id);
void rest_names_sort(struct rest_name *names, size_t n);
/* Sort the snapshot's replicas by table id (rest_ready and the rendering expect it). */
void rest_snapshot_sort(struct rest_snapshot *s);

/*
 * Health verdicts. /healthz: every core answered and runs (no shutdown, no failed engine), the
 * metadata group has a leader, and core 0 (the metadata group's) has live Raft transport
 * streams to enough peers for a majority: Raft's own view can lag (a quiesced leader whose
 * followers died keeps its role until something wakes it), a dead peer's stream closes at once. /readyz additionally: every table of the catalogue (names)
 * has a replica here, every replica knows its leader and none failed. names and s->tables are
 * sorted by id (rest_names_sort, rest_snapshot_sort). Returns 200 or 503 and writes a one-line
 * reason ("ok" for 200).
 */
int rest_health(const struct rest_snapshot *s, char *reason, size_t cap);
int rest_ready(const struct rest_snapshot *s, const struct rest_name *names, size_t n_names, char *reason,
	       size_t cap);

/* The /metrics body (Prometheus text 0.0.4). Replicas whose id has no name (a table being
 * created or removed) are left out. 0, ERR_NOMEM, ERR_TOOBIG (LIMIT_REST_RESPONSE_BYTES). */
int rest_metrics_render(const struct rest_snapshot *s, const struct rest_name *names, size_t n_names,
			const char *version, struct net_buf *out) WUR;

/* Read this process's numbers from /proc (small synchronous reads of kernel memory, fine on a
 * core thread). Returns 0 or ERR_IO (out->ok stays 0). */
int rest_proc_sample(struct rest_proc *out) WUR;

#endif
