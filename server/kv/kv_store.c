/*
 * kv_store.c — see kv_store.h. Reads during apply go through the overlay (kv_overlay.h) so a
 * command sees its own earlier writes; the LSM batch is written once at the end with the
 * applied index.
 */
#include "server/kv/kv_store.h"
#include "server/kv/kv_codec.h"
#include "server/kv/kv_overlay.h"
#include "core/assert.h"
#include "core/limits.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Internal key holding the revision of the last applied command when it differs from the
 * applied index (follower clusters store the leader's index). */
static const uint8_t KEY_REVISION[] = {KV_PREFIX_INTERNAL, 'r', 'e', 'v'};

struct kv_store {
	struct lsm_tree *tree;
	struct lsm_batch batch;
	struct lsm_buf buf;
	struct arena scratch; /* overlay and temporaries; reset after each command */
	struct kv_overlay ov;
	int64_t revision;
	int64_t cmd_revision; /* revision of the command being applied */
	int last_txn_succeeded;
	uint8_t bounds_buf[2 * KV_BOUND_BYTES];
};

/* ---- open / close ------------------------------------------------------------------------- */

int kv_store_open(const char *dir, const struct lsm_options *o, struct kv_store **out)
{
	struct kv_store *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	int rc = lsm_tree_open(dir, o, &s->tree);
	if (rc)
		goto err_free;
	lsm_batch_init(&s->batch);
	lsm_buf_init(&s->buf);
	arena_init(&s->scratch, 64u << 10, 4u * LIMIT_MESSAGE_BYTES + (16u << 20));
	kv_overlay_init(&s->ov, &s->scratch);
	s->revision = (int64_t)lsm_tree_applied_index(s->tree);
	rc = lsm_tree_get(s->tree, NULL, KEY_REVISION, sizeof KEY_REVISION, &s->buf);
	if (rc == 0) {
		if (s->buf.len != 8) {
			rc = ERR_CORRUPT;
			LOG_ERROR("kv store %s: revision record has %zu bytes, want 8", dir, s->buf.len);
			goto err_close;
		}
		uint64_t v = 0;
		for (int i = 0; i < 8; i++)
			v = v << 8 | s->buf.data[i];
		s->revision = (int64_t)v;
	} else if (rc != ERR_NOTFOUND) {
		goto err_close;
	}
	*out = s;
	return 0;
err_close:
	lsm_tree_close_noflush(s->tree);
	lsm_batch_deinit(&s->batch);
	lsm_buf_deinit(&s->buf);
	arena_deinit(&s->scratch);
err_free:
	free(s);
	return rc;
}

static void store_free(struct kv_store *s)
{
	lsm_batch_deinit(&s->batch);
	lsm_buf_deinit(&s->buf);
	arena_deinit(&s->scratch);
	free(s);
}

int kv_store_close(struct kv_store *s)
{
	int rc = lsm_tree_close(s->tree);
	store_free(s);
	return rc;
}

void kv_store_close_noflush(struct kv_store *s)
{
	lsm_tree_close_noflush(s->tree);
	store_free(s);
}

struct lsm_tree *kv_store_tree(struct kv_store *s) { return s->tree; }
uint64_t kv_store_applied_index(const struct kv_store *s) { return lsm_tree_applied_index(s->tree); }
int64_t kv_store_revision(const struct kv_store *s) { return s->revision; }

/* ---- views: reads through the overlay ------------------------------------------------------ */

/* Point read of stored key sk. 0 with *sv (valid until the next read), ERR_NOTFOUND, or error. */
static int view_get(struct kv_store *s, const uint8_t *sk, size_t sklen, const uint8_t **sv,
		    size_t *svlen)
{
	switch (kv_overlay_resolve(&s->ov, sk, sklen, sv, svlen)) {
	case KV_PUT:
		return 0;
	case KV_DELETED:
		return ERR_NOTFOUND;
	case KV_UNTOUCHED:
		break;
	}
	int rc = lsm_tree_get(s->tree, NULL, sk, sklen, &s->buf);
	if (rc)
		return rc;
	*sv = s->buf.data;
	*svlen = s->buf.len;
	return 0;
}

/* Called for each live key in order; return 1 to stop, 0 to go on, <0 error. */
typedef int (*scan_fn)(void *ctx, const uint8_t *sk, size_t sklen, const uint8_t *sv, size_t svlen);

/* Visit every live key of bounds b in order, merging the overlay's keys with the tree's. */
static int view_scan(struct kv_store *s, const struct lsm_snapshot *snap, const struct kv_bounds *b,
		     int keys_only_hint, scan_fn fn, void *ctx)
{
	if (b->empty)
		return 0;
	const struct kv_op **ov = NULL;
	size_t nov = 0, j = 0;
	int rc = kv_overlay_keys_in(&s->ov, b->lower, b->lower_len, b->upper, b->upper_len, &ov, &nov);
	if (rc)
		return rc;
	struct lsm_iter_options io = {.snap = snap,
				      .lower = b->lower,
				      .lower_len = b->lower_len,
				      .upper = b->upper,
				      .upper_len = b->upper_len};
	(void)keys_only_hint;
	struct lsm_iter *it;
	rc = lsm_iter_new(s->tree, &io, &it);
	if (rc)
		return rc;
	lsm_iter_seek_first(it);
	int stop = 0;
	while (!stop) {
		size_t klen = 0, vlen = 0;
		const uint8_t *k = NULL, *v = NULL;
		int have = lsm_iter_valid(it);
		if (have) {
			k = lsm_iter_key(it, &klen);
			v = lsm_iter_value(it, &vlen);
		}
		/* Overlay keys before the tree's current key (or all that remain). */
		while (j < nov && (!have || kv_key_cmp(ov[j]->key, ov[j]->key_len, k, klen) < 0)) {
			const uint8_t *pv;
			size_t pvlen;
			if (kv_overlay_resolve(&s->ov, ov[j]->key, ov[j]->key_len, &pv, &pvlen) == KV_PUT) {
				rc = fn(ctx, ov[j]->key, ov[j]->key_len, pv, pvlen);
				if (rc) {
					stop = 1;
					break;
				}
			}
			j++;
		}
		if (stop || !have)
			break;
		if (j < nov && kv_key_cmp(ov[j]->key, ov[j]->key_len, k, klen) == 0)
			j++; /* the overlay speaks for this key below */
		const uint8_t *pv;
		size_t pvlen;
		switch (kv_overlay_resolve(&s->ov, k, klen, &pv, &pvlen)) {
		case KV_UNTOUCHED:
			rc = fn(ctx, k, klen, v, vlen);
			break;
		case KV_PUT:
			rc = fn(ctx, k, klen, pv, pvlen);
			break;
		case KV_DELETED:
			rc = 0;
			break;
		}
		if (rc) {
			stop = 1;
			break;
		}
		lsm_iter_next(it);
	}
	int irc = lsm_iter_status(it);
	lsm_iter_free(it);
	if (rc < 0)
		return rc;
	return irc;
}

/* ---- writes ------------------------------------------------------------------------------- */

static int view_put(struct kv_store *s, const uint8_t *sk, size_t sklen, const uint8_t *sv, size_t svlen)
{
	int rc = lsm_batch_put(&s->batch, sk, sklen, sv, svlen);
	if (rc)
		return rc;
	return kv_overlay_add(&s->ov, KV_OP_PUT, sk, sklen, NULL, 0, sv, svlen);
}

static int view_del(struct kv_store *s, const uint8_t *sk, size_t sklen)
{
	int rc = lsm_batch_delete(&s->batch, sk, sklen);
	if (rc)
		return rc;
	return kv_overlay_add(&s->ov, KV_OP_DEL, sk, sklen, NULL, 0, NULL, 0);
}

static int view_delrange(struct kv_store *s, const struct kv_bounds *b)
{
	int rc = lsm_batch_delete_range(&s->batch, b->lower, b->lower_len, b->upper, b->upper_len);
	if (rc)
		return rc;
	return kv_overlay_add(&s->ov, KV_OP_DELRANGE, b->lower, b->lower_len, b->upper, b->upper_len,
			      NULL, 0);
}

/* ---- building results ----------------------------------------------------------------------- */

static Mvcc__V1__KeyValue *kv_make(struct arena *a, const uint8_t *sk, size_t sklen,
				   const struct kv_meta *m, const uint8_t *val, size_t vlen, int keys_only)
{
	Mvcc__V1__KeyValue *kv = arena_alloc(a, sizeof *kv);
	if (!kv)
		return NULL;
	mvcc__v1__key_value__init(kv);
	ASSERT(sklen >= 1 && sk[0] == KV_PREFIX_USER);
	kv->key.len = sklen - 1;
	kv->key.data = arena_memdup(a, sk + 1, sklen - 1);
	if (!kv->key.data)
		return NULL;
	kv->create_revision = m->create_revision;
	kv->mod_revision = m->mod_revision;
	kv->version = m->version;
	if (!keys_only && vlen) {
		kv->value.data = arena_memdup(a, val, vlen);
		if (!kv->value.data)
			return NULL;
		kv->value.len = vlen;
	}
	return kv;
}

/* Growable array of KeyValue pointers in the arena. */
struct kv_list {
	struct arena *a;
	Mvcc__V1__KeyValue **v;
	size_t n, cap;
};

static int kv_list_push(struct kv_list *l, Mvcc__V1__KeyValue *kv)
{
	if (!kv)
		return ERR_NOMEM;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		Mvcc__V1__KeyValue **v = arena_alloc(l->a, cap * sizeof *v);
		if (!v)
			return ERR_NOMEM;
		if (l->n)
			memcpy(v, l->v, l->n * sizeof *v);
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = kv;
	return 0;
}

/* ---- range ---------------------------------------------------------------------------------- */

struct range_ctx {
	const struct kv_range *r;
	struct arena *a; /* NULL: count only, build nothing */
	struct kv_list list;
	size_t bytes, max_bytes;
	int64_t count;
	bool more;
	int err;
};

static int filters_pass(const struct kv_range *r, const struct kv_meta *m)
{
	if (r->min_mod_revision && m->mod_revision < r->min_mod_revision)
		return 0;
	if (r->max_mod_revision && m->mod_revision > r->max_mod_revision)
		return 0;
	if (r->min_create_revision && m->create_revision < r->min_create_revision)
		return 0;
	if (r->max_create_revision && m->create_revision > r->max_create_revision)
		return 0;
	return 1;
}

static int range_visit(void *arg, const uint8_t *sk, size_t sklen, const uint8_t *sv, size_t svlen)
{
	struct range_ctx *c = arg;
	struct kv_meta m;
	const uint8_t *val;
	size_t vlen;
	int rc = kv_value_decode(sv, svlen, &m, &val, &vlen);
	if (rc) {
		LOG_ERROR("kv: undecodable value stored under a %zu-byte key", sklen);
		return rc;
	}
	if (!filters_pass(c->r, &m))
		return 0;
	if (c->r->count_only) {
		if (c->r->limit > 0 && c->count >= c->r->limit) {
			c->more = true;
			return 1;
		}
		c->count++;
		return 0;
	}
	if (c->r->limit > 0 && (int64_t)c->list.n >= c->r->limit) {
		c->more = true;
		return 1;
	}
	size_t cost = sklen + (c->r->keys_only ? 0 : vlen) + 32;
	if (c->list.n > 0 && c->bytes + cost > c->max_bytes) {
		c->more = true;
		return 1;
	}
	c->bytes += cost;
	return kv_list_push(&c->list, kv_make(c->a, sk, sklen, &m, val, vlen, c->r->keys_only));
}

static int range_in_view(struct kv_store *s, const struct lsm_snapshot *snap, const struct kv_range *r,
			 struct arena *arena, struct kv_range_result *out)
{
	memset(out, 0, sizeof *out);
	if (r->key_len == 0 && r->range_end_len == 0)
		return ERR_INVAL;
	struct kv_bounds b;
	int rc = kv_bounds_make(r->key, r->key_len, r->range_end, r->range_end_len, s->bounds_buf,
				sizeof s->bounds_buf, &b);
	if (rc)
		return rc;
	struct range_ctx c = {.r = r, .a = arena, .list = {.a = arena}};
	/* Each pair costs its bytes plus < 32 bytes of framing; 1 KiB stays for the header. */
	c.max_bytes = r->max_bytes ? r->max_bytes : LIMIT_RESPONSE_BYTES - 1024;
	rc = view_scan(s, snap, &b, r->keys_only, range_visit, &c);
	if (rc < 0)
		return rc;
	out->kvs = c.list.v;
	out->n_kvs = c.list.n;
	out->more = c.more;
	out->count = r->count_only ? c.count : (int64_t)c.list.n;
	return 0;
}

int kv_store_range(struct kv_store *s, const struct lsm_snapshot *snap, const struct kv_range *r,
		   struct arena *arena, struct kv_range_result *out)
{
	ASSERT(kv_overlay_empty(&s->ov)); /* not inside an apply */
	return range_in_view(s, snap, r, arena, out);
}

/* ---- apply: single operations ------------------------------------------------------------- */

static int key_to_stored(struct kv_store *s, const uint8_t *k, size_t klen, uint8_t *out)
{
	if (klen == 0 || klen > LIMIT_KEY_BYTES)
		return ERR_INVAL;
	out[0] = KV_PREFIX_USER;
	memcpy(out + 1, k, klen);
	return 0;
}

/* Put key=value at the command's revision; *prev gets the old pair when asked. */
static int op_put(struct kv_store *s, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen,
		  struct arena *a, int want_prev, Mvcc__V1__KeyValue **prev)
{
	uint8_t sk[LIMIT_KEY_BYTES + 1];
	if (vlen > LIMIT_VALUE_BYTES)
		return ERR_INVAL;
	int rc = key_to_stored(s, k, klen, sk);
	if (rc)
		return rc;
	const uint8_t *old;
	size_t oldlen;
	struct kv_meta m = {.create_revision = s->cmd_revision, .mod_revision = s->cmd_revision, .version = 1};
	rc = view_get(s, sk, klen + 1, &old, &oldlen);
	if (rc == 0) {
		struct kv_meta om;
		const uint8_t *ov;
		size_t ovlen;
		rc = kv_value_decode(old, oldlen, &om, &ov, &ovlen);
		if (rc)
			return rc;
		m.create_revision = om.create_revision;
		m.version = om.version + 1;
		if (want_prev && a) {
			*prev = kv_make(a, sk, klen + 1, &om, ov, ovlen, 0);
			if (!*prev)
				return ERR_NOMEM;
		}
	} else if (rc != ERR_NOTFOUND) {
		return rc;
	}
	/* Stored value = header + user bytes, assembled in the scratch arena. */
	uint8_t hdr[KV_VALUE_HEADER_MAX];
	size_t hlen = kv_value_header_encode(hdr, &m);
	uint8_t *sv = arena_alloc(&s->scratch, hlen + vlen);
	if (!sv)
		return ERR_NOMEM;
	memcpy(sv, hdr, hlen);
	if (vlen)
		memcpy(sv + hlen, v, vlen);
	return view_put(s, sk, klen + 1, sv, hlen + vlen);
}

struct del_ctx {
	struct kv_store *s;
	struct arena *a;
	int want_prev;
	int want_count;
	struct kv_list prev;
	int64_t deleted;
};

static int del_visit(void *arg, const uint8_t *sk, size_t sklen, const uint8_t *sv, size_t svlen)
{
	struct del_ctx *c = arg;
	if (c->want_count || c->want_prev)
		c->deleted++;
	if (!c->want_prev || !c->a)
		return 0;
	struct kv_meta m;
	const uint8_t *val;
	size_t vlen;
	int rc = kv_value_decode(sv, svlen, &m, &val, &vlen);
	if (rc)
		return rc;
	return kv_list_push(&c->prev, kv_make(c->a, sk, sklen, &m, val, vlen, 0));
}

/* DeleteRange: a single key costs a point read; a range is one O(1) tombstone, and is only
 * iterated when the caller wants the previous pairs or the count (Regatta's `count` flag).
 * As in Regatta, `deleted` is reported only with count or prev_kv. */
static int op_delete(struct kv_store *s, const uint8_t *k, size_t klen, const uint8_t *end, size_t elen,
		     int want_prev, int want_count, struct arena *a, Mvcc__V1__ResponseOp__DeleteRange *resp)
{
	struct kv_bounds b;
	if (klen == 0)
		return ERR_INVAL;
	int rc = kv_bounds_make(k, klen, end, elen, s->bounds_buf, sizeof s->bounds_buf, &b);
	if (rc)
		return rc == ERR_TOOBIG ? ERR_INVAL : rc;
	struct del_ctx c = {.s = s, .a = a, .want_prev = want_prev, .want_count = want_count, .prev = {.a = a}};
	if (b.single) {
		const uint8_t *sv;
		size_t svlen;
		rc = view_get(s, b.lower, b.lower_len, &sv, &svlen);
		if (rc == ERR_NOTFOUND)
			goto done;
		if (rc)
			return rc;
		rc = del_visit(&c, b.lower, b.lower_len, sv, svlen);
		if (rc)
			return rc;
		rc = view_del(s, b.lower, b.lower_len);
		if (rc)
			return rc;
		goto done;
	}
	if (b.empty)
		goto done;
	if (want_prev || want_count) {
		rc = view_scan(s, NULL, &b, 0, del_visit, &c);
		if (rc < 0)
			return rc;
	}
	rc = view_delrange(s, &b);
	if (rc)
		return rc;
done:
	if (resp) {
		resp->deleted = c.deleted;
		resp->prev_kvs = c.prev.v;
		resp->n_prev_kvs = c.prev.n;
	}
	return 0;
}

/* ---- Txn ------------------------------------------------------------------------------------ */

static int cmp_ints(int64_t a, int64_t b) { return a < b ? -1 : a > b ? 1 : 0; }

static int compare_holds(const Mvcc__V1__Compare *c, const struct kv_meta *m, const uint8_t *val, size_t vlen)
{
	int r;
	switch (c->target) {
	case MVCC__V1__COMPARE__COMPARE_TARGET__VALUE: {
		const uint8_t *want = c->target_union_case == MVCC__V1__COMPARE__TARGET_UNION_VALUE ? c->value.data : NULL;
		size_t wlen = c->target_union_case == MVCC__V1__COMPARE__TARGET_UNION_VALUE ? c->value.len : 0;
		r = kv_key_cmp(val, vlen, want, wlen);
		break;
	}
	case MVCC__V1__COMPARE__COMPARE_TARGET__VERSION:
		r = cmp_ints(m->version, c->target_union_case == MVCC__V1__COMPARE__TARGET_UNION_VERSION ? c->version : 0);
		break;
	case MVCC__V1__COMPARE__COMPARE_TARGET__CREATE:
		r = cmp_ints(m->create_revision,
			     c->target_union_case == MVCC__V1__COMPARE__TARGET_UNION_CREATE_REVISION ? c->create_revision : 0);
		break;
	case MVCC__V1__COMPARE__COMPARE_TARGET__MOD:
		r = cmp_ints(m->mod_revision,
			     c->target_union_case == MVCC__V1__COMPARE__TARGET_UNION_MOD_REVISION ? c->mod_revision : 0);
		break;
	default:
		return 0;
	}
	switch (c->result) {
	case MVCC__V1__COMPARE__COMPARE_RESULT__EQUAL: return r == 0;
	case MVCC__V1__COMPARE__COMPARE_RESULT__GREATER: return r > 0;
	case MVCC__V1__COMPARE__COMPARE_RESULT__LESS: return r < 0;
	case MVCC__V1__COMPARE__COMPARE_RESULT__NOT_EQUAL: return r != 0;
	default: return 0;
	}
}

struct cmp_ctx {
	const Mvcc__V1__Compare *c;
	int seen;
	int ok;
	int err;
};

static int cmp_visit(void *arg, const uint8_t *sk, size_t sklen, const uint8_t *sv, size_t svlen)
{
	struct cmp_ctx *c = arg;
	struct kv_meta m;
	const uint8_t *val;
	size_t vlen;
	int rc = kv_value_decode(sv, svlen, &m, &val, &vlen);
	if (rc)
		return rc;
	c->seen = 1;
	if (!compare_holds(c->c, &m, val, vlen)) {
		c->ok = 0;
		return 1;
	}
	return 0;
}

/* etcd's rule: over every key in the compare's range; with no key, VALUE fails and the other
 * targets compare against zero. */
static int compare_eval(struct kv_store *s, const Mvcc__V1__Compare *c, int *ok)
{
	struct kv_bounds b;
	if (c->key.len == 0)
		return ERR_INVAL;
	int rc = kv_bounds_make(c->key.data, c->key.len, c->range_end.data, c->range_end.len, s->bounds_buf,
				sizeof s->bounds_buf, &b);
	if (rc)
		return rc == ERR_TOOBIG ? ERR_INVAL : rc;
	struct cmp_ctx cc = {.c = c, .ok = 1};
	if (b.single) {
		const uint8_t *sv;
		size_t svlen;
		rc = view_get(s, b.lower, b.lower_len, &sv, &svlen);
		if (rc == 0)
			rc = cmp_visit(&cc, b.lower, b.lower_len, sv, svlen);
		else if (rc == ERR_NOTFOUND)
			rc = 0;
	} else {
		rc = view_scan(s, NULL, &b, 0, cmp_visit, &cc);
	}
	if (rc < 0)
		return rc;
	if (!cc.seen) {
		if (c->target == MVCC__V1__COMPARE__COMPARE_TARGET__VALUE) {
			*ok = 0;
		} else {
			struct kv_meta zero = {0};
			*ok = compare_holds(c, &zero, NULL, 0);
		}
		return 0;
	}
	*ok = cc.ok;
	return 0;
}

static int apply_request_op(struct kv_store *s, const Mvcc__V1__RequestOp *op, struct arena *a,
			    Mvcc__V1__ResponseOp **out)
{
	Mvcc__V1__ResponseOp *resp = NULL;
	if (a) {
		resp = arena_alloc(a, sizeof *resp);
		if (!resp)
			return ERR_NOMEM;
		mvcc__v1__response_op__init(resp);
	}
	int rc;
	switch (op->request_case) {
	case MVCC__V1__REQUEST_OP__REQUEST_REQUEST_RANGE: {
		const Mvcc__V1__RequestOp__Range *r = op->request_range;
		struct kv_range q = {.key = r->key.data, .key_len = r->key.len, .range_end = r->range_end.data,
				     .range_end_len = r->range_end.len, .limit = r->limit,
				     .keys_only = r->keys_only, .count_only = r->count_only};
		if (!a)
			return 0; /* reads change nothing: skip them when no one wants the answer */
		struct kv_range_result rr;
		rc = range_in_view(s, NULL, &q, a, &rr);
		if (rc)
			return rc;
		Mvcc__V1__ResponseOp__Range *rg = arena_alloc(a, sizeof *rg);
		if (!rg)
			return ERR_NOMEM;
		mvcc__v1__response_op__range__init(rg);
		rg->kvs = rr.kvs;
		rg->n_kvs = rr.n_kvs;
		rg->more = rr.more;
		rg->count = rr.count;
		resp->response_case = MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_RANGE;
		resp->response_range = rg;
		break;
	}
	case MVCC__V1__REQUEST_OP__REQUEST_REQUEST_PUT: {
		const Mvcc__V1__RequestOp__Put *p = op->request_put;
		Mvcc__V1__KeyValue *prev = NULL;
		rc = op_put(s, p->key.data, p->key.len, p->value.data, p->value.len, a, p->prev_kv, &prev);
		if (rc)
			return rc;
		if (a) {
			Mvcc__V1__ResponseOp__Put *pr = arena_alloc(a, sizeof *pr);
			if (!pr)
				return ERR_NOMEM;
			mvcc__v1__response_op__put__init(pr);
			pr->prev_kv = prev;
			resp->response_case = MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
			resp->response_put = pr;
		}
		break;
	}
	case MVCC__V1__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE: {
		const Mvcc__V1__RequestOp__DeleteRange *d = op->request_delete_range;
		Mvcc__V1__ResponseOp__DeleteRange *dr = NULL;
		if (a) {
			dr = arena_alloc(a, sizeof *dr);
			if (!dr)
				return ERR_NOMEM;
			mvcc__v1__response_op__delete_range__init(dr);
		}
		rc = op_delete(s, d->key.data, d->key.len, d->range_end.data, d->range_end.len, d->prev_kv,
			       d->count, a, dr);
		if (rc)
			return rc;
		if (a) {
			resp->response_case = MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
			resp->response_delete_range = dr;
		}
		break;
	}
	default:
		return ERR_INVAL;
	}
	if (out)
		*out = resp;
	return 0;
}

/* Result list helper. */
struct resp_list {
	struct arena *a;
	Mvcc__V1__ResponseOp **v;
	size_t n, cap;
};

static int resp_push(struct resp_list *l, Mvcc__V1__ResponseOp *r)
{
	if (!l->a)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		Mvcc__V1__ResponseOp **v = arena_alloc(l->a, cap * sizeof *v);
		if (!v)
			return ERR_NOMEM;
		if (l->n)
			memcpy(v, l->v, l->n * sizeof *v);
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = r;
	return 0;
}

static int apply_txn(struct kv_store *s, const Mvcc__V1__Txn *txn, struct arena *a, struct resp_list *out,
		     int *succeeded)
{
	int ok = 1;
	for (size_t i = 0; i < txn->n_compare && ok; i++) {
		int rc = compare_eval(s, txn->compare[i], &ok);
		if (rc)
			return rc;
	}
	*succeeded = ok;
	size_t n = ok ? txn->n_success : txn->n_failure;
	Mvcc__V1__RequestOp **ops = ok ? txn->success : txn->failure;
	for (size_t i = 0; i < n; i++) {
		Mvcc__V1__ResponseOp *r = NULL;
		int rc = apply_request_op(s, ops[i], a, &r);
		if (rc)
			return rc;
		rc = resp_push(out, r);
		if (rc)
			return rc;
	}
	return 0;
}

static int apply_one(struct kv_store *s, const Mvcc__V1__Command *cmd, struct arena *a,
		     struct resp_list *out, int depth)
{
	int rc = 0;
	switch (cmd->type) {
	case MVCC__V1__COMMAND__COMMAND_TYPE__DUMMY:
		return 0;
	case MVCC__V1__COMMAND__COMMAND_TYPE__PUT: {
		if (!cmd->kv)
			return ERR_INVAL;
		Mvcc__V1__KeyValue *prev = NULL;
		rc = op_put(s, cmd->kv->key.data, cmd->kv->key.len, cmd->kv->value.data, cmd->kv->value.len, a,
			    cmd->prev_kvs, &prev);
		if (rc || !a)
			return rc;
		Mvcc__V1__ResponseOp *r = arena_alloc(a, sizeof *r);
		Mvcc__V1__ResponseOp__Put *p = arena_alloc(a, sizeof *p);
		if (!r || !p)
			return ERR_NOMEM;
		mvcc__v1__response_op__init(r);
		mvcc__v1__response_op__put__init(p);
		p->prev_kv = prev;
		r->response_case = MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_PUT;
		r->response_put = p;
		return resp_push(out, r);
	}
	case MVCC__V1__COMMAND__COMMAND_TYPE__DELETE: {
		if (!cmd->kv)
			return ERR_INVAL;
		Mvcc__V1__ResponseOp__DeleteRange *d = NULL;
		Mvcc__V1__ResponseOp *r = NULL;
		if (a) {
			r = arena_alloc(a, sizeof *r);
			d = arena_alloc(a, sizeof *d);
			if (!r || !d)
				return ERR_NOMEM;
			mvcc__v1__response_op__init(r);
			mvcc__v1__response_op__delete_range__init(d);
		}
		const uint8_t *end = cmd->_range_end_case == MVCC__V1__COMMAND___RANGE_END_RANGE_END ? cmd->range_end.data : NULL;
		size_t elen = cmd->_range_end_case == MVCC__V1__COMMAND___RANGE_END_RANGE_END ? cmd->range_end.len : 0;
		rc = op_delete(s, cmd->kv->key.data, cmd->kv->key.len, end, elen, cmd->prev_kvs, cmd->count, a, d);
		if (rc || !a)
			return rc;
		r->response_case = MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE;
		r->response_delete_range = d;
		return resp_push(out, r);
	}
	case MVCC__V1__COMMAND__COMMAND_TYPE__PUT_BATCH:
		for (size_t i = 0; i < cmd->n_batch; i++) {
			const Mvcc__V1__KeyValue *kv = cmd->batch[i];
			rc = op_put(s, kv->key.data, kv->key.len, kv->value.data, kv->value.len, NULL, 0, NULL);
			if (rc)
				return rc;
		}
		return 0;
	case MVCC__V1__COMMAND__COMMAND_TYPE__DELETE_BATCH:
		for (size_t i = 0; i < cmd->n_batch; i++) {
			const Mvcc__V1__KeyValue *kv = cmd->batch[i];
			rc = op_delete(s, kv->key.data, kv->key.len, NULL, 0, 0, 0, NULL, NULL);
			if (rc)
				return rc;
		}
		return 0;
	case MVCC__V1__COMMAND__COMMAND_TYPE__TXN: {
		if (cmd->_txn_case != MVCC__V1__COMMAND___TXN_TXN || !cmd->txn)
			return ERR_INVAL;
		int succeeded = 0;
		struct resp_list inner = {.a = a};
		rc = apply_txn(s, cmd->txn, a, &inner, &succeeded);
		if (rc)
			return rc;
		/* The ResponseOps go in the list; success travels in kv_apply_out (no field for it
		 * in a ResponseOp). */
		for (size_t i = 0; i < inner.n; i++) {
			rc = resp_push(out, inner.v[i]);
			if (rc)
				return rc;
		}
		s->last_txn_succeeded = succeeded;
		return 0;
	}
	case MVCC__V1__COMMAND__COMMAND_TYPE__SEQUENCE:
		if (depth > 0)
			return ERR_INVAL; /* sequences do not nest */
		for (size_t i = 0; i < cmd->n_sequence; i++) {
			rc = apply_one(s, cmd->sequence[i], a, out, depth + 1);
			if (rc)
				return rc;
		}
		return 0;
	default:
		return ERR_INVAL;
	}
}

/* ---- apply: whole commands ------------------------------------------------------------------ */

static void apply_reset(struct kv_store *s, int64_t revision)
{
	lsm_batch_clear(&s->batch);
	kv_overlay_reset(&s->ov);
	arena_reset(&s->scratch);
	s->cmd_revision = revision;
	s->last_txn_succeeded = 0;
}

static int is_deterministic_skip(int rc) { return rc == ERR_INVAL || rc == ERR_TOOBIG; }

static int commit_batch(struct kv_store *s, uint64_t index, int64_t revision)
{
	if ((uint64_t)revision != index) {
		uint8_t be[8];
		for (int i = 0; i < 8; i++)
			be[i] = (uint8_t)((uint64_t)revision >> (56 - 8 * i));
		int rc = lsm_batch_put(&s->batch, KEY_REVISION, sizeof KEY_REVISION, be, sizeof be);
		if (rc)
			return rc;
	}
	lsm_batch_set_applied_index(&s->batch, index);
	struct lsm_write_options wo = {0};
	int rc = lsm_tree_write(s->tree, &s->batch, &wo);
	if (rc)
		return rc;
	s->revision = revision;
	return 0;
}

int kv_store_apply(struct kv_store *s, uint64_t index, int64_t revision, const Mvcc__V1__Command *cmd,
		   struct arena *arena, struct kv_apply_out *out)
{
	ASSERT(index > kv_store_applied_index(s));
	ASSERT(revision >= s->revision);
	if (out)
		memset(out, 0, sizeof *out);
	apply_reset(s, revision);
	struct resp_list list = {.a = arena};
	int rc = apply_one(s, cmd, arena, &list, 0);
	if (rc == ERR_NOMEM && arena) {
		/* The answer did not fit in the caller's arena: apply again without building it,
		 * so the writes are exactly what every other replica writes. */
		apply_reset(s, revision);
		list = (struct resp_list){0};
		rc = apply_one(s, cmd, NULL, &list, 0);
		if (out)
			out->result_err = ERR_TOOBIG;
	}
	if (rc == ERR_NOMEM)
		rc = ERR_TOOBIG; /* the scratch arena: same command, same state, same outcome everywhere */
	int skipped = 0;
	if (is_deterministic_skip(rc)) {
		skipped = rc;
		apply_reset(s, revision);
		rc = 0;
	}
	if (rc) {
		kv_overlay_reset(&s->ov);
		return rc;
	}
	rc = commit_batch(s, index, revision);
	kv_overlay_reset(&s->ov); /* the scratch arena stays until the next apply */
	if (rc)
		return rc;
	if (out && !skipped) {
		out->responses = list.v;
		out->n_responses = list.n;
		out->txn_succeeded = s->last_txn_succeeded != 0;
	}
	return skipped;
}

int kv_store_apply_noop(struct kv_store *s, uint64_t index)
{
	ASSERT(index > kv_store_applied_index(s));
	apply_reset(s, s->revision);
	lsm_batch_set_applied_index(&s->batch, index);
	struct lsm_write_options wo = {0};
	return lsm_tree_write(s->tree, &s->batch, &wo);
}

int kv_txn_is_readonly(const Mvcc__V1__Txn *txn)
{
	for (size_t i = 0; i < txn->n_success; i++)
		if (txn->success[i]->request_case != MVCC__V1__REQUEST_OP__REQUEST_REQUEST_RANGE)
			return 0;
	for (size_t i = 0; i < txn->n_failure; i++)
		if (txn->failure[i]->request_case != MVCC__V1__REQUEST_OP__REQUEST_REQUEST_RANGE)
			return 0;
	return 1;
}

int kv_store_txn_readonly(struct kv_store *s, const Mvcc__V1__Txn *txn, struct arena *arena,
			  struct kv_apply_out *out)
{
	ASSERT(arena && out);
	if (!kv_txn_is_readonly(txn))
		return ERR_INVAL;
	memset(out, 0, sizeof *out);
	apply_reset(s, s->revision);
	struct resp_list list = {.a = arena};
	int succeeded = 0;
	int rc = apply_txn(s, txn, arena, &list, &succeeded);
	ASSERT(kv_overlay_empty(&s->ov)); /* ranges never write */
	lsm_batch_clear(&s->batch);
	if (rc)
		return rc == ERR_NOMEM ? ERR_TOOBIG : rc;
	out->responses = list.v;
	out->n_responses = list.n;
	out->txn_succeeded = succeeded != 0;
	return 0;
}

/* ---- validation before proposing ------------------------------------------------------------ */

static int bad(char *msg, size_t len, int code, const char *what)
{
	snprintf(msg, len, "%s", what);
	return code;
}

static int check_key(const ProtobufCBinaryData *k, char *msg, size_t len)
{
	if (k->len == 0)
		return bad(msg, len, ERR_INVAL, "key must not be empty");
	if (k->len > LIMIT_KEY_BYTES)
		return bad(msg, len, ERR_INVAL, "key is longer than 1 KiB");
	return 0;
}

static int check_end(const ProtobufCBinaryData *e, char *msg, size_t len)
{
	if (e->len > LIMIT_KEY_BYTES)
		return bad(msg, len, ERR_INVAL, "range_end is longer than 1 KiB");
	return 0;
}

static int check_value(const ProtobufCBinaryData *v, char *msg, size_t len)
{
	if (v->len > LIMIT_VALUE_BYTES)
		return bad(msg, len, ERR_INVAL, "value is larger than 2 MiB");
	return 0;
}

static int check_compare(const Mvcc__V1__Compare *c, char *msg, size_t len)
{
	int rc;
	if ((rc = check_key(&c->key, msg, len)))
		return rc;
	if ((rc = check_end(&c->range_end, msg, len)))
		return rc;
	if ((unsigned)c->result > MVCC__V1__COMPARE__COMPARE_RESULT__NOT_EQUAL)
		return bad(msg, len, ERR_INVAL, "unknown compare result");
	int want;
	switch (c->target) {
	case MVCC__V1__COMPARE__COMPARE_TARGET__VALUE: want = MVCC__V1__COMPARE__TARGET_UNION_VALUE; break;
	case MVCC__V1__COMPARE__COMPARE_TARGET__VERSION: want = MVCC__V1__COMPARE__TARGET_UNION_VERSION; break;
	case MVCC__V1__COMPARE__COMPARE_TARGET__CREATE: want = MVCC__V1__COMPARE__TARGET_UNION_CREATE_REVISION; break;
	case MVCC__V1__COMPARE__COMPARE_TARGET__MOD: want = MVCC__V1__COMPARE__TARGET_UNION_MOD_REVISION; break;
	default: return bad(msg, len, ERR_INVAL, "unknown compare target");
	}
	if (c->target_union_case != MVCC__V1__COMPARE__TARGET_UNION__NOT_SET && (int)c->target_union_case != want)
		return bad(msg, len, ERR_INVAL, "compare target_union does not match the target");
	if (c->target == MVCC__V1__COMPARE__COMPARE_TARGET__VALUE && c->value.len > LIMIT_VALUE_BYTES)
		return bad(msg, len, ERR_INVAL, "compare value is larger than 2 MiB");
	return 0;
}

static int validate_op(const Mvcc__V1__RequestOp *op, char *msg, size_t len)
{
	int rc;
	switch (op->request_case) {
	case MVCC__V1__REQUEST_OP__REQUEST_REQUEST_RANGE:
		if (!op->request_range)
			return bad(msg, len, ERR_INVAL, "empty range op");
		if (op->request_range->limit < 0)
			return bad(msg, len, ERR_INVAL, "limit must be a positive number");
		if (op->request_range->keys_only && op->request_range->count_only)
			return bad(msg, len, ERR_INVAL, "keys_only and count_only must not be set at the same time");
		if (op->request_range->key.len == 0 && op->request_range->range_end.len == 0)
			return bad(msg, len, ERR_INVAL, "key must not be empty");
		if (op->request_range->key.len > LIMIT_KEY_BYTES)
			return bad(msg, len, ERR_INVAL, "key is longer than 1 KiB");
		return check_end(&op->request_range->range_end, msg, len);
	case MVCC__V1__REQUEST_OP__REQUEST_REQUEST_PUT:
		if (!op->request_put)
			return bad(msg, len, ERR_INVAL, "empty put op");
		if ((rc = check_key(&op->request_put->key, msg, len)))
			return rc;
		return check_value(&op->request_put->value, msg, len);
	case MVCC__V1__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE:
		if (!op->request_delete_range)
			return bad(msg, len, ERR_INVAL, "empty delete op");
		if ((rc = check_key(&op->request_delete_range->key, msg, len)))
			return rc;
		return check_end(&op->request_delete_range->range_end, msg, len);
	default:
		return bad(msg, len, ERR_INVAL, "request op has no operation");
	}
}

int kv_command_validate(const Mvcc__V1__Command *cmd, char *msg, size_t len)
{
	int rc;
	switch (cmd->type) {
	case MVCC__V1__COMMAND__COMMAND_TYPE__DUMMY:
		return 0;
	case MVCC__V1__COMMAND__COMMAND_TYPE__PUT:
		if (!cmd->kv)
			return bad(msg, len, ERR_INVAL, "put without a key");
		if ((rc = check_key(&cmd->kv->key, msg, len)))
			return rc;
		return check_value(&cmd->kv->value, msg, len);
	case MVCC__V1__COMMAND__COMMAND_TYPE__DELETE:
		if (!cmd->kv)
			return bad(msg, len, ERR_INVAL, "delete without a key");
		if ((rc = check_key(&cmd->kv->key, msg, len)))
			return rc;
		return cmd->_range_end_case ? check_end(&cmd->range_end, msg, len) : 0;
	case MVCC__V1__COMMAND__COMMAND_TYPE__PUT_BATCH:
	case MVCC__V1__COMMAND__COMMAND_TYPE__DELETE_BATCH:
		for (size_t i = 0; i < cmd->n_batch; i++) {
			if ((rc = check_key(&cmd->batch[i]->key, msg, len)))
				return rc;
			if ((rc = check_value(&cmd->batch[i]->value, msg, len)))
				return rc;
		}
		return 0;
	case MVCC__V1__COMMAND__COMMAND_TYPE__TXN: {
		const Mvcc__V1__Txn *t = cmd->_txn_case ? cmd->txn : NULL;
		if (!t)
			return bad(msg, len, ERR_INVAL, "txn without a body");
		if (t->n_compare + t->n_success + t->n_failure > LIMIT_TXN_OPS)
			return bad(msg, len, ERR_INVAL, "too many operations in txn request");
		for (size_t i = 0; i < t->n_compare; i++) {
			if ((rc = check_compare(t->compare[i], msg, len)))
				return rc;
		}
		for (size_t i = 0; i < t->n_success; i++)
			if ((rc = validate_op(t->success[i], msg, len)))
				return rc;
		for (size_t i = 0; i < t->n_failure; i++)
			if ((rc = validate_op(t->failure[i], msg, len)))
				return rc;
		return 0;
	}
	case MVCC__V1__COMMAND__COMMAND_TYPE__SEQUENCE:
		for (size_t i = 0; i < cmd->n_sequence; i++) {
			if (cmd->sequence[i]->type == MVCC__V1__COMMAND__COMMAND_TYPE__SEQUENCE)
				return bad(msg, len, ERR_INVAL, "sequences do not nest");
			if ((rc = kv_command_validate(cmd->sequence[i], msg, len)))
				return rc;
		}
		return 0;
	default:
		return bad(msg, len, ERR_INVAL, "unknown command type");
	}
}
