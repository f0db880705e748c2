/*
 * merge.c — merging internal iterator over several sorted children, both directions.
 *
 * The children are few (memtables, level-0 tables, one iterator per deeper level), so the
 * smallest/largest is found by a linear scan instead of a heap. Direction changes follow
 * LevelDB: when turning around at key k, every other child is repositioned relative to k so
 * that all children sit on the correct side of the current entry. Internal keys are unique
 * across children (sequence numbers are), so ties never happen.
 */
#include "storage/lsm/lsm_parts.h"

#include <stdlib.h>

struct merge_iter {
	struct lsm_iiter base;
	struct lsm_iiter **c;
	size_t n;
	struct lsm_iiter *cur;
	int forward;
	struct lsm_bytes tmp;
	int status;
};

static void find_smallest(struct merge_iter *m)
{
	struct lsm_iiter *best = NULL;
	struct lsm_slice bk = {0};
	for (size_t i = 0; i < m->n; i++) {
		struct lsm_iiter *c = m->c[i];
		if (!II_VALID(c))
			continue;
		struct lsm_slice k = II_KEY(c);
		if (!best || lsm_ikey_cmp(k.p, k.n, bk.p, bk.n) < 0) {
			best = c;
			bk = k;
		}
	}
	m->cur = best;
}

static void find_largest(struct merge_iter *m)
{
	struct lsm_iiter *best = NULL;
	struct lsm_slice bk = {0};
	for (size_t i = 0; i < m->n; i++) {
		struct lsm_iiter *c = m->c[i];
		if (!II_VALID(c))
			continue;
		struct lsm_slice k = II_KEY(c);
		if (!best || lsm_ikey_cmp(k.p, k.n, bk.p, bk.n) > 0) {
			best = c;
			bk = k;
		}
	}
	m->cur = best;
}

static int mg_valid(struct lsm_iiter *it) { return ((struct merge_iter *)it)->cur != NULL; }

static void mg_first(struct lsm_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	for (size_t i = 0; i < m->n; i++)
		m->c[i]->ops->seek_first(m->c[i]);
	m->forward = 1;
	find_smallest(m);
}

static void mg_last(struct lsm_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	for (size_t i = 0; i < m->n; i++)
		m->c[i]->ops->seek_last(m->c[i]);
	m->forward = 0;
	find_largest(m);
}

static void mg_seek(struct lsm_iiter *it, const unsigned char *k, size_t kn)
{
	struct merge_iter *m = (struct merge_iter *)it;
	for (size_t i = 0; i < m->n; i++)
		m->c[i]->ops->seek(m->c[i], k, kn);
	m->forward = 1;
	find_smallest(m);
}

static void mg_next(struct lsm_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	ASSERT(m->cur);
	if (!m->forward) {
		struct lsm_slice k = II_KEY(m->cur);
		if (lsm_bytes_set(&m->tmp, k.p, k.n)) {
			m->status = ERR_NOMEM;
			m->cur = NULL;
			return;
		}
		for (size_t i = 0; i < m->n; i++) {
			struct lsm_iiter *c = m->c[i];
			if (c == m->cur)
				continue;
			c->ops->seek(c, m->tmp.p, m->tmp.n);
			if (II_VALID(c)) {
				struct lsm_slice ck = II_KEY(c);
				if (lsm_ikey_cmp(ck.p, ck.n, m->tmp.p, m->tmp.n) == 0)
					c->ops->next(c);
			}
		}
		m->forward = 1;
	}
	m->cur->ops->next(m->cur);
	find_smallest(m);
}

static void mg_prev(struct lsm_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	ASSERT(m->cur);
	if (m->forward) {
		struct lsm_slice k = II_KEY(m->cur);
		if (lsm_bytes_set(&m->tmp, k.p, k.n)) {
			m->status = ERR_NOMEM;
			m->cur = NULL;
			return;
		}
		for (size_t i = 0; i < m->n; i++) {
			struct lsm_iiter *c = m->c[i];
			if (c == m->cur)
				continue;
			c->ops->seek(c, m->tmp.p, m->tmp.n);
			if (II_VALID(c))
				c->ops->prev(c);
			else
				c->ops->seek_last(c);
		}
		m->forward = 0;
	}
	m->cur->ops->prev(m->cur);
	find_largest(m);
}

static struct lsm_slice mg_key(struct lsm_iiter *it) { return II_KEY(((struct merge_iter *)it)->cur); }
static struct lsm_slice mg_value(struct lsm_iiter *it) { return II_VALUE(((struct merge_iter *)it)->cur); }

static int mg_status(struct lsm_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	if (m->status)
		return m->status;
	for (size_t i = 0; i < m->n; i++) {
		int rc = m->c[i]->ops->status(m->c[i]);
		if (rc)
			return rc;
	}
	return 0;
}

static void mg_free(struct lsm_iiter *it)
{
	struct merge_iter *m = (struct merge_iter *)it;
	for (size_t i = 0; i < m->n; i++)
		m->c[i]->ops->free(m->c[i]);
	free(m->c);
	lsm_bytes_free(&m->tmp);
	free(m);
}

static const struct lsm_iiter_ops merge_ops = {mg_valid, mg_first, mg_last, mg_seek, mg_next,
					       mg_prev, mg_key, mg_value, mg_status, mg_free};

int lsm_merge_iter_new(struct lsm_iiter **children, size_t n, struct lsm_iiter **out)
{
	struct merge_iter *m = calloc(1, sizeof *m);
	struct lsm_iiter **c = malloc((n ? n : 1) * sizeof *c);
	if (!m || !c) {
		free(m);
		free(c);
		for (size_t i = 0; i < n; i++)
			children[i]->ops->free(children[i]);
		return ERR_NOMEM;
	}
	memcpy(c, children, n * sizeof *c);
	m->base.ops = &merge_ops;
	m->c = c;
	m->n = n;
	*out = &m->base;
	return 0;
}
