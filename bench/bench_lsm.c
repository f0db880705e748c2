/*
 * bench_lsm.c — our LSM tree and RocksDB side by side, in the manner of db_bench.
 *
 * Workloads (db_bench names): fillseq, fillrandom, overwrite, readrandom, readseq, seekrandom,
 * deleterandom. fillseq and fillrandom start from an empty directory; the others run on what
 * fillrandom (+ overwrite) left. Keys are 16 bytes ("%016llu"), values random bytes of
 * --value_size. Both engines get the same settings: WAL on (or off with --wal 0: our
 * APPLIED_INDEX mode vs RocksDB's disableWAL), the same sync policy, the same block cache size,
 * compression off, 10-bit bloom filters, 4 KiB blocks, 64 MiB memtables, 64 MiB target files,
 * 256 MiB level 1, level-0 triggers 4 (compaction) / 36 (stop).
 *
 * Output per workload: ops/s of each engine, the ratio ours/RocksDB, write amplification
 * (bytes the process passed to write syscalls during the workload, from /proc/self/io wchar,
 * over the user bytes written) and space amplification (directory size after the workload
 * over live user bytes). Every run prints its configuration and seed.
 *
 * usage: bench_lsm [--num N] [--reads N] [--value_size B] [--cache_mb M] [--sync 0|1]
 *                  [--wal 0|1] [--dir D] [--benchmarks a,b,...] [--engines ours,rocksdb]
 *                  [--seed S]
 */
#define _GNU_SOURCE
#include "storage/lsm.h"
#include "core/clock.h"
#include "core/io_fs.h"
#include "core/prng.h"

#include <inttypes.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cfg {
	uint64_t num, reads;
	uint32_t value_size;
	uint64_t cache_mb;
	int sync, wal;
	const char *dir;
	const char *benchmarks;
	const char *engines;
	uint64_t seed;
};

/* ---- engine abstraction ------------------------------------------------------------------------ */

struct engine {
	const char *name;
	int (*open)(struct engine *e, const char *dir, int fresh);
	void (*close)(struct engine *e);
	int (*put)(struct engine *e, const char *k, size_t kn, const char *v, size_t vn);
	int (*del)(struct engine *e, const char *k, size_t kn);
	int (*get)(struct engine *e, const char *k, size_t kn); /* 1 found, 0 not */
	uint64_t (*scan_all)(struct engine *e);
	int (*seek)(struct engine *e, const char *k, size_t kn); /* 1 if positioned on a key */
	const struct cfg *c;
	char dir[512];
	/* ours */
	struct lsm_tree *t;
	struct lsm_cache *cache;
	struct lsm_batch batch;
	struct lsm_buf buf;
	struct lsm_iter *it;
	/* rocksdb */
	rocksdb_t *db;
	rocksdb_options_t *ro_opts;
	rocksdb_block_based_table_options_t *bbo;
	rocksdb_cache_t *rcache;
	rocksdb_filterpolicy_t *filter;
	rocksdb_writeoptions_t *wopts;
	rocksdb_readoptions_t *ropts;
	rocksdb_iterator_t *rit;
};

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_lsm: %s: %s\n", what, detail ? detail : "");
	exit(1);
}

/* ours */
static int ours_open(struct engine *e, const char *dir, int fresh)
{
	struct lsm_options o;
	lsm_options_default(&o);
	o.fs = io_fs_posix();
	if (!e->cache && lsm_cache_new(e->c->cache_mb << 20, &e->cache))
		die("cache", NULL);
	o.cache = e->cache;
	o.durability = e->c->wal ? LSM_DURABILITY_WAL : LSM_DURABILITY_APPLIED_INDEX;
	o.memtable_bytes = 64u << 20;
	o.memtables_max = 3;
	o.target_file_bytes = 64u << 20;
	o.level1_bytes = 256u << 20;
	o.l0_compaction_trigger = 4;
	o.l0_stop_trigger = 36;
	o.block_bytes = 4096;
	o.bloom_bits_per_key = 10;
	int rc = lsm_tree_open(dir, &o, &e->t);
	if (rc)
		die("lsm_tree_open", lsm_error_last()->msg);
	lsm_batch_init(&e->batch);
	lsm_buf_init(&e->buf);
	(void)fresh;
	return 0;
}

static void ours_close(struct engine *e)
{
	if (e->it)
		lsm_iter_free(e->it);
	e->it = NULL;
	if (lsm_tree_close(e->t))
		die("lsm_tree_close", lsm_error_last()->msg);
	lsm_batch_deinit(&e->batch);
	lsm_buf_deinit(&e->buf);
	e->t = NULL;
}

static uint64_t applied;

static int ours_put(struct engine *e, const char *k, size_t kn, const char *v, size_t vn)
{
	lsm_batch_clear(&e->batch);
	if (lsm_batch_put(&e->batch, k, kn, v, vn))
		return -1;
	lsm_batch_set_applied_index(&e->batch, ++applied);
	struct lsm_write_options wo = {.sync = e->c->sync};
	return lsm_tree_write(e->t, &e->batch, &wo);
}

static int ours_del(struct engine *e, const char *k, size_t kn)
{
	lsm_batch_clear(&e->batch);
	if (lsm_batch_delete(&e->batch, k, kn))
		return -1;
	lsm_batch_set_applied_index(&e->batch, ++applied);
	struct lsm_write_options wo = {.sync = e->c->sync};
	return lsm_tree_write(e->t, &e->batch, &wo);
}

static int ours_get(struct engine *e, const char *k, size_t kn)
{
	int rc = lsm_tree_get(e->t, NULL, k, kn, &e->buf);
	if (rc && rc != ERR_NOTFOUND)
		die("lsm_tree_get", lsm_error_last()->msg);
	return rc == 0;
}

static uint64_t ours_scan(struct engine *e)
{
	struct lsm_iter *it;
	if (lsm_iter_new(e->t, NULL, &it))
		die("lsm_iter_new", NULL);
	uint64_t n = 0, bytes = 0;
	for (lsm_iter_seek_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
		size_t kl, vl;
		(void)lsm_iter_key(it, &kl);
		(void)lsm_iter_value(it, &vl);
		bytes += kl + vl;
		n++;
	}
	lsm_iter_free(it);
	return bytes ? n : 0;
}

static int ours_seek(struct engine *e, const char *k, size_t kn)
{
	if (!e->it && lsm_iter_new(e->t, NULL, &e->it))
		die("lsm_iter_new", NULL);
	lsm_iter_seek(e->it, k, kn);
	return lsm_iter_valid(e->it);
}

/* rocksdb */
static int rdb_open(struct engine *e, const char *dir, int fresh)
{
	char *err = NULL;
	e->ro_opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(e->ro_opts, 1);
	rocksdb_options_set_compression(e->ro_opts, rocksdb_no_compression);
	rocksdb_options_set_write_buffer_size(e->ro_opts, 64u << 20);
	rocksdb_options_set_max_write_buffer_number(e->ro_opts, 3);
	rocksdb_options_set_target_file_size_base(e->ro_opts, 64u << 20);
	rocksdb_options_set_max_bytes_for_level_base(e->ro_opts, 256u << 20);
	rocksdb_options_set_level0_file_num_compaction_trigger(e->ro_opts, 4);
	rocksdb_options_set_level0_slowdown_writes_trigger(e->ro_opts, 20);
	rocksdb_options_set_level0_stop_writes_trigger(e->ro_opts, 36);
	e->bbo = rocksdb_block_based_options_create();
	if (!e->rcache)
		e->rcache = rocksdb_cache_create_lru(e->c->cache_mb << 20);
	rocksdb_block_based_options_set_block_cache(e->bbo, e->rcache);
	rocksdb_block_based_options_set_block_size(e->bbo, 4096);
	e->filter = rocksdb_filterpolicy_create_bloom(10);
	rocksdb_block_based_options_set_filter_policy(e->bbo, e->filter);
	rocksdb_options_set_block_based_table_factory(e->ro_opts, e->bbo);
	e->db = rocksdb_open(e->ro_opts, dir, &err);
	if (err)
		die("rocksdb_open", err);
	e->wopts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(e->wopts, (unsigned char)e->c->sync);
	rocksdb_writeoptions_disable_WAL(e->wopts, !e->c->wal);
	e->ropts = rocksdb_readoptions_create();
	(void)fresh;
	return 0;
}

static void rdb_close(struct engine *e)
{
	if (e->rit)
		rocksdb_iter_destroy(e->rit);
	e->rit = NULL;
	if (!e->c->wal) { /* without a WAL, a flush makes the data durable (like our close) */
		char *err = NULL;
		rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
		rocksdb_flushoptions_set_wait(fo, 1);
		rocksdb_flush(e->db, fo, &err);
		rocksdb_flushoptions_destroy(fo);
		if (err)
			die("rocksdb_flush", err);
	}
	rocksdb_close(e->db);
	rocksdb_writeoptions_destroy(e->wopts);
	rocksdb_readoptions_destroy(e->ropts);
	rocksdb_options_destroy(e->ro_opts);
	rocksdb_block_based_options_destroy(e->bbo);
	e->db = NULL;
}

static int rdb_put(struct engine *e, const char *k, size_t kn, const char *v, size_t vn)
{
	char *err = NULL;
	rocksdb_put(e->db, e->wopts, k, kn, v, vn, &err);
	if (err)
		die("rocksdb_put", err);
	return 0;
}

static int rdb_del(struct engine *e, const char *k, size_t kn)
{
	char *err = NULL;
	rocksdb_delete(e->db, e->wopts, k, kn, &err);
	if (err)
		die("rocksdb_delete", err);
	return 0;
}

static int rdb_get(struct engine *e, const char *k, size_t kn)
{
	char *err = NULL;
	rocksdb_pinnableslice_t *p = rocksdb_get_pinned(e->db, e->ropts, k, kn, &err);
	if (err)
		die("rocksdb_get", err);
	int found = p != NULL;
	if (p)
		rocksdb_pinnableslice_destroy(p);
	return found;
}

static uint64_t rdb_scan(struct engine *e)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(e->db, e->ropts);
	uint64_t n = 0, bytes = 0;
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		(void)rocksdb_iter_key(it, &kl);
		(void)rocksdb_iter_value(it, &vl);
		bytes += kl + vl;
		n++;
	}
	rocksdb_iter_destroy(it);
	return bytes ? n : 0;
}

static int rdb_seek(struct engine *e, const char *k, size_t kn)
{
	if (!e->rit)
		e->rit = rocksdb_create_iterator(e->db, e->ropts);
	rocksdb_iter_seek(e->rit, k, kn);
	return rocksdb_iter_valid(e->rit);
}

/* ---- measurement --------------------------------------------------------------------------------- */

static uint64_t proc_wchar(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	if (!f)
		return 0;
	char line[128];
	uint64_t v = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "wchar: %" SCNu64, &v) == 1)
			break;
	fclose(f);
	return v;
}

static uint64_t dir_bytes(const char *dir)
{
	uint64_t b = 0;
	if (io_fs_du(io_fs_posix(), dir, &b))
		return 0;
	return b;
}

static void rm_dir(const char *dir)
{
	if (io_fs_exists(io_fs_posix(), dir, NULL) == 0 && io_fs_remove_all(io_fs_posix(), dir))
		die("cannot remove", dir);
}

/* 16 decimal digits (keys < 10^16), like db_bench's 16-byte keys. */
static void make_key(char *k, uint64_t i)
{
	for (int d = 15; d >= 0; d--) {
		k[d] = (char)('0' + i % 10);
		i /= 10;
	}
	k[16] = 0;
}

struct result {
	double ops_s;
	double wamp, samp;
	int have_amp;
};

static struct result run_one(struct engine *e, const char *bench, uint64_t *live, char *value)
{
	const struct cfg *c = e->c;
	struct prng rng;
	prng_init(&rng, c->seed);
	char k[32];
	uint64_t n = 0, found = 0, user_bytes = 0;
	int fresh = strcmp(bench, "fillseq") == 0 || strcmp(bench, "fillrandom") == 0;
	if (fresh) {
		rm_dir(e->dir);
		*live = 0;
	}
	e->open(e, e->dir, fresh);
	uint64_t w0 = proc_wchar();
	uint64_t t0 = clock_mono_ns();
	if (strcmp(bench, "fillseq") == 0) {
		for (uint64_t i = 0; i < c->num; i++, n++) {
			make_key(k, i);
			prng_fill(&rng, value, 8); /* vary the value a little, cheaply */
			e->put(e, k, 16, value, c->value_size);
		}
		user_bytes = n * (16 + c->value_size);
		*live = c->num;
	} else if (strcmp(bench, "fillrandom") == 0 || strcmp(bench, "overwrite") == 0) {
		for (uint64_t i = 0; i < c->num; i++, n++) {
			make_key(k, prng_below(&rng, c->num));
			prng_fill(&rng, value, 8);
			e->put(e, k, 16, value, c->value_size);
		}
		user_bytes = n * (16 + c->value_size);
		*live = c->num; /* approximately: random keys cover ~63%; amplification uses this */
	} else if (strcmp(bench, "readrandom") == 0) {
		for (uint64_t i = 0; i < c->reads; i++, n++) {
			make_key(k, prng_below(&rng, c->num));
			found += (uint64_t)e->get(e, k, 16);
		}
	} else if (strcmp(bench, "readseq") == 0) {
		n = e->scan_all(e);
		found = n;
	} else if (strcmp(bench, "seekrandom") == 0) {
		for (uint64_t i = 0; i < c->reads; i++, n++) {
			make_key(k, prng_below(&rng, c->num));
			found += (uint64_t)e->seek(e, k, 16);
		}
	} else if (strcmp(bench, "deleterandom") == 0) {
		for (uint64_t i = 0; i < c->num; i++, n++) {
			make_key(k, prng_below(&rng, c->num));
			e->del(e, k, 16);
		}
		user_bytes = n * 16;
	} else {
		die("unknown benchmark", bench);
	}
	uint64_t t1 = clock_mono_ns();
	uint64_t w1 = proc_wchar();
	if (e->t) {
		struct lsm_stats st;
		lsm_tree_stats(e->t, &st);
		fprintf(stderr, "  [ours %s: flushes %" PRIu64 " compactions %" PRIu64 " (read %" PRIu64 " MiB, wrote %" PRIu64
			" MiB) stalls %" PRIu64 " (%" PRIu64 " ms) files L0..L3 %u %u %u %u cache hit %" PRIu64 "/%" PRIu64 "]\n",
			bench, st.flushes, st.compactions, st.compaction_bytes_read >> 20, st.compaction_bytes_written >> 20,
			st.stall_count, st.stall_ns / 1000000, st.level_files[0], st.level_files[1], st.level_files[2],
			st.level_files[3], st.cache_hits, st.cache_hits + st.cache_misses);
	}
	struct result r = {.ops_s = (double)n / ((double)(t1 - t0) / 1e9)};
	if (user_bytes) {
		r.have_amp = 1;
		r.wamp = (double)(w1 - w0) / (double)user_bytes;
	}
	e->close(e); /* flushes in no-WAL mode: counted in space, not in the timed part */
	uint64_t w2 = proc_wchar();
	if (user_bytes)
		r.wamp = (double)(w2 - w0) / (double)user_bytes;
	uint64_t du = dir_bytes(e->dir);
	uint64_t live_bytes = *live * (16 + c->value_size);
	if (live_bytes)
		r.samp = (double)du / (double)live_bytes;
	if (strcmp(bench, "readrandom") == 0 || strcmp(bench, "seekrandom") == 0)
		fprintf(stderr, "  [%s %s: %" PRIu64 " of %" PRIu64 " found]\n", e->name, bench, found, n);
	return r;
}

int main(int argc, char **argv)
{
	struct cfg c = {.num = 1000000, .reads = 0, .value_size = 100, .cache_mb = 8, .sync = 0, .wal = 1,
			.dir = "/tmp/bench_lsm", .benchmarks = "fillseq,fillrandom,overwrite,readrandom,readseq,seekrandom,deleterandom",
			.engines = "ours,rocksdb", .seed = 301};
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--num"))
			c.num = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--reads"))
			c.reads = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--value_size"))
			c.value_size = (uint32_t)strtoul(v, NULL, 0);
		else if (!strcmp(a, "--cache_mb"))
			c.cache_mb = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--sync"))
			c.sync = atoi(v);
		else if (!strcmp(a, "--wal"))
			c.wal = atoi(v);
		else if (!strcmp(a, "--dir"))
			c.dir = v;
		else if (!strcmp(a, "--benchmarks"))
			c.benchmarks = v;
		else if (!strcmp(a, "--engines"))
			c.engines = v;
		else if (!strcmp(a, "--seed"))
			c.seed = strtoull(v, NULL, 0);
		else
			die("unknown option", a);
	}
	if (!c.reads)
		c.reads = c.num;
	printf("bench_lsm: num %" PRIu64 " reads %" PRIu64 " key 16 B value %u B cache %" PRIu64 " MiB sync %d wal %d "
	       "compression off seed %" PRIu64 " dir %s\n",
	       c.num, c.reads, c.value_size, c.cache_mb, c.sync, c.wal, c.seed, c.dir);
	printf("engines: ours (regatta lsm, %s) vs RocksDB (Debian librocksdb, C API)\n",
	       c.wal ? "WAL mode" : "APPLIED_INDEX mode, no WAL");
	static struct engine eng[2];
	eng[0] = (struct engine){.name = "ours", .open = ours_open, .close = ours_close, .put = ours_put,
				  .del = ours_del, .get = ours_get, .scan_all = ours_scan, .seek = ours_seek, .c = &c};
	eng[1] = (struct engine){.name = "rocksdb", .open = rdb_open, .close = rdb_close, .put = rdb_put,
				  .del = rdb_del, .get = rdb_get, .scan_all = rdb_scan, .seek = rdb_seek, .c = &c};
	snprintf(eng[0].dir, sizeof eng[0].dir, "%s/ours", c.dir);
	snprintf(eng[1].dir, sizeof eng[1].dir, "%s/rocksdb", c.dir);
	if (io_fs_mkdir_all(io_fs_posix(), c.dir))
		die("mkdir", c.dir);
	char *value = malloc(c.value_size + 8);
	struct prng vr;
	prng_init(&vr, c.seed ^ 0x5555);
	prng_fill(&vr, value, c.value_size + 8);
	int use[2] = {strstr(c.engines, "ours") != NULL, strstr(c.engines, "rocksdb") != NULL};
	uint64_t live[2] = {0, 0};
	printf("%-13s %12s %12s %7s %8s %8s %8s %8s\n", "workload", "ours op/s", "rocksdb op/s", "ratio", "w-amp", "w-amp",
	       "s-amp", "s-amp");
	printf("%-13s %12s %12s %7s %8s %8s %8s %8s\n", "", "", "", "", "ours", "rocksdb", "ours", "rocksdb");
	char *list = strdup(c.benchmarks), *save = NULL;
	for (char *b = strtok_r(list, ",", &save); b; b = strtok_r(NULL, ",", &save)) {
		struct result r[2];
		memset(r, 0, sizeof r);
		for (int i = 0; i < 2; i++)
			if (use[i])
				r[i] = run_one(&eng[i], b, &live[i], value);
		char wa[2][16], sa[2][16];
		for (int i = 0; i < 2; i++) {
			snprintf(wa[i], sizeof wa[i], r[i].have_amp ? "%.2f" : "-", r[i].wamp);
			snprintf(sa[i], sizeof sa[i], r[i].samp > 0 ? "%.2f" : "-", r[i].samp);
		}
		printf("%-13s %12.0f %12.0f %7.2f %8s %8s %8s %8s\n", b, r[0].ops_s, r[1].ops_s,
		       r[1].ops_s > 0 ? r[0].ops_s / r[1].ops_s : 0.0, wa[0], wa[1], sa[0], sa[1]);
		fflush(stdout);
	}
	free(list);
	free(value);
	if (eng[0].cache)
		lsm_cache_free(eng[0].cache);
	if (eng[1].rcache)
		rocksdb_cache_destroy(eng[1].rcache);
	if (eng[1].filter)
		(void)0; /* owned by the table options in RocksDB's C API */
	rm_dir(eng[0].dir);
	rm_dir(eng[1].dir);
	return 0;
}
