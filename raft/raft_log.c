/*
 * raft_log.c — the log as the core sees it: a ring of recent entries in memory (the unstable tail
 * plus a cache of persisted ones) over the caller's durable storage (struct raft_log_ops).
 *
 * Invariants (raft__log_check): see raft_impl.h. The important ones:
 *   - unstable entries (index > stable) are always in the ring and are never evicted, so the
 *     caller's storage is only asked for persisted entries;
 *   - a truncation never reaches a committed entry (that would break State Machine Safety);
 *   - the ring holds at most cfg.cache_entries entries and cfg.cache_bytes_max payload bytes
 *     (one oversized entry is admitted into an otherwise empty ring); when full of unstable
 *     entries, appends fail with ERR_AGAIN (backpressure).
 * Payload bytes come from cfg.mem; they are freed on eviction, truncation, compaction and reset,
 * which happen only while handling an event, never while an update is being built.
 */
#include "raft/raft_impl.h"

#include "core/assert.h"

#include <string.h>

static struct raft_cached *slot(const struct raft *r, uint64_t index)
{
	return &r->cache[index & r->cache_mask];
}

static uint64_t cache_count(const struct raft *r)
{
	return r->last_index + 1 - r->cache_first;
}

static void free_slot(struct raft *r, uint64_t index)
{
	struct raft_cached *c = slot(r, index);
	if (c->data) {
		r->cfg.mem.free(r->cfg.mem.ctx, c->data, c->len);
		c->data = NULL;
	}
	ASSERT(r->cache_bytes >= c->len);
	r->cache_bytes -= c->len;
	c->len = 0;
}

int raft__log_init(struct raft *r, const struct raft_init_state *st)
{
	uint32_t cap = r->cfg.cache_entries;
	if (cap == 0 || (cap & (cap - 1)) != 0 || cap > LIMIT_RAFT_CACHE_ENTRIES_MAX)
		return ERR_INVAL;
	if (st->log_first == 0 || st->log_first > st->snapshot.index + 1 ||
	    st->log_last < st->snapshot.index || st->log_last + 1 < st->log_first)
		return ERR_INVAL;
	if (st->log_last == st->snapshot.index && st->log_last_term != st->snapshot.term)
		return ERR_INVAL;
	r->cache = r->cfg.mem.alloc(r->cfg.mem.ctx, (size_t)cap * sizeof(*r->cache));
	if (!r->cache)
		return ERR_NOMEM;
	memset(r->cache, 0, (size_t)cap * sizeof(*r->cache));
	r->cache_mask = cap - 1;
	r->log_first = st->log_first;
	r->last_index = st->log_last;
	r->last_term = st->log_last_term;
	r->cache_first = r->last_index + 1;
	r->cache_bytes = 0;
	r->stable = r->last_index;
	r->handed = r->last_index;
	r->truncate_pending = 0;
	r->first_prev_known = 0;
	r->first_prev_term = 0;
	if (r->log_first - 1 == st->snapshot.index) {
		r->first_prev_known = 1;
		r->first_prev_term = st->snapshot.term;
	}
	raft__log_check(r);
	return 0;
}

void raft__log_deinit(struct raft *r)
{
	if (!r->cache)
		return;
	for (uint64_t i = r->cache_first; i <= r->last_index; i++)
		free_slot(r, i);
	ASSERT(r->cache_bytes == 0);
	r->cfg.mem.free(r->cfg.mem.ctx, r->cache, (size_t)(r->cache_mask + 1) * sizeof(*r->cache));
	r->cache = NULL;
}

uint64_t raft__log_term(const struct raft *r, uint64_t index, int *ok)
{
	*ok = 1;
	if (index == 0)
		return 0;
	if (index > r->last_index) {
		*ok = 0;
		return 0;
	}
	if (index == r->last_index)
		return r->last_term;
	if (index >= r->cache_first)
		return slot(r, index)->term;
	if (index == r->snap.index && r->snap.index != 0)
		return r->snap.term;
	if (index + 1 == r->log_first) {
		*ok = r->first_prev_known;
		return r->first_prev_term;
	}
	if (index >= r->log_first) {
		ASSERT(index <= r->stable);
		uint64_t t = 0;
		if (r->cfg.log.term(r->cfg.log.ctx, r->cfg.group_id, index, &t) == 0 && t != 0)
			return t;
	}
	*ok = 0;
	return 0;
}

int raft__log_match(const struct raft *r, uint64_t index, uint64_t term)
{
	int ok;
	uint64_t t = raft__log_term(r, index, &ok);
	return ok && t == term;
}

int raft__log_up_to_date(const struct raft *r, uint64_t last_index, uint64_t last_term)
{
	return last_term > r->last_term ||
	       (last_term == r->last_term && last_index >= r->last_index);
}

/* Evict persisted entries from the front of the ring until `len` more bytes and one more slot
 * fit. Returns 1 on success. */
static int make_room(struct raft *r, uint32_t len)
{
	uint64_t cap = (uint64_t)r->cache_mask + 1;
	while (r->cache_first <= r->last_index && r->cache_first <= r->stable &&
	       (cache_count(r) >= cap || r->cache_bytes + len > r->cfg.cache_bytes_max)) {
		free_slot(r, r->cache_first);
		r->cache_first++;
	}
	if (cache_count(r) >= cap)
		return 0;
	if (r->cache_bytes + len > r->cfg.cache_bytes_max && cache_count(r) > 0)
		return 0;
	return 1;
}

int raft__log_append(struct raft *r, uint64_t term, uint8_t type, const uint8_t *data, uint32_t len)
{
	ASSERT(term >= r->last_term);
	ASSERT(len == 0 || data != NULL);
	if (!make_room(r, len))
		return ERR_AGAIN;
	uint8_t *copy = NULL;
	if (len > 0) {
		copy = r->cfg.mem.alloc(r->cfg.mem.ctx, len);
		if (!copy)
			return ERR_AGAIN;
		memcpy(copy, data, len);
	}
	r->last_index++;
	r->last_term = term;
	struct raft_cached *c = slot(r, r->last_index);
	c->term = term;
	c->type = type;
	c->len = len;
	c->data = copy;
	r->cache_bytes += len;
	ASSERT(cache_count(r) <= (uint64_t)r->cache_mask + 1);
	return 0;
}

void raft__log_truncate(struct raft *r, uint64_t index)
{
#ifndef REGATTA_CANARY_APPLY_PAST_COMMIT
	ASSERT(index > r->commit); /* Leader Completeness: committed entries are never removed */
#endif
	ASSERT(index >= r->log_first && index <= r->last_index);
	int ok;
	uint64_t prev_term = raft__log_term(r, index - 1, &ok);
	ASSERT(ok);
	for (uint64_t i = (index > r->cache_first ? index : r->cache_first); i <= r->last_index;
	     i++)
		free_slot(r, i);
	if (index < r->cache_first)
		r->cache_first = index;
	if (index <= r->handed) {
		if (r->truncate_pending == 0 || index < r->truncate_pending)
			r->truncate_pending = index;
		r->handed = index - 1;
	}
	r->last_index = index - 1;
	r->last_term = prev_term;
	if (r->stable > r->last_index)
		r->stable = r->last_index;
	if (r->applied > r->last_index) /* only the apply_past_commit canary gets here */
		r->applied = r->last_index;
	raft__conf_truncate(r, index);
	raft__log_check(r);
}

int raft__log_slice(const struct raft *r, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                    struct raft_entry *out, uint32_t cap, uint32_t *n)
{
	ASSERT(lo >= 1 && cap > 0);
	*n = 0;
	if (lo < r->log_first)
		return ERR_RANGE;
	if (hi > r->last_index + 1)
		hi = r->last_index + 1;
	if (lo >= hi)
		return 0;
	if (lo < r->cache_first) {
		uint64_t shi = hi < r->cache_first ? hi : r->cache_first;
		int rc = r->cfg.log.entries(r->cfg.log.ctx, r->cfg.group_id, lo, shi, max_bytes,
		                            out, cap, n);
		if (rc)
			return rc;
		ASSERT(*n <= cap && *n <= shi - lo);
		for (uint32_t i = 0; i < *n; i++)
			ASSERT(out[i].index == lo + i);
		return 0;
	}
	uint64_t bytes = 0;
	for (uint64_t i = lo; i < hi && *n < cap; i++) {
		const struct raft_cached *c = slot(r, i);
		if (*n > 0 && bytes + c->len > max_bytes)
			break;
		bytes += c->len;
		out[*n].term = c->term;
		out[*n].index = i;
		out[*n].type = c->type;
		out[*n].len = c->len;
		out[*n].data = c->data;
		(*n)++;
	}
	return 0;
}

void raft__log_stable_to(struct raft *r, uint64_t index, uint64_t term)
{
	if (index <= r->stable || index > r->last_index)
		return;
	if (!raft__log_match(r, index, term))
		return; /* truncated and replaced after that update: its entries are not ours */
	r->stable = index;
	ASSERT(r->stable <= r->last_index);
}

void raft__log_reset(struct raft *r, uint64_t index, uint64_t term)
{
	for (uint64_t i = r->cache_first; i <= r->last_index; i++)
		free_slot(r, i);
	ASSERT(r->cache_bytes == 0);
	r->log_first = index + 1;
	r->first_prev_known = 1;
	r->first_prev_term = term;
	r->last_index = index;
	r->last_term = term;
	r->cache_first = index + 1;
	r->stable = index; /* replies that depend on the install wait for its persist seq */
	r->handed = index;
	r->truncate_pending = 0;
	raft__log_check(r);
}

void raft__log_compact(struct raft *r, uint64_t to)
{
	if (to < r->log_first)
		return;
	ASSERT(to <= r->stable && to <= r->snap.index);
	int ok;
	uint64_t t = raft__log_term(r, to, &ok);
	ASSERT(ok);
	while (r->cache_first <= to && r->cache_first <= r->last_index) {
		free_slot(r, r->cache_first);
		r->cache_first++;
	}
	if (r->cache_first < to + 1)
		r->cache_first = to + 1;
	r->log_first = to + 1;
	r->first_prev_known = 1;
	r->first_prev_term = t;
	raft__log_check(r);
}

void raft__log_check(const struct raft *r)
{
	ASSERT(r->log_first >= 1);
	ASSERT(r->log_first <= r->cache_first);
	ASSERT(r->cache_first <= r->last_index + 1);
	ASSERT(r->stable <= r->last_index);
	ASSERT(r->cache_first <= r->stable + 1); /* unstable entries are cached */
	ASSERT(r->handed <= r->last_index);
	ASSERT(cache_count(r) <= (uint64_t)r->cache_mask + 1);
#ifndef REGATTA_CANARY_APPLY_PAST_COMMIT
	ASSERT(r->applied <= r->commit);
#endif
	ASSERT(r->commit <= r->last_index);
}
