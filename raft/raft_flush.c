/*
 * raft_flush.c — the end of every raft_step(): turn the core's state into the update.
 *
 * Order matters:
 *   1. release held replies whose promise became durable (a candidate's own vote may make it
 *      leader here, which appends its no-op);
 *   2. leader bookkeeping: append the no-op if it did not fit before, advance commit, answer
 *      confirmed reads, step down once our own removal committed; fail reads if no longer leader;
 *   3. compaction (frees cached payloads: must come before anything below points into the cache);
 *   4. persist: hard state, truncation, new entries, snapshot chunk and install, under a new seq;
 *   5. leader: MsgApps and snapshot chunks within each follower's window;
 *   6. apply: committed entries that are also durable locally;
 *   7. read states and soft state.
 * Nothing in 4-7 evicts or frees cached entries, so every pointer in the update stays valid until
 * the next step.
 */
#include "raft/raft_impl.h"

#include "core/assert.h"

#include <string.h>

struct raft_entry *raft__ents_alloc(struct raft_update *u, uint32_t n)
{
	if (u->n_ents_used + n > u->ents_cap)
		return NULL;
	struct raft_entry *p = u->ents + u->n_ents_used;
	u->n_ents_used += n;
	return p;
}

void raft__ready_read(struct raft *r, uint64_t ctx, uint64_t index, int status)
{
	if (r->n_ready == LIMIT_RAFT_READS_PENDING) {
		r->msgs_dropped++; /* the caller's read times out and is retried */
		return;
	}
	struct raft_read_state *rs = &r->ready[r->n_ready++];
	rs->ctx = ctx;
	rs->index = index;
	rs->status = status;
}

static void leader_bookkeeping(struct raft *r, struct raft_update *u)
{
	if (r->role != RAFT_LEADER) {
		if (r->n_reads > 0)
			raft__leader_fail_reads(r, u);
		return;
	}
	if (r->term_start == 0 && raft__log_append(r, r->term, RAFT_ENTRY_NOOP, NULL, 0) == 0)
		r->term_start = r->last_index;
	struct raft_progress *self = raft__progress(r, r->cfg.id);
	if (self && self->match < r->stable) {
		self->match = r->stable;
		self->next = r->stable + 1;
	}
	if (r->commit_dirty) { /* acks recount in raft__leader_recv; here our own fsyncs and confs
		                */
		r->commit_dirty = 0;
		raft__leader_maybe_commit(r, u);
	}
	if (r->n_reads > 0)
		raft__leader_read_ready(r, u);
	/* removed (or demoted) and the configuration that says so committed: step down */
	if (!raft__is_voter(r, r->cfg.id) && r->commit >= r->hist[r->n_hist - 1].index) {
		raft__become_follower(r, r->term, 0);
		raft__leader_fail_reads(r, u);
	}
}

static void compact(struct raft *r, struct raft_update *u)
{
	uint64_t to = r->snap.index;
	if (to > r->stable)
		to = r->stable;
	if (to > r->applied)
		to = r->applied;
	if (r->floor != 0 && to >= r->floor)
		to = r->floor - 1; /* the caller still needs entries >= floor */
	if (to < r->log_first || to == 0)
		return;
	raft__log_compact(r, to);
	u->compact_to = to;
}

static void persist(struct raft *r, struct raft_update *u)
{
	int need = r->hs_dirty || r->truncate_pending || r->handed < r->last_index ||
	           r->chunk_pending || r->install_pending;
	if (!need)
		return;
	if (r->recs_count == LIMIT_RAFT_PERSIST_PENDING)
		return; /* not `more`: a FLUSH cannot help; the next PERSISTED step hands it out */
	if (r->cfg.batch_appends && !r->flush_step && !r->chunk_pending && !r->install_pending) {
		/* one persist record per turn, handed out at its end; a snapshot chunk goes now (the
		 * core holds one chunk: the next one received would replace it) */
		u->want_flush = 1;
		return;
	}
	uint64_t seq = r->seq_next++;
	r->seq_handed = seq;
	u->persist_seq = seq;
	if (r->hs_dirty || r->commit > r->hs_commit_written) {
		u->hard_state_changed = 1;
		u->hard_state.term = r->term;
		u->hard_state.vote = r->vote;
		u->hard_state.commit = r->commit;
		r->hs_commit_written = r->commit;
		if (r->hs_dirty)
			r->hs_seq = seq;
		r->hs_dirty = 0;
	}
	u->truncate_from = r->truncate_pending;
	r->truncate_pending = 0;
	if (r->handed < r->last_index) {
		uint32_t room = u->ents_cap - u->n_ents_used;
		uint32_t n = 0;
		if (room > 0) {
			/* unstable entries are always cached: this never touches storage */
			int rc = raft__log_slice(r, r->handed + 1, r->last_index + 1, UINT64_MAX,
			                         u->ents + u->n_ents_used, room, &n);
			ASSERT(rc == 0 && n > 0);
			u->persist = u->ents + u->n_ents_used;
			u->n_persist = n;
			u->n_ents_used += n;
			r->handed += n;
		}
		if (r->handed < r->last_index)
			u->more = 1;
	}
	if (r->chunk_pending) {
		u->have_chunk = 1;
		u->chunk = r->chunk;
		r->chunk_pending = 0;
	}
	if (r->install_pending) {
		u->install = 1;
		u->snapshot = r->snap;
		r->install_pending = 0;
	}
	uint32_t at = (r->recs_start + r->recs_count) % LIMIT_RAFT_PERSIST_PENDING;
	r->recs[at].seq = seq;
	r->recs[at].last_index = r->handed;
	r->recs[at].last_term = raft_term_at(r, r->handed);
	r->recs_count++;
}

static void apply(struct raft *r, struct raft_update *u)
{
	uint64_t bound = r->commit < r->stable ? r->commit : r->stable;
#ifdef REGATTA_CANARY_APPLY_PAST_COMMIT
	bound = r->stable; /* planted bug: hand out persisted but uncommitted entries */
#endif
	if (r->applied >= bound)
		return;
	uint32_t room = u->ents_cap - u->n_ents_used;
	if (room > LIMIT_RAFT_APPLY_BATCH)
		room = LIMIT_RAFT_APPLY_BATCH;
	if (room == 0) {
		u->more = 1;
		return;
	}
	uint32_t n = 0;
	struct raft_entry *out = u->ents + u->n_ents_used;
	int rc =
	    raft__log_slice(r, r->applied + 1, bound + 1, r->cfg.cache_bytes_max, out, room, &n);
	if (rc || n == 0)
		return; /* ERR_AGAIN: the caller steps RAFT_EVENT_FLUSH once storage has loaded */
	for (uint32_t i = 0; i < n; i++) {
		ASSERT(out[i].index == r->applied + 1 + i);
		if (out[i].type == RAFT_ENTRY_CONF) {
			struct raft_conf c;
			if (raft_conf_decode(out[i].data, out[i].len, &c) == 0)
				r->conf_applied = c;
		}
	}
	u->n_ents_used += n;
	u->apply = out;
	u->n_apply = n;
	r->applied += n;
	if (r->applied < bound)
		u->more = 1;
}

static void reads(struct raft *r, struct raft_update *u)
{
	uint32_t n = r->n_ready < u->reads_cap ? r->n_ready : u->reads_cap;
	if (n == 0)
		return;
	memcpy(u->reads, r->ready, n * sizeof(r->ready[0]));
	u->n_reads = n;
	memmove(&r->ready[0], &r->ready[n], (r->n_ready - n) * sizeof(r->ready[0]));
	r->n_ready -= n;
	if (r->n_ready > 0)
		u->more = 1;
}

void raft__flush(struct raft *r, struct raft_update *u)
{
	raft__release_held(r, u);
	leader_bookkeeping(r, u);
	compact(r, u);
	persist(r, u);
	if (r->role == RAFT_LEADER) {
		if (!r->cfg.batch_appends || r->flush_step)
			raft__leader_send_appends(r, u);
		else if (raft__leader_appends_due(r))
			u->want_flush = 1;
	}
	apply(r, u);
	reads(r, u);
	u->leader = r->leader;
	u->role = r->role;
	u->term = r->term;
	if (r->leader != r->rep_leader || r->role != r->rep_role || r->term != r->rep_term) {
		u->soft_changed = 1;
		r->rep_leader = r->leader;
		r->rep_role = r->role;
		r->rep_term = r->term;
	}
	ASSERT(u->n_ents_used <= u->ents_cap);
	ASSERT(u->n_msgs <= u->msgs_cap);
}
