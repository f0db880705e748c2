/*
 * raftlog.c — the Raft log's public API: mutations into the collecting batch, group commit
 * (begin/end of one write+fdatasync, shared by the synchronous and the reactor paths),
 * durability reporting, retention, and reads.
 *
 * Invariants (besides internal.h's):
 *   - every mutation is all-or-nothing: space in the batch, the group map, the segment summary
 *     and the group's index is reserved before the first byte is serialized;
 *   - a group's durable index never exceeds its last index, and only grows when a batch that
 *     holds its records completes (rl_cycle_end);
 *   - on_durable never reports a batch before its write and fdatasync both succeeded.
 */
#include "storage/raftlog/internal.h"
#include "core/assert.h"
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_INITIAL_BYTES (256u << 10)

int rl_fatal(struct raftlog *log, int err, const char *fmt, ...)
{
	ASSERT(err < 0);
	if (log->failed)
		return log->failed;
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	log->failed = err;
	LOG_ERROR("raftlog: FATAL on core %d: %s: %s (the log stops; nothing is retried)",
		  log->cfg.core_id, what, err_str(err));
	if (log->cfg.on_fatal)
		log->cfg.on_fatal(log->cfg.ctx, err, what);
	return err;
}

/* ---- the collecting batch -------------------------------------------------------------- */

static int id_push(uint64_t **v, size_t *n, size_t *cap, uint64_t id)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		uint64_t *nv = realloc(*v, c * sizeof *nv);
		if (!nv)
			return ERR_NOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = id;
	return 0;
}

/* Make sure the collecting batch can take `bytes` more bytes of records for up to `groups`
 * groups (summary slots) without failing: binds it to the active segment (rolling to a new
 * segment first if the active one is full), grows its buffer and the dirty list. */
static int batch_reserve(struct raftlog *log, uint64_t bytes, uint32_t groups)
{
	if (bytes > LIMIT_RAFTLOG_BATCH_BYTES)
		return ERR_TOOBIG;
	struct rl_batch *b = &log->batches[log->cur];
	if (b->len + bytes > LIMIT_RAFTLOG_BATCH_BYTES)
		return ERR_AGAIN; /* backpressure: the next group commit empties it */
	if (!b->bound) {
		ASSERT(b->len == 0);
		struct rl_seg *act = rl_seg_active(log);
		if (act->end >= log->segment_bytes) {
			int rc = rl_seg_create(log, act->seq + 1);
			if (rc)
				return rc;
			act = rl_seg_active(log);
		}
		b->seq = act->seq;
		b->off = (uint32_t)act->end;
		b->bound = 1;
	}
	if (b->len + bytes > b->cap) {
		size_t cap = b->cap ? b->cap : BATCH_INITIAL_BYTES;
		while (cap < b->len + bytes)
			cap *= 2;
		if (cap > LIMIT_RAFTLOG_BATCH_BYTES)
			cap = LIMIT_RAFTLOG_BATCH_BYTES;
		unsigned char *d = realloc(b->data, cap);
		if (!d)
			return ERR_NOMEM;
		b->data = d;
		b->cap = cap;
	}
	int rc = rl_seg_reserve(rl_seg_active(log), groups);
	if (rc)
		return rc;
	if (log->ndirty + groups > log->dirty_cap) {
		size_t cap = log->dirty_cap ? log->dirty_cap : 64;
		while (cap < log->ndirty + groups)
			cap *= 2;
		uint64_t *v = realloc(log->dirty, cap * sizeof *v);
		if (!v)
			return ERR_NOMEM;
		log->dirty = v;
		log->dirty_cap = cap;
	}
	return 0;
}

/* Serialize one record into the collecting batch (space reserved by batch_reserve). g may be
 * NULL (a DROP record). Returns where it went. */
static struct rl_loc emit(struct raftlog *log, struct rl_group *g, struct rl_rec *r)
{
	struct rl_batch *b = &log->batches[log->cur];
	struct rl_seg *act = rl_seg_active(log);
	uint64_t size = rl_record_size(r->len);
	ASSERT(b->bound && b->seq == act->seq && b->off + b->len == act->end);
	ASSERT(b->len + size <= b->cap);
	uint32_t off = (uint32_t)act->end;
	r->batch_start = b->off;
	rl_record_encode(b->data + b->len, r, act->seq, off);
	b->len += (size_t)size;
	act->end += size;
	if (r->kind == RL_KIND_ENTRY)
		b->entries++;
	if (g) {
		g->submitted_seq++;
		int rc = rl_seg_note(log, act, g, r->kind == RL_KIND_ENTRY ? r->index : 0);
		ASSERT(rc == 0); /* reserved */
		if (!g->dirty) {
			g->dirty = 1;
			rc = id_push(&log->dirty, &log->ndirty, &log->dirty_cap, g->id);
			ASSERT(rc == 0); /* reserved */
		}
	}
	return (struct rl_loc){.seq = act->seq, .off = off};
}

static int check_live(const struct raftlog *log) { return log->failed; }

/* A group's durable and in-flight targets drop to `index` when entries above it vanish. */
static void lower_durable(struct rl_group *g, uint64_t index)
{
	if (g->durable > index)
		g->durable = index;
	if (g->in_cycle && g->cycle_target > index)
		g->cycle_target = index;
}

static int group_get_or_add(struct raftlog *log, uint64_t id, struct rl_group **out)
{
	struct rl_group *g = rl_map_get(&log->groups, id);
	if (g) {
		*out = g;
		return 0;
	}
	return rl_map_add(&log->groups, id, out);
}

/* ---- mutations ------------------------------------------------------------------------- */

int raftlog_append(struct raftlog *log, uint64_t group, const struct raftlog_entry *v, size_t n)
{
	int rc = check_live(log);
	if (rc)
		return rc;
	if (n == 0 || v == NULL)
		return ERR_INVAL;
	uint64_t bytes = 0;
	for (size_t k = 0; k < n; k++) {
		if (v[k].len > LIMIT_RAFTLOG_ENTRY_BYTES)
			return ERR_TOOBIG;
		if ((v[k].len && !v[k].data) || v[k].index != v[0].index + k || v[k].index == 0)
			return ERR_INVAL;
		if (v[k].index > RL_INDEX_MAX || v[k].term > RL_INDEX_MAX)
			return ERR_RANGE;
		if (k > 0 && v[k].term < v[k - 1].term)
			return ERR_INVAL;
		bytes += rl_record_size(v[k].len);
	}
	struct rl_group *g = rl_map_get(&log->groups, group);
	uint64_t base = g ? g->base : 0, last = g ? g->last : 0;
	uint64_t i0 = v[0].index;
	if (i0 <= base || i0 > last + 1)
		return ERR_RANGE;
	if (g && v[0].term < rl_group_term_at(g, i0 - 1))
		return ERR_INVAL;
	rc = batch_reserve(log, bytes, 1);
	if (rc)
		return rc;
	if (!g) {
		rc = rl_map_add(&log->groups, group, &g);
		if (rc)
			return rc;
	}
	rc = rl_group_reserve(g, i0, n);
	if (rc)
		return rc;
	if (i0 <= g->last)
		lower_durable(g, i0 - 1);
	for (size_t k = 0; k < n; k++) {
		struct rl_rec r = {.kind = RL_KIND_ENTRY, .entry_type = v[k].type, .len = v[k].len,
				   .group = group, .term = v[k].term, .index = v[k].index,
				   .payload = v[k].data};
		struct rl_loc loc = emit(log, g, &r);
		rl_group_push(g, v[k].index, v[k].term, loc);
	}
	ASSERT(g->last == i0 + n - 1 && g->durable <= g->last);
	return 0;
}

int raftlog_truncate(struct raftlog *log, uint64_t group, uint64_t index)
{
	int rc = check_live(log);
	if (rc)
		return rc;
	struct rl_group *g = rl_map_get(&log->groups, group);
	if (!g)
		return ERR_NOTFOUND;
	if (index <= g->base || index > g->last + 1)
		return ERR_RANGE;
	if (index == g->last + 1)
		return 0;
	rc = batch_reserve(log, rl_record_size(0), 1);
	if (rc)
		return rc;
	struct rl_rec r = {.kind = RL_KIND_TRUNCATE, .group = group, .index = index};
	emit(log, g, &r);
	rl_group_truncate(g, index);
	lower_durable(g, index - 1);
	ASSERT(g->last == index - 1);
	return 0;
}

int raftlog_compact(struct raftlog *log, uint64_t group, uint64_t index, uint64_t term)
{
	int rc = check_live(log);
	if (rc)
		return rc;
	struct rl_group *g = rl_map_get(&log->groups, group);
	if (!g)
		return ERR_NOTFOUND;
	if (index > RL_INDEX_MAX || term > RL_INDEX_MAX)
		return ERR_RANGE;
	if (index <= g->base)
		return 0;
	if (index <= g->last && rl_group_term_at(g, index) != term)
		return ERR_INVAL;
	if (index > g->last && term < rl_group_term_at(g, g->last))
		return ERR_INVAL;
	rc = batch_reserve(log, rl_record_size(0), 1);
	if (rc)
		return rc;
	struct rl_rec r = {.kind = RL_KIND_COMPACT, .group = group, .index = index, .term = term};
	emit(log, g, &r);
	rl_group_compact(g, index, term);
	log->retention_dirty = 1;
	ASSERT(g->base == index && g->durable <= g->last);
	return 0;
}

int raftlog_reset(struct raftlog *log, uint64_t group, uint64_t index, uint64_t term)
{
	int rc = check_live(log);
	if (rc)
		return rc;
	if (index == 0)
		return ERR_INVAL;
	if (index > RL_INDEX_MAX || term > RL_INDEX_MAX)
		return ERR_RANGE;
	rc = batch_reserve(log, rl_record_size(0), 1);
	if (rc)
		return rc;
	struct rl_group *g;
	rc = group_get_or_add(log, group, &g);
	if (rc)
		return rc;
	struct rl_rec r = {.kind = RL_KIND_RESET, .group = group, .index = index, .term = term};
	emit(log, g, &r);
	lower_durable(g, index - 1);
	rl_group_restart(g, index, term);
	log->retention_dirty = 1;
	ASSERT(g->last == index && g->durable < index);
	return 0;
}

int raftlog_set_hard_state(struct raftlog *log, uint64_t group, const struct raftlog_hard_state *hs)
{
	ASSERT(hs != NULL);
	int rc = check_live(log);
	if (rc)
		return rc;
	struct rl_group *g = rl_map_get(&log->groups, group);
	if (hs->term > RL_INDEX_MAX || hs->commit > RL_INDEX_MAX)
		return ERR_RANGE;
	if (g && g->has_hs) {
		if (memcmp(&g->hs, hs, sizeof *hs) == 0)
			return 0;
		if (hs->term < g->hs.term)
			return ERR_INVAL;
	}
	rc = batch_reserve(log, rl_record_size(RL_HS_PAYLOAD_BYTES), 1);
	if (rc)
		return rc;
	if (!g) {
		rc = rl_map_add(&log->groups, group, &g);
		if (rc)
			return rc;
	}
	unsigned char vote[RL_HS_PAYLOAD_BYTES];
	rl_put_u64(vote, hs->vote);
	struct rl_rec r = {.kind = RL_KIND_HARD_STATE, .len = RL_HS_PAYLOAD_BYTES, .group = group,
			   .term = hs->term, .index = hs->commit, .payload = vote};
	emit(log, g, &r);
	g->hs = *hs;
	g->has_hs = 1;
	ASSERT(g->dirty);
	return 0;
}

int raftlog_drop_group(struct raftlog *log, uint64_t group)
{
	int rc = check_live(log);
	if (rc)
		return rc;
	if (!rl_map_get(&log->groups, group))
		return ERR_NOTFOUND;
	rc = batch_reserve(log, rl_record_size(0), 0);
	if (rc)
		return rc;
	struct rl_rec r = {.kind = RL_KIND_DROP, .group = group};
	emit(log, NULL, &r);
	rl_map_del(&log->groups, group); /* ids left on the dirty/cycle lists are skipped */
	log->retention_dirty = 1;
	ASSERT(rl_map_get(&log->groups, group) == NULL);
	return 0;
}

int raftlog_set_floor(struct raftlog *log, uint64_t group, uint64_t index)
{
	struct rl_group *g = rl_map_get(&log->groups, group);
	if (!g)
		return ERR_NOTFOUND;
	if (index != g->floor) {
		g->floor = index;
		log->retention_dirty = 1;
	}
	return 0;
}

/* ---- recovery's view of the same operations (lenient: see recover.c) ------------------- */

int rl_apply_recovered(struct raftlog *log, const struct rl_rec *r, struct rl_loc loc)
{
	struct rl_group *g = rl_map_get(&log->groups, r->group);
	if (r->kind == RL_KIND_DROP) {
		rl_map_del(&log->groups, r->group);
		return 0;
	}
	int rc = 0;
	if (!g) {
		rc = rl_map_add(&log->groups, r->group, &g);
		if (rc)
			return rc;
	}
	struct rl_seg *s = rl_seg_get(log, loc.seq);
	ASSERT(s != NULL);
	rc = rl_seg_note(log, s, g, r->kind == RL_KIND_ENTRY ? r->index : 0);
	if (rc)
		return rc;
	switch (r->kind) {
	case RL_KIND_ENTRY:
		/* An index outside (base, last+1] means older records of this group were in
		 * segments that retention deleted: the log restarts here, and the compaction
		 * record written before that deletion (later in the log) sets the base. */
		if (r->index <= g->base || r->index > g->last + 1)
			rl_group_restart(g, r->index - 1, 0);
		if (r->term < rl_group_term_at(g, r->index - 1))
			return ERR_CORRUPT;
		rc = rl_group_reserve(g, r->index, 1);
		if (rc)
			return rc;
		rl_group_push(g, r->index, r->term, loc);
		break;
	case RL_KIND_TRUNCATE:
		if (r->index <= g->base)
			rl_group_restart(g, r->index - 1, 0);
		else
			rl_group_truncate(g, r->index);
		break;
	case RL_KIND_COMPACT:
		rl_group_compact(g, r->index, r->term);
		break;
	case RL_KIND_RESET:
		rl_group_restart(g, r->index, r->term);
		break;
	case RL_KIND_HARD_STATE:
		g->has_hs = 1;
		g->hs = (struct raftlog_hard_state){.term = r->term, .vote = rl_get_u64(r->payload),
						    .commit = r->index};
		break;
	default:
		UNREACHABLE();
	}
	g->durable = g->last;
	return 0;
}

/* ---- group commit ---------------------------------------------------------------------- */

int rl_cycle_begin(struct raftlog *log, struct rl_batch **out, struct io_file **f)
{
	ASSERT(log->inflight < 0 && !log->in_callbacks);
	struct rl_batch *b = &log->batches[log->cur];
	if (log->failed || b->len == 0)
		return 0;
	ASSERT(b->bound && b->seq == rl_seg_active(log)->seq);
	log->inflight = log->cur;
	log->inflight_file = log->active;
	/* The next collecting batch: the oldest other buffer (already written, only a cache). */
	int next = -1;
	for (int i = 0; i < LIMIT_RAFTLOG_CACHE_BATCHES; i++) {
		if (i == log->inflight)
			continue;
		if (next < 0 || log->batches[i].gen < log->batches[next].gen)
			next = i;
	}
	ASSERT(next >= 0);
	log->cur = next;
	log->batches[next].len = 0;
	log->batches[next].bound = 0;
	log->batches[next].entries = 0;
	log->batches[next].gen = ++log->batch_gen;
	/* Groups with records in this batch move to the cycle list. */
	ASSERT(log->ncycle == 0);
	uint64_t *tmp = log->cycle;
	size_t tcap = log->cycle_cap;
	log->cycle = log->dirty;
	log->cycle_cap = log->dirty_cap;
	log->ncycle = log->ndirty;
	log->dirty = tmp;
	log->dirty_cap = tcap;
	log->ndirty = 0;
	size_t w = 0;
	for (size_t i = 0; i < log->ncycle; i++) {
		struct rl_group *g = rl_map_get(&log->groups, log->cycle[i]);
		if (!g || !g->dirty)
			continue; /* dropped (or dropped and re-added) since */
		g->dirty = 0;
		g->in_cycle = 1;
		g->cycle_target = g->last;
		g->cycle_seq = g->submitted_seq;
		log->cycle[w++] = g->id;
	}
	log->ncycle = w;
	log->cycles_started++;
	*out = b;
	*f = log->inflight_file;
	return 1;
}


void rl_cycle_end(struct raftlog *log, int rc)
{
	ASSERT(log->inflight >= 0);
	struct rl_batch *b = &log->batches[log->inflight];
	if (rc) {
		char path[LIMIT_PATH_BYTES];
		if (rl_seg_path(log, b->seq, path, sizeof path) != 0)
			path[0] = 0;
		rl_fatal(log, rc, "write+fdatasync of %zu bytes at %s offset %u", b->len, path, b->off);
		log->inflight = -1;
		return;
	}
	if (b->seq == rl_seg_active(log)->seq)
		log->written_end = (uint64_t)b->off + b->len;
	log->stats.batches++;
	log->stats.entries_written += b->entries;
	log->stats.bytes_written += b->len;
	log->inflight = -1;
	log->inflight_file = NULL;
	if (log->retired) {
		io_file_close(log->retired);
		log->retired = NULL;
	}
	/* Durable: report each group once. Callbacks may mutate (into the collecting batch). */
	log->in_callbacks = 1;
	for (size_t i = 0; i < log->ncycle; i++) {
		struct rl_group *g = rl_map_get(&log->groups, log->cycle[i]);
		if (!g || !g->in_cycle)
			continue;
		g->in_cycle = 0;
		ASSERT(g->cycle_target <= g->last || g->cycle_target <= g->base);
		g->durable = g->cycle_target;
		g->durable_seq = g->cycle_seq;
		if (log->cfg.on_durable) {
			struct raftlog_durable d = {.group = g->id, .index = g->durable, .seq = g->durable_seq};
			log->cfg.on_durable(log->cfg.ctx, &d);
		}
		if (log->failed)
			break;
	}
	log->ncycle = 0;
	log->in_callbacks = 0;
	if (log->failed)
		return;
	if (log->delete_pending && log->cycles_started >= log->delete_after) {
		log->delete_pending = 0;
		if (rl_seg_delete_prefix(log, log->delete_upto) != 0)
			return;
	}
	rl_retention_run(log);
}

int raftlog_flush(struct raftlog *log)
{
	ASSERT(log->reactor == NULL && !log->in_callbacks);
	if (log->failed)
		return log->failed;
	/* Retention may queue carry-forward records after a batch; a second round writes them
	 * and a third frees the segments. */
	for (int round = 0; round < 3; round++) {
		struct rl_batch *b;
		struct io_file *f;
		if (!rl_cycle_begin(log, &b, &f)) {
			rl_retention_run(log);
			if (!rl_cycle_begin(log, &b, &f))
				break;
		}
		int rc = io_file_pwrite(f, b->data, b->len, b->off);
		if (rc == 0) {
			log->stats.syncs++;
			rc = io_file_sync(f);
		}
		rl_cycle_end(log, rc);
		if (log->failed)
			return log->failed;
		rl_seg_prepare_spare(log); /* the reactor path does it while the write is in flight */
		if (log->failed)
			return log->failed;
	}
	return log->failed;
}

/* ---- retention ------------------------------------------------------------------------- */

/* Segments [0, k) are deletable when every live group with records in them is past its floor:
 * its highest live entry there (min of the highest written and its last index) <= floor. */
static size_t deletable_prefix(struct raftlog *log)
{
	size_t k = 0;
	while (k + 1 < log->nsegs) { /* never the active segment */
		const struct rl_seg *s = log->segs[k];
		for (uint32_t i = 0; i < s->ngroups; i++) {
			const struct rl_group *g = rl_map_get(&log->groups, s->groups[i].group);
			if (!g)
				continue;
			uint64_t m = s->groups[i].max_index < g->last ? s->groups[i].max_index : g->last;
			if (m > g->floor)
				return k;
		}
		k++;
	}
	ASSERT(k < log->nsegs);
	return k;
}

/* Free the deletable prefix of segments. Groups with live entries there lose them: each gets
 * a COMPACT record (and its hard state again, which may live only there) in the collecting
 * batch, and the files go once that batch is durable — so recovery, with or without the old
 * files, sees the same base. */
void rl_retention_run(struct raftlog *log)
{
	if (!log->retention_dirty || log->delete_pending || log->failed || log->inflight >= 0)
		return;
	log->retention_dirty = 0;
	size_t k = deletable_prefix(log);
	if (k == 0)
		return;
	ASSERT(k < log->nsegs);
	uint64_t stamp = ++log->stamp;
	uint32_t ngroups = 0;
	uint64_t bytes = 0;
	for (size_t si = 0; si < k; si++) {
		const struct rl_seg *s = log->segs[si];
		for (uint32_t i = 0; i < s->ngroups; i++) {
			struct rl_group *g = rl_map_get(&log->groups, s->groups[i].group);
			if (!g)
				continue;
			uint64_t m = s->groups[i].max_index < g->last ? s->groups[i].max_index : g->last;
			if (g->ret_stamp != stamp) {
				g->ret_stamp = stamp;
				g->ret_max = 0;
				ngroups++;
				bytes += rl_record_size(0) + rl_record_size(RL_HS_PAYLOAD_BYTES);
			}
			if (m > g->ret_max)
				g->ret_max = m;
		}
	}
	if (batch_reserve(log, bytes, ngroups) != 0) {
		log->retention_dirty = 1; /* the batch is full: try after the next group commit */
		return;
	}
	uint32_t emitted = 0;
	for (size_t si = 0; si < k; si++) {
		const struct rl_seg *s = log->segs[si];
		for (uint32_t i = 0; i < s->ngroups; i++) {
			struct rl_group *g = rl_map_get(&log->groups, s->groups[i].group);
			if (!g || g->ret_stamp != stamp)
				continue;
			g->ret_stamp = 0; /* once per group */
			uint64_t nb = g->ret_max > g->base ? g->ret_max : g->base;
			ASSERT((nb <= g->last && nb <= g->floor) || nb == g->base);
			if (nb > 0) {
				uint64_t term = rl_group_term_at(g, nb);
				struct rl_rec r = {.kind = RL_KIND_COMPACT, .group = g->id, .index = nb,
						   .term = term};
				emit(log, g, &r);
				rl_group_compact(g, nb, term);
				emitted++;
			}
			if (g->has_hs) {
				unsigned char vote[RL_HS_PAYLOAD_BYTES];
				rl_put_u64(vote, g->hs.vote);
				struct rl_rec r = {.kind = RL_KIND_HARD_STATE, .len = RL_HS_PAYLOAD_BYTES,
						   .group = g->id, .term = g->hs.term,
						   .index = g->hs.commit, .payload = vote};
				emit(log, g, &r);
				emitted++;
			}
		}
	}
	uint32_t upto = log->segs[k - 1]->seq;
	if (emitted == 0 && log->batches[log->cur].len == 0) {
		/* Nothing to carry and every earlier write is durable: delete now. A failure is
		 * fatal inside (directory fsync) or retried at the next pass (unlink). */
		if (rl_seg_delete_prefix(log, upto) != 0)
			return;
		return;
	}
	log->delete_pending = 1;
	log->delete_upto = upto;
	log->delete_after = log->cycles_started + 1;
}

/* ---- reads ----------------------------------------------------------------------------- */

int raftlog_group_info(const struct raftlog *log, uint64_t group, struct raftlog_group_info *out)
{
	const struct rl_group *g = rl_map_get(&log->groups, group);
	if (!g)
		return ERR_NOTFOUND;
	*out = (struct raftlog_group_info){
		.base_index = g->base,
		.base_term = g->base_term,
		.first_index = g->base + 1,
		.last_index = g->last,
		.last_term = rl_group_term_at(g, g->last),
		.durable_index = g->durable,
		.floor = g->floor,
		.has_hard_state = g->has_hs,
		.hard_state = g->hs,
		.submitted_seq = g->submitted_seq,
		.durable_seq = g->durable_seq,
	};
	ASSERT(out->durable_index <= out->last_index);
	return 0;
}

uint64_t raftlog_group_seq(const struct raftlog *log, uint64_t group)
{
	const struct rl_group *g = rl_map_get(&log->groups, group);
	return g ? g->submitted_seq : 0;
}

int raftlog_term(const struct raftlog *log, uint64_t group, uint64_t index, uint64_t *term)
{
	const struct rl_group *g = rl_map_get(&log->groups, group);
	if (!g)
		return ERR_NOTFOUND;
	if (index < g->base || index > g->last)
		return ERR_RANGE;
	*term = rl_group_term_at(g, index);
	return 0;
}

int raftlog_read(struct raftlog *log, uint64_t group, uint64_t lo, uint64_t hi, size_t max_bytes,
		 raftlog_read_fn fn, void *ctx)
{
	ASSERT(fn != NULL);
	const struct rl_group *g = rl_map_get(&log->groups, group);
	if (!g)
		return ERR_NOTFOUND;
	if (lo <= g->base || hi > g->last + 1 || lo > hi)
		return ERR_RANGE;
	int delivered = 0;
	size_t bytes = 0;
	for (uint64_t i = lo; i < hi && delivered < INT32_MAX; i++) {
		g = rl_map_get(&log->groups, group); /* fn may have changed the log */
		if (!g || i <= g->base || i > g->last)
			break;
		struct rl_rec r;
		int rc = rl_read_record(log, rl_group_loc(g, i), &r);
		if (rc)
			return rc;
		if (r.kind != RL_KIND_ENTRY || r.group != group || r.index != i ||
		    r.term != rl_group_term_at(g, i)) {
			LOG_ERROR("raftlog: group %llu index %llu: the record found is not that entry",
				  (unsigned long long)group, (unsigned long long)i);
			return ERR_CORRUPT;
		}
		if (delivered > 0 && bytes + r.len > max_bytes)
			break;
		struct raftlog_entry e = {.index = r.index, .term = r.term, .type = r.entry_type,
					  .len = r.len, .data = r.payload};
		delivered++;
		bytes += r.len;
		rc = fn(ctx, &e);
		if (rc)
			return rc < 0 ? rc : delivered;
	}
	return delivered;
}

int raftlog_groups(const struct raftlog *log, raftlog_group_fn fn, void *ctx)
{
	for (size_t i = 0; i < log->groups.cap; i++) {
		const struct rl_group *g = log->groups.slots[i];
		if (!g)
			continue;
		int rc = fn(ctx, g->id);
		if (rc)
			return rc;
	}
	return 0;
}

int raftlog_error(const struct raftlog *log) { return log->failed; }

int raftlog_busy(const struct raftlog *log)
{
	return log->inflight >= 0 || log->batches[log->cur].len > 0;
}

void raftlog_stats(const struct raftlog *log, struct raftlog_stats *out)
{
	*out = log->stats;
	out->segments = log->nsegs;
	out->groups = log->groups.n;
}
