/*
 * test_replication.c — Raft Figure 2 "AppendEntries RPC" receiver rules 1-5, the leader rules
 * (nextIndex/matchIndex, retry on inconsistency, the commit rule for current-term entries only,
 * Figure 8), "apply only committed entries", durability before acknowledgement, flow control
 * (probe/replicate/inflight window) and forwarding of proposals from followers.
 */
#include "helper_raft.h"

#include <criterion/criterion.h>
#include <string.h>

static struct th_cluster C;

static void teardown(void)
{
	th_free(&C);
}

TestSuite(raft_replication, .fini = teardown);

static void one_entry_per_msg(struct raft_config *cfg, uint64_t id)
{
	(void)id;
	cfg->msg_bytes_max = 1; /* every MsgApp carries exactly one entry */
}

/* Win an election delivering only election traffic; the new leader's MsgApps are lost. */
static int campaign_votes_only(uint64_t id)
{
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	cr_assert_eq(th_step(&C, id, &ev), 0);
	while (C.nodes[id].r.role != RAFT_LEADER &&
	       (th_deliver_one(&C, 0, 0, RAFT_MSG_PREVOTE) ||
	        th_deliver_one(&C, 0, 0, RAFT_MSG_PREVOTE_RESP) ||
	        th_deliver_one(&C, 0, 0, RAFT_MSG_VOTE) ||
	        th_deliver_one(&C, 0, 0, RAFT_MSG_VOTE_RESP)))
		;
	th_drop(&C, 0);
	return C.nodes[id].r.role == RAFT_LEADER;
}

static uint64_t term_at(uint64_t id, uint64_t index)
{
	return raft_term_at(&C.nodes[id].r, index);
}

/* Leaders: a client command is appended, replicated, committed and applied everywhere. */
Test(raft_replication, propose_commit_apply)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(th_propose(&C, 1, "hello"), 0);
	uint64_t idx = C.nodes[1].proposed_index;
	cr_assert_eq(idx, 2, "the new leader's no-op is index 1");
	th_deliver(&C);
	th_tick(&C, 1, 2); /* a heartbeat tells followers the new commit */
	th_deliver(&C);
	for (uint64_t id = 1; id <= 3; id++) {
		struct raft_status s = th_status(&C, id);
		cr_assert_eq(s.commit, 2, "node %lu", (unsigned long)id);
		cr_assert_eq(C.nodes[id].n_applied, 2);
		cr_assert_eq(C.nodes[id].applied[1], 2);
		cr_assert_eq(C.nodes[id].applied_type[0], RAFT_ENTRY_NOOP);
		cr_assert_eq(C.nodes[id].st.log[1].len, 5);
		cr_assert_eq(memcmp(C.nodes[id].st.log[1].data, "hello", 5), 0);
	}
}

/* AppendEntries 2: reject when prevLogIndex/prevLogTerm do not match; leaders back up and retry. */
Test(raft_replication, mismatch_rejected_and_leader_backs_up)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	th_isolate(&C, 3, 1);
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(th_propose(&C, 1, "e"), 0);
		th_deliver(&C);
	}
	th_drop(&C, 0);
	th_isolate(&C, 3, 0);
	/* the window to 3 is full of lost MsgApps; a heartbeat reply frees a slot and the next
	 * MsgApp starts past what 3 holds */
	th_tick(&C, 1, 2);
	cr_assert(th_deliver_one(&C, 1, 3, RAFT_MSG_HEARTBEAT));
	cr_assert(th_deliver_one(&C, 3, 1, RAFT_MSG_HEARTBEAT_RESP));
	const struct raft_message *m = th_find(&C, 1, 3, RAFT_MSG_APP);
	cr_assert_not_null(m);
	cr_assert_gt(m->index, th_status(&C, 3).last_index);
	th_deliver_one(&C, 1, 3, RAFT_MSG_APP);
	const struct raft_message *r = th_find(&C, 3, 1, RAFT_MSG_APP_RESP);
	cr_assert_not_null(r);
	cr_assert(r->flags & RAFT_MSG_F_REJECT);
	cr_assert_eq(r->hint, 1, "the follower's hint is its last index");
	th_deliver(&C);
	th_tick(&C, 1, 2);
	th_deliver(&C);
	cr_assert_eq(th_status(&C, 3).last_index, th_status(&C, 1).last_index);
	cr_assert_eq(th_status(&C, 3).commit, th_status(&C, 1).commit);
}

/* AppendEntries 3: a conflicting entry and all that follow it are deleted. */
Test(raft_replication, conflicting_suffix_truncated)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1)); /* term 1, index 1 committed */
	th_isolate(&C, 1, 1);
	cr_assert_eq(th_propose(&C, 1, "lost-a"), 0);
	cr_assert_eq(th_propose(&C, 1, "lost-b"), 0);
	th_drop(&C, 0);
	cr_assert_eq(th_status(&C, 1).last_index, 3);
	th_tick(&C, 3, 12); /* node 3's lease on leader 1 expires */
	cr_assert(th_campaign(&C, 2));
	cr_assert_eq(th_propose(&C, 2, "kept"), 0);
	th_deliver(&C);
	th_isolate(&C, 1, 0);
	th_tick(&C, 2, 2);
	th_deliver(&C);
	struct raft_status s = th_status(&C, 1);
	cr_assert_eq(s.role, RAFT_FOLLOWER);
	cr_assert_eq(s.last_index, 3);
	cr_assert_eq(term_at(1, 2), 2, "index 2 now holds the new leader's no-op");
	cr_assert_eq(term_at(1, 3), 2);
	cr_assert_eq(C.nodes[1].st.n, 3);
	cr_assert_eq(memcmp(C.nodes[1].st.log[2].data, "kept", 4), 0,
	             "storage was truncated and rewritten");
}

/* AppendEntries 4: entries already in the log are not appended again (retransmission). */
Test(raft_replication, duplicate_append_is_idempotent)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(th_propose(&C, 1, "x"), 0);
	const struct raft_message *m = th_find(&C, 1, 2, RAFT_MSG_APP);
	cr_assert_not_null(m);
	struct raft_message copy = *m;
	struct raft_entry ents[4];
	memcpy(ents, m->entries, m->n_entries * sizeof(ents[0]));
	char payload[8] = "x";
	for (uint32_t i = 0; i < copy.n_entries; i++)
		if (ents[i].len)
			ents[i].data = (const uint8_t *)payload;
	copy.entries = ents;
	th_deliver(&C);
	struct raft_status before = th_status(&C, 2);
	struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &copy};
	cr_assert_eq(th_step(&C, 2, &ev), 0);
	struct raft_status after = th_status(&C, 2);
	cr_assert_eq(after.last_index, before.last_index);
	cr_assert_eq(C.nodes[2].st.n, before.last_index);
}

/* AppendEntries 5: commitIndex = min(leaderCommit, index of last new entry). */
Test(raft_replication, follower_commit_bounded_by_last_new_entry)
{
	th_init(&C, 3, 3);
	th_auto_persist(&C, 1);
	struct raft_entry e[2] = {{.term = 1, .index = 1, .type = RAFT_ENTRY_NOOP},
	                          {.term = 1,
	                           .index = 2,
	                           .type = RAFT_ENTRY_NORMAL,
	                           .len = 1,
	                           .data = (const uint8_t *)"z"}};
	struct raft_message m = {.type = RAFT_MSG_APP,
	                         .group_id = 7,
	                         .from = 1,
	                         .to = 2,
	                         .term = 1,
	                         .index = 0,
	                         .log_term = 0,
	                         .commit = 50,
	                         .entries = e,
	                         .n_entries = 2};
	struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &m};
	cr_assert_eq(th_step(&C, 2, &ev), 0);
	cr_assert_eq(th_status(&C, 2).commit, 2);
	m.commit = 1;
	m.n_entries = 0;
	m.index = 2;
	m.log_term = 1;
	cr_assert_eq(th_step(&C, 2, &ev), 0);
	cr_assert_eq(th_status(&C, 2).commit, 2, "commit never moves back");
}

/* Durability: a follower acknowledges entries only after they are persisted. */
Test(raft_replication, ack_waits_for_fsync)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	th_auto_persist(&C, 0);
	cr_assert_eq(th_propose(&C, 1, "d"), 0);
	th_deliver_one(&C, 1, 2, RAFT_MSG_APP);
	cr_assert_eq(th_count(&C, 2, 1, RAFT_MSG_APP_RESP), 0, "acknowledged before fsync");
	th_persist(&C, 2);
	const struct raft_message *r = th_find(&C, 2, 1, RAFT_MSG_APP_RESP);
	cr_assert_not_null(r);
	cr_assert_eq(r->index, 2);
}

/* The leader counts its own log only up to what it persisted. */
Test(raft_replication, leader_counts_itself_after_fsync)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	th_auto_persist(&C, 0);
	th_isolate(&C, 3, 1);
	cr_assert_eq(th_propose(&C, 1, "d"), 0);
	th_deliver_one(&C, 1, 2, RAFT_MSG_APP);
	th_persist(&C, 2);
	th_deliver_one(&C, 2, 1, RAFT_MSG_APP_RESP);
	/* node 2 has index 2 durably, the leader does not: 1 of 3 is not a quorum */
	cr_assert_eq(th_status(&C, 1).commit, 1);
	th_persist(&C, 1);
	cr_assert_eq(th_status(&C, 1).commit, 2);
	cr_assert_eq(C.nodes[1].n_applied, 2, "applied once committed and durable");
}

/* Figure 2 commit rule and Figure 8: an entry of an earlier term is never committed by counting
 * replicas; it commits only together with an entry of the leader's term. */
Test(raft_replication, figure8_old_term_not_committed_by_counting)
{
	th_init_cfg(&C, 5, 5, one_entry_per_msg);
	cr_assert(th_elect(&C, 1));              /* term 1, no-op at 1 */
	cr_assert_eq(th_propose(&C, 1, "x"), 0); /* index 2, everywhere */
	th_deliver(&C);
	/* (a) index 3 of term 1 reaches only node 2 */
	for (uint64_t i = 3; i <= 5; i++)
		C.cut[1][i] = 1;
	cr_assert_eq(th_propose(&C, 1, "y"), 0);
	th_deliver(&C);
	cr_assert_eq(term_at(2, 3), 1);
	/* (b) nodes 1, 2 cut off; node 5 wins term 2 with 3 and 4, appends its no-op at 3, cut off
	 */
	th_isolate(&C, 1, 1);
	th_isolate(&C, 2, 1);
	for (uint64_t i = 1; i <= 5; i++)
		th_tick(&C, i, 25); /* node 1 loses its quorum and steps down; leases expire */
	th_drop(&C, 0);
	cr_assert_eq(th_status(&C, 1).role != RAFT_LEADER, 1);
	cr_assert(campaign_votes_only(5));
	cr_assert_eq(term_at(5, 3), 2);
	cr_assert_eq(term_at(3, 3), 0, "node 5's no-op went nowhere");
	/* (c) node 5 gone; node 1 wins term 3 with 2, 3 and 4 */
	th_isolate(&C, 5, 1);
	th_isolate(&C, 1, 0);
	th_isolate(&C, 2, 0);
	th_isolate(&C, 5, 1);
	for (uint64_t i = 1; i <= 4; i++)
		th_tick(&C, i, 12);
	th_drop(&C, 0);
	/* node 1 first learns term 2 (its pre-vote is refused), then wins term 3 */
	cr_assert_eq(th_campaign(&C, 1), 0);
	cr_assert_eq(th_status(&C, 1).term, 2);
	th_drop(&C, 0);
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	while (th_status(&C, 1).role != RAFT_LEADER && C.n_queue > 0)
		th_deliver_one(&C, 0, 0, 0);
	cr_assert_eq(th_status(&C, 1).role, RAFT_LEADER);
	cr_assert_eq(th_status(&C, 1).term, 3);
	cr_assert_eq(term_at(1, 4), 3, "the new leader's no-op");
	/* the leader's MsgApps reach node 3 with index 3 only (a small batch) and node 2 with
	 * nothing new: both acknowledge index 3, so {1, 2, 3} hold index 3 of term 1 while the
	 * term-3 no-op is on node 1 alone */
	th_drop(&C, 0);
	struct raft_entry y = {.term = 1,
	                       .index = 3,
	                       .type = RAFT_ENTRY_NORMAL,
	                       .len = 1,
	                       .data = (const uint8_t *)"y"};
	struct raft_message to3 = {.type = RAFT_MSG_APP,
	                           .group_id = 7,
	                           .from = 1,
	                           .to = 3,
	                           .term = 3,
	                           .index = 2,
	                           .log_term = 1,
	                           .commit = 2,
	                           .entries = &y,
	                           .n_entries = 1};
	struct raft_message to2 = {.type = RAFT_MSG_APP,
	                           .group_id = 7,
	                           .from = 1,
	                           .to = 2,
	                           .term = 3,
	                           .index = 3,
	                           .log_term = 1,
	                           .commit = 2};
	struct raft_event e3 = {.type = RAFT_EVENT_RECEIVE, .msg = &to3};
	struct raft_event e2 = {.type = RAFT_EVENT_RECEIVE, .msg = &to2};
	cr_assert_eq(th_step(&C, 3, &e3), 0);
	cr_assert_eq(th_step(&C, 2, &e2), 0);
	cr_assert(th_deliver_one(&C, 3, 1, RAFT_MSG_APP_RESP));
	cr_assert(th_deliver_one(&C, 2, 1, RAFT_MSG_APP_RESP));
	int seen_old_quorum = 1;
	cr_assert_eq(term_at(3, 3), 1);
	cr_assert_eq(th_status(&C, 1).commit, 2,
	             "index 3 of term 1 committed by counting replicas");
	/* once the term-3 no-op is on a quorum, both commit */
	th_drop(&C, 0);
	for (int k = 0; k < 4; k++) {
		th_tick(&C, 1, 2);
		th_deliver(&C);
	}
	cr_assert(seen_old_quorum, "the trace reached the Figure 8 situation");
	cr_assert_geq(th_status(&C, 1).commit, 4);
}

/* Flow control: a follower in replicate state has at most inflight_max MsgApps outstanding. */
Test(raft_replication, inflight_window_bounds_pipelining)
{
	th_init_cfg(&C, 3, 3, one_entry_per_msg);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(th_propose(&C, 1, "warm"), 0);
	th_deliver(&C);
	th_drop(&C, 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(th_propose(&C, 1, "p"), 0);
	cr_assert_eq(th_count(&C, 1, 2, RAFT_MSG_APP), 4, "inflight_max is 4");
	th_deliver(&C);
	th_tick(&C, 1, 2);
	th_deliver(&C);
	cr_assert_eq(th_status(&C, 2).last_index, th_status(&C, 1).last_index);
}

/* Probe state: while the follower's position is unknown, one MsgApp at a time. */
Test(raft_replication, probe_sends_one_at_a_time)
{
	th_init_cfg(&C, 3, 3, one_entry_per_msg);
	th_auto_persist(&C, 1);
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	while (th_status(&C, 1).role != RAFT_LEADER && C.n_queue > 0)
		th_deliver_one(&C, 0, 0, 0);
	cr_assert_eq(th_status(&C, 1).role, RAFT_LEADER);
	cr_assert_eq(th_count(&C, 1, 3, RAFT_MSG_APP), 1, "the first probe");
	th_drop(&C, 0); /* lost */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(th_propose(&C, 1, "q"), 0);
	cr_assert_eq(th_count(&C, 1, 3, RAFT_MSG_APP), 0, "a probe is outstanding: wait");
	th_tick(&C, 1, 2);
	cr_assert(th_deliver_one(&C, 1, 3, RAFT_MSG_HEARTBEAT));
	cr_assert(th_deliver_one(&C, 3, 1, RAFT_MSG_HEARTBEAT_RESP));
	cr_assert_eq(th_count(&C, 1, 3, RAFT_MSG_APP), 1,
	             "a heartbeat reply allows one more probe");
}

/* Proposals on a follower are forwarded to the leader, which appends them. */
Test(raft_replication, follower_forwards_proposals)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(th_propose(&C, 3, "from-3"), 0);
	const struct raft_message *m = th_find(&C, 3, 1, RAFT_MSG_PROP);
	cr_assert_not_null(m);
	cr_assert_eq(m->n_entries, 1);
	th_deliver(&C);
	th_tick(&C, 1, 2);
	th_deliver(&C);
	cr_assert_eq(th_status(&C, 3).commit, 2);
	cr_assert_eq(memcmp(C.nodes[3].st.log[1].data, "from-3", 6), 0);
}

Test(raft_replication, proposal_errors)
{
	th_init(&C, 3, 3);
	cr_assert_eq(th_propose(&C, 1, "nobody leads"), ERR_NOTLEADER);
	cr_assert(th_elect(&C, 1));
	static uint8_t big[LIMIT_RAFT_ENTRY_BYTES + 1];
	struct raft_event ev = {.type = RAFT_EVENT_PROPOSE};
	ev.propose.data = big;
	ev.propose.len = sizeof(big);
	cr_assert_eq(th_step(&C, 1, &ev), ERR_TOOBIG);
	cr_assert_eq(th_status(&C, 1).last_index, 1, "a refused proposal changes nothing");
}

/* Backpressure: a full unstable tail refuses proposals instead of growing. */
Test(raft_replication, full_tail_is_backpressure)
{
	th_init(&C, 1, 1);
	cr_assert(th_elect(&C, 1));
	th_auto_persist(&C, 0);
	int rc = 0;
	int accepted = 0;
	for (int i = 0; i < 200 && rc == 0; i++) {
		rc = th_propose(&C, 1, "t");
		accepted += rc == 0;
	}
	cr_assert_eq(rc, ERR_AGAIN);
	cr_assert_eq(accepted, 64, "cache_entries is 64 (the persisted no-op was evicted)");
	th_persist(&C, 1);
	cr_assert_eq(th_propose(&C, 1, "t"), 0, "persisted entries can be evicted");
}

/* A malformed message is refused and changes nothing. */
Test(raft_replication, malformed_message_refused)
{
	th_init(&C, 3, 3);
	struct raft_entry e = {.term = 5, .index = 9, .type = RAFT_ENTRY_NORMAL};
	struct raft_message m = {.type = RAFT_MSG_APP,
	                         .group_id = 7,
	                         .from = 1,
	                         .to = 2,
	                         .term = 1,
	                         .index = 0,
	                         .entries = &e,
	                         .n_entries = 1};
	struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &m};
	cr_assert_eq(th_step(&C, 2, &ev), ERR_PROTO, "entry index does not follow prev index");
	m.group_id = 8;
	cr_assert_eq(th_step(&C, 2, &ev), ERR_PROTO);
	cr_assert_eq(th_status(&C, 2).term, 0);
}

static void batch_appends(struct raft_config *cfg, uint64_t id)
{
	(void)id;
	cfg->batch_appends = 1;
}

/* batch_appends: proposals of one turn (local and forwarded) reach each follower in one MsgApp
 * when the turn ends (RAFT_EVENT_FLUSH), and are handed to storage in one persist record; the
 * rules are otherwise the same (durable before acknowledged, commit by quorum). */
Test(raft_replication, batch_appends_one_msgapp_per_follower_per_turn)
{
	th_init_cfg(&C, 3, 3, batch_appends);
	cr_assert(th_elect(&C, 1));
	th_deliver(&C);
	uint64_t last = C.nodes[1].r.last_index;
	C.nodes[1].hold_flush = 1;
	C.nodes[1].auto_persist = 0;
	uint64_t handed = C.nodes[1].seq_handed;
	cr_assert_eq(th_propose(&C, 1, "a"), 0);
	cr_assert_eq(th_propose(&C, 1, "b"), 0);
	cr_assert_eq(th_propose(&C, 2, "c"), 0); /* forwarded by a follower */
	th_deliver_one(&C, 2, 1, RAFT_MSG_PROP);
	cr_assert_eq(C.nodes[1].r.last_index, last + 3);
	cr_assert_eq(th_count(&C, 1, 0, RAFT_MSG_APP), 0, "nothing is sent before the turn ends");
	cr_assert_eq(C.nodes[1].seq_handed, handed, "nothing is handed to storage either");
	cr_assert(C.nodes[1].want_flush, "the update asked for a FLUSH");
	th_flush(&C, 1);
	for (uint64_t f = 2; f <= 3; f++) {
		cr_assert_eq(th_count(&C, 1, f, RAFT_MSG_APP), 1, "one MsgApp to node %lu", (unsigned long)f);
		cr_assert_eq(th_find(&C, 1, f, RAFT_MSG_APP)->n_entries, 3);
	}
	cr_assert_eq(C.nodes[1].seq_handed, handed + 1, "one persist record for the turn");
	th_deliver(&C); /* the followers persist and acknowledge; the leader has not synced */
	cr_assert_eq(th_status(&C, 1).commit, last + 3, "a quorum of followers is enough");
	th_persist(&C, 1);
	th_flush(&C, 1);
	C.nodes[1].hold_flush = 0;
	th_tick(&C, 1, 2);
	th_deliver(&C);
	for (uint64_t id = 1; id <= 3; id++)
		cr_assert_eq(th_status(&C, id).applied, last + 3, "node %lu", (unsigned long)id);
}
