/*
 * test_lsm_model.c — model-based randomized test of the LSM against a trivially correct model,
 * with simulated crashes.
 *
 * Each seed runs a few thousand random operations — puts (small and large values), deletes,
 * range deletes, multi-op batches, snapshots, flushes, compactions, clean reopens and crashes —
 * on a tree over the simulated disk (core/io_fs_sim.h), and compares every read (gets at the
 * latest state and at snapshots, bounded forward/reverse scans, prefix scans, counts) with the
 * model: one slot per key holding the applied index of the write that set it.
 *
 * Crashes: all I/O is failed first (so the old tree's background thread cannot write after the
 * "power loss"), then the disk loses unsynced data, the tree is dropped and reopened. The
 * reopened tree must report an applied index R with durable <= R <= last written, and hold
 * exactly the model state after batch R (a prefix of the batches: APPLIED_INDEX mode, or WAL
 * mode without sync) — every key is compared.
 *
 * Half the seeds use an inline background (lsm_bg_new_inline): flushes and compactions run on
 * the test's thread at points fixed by the seed, so those seeds replay exactly; the other half
 * run a real background thread (its timing is not part of the seed).
 *
 * Replay: LSM_MODEL_SEED=<seed> runs one seed. Soak: LSM_MODEL_SEEDS=<n> (default: as many
 * seeds as fit in LSM_MODEL_BUDGET_S seconds, default 40), LSM_MODEL_OPS=<ops per seed>.
 */
#include "helper_lsm.h"
#include "core/io_fs_sim.h"
#include "core/prng.h"
#include "core/clock.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS 400
#define MAX_SNAPS 4
#define MAX_LOG 200000

struct model {
	int64_t idx[NKEYS]; /* applied index of the write that set the key; -1 absent */
	uint32_t len[NKEYS];
};

struct op {
	int kind; /* 0 put, 1 del, 2 range */
	int a, b;
	uint32_t len;
};

struct logged_batch {
	uint64_t index;
	int nops;
	struct op ops[8];
};

struct run {
	uint64_t seed;
	struct prng rng;
	struct io_fs *fs;
	struct lsm_tree *t;
	struct lsm_options o;
	int wal_sync;
	struct model cur;          /* after every written batch */
	struct model base;         /* at index base_index (<= any recovery point) */
	uint64_t base_index;
	struct logged_batch *log;  /* batches after base_index */
	size_t nlog;
	uint64_t index;            /* last written */
	struct lsm_snapshot *snaps[MAX_SNAPS];
	struct model snap_model[MAX_SNAPS];
	int nsnaps;
	uint64_t stats_crashes, stats_ops, stats_faults;
	int faulted; /* an I/O fault is armed: errors are expected until the next crash */
	struct lsm_bg *bg; /* inline (deterministic) background, or NULL for a thread per tree */
};

static void keyname(char *buf, int k) { snprintf(buf, 16, "k%05d", k); }

static void gen_value(unsigned char *buf, uint64_t idx, int key, uint32_t len)
{
	uint64_t x = (idx * UINT64_C(0x9e3779b97f4a7c15)) ^ (uint64_t)(unsigned)key;
	for (uint32_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)('a' + x % 26);
	}
}

static void model_apply(struct model *m, const struct logged_batch *b)
{
	for (int i = 0; i < b->nops; i++) {
		const struct op *op = &b->ops[i];
		if (op->kind == 0) {
			m->idx[op->a] = (int64_t)b->index;
			m->len[op->a] = op->len;
		} else if (op->kind == 1) {
			m->idx[op->a] = -1;
		} else {
			for (int k = op->a; k < op->b; k++)
				m->idx[k] = -1;
		}
	}
}

static unsigned char vbuf[300000], gbuf[300000];

/* Compare one key of the tree (at snap) with the model. */
static void check_key(struct run *r, const struct lsm_snapshot *snap, const struct model *m, int k, const char *what)
{
	char kn[16];
	keyname(kn, k);
	struct lsm_buf v;
	lsm_buf_init(&v);
	struct lsm_read_options ro = {.snap = snap};
	int rc = lsm_tree_get(r->t, &ro, kn, strlen(kn), &v);
	if (m->idx[k] < 0) {
		cr_assert_eq(rc, ERR_NOTFOUND, "seed %" PRIu64 " %s: key %s should be absent, rc %d (%s %s@%" PRIu64 ")",
			     r->seed, what, kn, rc, lsm_error_last()->msg, lsm_error_last()->file, lsm_error_last()->offset);
	} else {
		cr_assert_eq(rc, 0, "seed %" PRIu64 " %s: key %s should be present (idx %" PRId64 "), rc %d (%s)", r->seed,
			     what, kn, m->idx[k], rc, lsm_error_last()->msg);
		gen_value(gbuf, (uint64_t)m->idx[k], k, m->len[k]);
		cr_assert(v.len == m->len[k] && (v.len == 0 || memcmp(v.data, gbuf, v.len) == 0),
			  "seed %" PRIu64 " %s: key %s wrong value (len %zu want %u idx %" PRId64 ")", r->seed, what, kn, v.len,
			  m->len[k], m->idx[k]);
	}
	lsm_buf_deinit(&v);
}

/* Scan [lo, hi) forward or backward (optionally as a prefix scan) and compare. */
static void check_scan(struct run *r, const struct lsm_snapshot *snap, const struct model *m, int lo, int hi,
		       int reverse, int use_prefix, const char *what)
{
	char lk[16], hk[16], pk[16];
	keyname(lk, lo);
	keyname(hk, hi);
	struct lsm_iter_options io = {.snap = snap};
	if (use_prefix) {
		/* keys k0XY.. share the prefix "k00X": scan the decade of lo */
		keyname(pk, lo);
		pk[5] = 0;
		io.prefix = pk;
		io.prefix_len = 5;
		lo = lo / 10 * 10;
		hi = lo + 10 > NKEYS ? NKEYS : lo + 10;
	} else {
		io.lower = lk;
		io.lower_len = strlen(lk);
		if (hi < NKEYS) {
			io.upper = hk;
			io.upper_len = strlen(hk);
		} else {
			hi = NKEYS;
		}
	}
	struct lsm_iter *it;
	cr_assert_eq(lsm_iter_new(r->t, &io, &it), 0, "seed %" PRIu64, r->seed);
	int k = reverse ? hi - 1 : lo;
	if (reverse)
		lsm_iter_seek_last(it);
	else
		lsm_iter_seek_first(it);
	for (;;) {
		while (k >= lo && k < hi && m->idx[k] < 0)
			k += reverse ? -1 : 1;
		if (k < lo || k >= hi) {
			cr_assert(!lsm_iter_valid(it), "seed %" PRIu64 " %s: scan [%d,%d) rev %d: extra key", r->seed, what, lo,
				  hi, reverse);
			cr_assert_eq(lsm_iter_status(it), 0);
			break;
		}
		cr_assert(lsm_iter_valid(it), "seed %" PRIu64 " %s: scan [%d,%d) rev %d: missing key %d (status %d)", r->seed,
			  what, lo, hi, reverse, k, lsm_iter_status(it));
		size_t kl, vl;
		const char *kp = lsm_iter_key(it, &kl);
		const unsigned char *vp = lsm_iter_value(it, &vl);
		char want[16];
		keyname(want, k);
		cr_assert(kl == strlen(want) && memcmp(kp, want, kl) == 0,
			  "seed %" PRIu64 " %s: scan rev %d: got %.*s want %s", r->seed, what, reverse, (int)kl, kp, want);
		gen_value(gbuf, (uint64_t)m->idx[k], k, m->len[k]);
		cr_assert(vl == m->len[k] && (vl == 0 || memcmp(vp, gbuf, vl) == 0), "seed %" PRIu64 " %s: scan value of %s", r->seed,
			  what, want);
		if (reverse)
			lsm_iter_prev(it);
		else
			lsm_iter_next(it);
		k += reverse ? -1 : 1;
	}
	lsm_iter_free(it);
}

/* Model helpers for the walk: next present key >= k (or NKEYS), previous present key <= k (or -1). */
static int model_ge(const struct model *m, int k)
{
	while (k < NKEYS && (k < 0 || m->idx[k] < 0))
		k++;
	return k;
}

static int model_le(const struct model *m, int k)
{
	if (k >= NKEYS)
		k = NKEYS - 1;
	while (k >= 0 && m->idx[k] < 0)
		k--;
	return k;
}

static void expect_at(struct run *r, struct lsm_iter *it, const struct model *m, int k, const char *what)
{
	if (k < 0 || k >= NKEYS) {
		cr_assert(!lsm_iter_valid(it), "seed %" PRIu64 " %s: walk expected end", r->seed, what);
		cr_assert_eq(lsm_iter_status(it), 0);
		return;
	}
	cr_assert(lsm_iter_valid(it), "seed %" PRIu64 " %s: walk expected key %d, status %d", r->seed, what, k,
		  lsm_iter_status(it));
	size_t kl, vl;
	const char *kp = lsm_iter_key(it, &kl);
	const unsigned char *vp = lsm_iter_value(it, &vl);
	char want[16];
	keyname(want, k);
	cr_assert(kl == strlen(want) && memcmp(kp, want, kl) == 0, "seed %" PRIu64 " %s: walk got %.*s want %s", r->seed,
		  what, (int)kl, kp, want);
	gen_value(gbuf, (uint64_t)m->idx[k], k, m->len[k]);
	cr_assert(vl == m->len[k] && (vl == 0 || memcmp(vp, gbuf, vl) == 0), "seed %" PRIu64 " %s: walk value %s",
		  r->seed, what, want);
}

/* Seek somewhere, then wander with next/prev (direction changes included), comparing each step. */
static void check_walk(struct run *r, const struct lsm_snapshot *snap, const struct model *m, const char *what)
{
	struct lsm_iter_options io = {.snap = snap};
	struct lsm_iter *it;
	cr_assert_eq(lsm_iter_new(r->t, &io, &it), 0);
	char kn[16];
	int start = (int)prng_below(&r->rng, NKEYS);
	keyname(kn, start);
	int k;
	if (prng_chance(&r->rng, 1, 2)) {
		lsm_iter_seek(it, kn, strlen(kn));
		k = model_ge(m, start);
	} else {
		lsm_iter_seek_for_prev(it, kn, strlen(kn));
		k = model_le(m, start);
	}
	expect_at(r, it, m, k, what);
	for (int step = 0; step < 30 && k >= 0 && k < NKEYS; step++) {
		if (prng_chance(&r->rng, 1, 2)) {
			lsm_iter_next(it);
			k = model_ge(m, k + 1);
		} else {
			lsm_iter_prev(it);
			k = model_le(m, k - 1);
		}
		expect_at(r, it, m, k, what);
	}
	lsm_iter_free(it);
}

static void check_all(struct run *r, const char *what)
{
	for (int k = 0; k < NKEYS; k++)
		check_key(r, NULL, &r->cur, k, what);
	check_scan(r, NULL, &r->cur, 0, NKEYS, 0, 0, what);
	check_scan(r, NULL, &r->cur, 0, NKEYS, 1, 0, what);
}

static void drop_snapshots(struct run *r, int release)
{
	for (int i = 0; i < r->nsnaps; i++)
		if (release)
			lsm_tree_snapshot_release(r->t, r->snaps[i]);
	r->nsnaps = 0;
}

static void open_tree(struct run *r)
{
	int rc = lsm_tree_open("/t", &r->o, &r->t);
	cr_assert_eq(rc, 0, "seed %" PRIu64 ": reopen failed %d (%s: %s @%" PRIu64 ")", r->seed, rc, lsm_error_last()->file,
		     lsm_error_last()->msg, lsm_error_last()->offset);
}

/* Move the base forward to what is surely durable, so the log stays short. */
static void advance_base(struct run *r, uint64_t to)
{
	size_t i = 0;
	while (i < r->nlog && r->log[i].index <= to) {
		model_apply(&r->base, &r->log[i]);
		r->base_index = r->log[i].index;
		i++;
	}
	memmove(r->log, r->log + i, (r->nlog - i) * sizeof *r->log);
	r->nlog -= i;
	if (to > r->base_index)
		r->base_index = to; /* index-only batches */
}

static void crash(struct run *r)
{
	uint64_t durable = lsm_tree_durable_applied_index(r->t);
	io_fs_sim_fault_after(r->fs, 0, ERR_IO, 1); /* the old tree writes nothing more */
	io_fs_sim_crash(r->fs);
	drop_snapshots(r, 1);
	lsm_tree_close_noflush(r->t);
	io_fs_sim_fault_clear(r->fs);
	r->faulted = 0;
	lsm_error_clear();
	open_tree(r);
	uint64_t rec = lsm_tree_applied_index(r->t);
	cr_assert(rec >= durable && rec <= r->index,
		  "seed %" PRIu64 ": recovered index %" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]", r->seed, rec, durable,
		  r->index);
	cr_assert(rec >= r->base_index, "seed %" PRIu64 ": recovered %" PRIu64 " < base %" PRIu64, r->seed, rec,
		  r->base_index);
	if (getenv("LSM_MODEL_VERBOSE"))
		fprintf(stderr, "crash: mode %d sync %d durable %" PRIu64 " recovered %" PRIu64 " last %" PRIu64 "\n",
			r->o.durability, r->wal_sync, durable, rec, r->index);
	advance_base(r, rec);
	r->cur = r->base;
	r->nlog = 0;
	r->index = rec;
	r->stats_crashes++;
	check_all(r, "after crash");
}

static void crash(struct run *r);

/* An operation failed: fine only while a fault is armed; then the process "dies" and recovers. */
static void expect_ok(struct run *r, int rc, const char *what)
{
	if (rc == 0)
		return;
	cr_assert(r->faulted, "seed %" PRIu64 ": %s failed %d (%s: %s)", r->seed, what, rc, lsm_error_last()->file,
		  lsm_error_last()->msg);
	crash(r);
}

static void write_batch(struct run *r, struct logged_batch *lb)
{
	struct lsm_batch b;
	lsm_batch_init(&b);
	char ka[16], kb[16];
	for (int i = 0; i < lb->nops; i++) {
		struct op *op = &lb->ops[i];
		keyname(ka, op->a);
		if (op->kind == 0) {
			gen_value(vbuf, lb->index, op->a, op->len);
			cr_assert_eq(lsm_batch_put(&b, ka, strlen(ka), vbuf, op->len), 0);
		} else if (op->kind == 1) {
			cr_assert_eq(lsm_batch_delete(&b, ka, strlen(ka)), 0);
		} else {
			keyname(kb, op->b);
			cr_assert_eq(lsm_batch_delete_range(&b, ka, strlen(ka), kb, strlen(kb)), 0);
		}
	}
	lsm_batch_set_applied_index(&b, lb->index);
	if (getenv("LSM_MODEL_TRACE_KEY")) {
		int tk = atoi(getenv("LSM_MODEL_TRACE_KEY"));
		for (int i = 0; i < lb->nops; i++) {
			struct op *op = &lb->ops[i];
			if (op->a == tk || (op->kind == 2 && op->a <= tk && tk < op->b))
				fprintf(stderr, "trace: idx %" PRIu64 " kind %d [%d,%d)\n", lb->index, op->kind, op->a, op->b);
		}
	}
	struct lsm_write_options wo = {.sync = r->wal_sync};
	int rc = lsm_tree_write(r->t, &b, &wo);
	lsm_batch_deinit(&b);
	/* A failed write may or may not be recovered (its WAL record may have reached the disk):
	 * log it either way; recovery to any index in [durable, last] is checked exactly. */
	model_apply(&r->cur, lb);
	cr_assert(r->nlog < MAX_LOG);
	r->log[r->nlog++] = *lb;
	expect_ok(r, rc, "write");
}

static uint32_t rand_len(struct run *r)
{
	uint64_t x = prng_below(&r->rng, 100);
	if (x < 70)
		return (uint32_t)prng_below(&r->rng, 40);
	if (x < 95)
		return (uint32_t)prng_range(&r->rng, 100, 3000);
	return (uint32_t)prng_range(&r->rng, 10000, 200000); /* bigger than a block and a memtable */
}

static void one_seed(uint64_t seed, uint64_t ops)
{
	struct run *r = calloc(1, sizeof *r);
	cr_assert(r);
	r->seed = seed;
	prng_init(&r->rng, seed);
	r->fs = io_fs_sim_new(seed);
	hl_small_options(&r->o, r->fs);
	r->o.durability = prng_chance(&r->rng, 1, 3) ? LSM_DURABILITY_WAL : LSM_DURABILITY_APPLIED_INDEX;
	r->wal_sync = r->o.durability == LSM_DURABILITY_WAL && prng_chance(&r->rng, 1, 2);
	r->o.memtable_bytes = prng_range(&r->rng, 8 << 10, 64 << 10);
	r->o.target_file_bytes = prng_range(&r->rng, 8 << 10, 64 << 10);
	r->o.bloom_bits_per_key = prng_chance(&r->rng, 1, 4) ? 0 : 10;
	/* Half the seeds run flushes and compactions inline on this thread: they replay exactly. */
	if (prng_chance(&r->rng, 1, 2)) {
		cr_assert_eq(lsm_bg_new_inline(&r->bg), 0);
		r->o.bg = r->bg;
	}
	r->log = calloc(MAX_LOG, sizeof *r->log);
	cr_assert(r->log);
	for (int k = 0; k < NKEYS; k++)
		r->cur.idx[k] = r->base.idx[k] = -1;
	open_tree(r);
	/* A third of the seeds crash ten times less often, so their trees grow deeper levels. */
	int calm = prng_chance(&r->rng, 1, 3);
	for (uint64_t n = 0; n < ops; n++) {
		uint64_t x = prng_below(&r->rng, 1000);
		if (calm && x >= 925 && x < 955 && !prng_chance(&r->rng, 1, 10))
			x = 600; /* a get instead */
		if (x < 550) { /* a batch of writes */
			struct logged_batch lb = {.index = ++r->index};
			lb.nops = prng_chance(&r->rng, 1, 4) ? (int)prng_range(&r->rng, 2, 8) : 1;
			for (int i = 0; i < lb.nops; i++) {
				struct op *op = &lb.ops[i];
				uint64_t y = prng_below(&r->rng, 100);
				op->a = (int)prng_below(&r->rng, NKEYS);
				if (y < 70) {
					op->kind = 0;
					op->len = rand_len(r);
				} else if (y < 93) {
					op->kind = 1;
				} else {
					op->kind = 2;
					op->b = op->a + (int)prng_range(&r->rng, 1, 60);
					if (op->b > NKEYS)
						op->b = NKEYS;
				}
			}
			if (prng_chance(&r->rng, 1, 100))
				lb.nops = 0; /* only moves the applied index */
			write_batch(r, &lb);
		} else if (x < 700) {
			check_key(r, NULL, &r->cur, (int)prng_below(&r->rng, NKEYS), "get");
		} else if (x < 760) {
			if (r->nsnaps) {
				int s = (int)prng_below(&r->rng, (uint64_t)r->nsnaps);
				check_key(r, r->snaps[s], &r->snap_model[s], (int)prng_below(&r->rng, NKEYS), "snapshot get");
				if (prng_chance(&r->rng, 1, 4)) {
					int lo = (int)prng_below(&r->rng, NKEYS);
					check_scan(r, r->snaps[s], &r->snap_model[s], lo, lo + (int)prng_range(&r->rng, 1, 100),
						   (int)prng_below(&r->rng, 2), 0, "snapshot scan");
				}
			}
		} else if (x < 780) {
			if (r->nsnaps && prng_chance(&r->rng, 1, 3)) {
				int s = (int)prng_below(&r->rng, (uint64_t)r->nsnaps);
				check_walk(r, r->snaps[s], &r->snap_model[s], "snapshot walk");
			} else {
				check_walk(r, NULL, &r->cur, "walk");
			}
		} else if (x < 800) {
			int lo = (int)prng_below(&r->rng, NKEYS);
			check_scan(r, NULL, &r->cur, lo, lo + (int)prng_range(&r->rng, 1, 150), (int)prng_below(&r->rng, 2),
				   prng_chance(&r->rng, 1, 4), "scan");
		} else if (x < 815) {
			int lo = (int)prng_below(&r->rng, NKEYS), hi = lo + (int)prng_range(&r->rng, 1, 200);
			char lk[16], hk[16];
			keyname(lk, lo);
			keyname(hk, hi);
			uint64_t cnt = 0, want = 0;
			cr_assert_eq(lsm_tree_count(r->t, NULL, lk, strlen(lk), hk, strlen(hk), &cnt), 0);
			for (int k = lo; k < hi && k < NKEYS; k++)
				want += r->cur.idx[k] >= 0;
			cr_assert_eq(cnt, want, "seed %" PRIu64 ": count [%d,%d)", r->seed, lo, hi);
		} else if (x < 840) {
			if (r->nsnaps < MAX_SNAPS) {
				cr_assert_eq(lsm_tree_snapshot(r->t, &r->snaps[r->nsnaps]), 0);
				r->snap_model[r->nsnaps++] = r->cur;
			}
		} else if (x < 860) {
			if (r->nsnaps) {
				int s = (int)prng_below(&r->rng, (uint64_t)r->nsnaps);
				lsm_tree_snapshot_release(r->t, r->snaps[s]);
				r->snaps[s] = r->snaps[r->nsnaps - 1];
				r->snap_model[s] = r->snap_model[r->nsnaps - 1];
				r->nsnaps--;
			}
		} else if (x < 900) {
			int wait = (int)prng_below(&r->rng, 2);
			if (getenv("LSM_MODEL_VERBOSE"))
				fprintf(stderr, "flush wait %d at %" PRIu64 "\n", wait, r->index);
			int frc = lsm_tree_flush(r->t, wait);
			expect_ok(r, frc, "flush");
			if (wait && !frc)
				advance_base(r, lsm_tree_durable_applied_index(r->t));
		} else if (x < 915) {
			if (getenv("LSM_MODEL_VERBOSE"))
				fprintf(stderr, "compact at %" PRIu64 " snaps %d\n", r->index, r->nsnaps);
			if (prng_chance(&r->rng, 1, 2)) {
				expect_ok(r, lsm_tree_compact_range(r->t, NULL, 0, NULL, 0), "compact");
			} else {
				char lk[16], hk[16];
				int lo = (int)prng_below(&r->rng, NKEYS);
				keyname(lk, lo);
				keyname(hk, lo + 50);
				expect_ok(r, lsm_tree_compact_range(r->t, lk, strlen(lk), hk, strlen(hk)), "compact range");
			}
			advance_base(r, lsm_tree_durable_applied_index(r->t));
		} else if (x < 925) {
			/* clean close and reopen: everything written survives */
			if (r->faulted) {
				crash(r);
				continue;
			}
			drop_snapshots(r, 1);
			struct lsm_error be;
			int bg = lsm_tree_bg_error(r->t, &be);
			cr_assert_eq(bg, 0, "seed %" PRIu64 ": background error %d (%s: %s @%" PRIu64 ")", r->seed, bg,
				     be.file, be.msg, be.offset);
			cr_assert_eq(lsm_tree_close(r->t), 0, "seed %" PRIu64, r->seed);
			open_tree(r);
			cr_assert_eq(lsm_tree_applied_index(r->t), r->index, "seed %" PRIu64, r->seed);
			advance_base(r, r->index);
			check_all(r, "after reopen");
		} else if (x < 945) {
			crash(r);
		} else if (x < 950 && r->bg) {
			lsm_bg_run(r->bg, (int)prng_range(&r->rng, 1, 3)); /* "a reactor turn" of work */
		} else if (x < 955) {
			/* An I/O fault after a few more operations: one failure, or every one after it. */
			if (!r->faulted) {
				io_fs_sim_fault_after(r->fs, prng_below(&r->rng, 300), prng_chance(&r->rng, 1, 2) ? ERR_IO : ERR_NOSPC,
						      (int)prng_below(&r->rng, 2));
				r->faulted = 1;
				r->stats_faults++;
			}
		} else {
			advance_base(r, lsm_tree_durable_applied_index(r->t));
		}
		r->stats_ops++;
	}
	if (r->faulted)
		crash(r);
	check_all(r, "at end");
	if (getenv("LSM_MODEL_VERBOSE")) {
		struct lsm_stats st;
		lsm_tree_stats(r->t, &st);
		fprintf(stderr,
			"seed %" PRIu64 ": mode %d sync %d inline %d, %" PRIu64 " batches, %" PRIu64 " crashes, %" PRIu64
			" faults, files per level %u %u %u %u %u, compactions %" PRIu64 "\n",
			seed, r->o.durability, r->wal_sync, r->bg != NULL, r->index, r->stats_crashes, r->stats_faults, st.level_files[0],
			st.level_files[1], st.level_files[2], st.level_files[3], st.level_files[4], st.compactions);
	}
	drop_snapshots(r, 1);
	cr_assert_eq(lsm_tree_close(r->t), 0);
	lsm_bg_free(r->bg);
	io_fs_sim_free(r->fs);
	free(r->log);
	free(r);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	return s && *s ? strtoull(s, NULL, 0) : def;
}

Test(lsm_model, random_ops_with_crashes, .timeout = 600)
{
	uint64_t ops = env_u64("LSM_MODEL_OPS", 3000);
	const char *one = getenv("LSM_MODEL_SEED");
	if (one && *one) {
		uint64_t seed = strtoull(one, NULL, 0);
		fprintf(stderr, "lsm_model: replaying seed %" PRIu64 "\n", seed);
		one_seed(seed, ops);
		return;
	}
	uint64_t base = env_u64("LSM_MODEL_BASE_SEED", prng_seed_from_time());
	uint64_t nseeds = env_u64("LSM_MODEL_SEEDS", 0);
	uint64_t budget_ns = env_u64("LSM_MODEL_BUDGET_S", 40) * 1000000000ull;
	uint64_t t0 = clock_mono_ns();
	uint64_t i = 0;
	/* Bounded: a seed count if given, else as many seeds as fit the budget (at least 3). */
	for (; nseeds ? i < nseeds : (i < 3 || clock_mono_ns() - t0 < budget_ns); i++) {
		uint64_t seed = base + i;
		fprintf(stderr, "lsm_model: seed %" PRIu64 " (replay: LSM_MODEL_SEED=%" PRIu64 ")\n", seed, seed);
		one_seed(seed, ops);
		if (i >= 100000)
			break;
	}
	fprintf(stderr, "lsm_model: %" PRIu64 " seeds x %" PRIu64 " ops passed\n", i, ops);
}
