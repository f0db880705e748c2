/*
 * dbiter.c — the user-facing iterator (and count): a merge of every source at a fixed
 * sequence number, minus deletions, range-deleted entries and out-of-bounds keys.
 *
 * Sources: each memtable, each level-0 table, and one "level iterator" per deeper level that
 * opens that level's tables lazily (so an iterator over tens of GB opens only what it visits).
 * The iterator references the memtables and version it started with, so it sees a stable view
 * while writes, flushes and compactions go on. Range tombstones of all sources are merged into
 * one fragment set at creation (they are few); an entry at seq s is hidden when a tombstone
 * with s < t <= snapshot covers it.
 *
 * Direction (LevelDB's DBIter): going forward the merge sits on the entry that produced the
 * current key; going backward it sits just before all entries of the current key. A change of
 * direction re-seeks once. The current key/value are copied, so they stay valid until the
 * iterator moves.
 */
#include "storage/lsm/lsm_tree_int.h"

#include <stdlib.h>

/* ---- level iterator --------------------------------------------------------------------------- */

struct level_iter {
	struct lsm_iiter base;
	struct lsm_tree *t;
	const struct lsm_version *v; /* referenced by the owning user iterator */
	int level;
	size_t idx;
	struct lsm_iiter *cur;
	int fill;
	int status;
};

static void li_open(struct level_iter *li, size_t idx)
{
	if (li->cur) {
		li->cur->ops->free(li->cur);
		li->cur = NULL;
	}
	li->idx = idx;
	if (idx >= li->v->nfiles[li->level])
		return;
	struct lsm_sst *s;
	int rc = lsm_tree_file_sst(li->t, li->v->files[li->level][idx], &s);
	if (rc) {
		li->status = rc;
		return;
	}
	rc = lsm_sst_iter(s, li->fill, &li->cur);
	lsm_sst_unref(s);
	if (rc)
		li->status = rc;
}

static void li_check(struct level_iter *li)
{
	if (li->cur && !II_VALID(li->cur) && li->cur->ops->status(li->cur) && !li->status)
		li->status = li->cur->ops->status(li->cur);
}

static void li_skip_fwd(struct level_iter *li)
{
	while (li->cur && !II_VALID(li->cur) && !li->status) {
		li_check(li);
		if (li->status)
			break;
		li_open(li, li->idx + 1);
		if (li->cur)
			li->cur->ops->seek_first(li->cur);
	}
}

static void li_skip_back(struct level_iter *li)
{
	while (li->cur && !II_VALID(li->cur) && !li->status) {
		li_check(li);
		if (li->status || li->idx == 0) {
			if (li->cur) {
				li->cur->ops->free(li->cur);
				li->cur = NULL;
			}
			break;
		}
		li_open(li, li->idx - 1);
		if (li->cur)
			li->cur->ops->seek_last(li->cur);
	}
}

static int li_valid(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;
	return !li->status && li->cur && II_VALID(li->cur);
}
static void li_first(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;
	li_open(li, 0);
	if (li->cur)
		li->cur->ops->seek_first(li->cur);
	li_skip_fwd(li);
}
static void li_last(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;
	size_t n = li->v->nfiles[li->level];
	li_open(li, n ? n - 1 : 0);
	if (li->cur)
		li->cur->ops->seek_last(li->cur);
	li_skip_back(li);
}
static void li_seek(struct lsm_iiter *it, const unsigned char *k, size_t kn)
{
	struct level_iter *li = (struct level_iter *)it;
	size_t idx = lsm_version_find(li->v, li->level, k, kn);
	if (!(li->cur && li->idx == idx))
		li_open(li, idx);
	if (li->cur)
		li->cur->ops->seek(li->cur, k, kn);
	li_skip_fwd(li);
}
static void li_next(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;
	li->cur->ops->next(li->cur);
	li_skip_fwd(li);
}
static void li_prev(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;
	li->cur->ops->prev(li->cur);
	li_skip_back(li);
}
static struct lsm_slice li_key(struct lsm_iiter *it) { return II_KEY(((struct level_iter *)it)->cur); }
static struct lsm_slice li_value(struct lsm_iiter *it) { return II_VALUE(((struct level_iter *)it)->cur); }
static int li_status(struct lsm_iiter *it) { return ((struct level_iter *)it)->status; }
static void li_free(struct lsm_iiter *it)
{
	struct level_iter *li = (struct level_iter *)it;
	if (li->cur)
		li->cur->ops->free(li->cur);
	free(li);
}

static const struct lsm_iiter_ops level_ops = {li_valid, li_first, li_last, li_seek, li_next,
					       li_prev, li_key, li_value, li_status, li_free};

/* ---- user iterator ------------------------------------------------------------------------------ */

struct lsm_iter {
	struct lsm_tree *t;
	struct lsm_readstate rs;
	struct lsm_iiter *m;
	struct lsm_frags *rt;
	uint64_t snap;
	struct lsm_bytes lower, upper;
	int has_lower, has_upper;
	int valid, forward, status;
	int keys_only;
	struct lsm_bytes key, val, tmp;
};

static int covered(const struct lsm_iter *it, const unsigned char *uk, size_t n, uint64_t seq)
{
	return it->rt->n && lsm_frags_max_seq(it->rt, uk, n, it->snap) > seq;
}

static void set_error(struct lsm_iter *it, int rc)
{
	it->status = rc;
	it->valid = 0;
}

static int check_m(struct lsm_iter *it)
{
	int rc = it->m->ops->status(it->m);
	if (rc)
		set_error(it, rc);
	return rc;
}

/* Forward: from the merge's position, find the newest visible live entry of the next key. */
static void find_next(struct lsm_iter *it, int skipping)
{
	for (; II_VALID(it->m); it->m->ops->next(it->m)) {
		struct lsm_slice k = II_KEY(it->m);
		const unsigned char *uk = k.p;
		size_t ukn = k.n - 8;
		uint64_t seq = lsm_ikey_seq(k.p, k.n);
		if (seq > it->snap)
			continue;
		if (skipping && lsm_ukey_cmp(uk, ukn, it->key.p, it->key.n) <= 0)
			continue;
		if (it->has_upper && lsm_ukey_cmp(uk, ukn, it->upper.p, it->upper.n) >= 0)
			break;
		unsigned type = lsm_ikey_type(k.p, k.n);
		if (lsm_bytes_set(&it->key, uk, ukn)) {
			set_error(it, ERR_NOMEM);
			return;
		}
		skipping = 1;
		if (type != LSM_TYPE_PUT || covered(it, uk, ukn, seq))
			continue;
		if (!it->keys_only) {
			struct lsm_slice v = II_VALUE(it->m);
			if (lsm_bytes_set(&it->val, v.p, v.n)) {
				set_error(it, ERR_NOMEM);
				return;
			}
		}
		it->valid = 1;
		return;
	}
	it->valid = 0;
	check_m(it);
}

/* Backward: from the merge's position (just after the wanted keys), find the previous key. */
static void find_prev(struct lsm_iter *it)
{
	int have = 0;
	while (II_VALID(it->m)) {
		struct lsm_slice k = II_KEY(it->m);
		const unsigned char *uk = k.p;
		size_t ukn = k.n - 8;
		uint64_t seq = lsm_ikey_seq(k.p, k.n);
		if (seq <= it->snap) {
			if (have && lsm_ukey_cmp(uk, ukn, it->key.p, it->key.n) < 0)
				break;
			if (it->has_lower && lsm_ukey_cmp(uk, ukn, it->lower.p, it->lower.n) < 0)
				break;
			unsigned type = lsm_ikey_type(k.p, k.n);
			if (type != LSM_TYPE_PUT || covered(it, uk, ukn, seq)) {
				have = 0;
			} else {
				struct lsm_slice v = II_VALUE(it->m);
				if (lsm_bytes_set(&it->key, uk, ukn) ||
				    (!it->keys_only && lsm_bytes_set(&it->val, v.p, v.n))) {
					set_error(it, ERR_NOMEM);
					return;
				}
				have = 1;
			}
		}
		it->m->ops->prev(it->m);
	}
	it->valid = have;
	if (check_m(it))
		return;
}

static int seek_key(struct lsm_iter *it, const void *uk, size_t n, uint64_t trailer)
{
	if (lsm_bytes_set_ikey(&it->tmp, uk, n, trailer)) {
		set_error(it, ERR_NOMEM);
		return -1;
	}
	it->m->ops->seek(it->m, it->tmp.p, it->tmp.n);
	return 0;
}

void lsm_iter_seek(struct lsm_iter *it, const void *key, size_t klen)
{
	if (it->status)
		return;
	if (it->has_lower && lsm_ukey_cmp(key, klen, it->lower.p, it->lower.n) < 0) {
		key = it->lower.p;
		klen = it->lower.n;
	}
	it->forward = 1;
	if (seek_key(it, key, klen, lsm_trailer(it->snap, LSM_TYPE_SEEK)))
		return;
	find_next(it, 0);
}

void lsm_iter_seek_first(struct lsm_iter *it)
{
	if (it->status)
		return;
	if (it->has_lower) {
		lsm_iter_seek(it, it->lower.p, it->lower.n);
		return;
	}
	it->forward = 1;
	it->m->ops->seek_first(it->m);
	find_next(it, 0);
}

/* Position the merge just before every entry of user keys >= uk, then find_prev. */
static void prev_before(struct lsm_iter *it, const void *uk, size_t n)
{
	if (seek_key(it, uk, n, lsm_trailer(LSM_SEQ_MAX, LSM_TYPE_SEEK)))
		return;
	if (II_VALID(it->m))
		it->m->ops->prev(it->m);
	else if (!check_m(it))
		it->m->ops->seek_last(it->m);
	it->forward = 0;
	find_prev(it);
}

void lsm_iter_seek_last(struct lsm_iter *it)
{
	if (it->status)
		return;
	if (it->has_upper) {
		prev_before(it, it->upper.p, it->upper.n);
		return;
	}
	it->forward = 0;
	it->m->ops->seek_last(it->m);
	find_prev(it);
}

void lsm_iter_seek_for_prev(struct lsm_iter *it, const void *key, size_t klen)
{
	if (it->status)
		return;
	if (it->has_upper && lsm_ukey_cmp(key, klen, it->upper.p, it->upper.n) >= 0) {
		lsm_iter_seek_last(it);
		return;
	}
	/* Before all entries of keys > key: seek to the largest internal key of `key`. */
	if (seek_key(it, key, klen, 0))
		return;
	if (II_VALID(it->m))
		it->m->ops->prev(it->m);
	else if (!check_m(it))
		it->m->ops->seek_last(it->m);
	it->forward = 0;
	find_prev(it);
}

void lsm_iter_next(struct lsm_iter *it)
{
	ASSERT(it->valid);
	if (!it->forward) {
		/* The merge is before the current key: move onto its entries, then past them. */
		if (seek_key(it, it->key.p, it->key.n, lsm_trailer(LSM_SEQ_MAX, LSM_TYPE_SEEK)))
			return;
		it->forward = 1;
		find_next(it, 1);
		return;
	}
	it->m->ops->next(it->m);
	find_next(it, 1);
}

void lsm_iter_prev(struct lsm_iter *it)
{
	ASSERT(it->valid);
	if (it->forward) {
		if (lsm_bytes_set(&it->tmp, it->key.p, it->key.n)) {
			set_error(it, ERR_NOMEM);
			return;
		}
		struct lsm_bytes k = it->tmp;
		it->tmp = (struct lsm_bytes){0};
		prev_before(it, k.p, k.n);
		lsm_bytes_free(&k);
		return;
	}
	find_prev(it);
}

int lsm_iter_valid(const struct lsm_iter *it) { return it->valid; }

const void *lsm_iter_key(const struct lsm_iter *it, size_t *len)
{
	ASSERT(it->valid);
	*len = it->key.n;
	return it->key.p;
}

const void *lsm_iter_value(const struct lsm_iter *it, size_t *len)
{
	ASSERT(it->valid);
	*len = it->val.n;
	return it->val.p;
}

int lsm_iter_status(const struct lsm_iter *it) { return it->status; }

void lsm_iter_free(struct lsm_iter *it)
{
	if (!it)
		return;
	if (it->m)
		it->m->ops->free(it->m);
	lsm_frags_unref(it->rt);
	lsm_tree_readstate_put(it->t, &it->rs);
	lsm_bytes_free(&it->lower);
	lsm_bytes_free(&it->upper);
	lsm_bytes_free(&it->key);
	lsm_bytes_free(&it->val);
	lsm_bytes_free(&it->tmp);
	free(it);
}

/* Smallest key greater than every key with this prefix; 0 if there is none (all 0xff). */
static int prefix_successor(const unsigned char *p, size_t n, struct lsm_bytes *out)
{
	while (n > 0 && p[n - 1] == 0xff)
		n--;
	if (n == 0)
		return 0;
	if (lsm_bytes_set(out, p, n))
		return -1;
	out->p[n - 1]++;
	return 1;
}

int lsm_iter_new(struct lsm_tree *t, const struct lsm_iter_options *o, struct lsm_iter **out)
{
	static const struct lsm_iter_options none = {0};
	if (!o)
		o = &none;
	struct lsm_iter *it = calloc(1, sizeof *it);
	if (!it)
		return ERR_NOMEM;
	it->t = t;
	int rc = 0;
	struct lsm_iiter **kids = NULL;
	size_t nk = 0;
	struct lsm_tomb *tombs = NULL;
	size_t nt = 0, capt = 0;
	struct lsm_frags *keep[LIMIT_LSM_MEMTABLES_MAX + 1];
	size_t nkeep = 0;
	struct lsm_sst **pins = NULL;
	size_t npins = 0, cappins = 0;
	/* Bounds: [lower, upper) narrowed by the prefix. */
	if (o->lower && (rc = lsm_bytes_set(&it->lower, o->lower, o->lower_len)) == 0)
		it->has_lower = 1;
	if (!rc && o->upper && (rc = lsm_bytes_set(&it->upper, o->upper, o->upper_len)) == 0)
		it->has_upper = 1;
	if (!rc && o->prefix && o->prefix_len) {
		if (!it->has_lower || lsm_ukey_cmp(it->lower.p, it->lower.n, o->prefix, o->prefix_len) < 0) {
			rc = lsm_bytes_set(&it->lower, o->prefix, o->prefix_len);
			it->has_lower = 1;
		}
		struct lsm_bytes succ = {0};
		int s = rc ? 0 : prefix_successor(o->prefix, o->prefix_len, &succ);
		if (s < 0)
			rc = ERR_NOMEM;
		if (s > 0 && (!it->has_upper || lsm_ukey_cmp(succ.p, succ.n, it->upper.p, it->upper.n) < 0)) {
			lsm_bytes_free(&it->upper);
			it->upper = succ;
			it->has_upper = 1;
		} else {
			lsm_bytes_free(&succ);
		}
	}
	if (rc)
		goto err;
	it->snap = o->snap ? o->snap->seq : __atomic_load_n(&t->last_seq, __ATOMIC_ACQUIRE);
	lsm_tree_readstate_get(t, &it->rs);
	const struct lsm_version *v = it->rs.v;
	size_t cap = it->rs.nmems + v->nfiles[0] + LSM_LEVELS;
	kids = calloc(cap, sizeof *kids);
	if (!kids) {
		rc = ERR_NOMEM;
		goto err;
	}
	int fill = !o->no_fill_cache;
	for (size_t i = 0; i < it->rs.nmems && !rc; i++) {
		struct lsm_mem *m = it->rs.mems[i];
		rc = lsm_mem_iter(m, &kids[nk]);
		if (rc)
			break;
		nk++;
		if (lsm_mem_tomb_count(m)) {
			rc = lsm_mem_frags(m, &keep[nkeep]);
			if (!rc)
				rc = lsm_frags_collect(keep[nkeep++], &tombs, &nt, &capt);
		}
	}
	for (int l = 0; l < LSM_LEVELS && !rc; l++) {
		for (size_t i = 0; i < v->nfiles[l] && !rc; i++) {
			struct lsm_file *f = v->files[l][i];
			if (l > 0 && !f->has_rangedel)
				continue;
			struct lsm_sst *s;
			rc = lsm_tree_file_sst(t, f, &s);
			if (rc)
				break;
			if (f->has_rangedel) {
				/* Pin the table (it owns the tombstone bytes) until the merged set is built. */
				rc = lsm_frags_collect(s->frags, &tombs, &nt, &capt);
				if (!rc && npins == cappins) {
					size_t nc = cappins ? cappins * 2 : 8;
					struct lsm_sst **a = realloc(pins, nc * sizeof *a);
					if (a) {
						pins = a;
						cappins = nc;
					} else {
						rc = ERR_NOMEM;
					}
				}
				if (!rc) {
					lsm_sst_ref(s);
					pins[npins++] = s;
				}
			}
			if (!rc && l == 0) {
				rc = lsm_sst_iter(s, fill, &kids[nk]);
				if (!rc)
					nk++;
			}
			lsm_sst_unref(s);
		}
		if (!rc && l > 0 && v->nfiles[l] > 0) {
			struct level_iter *li = calloc(1, sizeof *li);
			if (!li) {
				rc = ERR_NOMEM;
				break;
			}
			li->base.ops = &level_ops;
			li->t = t;
			li->v = v;
			li->level = l;
			li->fill = fill;
			kids[nk++] = &li->base;
		}
	}
	if (!rc)
		rc = lsm_frags_build(tombs, nt, &it->rt);
	for (size_t i = 0; i < nkeep; i++)
		lsm_frags_unref(keep[i]);
	for (size_t i = 0; i < npins; i++)
		lsm_sst_unref(pins[i]);
	free(pins);
	free(tombs);
	tombs = NULL;
	if (rc)
		goto err;
	rc = lsm_merge_iter_new(kids, nk, &it->m);
	nk = 0;
	if (rc)
		goto err;
	free(kids);
	*out = it;
	return 0;
err:
	for (size_t i = 0; i < nk; i++)
		kids[i]->ops->free(kids[i]);
	free(kids);
	free(tombs);
	lsm_iter_free(it);
	return rc;
}

int lsm_tree_count(struct lsm_tree *t, const struct lsm_read_options *ro, const void *lower, size_t lower_len,
		   const void *upper, size_t upper_len, uint64_t *out)
{
	struct lsm_iter_options o = {0};
	o.snap = ro ? ro->snap : NULL;
	o.lower = lower;
	o.lower_len = lower_len;
	o.upper = upper;
	o.upper_len = upper_len;
	o.no_fill_cache = 1;
	struct lsm_iter *it;
	int rc = lsm_iter_new(t, &o, &it);
	if (rc)
		return rc;
	it->keys_only = 1;
	uint64_t n = 0;
	for (lsm_iter_seek_first(it); it->valid; lsm_iter_next(it))
		n++;
	rc = it->status;
	lsm_iter_free(it);
	*out = n;
	return rc;
}
