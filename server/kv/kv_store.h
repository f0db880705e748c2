/*
 * kv_store.h — one table's state machine: Regatta's KV semantics on an LSM tree.
 *
 * Every replica of a table applies the same committed commands (mvcc.v1.Command, the Raft
 * entry payload and also what cross-DC replication ships) in the same order, so they hold the
 * same keys with the same create_revision / mod_revision / version. A command applied at local
 * Raft index i carries revision r: on the leader cluster r == i; on a follower cluster r is the
 * leader's index (Command.leader_index), so one revision names one state everywhere.
 *
 * Atomicity: one command = one LSM batch, written with the applied index, so a crash recovers
 * to exactly a prefix of the applied commands (the Raft log replays the rest). Inside a command
 * (a Txn, a batch, a sequence) later operations see earlier ones through an in-memory overlay.
 *
 * Determinism: apply never reads clocks or randomness; a command that is invalid (it should
 * have been refused before proposing) is skipped with ERR_INVAL, identically on every replica,
 * and the applied index still advances. An I/O or corruption error is returned as is and is
 * fatal for the replica (the caller stops the table).
 *
 * Threads: a store belongs to its table's owning core; every call comes from that thread.
 */
#ifndef SERVER_KV_STORE_H
#define SERVER_KV_STORE_H

#include "core/arena.h"
#include "core/err.h"
#include "storage/lsm.h"

#include "proto/mvcc/v1/mvcc.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv_store;

int kv_store_open(const char *dir, const struct lsm_options *o, struct kv_store **out) WUR;
int kv_store_close(struct kv_store *s) WUR;
void kv_store_close_noflush(struct kv_store *s);
struct lsm_tree *kv_store_tree(struct kv_store *s);

/* Local Raft index of the last applied command, and the revision it carried. */
uint64_t kv_store_applied_index(const struct kv_store *s);
int64_t kv_store_revision(const struct kv_store *s);

/* What applying a command answers (built only when an arena is given). */
struct kv_apply_out {
	Mvcc__V1__ResponseOp **responses; /* one per operation, in the arena */
	size_t n_responses;
	bool txn_succeeded;  /* TXN: the compares held */
	int result_err;      /* the writes were applied but the answer did not fit: ERR_TOOBIG */
};

/*
 * Apply the command committed at local index `index` with revision `revision` (both > the
 * previous ones). With `arena` non-NULL, *out gets the responses (allocated in the arena);
 * with NULL nothing is built (replicas that did not receive the request). The writes never
 * depend on the arena: if the answer does not fit, the command is applied without it and
 * out->result_err says so. Returns 0, ERR_INVAL / ERR_TOOBIG (command skipped identically on
 * every replica, index advanced), or a fatal ERR_IO / ERR_CORRUPT / ERR_NOSPC.
 */
int kv_store_apply(struct kv_store *s, uint64_t index, int64_t revision, const Mvcc__V1__Command *cmd,
		   struct arena *arena, struct kv_apply_out *out) WUR;

/* Advance the applied index without a command (Raft no-op and configuration entries). */
int kv_store_apply_noop(struct kv_store *s, uint64_t index) WUR;

/* A range read (RangeRequest semantics). */
struct kv_range {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *range_end;
	size_t range_end_len;
	int64_t limit; /* 0 = none */
	bool keys_only;
	bool count_only;
	int64_t min_mod_revision, max_mod_revision;       /* 0 = no bound */
	int64_t min_create_revision, max_create_revision; /* 0 = no bound */
	size_t max_bytes;                                 /* response cap; 0 = LIMIT_RESPONSE_BYTES */
};

struct kv_range_result {
	Mvcc__V1__KeyValue **kvs; /* in the arena */
	size_t n_kvs;
	bool more;
	int64_t count; /* count_only: keys in range (after filters); else n_kvs */
};

/* Read at `snap` (NULL: latest). ERR_INVAL for a missing/oversize key, ERR_NOMEM if the arena
 * is exhausted, or a storage error. */
int kv_store_range(struct kv_store *s, const struct lsm_snapshot *snap, const struct kv_range *r,
		   struct arena *arena, struct kv_range_result *out) WUR;

/* Evaluate a Txn whose ops are all Range ops, without proposing it (a read; the caller made the
 * state linearizable first if it wants to). Answers like kv_store_apply. ERR_INVAL if an op
 * would write. */
int kv_store_txn_readonly(struct kv_store *s, const Mvcc__V1__Txn *txn, struct arena *arena,
			  struct kv_apply_out *out) WUR;

/* 1 if every op in both branches of the Txn is a Range (it can be served as a read). */
int kv_txn_is_readonly(const Mvcc__V1__Txn *txn);

/* Check a client request before proposing it, so apply never meets an invalid one. Fills msg
 * (for grpc-message) and returns ERR_INVAL or ERR_TOOBIG. */
int kv_command_validate(const Mvcc__V1__Command *cmd, char *msg, size_t msg_len) WUR;

#endif
