/* test_lsm_corrupt.c — damaged blocks, footers, manifests, CURRENT and WALs are reported as
 * ERR_CORRUPT naming the file and offset; torn tails are not errors; disk faults make the tree
 * refuse writes with a sticky error; stalls are counted and can be non-blocking. */
#include "helper_lsm.h"
#include "core/io_fs_sim.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct names {
	char v[64][64];
	int n;
};

static int collect(void *arg, const char *name)
{
	struct names *ns = arg;
	if (ns->n < 64)
		snprintf(ns->v[ns->n++], 64, "%s", name);
	return 0;
}

/* First file in /db whose name ends with ext (or starts with it for MANIFEST). */
static int find_file(struct io_fs *fs, const char *ext, char *out)
{
	struct names ns = {.n = 0};
	cr_assert_eq(io_fs_list(fs, "/db", collect, &ns), 0);
	for (int i = 0; i < ns.n; i++) {
		size_t l = strlen(ns.v[i]), e = strlen(ext);
		if ((l > e && strcmp(ns.v[i] + l - e, ext) == 0) || strncmp(ns.v[i], ext, e) == 0) {
			sprintf(out, "/db/%s", ns.v[i]);
			return 1;
		}
	}
	return 0;
}

static uint64_t file_size(struct io_fs *fs, const char *path)
{
	struct io_file *f;
	cr_assert_eq(io_file_open(fs, path, IO_OPEN_READ, &f), 0);
	uint64_t s;
	cr_assert_eq(io_file_size(f, &s), 0);
	io_file_close(f);
	return s;
}

static struct lsm_tree *fill(struct io_fs *fs, struct lsm_options *o, int n)
{
	hl_small_options(o, fs);
	o->l0_compaction_trigger = 100; /* keep the tables as flushed */
	o->l0_stop_trigger = 200;
	struct lsm_tree *t;
	cr_assert_eq(lsm_tree_open("/db", o, &t), 0);
	char k[32];
	for (int i = 0; i < n; i++) {
		hl_key(k, sizeof k, (uint64_t)i);
		cr_assert_eq(hl_put(t, k, "some value bytes", (uint64_t)i + 1), 0);
	}
	cr_assert_eq(lsm_tree_flush(t, 1), 0);
	return t;
}

Test(lsm_corrupt, data_block_reports_file_and_offset)
{
	struct io_fs *fs = io_fs_sim_new(3);
	struct lsm_options o;
	struct lsm_tree *t = fill(fs, &o, 200);
	cr_assert_eq(lsm_tree_close(t), 0);
	char sst[128];
	cr_assert(find_file(fs, ".sst", sst));
	cr_assert_eq(io_fs_sim_corrupt(fs, sst, 10), 0); /* inside the first data block */
	cr_assert_eq(lsm_tree_open("/db", &o, &t), 0);   /* open reads no table data */
	int errors = 0;
	char k[32], v[64];
	for (int i = 0; i < 200; i++) {
		hl_key(k, sizeof k, (uint64_t)i);
		int rc = hl_get(t, NULL, k, v, sizeof v);
		if (rc == ERR_CORRUPT) {
			errors++;
			const struct lsm_error *e = lsm_error_last();
			cr_assert_eq(e->code, ERR_CORRUPT);
			cr_assert(strstr(sst, e->file) != NULL, "error names %s, corrupted %s", e->file, sst);
			cr_assert_eq(e->offset, 0); /* the first block starts at 0 */
			cr_assert(strstr(e->msg, "checksum") != NULL);
		} else {
			cr_assert(rc == 0 || rc == ERR_NOTFOUND);
		}
	}
	cr_assert_gt(errors, 0);
	struct lsm_iter *it;
	cr_assert_eq(lsm_iter_new(t, NULL, &it), 0);
	lsm_iter_seek_first(it); /* a full scan reaches the damaged block and stops there */
	int seen = 0;
	while (lsm_iter_valid(it) && seen < 1000) {
		seen++;
		lsm_iter_next(it);
	}
	cr_assert(!lsm_iter_valid(it));
	cr_assert_lt(seen, 200 - errors + 1);
	cr_assert_eq(lsm_iter_status(it), ERR_CORRUPT);
	lsm_iter_free(it);
	lsm_tree_close_noflush(t);
	io_fs_sim_free(fs);
}

Test(lsm_corrupt, footer_reports_file_and_offset)
{
	struct io_fs *fs = io_fs_sim_new(4);
	struct lsm_options o;
	struct lsm_tree *t = fill(fs, &o, 50);
	cr_assert_eq(lsm_tree_close(t), 0);
	char sst[128];
	cr_assert(find_file(fs, ".sst", sst));
	uint64_t size = file_size(fs, sst);
	cr_assert_eq(io_fs_sim_corrupt(fs, sst, size - 3), 0); /* the magic */
	cr_assert_eq(lsm_tree_open("/db", &o, &t), 0);
	char v[64];
	cr_assert_eq(hl_get(t, NULL, "key00000001", v, sizeof v), ERR_CORRUPT);
	const struct lsm_error *e = lsm_error_last();
	cr_assert(strstr(sst, e->file) != NULL);
	cr_assert_eq(e->offset, size - 8);
	cr_assert(strstr(e->msg, "magic") != NULL, "%s", e->msg);
	lsm_tree_close_noflush(t);
	/* A footer checksum mismatch (a handle byte) is named too. */
	cr_assert_eq(io_fs_sim_corrupt(fs, sst, size - 3), 0); /* undo */
	cr_assert_eq(io_fs_sim_corrupt(fs, sst, size - 96 + 2), 0);
	cr_assert_eq(lsm_tree_open("/db", &o, &t), 0);
	cr_assert_eq(hl_get(t, NULL, "key00000001", v, sizeof v), ERR_CORRUPT);
	cr_assert_eq(lsm_error_last()->offset, size - 96);
	lsm_tree_close_noflush(t);
	io_fs_sim_free(fs);
}

Test(lsm_corrupt, manifest_record_reports_file_and_offset)
{
	struct io_fs *fs = io_fs_sim_new(5);
	struct lsm_options o;
	struct lsm_tree *t = fill(fs, &o, 100);
	char k[32];
	for (int i = 0; i < 100; i++) { /* more flushes: more manifest records */
		hl_key(k, sizeof k, (uint64_t)i);
		cr_assert_eq(hl_put(t, k, "again", 1000 + (uint64_t)i), 0);
	}
	cr_assert_eq(lsm_tree_flush(t, 1), 0);
	lsm_tree_close_noflush(t);
	char man[128];
	cr_assert(find_file(fs, "MANIFEST-", man));
	cr_assert_gt(file_size(fs, man), 100);
	cr_assert_eq(io_fs_sim_corrupt(fs, man, 20), 0); /* payload of the first record */
	cr_assert_eq(lsm_tree_open("/db", &o, &t), ERR_CORRUPT);
	const struct lsm_error *e = lsm_error_last();
	cr_assert(strstr(man, e->file) != NULL, "%s vs %s", e->file, man);
	cr_assert_eq(e->offset, 0);
	io_fs_sim_free(fs);
}

Test(lsm_corrupt, current_and_missing_table)
{
	struct io_fs *fs = io_fs_sim_new(6);
	struct lsm_options o;
	struct lsm_tree *t = fill(fs, &o, 100);
	cr_assert_eq(lsm_tree_close(t), 0);
	char sst[128];
	cr_assert(find_file(fs, ".sst", sst));
	cr_assert_eq(io_fs_unlink(fs, sst), 0);
	cr_assert_eq(lsm_tree_open("/db", &o, &t), ERR_CORRUPT);
	cr_assert(strstr(sst, lsm_error_last()->file) != NULL);
	cr_assert_eq(io_fs_sim_corrupt(fs, "/db/CURRENT", 0), 0);
	cr_assert_eq(lsm_tree_open("/db", &o, &t), ERR_CORRUPT);
	cr_assert_str_eq(lsm_error_last()->file, "CURRENT");
	io_fs_sim_free(fs);
}

Test(lsm_corrupt, wal_middle_is_error_tail_is_not)
{
	struct io_fs *fs = io_fs_sim_new(7);
	struct lsm_options o;
	hl_small_options(&o, fs);
	o.durability = LSM_DURABILITY_WAL;
	o.memtable_bytes = 1 << 20;
	struct lsm_tree *t;
	cr_assert_eq(lsm_tree_open("/db", &o, &t), 0);
	char k[32];
	for (int i = 0; i < 20; i++) {
		hl_key(k, sizeof k, (uint64_t)i);
		cr_assert_eq(hl_put(t, k, "walvalue", (uint64_t)i + 1), 0);
	}
	io_fs_sim_sync_all(fs);
	lsm_tree_close_noflush(t);
	char wal[128];
	cr_assert(find_file(fs, ".wal", wal));
	uint64_t size = file_size(fs, wal);
	/* A torn tail: drop the last 5 bytes. Recovery keeps the 19 whole records. */
	struct io_file *f;
	cr_assert_eq(io_file_open(fs, wal, IO_OPEN_WRITE, &f), 0);
	cr_assert_eq(io_file_truncate(f, size - 5), 0);
	cr_assert_eq(io_file_sync(f), 0);
	io_file_close(f);
	cr_assert_eq(lsm_tree_open("/db", &o, &t), 0);
	cr_assert_eq(lsm_tree_applied_index(t), 19);
	char v[32];
	cr_assert_eq(hl_get(t, NULL, "key00000018", v, sizeof v), 0);
	cr_assert_eq(hl_get(t, NULL, "key00000019", v, sizeof v), ERR_NOTFOUND);
	for (int i = 100; i < 120; i++) {
		hl_key(k, sizeof k, (uint64_t)i);
		cr_assert_eq(hl_put(t, k, "walvalue", (uint64_t)i + 1), 0);
	}
	io_fs_sim_sync_all(fs);
	lsm_tree_close_noflush(t);
	/* Now damage a record in the middle of the new WAL. */
	cr_assert(find_file(fs, ".wal", wal));
	cr_assert_eq(io_fs_sim_corrupt(fs, wal, 30), 0);
	cr_assert_eq(lsm_tree_open("/db", &o, &t), ERR_CORRUPT);
	cr_assert(strstr(wal, lsm_error_last()->file) != NULL, "%s", lsm_error_last()->file);
	cr_assert_eq(lsm_error_last()->offset, 0);
	io_fs_sim_free(fs);
}

Test(lsm_corrupt, disk_fault_is_sticky_and_reported)
{
	struct io_fs *fs = io_fs_sim_new(8);
	struct lsm_options o;
	hl_small_options(&o, fs);
	struct lsm_tree *t;
	cr_assert_eq(lsm_tree_open("/db", &o, &t), 0);
	io_fs_sim_fault_after(fs, 0, ERR_NOSPC, 1);
	char k[32];
	int rc = 0;
	for (int i = 0; i < 5000 && rc == 0; i++) {
		hl_key(k, sizeof k, (uint64_t)i);
		rc = hl_put(t, k, "0123456789012345678901234567890123456789", (uint64_t)i + 1);
	}
	cr_assert_eq(rc, ERR_NOSPC);
	struct lsm_error e;
	cr_assert_eq(lsm_tree_bg_error(t, &e), ERR_NOSPC);
	cr_assert_eq(e.code, ERR_NOSPC);
	cr_assert_neq(e.file[0], 0);
	struct lsm_stats st;
	lsm_tree_stats(t, &st);
	cr_assert_eq(st.bg_error, ERR_NOSPC);
	char v[64];
	cr_assert_eq(hl_get(t, NULL, "key00000001", v, sizeof v), 0); /* reads go on */
	io_fs_sim_fault_clear(fs);
	lsm_tree_close_noflush(t);
	cr_assert_eq(lsm_tree_open("/db", &o, &t), 0); /* recovers from what was durable */
	cr_assert_eq(lsm_tree_close(t), 0);
	io_fs_sim_free(fs);
}

Test(lsm_corrupt, nonblocking_stall_is_counted)
{
	struct io_fs *fs = io_fs_sim_new(9);
	struct lsm_options o;
	hl_small_options(&o, fs);
	o.stall_nonblocking = 1;
	o.memtable_bytes = 4096;
	o.memtables_max = 2;
	struct lsm_tree *t;
	cr_assert_eq(lsm_tree_open("/db", &o, &t), 0);
	char k[32];
	int again = 0;
	for (int i = 0; i < 20000 && !again; i++) {
		hl_key(k, sizeof k, (uint64_t)i);
		int rc = hl_put(t, k, "0123456789012345678901234567890123456789", (uint64_t)i + 1);
		cr_assert(rc == 0 || rc == ERR_AGAIN);
		if (rc == ERR_AGAIN) {
			again = 1;
			cr_assert(lsm_tree_write_would_stall(t) || 1); /* may have drained meanwhile */
		}
	}
	struct lsm_stats st;
	lsm_tree_stats(t, &st);
	if (again) {
		cr_assert_gt(st.stall_count, 0);
		cr_assert_gt(st.stall_memtable_count + st.stall_l0_count, 0);
	}
	cr_assert_eq(lsm_tree_wait_idle(t), 0);
	cr_assert_eq(lsm_tree_close(t), 0);
	io_fs_sim_free(fs);
}
