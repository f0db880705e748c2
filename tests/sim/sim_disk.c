/*
 * sim_disk.c — the simulator's storage for one group on one node, and the raft_log_ops over it.
 *
 * A node keeps two copies per group: `cur` (what a read after write sees: page cache) and `dur`
 * (what survives power loss). Each persist update becomes one struct sim_write applied to `cur` at
 * once and to `dur` when an fsync covering it completes. A crash applies a random prefix of the
 * writes not yet synced to `dur`, the last of them possibly torn (only some of its parts — hard
 * state, truncation, each entry, the snapshot chunk or part of its bytes, the install — in order),
 * which is what core/io_fs_sim.h does to files: synced data plus a random prefix of the rest.
 */
#include "sim.h"

#include "core/assert.h"

#include <stdlib.h>
#include <string.h>

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	ASSERT(p != NULL);
	return p;
}

static uint8_t *dup_bytes(const uint8_t *src, uint32_t len)
{
	if (len == 0)
		return NULL;
	uint8_t *p = xmalloc(len);
	memcpy(p, src, len);
	return p;
}

void sim_store_init(struct sim_store *s, const struct raft_conf *bootstrap)
{
	memset(s, 0, sizeof(*s));
	s->snap.conf = *bootstrap;
	s->first = 1;
	s->prev_term = 0;
}

static void free_entries(struct sim_store *s, uint64_t from_pos)
{
	for (uint64_t i = from_pos; i < s->n; i++) {
		free(s->ents[i].data);
		s->ents[i].data = NULL;
	}
}

void sim_store_free(struct sim_store *s)
{
	free_entries(s, 0);
	free(s->ents);
	free(s->snap_data);
	free(s->staging_data);
	memset(s, 0, sizeof(*s));
}

void sim_store_copy(struct sim_store *dst, const struct sim_store *src)
{
	sim_store_free(dst);
	*dst = *src;
	dst->ents = xmalloc((size_t)(src->n ? src->n : 1) * sizeof(struct sim_entry));
	dst->cap = src->n ? src->n : 1;
	for (uint64_t i = 0; i < src->n; i++) {
		dst->ents[i] = src->ents[i];
		dst->ents[i].data = dup_bytes(src->ents[i].data, src->ents[i].len);
	}
	dst->snap_data = dup_bytes(src->snap_data, src->snap_len);
	dst->staging_data = dup_bytes(src->staging_data, src->staging_len);
}

uint64_t sim_store_last(const struct sim_store *s)
{
	return s->first + s->n - 1;
}

uint64_t sim_store_term(const struct sim_store *s, uint64_t index, int *ok)
{
	*ok = 1;
	if (index == 0)
		return 0;
	if (index >= s->first && index <= sim_store_last(s))
		return s->ents[index - s->first].term;
	if (index + 1 == s->first)
		return s->prev_term;
	if (index == s->snap.index)
		return s->snap.term;
	*ok = 0;
	return 0;
}

static void append(struct sim_store *s, const struct sim_entry *e)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->ents = realloc(s->ents, (size_t)s->cap * sizeof(*s->ents));
		ASSERT(s->ents != NULL);
	}
	s->ents[s->n] = *e;
	s->ents[s->n].data = dup_bytes(e->data, e->len);
	s->n++;
}

static void compact(struct sim_store *s, uint64_t to)
{
	if (to < s->first)
		return;
	ASSERT(to <= sim_store_last(s));
	int ok;
	uint64_t t = sim_store_term(s, to, &ok);
	ASSERT(ok);
	uint64_t drop = to + 1 - s->first;
	for (uint64_t i = 0; i < drop; i++)
		free(s->ents[i].data);
	memmove(s->ents, s->ents + drop, (size_t)(s->n - drop) * sizeof(*s->ents));
	s->n -= drop;
	s->first = to + 1;
	s->prev_term = t;
}

static void truncate_from(struct sim_store *s, uint64_t from)
{
	if (from > sim_store_last(s))
		return;
	ASSERT(from >= s->first);
	free_entries(s, from - s->first);
	s->n = from - s->first;
}

uint32_t sim_write_parts(const struct sim_write *w)
{
	return (uint32_t)(w->compact_to != 0) + (uint32_t)(w->has_hs != 0) +
	       (uint32_t)(w->truncate_from != 0) + w->n_ents + (uint32_t)(w->has_chunk != 0) +
	       (uint32_t)(w->install != 0);
}

void sim_store_apply(struct sim_store *s, const struct sim_write *w, uint32_t parts,
                     uint32_t torn_bytes)
{
	uint32_t done = 0;
#define PART()                                                                                     \
	if (done++ >= parts)                                                                       \
	return
	if (w->compact_to) {
		PART();
		compact(s, w->compact_to);
	}
	if (w->has_hs) {
		PART();
		s->hs = w->hs;
	}
	if (w->truncate_from) {
		PART();
		truncate_from(s, w->truncate_from);
	}
	for (uint32_t i = 0; i < w->n_ents; i++) {
		PART();
		ASSERT(w->first_index + i == sim_store_last(s) + 1);
		append(s, &w->ents[i]);
	}
	if (w->has_chunk) {
		uint32_t len = w->chunk_len;
		int torn = 0;
		/* the torn part: maybe a prefix of its bytes made it */
		if (done >= parts) {
			if (torn_bytes == 0)
				return;
			len = torn_bytes < len ? torn_bytes : len;
			torn = 1;
		}
		done++;
		if (w->chunk_offset == 0) {
			free(s->staging_data);
			s->staging_data = NULL;
			s->staging_len = 0;
			s->staging = w->chunk_meta;
		}
		ASSERT(s->staging.index == w->chunk_meta.index &&
		       w->chunk_offset == s->staging_len);
		s->staging_data = realloc(s->staging_data, s->staging_len + len + 1);
		ASSERT(s->staging_data != NULL);
		memcpy(s->staging_data + s->staging_len, w->chunk_data, len);
		s->staging_len += len;
		if (torn)
			return;
	}
	if (w->install) {
		PART();
		ASSERT(s->staging.index == w->install_meta.index);
		ASSERT(s->staging_len == w->install_meta.size_bytes);
		free(s->snap_data);
		s->snap = w->install_meta;
		s->snap_data = s->staging_data;
		s->snap_len = s->staging_len;
		s->staging_data = NULL;
		s->staging_len = 0;
		memset(&s->staging, 0, sizeof(s->staging));
		free_entries(s, 0);
		s->n = 0;
		s->first = w->install_meta.index + 1;
		s->prev_term = w->install_meta.term;
	}
#undef PART
}

void sim_write_free(struct sim_write *w)
{
	for (uint32_t i = 0; i < w->n_ents; i++)
		free(w->ents[i].data);
	free(w->ents);
	free(w->chunk_data);
	free(w);
}

/* ---- the core's view ---------------------------------------------------------------------------
 */

static int log_term(void *ctx, uint64_t group_id, uint64_t index, uint64_t *term)
{
	struct sim_group_state *g = ctx;
	(void)group_id;
	int ok;
	*term = sim_store_term(&g->cur, index, &ok);
	return ok ? 0 : ERR_RANGE;
}

static int log_entries(void *ctx, uint64_t group_id, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                       struct raft_entry *out, uint32_t cap, uint32_t *n)
{
	struct sim_group_state *g = ctx;
	struct sim *s = sim_current;
	(void)group_id;
	*n = 0;
	if (lo < g->cur.first)
		return ERR_RANGE;
	if (s && !s->healed && s->p.storage_again_permille &&
	    prng_chance(&s->prng, s->p.storage_again_permille, 1000)) {
		s->storage_agains++; /* "not in memory yet": the core must retry later */
		return ERR_AGAIN;
	}
	uint64_t last = sim_store_last(&g->cur);
	ASSERT(hi <= last + 1);
	uint64_t bytes = 0;
	for (uint64_t i = lo; i < hi && *n < cap; i++) {
		const struct sim_entry *e = &g->cur.ents[i - g->cur.first];
		if (*n > 0 && bytes + e->len > max_bytes)
			break;
		bytes += e->len;
		out[*n].index = i;
		out[*n].term = e->term;
		out[*n].type = e->type;
		out[*n].len = e->len;
		out[*n].data = e->data;
		(*n)++;
	}
	return 0;
}

static int log_snapshot_read(void *ctx, uint64_t group_id, uint64_t index, uint64_t offset,
                             uint32_t len_max, const uint8_t **data, uint32_t *len)
{
	struct sim_group_state *g = ctx;
	(void)group_id;
	if (g->cur.snap.index != index || g->cur.snap_data == NULL)
		return ERR_NOTFOUND;
	if (offset >= g->cur.snap_len)
		return ERR_RANGE;
	uint64_t left = g->cur.snap_len - offset;
	*len = left < len_max ? (uint32_t)left : len_max;
	*data = g->cur.snap_data + offset;
	return 0;
}

const struct raft_log_ops sim_log_ops_template = {
    .ctx = NULL,
    .term = log_term,
    .entries = log_entries,
    .snapshot_read = log_snapshot_read,
};
