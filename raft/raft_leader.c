/*
 * raft_leader.c — everything a leader does: progress tracking and replication with flow control,
 * the commit rule, heartbeats and check-quorum, ReadIndex, leader transfer, membership changes
 * and sending snapshots in chunks.
 *
 * Invariants kept here:
 *   - commit advances only to an index a quorum of the *current* configuration's voters has
 *     persisted, and only if that entry is of the leader's current term (Figure 2, §5.4.2);
 *     earlier entries commit indirectly;
 *   - the leader's own match is its persisted index, never its last index;
 *   - a ReadIndex answer is given only after a heartbeat round started after the read arrived was
 *     acknowledged by a quorum, and only once an entry of this term has committed;
 *   - at most one configuration change is uncommitted, and none is accepted before an entry of
 *     this term committed (this closes the single-server-change bug found by Ongaro, 2015);
 *   - a follower in REPLICATE has at most cfg.inflight_max MsgApps in flight; in PROBE at most one.
 */
#include "raft/raft_impl.h"

#include "core/assert.h"

#include <string.h>

/* ---- progress ----------------------------------------------------------------------------- */

static void inflight_reset(struct raft_progress *pr)
{
	pr->inflight_start = 0;
	pr->inflight_count = 0;
}

static int inflight_full(const struct raft *r, const struct raft_progress *pr)
{
	return pr->inflight_count >= r->cfg.inflight_max;
}

static void inflight_add(struct raft *r, struct raft_progress *pr, uint64_t last)
{
	ASSERT(!inflight_full(r, pr));
	uint32_t at = (pr->inflight_start + pr->inflight_count) % r->cfg.inflight_max;
	pr->inflight[at] = last;
	pr->inflight_count++;
}

static void inflight_free_to(struct raft *r, struct raft_progress *pr, uint64_t index)
{
	while (pr->inflight_count > 0 && pr->inflight[pr->inflight_start] <= index) {
		pr->inflight_start = (pr->inflight_start + 1) % r->cfg.inflight_max;
		pr->inflight_count--;
	}
}

static void inflight_free_first(struct raft *r, struct raft_progress *pr)
{
	if (pr->inflight_count == 0)
		return;
	pr->inflight_start = (pr->inflight_start + 1) % r->cfg.inflight_max;
	pr->inflight_count--;
}

static void become_probe(struct raft_progress *pr)
{
	pr->state = RAFT_PR_PROBE;
	pr->probe_sent = 0;
	pr->next = pr->match + 1;
	inflight_reset(pr);
}

static void progress_fresh(struct raft *r, struct raft_progress *pr, uint64_t id)
{
	uint64_t *ring = pr->inflight;
	memset(pr, 0, sizeof(*pr));
	pr->inflight = ring;
	pr->id = id;
	pr->next = r->last_index + 1;
	pr->state = RAFT_PR_PROBE;
	pr->recent_active = 1; /* a new member gets one check-quorum round of grace */
	pr->need_append = 1;
}

void raft__progress_sync_conf(struct raft *r)
{
	const struct raft_conf *c = raft__conf(r);
	uint64_t ids[LIMIT_RAFT_MEMBERS_MAX];
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->n_voters; i++)
		ids[n++] = c->voters[i];
	for (uint32_t i = 0; i < c->n_learners; i++)
		ids[n++] = c->learners[i];
	ASSERT(n <= LIMIT_RAFT_MEMBERS_MAX);

	struct raft_progress old[LIMIT_RAFT_MEMBERS_MAX];
	uint32_t n_old = r->n_prs;
	memcpy(old, r->prs, n_old * sizeof(old[0]));
	/* ring slots of the block still owned by members that stay */
	int used[LIMIT_RAFT_MEMBERS_MAX] = {0};
	struct raft_progress next[LIMIT_RAFT_MEMBERS_MAX];
	int kept[LIMIT_RAFT_MEMBERS_MAX] = {0};
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < n_old; j++) {
			if (old[j].id == ids[i]) {
				next[i] = old[j];
				kept[i] = 1;
				size_t slot = (size_t)(old[j].inflight - r->inflight_block) /
				              r->cfg.inflight_max;
				ASSERT(slot < LIMIT_RAFT_MEMBERS_MAX);
				used[slot] = 1;
			}
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		if (kept[i])
			continue;
		uint32_t slot = 0;
		while (used[slot])
			slot++;
		ASSERT(slot < LIMIT_RAFT_MEMBERS_MAX);
		used[slot] = 1;
		next[i].inflight = r->inflight_block + (size_t)slot * r->cfg.inflight_max;
		progress_fresh(r, &next[i], ids[i]);
		if (ids[i] == r->cfg.id) {
			next[i].match = r->stable;
			next[i].state = RAFT_PR_REPLICATE;
		}
	}
	memcpy(r->prs, next, n * sizeof(next[0]));
	r->n_prs = n;
	r->commit_dirty = 1; /* a new quorum may already hold more */
}

/* ---- becoming leader ------------------------------------------------------------------------ */

void raft__become_leader(struct raft *r, struct raft_update *u)
{
	ASSERT(r->role == RAFT_CANDIDATE);
	ASSERT(r->vote == r->cfg.id);
	r->role = RAFT_LEADER;
	r->leader = r->cfg.id;
	r->transferee = 0;
	r->quiesced = 0;
	r->heartbeat_elapsed = 0;
	r->election_elapsed = 0;
	r->read_round = 0;
	r->n_reads = 0;
	for (uint32_t i = 0; i < r->n_prs; i++) {
		struct raft_progress *pr = &r->prs[i];
		progress_fresh(r, pr, pr->id);
		if (pr->id == r->cfg.id) {
			pr->match = r->stable;
			pr->state = RAFT_PR_REPLICATE;
			pr->need_append = 0;
		}
	}
	r->commit_dirty = 1;
	/* no configuration change until everything before our term, and our no-op, committed */
	r->pending_conf_index = r->last_index;
	r->term_start = 0;
	if (raft__log_append(r, r->term, RAFT_ENTRY_NOOP, NULL, 0) == 0)
		r->term_start = r->last_index;
	/* else the tail is full of unpersisted entries: raft__flush retries the no-op */
	(void)u;
}

static int committed_in_term(const struct raft *r)
{
	return r->term_start != 0 && r->commit >= r->term_start;
}

/* ---- commit ------------------------------------------------------------------------------- */

void raft__leader_maybe_commit(struct raft *r, struct raft_update *u)
{
	ASSERT(r->role == RAFT_LEADER);
	const struct raft_conf *c = raft__conf(r);
	uint64_t m[LIMIT_RAFT_VOTERS_MAX];
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->n_prs; i++) {
		const struct raft_progress *pr = &r->prs[i];
		if (!raft_conf_is_voter(c, pr->id))
			continue;
		uint64_t match = pr->match;
		if (pr->id == r->cfg.id) {
			match = r->stable;
#ifdef REGATTA_CANARY_ACK_BEFORE_FSYNC
			match = r->last_index; /* planted bug: count our own unpersisted entries */
#endif
		}
		m[n++] = match;
	}
	if (n == 0)
		return;
	/* sort descending (n <= 9) */
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0 && m[j] > m[j - 1]; j--) {
			uint64_t t = m[j];
			m[j] = m[j - 1];
			m[j - 1] = t;
		}
	uint64_t candidate = m[raft__quorum(r) - 1];
	if (candidate <= r->commit)
		return;
	int ok;
	uint64_t t = raft__log_term(r, candidate, &ok);
	int term_ok = ok && t == r->term;
#ifdef REGATTA_CANARY_COMMIT_OLD_TERM
	term_ok = ok; /* planted bug: commit an earlier term's entry by counting replicas */
#endif
	if (!term_ok)
		return;
	ASSERT(candidate <= r->last_index);
	r->commit = candidate;
	raft__conf_compact(r);
	(void)u;
}

/* ---- sending ------------------------------------------------------------------------------ */

static void start_snapshot(struct raft *r, struct raft_progress *pr)
{
	if (!r->snap_available)
		return; /* wait for RAFT_EVENT_SNAPSHOT_TAKEN */
	pr->state = RAFT_PR_SNAPSHOT;
	pr->snap_index = r->snap.index;
	pr->snap_size = r->snap.size_bytes;
	pr->snap_sent = 0;
	pr->snap_hb_acked = UINT64_MAX; /* the first heartbeat reply only records progress */
	pr->snap_acked = 0;
	inflight_reset(pr);
}

static void send_snapshot_chunks(struct raft *r, struct raft_update *u, struct raft_progress *pr)
{
	if (pr->snap_index != r->snap.index) /* a newer snapshot replaced the one we were sending */
		start_snapshot(r, pr);
	uint64_t window =
	    (uint64_t)LIMIT_RAFT_SNAPSHOT_CHUNKS_INFLIGHT * r->cfg.snapshot_chunk_bytes;
	for (uint32_t k = 0; k < LIMIT_RAFT_SNAPSHOT_CHUNKS_INFLIGHT; k++) {
		if (pr->snap_sent >= pr->snap_size || pr->snap_sent - pr->snap_acked >= window)
			return;
		if (u->n_msgs == u->msgs_cap) {
			u->more = 1;
			return;
		}
		uint64_t left = pr->snap_size - pr->snap_sent;
		uint32_t want = left < r->cfg.snapshot_chunk_bytes ? (uint32_t)left
		                                                   : r->cfg.snapshot_chunk_bytes;
		const uint8_t *data = NULL;
		uint32_t len = 0;
		int rc = r->cfg.log.snapshot_read(r->cfg.log.ctx, r->cfg.group_id, pr->snap_index,
		                                  pr->snap_sent, want, &data, &len);
		if (rc == ERR_NOTFOUND) {
			become_probe(pr); /* gone: retry with whatever snapshot is current */
			return;
		}
		if (rc || len == 0 || len > want)
			return; /* ERR_AGAIN / ERR_IO: retry at the next heartbeat reply */
		struct raft_message m;
		memset(&m, 0, sizeof(m));
		m.type = RAFT_MSG_SNAP;
		m.to = pr->id;
		m.term = r->term;
		m.index = r->snap.index;
		m.log_term = r->snap.term;
		m.snap = r->snap;
		m.offset = pr->snap_sent;
		m.data = data;
		m.len = len;
		if (pr->snap_sent + len == pr->snap_size)
			m.flags = RAFT_MSG_F_LAST;
		raft__send(r, u, &m);
		pr->snap_sent += len;
	}
}

/* Send one MsgApp from pr->next. Returns 1 if a message went out. */
static int send_append(struct raft *r, struct raft_update *u, struct raft_progress *pr)
{
	if (u->n_msgs == u->msgs_cap) {
		u->more = 1;
		return 0;
	}
	uint64_t prev = pr->next - 1;
	int ok;
	uint64_t prev_term = raft__log_term(r, prev, &ok);
	if (!ok) {
		if (prev < r->log_first || (prev + 1 == r->log_first && !r->first_prev_known))
			start_snapshot(r, pr);
		return 0;
	}
	uint32_t room = u->ents_cap - u->n_ents_used;
	if (room > LIMIT_RAFT_MSG_ENTRIES_MAX)
		room = LIMIT_RAFT_MSG_ENTRIES_MAX;
	uint32_t n = 0;
	struct raft_entry *ents = u->ents + u->n_ents_used;
	if (pr->next <= r->last_index) {
		if (room == 0) {
			u->more = 1;
			return 0;
		}
		int rc = raft__log_slice(r, pr->next, r->last_index + 1, r->cfg.msg_bytes_max, ents,
		                         room, &n);
		if (rc == ERR_RANGE) {
			start_snapshot(r, pr);
			return 0;
		}
		if (rc)
			return 0; /* ERR_AGAIN: storage is loading; the next heartbeat reply retries
			           */
		u->n_ents_used += n;
	}
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APP;
	m.to = pr->id;
	m.term = r->term;
	m.index = prev;
	m.log_term = prev_term;
	m.commit = r->commit;
	m.entries = n ? ents : NULL;
	m.n_entries = n;
	raft__send(r, u, &m);
	pr->commit_sent = r->commit;
	pr->need_append = 0;
	if (pr->state == RAFT_PR_REPLICATE) {
		if (n > 0) {
			pr->next = ents[n - 1].index + 1;
			inflight_add(r, pr, ents[n - 1].index);
		}
	} else {
		pr->probe_sent = 1;
	}
	return 1;
}

void raft__leader_send_appends(struct raft *r, struct raft_update *u)
{
	ASSERT(r->role == RAFT_LEADER);
	for (uint32_t i = 0; i < r->n_prs; i++) {
		struct raft_progress *pr = &r->prs[i];
		if (pr->id == r->cfg.id)
			continue;
		if (pr->state == RAFT_PR_SNAPSHOT) {
			send_snapshot_chunks(r, u, pr);
			continue;
		}
		if (pr->state == RAFT_PR_PROBE) {
			if (!pr->probe_sent && (pr->need_append || pr->match < r->last_index ||
			                        pr->commit_sent < r->commit))
				send_append(r, u, pr);
			continue;
		}
		/* REPLICATE: pipeline within the window */
		for (uint32_t k = 0; k < r->cfg.inflight_max; k++) {
			int want = pr->next <= r->last_index || pr->need_append ||
			           pr->commit_sent < r->commit;
			if (!want || inflight_full(r, pr) || pr->state != RAFT_PR_REPLICATE)
				break;
			if (!send_append(r, u, pr))
				break;
		}
	}
}

int raft__leader_appends_due(const struct raft *r)
{
	for (uint32_t i = 0; i < r->n_prs; i++) {
		const struct raft_progress *pr = &r->prs[i];
		if (pr->id == r->cfg.id)
			continue;
		if (pr->state == RAFT_PR_SNAPSHOT)
			return 1; /* chunks go out under their own flow control */
		if (pr->state == RAFT_PR_PROBE) {
			if (!pr->probe_sent && (pr->need_append || pr->match < r->last_index ||
			                        pr->commit_sent < r->commit))
				return 1;
			continue;
		}
		if ((pr->next <= r->last_index || pr->need_append || pr->commit_sent < r->commit) &&
		    !inflight_full(r, pr))
			return 1;
	}
	return 0;
}

void raft__leader_heartbeat_all(struct raft *r, struct raft_update *u, uint8_t flags)
{
	ASSERT(r->role == RAFT_LEADER);
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_HEARTBEAT;
	m.term = r->term;
	m.ctx = r->read_round;
	m.flags = flags;
	for (uint32_t i = 0; i < r->n_prs; i++) {
		const struct raft_progress *pr = &r->prs[i];
		if (pr->id == r->cfg.id)
			continue;
		m.to = pr->id;
		/* never tell a follower to commit past what we know it holds */
		m.commit = pr->match < r->commit ? pr->match : r->commit;
		raft__send(r, u, &m);
	}
}

/* ---- quiescence ----------------------------------------------------------------------------- */

static int can_quiesce(const struct raft *r)
{
	if (!r->cfg.quiesce || r->transferee || r->n_reads || !committed_in_term(r))
		return 0;
	if (r->commit != r->last_index || r->stable != r->last_index ||
	    r->pending_conf_index > r->commit)
		return 0;
	for (uint32_t i = 0; i < r->n_prs; i++) {
		const struct raft_progress *pr = &r->prs[i];
		if (pr->id == r->cfg.id)
			continue;
		if (pr->match != r->last_index || pr->commit_known != r->commit ||
		    !pr->recent_active || pr->state == RAFT_PR_SNAPSHOT)
			return 0;
	}
	return 1;
}

/* ---- ticks -------------------------------------------------------------------------------- */

void raft__leader_tick(struct raft *r, struct raft_update *u)
{
	ASSERT(r->role == RAFT_LEADER);
	if (r->quiesced)
		return;
	r->heartbeat_elapsed++;
	r->election_elapsed++;
	if (r->election_elapsed >= r->cfg.election_ticks) {
		r->election_elapsed = 0;
		if (r->cfg.check_quorum) {
			const struct raft_conf *c = raft__conf(r);
			uint32_t active = 0;
			for (uint32_t i = 0; i < r->n_prs; i++) {
				struct raft_progress *pr = &r->prs[i];
				if (raft_conf_is_voter(c, pr->id) &&
				    (pr->id == r->cfg.id || pr->recent_active))
					active++;
				if (pr->id != r->cfg.id)
					pr->recent_active = 0;
			}
			if (active < raft__quorum(r)) {
				raft__become_follower(r, r->term, 0);
				return;
			}
		}
		/* a transfer that did not finish within an election timeout is over */
		r->transferee = 0;
	}
	if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		if (can_quiesce(r)) {
			raft__leader_heartbeat_all(r, u, RAFT_MSG_F_QUIESCE);
			r->quiesced = 1;
		} else {
			raft__leader_heartbeat_all(r, u, 0);
		}
	}
}

/* ---- reads -------------------------------------------------------------------------------- */

static void read_deliver(struct raft *r, struct raft_update *u, const struct raft_read *rd,
                         int status)
{
	if (rd->from == r->cfg.id) {
		raft__ready_read(r, rd->ctx, rd->index, status);
		return;
	}
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_READ_INDEX_RESP;
	m.to = rd->from;
	m.ctx = rd->ctx;
	m.index = rd->index;
	m.flags = status ? RAFT_MSG_F_REJECT : 0;
	raft__send(r, u, &m);
}

void raft__leader_fail_reads(struct raft *r, struct raft_update *u)
{
	for (uint32_t i = 0; i < r->n_reads; i++)
		read_deliver(r, u, &r->reads[i], ERR_NOTLEADER);
	r->n_reads = 0;
}

void raft__leader_read_ready(struct raft *r, struct raft_update *u)
{
	ASSERT(r->role == RAFT_LEADER);
	if (r->n_reads == 0)
		return;
	/* reads that arrived before our term's first commit get an index and a round now */
	int new_round = 0;
	if (committed_in_term(r)) {
		for (uint32_t i = 0; i < r->n_reads; i++) {
			if (r->reads[i].index == 0) {
				if (!new_round)
					r->read_round++;
				new_round = 1;
				r->reads[i].index = r->commit;
				r->reads[i].round = r->read_round;
			}
		}
	}
	if (new_round)
		raft__leader_heartbeat_all(r, u, 0);
	const struct raft_conf *c = raft__conf(r);
	uint32_t done = 0;
	for (; done < r->n_reads; done++) {
		const struct raft_read *rd = &r->reads[done];
		if (rd->index == 0)
			break;
		uint32_t acks = 0;
		for (uint32_t i = 0; i < r->n_prs; i++) {
			const struct raft_progress *pr = &r->prs[i];
			if (raft_conf_is_voter(c, pr->id) &&
			    (pr->id == r->cfg.id || pr->read_acked >= rd->round))
				acks++;
		}
		if (acks < raft__quorum(r))
			break;
		read_deliver(r, u, rd, 0);
	}
	if (done > 0) {
		memmove(&r->reads[0], &r->reads[done], (r->n_reads - done) * sizeof(r->reads[0]));
		r->n_reads -= done;
	}
}

int raft__leader_read(struct raft *r, struct raft_update *u, uint64_t ctx, uint64_t from)
{
	ASSERT(r->role == RAFT_LEADER);
	if (r->n_reads == LIMIT_RAFT_READS_PENDING)
		return ERR_AGAIN;
	raft__unquiesce(r, u);
	struct raft_read *rd = &r->reads[r->n_reads++];
	memset(rd, 0, sizeof(*rd));
	rd->ctx = ctx;
	rd->from = from;
#ifdef REGATTA_CANARY_READINDEX_NO_CONFIRM
	/* planted bug: answer with our commit index without confirming we are still leader */
	rd->index = r->commit ? r->commit : 1;
	rd->round = 0;
	read_deliver(r, u, rd, 0);
	r->n_reads--;
	return 0;
#endif
	if (committed_in_term(r)) {
		rd->index = r->commit;
		rd->round = ++r->read_round;
		raft__leader_heartbeat_all(r, u, 0);
	}
	raft__leader_read_ready(r, u); /* a single voter confirms at once */
	return 0;
}

/* ---- proposals, membership, transfer -------------------------------------------------------- */

int raft__leader_propose(struct raft *r, struct raft_update *u, uint8_t type, const uint8_t *data,
                         uint32_t len)
{
	ASSERT(r->role == RAFT_LEADER);
	if (r->transferee)
		return ERR_BUSY;
	if (r->term_start == 0)
		return ERR_AGAIN; /* the no-op of our term is not in the log yet */
	int rc = raft__log_append(r, r->term, type, data, len);
	if (rc)
		return rc;
	raft__unquiesce(r, u);
	u->proposed_index = r->last_index;
	u->proposed_term = r->term;
	return 0;
}

int raft__leader_conf_change(struct raft *r, struct raft_update *u, uint8_t type, uint64_t id)
{
	ASSERT(r->role == RAFT_LEADER);
	if (r->transferee || !committed_in_term(r) || r->pending_conf_index > r->commit ||
	    !raft__conf_has_room(r))
		return ERR_BUSY;
	struct raft_conf next = *raft__conf(r);
	int rc = raft_conf_apply_change(&next, (enum raft_conf_change_type)type, id);
	if (rc)
		return rc;
	uint8_t buf[RAFT_CONF_ENCODED_MAX];
	uint32_t len = raft_conf_encode(&next, buf);
	rc = raft__leader_propose(r, u, RAFT_ENTRY_CONF, buf, len);
	if (rc)
		return rc;
	r->pending_conf_index = r->last_index;
	raft__conf_push(r, r->last_index, &next); /* effective on append (single-server change) */
	return 0;
}

static void send_timeout_now(struct raft *r, struct raft_update *u, uint64_t to)
{
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_TIMEOUT_NOW;
	m.to = to;
	m.term = r->term;
	raft__send(r, u, &m);
}

int raft__leader_transfer(struct raft *r, struct raft_update *u, uint64_t to)
{
	ASSERT(r->role == RAFT_LEADER);
	if (to == r->cfg.id || !raft__is_voter(r, to))
		return ERR_INVAL;
	if (r->transferee == to)
		return 0;
	if (r->transferee)
		return ERR_BUSY;
	raft__unquiesce(r, u);
	r->transferee = to;
	r->election_elapsed = 0; /* the transfer is abandoned after one election timeout */
	struct raft_progress *pr = raft__progress(r, to);
	ASSERT(pr != NULL);
	if (pr->match == r->last_index)
		send_timeout_now(r, u, to);
	else
		pr->need_append = 1;
	return 0;
}

/* ---- receiving ------------------------------------------------------------------------------ */

/* The largest index <= index whose term is <= term (etcd's findConflictByTerm). */
uint64_t raft__find_conflict_by_term(const struct raft *r, uint64_t index, uint64_t term)
{
	if (index > r->last_index)
		index = r->last_index;
	for (uint64_t i = index;; i--) {
		int ok;
		uint64_t t = raft__log_term(r, i, &ok);
		if (!ok || t <= term || i == 0)
			return i;
	}
}

static void handle_app_resp(struct raft *r, struct raft_update *u, struct raft_progress *pr,
                            const struct raft_message *m)
{
	pr->recent_active = 1;
	if (m->flags & RAFT_MSG_F_REJECT) {
		if (m->index == 0 && m->hint == 0 && m->log_term == 0)
			return; /* a stale-term nudge with nothing to say about the log */
		uint64_t probe = m->hint;
		if (m->log_term > 0)
			probe = raft__find_conflict_by_term(r, m->hint, m->log_term);
		uint64_t next = m->index < probe + 1 ? m->index : probe + 1;
		if (next < pr->match + 1)
			next = pr->match + 1;
		if (pr->state == RAFT_PR_REPLICATE) {
			if (m->index <= pr->match)
				return; /* stale */
			become_probe(pr);
			pr->next = next;
		} else if (pr->state == RAFT_PR_PROBE) {
			if (m->index + 1 != pr->next)
				return; /* not the answer to our outstanding probe */
			pr->next = next;
			pr->probe_sent = 0;
		}
		return;
	}
	if (m->index > r->last_index)
		return; /* cannot match more than we have (a bug elsewhere or a forged reply) */
	if (m->index > pr->match) {
		pr->match = m->index;
		if (pr->next <= pr->match)
			pr->next = pr->match + 1;
		inflight_free_to(r, pr, pr->match);
		if (pr->state == RAFT_PR_PROBE) {
			pr->state = RAFT_PR_REPLICATE;
			pr->next = pr->match + 1;
			inflight_reset(pr);
		} else if (pr->state == RAFT_PR_SNAPSHOT && pr->match >= pr->snap_index) {
			become_probe(pr);
		}
		raft__leader_maybe_commit(r, u);
	} else if (pr->state == RAFT_PR_PROBE) {
		pr->probe_sent = 0;
	}
	if (r->transferee == pr->id && pr->match == r->last_index)
		send_timeout_now(r, u, pr->id);
}

void raft__leader_recv(struct raft *r, struct raft_update *u, const struct raft_message *m)
{
	ASSERT(r->role == RAFT_LEADER);
	struct raft_progress *pr = raft__progress(r, m->from);
	switch (m->type) {
	case RAFT_MSG_APP_RESP:
		if (pr)
			handle_app_resp(r, u, pr, m);
		break;
	case RAFT_MSG_HEARTBEAT_RESP:
		if (!pr)
			break;
		pr->recent_active = 1;
		pr->probe_sent = 0;
		pr->commit_known = m->commit;
		if (pr->match < r->last_index)
			pr->need_append = 1;
		if (pr->state == RAFT_PR_REPLICATE && inflight_full(r, pr))
			inflight_free_first(r, pr);
		if (pr->state == RAFT_PR_SNAPSHOT) {
			/* no acknowledgement since the last heartbeat reply: chunks were lost,
			 * resend */
			if (pr->snap_acked == pr->snap_hb_acked)
				pr->snap_sent = pr->snap_acked;
			pr->snap_hb_acked = pr->snap_acked;
		}
		if (m->ctx > pr->read_acked && m->ctx <= r->read_round) {
			pr->read_acked = m->ctx;
			raft__leader_read_ready(r, u);
		}
		break;
	case RAFT_MSG_SNAP_RESP:
		if (!pr || pr->state != RAFT_PR_SNAPSHOT || m->index != pr->snap_index)
			break;
		pr->recent_active = 1;
		if (m->offset > pr->snap_size)
			break;
		if (m->flags & RAFT_MSG_F_REJECT) { /* "I have exactly this much": resume there */
			pr->snap_acked = m->offset;
			pr->snap_sent = m->offset;
		} else if (m->offset > pr->snap_acked) {
			pr->snap_acked = m->offset;
			if (pr->snap_sent < pr->snap_acked)
				pr->snap_sent = pr->snap_acked;
		}
		break;
	case RAFT_MSG_PROP:
		if (r->transferee)
			break; /* dropped: the forwarding node's client retries */
		for (uint32_t i = 0; i < m->n_entries; i++) {
			const struct raft_entry *e = &m->entries[i];
			if (raft__leader_propose(r, u, RAFT_ENTRY_NORMAL, e->data, e->len) != 0)
				break;
		}
		u->proposed_index = 0; /* not ours to report */
		u->proposed_term = 0;
		break;
	case RAFT_MSG_READ_INDEX:
		if (raft__leader_read(r, u, m->ctx, m->from) != 0) {
			struct raft_read rd = {.ctx = m->ctx, .from = m->from};
			read_deliver(r, u, &rd, ERR_AGAIN);
		}
		break;
	default:
		/* APP/HEARTBEAT/SNAP from another leader of our term would break Election Safety;
		 * the simulator's checker reports that, the core just ignores the message */
		break;
	}
}
