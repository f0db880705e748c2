/*
 * rb.h — regatta-bench, the load generator: what its parts share.
 *
 * Parts: opts.c (command line, config), wire.c (requests for regatta.v1.KV and etcd's
 * etcdserverpb.KV, response checks), worker.c (one thread = one reactor with its own
 * connections and clients), report.c (text and JSON), hist.c (latency histograms), main.c.
 *
 * Model: N clients spread over M connections spread over T worker threads (thread-per-core:
 * each thread runs its own reactor, shares nothing with the others while running, and hands
 * its counters to main only after it stopped). Each client keeps at most one request in flight.
 * Closed loop (default): a client sends its next request when the previous one completes.
 * Open loop (--rate R): requests are due on a fixed schedule (R/s in total); a due request
 * waits for an idle client and its latency counts from the time it was due (so a slow server
 * cannot hide its queueing: no coordinated omission).
 *
 * Every run is bounded: a total count and/or a duration, and always --max-seconds.
 * Every call ends in exactly one on_done with a gRPC status, so ok + errors == issued.
 */
#ifndef BENCH_RB_H
#define BENCH_RB_H

#include "hist.h"

#include "core/err.h"
#include "net/grpc_status.h"

#include <stddef.h>
#include <stdint.h>

#define RB_ENDPOINTS_MAX 16
#define RB_THREADS_MAX 64
#define RB_CONNS_MAX 4096
#define RB_CLIENTS_MAX 100000
#define RB_KEY_BYTES_MAX 1024         /* Regatta's key limit */
#define RB_VALUE_BYTES_MAX (1u << 20) /* well under the 2 MiB value and 4 MiB message limits */
#define RB_TABLE_BYTES_MAX 256
#define RB_DURATION_S_MAX 86400.0   /* one day */
#define RB_TOTAL_MAX 10000000000ull /* 1e10 requests */
#define RB_RECONNECTS_MAX 20        /* consecutive failed connects before a connection gives up */
#define RB_ERROR_MESSAGE_BYTES 160  /* first error message kept per status */

enum rb_target { RB_TARGET_REGATTA = 0, RB_TARGET_ETCD = 1 };

enum rb_op { RB_OP_PUT = 0, RB_OP_RANGE, RB_OP_RANGE_LIN, RB_OP_TXN, RB_OP_COUNT };

/* Error slots: the gRPC statuses 1..16, then our own two. */
enum {
	RB_ERR_BAD_RESPONSE =
	    GRPC_STATUS_COUNT, /* status OK but no (or a malformed) response message */
	RB_ERR_CLIENT = GRPC_STATUS_COUNT + 1, /* the call could not be started (local error) */
	RB_ERR_SLOTS = GRPC_STATUS_COUNT + 2,
};

enum rb_txn_compare { RB_TXN_VERSION = 0, RB_TXN_VALUE = 1 };

struct rb_config {
	enum rb_target target;
	char *endpoints[RB_ENDPOINTS_MAX]; /* "host:port" */
	uint32_t n_endpoints;
	const char *table; /* regatta: the table */
	int create_table;  /* regatta: Tables/Create first (ALREADY_EXISTS is fine) */
	const char *token; /* bearer token for Tables/Create */
	uint32_t threads;
	uint32_t conns;
	uint32_t clients;
	int cpus[RB_THREADS_MAX]; /* --cpus: thread i pinned to cpus[i % n_cpus] */
	uint32_t n_cpus;
	uint32_t mix[RB_OP_COUNT]; /* relative weights */
	uint64_t keys;             /* key space size */
	uint32_t key_bytes;
	uint32_t value_bytes;
	const char *key_prefix;
	int sequential;      /* keys in order instead of uniformly random */
	int preload;         /* -1 auto (when reads or txns are in the mix), 0 no, 1 yes */
	uint64_t total;      /* stop after this many requests (0 = no count limit) */
	double duration_s;   /* stop after this long (0 = no time limit) */
	double max_seconds;  /* hard cap on any phase, always set */
	double rate;         /* open loop: requests per second in total (0 = closed loop) */
	uint64_t timeout_ns; /* per-call deadline */
	enum rb_txn_compare txn_compare;
	uint64_t seed;
	int json;
	int quiet;
	const char *label;   /* free text copied into the output (the comparison script) */
	const char *backend; /* io backend name, for the record */
};

/* Per operation kind, per worker (merged into one at the end). */
struct rb_op_stats {
	uint64_t issued;
	uint64_t ok;
	uint64_t errors[RB_ERR_SLOTS];
	uint64_t misses;     /* Range answered OK without the key (it should be preloaded) */
	uint64_t txn_failed; /* Txn answered OK with succeeded = false (compare did not hold) */
	char first_error[RB_ERR_SLOTS][RB_ERROR_MESSAGE_BYTES];
	struct hist hist; /* latency of successful calls */
};

struct rb_result {
	struct rb_op_stats ops[RB_OP_COUNT];
	uint64_t start_ns, end_ns; /* first worker start, last worker end */
	uint64_t behind_schedule;  /* open loop: requests sent >= 1 ms after they were due */
	uint64_t reconnects;
	uint64_t client_cpu_ns; /* this process's user+system CPU during the phase */
	int connect_failed;     /* a connection could not be made at the start */
	int capped;             /* --max-seconds stopped the phase */
	char connect_error[RB_ERROR_MESSAGE_BYTES];
};

/* ---- opts.c ---- */
/* Parse argv. Returns 0, 1 when usage was printed (--help), or ERR_INVAL after printing why. */
int rb_opts_parse(int argc, char **argv, struct rb_config *cfg) WUR;
void rb_opts_free(struct rb_config *cfg);
const char *rb_op_name(enum rb_op op);
/* Does the workload read or compare keys (then the key space is preloaded by default)? */
int rb_mix_needs_keys(const struct rb_config *cfg);

/* ---- wire.c ---- */
/* gRPC path of an operation for the target. */
const char *rb_wire_path(enum rb_target t, enum rb_op op);
/* Largest request a config produces (buffer size). */
size_t rb_wire_request_max(const struct rb_config *cfg);
/* Encode one request into buf (cap from rb_wire_request_max). Returns 0 and *len, or ERR_*. */
int rb_wire_encode(const struct rb_config *cfg, enum rb_op op, const uint8_t *key, size_t key_len,
                   const uint8_t *value, size_t value_len, uint8_t *buf, size_t cap,
                   size_t *len) WUR;
/* Check a successful response: 0 when well-formed (*found: a Range returned a pair; *succeeded:
 * a Txn's compares held), ERR_PROTO when the bytes are not a valid message of that shape. */
int rb_wire_check_response(enum rb_target t, enum rb_op op, const uint8_t *msg, size_t len,
                           int *found, int *succeeded) WUR;
/* Make a key: prefix + the index in decimal, zero-padded to key_bytes. ERR_TOOBIG when the
 * index does not fit. */
int rb_key_format(const struct rb_config *cfg, uint64_t index, uint8_t *out, size_t *len) WUR;
/* Tables/Create over a blocking connection to the first endpoint; prints what happened.
 * 0 (created or already there) or ERR_*. */
int rb_wire_create_table(const struct rb_config *cfg) WUR;

/* ---- worker.c ---- */
/* One phase: start cfg->threads workers, connect, run the workload, stop, merge into *res. */
int rb_run_phase(const struct rb_config *cfg, struct rb_result *res) WUR;

/* ---- report.c ---- */
/* Phase results as text (the preload only without --quiet; NULL phases are skipped). */
void rb_report_text(const struct rb_config *cfg, const struct rb_result *preload,
                    const struct rb_result *res);
/* One JSON document on stdout. 0 or ERR_NOMEM. */
int rb_report_json(const struct rb_config *cfg, const struct rb_result *preload,
                   const struct rb_result *res) WUR;
void rb_report_config(const struct rb_config *cfg);
const char *rb_err_slot_name(int slot);
const char *rb_commit(void);

#endif
