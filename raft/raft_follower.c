/*
 * raft_follower.c — the receiving side of replication: AppendEntries (Figure 2 receiver rules
 * 1-5), heartbeats (commit and read-round echo, quiescence) and snapshot chunks (InstallSnapshot,
 * chunked and resumable), plus TimeoutNow and ReadIndex answers.
 *
 * Invariants kept here:
 *   - an entry that conflicts with a new one is deleted with everything after it, and never an
 *     entry at or below commit (asserted in raft__log_truncate);
 *   - commit only moves forward, and never past the last entry known to match the leader;
 *   - an acknowledgement (APP_RESP with an index, SNAP_RESP with an offset) is held until what it
 *     promises is durable;
 *   - a snapshot is installed only if it is newer than our commit and our log does not already
 *     hold its last entry; installing resets the log to start right after it.
 */
#include "raft/raft_impl.h"

#include "core/assert.h"

#include <string.h>

static void commit_to(struct raft *r, uint64_t index)
{
	if (index > r->last_index)
		index = r->last_index;
	if (index > r->commit) {
		r->commit = index;
		raft__conf_compact(r);
	}
}

/* Acknowledge that our log matches the leader's up to index (held until durable). */
static void ack_app(struct raft *r, struct raft_update *u, uint64_t to, uint64_t index,
                    uint64_t need_seq)
{
	struct raft_message m;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APP_RESP;
	m.to = to;
	m.term = r->term;
	m.index = index;
	raft__hold(r, u, &m, need_seq, index);
}

static void handle_append(struct raft *r, struct raft_update *u, const struct raft_message *m)
{
	if (m->index < r->commit) {
		ack_app(r, u, m->from, r->commit, raft__hs_seq_need(r));
		return;
	}
	if (!raft__log_match(r, m->index, m->log_term)) {
		/* Figure 2 rule 2; the hint lets the leader skip a whole term per round trip */
		uint64_t hint = m->index < r->last_index ? m->index : r->last_index;
		hint = raft__find_conflict_by_term(r, hint, m->log_term);
		struct raft_message resp;
		memset(&resp, 0, sizeof(resp));
		resp.type = RAFT_MSG_APP_RESP;
		resp.flags = RAFT_MSG_F_REJECT;
		resp.to = m->from;
		resp.term = r->term;
		resp.index = m->index;
		resp.hint = hint;
		resp.log_term = raft_term_at(r, hint);
		raft__hold(r, u, &resp, raft__hs_seq_need(r), 0);
		return;
	}
	uint32_t i = 0;
	for (; i < m->n_entries; i++) { /* rule 3: skip what we have, cut at the first conflict */
		const struct raft_entry *e = &m->entries[i];
		if (e->index > r->last_index)
			break;
		if (!raft__log_match(r, e->index, e->term)) {
			raft__log_truncate(r, e->index);
			break;
		}
	}
	uint32_t accepted = i;
	for (; i < m->n_entries; i++) { /* rule 4: append new entries, as many as fit */
		const struct raft_entry *e = &m->entries[i];
		ASSERT(e->index == r->last_index + 1);
		struct raft_conf c;
		if (e->type == RAFT_ENTRY_CONF) {
			if (raft_conf_decode(e->data, e->len, &c) != 0 || !raft__conf_has_room(r))
				break; /* a corrupt conf entry is refused; the leader keeps retrying
				        */
		}
		if (raft__log_append(r, e->term, e->type, e->data, e->len) != 0)
			break; /* tail or pool full: acknowledge what we took */
		if (e->type == RAFT_ENTRY_CONF)
			raft__conf_push(r, e->index, &c);
		accepted++;
	}
	uint64_t last_new = m->index + accepted;
	commit_to(r, m->commit < last_new ? m->commit : last_new); /* rule 5 */
	ack_app(r, u, m->from, last_new, raft__hs_seq_need(r));
}

static void handle_heartbeat(struct raft *r, struct raft_update *u, const struct raft_message *m)
{
	commit_to(r, m->commit); /* the leader sends min(our match, its commit) */
	if ((m->flags & RAFT_MSG_F_QUIESCE) && r->cfg.quiesce && r->commit == r->last_index &&
	    m->commit == r->last_index)
		r->quiesced = 1;
	else if (m->flags & RAFT_MSG_F_QUIESCE)
		raft__unquiesce(r, u);
	struct raft_message resp;
	memset(&resp, 0, sizeof(resp));
	resp.type = RAFT_MSG_HEARTBEAT_RESP;
	resp.to = m->from;
	resp.term = r->term;
	resp.ctx = m->ctx;
	resp.index = r->last_index;
	resp.commit = r->commit;
	raft__send(r, u, &resp);
}

static void snap_resp(struct raft *r, struct raft_update *u, const struct raft_message *m,
                      uint64_t offset, int reject, uint64_t need_seq)
{
	struct raft_message resp;
	memset(&resp, 0, sizeof(resp));
	resp.type = RAFT_MSG_SNAP_RESP;
	resp.to = m->from;
	resp.term = r->term;
	resp.index = m->snap.index;
	resp.offset = offset;
	resp.flags = reject ? RAFT_MSG_F_REJECT : 0;
	raft__hold(r, u, &resp, need_seq, 0);
}

static void handle_snapshot(struct raft *r, struct raft_update *u, const struct raft_message *m)
{
	const struct raft_snapshot_meta *s = &m->snap;
	if (s->index <= r->commit) {
		ack_app(r, u, m->from, r->commit, raft__hs_seq_need(r));
		return;
	}
	if (raft__log_match(r, s->index, s->term)) {
		/* we hold its last entry: it is committed (it was applied on the leader) */
		commit_to(r, s->index);
		ack_app(r, u, m->from, s->index, raft__hs_seq_need(r));
		return;
	}
	int same = r->staging_active && r->staging.index == s->index && r->staging.term == s->term;
	if (m->offset == 0 &&
	    !same) { /* a new snapshot: offset 0 tells the caller to drop older staging */
		r->staging_active = 1;
		r->staging = *s;
		r->staging_next = 0;
	}
	if (!r->staging_active || r->staging.index != s->index || r->staging.term != s->term) {
		snap_resp(r, u, m, 0, 1, 0);
		return;
	}
	if (m->offset != r->staging_next) {
		/* a duplicate or a gap: tell the leader where we are (durable up to what we handed)
		 */
		snap_resp(r, u, m, r->staging_next, m->offset > r->staging_next, r->seq_handed);
		return;
	}
	if (r->chunk_pending || r->recs_count == LIMIT_RAFT_PERSIST_PENDING)
		return; /* cannot hand it out in this step (its bytes live only as long as the
		         * event): the leader resends it */
	r->chunk_pending = 1;
	r->chunk.meta = *s;
	r->chunk.offset = m->offset;
	r->chunk.data = m->data;
	r->chunk.len = m->len;
	r->chunk.last = (m->flags & RAFT_MSG_F_LAST) != 0;
	r->staging_next += m->len;
	if (!r->chunk.last) {
		snap_resp(r, u, m, r->staging_next, 0, r->seq_next);
		return;
	}
	/* the last chunk: install. The state machine becomes the snapshot; the log restarts after
	 * it. */
	r->staging_active = 0;
	r->install_pending = 1;
	r->snap = *s;
	r->snap_available = 1;
	raft__log_reset(r, s->index, s->term);
	r->commit = s->index;
	r->applied = s->index;
	raft__conf_reset(r, s->index, &s->conf);
	r->conf_applied = s->conf;
	ack_app(r, u, m->from, s->index, r->seq_next);
}

void raft__follower_recv(struct raft *r, struct raft_update *u, const struct raft_message *m)
{
	ASSERT(r->role != RAFT_LEADER);
	switch (m->type) {
	case RAFT_MSG_APP:
		r->leader = m->from;
		r->election_elapsed = 0;
		handle_append(r, u, m);
		break;
	case RAFT_MSG_HEARTBEAT:
		r->leader = m->from;
		r->election_elapsed = 0;
		handle_heartbeat(r, u, m);
		break;
	case RAFT_MSG_SNAP:
		r->leader = m->from;
		r->election_elapsed = 0;
		handle_snapshot(r, u, m);
		break;
	case RAFT_MSG_TIMEOUT_NOW:
		/* leader transfer: campaign at once, skipping pre-vote and leader stickiness */
		raft__campaign(r, u, 0, 1);
		break;
	case RAFT_MSG_READ_INDEX_RESP:
		raft__ready_read(r, m->ctx, m->index,
		                 (m->flags & RAFT_MSG_F_REJECT) ? ERR_NOTLEADER : 0);
		break;
	case RAFT_MSG_READ_INDEX: {
		struct raft_message resp;
		memset(&resp, 0, sizeof(resp));
		resp.type = RAFT_MSG_READ_INDEX_RESP;
		resp.to = m->from;
		resp.ctx = m->ctx;
		resp.flags = RAFT_MSG_F_REJECT;
		raft__send(r, u, &resp);
		break;
	}
	default:
		/* PROP without being leader: dropped (never re-forwarded, so no loops); stale
		 * replies from when we led: ignored */
		break;
	}
}
