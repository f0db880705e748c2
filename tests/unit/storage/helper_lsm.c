/* helper_lsm.c — small helpers shared by the LSM tests (key formatting, one-shot writes). */
#include "helper_lsm.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

void hl_key(char *buf, size_t cap, uint64_t i) { snprintf(buf, cap, "key%08llu", (unsigned long long)i); }

int hl_put(struct lsm_tree *t, const char *k, const char *v, uint64_t index)
{
	struct lsm_batch b;
	lsm_batch_init(&b);
	int rc = lsm_batch_put(&b, k, strlen(k), v, strlen(v));
	lsm_batch_set_applied_index(&b, index);
	if (!rc)
		rc = lsm_tree_write(t, &b, NULL);
	lsm_batch_deinit(&b);
	return rc;
}

int hl_del(struct lsm_tree *t, const char *k, uint64_t index)
{
	struct lsm_batch b;
	lsm_batch_init(&b);
	int rc = lsm_batch_delete(&b, k, strlen(k));
	lsm_batch_set_applied_index(&b, index);
	if (!rc)
		rc = lsm_tree_write(t, &b, NULL);
	lsm_batch_deinit(&b);
	return rc;
}

int hl_del_range(struct lsm_tree *t, const char *a, const char *z, uint64_t index)
{
	struct lsm_batch b;
	lsm_batch_init(&b);
	int rc = lsm_batch_delete_range(&b, a, strlen(a), z, strlen(z));
	lsm_batch_set_applied_index(&b, index);
	if (!rc)
		rc = lsm_tree_write(t, &b, NULL);
	lsm_batch_deinit(&b);
	return rc;
}

int hl_get(struct lsm_tree *t, const struct lsm_snapshot *snap, const char *k, char *out, size_t cap)
{
	struct lsm_buf v;
	lsm_buf_init(&v);
	struct lsm_read_options ro = {.snap = snap};
	int rc = lsm_tree_get(t, &ro, k, strlen(k), &v);
	if (rc == 0) {
		size_t n = v.len < cap - 1 ? v.len : cap - 1;
		memcpy(out, v.data, n);
		out[n] = 0;
	}
	lsm_buf_deinit(&v);
	return rc;
}

void hl_small_options(struct lsm_options *o, struct io_fs *fs)
{
	lsm_options_default(o);
	o->fs = fs;
	o->memtable_bytes = 16 << 10;
	o->block_bytes = 512;
	o->target_file_bytes = 16 << 10;
	o->level1_bytes = 64 << 10;
	o->cache_bytes = 64 << 10;
	o->l0_compaction_trigger = 2;
	o->l0_stop_trigger = 8;
}
