/*
 * host_raft.c — the glue between a core's Raft groups and everything durable.
 *
 * on_update (one group's update, called by raft_multi after every step):
 *   1. persist, in the order Raft produced it: snapshot chunk (written to recv.tmp and fsynced
 *      here), snapshot install (state machine swapped here), then the Raft log mutations — hard
 *      state, truncation, entries, the install's reset, compaction — submitted to the core's
 *      raftlog batch. The update's persist_seq is remembered with the group's raftlog mutation
 *      count after submitting (raftlog_group_seq); once on_durable reports that count durable,
 *      the turn steps RAFT_EVENT_PERSISTED (an update may carry only a hard state, which moves
 *      no durable index: counts cover it). If the batch is full (ERR_AGAIN), the rest goes to the
 *      replica's backlog (copied) and is submitted after the next group commit;
 *   2. apply committed entries: decode the entry header, find our own waiting proposal, apply
 *      to the state machine (answer into the proposal's arena), answer it; proposals whose
 *      log position was taken by another entry fail with ERR_AGAIN;
 *   3. read states: ReadIndex answers; reads are served once applied >= their index.
 * Pointers in the update die at the next step, so nothing here keeps them.
 *
 * Storage callbacks for the Raft core read the raftlog (entries copied into the step arena,
 * reset after each update) and the replica's snapshot source.
 *
 * Retention: floor F = min(state machine durable index, snapshot index, external floor).
 * raftlog_set_floor(F) lets segments go; RAFT_EVENT_SET_FLOOR(F + 1) keeps Raft from
 * compacting what the state machine or a consumer outside the cluster still needs.
 */
#include "server/engine/host_int.h"

#include "core/assert.h"
#include "core/log.h"
#include "server/engine/entry.h"
#include "server/engine/snapshot.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- Raft payload pool ------------------------------------------------------------------- */

static void *mem_alloc(void *ctx, size_t n)
{
	struct host *h = ctx;
	if (h->mem_used + n > h->cfg.raft_mem_bytes)
		return NULL; /* backpressure: Raft refuses proposals / accepts fewer entries */
	void *p = malloc(n ? n : 1);
	if (p)
		h->mem_used += n;
	return p;
}

static void mem_free(void *ctx, void *p, size_t n)
{
	struct host *h = ctx;
	if (!p)
		return;
	ASSERT(h->mem_used >= n);
	h->mem_used -= n;
	free(p);
}

/* ---- log storage callbacks --------------------------------------------------------------- */

static void want_flush(struct host *h, uint64_t group)
{
	struct replica *rep = host__find(h, group);
	if (rep) {
		rep->need_flush = 1;
		host__activate(h, rep);
	}
}

static int op_term(void *ctx, uint64_t group, uint64_t index, uint64_t *term)
{
	struct host *h = ctx;
	int rc = raftlog_term(h->log, group, index, term);
	return rc == ERR_NOTFOUND ? ERR_RANGE : rc;
}

struct read_ctx {
	struct host *h;
	struct raft_entry *out;
	uint32_t cap, n;
	int full;
};

static int read_one(void *ctx, const struct raftlog_entry *e)
{
	struct read_ctx *c = ctx;
	if (c->n == c->cap)
		return 1;
	uint8_t *copy = NULL;
	if (e->len > 0) {
		copy = arena_alloc(&c->h->step_arena, e->len);
		if (!copy) {
			c->full = 1;
			return 1;
		}
		memcpy(copy, e->data, e->len);
	}
	struct raft_entry *o = &c->out[c->n++];
	o->term = e->term;
	o->index = e->index;
	o->type = e->type;
	o->len = e->len;
	o->data = copy;
	return 0;
}

static int op_entries(void *ctx, uint64_t group, uint64_t lo, uint64_t hi, uint64_t max_bytes,
		      struct raft_entry *out, uint32_t cap, uint32_t *n)
{
	struct host *h = ctx;
	ASSERT(cap > 0 && lo < hi);
	struct read_ctx c = {.h = h, .out = out, .cap = cap};
	size_t mb = max_bytes > SIZE_MAX ? SIZE_MAX : (size_t)max_bytes;
	int rc = raftlog_read(h->log, group, lo, hi, mb, read_one, &c);
	if (rc < 0)
		return rc == ERR_NOTFOUND ? ERR_RANGE : rc;
	if (c.n == 0) {
		want_flush(h, group); /* the step arena is full: retry after this update */
		return ERR_AGAIN;
	}
	*n = c.n;
	return 0;
}

static int op_snapshot_read(void *ctx, uint64_t group, uint64_t index, uint64_t offset,
			    uint32_t len_max, const uint8_t **data, uint32_t *len)
{
	struct host *h = ctx;
	struct replica *rep = host__find(h, group);
	if (!rep || !rep->src || snap_source_index(rep->src) != index)
		return ERR_NOTFOUND;
	uint8_t *buf = arena_alloc(&h->step_arena, len_max ? len_max : 1);
	if (!buf) {
		want_flush(h, group);
		return ERR_AGAIN;
	}
	size_t got = 0;
	int rc = snap_source_read(rep->src, offset, buf, len_max, &got);
	if (rc) {
		LOG_ERROR("engine: table %" PRIu64 ": reading snapshot %" PRIu64 " at %" PRIu64 ": %s",
			  group, index, offset, err_str(rc));
		return rc == ERR_NOTFOUND ? ERR_NOTFOUND : ERR_IO;
	}
	*data = buf;
	*len = (uint32_t)got;
	h->stats.snapshot_bytes_sent += got;
	return 0;
}

/* ---- catalogue snapshots -------------------------------------------------------------------- */

/* The metadata group's tables before an install (names and ids only). */
static int catalog_snapshot_tables(struct catalog *cat, struct catalog_table **out, size_t *n)
{
	size_t cnt = catalog_tables(cat);
	struct catalog_table *v = calloc(cnt ? cnt : 1, sizeof *v);
	if (!v)
		return ERR_NOMEM;
	for (size_t i = 0; i < cnt; i++) {
		v[i] = *catalog_table_at(cat, i);
		v[i].config = NULL;
		v[i].config_len = 0;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* An installed catalogue replaces many entries at once: tell the node layer what they would have
 * told it — every table that appeared is CREATED, every one that vanished DELETED. */
static void catalog_report_diff(struct host *h, struct catalog *cat, const struct catalog_table *before,
				size_t n_before)
{
	struct catalog_change ch;
	for (size_t i = 0; i < n_before; i++) {
		if (catalog_find_id(cat, before[i].id))
			continue;
		memset(&ch, 0, sizeof ch);
		ch.kind = CATALOG_DELETED;
		ch.table = before[i];
		host__queue_change(h, &ch);
	}
	for (size_t i = 0; i < catalog_tables(cat); i++) {
		const struct catalog_table *t = catalog_table_at(cat, i);
		int known = 0;
		for (size_t k = 0; k < n_before && !known; k++)
			known = before[k].id == t->id;
		if (known)
			continue;
		memset(&ch, 0, sizeof ch);
		ch.kind = CATALOG_CREATED;
		ch.table = *t;
		host__queue_change(h, &ch);
	}
}

/* ---- persistence ------------------------------------------------------------------------- */

struct persist_job {
	struct persist_job *next;
	uint64_t seq;
	int has_hs;
	struct raftlog_hard_state hs;
	uint64_t truncate_from;
	struct raftlog_entry *ents;
	uint32_t n_ents, ents_done;
	int has_reset;
	uint64_t reset_index, reset_term;
	uint64_t compact_to, compact_term;
	int step;
};

void host__backlog_free(struct replica *rep)
{
	while (rep->backlog_head) {
		struct persist_job *j = rep->backlog_head;
		rep->backlog_head = j->next;
		free(j);
	}
	rep->backlog_tail = NULL;
}

/* Submit what is left of a job. 0: all of it; ERR_AGAIN: the batch is full; else fatal. */
static int job_run(struct host *h, struct replica *rep, struct persist_job *j)
{
	int rc = 0;
	uint64_t g = rep->id;
	if (j->step == 0) {
		if (j->has_hs && (rc = raftlog_set_hard_state(h->log, g, &j->hs)) != 0)
			return rc;
		j->step = 1;
	}
	if (j->step == 1) {
		if (j->truncate_from && (rc = raftlog_truncate(h->log, g, j->truncate_from)) != 0)
			return rc;
		j->step = 2;
	}
	if (j->step == 2) {
		while (j->ents_done < j->n_ents) {
			uint32_t k = 0;
			size_t bytes = 0;
			while (j->ents_done + k < j->n_ents &&
			       (k == 0 || bytes + j->ents[j->ents_done + k].len <= LIMIT_ENGINE_APPEND_CHUNK_BYTES)) {
				bytes += j->ents[j->ents_done + k].len;
				k++;
			}
			rc = raftlog_append(h->log, g, j->ents + j->ents_done, k);
			if (rc)
				return rc;
			j->ents_done += k;
		}
		j->step = 3;
	}
	if (j->step == 3) {
		if (j->has_reset && (rc = raftlog_reset(h->log, g, j->reset_index, j->reset_term)) != 0)
			return rc;
		j->step = 4;
	}
	if (j->step == 4) {
		if (j->compact_to && (rc = raftlog_compact(h->log, g, j->compact_to, j->compact_term)) != 0)
			return rc;
		j->step = 5;
	}
	return 0;
}

/* Copy the unsubmitted rest of a job (whose entries point into the update) to the backlog. */
static int job_backlog(struct replica *rep, const struct persist_job *j)
{
	size_t n = j->n_ents - j->ents_done;
	size_t bytes = sizeof(struct persist_job) + n * sizeof(struct raftlog_entry);
	for (size_t i = 0; i < n; i++)
		bytes += j->ents[j->ents_done + i].len;
	struct persist_job *c = malloc(bytes);
	if (!c)
		return ERR_NOMEM;
	*c = *j;
	c->next = NULL;
	c->ents = (struct raftlog_entry *)(c + 1);
	c->n_ents = (uint32_t)n;
	c->ents_done = 0;
	uint8_t *blob = (uint8_t *)(c->ents + n);
	for (size_t i = 0; i < n; i++) {
		c->ents[i] = j->ents[j->ents_done + i];
		if (c->ents[i].len) {
			memcpy(blob, c->ents[i].data, c->ents[i].len);
			c->ents[i].data = blob;
			blob += c->ents[i].len;
		}
	}
	if (rep->backlog_tail)
		rep->backlog_tail->next = c;
	else
		rep->backlog_head = c;
	rep->backlog_tail = c;
	return 0;
}

static void inflight_push(struct host *h, struct replica *rep, uint64_t seq)
{
	ASSERT(rep->inflight_n < LIMIT_RAFT_PERSIST_PENDING);
	uint32_t at = (rep->inflight_start + rep->inflight_n) % LIMIT_RAFT_PERSIST_PENDING;
	if (rep->inflight_n > 0) {
		uint32_t last = (at + LIMIT_RAFT_PERSIST_PENDING - 1) % LIMIT_RAFT_PERSIST_PENDING;
		ASSERT(rep->inflight[last].seq < seq);
	}
	rep->inflight[at].seq = seq;
	rep->inflight[at].log_seq = raftlog_group_seq(h->log, rep->id);
	rep->inflight_n++;
	host__activate(h, rep);
}

static void log_failed(struct host *h, struct replica *rep, int rc)
{
	/* ERR_RANGE / ERR_INVAL would mean Raft and its log disagree: a bug, not the disk */
	ASSERT(rc != ERR_RANGE && rc != ERR_INVAL);
	if (raftlog_error(h->log))
		host__fatal(h, raftlog_error(h->log), "raft log");
	else
		host__replica_fail(h, rep, rc, "raft log mutation");
}

static void submit(struct host *h, struct replica *rep, struct persist_job *j)
{
	if (!rep->backlog_head) {
		int rc = job_run(h, rep, j);
		if (rc == 0) {
			if (j->seq)
				inflight_push(h, rep, j->seq);
			return;
		}
		if (rc != ERR_AGAIN) {
			log_failed(h, rep, rc);
			return;
		}
	}
	int rc = job_backlog(rep, j);
	if (rc) {
		host__replica_fail(h, rep, rc, "persist backlog");
		return;
	}
	h->stats.persist_backlogged++;
	host__activate(h, rep);
}

int host__persist_progress(struct host *h, struct replica *rep)
{
	int moved = 0;
	while (rep->backlog_head && !rep->error && !h->fatal) {
		struct persist_job *j = rep->backlog_head;
		int rc = job_run(h, rep, j);
		if (rc == ERR_AGAIN)
			break;
		if (rc) {
			log_failed(h, rep, rc);
			return 1;
		}
		rep->backlog_head = j->next;
		if (!rep->backlog_head)
			rep->backlog_tail = NULL;
		if (j->seq)
			inflight_push(h, rep, j->seq);
		free(j);
		moved = 1;
	}
	uint64_t seq = 0;
	while (rep->inflight_n > 0 && rep->inflight[rep->inflight_start].log_seq <= rep->durable_seq) {
		seq = rep->inflight[rep->inflight_start].seq;
		rep->inflight_start = (rep->inflight_start + 1) % LIMIT_RAFT_PERSIST_PENDING;
		rep->inflight_n--;
	}
	if (seq && rep->raft_live && !rep->error && !h->fatal) {
		struct raft_event ev = {.type = RAFT_EVENT_PERSISTED, .persisted_seq = seq};
		int rc = raft_multi_step(&h->multi, rep->id, &ev);
		ASSERT(rc == 0);
		moved = 1;
	}
	return moved;
}

int host__needs_turn(const struct replica *rep)
{
	return rep->inflight_n > 0 || rep->backlog_head != NULL || rep->need_flush || rep->want_snapshot ||
	       (rep->error && rep->raft_live);
}

static void persist(struct host *h, struct replica *rep, const struct raft_update *u)
{
	if (u->have_chunk) {
		char path[LIMIT_PATH_BYTES];
		int rc = replica_path(rep, path, sizeof path, "recv.tmp");
		if (rc == 0)
			rc = snap_stage_write(h->fs, path, &rep->stage, u->chunk.offset, u->chunk.data,
					      u->chunk.len);
		if (rc) {
			host__replica_fail(h, rep, rc, "staging a snapshot chunk");
			return;
		}
	}
	struct persist_job j;
	memset(&j, 0, sizeof j);
	j.seq = u->persist_seq;
	if (u->hard_state_changed) {
		j.has_hs = 1;
		j.hs.term = u->hard_state.term;
		j.hs.vote = u->hard_state.vote;
		j.hs.commit = u->hard_state.commit;
	}
	j.truncate_from = u->truncate_from;
	if (u->n_persist > 0) {
		if (u->n_persist > h->conv_cap) {
			struct raftlog_entry *c = realloc(h->conv, u->n_persist * sizeof *c);
			if (!c) {
				host__replica_fail(h, rep, ERR_NOMEM, "persist");
				return;
			}
			h->conv = c;
			h->conv_cap = u->n_persist;
		}
		for (uint32_t i = 0; i < u->n_persist; i++) {
			const struct raft_entry *e = &u->persist[i];
			h->conv[i] = (struct raftlog_entry){.index = e->index, .term = e->term, .type = e->type,
							    .len = e->len, .data = e->data};
		}
		j.ents = h->conv;
		j.n_ents = u->n_persist;
	}
	if (u->install) {
		struct catalog_table *before = NULL;
		size_t n_before = 0;
		if (rep->is_meta && catalog_snapshot_tables(rep->cat, &before, &n_before) != 0) {
			host__replica_fail(h, rep, ERR_NOMEM, "installing a snapshot");
			return;
		}
		int rc = replica_snapshot_install(rep, &u->snapshot, &h->lsm);
		if (rc) {
			free(before);
			host__replica_fail(h, rep, rc, "installing a snapshot");
			return;
		}
		if (rep->is_meta)
			catalog_report_diff(h, rep->cat, before, n_before);
		free(before);
		j.has_reset = 1;
		j.reset_index = u->snapshot.index;
		j.reset_term = u->snapshot.term;
		h->stats.snapshots_installed++;
		/* proposals inside the snapshot: applied or not, this node cannot tell */
		host__proposals_settle(h, rep, u->snapshot.index, ERR_TIMEOUT);
		rep->need_flush = 1; /* sets the floors at the end of the turn */
		host__activate(h, rep);
	}
	if (u->compact_to) {
		uint64_t t = 0;
		if (raftlog_term(h->log, rep->id, u->compact_to, &t) == 0 && t != 0) {
			j.compact_to = u->compact_to;
			j.compact_term = t;
		}
	}
	if (j.seq || j.compact_to)
		submit(h, rep, &j);
}

/* ---- apply ---------------------------------------------------------------------------------- */

static void apply(struct host *h, struct replica *rep, const struct raft_update *u)
{
	uint64_t last = 0;
	for (uint32_t i = 0; i < u->n_apply && !rep->error; i++) {
		const struct raft_entry *e = &u->apply[i];
		ASSERT(e->index == rep->applied + 1);
		struct entry_header eh;
		const uint8_t *body = NULL;
		size_t body_len = 0;
		struct pending *p = NULL;
		struct replica_applied res;
		int rc;
		if (e->type == RAFT_ENTRY_NORMAL && entry_decode(e->data, e->len, &eh, &body, &body_len) == 0) {
			if (eh.origin == h->cfg.node_id)
				p = host__proposal_match(h, rep, eh.proposal_id);
			rc = replica_apply_normal(rep, e->index, body, body_len, &h->decode_arena,
						  p ? p->arena : NULL, &res);
			arena_reset(&h->decode_arena);
		} else {
			if (e->type == RAFT_ENTRY_NORMAL)
				LOG_WARN("engine: table %" PRIu64 " entry %" PRIu64 ": bad payload header, skipped",
					 rep->id, e->index);
			memset(&res, 0, sizeof res);
			rc = replica_apply_noop(rep, e->index);
		}
		if (rc) {
			host__replica_fail(h, rep, rc, "applying a committed entry");
			return;
		}
		last = e->index;
		rep->log_bytes += e->len;
		h->stats.entries_applied++;
		if (p)
			host__proposal_applied(h, p, e->index, &res);
		if (rep->is_meta && res.change.kind != CATALOG_NONE)
			host__queue_change(h, &res.change);
	}
	if (last)
		host__proposals_settle(h, rep, last, ERR_AGAIN); /* their positions hold other entries */
	if (rep->log_bytes >= h->cfg.snapshot_log_bytes && !rep->want_snapshot) {
		rep->want_snapshot = 1;
		host__activate(h, rep);
	}
}

static void on_update(void *ctx, void *user, struct raft *r, const struct raft_update *u)
{
	struct host *h = ctx;
	struct replica *rep = user;
	ASSERT(r == &rep->raft);
	if (rep->error || h->fatal)
		goto out;
	if (u->persist_seq || u->compact_to || u->have_chunk || u->install)
		persist(h, rep, u);
	if (rep->error || h->fatal)
		goto out;
	if (u->proposed_index && h->proposing && h->proposing->rep == rep &&
	    h->proposing->state == PENDING_WAITING)
		h->proposing->index = u->proposed_index;
	if (u->n_apply)
		apply(h, rep, u);
	for (uint32_t i = 0; i < u->n_reads && !rep->error; i++)
		host__read_state(h, rep, &u->reads[i]);
	if (u->n_apply || u->install)
		host__reads_serve(h, rep);
	if (u->want_flush && !rep->need_flush) {
		rep->need_flush = 1; /* the turn's sends to followers go out at its end, batched */
		host__activate(h, rep);
	}
out:
	arena_reset(&h->step_arena);
}

/* ---- setup, restart, stop ----------------------------------------------------------------- */

static void send_frame(void *ctx, uint64_t to_node, const uint8_t *frame, size_t len)
{
	struct host *h = ctx;
	h->cfg.send_frame(h->cfg.ctx, to_node, frame, len);
}

void host__raft_setup(struct host *h, struct raft_multi_config *mc)
{
	raft_multi_config_defaults(mc);
	mc->node_id = h->cfg.node_id;
	mc->incarnation = h->cfg.incarnation;
	mc->heartbeat_ticks = h->cfg.heartbeat_ticks;
	mc->election_ticks = h->cfg.election_ticks;
	mc->groups_max = h->cfg.groups_max;
	mc->mem = (struct raft_mem){.ctx = h, .alloc = mem_alloc, .free = mem_free};
	mc->ctx = h;
	mc->send_frame = send_frame;
	mc->on_update = on_update;
}

void host__on_durable(void *ctx, const struct raftlog_durable *d)
{
	struct host *h = ctx;
	struct replica *rep = host__find(h, d->group);
	if (!rep)
		return; /* removed meanwhile */
	ASSERT(d->seq >= rep->durable_seq);
	rep->durable_seq = d->seq;
	/* reported PERSISTED at the end of the turn, outside any Raft step */
	if (rep->inflight_n > 0)
		host__activate(h, rep);
}

void host__on_fatal(void *ctx, int err, const char *what)
{
	host__fatal(ctx, err, what);
}

struct conf_scan {
	struct raft_conf_entry confs[LIMIT_RAFT_CONF_HISTORY];
	uint32_t n;
	uint64_t bytes;
	uint64_t next;
};

static int conf_one(void *ctx, const struct raftlog_entry *e)
{
	struct conf_scan *s = ctx;
	s->bytes += e->len;
	s->next = e->index + 1;
	if (e->type != RAFT_ENTRY_CONF)
		return 0;
	struct raft_conf c;
	if (raft_conf_decode(e->data, e->len, &c) != 0)
		return 0; /* Raft itself ignores a malformed one */
	if (s->n == LIMIT_RAFT_CONF_HISTORY) {
		memmove(&s->confs[0], &s->confs[1], (s->n - 1) * sizeof s->confs[0]);
		s->n--;
	}
	s->confs[s->n++] = (struct raft_conf_entry){.index = e->index, .term = e->term, .conf = c};
	return 0;
}

/* Make the log reflect the replica's snapshot (a crash may have come between the REPLICA
 * file naming a new snapshot and the log's compaction or reset becoming durable). */
static int log_repair(struct host *h, struct replica *rep, struct raftlog_group_info *gi)
{
	const struct raft_snapshot_meta *s = &rep->meta.snap;
	if (s->index == 0 || gi->base_index >= s->index)
		return 0;
	uint64_t t = 0;
	int rc;
	if (gi->last_index >= s->index && raftlog_term(h->log, rep->id, s->index, &t) == 0 && t == s->term)
		rc = raftlog_compact(h->log, rep->id, s->index, s->term);
	else
		rc = raftlog_reset(h->log, rep->id, s->index, s->term);
	if (rc == 0)
		rc = raftlog_group_info(h->log, rep->id, gi);
	return rc;
}

int host__raft_start(struct host *h, struct replica *rep)
{
	ASSERT(!rep->raft_live);
	struct raftlog_group_info gi;
	memset(&gi, 0, sizeof gi);
	int rc = raftlog_group_info(h->log, rep->id, &gi);
	if (rc == ERR_NOTFOUND) {
		memset(&gi, 0, sizeof gi);
		gi.first_index = 1;
		rc = 0;
	}
	if (rc == 0)
		rc = log_repair(h, rep, &gi);
	if (rc)
		return rc;
	rep->durable_seq = gi.durable_seq;
	const struct raft_snapshot_meta *s = &rep->meta.snap;
	if (gi.base_index > s->index || rep->applied < s->index || rep->applied > gi.last_index) {
		LOG_ERROR("engine: table %" PRIu64 ": log (%" PRIu64 ", %" PRIu64 "], snapshot %" PRIu64
			  " and applied index %" PRIu64 " do not fit together",
			  rep->id, gi.base_index, gi.last_index, s->index, rep->applied);
		return ERR_CORRUPT;
	}
	struct conf_scan scan;
	memset(&scan, 0, sizeof scan);
	scan.next = s->index + 1;
	while (scan.next <= gi.last_index && scan.bytes < LIMIT_ENGINE_CONF_SCAN_BYTES) {
		int n = raftlog_read(h->log, rep->id, scan.next, gi.last_index + 1, 4u << 20, conf_one, &scan);
		if (n < 0)
			return n;
		if (n == 0)
			break;
	}
	struct raft_init_state st;
	memset(&st, 0, sizeof st);
	if (gi.has_hard_state) {
		st.hard.term = gi.hard_state.term;
		st.hard.vote = gi.hard_state.vote;
		st.hard.commit = gi.hard_state.commit;
	}
	st.snapshot = *s;
	st.log_first = gi.base_index + 1;
	st.log_last = gi.last_index;
	st.log_last_term = gi.last_index == s->index ? s->term : gi.last_term;
	st.applied = rep->applied;
	st.confs = scan.confs;
	st.n_confs = scan.n;

	struct raft_config rc_cfg;
	raft_config_defaults(&rc_cfg);
	rc_cfg.id = h->cfg.node_id;
	rc_cfg.group_id = rep->id;
	rc_cfg.election_ticks = h->cfg.election_ticks;
	rc_cfg.heartbeat_ticks = h->cfg.heartbeat_ticks;
	rc_cfg.cache_entries = h->cfg.raft_cache_entries;
	rc_cfg.cache_bytes_max = 8u << 20;
	rc_cfg.seed = h->cfg.incarnation ^ (rep->id * 0x9e3779b97f4a7c15ULL);
	rc_cfg.quiesce = h->cfg.quiesce;
	rc_cfg.batch_appends = 1;
	rc_cfg.log = (struct raft_log_ops){.ctx = h, .term = op_term, .entries = op_entries,
					   .snapshot_read = op_snapshot_read};
	rc_cfg.mem = (struct raft_mem){.ctx = h, .alloc = mem_alloc, .free = mem_free};
	rc = raft_init(&rep->raft, &rc_cfg, &st);
	if (rc)
		return rc;
	rc = raft_multi_add(&h->multi, rep->id, &rep->raft, rep);
	if (rc) {
		raft_deinit(&rep->raft);
		return rc;
	}
	rep->raft_live = 1;
	host__set_floor(h, rep);
	return 0;
}

void host__raft_stop(struct host *h, struct replica *rep)
{
	if (!rep->raft_live)
		return;
	int rc = raft_multi_remove(&h->multi, rep->id);
	ASSERT(rc == 0);
	raft_deinit(&rep->raft);
	rep->raft_live = 0;
	rep->inflight_n = 0;
	host__backlog_free(rep);
}

void host__set_floor(struct host *h, struct replica *rep)
{
	if (!rep->raft_live || rep->error)
		return;
	uint64_t f = lsm_tree_durable_applied_index(replica_sm_tree(rep));
	if (rep->meta.snap.index < f)
		f = rep->meta.snap.index;
	if (rep->external_floor != 0 && rep->external_floor < f)
		f = rep->external_floor;
	if (f == rep->floor_set)
		return;
	if (raftlog_set_floor(h->log, rep->id, f) != 0 && raftlog_error(h->log)) {
		host__fatal(h, raftlog_error(h->log), "raft log floor");
		return;
	}
	rep->floor_set = f;
	struct raft_event ev = {.type = RAFT_EVENT_SET_FLOOR, .floor = f + 1};
	int rc = raft_multi_step(&h->multi, rep->id, &ev);
	ASSERT(rc == 0);
}

void host__snapshot_take(struct host *h, struct replica *rep)
{
	rep->want_snapshot = 0;
	if (!rep->raft_live || rep->error || rep->applied <= rep->meta.snap.index)
		return;
	uint64_t index = rep->applied, term = raft_term_at(&rep->raft, index);
	if (term == 0 && raftlog_term(h->log, rep->id, index, &term) != 0)
		return;
	struct raft_conf conf = *raft_conf_applied(&rep->raft);
	int rc = replica_snapshot_take(rep, term, &conf);
	if (rc) {
		host__replica_fail(h, rep, rc, "taking a snapshot");
		return;
	}
	struct raft_event ev = {.type = RAFT_EVENT_SNAPSHOT_TAKEN};
	ev.snapshot.index = index;
	ev.snapshot.size_bytes = rep->meta.snap.size_bytes;
	ev.snapshot.conf = conf;
	rc = raft_multi_step(&h->multi, rep->id, &ev);
	if (rc) /* Raft moved past it meanwhile (an install): harmless, the next one will do */
		LOG_WARN("engine: table %" PRIu64 ": snapshot %" PRIu64 " refused by Raft: %s", rep->id,
			 index, err_str(rc));
	h->stats.snapshots_taken++;
	host__set_floor(h, rep);
}
