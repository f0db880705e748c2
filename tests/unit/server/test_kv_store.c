/*
 * test_kv_store.c — the table state machine against a trivially correct model.
 *
 * Random commands (put, delete, range delete with/without prev_kv and count, Txns with compares
 * on VALUE/VERSION/CREATE/MOD and mixed ops, sequences) are applied to a kv_store on the
 * simulated disk and to a sorted-array model; every response and random Range reads (limits,
 * keys_only, count_only, revision filters) are compared. At random points the disk "crashes":
 * the store reopens at its durable applied index and the commands after it are replayed, as
 * the Raft log would. Seed: REGATTA_SEED env var; printed on failure.
 */
#include "server/kv/kv_store.h"
#include "core/io_fs_sim.h"
#include "core/limits.h"
#include "core/prng.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the model ------------------------------------------------------------------------------ */

struct mkv {
	char key[8];
	size_t klen;
	char val[16];
	size_t vlen;
	int64_t create, mod, version;
};

struct model {
	struct mkv v[512];
	size_t n;
};

static int bcmp_(const void *a, size_t al, const void *b, size_t bl)
{
	size_t m = al < bl ? al : bl;
	int c = m ? memcmp(a, b, m) : 0;
	return c ? c : (al < bl ? -1 : al > bl ? 1 : 0);
}

static struct mkv *m_find(struct model *m, const char *k, size_t kl)
{
	for (size_t i = 0; i < m->n; i++)
		if (bcmp_(m->v[i].key, m->v[i].klen, k, kl) == 0)
			return &m->v[i];
	return NULL;
}

static int in_range(const struct mkv *e, const char *k, size_t kl, const char *end, size_t el)
{
	if (el == 0)
		return bcmp_(e->key, e->klen, k, kl) == 0;
	if (bcmp_(e->key, e->klen, k, kl) < 0)
		return 0;
	if (el == 1 && end[0] == 0)
		return 1;
	return bcmp_(e->key, e->klen, end, el) < 0;
}

static int mkv_cmp(const void *a, const void *b)
{
	const struct mkv *x = a, *y = b;
	return bcmp_(x->key, x->klen, y->key, y->klen);
}

static void m_sort(struct model *m) { qsort(m->v, m->n, sizeof m->v[0], mkv_cmp); }

static void m_put(struct model *m, const char *k, size_t kl, const char *v, size_t vl, int64_t rev)
{
	struct mkv *e = m_find(m, k, kl);
	if (e) {
		e->version++;
	} else {
		cr_assert_lt(m->n, 512);
		e = &m->v[m->n++];
		memcpy(e->key, k, kl);
		e->klen = kl;
		e->create = rev;
		e->version = 1;
	}
	memcpy(e->val, v, vl);
	e->vlen = vl;
	e->mod = rev;
	m_sort(m);
}

static int64_t m_delete(struct model *m, const char *k, size_t kl, const char *end, size_t el)
{
	int64_t n = 0;
	size_t w = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (in_range(&m->v[i], k, kl, end, el))
			n++;
		else
			m->v[w++] = m->v[i];
	}
	m->n = w;
	return n;
}

/* ---- random command generation ------------------------------------------------------------ */

static size_t rand_key(struct prng *p, char *out)
{
	size_t len = 1 + prng_below(p, 3);
	for (size_t i = 0; i < len; i++)
		out[i] = (char)('a' + prng_below(p, 4));
	return len;
}

static size_t rand_end(struct prng *p, const char *k, size_t kl, char *out)
{
	switch (prng_below(p, 4)) {
	case 0:
		out[0] = 0;
		return 1; /* "\0": everything >= key */
	case 1: /* prefix end: key + 1 */
		memcpy(out, k, kl);
		out[kl - 1]++;
		return kl;
	default:
		return rand_key(p, out);
	}
}

static ProtobufCBinaryData bin(const char *s, size_t n)
{
	return (ProtobufCBinaryData){.len = n, .data = (uint8_t *)(uintptr_t)s};
}

/* Storage for one generated command (all pointers into here). */
struct gen {
	Mvcc__V1__Command cmd;
	Mvcc__V1__KeyValue kv;
	Mvcc__V1__Txn txn;
	Mvcc__V1__Compare cmps[3], *cmpp[3];
	Mvcc__V1__RequestOp ops[4], *opp[4];
	Mvcc__V1__RequestOp__Put puts[4];
	Mvcc__V1__RequestOp__DeleteRange dels[4];
	Mvcc__V1__RequestOp__Range ranges[4];
	char keys[16][8];
	size_t klens[16];
	char vals[8][16];
	size_t vlens[8];
};

static void gen_op(struct prng *p, struct gen *g, int i)
{
	Mvcc__V1__RequestOp *op = &g->ops[i];
	mvcc__v1__request_op__init(op);
	g->opp[i] = op;
	char *k = g->keys[8 + i], *e = g->keys[12 + i];
	size_t kl = rand_key(p, k);
	g->klens[8 + i] = kl;
	switch (prng_below(p, 3)) {
	case 0:
		mvcc__v1__request_op__put__init(&g->puts[i]);
		g->vlens[i] = (size_t)prng_below(p, 12);
		prng_fill(p, g->vals[i], g->vlens[i]);
		g->puts[i].key = bin(k, kl);
		g->puts[i].value = bin(g->vals[i], g->vlens[i]);
		g->puts[i].prev_kv = prng_chance(p, 1, 2);
		op->request_case = MVCC__V1__REQUEST_OP__REQUEST_REQUEST_PUT;
		op->request_put = &g->puts[i];
		break;
	case 1: {
		mvcc__v1__request_op__delete_range__init(&g->dels[i]);
		size_t el = prng_chance(p, 1, 2) ? rand_end(p, k, kl, e) : 0;
		g->dels[i].key = bin(k, kl);
		g->dels[i].range_end = bin(e, el);
		g->dels[i].prev_kv = prng_chance(p, 1, 2);
		g->dels[i].count = 1;
		op->request_case = MVCC__V1__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
		op->request_delete_range = &g->dels[i];
		break;
	}
	default: {
		mvcc__v1__request_op__range__init(&g->ranges[i]);
		size_t el = prng_chance(p, 1, 2) ? rand_end(p, k, kl, e) : 0;
		g->ranges[i].key = bin(k, kl);
		g->ranges[i].range_end = bin(e, el);
		g->ranges[i].limit = (int64_t)prng_below(p, 4);
		op->request_case = MVCC__V1__REQUEST_OP__REQUEST_REQUEST_RANGE;
		op->request_range = &g->ranges[i];
		break;
	}
	}
}

static void gen_command(struct prng *p, struct gen *g)
{
	memset(g, 0, sizeof *g);
	Mvcc__V1__Command *c = &g->cmd;
	mvcc__v1__command__init(c);
	mvcc__v1__key_value__init(&g->kv);
	g->klens[0] = rand_key(p, g->keys[0]);
	g->kv.key = bin(g->keys[0], g->klens[0]);
	switch (prng_below(p, 10)) {
	case 0:
	case 1:
	case 2:
	case 3:
		c->type = MVCC__V1__COMMAND__COMMAND_TYPE__PUT;
		g->vlens[0] = (size_t)prng_below(p, 12);
		prng_fill(p, g->vals[0], g->vlens[0]);
		g->kv.value = bin(g->vals[0], g->vlens[0]);
		c->kv = &g->kv;
		c->prev_kvs = prng_chance(p, 1, 2);
		break;
	case 4:
	case 5:
		c->type = MVCC__V1__COMMAND__COMMAND_TYPE__DELETE;
		c->kv = &g->kv;
		if (prng_chance(p, 2, 3)) {
			c->_range_end_case = MVCC__V1__COMMAND___RANGE_END_RANGE_END;
			g->klens[1] = rand_end(p, g->keys[0], g->klens[0], g->keys[1]);
			c->range_end = bin(g->keys[1], g->klens[1]);
		}
		c->prev_kvs = prng_chance(p, 1, 2);
		c->count = 1;
		break;
	default: {
		c->type = MVCC__V1__COMMAND__COMMAND_TYPE__TXN;
		mvcc__v1__txn__init(&g->txn);
		c->_txn_case = MVCC__V1__COMMAND___TXN_TXN;
		c->txn = &g->txn;
		size_t nc = (size_t)prng_below(p, 3);
		for (size_t i = 0; i < nc; i++) {
			Mvcc__V1__Compare *cm = &g->cmps[i];
			mvcc__v1__compare__init(cm);
			g->cmpp[i] = cm;
			g->klens[2 + i] = rand_key(p, g->keys[2 + i]);
			cm->key = bin(g->keys[2 + i], g->klens[2 + i]);
			if (prng_chance(p, 1, 4)) {
				g->klens[5 + i] = rand_end(p, g->keys[2 + i], g->klens[2 + i], g->keys[5 + i]);
				cm->range_end = bin(g->keys[5 + i], g->klens[5 + i]);
			}
			cm->result = (Mvcc__V1__Compare__CompareResult)prng_below(p, 4);
			cm->target = (Mvcc__V1__Compare__CompareTarget)prng_below(p, 4);
			switch (cm->target) {
			case MVCC__V1__COMPARE__COMPARE_TARGET__VALUE:
				cm->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_VALUE;
				g->vlens[4 + i] = (size_t)prng_below(p, 3);
				prng_fill(p, g->vals[4 + i], g->vlens[4 + i]);
				cm->value = bin(g->vals[4 + i], g->vlens[4 + i]);
				break;
			case MVCC__V1__COMPARE__COMPARE_TARGET__VERSION:
				cm->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_VERSION;
				cm->version = (int64_t)prng_below(p, 4);
				break;
			case MVCC__V1__COMPARE__COMPARE_TARGET__CREATE:
				cm->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_CREATE_REVISION;
				cm->create_revision = (int64_t)prng_below(p, 40);
				break;
			default:
				cm->target_union_case = MVCC__V1__COMPARE__TARGET_UNION_MOD_REVISION;
				cm->mod_revision = (int64_t)prng_below(p, 40);
				break;
			}
		}
		g->txn.compare = g->cmpp;
		g->txn.n_compare = nc;
		size_t ns = (size_t)prng_below(p, 3), nf = (size_t)prng_below(p, 2);
		for (size_t i = 0; i < ns + nf; i++)
			gen_op(p, g, (int)i);
		g->txn.success = g->opp;
		g->txn.n_success = ns;
		g->txn.failure = g->opp + ns;
		g->txn.n_failure = nf;
		break;
	}
	}
}

/* ---- checking ------------------------------------------------------------------------------- */

static void check_kv(const Mvcc__V1__KeyValue *kv, const struct mkv *e, int keys_only, const char *what)
{
	cr_assert_not_null(kv, "%s: missing kv", what);
	cr_assert_eq(bcmp_(kv->key.data, kv->key.len, e->key, e->klen), 0, "%s: key", what);
	cr_assert_eq(kv->create_revision, e->create, "%s: create %" PRId64 " want %" PRId64, what,
		     kv->create_revision, e->create);
	cr_assert_eq(kv->mod_revision, e->mod, "%s: mod", what);
	cr_assert_eq(kv->version, e->version, "%s: version", what);
	if (keys_only)
		cr_assert_eq(kv->value.len, 0, "%s: keys_only value", what);
	else
		cr_assert_eq(bcmp_(kv->value.data, kv->value.len, e->val, e->vlen), 0, "%s: value", what);
}

/* Model range: returns matches (sorted) into out. */
static size_t m_range(struct model *m, const char *k, size_t kl, const char *end, size_t el, struct mkv *out)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++)
		if (in_range(&m->v[i], k, kl, end, el))
			out[n++] = m->v[i];
	return n;
}

static void check_range_op(const Mvcc__V1__ResponseOp__Range *rr, struct model *m,
			   const Mvcc__V1__RequestOp__Range *q)
{
	static struct mkv want[512];
	size_t n = m_range(m, (const char *)q->key.data, q->key.len, (const char *)q->range_end.data,
			   q->range_end.len, want);
	size_t expect = q->limit > 0 && (size_t)q->limit < n ? (size_t)q->limit : n;
	cr_assert_eq(rr->n_kvs, expect, "txn range: %zu kvs, want %zu", rr->n_kvs, expect);
	cr_assert_eq(rr->more, expect < n);
	for (size_t i = 0; i < expect; i++)
		check_kv(rr->kvs[i], &want[i], 0, "txn range");
}

static int64_t m_cmp_ints(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

static int m_compare(struct model *m, const Mvcc__V1__Compare *c)
{
	static struct mkv hits[512];
	size_t n = m_range(m, (const char *)c->key.data, c->key.len, (const char *)c->range_end.data,
			   c->range_end.len, hits);
	if (n == 0) {
		if (c->target == MVCC__V1__COMPARE__COMPARE_TARGET__VALUE)
			return 0;
		hits[0] = (struct mkv){0};
		n = 1;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t r;
		switch (c->target) {
		case MVCC__V1__COMPARE__COMPARE_TARGET__VALUE:
			r = bcmp_(hits[i].val, hits[i].vlen, c->value.data, c->value.len);
			break;
		case MVCC__V1__COMPARE__COMPARE_TARGET__VERSION: r = m_cmp_ints(hits[i].version, c->version); break;
		case MVCC__V1__COMPARE__COMPARE_TARGET__CREATE: r = m_cmp_ints(hits[i].create, c->create_revision); break;
		default: r = m_cmp_ints(hits[i].mod, c->mod_revision); break;
		}
		int ok;
		switch (c->result) {
		case MVCC__V1__COMPARE__COMPARE_RESULT__EQUAL: ok = r == 0; break;
		case MVCC__V1__COMPARE__COMPARE_RESULT__GREATER: ok = r > 0; break;
		case MVCC__V1__COMPARE__COMPARE_RESULT__LESS: ok = r < 0; break;
		default: ok = r != 0; break;
		}
		if (!ok)
			return 0;
	}
	return 1;
}

/* Apply an op to the model and check the store's response for it. */
static void m_apply_op(struct model *m, const Mvcc__V1__RequestOp *op, int64_t rev, const Mvcc__V1__ResponseOp *r)
{
	static struct mkv before[512];
	switch (op->request_case) {
	case MVCC__V1__REQUEST_OP__REQUEST_REQUEST_RANGE:
		cr_assert_eq(r->response_case, MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_RANGE);
		check_range_op(r->response_range, m, op->request_range);
		break;
	case MVCC__V1__REQUEST_OP__REQUEST_REQUEST_PUT: {
		const Mvcc__V1__RequestOp__Put *p = op->request_put;
		struct mkv *old = m_find(m, (const char *)p->key.data, p->key.len);
		cr_assert_eq(r->response_case, MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_PUT);
		if (p->prev_kv && old)
			check_kv(r->response_put->prev_kv, old, 0, "put prev_kv");
		else
			cr_assert_null(r->response_put->prev_kv);
		m_put(m, (const char *)p->key.data, p->key.len, (const char *)p->value.data, p->value.len, rev);
		break;
	}
	default: {
		const Mvcc__V1__RequestOp__DeleteRange *d = op->request_delete_range;
		size_t n = m_range(m, (const char *)d->key.data, d->key.len, (const char *)d->range_end.data,
				   d->range_end.len, before);
		cr_assert_eq(r->response_case, MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE);
		cr_assert_eq(r->response_delete_range->deleted, (int64_t)n, "deleted %" PRId64 " want %zu",
			     r->response_delete_range->deleted, n);
		if (d->prev_kv) {
			cr_assert_eq(r->response_delete_range->n_prev_kvs, n);
			for (size_t i = 0; i < n; i++)
				check_kv(r->response_delete_range->prev_kvs[i], &before[i], 0, "delete prev_kvs");
		}
		m_delete(m, (const char *)d->key.data, d->key.len, (const char *)d->range_end.data, d->range_end.len);
		break;
	}
	}
}

static void m_apply(struct model *m, const Mvcc__V1__Command *c, int64_t rev, const struct kv_apply_out *out)
{
	static struct mkv before[512];
	switch (c->type) {
	case MVCC__V1__COMMAND__COMMAND_TYPE__PUT: {
		struct mkv *old = m_find(m, (const char *)c->kv->key.data, c->kv->key.len);
		cr_assert_eq(out->n_responses, 1);
		if (c->prev_kvs && old)
			check_kv(out->responses[0]->response_put->prev_kv, old, 0, "prev_kv");
		else
			cr_assert_null(out->responses[0]->response_put->prev_kv);
		m_put(m, (const char *)c->kv->key.data, c->kv->key.len, (const char *)c->kv->value.data,
		      c->kv->value.len, rev);
		break;
	}
	case MVCC__V1__COMMAND__COMMAND_TYPE__DELETE: {
		const char *end = c->_range_end_case ? (const char *)c->range_end.data : NULL;
		size_t el = c->_range_end_case ? c->range_end.len : 0;
		size_t n = m_range(m, (const char *)c->kv->key.data, c->kv->key.len, end, el, before);
		cr_assert_eq(out->n_responses, 1);
		const Mvcc__V1__ResponseOp__DeleteRange *d = out->responses[0]->response_delete_range;
		cr_assert_eq(d->deleted, (int64_t)n, "delete: %" PRId64 " want %zu", d->deleted, n);
		if (c->prev_kvs) {
			cr_assert_eq(d->n_prev_kvs, n);
			for (size_t i = 0; i < n; i++)
				check_kv(d->prev_kvs[i], &before[i], 0, "delete prev");
		}
		m_delete(m, (const char *)c->kv->key.data, c->kv->key.len, end, el);
		break;
	}
	default: {
		int ok = 1;
		for (size_t i = 0; i < c->txn->n_compare && ok; i++)
			ok = m_compare(m, c->txn->compare[i]);
		cr_assert_eq(out->txn_succeeded, ok != 0, "txn succeeded=%d want %d", out->txn_succeeded, ok);
		size_t n = ok ? c->txn->n_success : c->txn->n_failure;
		Mvcc__V1__RequestOp **ops = ok ? c->txn->success : c->txn->failure;
		cr_assert_eq(out->n_responses, n);
		for (size_t i = 0; i < n; i++)
			m_apply_op(m, ops[i], rev, out->responses[i]);
		break;
	}
	}
}

static void check_reads(struct kv_store *s, struct model *m, struct prng *p, struct arena *a)
{
	static struct mkv want[512];
	for (int round = 0; round < 4; round++) {
		char k[8], e[8];
		size_t kl = rand_key(p, k), el = prng_chance(p, 1, 3) ? 0 : rand_end(p, k, kl, e);
		if (prng_chance(p, 1, 8)) {
			k[0] = 0;
			kl = 1;
			e[0] = 0;
			el = 1; /* whole table */
		}
		struct kv_range q = {.key = (uint8_t *)k, .key_len = kl, .range_end = (uint8_t *)e, .range_end_len = el,
				     .limit = (int64_t)prng_below(p, 5), .keys_only = prng_chance(p, 1, 3),
				     .count_only = prng_chance(p, 1, 5)};
		if (prng_chance(p, 1, 4))
			q.min_mod_revision = (int64_t)prng_below(p, 60);
		if (prng_chance(p, 1, 4))
			q.max_create_revision = (int64_t)prng_below(p, 60);
		size_t n = 0;
		for (size_t i = 0; i < m->n; i++) {
			const struct mkv *x = &m->v[i];
			if (!in_range(x, k, kl, e, el))
				continue;
			if (q.min_mod_revision && x->mod < q.min_mod_revision)
				continue;
			if (q.max_create_revision && x->create > q.max_create_revision)
				continue;
			want[n++] = *x;
		}
		struct kv_range_result rr;
		arena_reset(a);
		cr_assert_eq(kv_store_range(s, NULL, &q, a, &rr), 0);
		if (q.count_only) {
			size_t want_n = q.limit > 0 && (size_t)q.limit < n ? (size_t)q.limit : n;
			cr_assert_eq(rr.count, (int64_t)want_n, "count %" PRId64 " want %zu", rr.count, want_n);
			cr_assert_eq(rr.more, want_n < n);
			cr_assert_eq(rr.n_kvs, 0);
			continue;
		}
		size_t expect = q.limit > 0 && (size_t)q.limit < n ? (size_t)q.limit : n;
		cr_assert_eq(rr.n_kvs, expect, "range: %zu want %zu", rr.n_kvs, expect);
		cr_assert_eq(rr.more, expect < n);
		for (size_t i = 0; i < expect; i++)
			check_kv(rr.kvs[i], &want[i], q.keys_only, "range");
	}
}

static void open_store(struct io_fs *fs, struct kv_store **s)
{
	struct lsm_options o;
	lsm_options_default(&o);
	o.fs = fs;
	o.memtable_bytes = 4096; /* tiny: flushes and compactions happen during the test */
	o.cache_bytes = 1 << 20;
	cr_assert_eq(kv_store_open("/t", &o, s), 0);
}

static uint64_t test_seed(void)
{
	const char *e = getenv("REGATTA_SEED");
	return e ? strtoull(e, NULL, 0) : prng_seed_from_time();
}

Test(kv_store, model_randomized_with_crashes, .timeout = 120)
{
	uint64_t seed = test_seed();
	fprintf(stderr, "kv_store model test: seed %" PRIu64 " (REGATTA_SEED=%" PRIu64 " replays)\n", seed, seed);
	struct prng p;
	prng_init(&p, seed);
	struct io_fs *fs = io_fs_sim_new(seed);
	cr_assert_eq(io_fs_mkdir(fs, "/t"), 0);
	struct kv_store *s;
	open_store(fs, &s);
	static struct model m;
	m.n = 0;
	struct arena a;
	arena_init(&a, 1 << 16, 64 << 20);
	/* Commands kept for replay after a crash (the "Raft log"). */
	enum { STEPS = 10000 };
	struct gen *log = calloc(STEPS, sizeof *log);
	cr_assert_not_null(log);
	uint64_t index = 0;
	int crashes = 0;
	uint64_t flushes = 0;
	for (int step = 0; step < STEPS; step++) {
		struct gen *g = &log[step];
		gen_command(&p, g);
		index++;
		char msg[128];
		cr_assert_eq(kv_command_validate(&g->cmd, msg, sizeof msg), 0, "validate: %s", msg);
		arena_reset(&a);
		struct kv_apply_out out;
		int rc = kv_store_apply(s, index, (int64_t)index, &g->cmd, &a, &out);
		cr_assert_eq(rc, 0, "seed %" PRIu64 " step %d: apply %d", seed, step, rc);
		m_apply(&m, &g->cmd, (int64_t)index, &out);
		cr_assert_eq(kv_store_revision(s), (int64_t)index);
		if (step % 7 == 0)
			check_reads(s, &m, &p, &a);
		if (prng_chance(&p, 1, 150)) {
			crashes++;
			struct lsm_stats cst;
			lsm_tree_stats(kv_store_tree(s), &cst);
			flushes += cst.flushes;
			/* Crash: reopen at the durable index and replay the log after it. */
			kv_store_close_noflush(s);
			io_fs_sim_crash(fs);
			open_store(fs, &s);
			uint64_t from = kv_store_applied_index(s);
			cr_assert_leq(from, index);
			for (uint64_t i = from + 1; i <= index; i++) {
				struct kv_apply_out o2;
				cr_assert_eq(kv_store_apply(s, i, (int64_t)i, &log[i - 1].cmd, NULL, &o2), 0);
			}
			check_reads(s, &m, &p, &a);
		}
	}
	struct lsm_stats st;
	lsm_tree_stats(kv_store_tree(s), &st);
	fprintf(stderr, "kv_store model test: %d crashes, %" PRIu64 " flushes before them, %" PRIu64 " in the last run\n",
		crashes, flushes, st.flushes);
	cr_assert_gt(crashes, 0);
	cr_assert_gt(flushes, 0, "the tiny memtable must have flushed: the crash test needs tables on disk");
	cr_assert_eq(kv_store_close(s), 0);
	open_store(fs, &s);
	cr_assert_eq(kv_store_applied_index(s), index, "clean close keeps everything");
	check_reads(s, &m, &p, &a);
	cr_assert_eq(kv_store_close(s), 0);
	arena_deinit(&a);
	free(log);
	io_fs_sim_free(fs);
}

Test(kv_store, invalid_command_is_skipped_deterministically)
{
	struct io_fs *fs = io_fs_sim_new(1);
	cr_assert_eq(io_fs_mkdir(fs, "/t"), 0);
	struct kv_store *s;
	open_store(fs, &s);
	Mvcc__V1__Command c;
	mvcc__v1__command__init(&c);
	c.type = MVCC__V1__COMMAND__COMMAND_TYPE__PUT; /* no kv */
	char msg[64];
	cr_assert_eq(kv_command_validate(&c, msg, sizeof msg), ERR_INVAL);
	struct kv_apply_out out;
	cr_assert_eq(kv_store_apply(s, 1, 1, &c, NULL, &out), ERR_INVAL);
	cr_assert_eq(kv_store_applied_index(s), 1, "the index advances past a skipped command");
	cr_assert_eq(kv_store_close(s), 0);
	io_fs_sim_free(fs);
}

Test(kv_store, follower_revision_differs_from_index)
{
	struct io_fs *fs = io_fs_sim_new(2);
	cr_assert_eq(io_fs_mkdir(fs, "/t"), 0);
	struct kv_store *s;
	open_store(fs, &s);
	Mvcc__V1__Command c;
	Mvcc__V1__KeyValue kv;
	mvcc__v1__command__init(&c);
	mvcc__v1__key_value__init(&kv);
	kv.key = bin("k", 1);
	kv.value = bin("v", 1);
	c.type = MVCC__V1__COMMAND__COMMAND_TYPE__PUT;
	c.kv = &kv;
	struct kv_apply_out out;
	cr_assert_eq(kv_store_apply(s, 5, 1234, &c, NULL, &out), 0);
	cr_assert_eq(kv_store_close(s), 0);
	open_store(fs, &s);
	cr_assert_eq(kv_store_applied_index(s), 5);
	cr_assert_eq(kv_store_revision(s), 1234, "the leader's revision survives a restart");
	struct arena a;
	arena_init(&a, 4096, 1 << 20);
	struct kv_range q = {.key = (const uint8_t *)"k", .key_len = 1};
	struct kv_range_result rr;
	cr_assert_eq(kv_store_range(s, NULL, &q, &a, &rr), 0);
	cr_assert_eq(rr.n_kvs, 1);
	cr_assert_eq(rr.kvs[0]->mod_revision, 1234);
	arena_deinit(&a);
	cr_assert_eq(kv_store_close(s), 0);
	io_fs_sim_free(fs);
}

Test(kv_store, largest_key_and_value_apply)
{
	struct io_fs *fs = io_fs_sim_new(3);
	cr_assert_eq(io_fs_mkdir(fs, "/t"), 0);
	struct kv_store *s;
	open_store(fs, &s);
	static char key[LIMIT_KEY_BYTES], val[LIMIT_VALUE_BYTES];
	memset(key, 'k', sizeof key);
	memset(val, 'v', sizeof val);
	Mvcc__V1__Command c;
	Mvcc__V1__KeyValue kv;
	mvcc__v1__command__init(&c);
	mvcc__v1__key_value__init(&kv);
	kv.key = bin(key, sizeof key);
	kv.value = bin(val, sizeof val);
	c.type = MVCC__V1__COMMAND__COMMAND_TYPE__PUT;
	c.kv = &kv;
	char msg[64];
	cr_assert_eq(kv_command_validate(&c, msg, sizeof msg), 0);
	struct kv_apply_out out;
	cr_assert_eq(kv_store_apply(s, 1, 1, &c, NULL, &out), 0, "a 1 KiB key with a 2 MiB value applies");
	struct arena a;
	arena_init(&a, 1 << 16, 8 << 20);
	struct kv_range q = {.key = (const uint8_t *)key, .key_len = sizeof key};
	struct kv_range_result rr;
	cr_assert_eq(kv_store_range(s, NULL, &q, &a, &rr), 0);
	cr_assert_eq(rr.n_kvs, 1);
	cr_assert_eq(rr.kvs[0]->value.len, sizeof val);
	arena_deinit(&a);
	cr_assert_eq(kv_store_close(s), 0);
	io_fs_sim_free(fs);
}
