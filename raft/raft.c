/*
 * raft.c — the group's entry points (init, step, status) and everything about terms, roles and
 * elections (Raft Figure 2 "Rules for Servers" and "RequestVote RPC", plus pre-vote and leader
 * stickiness from the thesis §9.6).
 *
 * Invariants kept here:
 *   - currentTerm never decreases; votedFor changes only together with a new term or from 0;
 *   - a vote (and a candidate's vote for itself) counts only once it is persisted: the reply is a
 *     held message released after the hard state is durable;
 *   - a node that is not a voter of its current configuration never campaigns;
 *   - a message with an older term never changes state (it may get a reply carrying our term).
 */
#include "raft/raft_impl.h"

#include "core/assert.h"

#include <string.h>

void raft_config_defaults(struct raft_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->election_ticks = 30;
	cfg->heartbeat_ticks = 5;
	cfg->inflight_max = 64;
	cfg->msg_bytes_max = 1u << 20;
	cfg->cache_entries = 1024;
	cfg->cache_bytes_max = 16u << 20;
	cfg->snapshot_chunk_bytes = LIMIT_RAFT_SNAPSHOT_CHUNK_BYTES;
	cfg->pre_vote = 1;
	cfg->check_quorum = 1;
	cfg->quiesce = 0;
}

void raft_update_init(struct raft_update *u, struct raft_message *msgs, uint32_t msgs_cap,
                      struct raft_entry *ents, uint32_t ents_cap, struct raft_read_state *reads,
                      uint32_t reads_cap)
{
	ASSERT(msgs && msgs_cap > 0 && ents && ents_cap > 0 && reads && reads_cap > 0);
	memset(u, 0, sizeof(*u));
	u->msgs = msgs;
	u->msgs_cap = msgs_cap;
	u->ents = ents;
	u->ents_cap = ents_cap;
	u->reads = reads;
	u->reads_cap = reads_cap;
}

/* Clear the outputs (not the caller's arrays). The chunk and snapshot bodies are only meaningful
 * under have_chunk / install, so they are not wiped on every step (this runs on the hot path). */
static void update_reset(struct raft_update *u)
{
	u->persist_seq = 0;
	u->hard_state_changed = 0;
	u->truncate_from = 0;
	u->persist = NULL;
	u->n_persist = 0;
	u->have_chunk = 0;
	u->install = 0;
	u->compact_to = 0;
	u->n_msgs = 0;
	u->apply = NULL;
	u->n_apply = 0;
	u->n_reads = 0;
	u->soft_changed = 0;
	u->proposed_index = 0;
	u->proposed_term = 0;
	u->more = 0;
	u->want_flush = 0;
	u->n_ents_used = 0;
}

size_t raft_sizeof(void)
{
	return sizeof(struct raft);
}

static void reset_timeout(struct raft *r)
{
	r->election_elapsed = 0;
	r->randomized_timeout =
	    r->cfg.election_ticks + (uint32_t)prng_below(&r->prng, r->cfg.election_ticks);
}

static int config_valid(const struct raft_config *c)
{
	return c->id != 0 && c->heartbeat_ticks >= 1 && c->election_ticks >= 3 &&
	       c->heartbeat_ticks * 2 < c->election_ticks && c->inflight_max >= 1 &&
	       c->inflight_max <= LIMIT_RAFT_INFLIGHT_MAX && c->msg_bytes_max > 0 &&
	       c->snapshot_chunk_bytes > 0 &&
	       c->snapshot_chunk_bytes <= LIMIT_RAFT_SNAPSHOT_CHUNK_BYTES && c->log.term &&
	       c->log.entries && c->log.snapshot_read && c->mem.alloc && c->mem.free;
}

int raft_init(struct raft *r, const struct raft_config *cfg, const struct raft_init_state *st)
{
	int rc;
	memset(r, 0, sizeof(*r));
	if (!config_valid(cfg))
		return ERR_INVAL;
	if (st->applied < st->snapshot.index || st->applied > st->log_last)
		return ERR_INVAL;
	r->cfg = *cfg;
	prng_init(&r->prng, cfg->seed ^ (cfg->id * 0x9e3779b97f4a7c15ULL) ^ cfg->group_id);
	r->term = st->hard.term;
	r->vote = st->hard.vote;
	r->snap = st->snapshot;
	r->snap_available = st->snapshot.index > 0;
	rc = raft__log_init(r, st);
	if (rc)
		return rc;
	size_t inflight_bytes =
	    (size_t)LIMIT_RAFT_MEMBERS_MAX * cfg->inflight_max * sizeof(uint64_t);
	r->inflight_block = cfg->mem.alloc(cfg->mem.ctx, inflight_bytes);
	if (!r->inflight_block) {
		rc = ERR_NOMEM;
		goto err_log;
	}
	uint64_t commit = st->hard.commit;
	if (commit < st->applied)
		commit = st->applied;
	if (commit > r->last_index)
		commit = r->last_index;
	r->commit = commit;
	r->applied = st->applied;
	r->hs_commit_written = st->hard.commit;

	/* membership: the snapshot's, then the conf entries after it that are still in the log */
	r->n_hist = 1;
	r->hist[0].index = st->snapshot.index;
	r->hist[0].conf = st->snapshot.conf;
	r->conf_applied = st->snapshot.conf;
	for (uint32_t i = 0; i < st->n_confs; i++) {
		const struct raft_conf_entry *ce = &st->confs[i];
		if (ce->index <= st->snapshot.index || ce->index > r->last_index)
			continue;
		if (ce->index <= r->applied)
			r->conf_applied = ce->conf;
		if (r->n_hist == LIMIT_RAFT_CONF_HISTORY) { /* keep the newest */
			memmove(&r->hist[0], &r->hist[1], (r->n_hist - 1) * sizeof(r->hist[0]));
			r->n_hist--;
		}
		r->hist[r->n_hist].index = ce->index;
		r->hist[r->n_hist].conf = ce->conf;
		r->n_hist++;
	}
	raft__progress_sync_conf(r);

	r->role = RAFT_FOLLOWER;
	r->leader = 0;
	r->seq_next = 1;
	r->rep_role = RAFT_FOLLOWER;
	r->rep_term = r->term;
	reset_timeout(r);
	return 0;

err_log:
	raft__log_deinit(r);
	return rc;
}

void raft_deinit(struct raft *r)
{
	raft__log_deinit(r);
	if (r->inflight_block) {
		size_t bytes =
		    (size_t)LIMIT_RAFT_MEMBERS_MAX * r->cfg.inflight_max * sizeof(uint64_t);
		r->cfg.mem.free(r->cfg.mem.ctx, r->inflight_block, bytes);
		r->inflight_block = NULL;
	}
}

/* ---- small helpers ----------------------------------------------------------------------------
 */

int raft__is_voter(const struct raft *r, uint64_t id)
{
	return raft_conf_is_voter(raft__conf(r), id);
}

uint32_t raft__quorum(const struct raft *r)
{
	return raft__conf(r)->n_voters / 2 + 1;
}

struct raft_progress *raft__progress(struct raft *r, uint64_t id)
{
	for (uint32_t i = 0; i < r->n_prs; i++)
		if (r->prs[i].id == id)
			return &r->prs[i];
	return NULL;
}

void raft__set_term(struct raft *r, uint64_t term)
{
	ASSERT(term > r->term);
	r->term = term;
	r->vote = 0;
	r->hs_dirty = 1;
}

void raft__set_vote(struct raft *r, uint64_t vote)
{
	ASSERT(vote != 0);
#ifndef REGATTA_CANARY_DOUBLE_VOTE
	ASSERT(r->vote == 0 || r->vote == vote);
#endif
	r->vote = vote;
	r->hs_dirty = 1;
}

uint64_t raft__hs_seq_need(const struct raft *r)
{
	return r->hs_dirty ? r->seq_next : r->hs_seq;
}

void raft__send(struct raft *r, struct raft_update *u, const struct raft_message *m)
{
	ASSERT(m->to != r->cfg.id && m->to != 0);
	if (u->n_msgs == u->msgs_cap) {
		r->msgs_dropped++; /* Raft tolerates loss; the caller sized msgs too small */
		return;
	}
	struct raft_message *o = &u->msgs[u->n_msgs++];
	*o = *m;
	o->group_id = r->cfg.group_id;
	o->from = r->cfg.id;
}

static void handle_vote_resp(struct raft *r, struct raft_update *u, const struct raft_message *m);

static int held_ready(const struct raft *r, const struct raft_held *h)
{
#ifdef REGATTA_CANARY_ACK_BEFORE_FSYNC
	if (h->type == RAFT_MSG_APP_RESP)
		return 1; /* planted bug: acknowledge appends before they are durable */
#endif
	return r->persisted_seq >= h->need_seq && r->stable >= h->need_index;
}

static void deliver(struct raft *r, struct raft_update *u, const struct raft_held *h)
{
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = h->type;
	m.flags = h->flags;
	m.group_id = r->cfg.group_id;
	m.from = r->cfg.id;
	m.to = h->to;
	m.term = h->term;
	m.index = h->index;
	m.log_term = h->log_term;
	m.hint = h->hint;
	m.offset = h->offset;
	if (m.to == r->cfg.id)
		handle_vote_resp(r, u, &m); /* a candidate's own vote, now durable */
	else
		raft__send(r, u, &m);
}

void raft__hold(struct raft *r, struct raft_update *u, const struct raft_message *m,
                uint64_t need_seq, uint64_t need_index)
{
	ASSERT(m->n_entries == 0 && m->len == 0);
	struct raft_held h = {
	    .type = m->type,
	    .flags = m->flags,
	    .to = m->to,
	    .term = m->term,
	    .index = m->index,
	    .log_term = m->log_term,
	    .hint = m->hint,
	    .offset = m->offset,
	    .need_seq = need_seq,
	    .need_index = need_index,
	};
	if (held_ready(r, &h)) {
		deliver(r, u, &h);
		return;
	}
	if (r->held_count == LIMIT_RAFT_HELD_MSGS) {
		r->msgs_dropped++; /* the peer retries (heartbeats, election timeouts) */
		return;
	}
	if (r->held_count == 0 || need_seq < r->held_min_seq)
		r->held_min_seq = need_seq;
	if (r->held_count == 0 || need_index < r->held_min_index)
		r->held_min_index = need_index;
	r->held[r->held_count++] = h;
}

void raft__release_held(struct raft *r, struct raft_update *u)
{
	uint32_t n = r->held_count;
	if (n == 0 || r->persisted_seq < r->held_min_seq || r->stable < r->held_min_index)
		return; /* the common case on a busy follower: nothing became durable since */
	uint32_t keep = 0;
	/* in place: survivors move down in order; replies held while delivering land after n */
	for (uint32_t i = 0; i < n; i++) {
		struct raft_held h = r->held[i];
		if (held_ready(r, &h))
			deliver(r, u, &h);
		else
			r->held[keep++] = h;
	}
	uint32_t added = r->held_count - n;
	if (added > 0 && keep < n)
		memmove(&r->held[keep], &r->held[n], added * sizeof(r->held[0]));
	r->held_count = keep + added;
	ASSERT(r->held_count <= LIMIT_RAFT_HELD_MSGS);
	r->held_min_seq = UINT64_MAX;
	r->held_min_index = UINT64_MAX;
	for (uint32_t i = 0; i < r->held_count; i++) {
		if (r->held[i].need_seq < r->held_min_seq)
			r->held_min_seq = r->held[i].need_seq;
		if (r->held[i].need_index < r->held_min_index)
			r->held_min_index = r->held[i].need_index;
	}
}

/* ---- roles ---------------------------------------------------------------------------------- */

void raft__unquiesce(struct raft *r, struct raft_update *u)
{
	if (!r->quiesced)
		return;
	r->quiesced = 0;
	r->election_elapsed = 0;
	if (r->role == RAFT_LEADER) {
		/* Peers count as active again only once they answer the wake-up heartbeat: flags left
		 * over from before quiescence would let a leader whose followers died meanwhile quiesce
		 * again at its next heartbeat, before check-quorum could see they are gone. */
		for (uint32_t i = 0; i < r->n_prs; i++)
			r->prs[i].recent_active = r->prs[i].id == r->cfg.id;
		r->heartbeat_elapsed = 0;
		raft__leader_heartbeat_all(r, u, 0);
	}
}

void raft__become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
	ASSERT(term >= r->term);
	if (term > r->term)
		raft__set_term(r, term);
	r->role = RAFT_FOLLOWER;
	r->leader = leader;
	r->transferee = 0;
	r->quiesced = 0;
	reset_timeout(r);
}

static void reset_votes(struct raft *r)
{
	for (uint32_t i = 0; i < r->n_prs; i++)
		r->prs[i].vote = 0;
}

/* Record one answer from a voter; returns +1 won, -1 lost, 0 undecided. */
static int poll(struct raft *r, uint64_t from, int granted)
{
	const struct raft_conf *c = raft__conf(r);
	struct raft_progress *pr = raft__progress(r, from);
	if (pr && raft_conf_is_voter(c, from) && pr->vote == 0)
		pr->vote = granted ? 1 : 2;
	uint32_t yes = 0, no = 0;
	for (uint32_t i = 0; i < r->n_prs; i++) {
		if (!raft_conf_is_voter(c, r->prs[i].id))
			continue;
		yes += r->prs[i].vote == 1;
		no += r->prs[i].vote == 2;
	}
	uint32_t q = raft__quorum(r);
	if (yes >= q)
		return 1;
	if (no > c->n_voters - q)
		return -1;
	return 0;
}

void raft__campaign(struct raft *r, struct raft_update *u, int pre, int transfer)
{
	const struct raft_conf *c = raft__conf(r);
	if (!raft_conf_is_voter(c, r->cfg.id) || r->role == RAFT_LEADER)
		return;
	reset_votes(r);
	r->leader = 0;
	r->quiesced = 0;
	reset_timeout(r);
	uint64_t term;
	if (pre) {
		r->role = RAFT_PRE_CANDIDATE;
		term = r->term + 1; /* not adopted until a quorum says the election could succeed */
	} else {
		raft__set_term(r, r->term + 1);
		raft__set_vote(r, r->cfg.id);
		r->role = RAFT_CANDIDATE;
		term = r->term;
	}
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE;
	m.term = term;
	m.index = r->last_index;
	m.log_term = r->last_term;
	m.flags = transfer ? RAFT_MSG_F_TRANSFER : 0;
	for (uint32_t i = 0; i < c->n_voters; i++) {
		if (c->voters[i] == r->cfg.id)
			continue;
		m.to = c->voters[i];
		raft__send(r, u, &m);
	}
	/* our own answer: a pre-vote counts at once, a real vote once the hard state is durable */
	struct raft_message self;
	memset(&self, 0, sizeof(self));
	self.type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
	self.to = r->cfg.id;
	self.term = term;
	self.flags = transfer ? RAFT_MSG_F_TRANSFER : 0;
	if (pre)
		handle_vote_resp(r, u, &self);
	else
		raft__hold(r, u, &self, raft__hs_seq_need(r), 0);
}

static void handle_vote_resp(struct raft *r, struct raft_update *u, const struct raft_message *m)
{
	int granted = !(m->flags & RAFT_MSG_F_REJECT);
	if (m->type == RAFT_MSG_PREVOTE_RESP && r->role == RAFT_PRE_CANDIDATE) {
		/* granted answers carry the proposed term; refusals carry the voter's term */
		if (granted && m->term != r->term + 1)
			return;
		int res = poll(r, m->from ? m->from : r->cfg.id, granted);
		if (res > 0)
			raft__campaign(r, u, 0, (m->flags & RAFT_MSG_F_TRANSFER) != 0);
		else if (res < 0)
			raft__become_follower(r, r->term, 0);
	} else if (m->type == RAFT_MSG_VOTE_RESP && r->role == RAFT_CANDIDATE) {
		if (m->term != r->term)
			return;
		int res = poll(r, m->from ? m->from : r->cfg.id, granted);
		if (res > 0)
			raft__become_leader(r, u);
		else if (res < 0)
			raft__become_follower(r, r->term, 0);
	}
}

/* RequestVote (Figure 2) and PreVote (thesis §9.6), for m->term >= r->term. */
static void handle_vote(struct raft *r, struct raft_update *u, const struct raft_message *m)
{
	int pre = m->type == RAFT_MSG_PREVOTE;
	int can_vote =
	    r->vote == m->from || (r->vote == 0 && r->leader == 0) || (pre && m->term > r->term);
#ifdef REGATTA_CANARY_DOUBLE_VOTE
	if (!pre && r->role == RAFT_FOLLOWER)
		can_vote = 1; /* planted bug: a follower votes a second time in the same term */
#endif
	struct raft_message resp;
	memset(&resp, 0, sizeof(resp));
	resp.type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
	resp.to = m->from;
	if (can_vote && raft__log_up_to_date(r, m->index, m->log_term)) {
		resp.term = m->term;
		if (!pre) {
			r->election_elapsed = 0;
			if (r->vote != m->from)
				raft__set_vote(r, m->from);
		}
	} else {
		resp.term = r->term;
		resp.flags = RAFT_MSG_F_REJECT;
	}
	raft__hold(r, u, &resp, raft__hs_seq_need(r), 0);
}

/* ---- receiving --------------------------------------------------------------------------------
 */

static int msg_valid(const struct raft *r, const struct raft_message *m)
{
	if (m->group_id != r->cfg.group_id || m->to != r->cfg.id || m->from == 0 ||
	    m->from == r->cfg.id)
		return 0;
	if (m->type < 1 || m->type > RAFT_MSG_TYPE_MAX)
		return 0;
	if (m->n_entries > LIMIT_RAFT_MSG_ENTRIES_MAX || (m->n_entries > 0 && !m->entries))
		return 0;
	if (m->n_entries > 0 && m->type != RAFT_MSG_APP && m->type != RAFT_MSG_PROP)
		return 0;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct raft_entry *e = &m->entries[i];
		if (e->len > LIMIT_RAFT_ENTRY_BYTES || (e->len > 0 && !e->data))
			return 0;
		if (e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_NOOP)
			return 0;
		if (m->type == RAFT_MSG_PROP && e->type != RAFT_ENTRY_NORMAL)
			return 0;
		if (m->type == RAFT_MSG_APP) {
			if (e->index != m->index + 1 + i || e->term > m->term || e->term == 0)
				return 0;
			if (i > 0 && e->term < m->entries[i - 1].term)
				return 0;
			if (i == 0 && e->term < m->log_term)
				return 0;
		}
	}
	if (m->type == RAFT_MSG_APP && m->log_term > m->term)
		return 0;
	if (m->type == RAFT_MSG_SNAP) {
		const struct raft_snapshot_meta *s = &m->snap;
		if (s->index == 0 || s->term == 0 || s->term > m->term ||
		    m->len > LIMIT_RAFT_SNAPSHOT_CHUNK_BYTES || (m->len > 0 && !m->data) ||
		    m->offset > s->size_bytes || m->len > s->size_bytes - m->offset ||
		    s->conf.n_voters > LIMIT_RAFT_VOTERS_MAX ||
		    s->conf.n_learners > LIMIT_RAFT_LEARNERS_MAX || s->conf.n_voters == 0)
			return 0;
		if ((m->flags & RAFT_MSG_F_LAST) && m->offset + m->len != s->size_bytes)
			return 0;
	}
	/* PROP, READ_INDEX and READ_INDEX_RESP travel outside terms (term 0); everything else has
	 * one */
	int termless = m->type == RAFT_MSG_PROP || m->type == RAFT_MSG_READ_INDEX ||
	               m->type == RAFT_MSG_READ_INDEX_RESP;
	if (!termless && m->term == 0)
		return 0;
	return 1;
}

static void reply_stale(struct raft *r, struct raft_update *u, const struct raft_message *m)
{
	struct raft_message resp;
	memset(&resp, 0, sizeof(resp));
	resp.to = m->from;
	resp.term = r->term;
	if ((r->cfg.check_quorum || r->cfg.pre_vote) &&
	    (m->type == RAFT_MSG_APP || m->type == RAFT_MSG_HEARTBEAT ||
	     m->type == RAFT_MSG_SNAP)) {
		/* a deposed leader that never hears a higher term would keep a partition's majority
		 * from electing (pre-vote refuses it while it looks alive): tell it */
		resp.type = RAFT_MSG_APP_RESP;
		resp.flags = RAFT_MSG_F_REJECT;
		raft__hold(r, u, &resp, raft__hs_seq_need(r), 0);
	} else if (m->type == RAFT_MSG_PREVOTE) {
		resp.type = RAFT_MSG_PREVOTE_RESP;
		resp.flags = RAFT_MSG_F_REJECT;
		raft__hold(r, u, &resp, raft__hs_seq_need(r), 0);
	}
}

static void receive(struct raft *r, struct raft_update *u, const struct raft_message *m)
{
	int termless = m->term == 0;
	/* any message wakes a quiesced group, except the quiescing heartbeat itself and a heartbeat
	 * reply from a follower that is caught up (the reply to that heartbeat) */
	int quiet = (m->type == RAFT_MSG_HEARTBEAT && (m->flags & RAFT_MSG_F_QUIESCE)) ||
	            (m->type == RAFT_MSG_HEARTBEAT_RESP && m->term == r->term &&
	             m->index >= r->last_index && m->commit >= r->commit);
	if (!quiet)
		raft__unquiesce(r, u);

	if (!termless && m->term > r->term) {
		if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE) {
			int force = (m->flags & RAFT_MSG_F_TRANSFER) != 0;
			int in_lease = r->cfg.check_quorum && r->leader != 0 &&
			               r->election_elapsed < r->cfg.election_ticks;
			if (!force && in_lease)
				return; /* leader stickiness: we heard from a live leader recently
				         */
		}
		if (m->type == RAFT_MSG_PREVOTE) {
			/* a pre-vote never changes our term */
		} else if (m->type == RAFT_MSG_PREVOTE_RESP && !(m->flags & RAFT_MSG_F_REJECT)) {
			/* granted pre-votes carry the term we proposed */
		} else if (m->type == RAFT_MSG_APP || m->type == RAFT_MSG_HEARTBEAT ||
		           m->type == RAFT_MSG_SNAP) {
			raft__become_follower(r, m->term, m->from);
		} else {
			raft__become_follower(r, m->term, 0);
		}
	} else if (!termless && m->term < r->term) {
		reply_stale(r, u, m);
		return;
	}

	switch (m->type) {
	case RAFT_MSG_VOTE:
	case RAFT_MSG_PREVOTE:
		handle_vote(r, u, m);
		return;
	case RAFT_MSG_VOTE_RESP:
	case RAFT_MSG_PREVOTE_RESP:
		handle_vote_resp(r, u, m);
		return;
	default:
		break;
	}
	if (r->role == RAFT_LEADER) {
		raft__leader_recv(r, u, m);
		return;
	}
	if ((r->role == RAFT_CANDIDATE || r->role == RAFT_PRE_CANDIDATE) &&
	    (m->type == RAFT_MSG_APP || m->type == RAFT_MSG_HEARTBEAT ||
	     m->type == RAFT_MSG_SNAP)) {
		/* a leader exists for our term (a pre-candidate's term is unchanged) */
		raft__become_follower(r, m->term, m->from);
	}
	raft__follower_recv(r, u, m);
}

/* ---- ticks ------------------------------------------------------------------------------------
 */

static void tick(struct raft *r, struct raft_update *u, uint32_t ticks)
{
	/* a clock jump of many ticks acts like a few election timeouts: more changes nothing */
	uint32_t cap = 4 * r->cfg.election_ticks;
	if (ticks > cap)
		ticks = cap;
	for (uint32_t i = 0; i < ticks; i++) {
		if (r->role == RAFT_LEADER) {
			raft__leader_tick(r, u);
			continue;
		}
		if (r->quiesced)
			continue;
		r->election_elapsed++;
		if (r->election_elapsed >= r->randomized_timeout) {
			reset_timeout(r);
			if (raft__is_voter(r, r->cfg.id))
				raft__campaign(r, u, r->cfg.pre_vote, 0);
		}
	}
}

/* ---- local requests -----------------------------------------------------------------------------
 */

static int propose(struct raft *r, struct raft_update *u, const uint8_t *data, uint32_t len)
{
	if (len > LIMIT_RAFT_ENTRY_BYTES || (len > 0 && !data))
		return len > LIMIT_RAFT_ENTRY_BYTES ? ERR_TOOBIG : ERR_INVAL;
	if (r->role == RAFT_LEADER)
		return raft__leader_propose(r, u, RAFT_ENTRY_NORMAL, data, len);
	if (r->leader == 0)
		return ERR_NOTLEADER;
	struct raft_entry *e = raft__ents_alloc(u, 1);
	if (!e)
		return ERR_AGAIN;
	memset(e, 0, sizeof(*e));
	e->type = RAFT_ENTRY_NORMAL;
	e->len = len;
	e->data = len ? data : NULL;
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_PROP;
	m.to = r->leader;
	m.entries = e;
	m.n_entries = 1;
	raft__send(r, u, &m);
	return 0;
}

static int read_request(struct raft *r, struct raft_update *u, uint64_t ctx)
{
	if (r->role == RAFT_LEADER)
		return raft__leader_read(r, u, ctx, r->cfg.id);
	if (r->leader == 0)
		return ERR_NOTLEADER;
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_READ_INDEX;
	m.to = r->leader;
	m.ctx = ctx;
	raft__send(r, u, &m);
	return 0;
}

static int persisted(struct raft *r, uint64_t seq)
{
	if (seq > r->seq_handed)
		return ERR_INVAL;
	if (seq <= r->persisted_seq)
		return 0;
	r->persisted_seq = seq;
	const struct raft_persist_rec *last = NULL;
	while (r->recs_count > 0 && r->recs[r->recs_start].seq <= seq) {
		last = &r->recs[r->recs_start];
		raft__log_stable_to(r, last->last_index, last->last_term);
		r->recs_start = (r->recs_start + 1) % LIMIT_RAFT_PERSIST_PENDING;
		r->recs_count--;
	}
	(void)last;
	r->commit_dirty = 1;
	if (r->role == RAFT_LEADER) {
		struct raft_progress *self = raft__progress(r, r->cfg.id);
		if (self && self->match < r->stable) {
			self->match = r->stable;
			self->next = r->stable + 1;
		}
	}
	return 0;
}

static int snapshot_taken(struct raft *r, uint64_t index, uint64_t size,
                          const struct raft_conf *conf)
{
	if (index > r->applied || index < r->log_first - 1 || index == 0)
		return ERR_INVAL;
	if (index <= r->snap.index)
		return index == r->snap.index ? 0 : ERR_INVAL;
	int ok;
	uint64_t term = raft__log_term(r, index, &ok);
	if (!ok || conf->n_voters == 0)
		return ERR_INVAL;
	r->snap.index = index;
	r->snap.term = term;
	r->snap.size_bytes = size;
	r->snap.conf = *conf;
	r->snap_available = 1;
	return 0;
}

/* ---- step -------------------------------------------------------------------------------------
 */

int raft_step(struct raft *r, const struct raft_event *ev, struct raft_update *u)
{
	update_reset(u);
	int rc = 0;
	switch (ev->type) {
	case RAFT_EVENT_TICK:
		tick(r, u, ev->ticks ? ev->ticks : 1);
		break;
	case RAFT_EVENT_RECEIVE:
		if (!ev->msg || !msg_valid(r, ev->msg))
			return ERR_PROTO;
		receive(r, u, ev->msg);
		break;
	case RAFT_EVENT_PROPOSE:
		rc = propose(r, u, ev->propose.data, ev->propose.len);
		break;
	case RAFT_EVENT_CONF_CHANGE:
		if (r->role != RAFT_LEADER)
			return ERR_NOTLEADER;
		rc = raft__leader_conf_change(r, u, ev->conf_change.type, ev->conf_change.id);
		break;
	case RAFT_EVENT_PERSISTED:
		rc = persisted(r, ev->persisted_seq);
		break;
	case RAFT_EVENT_SNAPSHOT_TAKEN:
		rc = snapshot_taken(r, ev->snapshot.index, ev->snapshot.size_bytes,
		                    &ev->snapshot.conf);
		break;
	case RAFT_EVENT_READ:
		rc = read_request(r, u, ev->read_ctx);
		break;
	case RAFT_EVENT_TRANSFER:
		if (r->role != RAFT_LEADER)
			return ERR_NOTLEADER;
		rc = raft__leader_transfer(r, u, ev->transfer_to);
		break;
	case RAFT_EVENT_SET_FLOOR:
		r->floor = ev->floor;
		break;
	case RAFT_EVENT_CAMPAIGN:
		if (r->role != RAFT_LEADER)
			raft__campaign(r, u, r->cfg.pre_vote, 0);
		break;
	case RAFT_EVENT_WAKE:
		raft__unquiesce(r, u);
		break;
	case RAFT_EVENT_UNREACHABLE:
		if (r->role == RAFT_LEADER) {
			struct raft_progress *pr = raft__progress(r, ev->peer);
			if (pr && pr->state == RAFT_PR_REPLICATE) {
				pr->state = RAFT_PR_PROBE;
				pr->probe_sent = 0;
				pr->inflight_count = 0;
				pr->next = pr->match + 1;
			}
		}
		break;
	case RAFT_EVENT_FLUSH:
		break;
	default:
		return ERR_INVAL;
	}
	if (rc) {
		update_reset(u);
		return rc;
	}
	r->flush_step = ev->type == RAFT_EVENT_FLUSH;
	raft__flush(r, u);
	r->flush_step = 0;
	raft__log_check(r);
	return 0;
}

/* ---- views --------------------------------------------------------------------------------------
 */

void raft_status_get(const struct raft *r, struct raft_status *s)
{
	memset(s, 0, sizeof(*s));
	s->id = r->cfg.id;
	s->group_id = r->cfg.group_id;
	s->role = r->role;
	s->leader = r->leader;
	s->term = r->term;
	s->vote = r->vote;
	s->commit = r->commit;
	s->applied = r->applied;
	s->last_index = r->last_index;
	s->last_term = r->last_term;
	s->stable_index = r->stable;
	s->first_index = r->log_first;
	s->snapshot_index = r->snap.index;
	s->quiesced = r->quiesced;
	s->transferee = r->transferee;
}

const struct raft_conf *raft_conf_current(const struct raft *r)
{
	return raft__conf(r);
}

const struct raft_conf *raft_conf_applied(const struct raft *r)
{
	return &r->conf_applied;
}

uint64_t raft_term_at(const struct raft *r, uint64_t index)
{
	int ok;
	uint64_t t = raft__log_term(r, index, &ok);
	return ok ? t : 0;
}

int raft_is_quiesced(const struct raft *r)
{
	return r->quiesced;
}

uint64_t raft_leader(const struct raft *r)
{
	return r->leader;
}

const char *raft_msg_type_str(uint8_t type)
{
	static const char *names[] = {
	    "?",         "APP",          "APP_RESP",  "VOTE",           "VOTE_RESP",
	    "PREVOTE",   "PREVOTE_RESP", "HEARTBEAT", "HEARTBEAT_RESP", "SNAP",
	    "SNAP_RESP", "TIMEOUT_NOW",  "PROP",      "READ_INDEX",     "READ_INDEX_RESP",
	};
	return type <= RAFT_MSG_TYPE_MAX ? names[type] : "?";
}
