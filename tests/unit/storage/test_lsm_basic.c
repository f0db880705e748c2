/* test_lsm_basic.c — the LSM's API behaves: puts, deletes, range deletes, flushes, compactions,
 * iterators both ways with bounds and prefixes, snapshots, reopen, checkpoints, WAL mode. */
#include "helper_lsm.h"
#include "core/io_fs_sim.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static struct io_fs *fs;
static struct lsm_tree *t;
static struct lsm_options opt;

static void setup(void)
{
	fs = io_fs_sim_new(1);
	hl_small_options(&opt, fs);
	cr_assert_eq(lsm_tree_open("/db", &opt, &t), 0);
}

static void teardown(void)
{
	if (t)
		cr_assert_eq(lsm_tree_close(t), 0);
	t = NULL;
	io_fs_sim_free(fs);
}

TestSuite(lsm_basic, .init = setup, .fini = teardown);

Test(lsm_basic, put_get_delete)
{
	char v[64];
	cr_assert_eq(hl_put(t, "a", "1", 1), 0);
	cr_assert_eq(hl_put(t, "b", "2", 2), 0);
	cr_assert_eq(hl_get(t, NULL, "a", v, sizeof v), 0);
	cr_assert_str_eq(v, "1");
	cr_assert_eq(hl_del(t, "a", 3), 0);
	cr_assert_eq(hl_get(t, NULL, "a", v, sizeof v), ERR_NOTFOUND);
	cr_assert_eq(hl_get(t, NULL, "b", v, sizeof v), 0);
	cr_assert_eq(lsm_tree_applied_index(t), 3);
	cr_assert_eq(lsm_tree_flush(t, 1), 0);
	cr_assert_eq(lsm_tree_durable_applied_index(t), 3);
	cr_assert_eq(hl_get(t, NULL, "a", v, sizeof v), ERR_NOTFOUND);
	cr_assert_eq(hl_get(t, NULL, "b", v, sizeof v), 0);
	cr_assert_str_eq(v, "2");
}

Test(lsm_basic, many_keys_flush_compact_reopen)
{
	char k[32], v[64], got[64];
	for (uint64_t i = 0; i < 3000; i++) {
		hl_key(k, sizeof k, i * 7919 % 3000);
		snprintf(v, sizeof v, "value-%llu", (unsigned long long)i);
		cr_assert_eq(hl_put(t, k, v, i + 1), 0);
	}
	for (uint64_t i = 0; i < 3000; i += 3) {
		hl_key(k, sizeof k, i);
		cr_assert_eq(hl_del(t, k, 3001 + i), 0);
	}
	cr_assert_eq(lsm_tree_wait_idle(t), 0);
	struct lsm_stats st;
	lsm_tree_stats(t, &st);
	cr_assert_gt(st.flushes, 0);
	cr_assert_gt(st.compactions, 0);
	for (int round = 0; round < 2; round++) {
		for (uint64_t i = 0; i < 3000; i++) {
			hl_key(k, sizeof k, i);
			int rc = hl_get(t, NULL, k, got, sizeof got);
			if (i % 3 == 0)
				cr_assert_eq(rc, ERR_NOTFOUND, "key %s round %d", k, round);
			else
				cr_assert_eq(rc, 0, "key %s round %d", k, round);
		}
		cr_assert_eq(lsm_tree_close(t), 0);
		cr_assert_eq(lsm_tree_open("/db", &opt, &t), 0);
	}
	uint64_t n = 0;
	cr_assert_eq(lsm_tree_count(t, NULL, NULL, 0, NULL, 0, &n), 0);
	cr_assert_eq(n, 2000);
	cr_assert_eq(lsm_tree_compact_range(t, NULL, 0, NULL, 0), 0);
	cr_assert_eq(lsm_tree_count(t, NULL, NULL, 0, NULL, 0, &n), 0);
	cr_assert_eq(n, 2000);
}

Test(lsm_basic, range_delete)
{
	char k[32], got[64];
	for (uint64_t i = 0; i < 100; i++) {
		hl_key(k, sizeof k, i);
		cr_assert_eq(hl_put(t, k, "x", i + 1), 0);
	}
	cr_assert_eq(lsm_tree_flush(t, 1), 0);
	cr_assert_eq(hl_del_range(t, "key00000010", "key00000020", 200), 0);
	for (int pass = 0; pass < 3; pass++) {
		for (uint64_t i = 0; i < 100; i++) {
			hl_key(k, sizeof k, i);
			int rc = hl_get(t, NULL, k, got, sizeof got);
			cr_assert_eq(rc, i >= 10 && i < 20 ? ERR_NOTFOUND : 0, "key %s pass %d", k, pass);
		}
		uint64_t n;
		cr_assert_eq(lsm_tree_count(t, NULL, NULL, 0, NULL, 0, &n), 0);
		cr_assert_eq(n, 90);
		if (pass == 0)
			cr_assert_eq(lsm_tree_flush(t, 1), 0);
		if (pass == 1)
			cr_assert_eq(lsm_tree_compact_range(t, NULL, 0, NULL, 0), 0);
	}
	/* A put after the range delete is visible again. */
	cr_assert_eq(hl_put(t, "key00000015", "back", 300), 0);
	cr_assert_eq(hl_get(t, NULL, "key00000015", got, sizeof got), 0);
	cr_assert_str_eq(got, "back");
}

Test(lsm_basic, iterators_bounds_prefix_reverse)
{
	const char *keys[] = {"a", "ab", "abc", "b", "ba", "c"};
	for (int i = 0; i < 6; i++)
		cr_assert_eq(hl_put(t, keys[i], keys[i], (uint64_t)i + 1), 0);
	cr_assert_eq(hl_del(t, "ba", 7), 0);
	for (int flushed = 0; flushed < 2; flushed++) {
		struct lsm_iter *it;
		struct lsm_iter_options io = {.prefix = "a", .prefix_len = 1};
		cr_assert_eq(lsm_iter_new(t, &io, &it), 0);
		const char *fwd[] = {"a", "ab", "abc"};
		int n = 0;
		for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
			size_t kl;
			const char *kp = lsm_iter_key(it, &kl);
			cr_assert_lt(n, 3);
			cr_assert(kl == strlen(fwd[n]) && memcmp(kp, fwd[n], kl) == 0);
			n++;
		}
		cr_assert_eq(n, 3);
		n = 3;
		for (lsm_iter_seek_last(it); lsm_iter_valid(it); lsm_iter_prev(it)) {
			size_t kl;
			const char *kp = lsm_iter_key(it, &kl);
			n--;
			cr_assert(kl == strlen(fwd[n]) && memcmp(kp, fwd[n], kl) == 0);
		}
		cr_assert_eq(n, 0);
		lsm_iter_free(it);

		struct lsm_iter_options io2 = {.lower = "ab", .lower_len = 2, .upper = "c", .upper_len = 1};
		cr_assert_eq(lsm_iter_new(t, &io2, &it), 0);
		lsm_iter_seek_for_prev(it, "bz", 2);
		cr_assert(lsm_iter_valid(it));
		size_t kl;
		const char *kp = lsm_iter_key(it, &kl);
		cr_assert(kl == 1 && kp[0] == 'b');
		lsm_iter_prev(it);
		kp = lsm_iter_key(it, &kl);
		cr_assert(kl == 3 && memcmp(kp, "abc", 3) == 0);
		lsm_iter_next(it);
		kp = lsm_iter_key(it, &kl);
		cr_assert(kl == 1 && kp[0] == 'b');
		lsm_iter_next(it);
		cr_assert(!lsm_iter_valid(it)); /* "ba" deleted, "c" out of bounds */
		lsm_iter_seek(it, "a", 1);
		kp = lsm_iter_key(it, &kl);
		cr_assert(kl == 2 && memcmp(kp, "ab", 2) == 0);
		lsm_iter_free(it);
		cr_assert_eq(lsm_tree_flush(t, 1), 0);
	}
}

Test(lsm_basic, snapshots_see_the_past)
{
	char got[64];
	cr_assert_eq(hl_put(t, "k", "old", 1), 0);
	struct lsm_snapshot *s;
	cr_assert_eq(lsm_tree_snapshot(t, &s), 0);
	cr_assert_eq(lsm_snapshot_applied_index(s), 1);
	cr_assert_eq(hl_put(t, "k", "new", 2), 0);
	cr_assert_eq(hl_del_range(t, "a", "z", 3), 0);
	cr_assert_eq(lsm_tree_compact_range(t, NULL, 0, NULL, 0), 0);
	cr_assert_eq(hl_get(t, s, "k", got, sizeof got), 0);
	cr_assert_str_eq(got, "old");
	cr_assert_eq(hl_get(t, NULL, "k", got, sizeof got), ERR_NOTFOUND);
	lsm_tree_snapshot_release(t, s);
	cr_assert_eq(lsm_tree_compact_range(t, NULL, 0, NULL, 0), 0);
	cr_assert_eq(hl_get(t, NULL, "k", got, sizeof got), ERR_NOTFOUND);
}

Test(lsm_basic, checkpoint_opens_on_its_own)
{
	char k[32], got[64];
	for (uint64_t i = 0; i < 500; i++) {
		hl_key(k, sizeof k, i);
		cr_assert_eq(hl_put(t, k, "v", i + 1), 0);
	}
	uint64_t idx = 0;
	cr_assert_eq(lsm_tree_checkpoint(t, "/ckpt/one", &idx), 0);
	cr_assert_eq(idx, 500);
	cr_assert_eq(hl_put(t, "zzz", "after", 501), 0);
	struct lsm_tree *c;
	cr_assert_eq(lsm_tree_open("/ckpt/one", &opt, &c), 0);
	cr_assert_eq(lsm_tree_applied_index(c), 500);
	uint64_t n;
	cr_assert_eq(lsm_tree_count(c, NULL, NULL, 0, NULL, 0, &n), 0);
	cr_assert_eq(n, 500);
	cr_assert_eq(hl_get(c, NULL, "zzz", got, sizeof got), ERR_NOTFOUND);
	cr_assert_eq(lsm_tree_close(c), 0);
}

Test(lsm_basic, wal_mode_recovers_unflushed_writes)
{
	cr_assert_eq(lsm_tree_close(t), 0);
	t = NULL;
	struct lsm_options o = opt;
	o.durability = LSM_DURABILITY_WAL;
	cr_assert_eq(lsm_tree_open("/wal", &o, &t), 0);
	struct lsm_write_options wo = {.sync = 1};
	struct lsm_batch b;
	lsm_batch_init(&b);
	cr_assert_eq(lsm_batch_put(&b, "x", 1, "1", 1), 0);
	cr_assert_eq(lsm_batch_delete_range(&b, "a", 1, "b", 1), 0);
	lsm_batch_set_applied_index(&b, 42);
	cr_assert_eq(lsm_tree_write(t, &b, &wo), 0);
	lsm_batch_deinit(&b);
	io_fs_sim_crash(fs);
	lsm_tree_close_noflush(t);
	cr_assert_eq(lsm_tree_open("/wal", &o, &t), 0);
	char got[8];
	cr_assert_eq(hl_get(t, NULL, "x", got, sizeof got), 0);
	cr_assert_str_eq(got, "1");
	cr_assert_eq(lsm_tree_applied_index(t), 42);
}

Test(lsm_shared, trees_of_a_core_share_cache_and_background_thread)
{
	struct io_fs *sfs = io_fs_sim_new(11);
	struct lsm_cache *cache;
	struct lsm_bg *bg;
	cr_assert_eq(lsm_cache_new(32 << 10, &cache), 0);
	cr_assert_eq(lsm_bg_new(&bg), 0);
	struct lsm_options o;
	hl_small_options(&o, sfs);
	o.cache = cache;
	o.bg = bg;
	struct lsm_tree *tr[3];
	char dir[32], k[32], v[32], got[32];
	for (int i = 0; i < 3; i++) {
		snprintf(dir, sizeof dir, "/tables/%d", i);
		cr_assert_eq(lsm_tree_open(dir, &o, &tr[i]), 0);
	}
	for (uint64_t n = 0; n < 3000; n++) {
		hl_key(k, sizeof k, n);
		snprintf(v, sizeof v, "t%llu-%llu", (unsigned long long)(n % 3), (unsigned long long)n);
		cr_assert_eq(hl_put(tr[n % 3], k, v, n / 3 + 1), 0);
	}
	for (int i = 0; i < 3; i++)
		cr_assert_eq(lsm_tree_wait_idle(tr[i]), 0);
	cr_assert_leq(lsm_cache_used_bytes(cache), (32u << 10) + 4096u * 3); /* a few pinned blocks at most */
	for (uint64_t n = 0; n < 3000; n += 7) {
		hl_key(k, sizeof k, n);
		snprintf(v, sizeof v, "t%llu-%llu", (unsigned long long)(n % 3), (unsigned long long)n);
		cr_assert_eq(hl_get(tr[n % 3], NULL, k, got, sizeof got), 0);
		cr_assert_str_eq(got, v);
		cr_assert_eq(hl_get(tr[(n + 1) % 3], NULL, k, got, sizeof got), ERR_NOTFOUND);
	}
	struct lsm_stats st;
	lsm_tree_stats(tr[0], &st);
	cr_assert_eq(st.applied_index, 1000);
	cr_assert_gt(st.cache_hits + st.cache_misses, 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(lsm_tree_close(tr[i]), 0);
	lsm_bg_free(bg);
	lsm_cache_free(cache);
	io_fs_sim_free(sfs);
}

Test(lsm_shared, big_values_and_limits)
{
	struct io_fs *sfs = io_fs_sim_new(12);
	struct lsm_options o;
	hl_small_options(&o, sfs);
	struct lsm_tree *tr;
	cr_assert_eq(lsm_tree_open("/big", &o, &tr), 0);
	static unsigned char big[2u << 20];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 31 + 7);
	static char key[1024];
	memset(key, 'k', sizeof key);
	struct lsm_batch b;
	lsm_batch_init(&b);
	cr_assert_eq(lsm_batch_put(&b, key, sizeof key, big, sizeof big), 0);
	cr_assert_eq(lsm_batch_put(&b, key, sizeof key + 1, "x", 1), ERR_TOOBIG);
	cr_assert_eq(lsm_batch_put(&b, "a", 1, big, sizeof big + 1), ERR_TOOBIG);
	cr_assert_eq(lsm_batch_put(&b, "", 0, "x", 1), ERR_INVAL);
	cr_assert_eq(lsm_tree_write(tr, &b, NULL), 0);
	lsm_batch_deinit(&b);
	for (int pass = 0; pass < 2; pass++) {
		struct lsm_buf v;
		lsm_buf_init(&v);
		cr_assert_eq(lsm_tree_get(tr, NULL, key, sizeof key, &v), 0);
		cr_assert_eq(v.len, sizeof big);
		cr_assert(memcmp(v.data, big, sizeof big) == 0);
		lsm_buf_deinit(&v);
		cr_assert_eq(lsm_tree_flush(tr, 1), 0);
	}
	cr_assert_eq(lsm_tree_close(tr), 0);
	io_fs_sim_free(sfs);
}

Test(lsm_basic, sequential_load_moves_tables_down)
{
	char k[32], v[32], got[32];
	for (uint64_t i = 0; i < 6000; i++) {
		hl_key(k, sizeof k, i);
		snprintf(v, sizeof v, "v%llu", (unsigned long long)i);
		cr_assert_eq(hl_put(t, k, v, i + 1), 0);
	}
	cr_assert_eq(lsm_tree_wait_idle(t), 0);
	struct lsm_stats st;
	lsm_tree_stats(t, &st);
	cr_assert_gt(st.flushes, 3);
	uint64_t deeper = 0;
	for (int l = 1; l < LSM_LEVELS; l++)
		deeper += st.level_files[l];
	cr_assert_gt(deeper, 0);
	for (int round = 0; round < 2; round++) {
		for (uint64_t i = 0; i < 6000; i += 13) {
			hl_key(k, sizeof k, i);
			snprintf(v, sizeof v, "v%llu", (unsigned long long)i);
			cr_assert_eq(hl_get(t, NULL, k, got, sizeof got), 0);
			cr_assert_str_eq(got, v);
		}
		uint64_t n;
		cr_assert_eq(lsm_tree_count(t, NULL, NULL, 0, NULL, 0, &n), 0);
		cr_assert_eq(n, 6000);
		cr_assert_eq(lsm_tree_close(t), 0);
		cr_assert_eq(lsm_tree_open("/db", &opt, &t), 0);
	}
}

Test(lsm_basic, checkpoint_survives_a_crash)
{
	char k[32];
	for (uint64_t i = 0; i < 800; i++) {
		hl_key(k, sizeof k, i);
		cr_assert_eq(hl_put(t, k, "v", i + 1), 0);
	}
	cr_assert_eq(hl_del_range(t, "key00000100", "key00000200", 801), 0);
	uint64_t idx = 0;
	cr_assert_eq(lsm_tree_checkpoint(t, "/ckpt/two", &idx), 0);
	cr_assert_eq(idx, 801);
	io_fs_sim_crash(fs); /* everything the checkpoint needs was synced */
	lsm_tree_close_noflush(t);
	t = NULL;
	struct lsm_tree *c;
	cr_assert_eq(lsm_tree_open("/ckpt/two", &opt, &c), 0);
	cr_assert_eq(lsm_tree_applied_index(c), 801);
	uint64_t n;
	cr_assert_eq(lsm_tree_count(c, NULL, NULL, 0, NULL, 0, &n), 0);
	cr_assert_eq(n, 700);
	cr_assert_eq(lsm_tree_close(c), 0);
	/* The source tree recovers to at least the checkpoint's index (it was flushed). */
	cr_assert_eq(lsm_tree_open("/db", &opt, &t), 0);
	cr_assert_geq(lsm_tree_applied_index(t), 801);
}
