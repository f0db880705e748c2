/*
 * replica.h — one replicated table on one node: a Raft group (struct raft, embedded) and its
 * state machine (a kv_store for a table, the catalogue for the metadata group), with the files
 * that make it restartable. Internal to server/engine; the host drives it (host_int.h).
 *
 * Files in the replica's directory (storage/FORMAT.md, "Replica metadata"):
 *   REPLICA        core, group, flags, live data generation, latest snapshot (index, term,
 *                  size, membership); written atomically (tmp + rename + directory fsync). It
 *                  is the commit point of creation, snapshots and installs.
 *   data-<gen>/    the state machine's LSM tree. An install unpacks the archive into
 *                  data-<gen+1>/ and hard-links/copies it into snap-<index>/, then rewrites
 *                  REPLICA: a crash before that keeps the old state (the new directories are
 *                  leftovers), after it the new one. No directory is ever renamed.
 *   snap-<index>/  checkpoint of the latest snapshot (hard links), served to peers.
 *   recv.tmp       an incoming snapshot archive being staged.
 * Anything else found at open (older data-*, snap-*, recv.tmp) is a crash leftover and is
 * removed.
 *
 * Invariants: state applied index >= meta.snap.index; the snapshot directory named by the meta
 * exists whenever meta.snap.index > 0; applied entries are exactly those the Raft core handed
 * out, in order, with no gap (replica_apply_* asserts index == applied + 1).
 */
#ifndef SERVER_ENGINE_REPLICA_H
#define SERVER_ENGINE_REPLICA_H

#include "core/arena.h"
#include "core/err.h"
#include "core/io_fs.h"
#include "core/limits.h"
#include "raft/raft_impl.h"
#include "server/kv/kv_store.h"
#include "server/meta/catalog.h"
#include "storage/lsm.h"

#include <stdint.h>

struct host;
struct pending;
struct persist_job;
struct snap_source;

#define REPLICA_META_MAGIC 0x434C5052u /* "RPLC" */
#define REPLICA_META_VERSION 1
#define REPLICA_META_F_META_GROUP 1u

struct replica_meta {
	uint32_t core_id;
	uint32_t data_gen;
	uint32_t flags;
	uint64_t group_id;
	struct raft_snapshot_meta snap; /* index 0: no snapshot yet; conf = the bootstrap members */
};

/* A persisted update waiting for its Raft log records to become durable. */
struct replica_inflight {
	uint64_t seq;     /* Raft's persist_seq */
	uint64_t log_seq; /* the group's raftlog mutation count once the update was submitted */
};

struct replica {
	struct raft raft; /* first: the largest member, embedded (raft/raft_impl.h) */
	struct host *host;
	struct io_fs *fs;
	uint64_t id;
	int is_meta;
	char dir[LIMIT_PATH_BYTES];
	struct replica_meta meta;
	struct kv_store *kv;
	struct catalog *cat;
	int raft_live; /* raft_init done and registered with the core's raft_multi */
	int error;     /* sticky: the replica stopped (state machine or disk failure) */
	uint64_t applied;
	uint64_t log_bytes;      /* entry bytes applied since the last snapshot */
	uint64_t external_floor; /* host_set_external_floor */
	uint64_t floor_set;      /* last floor given to the Raft log (entries <= it may go) */

	/* persistence (host_raft.c) */
	struct replica_inflight inflight[LIMIT_RAFT_PERSIST_PENDING];
	uint64_t durable_seq; /* the group's durable raftlog mutation count (on_durable) */
	uint32_t inflight_start, inflight_n;
	struct persist_job *backlog_head, *backlog_tail;

	/* requests waiting here (host_pending.c) */
	struct pending *props; /* proposals, oldest first */
	struct pending *reads;

	/* snapshots */
	struct snap_source *src; /* serves meta.snap (NULL if none) */
	struct io_file *stage;   /* recv.tmp while chunks arrive */

	/* turn work (host.c) */
	int in_active;
	int want_snapshot;
	int need_flush;
};

/* ---- files --------------------------------------------------------------------------------- */

int replica_meta_read(struct io_fs *fs, const char *dir, struct replica_meta *out) WUR;
int replica_meta_write(struct io_fs *fs, const char *dir, const struct replica_meta *m) WUR;
/* Encoded form, for tests and the fuzz target: returns the length written into buf. */
#define REPLICA_META_BYTES_MAX (64 + RAFT_CONF_ENCODED_MAX)
size_t replica_meta_encode(const struct replica_meta *m, uint8_t *buf);
int replica_meta_decode(const uint8_t *buf, size_t len, struct replica_meta *out) WUR;

int replica_path(const struct replica *rep, char *out, size_t cap, const char *fmt, ...) WUR
	__attribute__((format(printf, 4, 5)));

/* Remove crash leftovers (see the header comment). */
int replica_cleanup(struct replica *rep) WUR;

/* ---- state machine ------------------------------------------------------------------------ */

int replica_sm_open(struct replica *rep, const struct lsm_options *o) WUR;
/* flush: 1 for a clean close, 0 as after a crash or before deleting. */
int replica_sm_close(struct replica *rep, int flush);
struct lsm_tree *replica_sm_tree(struct replica *rep);
uint64_t replica_sm_applied(const struct replica *rep);
int64_t replica_sm_revision(const struct replica *rep);

/* What applying one normal entry produced. */
struct replica_applied {
	int status;         /* 0, or the deterministic skip reason (ERR_INVAL, ERR_TOOBIG, ERR_CORRUPT) */
	int64_t revision;
	struct kv_apply_out out;      /* tables, when an arena was given */
	struct catalog_change change; /* metadata group */
};

/* Apply the body of the normal entry at index (== applied + 1). decode_arena is scratch for the
 * command's decoding (reset by the caller); answer_arena (may be NULL) receives the answer.
 * Returns 0 (see res->status for skips) or a fatal storage error. */
int replica_apply_normal(struct replica *rep, uint64_t index, const uint8_t *body, size_t len,
			 struct arena *decode_arena, struct arena *answer_arena,
			 struct replica_applied *res) WUR;
/* A no-op, configuration or undecodable entry: only the applied index moves. */
int replica_apply_noop(struct replica *rep, uint64_t index) WUR;

/* ---- snapshots ---------------------------------------------------------------------------- */

/* Checkpoint the state at its applied index (term = that entry's term, conf = membership then)
 * into snap-<index>/, make it the meta's snapshot (durably) and serve it; the older one goes. */
int replica_snapshot_take(struct replica *rep, uint64_t term, const struct raft_conf *conf) WUR;

/* Install the staged archive recv.tmp as the state (snap: what Raft says it is). */
int replica_snapshot_install(struct replica *rep, const struct raft_snapshot_meta *snap,
			     const struct lsm_options *o) WUR;

/* Open the source for meta.snap (after open). */
int replica_snapshot_serve(struct replica *rep) WUR;

#endif
