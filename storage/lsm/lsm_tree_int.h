/*
 * lsm_tree_int.h — the tree object shared by tree.c (open, write, get, flush, manifest),
 * compact.c (picking and running compactions), dbiter.c (user iterators) and bg.c (the
 * background thread).
 *
 * Locking. `mu` guards the fields marked [mu]; the owning (foreground) thread alone writes the
 * active memtable, the WAL and last_seq, and reads them without the lock. The background
 * thread alone writes the manifest and builds tables. `tc_mu` guards the table cache (file ->
 * open reader, LRU). Lock order: mu -> bg->mu; tc_mu is a leaf.
 */
#ifndef STORAGE_LSM_TREE_INT_H
#define STORAGE_LSM_TREE_INT_H

#include "storage/lsm/lsm_log.h"
#include "core/limits.h"

#include <pthread.h>

struct lsm_snapshot {
	uint64_t seq;
	uint64_t applied_index;
	struct lsm_snapshot *prev, *next;
};

struct lsm_manual {
	int active;                /* a compact_range request is being served */
	int done;                  /* set by the background thread */
	int rc;
	struct lsm_bytes lo, hi;   /* user keys; has_lo/has_hi say whether bounded */
	int has_lo, has_hi;
	int level;                 /* next level to compact from */
	int last_level;            /* compact down into this level */
};

struct lsm_tree {
	char dir[LIMIT_PATH_BYTES];
	struct lsm_options o;
	struct io_fs *fs;
	struct lsm_cache *cache;
	int own_cache;
	struct lsm_bg *bg;
	int own_bg;

	pthread_mutex_t mu;
	pthread_cond_t cv; /* [mu] signalled after every background step */

	struct lsm_mem *mem;                        /* active; pointer swapped under mu */
	struct lsm_mem *imm[LIMIT_LSM_MEMTABLES_MAX]; /* [mu] oldest first */
	size_t nimm;                                /* [mu] */
	struct lsm_version *cur;                    /* [mu] */
	struct lsm_version versions;                /* [mu] sentinel of the live-version list */
	struct lsm_snapshot snaps;                  /* [mu] sentinel, oldest first */
	uint64_t nsnaps;

	uint64_t next_file;       /* [mu] */
	uint64_t log_number;      /* [mu] oldest WAL still needed (WAL mode) */
	uint64_t last_seq;        /* written by the owner thread with atomic stores */
	uint64_t applied_index;   /* owner thread */
	uint64_t durable_applied; /* [mu] */
	uint64_t manifest_last_seq;     /* [mu] last_seq recorded in the manifest */
	uint64_t manifest_applied;      /* [mu] applied index recorded in the manifest */

	int bg_pending;           /* [mu] queued on or running in the background thread */
	int bg_error;             /* [mu] sticky */
	struct lsm_error bg_err;  /* [mu] */
	int closing;              /* [mu] */
	int flush_requested;      /* [mu] */
	struct lsm_manual manual; /* [mu] */
	struct lsm_tree *bg_next; /* bg queue link (under bg->mu) */

	/* manifest (background thread after open) */
	struct lsm_log_writer manifest;
	uint64_t manifest_number;

	/* WAL (owner thread) */
	struct lsm_log_writer wal;
	int wal_open;

	/* table cache */
	pthread_mutex_t tc_mu;
	struct lsm_file tc_lru;   /* sentinel; lru_next = most recent */
	uint64_t tc_open;

	/* stats (atomics or [mu]) */
	uint64_t st_user_bytes, st_wal_bytes, st_flush_bytes, st_comp_bytes, st_comp_read;
	uint64_t st_flushes, st_compactions;
	uint64_t st_stall_count, st_stall_ns, st_stall_mem, st_stall_l0;
	uint64_t st_cache_hits, st_cache_misses;
};

/* tree.c */
int lsm_tree_file_sst(struct lsm_tree *t, struct lsm_file *f, struct lsm_sst **out) WUR;
void lsm_tree_file_path(const struct lsm_tree *t, uint64_t number, const char *ext, char *out, size_t cap);
/* Background: install an edit (write the manifest, then swap the version). */
int lsm_tree_log_and_apply(struct lsm_tree *t, struct lsm_edit *e) WUR;
int lsm_tree_flush_one(struct lsm_tree *t) WUR; /* flush the oldest immutable memtable */
void lsm_tree_set_bg_error(struct lsm_tree *t, int rc);
/* Write a new manifest holding v and the counters, then point CURRENT (in t->dir) at it. */
int lsm_tree_write_manifest(struct lsm_tree *t, const struct lsm_version *v, uint64_t number, uint64_t next_file,
			    uint64_t log_number, uint64_t last_seq, uint64_t applied) WUR;
/* Owner thread: rotate a full (or, with force, any) memtable; stall while the background is behind. */
int lsm_tree_make_room(struct lsm_tree *t, int force) WUR;
/* Reference the current read state (memtables and version) under mu. */
struct lsm_readstate {
	struct lsm_mem *mems[LIMIT_LSM_MEMTABLES_MAX + 1]; /* newest first */
	size_t nmems;
	struct lsm_version *v;
};
void lsm_tree_readstate_get(struct lsm_tree *t, struct lsm_readstate *rs);
void lsm_tree_readstate_put(struct lsm_tree *t, struct lsm_readstate *rs);
void lsm_tree_version_unref(struct lsm_tree *t, struct lsm_version *v);
/* Runs on the background thread: one unit of work; returns 1 if more is pending. */
int lsm_tree_bg_step(struct lsm_tree *t);

/* compact.c */
/* Pick and run one compaction if any level needs it (or the manual request); 1 if one ran. */
int lsm_compact_step(struct lsm_tree *t, int *did) WUR;
int lsm_compact_needed(struct lsm_tree *t); /* under mu */

/* bg.c */
void lsm_bg_schedule(struct lsm_bg *bg, struct lsm_tree *t); /* t->mu held */
int lsm_bg_is_inline(const struct lsm_bg *bg);
/* t->mu held: wait for the background to make progress (an inline bg runs a step here). */
void lsm_tree_wait_bg(struct lsm_tree *t);

#endif
