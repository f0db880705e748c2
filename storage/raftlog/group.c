/*
 * group.c — per-group index of the Raft log (entry locations + term runs) and the group map.
 * See group.h for the invariants; every operation re-asserts the cheap ones.
 */
#include "storage/raftlog/group.h"
#include "core/assert.h"
#include "core/limits.h"

#include <stdlib.h>
#include <string.h>

static size_t nentries(const struct rl_group *g) { return (size_t)(g->last - g->base); }

static void runs_trim_tail(struct rl_group *g, uint64_t index)
{
	/* Drop runs that start at or after index (they cover only dropped entries). */
	while (g->nruns > 0 && g->runs[g->nruns - 1].start >= index)
		g->nruns--;
}

static void runs_trim_head(struct rl_group *g)
{
	/* Keep the run that covers base+1; drop earlier ones. */
	size_t k = 0;
	while (k + 1 < g->nruns && g->runs[k + 1].start <= g->base + 1)
		k++;
	if (k) {
		memmove(g->runs, g->runs + k, (g->nruns - k) * sizeof *g->runs);
		g->nruns -= k;
	}
}

int rl_group_reserve(struct rl_group *g, uint64_t first_index, size_t n)
{
	/* After truncating at first_index, n more entries and up to n new term runs must fit. */
	ASSERT(first_index > g->base && first_index <= g->last + 1);
	size_t keep = (size_t)(first_index - 1 - g->base);
	if (g->loc_head + keep + n > g->loc_cap) {
		if (g->loc_head > 0) {
			memmove(g->locs, g->locs + g->loc_head, keep * sizeof *g->locs);
			g->loc_head = 0;
		}
		if (keep + n > g->loc_cap) {
			size_t cap = g->loc_cap ? g->loc_cap : 64;
			while (cap < keep + n)
				cap *= 2;
			struct rl_loc *l = realloc(g->locs, cap * sizeof *l);
			if (!l)
				return ERR_NOMEM;
			g->locs = l;
			g->loc_cap = cap;
		}
	}
	if (g->nruns + n > g->run_cap) {
		size_t cap = g->run_cap ? g->run_cap : 4;
		while (cap < g->nruns + n)
			cap *= 2;
		struct rl_run *r = realloc(g->runs, cap * sizeof *r);
		if (!r)
			return ERR_NOMEM;
		g->runs = r;
		g->run_cap = cap;
	}
	return 0;
}

void rl_group_push(struct rl_group *g, uint64_t index, uint64_t term, struct rl_loc loc)
{
	ASSERT(index > g->base && index <= g->last + 1);
	rl_group_truncate(g, index);
	size_t n = nentries(g);
	ASSERT(g->loc_head + n < g->loc_cap); /* rl_group_reserve came first */
	if (g->nruns == 0 || g->runs[g->nruns - 1].term != term) {
		ASSERT(g->nruns < g->run_cap);
		ASSERT(g->nruns == 0 || g->runs[g->nruns - 1].term < term);
		g->runs[g->nruns++] = (struct rl_run){.start = index, .term = term};
	}
	g->locs[g->loc_head + n] = loc;
	g->last = index;
	ASSERT(g->nruns > 0 && g->runs[0].start <= g->base + 1);
}

void rl_group_truncate(struct rl_group *g, uint64_t index)
{
	ASSERT(index > g->base);
	if (index > g->last)
		return;
	g->last = index - 1;
	runs_trim_tail(g, index);
	if (g->last == g->base) {
		g->loc_head = 0;
		g->nruns = 0;
	}
	ASSERT((g->nruns == 0) == (g->last == g->base));
}

void rl_group_restart(struct rl_group *g, uint64_t base, uint64_t base_term)
{
	g->base = base;
	g->base_term = base_term;
	g->last = base;
	g->loc_head = 0;
	g->nruns = 0;
}

void rl_group_compact(struct rl_group *g, uint64_t index, uint64_t term)
{
	if (index <= g->base) {
		if (index == g->base && g->base_term == 0)
			g->base_term = term;
		return;
	}
	if (index >= g->last) {
		rl_group_restart(g, index, term);
		return;
	}
	g->loc_head += (size_t)(index - g->base);
	g->base = index;
	g->base_term = term;
	runs_trim_head(g);
	ASSERT(g->nruns > 0 && g->runs[0].start <= g->base + 1);
}

uint64_t rl_group_term_at(const struct rl_group *g, uint64_t index)
{
	ASSERT(index >= g->base && index <= g->last);
	if (index == g->base)
		return g->base_term;
	size_t lo = 0, hi = g->nruns; /* find the last run with start <= index */
	ASSERT(hi > 0);
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->runs[mid].start <= index)
			lo = mid;
		else
			hi = mid;
	}
	ASSERT(g->runs[lo].start <= index || lo == 0);
	return g->runs[lo].term;
}

void rl_group_free(struct rl_group *g)
{
	if (!g)
		return;
	free(g->locs);
	free(g->runs);
	free(g);
}

/* ---- map ------------------------------------------------------------------------------ */

static size_t hash_id(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	id *= 0xc4ceb9fe1a85ec53ull;
	id ^= id >> 33;
	return (size_t)id;
}

struct rl_group *rl_map_get(const struct rl_map *m, uint64_t id)
{
	if (m->cap == 0)
		return NULL;
	size_t mask = m->cap - 1;
	for (size_t i = hash_id(id) & mask, probes = 0; probes < m->cap; i = (i + 1) & mask, probes++) {
		struct rl_group *g = m->slots[i];
		if (!g)
			return NULL;
		if (g->id == id)
			return g;
	}
	return NULL;
}

static void map_put(struct rl_group **slots, size_t cap, struct rl_group *g)
{
	size_t mask = cap - 1;
	size_t i = hash_id(g->id) & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = g;
}

int rl_map_add(struct rl_map *m, uint64_t id, struct rl_group **out)
{
	ASSERT(rl_map_get(m, id) == NULL);
	if (m->n >= LIMIT_RAFTLOG_GROUPS_PER_CORE)
		return ERR_NOMEM;
	if ((m->n + 1) * 2 > m->cap) { /* keep the load at most 1/2 */
		size_t cap = m->cap ? m->cap * 2 : 64;
		struct rl_group **slots = calloc(cap, sizeof *slots);
		if (!slots)
			return ERR_NOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slots[i])
				map_put(slots, cap, m->slots[i]);
		free(m->slots);
		m->slots = slots;
		m->cap = cap;
	}
	struct rl_group *g = calloc(1, sizeof *g);
	if (!g)
		return ERR_NOMEM;
	g->id = id;
	map_put(m->slots, m->cap, g);
	m->n++;
	*out = g;
	return 0;
}

void rl_map_del(struct rl_map *m, uint64_t id)
{
	if (m->cap == 0)
		return;
	size_t mask = m->cap - 1;
	size_t i = hash_id(id) & mask;
	while (m->slots[i] && m->slots[i]->id != id)
		i = (i + 1) & mask;
	if (!m->slots[i])
		return;
	rl_group_free(m->slots[i]);
	m->slots[i] = NULL;
	m->n--;
	/* Backward shift: re-place the rest of the cluster so lookups never stop early. */
	for (size_t j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
		struct rl_group *g = m->slots[j];
		m->slots[j] = NULL;
		map_put(m->slots, m->cap, g);
	}
}

void rl_map_free(struct rl_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		rl_group_free(m->slots[i]);
	free(m->slots);
	memset(m, 0, sizeof *m);
}
