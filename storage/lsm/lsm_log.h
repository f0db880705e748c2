/*
 * lsm_log.h — record files (WAL, manifest) and versions/edits/manifest encoding.
 */
#ifndef STORAGE_LSM_LOG_H
#define STORAGE_LSM_LOG_H

#include "storage/lsm/lsm_parts.h"

/* ---- record files (logfile.c) ------------------------------------------------------------------ */

struct lsm_log_writer {
	struct io_file *f;
	uint64_t off;
	char name[64];
	struct lsm_bytes buf;
};

int lsm_log_create(struct io_fs *fs, const char *path, const char *name, struct lsm_log_writer *w) WUR;
void lsm_log_close(struct lsm_log_writer *w);
int lsm_log_append(struct lsm_log_writer *w, const void *p, size_t n, int sync) WUR;
/* Append one record whose payload is a || b (one copy, one pwrite). */
int lsm_log_append2(struct lsm_log_writer *w, const void *a, size_t an, const void *b, size_t bn, int sync) WUR;
int lsm_log_sync(struct lsm_log_writer *w) WUR;

/* WAL record payload header: varint first_seq | varint applied_index | varint count (util.c). */
#define LSM_WAL_HEADER_MAX 30
size_t lsm_wal_header_encode(unsigned char *p, uint64_t seq, uint64_t applied, uint32_t count);
int lsm_wal_header_decode(const unsigned char *p, size_t n, uint64_t *seq, uint64_t *applied, uint32_t *count,
			  size_t *body_off) WUR;

/* Called per record with its payload and the record's file offset; nonzero stops. */
typedef int (*lsm_log_record_cb)(void *ctx, const unsigned char *p, size_t n, uint64_t off);
/* Parse records from memory; *valid_end = end of the last good record (a torn tail follows). */
int lsm_log_parse(const unsigned char *data, size_t n, const char *name, lsm_log_record_cb cb, void *ctx,
		  uint64_t *valid_end) WUR;
int lsm_log_read(struct io_fs *fs, const char *path, const char *name, size_t max_bytes, lsm_log_record_cb cb,
		 void *ctx, uint64_t *valid_end) WUR;

/* ---- files, versions and edits (version.c) ------------------------------------------------------ */

struct lsm_file {
	int refs; /* atomic: versions and readers holding it */
	uint64_t number, size;
	struct lsm_bytes smallest, largest; /* internal keys, inclusive (see lsm_int.h on sentinels) */
	uint64_t smallest_seq, largest_seq;
	int has_rangedel;
	/* table cache (tree.c), under the tree's table lock */
	struct lsm_sst *sst;
	struct lsm_file *lru_prev, *lru_next;
	void *owner; /* the tree, for unlinking from its table cache when freed */
};

struct lsm_version {
	int refs; /* atomic */
	struct lsm_version *prev, *next; /* the tree's list of live versions (under its mutex) */
	struct lsm_file **files[LSM_LEVELS];
	size_t nfiles[LSM_LEVELS];
	/* level 0: newest first (by file number); levels >= 1: sorted by smallest, disjoint */
};

struct lsm_edit_file {
	int level;
	uint64_t number;
	struct lsm_file *f; /* for additions */
};

struct lsm_edit {
	int has_log_number, has_next_file, has_last_seq, has_applied;
	uint64_t log_number, next_file, last_seq, applied_index;
	struct lsm_edit_file *del, *add;
	size_t ndel, nadd, capdel, capadd;
};

#define LSM_MANIFEST_VERSION 1

void lsm_file_ref(struct lsm_file *f);
/* tree.c: unlink a file from its tree's table cache and close its reader. */
void lsm_tree_file_forget(struct lsm_file *f);
/* Frees the file metadata (and closes its reader) when the last reference goes. */
void lsm_file_unref(struct lsm_file *f);
int lsm_file_new(uint64_t number, uint64_t size, struct lsm_slice smallest, struct lsm_slice largest,
		 uint64_t sseq, uint64_t lseq, int has_rangedel, struct lsm_file **out) WUR;

void lsm_edit_init(struct lsm_edit *e);
void lsm_edit_free(struct lsm_edit *e);
int lsm_edit_add(struct lsm_edit *e, int level, struct lsm_file *f) WUR; /* refs f */
int lsm_edit_del(struct lsm_edit *e, int level, uint64_t number) WUR;
int lsm_edit_encode(const struct lsm_edit *e, struct lsm_bytes *out) WUR;
int lsm_edit_decode(const unsigned char *p, size_t n, struct lsm_edit *e) WUR;

int lsm_version_new(struct lsm_version **out) WUR;
void lsm_version_ref(struct lsm_version *v);
/* Drop a reference; returns 1 if it was the last (the caller unlinks and frees it). */
int lsm_version_unref_last(struct lsm_version *v);
void lsm_version_free(struct lsm_version *v);
/* New version = base + edit; ERR_CORRUPT if the edit deletes a missing file or breaks the
 * level order (a damaged manifest). */
int lsm_version_apply(const struct lsm_version *base, const struct lsm_edit *e, struct lsm_version **out) WUR;
/* Add every file of v to e (a full snapshot for a new manifest or a checkpoint). */
int lsm_version_snapshot(const struct lsm_version *v, struct lsm_edit *e) WUR;
uint64_t lsm_version_level_bytes(const struct lsm_version *v, int level);
/* Files of `level` whose user-key range meets [lo, hi] (NULL = unbounded); malloc'd array. */
int lsm_version_overlaps(const struct lsm_version *v, int level, const void *lo, size_t lon, const void *hi,
			 size_t hin, struct lsm_file ***out, size_t *n) WUR;
/* For level >= 1: index of the first file whose largest >= ikey (nfiles if none). */
size_t lsm_version_find(const struct lsm_version *v, int level, const unsigned char *ikey, size_t n);

#endif
