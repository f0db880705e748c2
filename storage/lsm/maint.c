/*
 * maint.c — maintenance calls on a tree: flush, wait for the background, manual compaction,
 * checkpoints (hard links + a fresh manifest), stats and the sticky background error.
 *
 * All run on the tree's owner thread; they hand work to the background thread and wait on the
 * tree's condition variable, so they block the caller (they are not for the request path,
 * except lsm_tree_stats, which only takes the lock).
 */
#include "storage/lsm/lsm_tree_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- maintenance ------------------------------------------------------------------------------- */

int lsm_tree_flush(struct lsm_tree *t, int wait)
{
	int need = t->mem->entries > 0 || t->mem->applied_index > lsm_tree_durable_applied_index(t);
	int rc = 0;
	if (need && t->o.durability == LSM_DURABILITY_WAL && t->mem->entries == 0)
		need = 0; /* only an index move, and the WAL already holds it */
	if (need)
		rc = lsm_tree_make_room(t, 1);
	if (rc || !wait)
		return rc;
	pthread_mutex_lock(&t->mu);
	while (t->nimm > 0 && !t->bg_error) {
		lsm_bg_schedule(t->bg, t);
		lsm_tree_wait_bg(t);
	}
	rc = t->bg_error;
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int lsm_tree_wait_idle(struct lsm_tree *t)
{
	pthread_mutex_lock(&t->mu);
	lsm_bg_schedule(t->bg, t);
	while (t->bg_pending && !t->bg_error)
		lsm_tree_wait_bg(t);
	int rc = t->bg_error;
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int lsm_tree_compact_range(struct lsm_tree *t, const void *lower, size_t lower_len, const void *upper,
			   size_t upper_len)
{
	int rc = lsm_tree_flush(t, 1);
	if (rc)
		return rc;
	pthread_mutex_lock(&t->mu);
	struct lsm_manual *m = &t->manual;
	ASSERT(!m->active);
	m->has_lo = lower != NULL;
	m->has_hi = upper != NULL;
	rc = 0;
	if (lower)
		rc = lsm_bytes_set(&m->lo, lower, lower_len);
	if (!rc && upper)
		rc = lsm_bytes_set(&m->hi, upper, upper_len);
	if (rc) {
		pthread_mutex_unlock(&t->mu);
		return rc;
	}
	m->active = 1;
	m->done = 0;
	m->rc = 0;
	m->level = 0;
	m->last_level = -1; /* decided by the background thread */
	lsm_bg_schedule(t->bg, t);
	while (!m->done && !t->bg_error) {
		lsm_bg_schedule(t->bg, t);
		lsm_tree_wait_bg(t);
	}
	rc = m->rc ? m->rc : t->bg_error;
	m->active = 0;
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int lsm_tree_checkpoint(struct lsm_tree *t, const char *dir, uint64_t *applied_index)
{
	int rc = lsm_tree_flush(t, 1);
	if (rc)
		return rc;
	if (strlen(dir) + 32 >= LIMIT_PATH_BYTES)
		return ERR_INVAL;
	if (io_fs_exists(t->fs, dir, NULL) == 0)
		return ERR_EXISTS;
	rc = io_fs_mkdir_all(t->fs, dir);
	if (rc)
		return lsm_err(rc, dir, 0, "cannot create checkpoint directory");
	pthread_mutex_lock(&t->mu);
	struct lsm_version *v = t->cur;
	lsm_version_ref(v);
	uint64_t applied = t->manifest_applied, last_seq = t->manifest_last_seq, next_file = t->next_file;
	pthread_mutex_unlock(&t->mu);
	for (int l = 0; l < LSM_LEVELS && !rc; l++) {
		for (size_t i = 0; i < v->nfiles[l] && !rc; i++) {
			char from[LIMIT_LSM_PATH_BYTES], to[LIMIT_LSM_PATH_BYTES];
			lsm_tree_file_path(t, v->files[l][i]->number, "sst", from, sizeof from);
			snprintf(to, sizeof to, "%s/%06" PRIu64 ".sst", dir, v->files[l][i]->number);
			rc = io_fs_link(t->fs, from, to);
			if (rc)
				rc = lsm_err(rc, to, 0, "cannot link table into checkpoint");
		}
	}
	if (!rc) {
		/* Write the checkpoint's manifest with a tree object pointed at the new directory. */
		struct lsm_tree tmp;
		memset(&tmp, 0, sizeof tmp);
		snprintf(tmp.dir, sizeof tmp.dir, "%s", dir);
		tmp.fs = t->fs;
		rc = lsm_tree_write_manifest(&tmp, v, next_file, next_file + 1, 0, last_seq, applied);
		lsm_log_close(&tmp.manifest);
	}
	if (!rc)
		rc = io_fs_sync_dir(t->fs, dir);
	lsm_tree_version_unref(t, v);
	if (!rc && applied_index)
		*applied_index = applied;
	return rc;
}

void lsm_tree_stats(struct lsm_tree *t, struct lsm_stats *s)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_lock(&t->mu);
	s->last_seq = t->last_seq;
	s->applied_index = t->applied_index;
	s->durable_applied_index = t->durable_applied;
	s->memtable_bytes = lsm_mem_bytes(t->mem);
	s->immutable_memtables = (uint32_t)t->nimm;
	for (int l = 0; l < LSM_LEVELS; l++) {
		s->level_files[l] = (uint32_t)t->cur->nfiles[l];
		s->level_bytes[l] = lsm_version_level_bytes(t->cur, l);
		s->table_bytes += s->level_bytes[l];
	}
	s->live_snapshots = t->nsnaps;
	s->bg_error = t->bg_error;
	pthread_mutex_unlock(&t->mu);
	s->user_bytes_written = t->st_user_bytes;
	s->wal_bytes_written = t->st_wal_bytes;
	s->flush_bytes_written = __atomic_load_n(&t->st_flush_bytes, __ATOMIC_RELAXED);
	s->compaction_bytes_written = __atomic_load_n(&t->st_comp_bytes, __ATOMIC_RELAXED);
	s->compaction_bytes_read = __atomic_load_n(&t->st_comp_read, __ATOMIC_RELAXED);
	s->flushes = __atomic_load_n(&t->st_flushes, __ATOMIC_RELAXED);
	s->compactions = __atomic_load_n(&t->st_compactions, __ATOMIC_RELAXED);
	s->stall_count = t->st_stall_count;
	s->stall_ns = t->st_stall_ns;
	s->stall_memtable_count = t->st_stall_mem;
	s->stall_l0_count = t->st_stall_l0;
	s->cache_hits = t->st_cache_hits;
	s->cache_misses = t->st_cache_misses;
	s->cache_used_bytes = lsm_cache_used_bytes(t->cache);
}

int lsm_tree_bg_error(struct lsm_tree *t, struct lsm_error *out)
{
	pthread_mutex_lock(&t->mu);
	int rc = t->bg_error;
	if (out)
		*out = t->bg_err;
	pthread_mutex_unlock(&t->mu);
	return rc;
}

