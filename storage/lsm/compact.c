/*
 * compact.c — leveled compaction: choosing what to compact and merging it into the next level.
 *
 * Scores: level 0 = files / l0_compaction_trigger; level L >= 1 = bytes / (level1_bytes *
 * 10^(L-1)); the last level is never a source. The highest score >= 1 is compacted: all of
 * level 0 (its files overlap), or the file of level L that overlaps the fewest bytes of level
 * L+1 per byte of its own (least rewriting), together with the overlapping files of level L+1. A lone file with nothing
 * under it moves down by a manifest edit only (trivial move).
 *
 * Dropping versions. Live snapshots cut sequence space into stripes (stripe(s) = first
 * snapshot >= s; everything newer than the last snapshot is the "latest" stripe). A reader can
 * only tell apart versions of a key in different stripes, so of the versions of a key within one
 * stripe only the newest is kept; a point entry covered by a range tombstone of the same stripe
 * is dropped; deletions and tombstones at or below the oldest snapshot are dropped when no
 * deeper level overlaps (bottommost). Range tombstones travel with the outputs, clipped to each
 * output table's key span so tables of a level stay disjoint (lsm_int.h on sentinels).
 *
 * A compaction runs on the background thread; every 512 entries it flushes waiting memtables
 * inline (as LevelDB does) so a long compaction does not stall writers behind it.
 */
#include "storage/lsm/lsm_tree_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int lsm_table_bounds(struct lsm_sst_builder *b, const struct lsm_frags *fr, struct lsm_bytes *lo,
		     struct lsm_bytes *hi);

struct compaction {
	int level, out_level;
	struct lsm_file **in[2];
	size_t nin[2];
	int bottommost;
	int manual;
	uint64_t *snaps;
	size_t nsnaps;
	uint64_t smallest_snap;
	struct lsm_version *v;
};

static uint64_t level_target(const struct lsm_tree *t, int level)
{
	uint64_t x = t->o.level1_bytes;
	for (int i = 1; i < level; i++)
		x *= 10;
	return x;
}

/* mu held. Level with the highest score >= 1, or -1. */
static int pick_level(struct lsm_tree *t, double *score_out)
{
	const struct lsm_version *v = t->cur;
	double best = 0;
	int lvl = -1;
	double s0 = (double)v->nfiles[0] / (double)t->o.l0_compaction_trigger;
	if (s0 >= 1) {
		best = s0;
		lvl = 0;
	}
	for (int l = 1; l < LSM_LEVELS - 1; l++) {
		double s = (double)lsm_version_level_bytes(v, l) / (double)level_target(t, l);
		if (s >= 1 && s > best) {
			best = s;
			lvl = l;
		}
	}
	if (score_out)
		*score_out = best;
	return lvl;
}

int lsm_compact_needed(struct lsm_tree *t)
{
	return (t->manual.active && !t->manual.done) || pick_level(t, NULL) >= 0;
}

static void range_of(struct lsm_file **f, size_t n, struct lsm_slice *lo, struct lsm_slice *hi)
{
	ASSERT(n > 0);
	*lo = (struct lsm_slice){f[0]->smallest.p, f[0]->smallest.n - 8};
	*hi = (struct lsm_slice){f[0]->largest.p, f[0]->largest.n - 8};
	for (size_t i = 1; i < n; i++) {
		if (lsm_ukey_cmp(f[i]->smallest.p, f[i]->smallest.n - 8, lo->p, lo->n) < 0)
			*lo = (struct lsm_slice){f[i]->smallest.p, f[i]->smallest.n - 8};
		if (lsm_ukey_cmp(f[i]->largest.p, f[i]->largest.n - 8, hi->p, hi->n) > 0)
			*hi = (struct lsm_slice){f[i]->largest.p, f[i]->largest.n - 8};
	}
}

static void compaction_free(struct lsm_tree *t, struct compaction *c)
{
	free(c->in[0]);
	free(c->in[1]);
	free(c->snaps);
	if (c->v)
		lsm_tree_version_unref(t, c->v);
	memset(c, 0, sizeof *c);
}

/* mu held. Fill inputs for level -> level+1 given the level's inputs in c->in[0]. */
static int setup_inputs(struct lsm_tree *t, struct compaction *c)
{
	struct lsm_slice lo, hi;
	range_of(c->in[0], c->nin[0], &lo, &hi);
	int rc = lsm_version_overlaps(c->v, c->out_level, lo.p, lo.n, hi.p, hi.n, &c->in[1], &c->nin[1]);
	if (rc)
		return rc;
	struct lsm_slice alo = lo, ahi = hi;
	if (c->nin[1]) {
		struct lsm_slice l2, h2;
		range_of(c->in[1], c->nin[1], &l2, &h2);
		if (lsm_ukey_cmp(l2.p, l2.n, alo.p, alo.n) < 0)
			alo = l2;
		if (lsm_ukey_cmp(h2.p, h2.n, ahi.p, ahi.n) > 0)
			ahi = h2;
	}
	c->bottommost = 1;
	for (int l = c->out_level + 1; l < LSM_LEVELS && c->bottommost; l++) {
		struct lsm_file **o;
		size_t n;
		rc = lsm_version_overlaps(c->v, l, alo.p, alo.n, ahi.p, ahi.n, &o, &n);
		if (rc)
			return rc;
		free(o);
		c->bottommost = n == 0;
	}
	/* Snapshots (sorted, oldest first as created) */
	c->snaps = malloc((t->nsnaps ? t->nsnaps : 1) * sizeof *c->snaps);
	if (!c->snaps)
		return ERR_NOMEM;
	for (struct lsm_snapshot *s = t->snaps.next; s != &t->snaps; s = s->next)
		c->snaps[c->nsnaps++] = s->seq;
	for (size_t i = 1; i < c->nsnaps; i++) /* insertion sort: snapshots are taken in order */
		for (size_t j = i; j > 0 && c->snaps[j - 1] > c->snaps[j]; j--) {
			uint64_t x = c->snaps[j];
			c->snaps[j] = c->snaps[j - 1];
			c->snaps[j - 1] = x;
		}
	c->smallest_snap = c->nsnaps ? c->snaps[0] : __atomic_load_n(&t->last_seq, __ATOMIC_ACQUIRE);
	return 0;
}

/* The file of `level` whose compaction rewrites the least of level+1 per byte it moves down
 * (RocksDB's "min overlapping ratio"): one merge-like sweep over both sorted levels. Ties go
 * to the first file. */
static size_t pick_min_overlap(const struct lsm_version *v, int level)
{
	size_t n = v->nfiles[level], m = v->nfiles[level + 1], j = 0, best = 0;
	double best_ratio = -1;
	struct lsm_file *const *a = v->files[level], *const *b = v->files[level + 1];
	for (size_t i = 0; i < n; i++) {
		const struct lsm_file *f = a[i];
		while (j < m && lsm_ukey_cmp(b[j]->largest.p, b[j]->largest.n - 8, f->smallest.p, f->smallest.n - 8) < 0)
			j++;
		uint64_t overlap = 0;
		for (size_t k = j; k < m && lsm_ukey_cmp(b[k]->smallest.p, b[k]->smallest.n - 8, f->largest.p,
							f->largest.n - 8) <= 0; k++)
			overlap += b[k]->size;
		double ratio = (double)overlap / (double)(f->size ? f->size : 1);
		if (best_ratio < 0 || ratio < best_ratio) {
			best_ratio = ratio;
			best = i;
		}
	}
	ASSERT(best < n);
	return best;
}

/* mu held: choose an automatic compaction (0 if none, 1 if chosen). */
static int pick_auto(struct lsm_tree *t, struct compaction *c)
{
	int level = pick_level(t, NULL);
	if (level < 0)
		return 0;
	c->level = level;
	c->out_level = level + 1;
	c->v = t->cur;
	lsm_version_ref(c->v);
	const struct lsm_version *v = c->v;
	if (level == 0) {
		c->nin[0] = v->nfiles[0];
		c->in[0] = malloc(c->nin[0] * sizeof *c->in[0]);
		if (!c->in[0])
			return ERR_NOMEM;
		memcpy(c->in[0], v->files[0], c->nin[0] * sizeof *c->in[0]);
	} else {
		size_t i = pick_min_overlap(v, level);
		c->in[0] = malloc(sizeof *c->in[0]);
		if (!c->in[0])
			return ERR_NOMEM;
		c->in[0][0] = v->files[level][i];
		c->nin[0] = 1;
	}
	int rc = setup_inputs(t, c);
	return rc ? rc : 1;
}

/* mu held: the next step of a manual compaction (0 none left, 1 chosen). */
static int pick_manual(struct lsm_tree *t, struct compaction *c)
{
	struct lsm_manual *m = &t->manual;
	const void *lo = m->has_lo ? m->lo.p : NULL, *hi = m->has_hi ? m->hi.p : NULL;
	size_t lon = m->lo.n, hin = m->hi.n;
	int rc;
	if (m->last_level < 0) {
		int deepest = -1;
		for (int l = 0; l < LSM_LEVELS; l++) {
			struct lsm_file **o;
			size_t n;
			rc = lsm_version_overlaps(t->cur, l, lo, lon, hi, hin, &o, &n);
			if (rc)
				return rc;
			free(o);
			if (n)
				deepest = l;
		}
		if (deepest < 0) {
			m->done = 1;
			return 0;
		}
		m->last_level = deepest == 0 ? 1 : deepest;
	}
	for (; m->level < m->last_level; m->level++) {
		struct lsm_file **o;
		size_t n;
		rc = lsm_version_overlaps(t->cur, m->level, lo, lon, hi, hin, &o, &n);
		if (rc)
			return rc;
		if (n == 0) {
			free(o);
			continue;
		}
		if (m->level == 0) {
			/* Level-0 files overlap each other: moving only some of them down could put an
			 * older file above a newer one. Take them all. */
			free(o);
			n = t->cur->nfiles[0];
			o = malloc(n * sizeof *o);
			if (!o)
				return ERR_NOMEM;
			memcpy(o, t->cur->files[0], n * sizeof *o);
		}
		c->level = m->level;
		c->out_level = m->level + 1;
		c->in[0] = o;
		c->nin[0] = n;
		c->manual = 1;
		c->v = t->cur;
		lsm_version_ref(c->v);
		rc = setup_inputs(t, c);
		return rc ? rc : 1;
	}
	m->done = 1;
	return 0;
}

static size_t stripe(const struct compaction *c, uint64_t seq)
{
	size_t lo = 0, hi = c->nsnaps;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c->snaps[mid] < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- output tables ------------------------------------------------------------------------------ */

struct out {
	struct lsm_tree *t;
	struct compaction *c;
	struct lsm_frags *g;       /* all input tombstones */
	struct io_file *f;
	struct lsm_sst_builder *b;
	uint64_t number;
	struct lsm_bytes lo;       /* the current output's lower bound (user key); n=0: none */
	int has_lo;
	struct lsm_bytes last_ukey;
	struct lsm_file **files;
	size_t nfiles, capfiles;
	uint64_t bytes;
};

static int out_open(struct out *o)
{
	pthread_mutex_lock(&o->t->mu);
	o->number = o->t->next_file++;
	pthread_mutex_unlock(&o->t->mu);
	char path[LIMIT_LSM_PATH_BYTES], name[32];
	lsm_tree_file_path(o->t, o->number, "sst", path, sizeof path);
	snprintf(name, sizeof name, "%06" PRIu64 ".sst", o->number);
	int rc = io_file_open(o->t->fs, path, IO_OPEN_CREATE | IO_OPEN_TRUNC, &o->f);
	if (rc)
		return lsm_err(rc, name, 0, "cannot create table");
	struct lsm_sst_builder_opts bo = {o->t->o.block_bytes, o->t->o.bloom_bits_per_key};
	return lsm_sst_builder_new(o->f, name, &bo, &o->b);
}

/* Tombstones of g clipped to [lo, hi) (hi NULL = unbounded), filtered by stripe. */
static int clip_frags(struct out *o, const void *hi, size_t hin, struct lsm_frags **res)
{
	struct lsm_tomb *arr = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	const struct lsm_frags *g = o->g;
	size_t i = o->has_lo ? lsm_frags_find(g, o->lo.p, o->lo.n) : 0;
	for (; i < g->n && !rc; i++) {
		const struct lsm_frag *fr = &g->v[i];
		if (hi && lsm_ukey_cmp(fr->start.p, fr->start.n, hi, hin) >= 0)
			break;
		struct lsm_slice s = fr->start, e = fr->end;
		if (o->has_lo && lsm_ukey_cmp(s.p, s.n, o->lo.p, o->lo.n) < 0)
			s = (struct lsm_slice){o->lo.p, o->lo.n};
		if (hi && lsm_ukey_cmp(e.p, e.n, hi, hin) > 0)
			e = (struct lsm_slice){hi, hin};
		if (lsm_ukey_cmp(s.p, s.n, e.p, e.n) >= 0)
			continue;
		size_t last_stripe = SIZE_MAX;
		for (size_t j = 0; j < fr->nseq && !rc; j++) {
			uint64_t seq = fr->seqs[j];
			size_t st = stripe(o->c, seq);
			if (st == last_stripe)
				continue; /* a newer tombstone of the same stripe covers the same keys */
			last_stripe = st;
			if (o->c->bottommost && seq <= o->c->smallest_snap)
				continue; /* nothing below, no reader needs it */
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct lsm_tomb *a = realloc(arr, nc * sizeof *a);
				if (!a) {
					rc = ERR_NOMEM;
					break;
				}
				arr = a;
				cap = nc;
			}
			arr[n++] = (struct lsm_tomb){s, e, seq};
		}
	}
	if (!rc)
		rc = lsm_frags_build(arr, n, res);
	free(arr);
	return rc;
}

/* Finish the current output at upper bound hi (NULL: last output). */
static int out_finish(struct out *o, const void *hi, size_t hin)
{
	struct lsm_frags *fr = NULL;
	struct lsm_bytes lo = {0}, hb = {0};
	uint64_t size = 0;
	char path[LIMIT_LSM_PATH_BYTES];
	lsm_tree_file_path(o->t, o->number, "sst", path, sizeof path);
	int rc = clip_frags(o, hi, hin, &fr);
	if (rc)
		goto out;
	if (lsm_sst_builder_entries(o->b) == 0 && fr->n == 0) {
		/* Nothing to keep: drop the file. */
		lsm_sst_builder_free(o->b);
		o->b = NULL;
		io_file_close(o->f);
		o->f = NULL;
		lsm_ignore(io_fs_unlink(o->t->fs, path));
		goto out;
	}
	rc = lsm_sst_builder_set_frags(o->b, fr);
	if (!rc)
		rc = lsm_sst_builder_finish(o->b, &size);
	if (!rc)
		rc = lsm_table_bounds(o->b, fr, &lo, &hb);
	if (rc)
		goto out;
	uint64_t sseq = 0, lseq = 0; /* from the builder's props, which include tombstones */
	lsm_sst_builder_seqs(o->b, &sseq, &lseq);
	if (o->nfiles == o->capfiles) {
		size_t nc = o->capfiles ? o->capfiles * 2 : 8;
		struct lsm_file **a = realloc(o->files, nc * sizeof *a);
		if (!a) {
			rc = ERR_NOMEM;
			goto out;
		}
		o->files = a;
		o->capfiles = nc;
	}
	struct lsm_file *f;
	rc = lsm_file_new(o->number, size, (struct lsm_slice){lo.p, lo.n}, (struct lsm_slice){hb.p, hb.n}, sseq,
			  lseq, fr->n > 0, &f);
	if (rc)
		goto out;
	o->files[o->nfiles++] = f;
	o->bytes += size;
	lsm_sst_builder_free(o->b);
	o->b = NULL;
	io_file_close(o->f);
	o->f = NULL;
out:
	lsm_frags_unref(fr);
	lsm_bytes_free(&lo);
	lsm_bytes_free(&hb);
	return rc;
}

static int maybe_flush_inline(struct lsm_tree *t)
{
	pthread_mutex_lock(&t->mu);
	size_t n = t->nimm;
	pthread_mutex_unlock(&t->mu);
	int rc = 0;
	while (n-- > 0 && !rc)
		rc = lsm_tree_flush_one(t);
	return rc;
}

static int run(struct lsm_tree *t, struct compaction *c)
{
	struct out o = {.t = t, .c = c};
	struct lsm_iiter **kids = NULL, *it = NULL;
	struct lsm_tomb *tombs = NULL;
	size_t ntombs = 0, captombs = 0, nkids = 0;
	struct lsm_edit e;
	lsm_edit_init(&e);
	int rc = 0;
	size_t total = c->nin[0] + c->nin[1];
	kids = calloc(total ? total : 1, sizeof *kids);
	if (!kids)
		return ERR_NOMEM;
	uint64_t in_bytes = 0;
	struct lsm_sst **ssts = calloc(total ? total : 1, sizeof *ssts);
	size_t nssts = 0;
	if (!ssts) {
		free(kids);
		return ERR_NOMEM;
	}
	for (int w = 0; w < 2 && !rc; w++) {
		for (size_t i = 0; i < c->nin[w] && !rc; i++) {
			struct lsm_sst *s;
			rc = lsm_tree_file_sst(t, c->in[w][i], &s);
			if (rc)
				break;
			ssts[nssts++] = s;
			in_bytes += c->in[w][i]->size;
			if (c->in[w][i]->has_rangedel)
				rc = lsm_frags_collect(s->frags, &tombs, &ntombs, &captombs);
			if (!rc)
				rc = lsm_sst_iter(s, 0, &kids[nkids]);
			if (!rc)
				nkids++;
		}
	}
	if (!rc)
		rc = lsm_frags_build(tombs, ntombs, &o.g);
	/* build copied the bytes; the slices pointed into the tables' frags, pinned until here */
	free(tombs);
	for (size_t i = 0; i < nssts; i++)
		lsm_sst_unref(ssts[i]);
	free(ssts);
	if (rc) {
		for (size_t i = 0; i < nkids; i++)
			kids[i]->ops->free(kids[i]);
		free(kids);
		return rc;
	}
	rc = lsm_merge_iter_new(kids, nkids, &it);
	free(kids);
	if (rc)
		goto out;
	rc = out_open(&o);
	struct lsm_bytes cur_ukey = {0};
	int have_cur = 0;
	size_t last_stripe = SIZE_MAX;
	uint64_t count = 0;
	for (it->ops->seek_first(it); !rc && II_VALID(it); it->ops->next(it)) {
		if (++count % 512 == 0 && (rc = maybe_flush_inline(t)) != 0)
			break;
		struct lsm_slice k = II_KEY(it), v = II_VALUE(it);
		const unsigned char *uk = k.p;
		size_t ukn = k.n - 8;
		uint64_t seq = lsm_ikey_seq(k.p, k.n);
		unsigned type = lsm_ikey_type(k.p, k.n);
		if (!have_cur || lsm_ukey_cmp(cur_ukey.p, cur_ukey.n, uk, ukn) != 0) {
			if ((rc = lsm_bytes_set(&cur_ukey, uk, ukn)) != 0)
				break;
			have_cur = 1;
			last_stripe = SIZE_MAX;
		}
		size_t st = stripe(c, seq);
		int drop = 0;
		if (st == last_stripe) {
			drop = 1; /* a newer version in the same stripe hides it */
		} else {
			last_stripe = st;
			if (type == LSM_TYPE_DEL && c->bottommost && seq <= c->smallest_snap) {
				drop = 1;
			} else if (o.g->n) {
				size_t fi = lsm_frags_find(o.g, uk, ukn);
				if (fi < o.g->n && lsm_ukey_cmp(o.g->v[fi].start.p, o.g->v[fi].start.n, uk, ukn) <= 0) {
					const struct lsm_frag *fr = &o.g->v[fi];
					uint64_t above = 0; /* smallest tombstone seq > seq covering the key */
					for (size_t j = 0; j < fr->nseq && fr->seqs[j] > seq; j++)
						above = fr->seqs[j];
					if (above && stripe(c, above) == st)
						drop = 1;
				}
			}
		}
		if (drop)
			continue;
		/* Cut outputs at a user-key change only, so a key's versions stay in one table. */
		if (lsm_sst_builder_size(o.b) >= t->o.target_file_bytes && o.last_ukey.n &&
		    lsm_ukey_cmp(o.last_ukey.p, o.last_ukey.n, uk, ukn) != 0) {
			rc = out_finish(&o, uk, ukn);
			if (!rc)
				rc = lsm_bytes_set(&o.lo, uk, ukn);
			o.has_lo = 1;
			if (!rc)
				rc = out_open(&o);
			if (rc)
				break;
		}
		rc = lsm_sst_builder_add(o.b, k.p, k.n, v.p, v.n);
		if (!rc && (o.last_ukey.n != ukn || memcmp(o.last_ukey.p, uk, ukn) != 0))
			rc = lsm_bytes_set(&o.last_ukey, uk, ukn);
	}
	lsm_bytes_free(&cur_ukey);
	if (!rc)
		rc = it->ops->status(it);
	if (!rc && o.b)
		rc = out_finish(&o, NULL, 0);
	if (!rc && o.nfiles) {
		int src = io_fs_sync_dir(t->fs, t->dir);
		if (src)
			rc = lsm_err(src, t->dir, 0, "directory sync failed");
	}
	for (int w = 0; w < 2 && !rc; w++)
		for (size_t i = 0; i < c->nin[w] && !rc; i++)
			rc = lsm_edit_del(&e, w == 0 ? c->level : c->out_level, c->in[w][i]->number);
	for (size_t i = 0; i < o.nfiles && !rc; i++)
		rc = lsm_edit_add(&e, c->out_level, o.files[i]);
	if (!rc)
		rc = lsm_tree_log_and_apply(t, &e);
	if (!rc) {
		__atomic_add_fetch(&t->st_comp_bytes, o.bytes, __ATOMIC_RELAXED);
		__atomic_add_fetch(&t->st_comp_read, in_bytes, __ATOMIC_RELAXED);
		__atomic_add_fetch(&t->st_compactions, 1, __ATOMIC_RELAXED);
	}
out:
	if (it)
		it->ops->free(it);
	lsm_sst_builder_free(o.b);
	if (o.f)
		io_file_close(o.f);
	for (size_t i = 0; i < o.nfiles; i++)
		lsm_file_unref(o.files[i]);
	free(o.files);
	lsm_frags_unref(o.g);
	lsm_bytes_free(&o.lo);
	lsm_bytes_free(&o.last_ukey);
	lsm_edit_free(&e);
	return rc; /* on error, half-written outputs are unnamed garbage for purge */
}

static int cmp_smallest(const void *a, const void *b)
{
	const struct lsm_file *x = *(struct lsm_file *const *)a, *y = *(struct lsm_file *const *)b;
	return lsm_ikey_cmp(x->smallest.p, x->smallest.n, y->smallest.p, y->smallest.n);
}

/* The inputs can move down unchanged: nothing under them, and (level 0) no two of them share a
 * user key, so they form a valid sorted run (sequential loads flush such tables). */
static int can_move(struct compaction *c)
{
	if (c->manual || c->nin[1] != 0)
		return 0;
	if (c->level == 0 && c->nin[0] != c->v->nfiles[0])
		return 0;
	qsort(c->in[0], c->nin[0], sizeof *c->in[0], cmp_smallest);
	for (size_t i = 1; i < c->nin[0]; i++) {
		const struct lsm_file *a = c->in[0][i - 1], *b = c->in[0][i];
		if (lsm_ukey_cmp(a->largest.p, a->largest.n - 8, b->smallest.p, b->smallest.n - 8) >= 0)
			return 0;
	}
	return 1;
}

static int trivial_move(struct lsm_tree *t, struct compaction *c)
{
	struct lsm_edit e;
	lsm_edit_init(&e);
	int rc = 0;
	for (size_t i = 0; i < c->nin[0] && !rc; i++) {
		rc = lsm_edit_del(&e, c->level, c->in[0][i]->number);
		if (!rc)
			rc = lsm_edit_add(&e, c->out_level, c->in[0][i]);
	}
	if (!rc)
		rc = lsm_tree_log_and_apply(t, &e);
	lsm_edit_free(&e);
	return rc;
}

int lsm_compact_step(struct lsm_tree *t, int *did)
{
	struct compaction c;
	memset(&c, 0, sizeof c);
	*did = 0;
	pthread_mutex_lock(&t->mu);
	int manual = t->manual.active && !t->manual.done;
	int rc = manual ? pick_manual(t, &c) : 0;
	if (rc == 0) {
		if (manual)
			pthread_cond_broadcast(&t->cv); /* the manual request is done */
		manual = 0;
		rc = pick_auto(t, &c);
	}
	pthread_mutex_unlock(&t->mu);
	if (rc <= 0) {
		compaction_free(t, &c);
		if (rc && manual) {
			pthread_mutex_lock(&t->mu);
			t->manual.rc = rc;
			t->manual.done = 1;
			pthread_mutex_unlock(&t->mu);
		}
		return rc;
	}
	*did = 1;
	if (can_move(&c))
		rc = trivial_move(t, &c);
	else
		rc = run(t, &c);
	if (c.manual) {
		pthread_mutex_lock(&t->mu);
		if (rc) {
			t->manual.rc = rc;
			t->manual.done = 1;
		} else {
			t->manual.level = c.level + 1;
		}
		pthread_cond_broadcast(&t->cv);
		pthread_mutex_unlock(&t->mu);
	}
	compaction_free(t, &c);
	return rc;
}
