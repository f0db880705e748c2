/*
 * test_election.c — Raft Figure 2 "RequestVote RPC" and "Rules for Servers" (terms, followers,
 * candidates), plus the thesis' pre-vote (§9.6) and check-quorum / leader stickiness.
 * Each test is one exact trace on the in-memory cluster of helper_raft.c.
 */
#include "helper_raft.h"

#include <criterion/criterion.h>

static struct th_cluster C;

static void teardown(void)
{
	th_free(&C);
}

TestSuite(raft_election, .fini = teardown);

/* Followers: an election timeout without hearing from a leader starts a (pre-)election. */
Test(raft_election, timeout_starts_prevote_without_changing_term)
{
	th_init(&C, 3, 3);
	th_tick(&C, 1, 20); /* >= 2 x election_ticks: the randomized timeout surely passed */
	struct raft_status s = th_status(&C, 1);
	cr_assert_eq(s.role, RAFT_PRE_CANDIDATE);
	cr_assert_eq(s.term, 0, "a pre-vote must not bump the term");
	const struct raft_message *m = th_find(&C, 1, 2, RAFT_MSG_PREVOTE);
	cr_assert_not_null(m);
	cr_assert_eq(m->term, 1);
}

/* Candidates: on conversion increment the term, vote for self, request votes; majority -> leader.
 */
Test(raft_election, candidate_increments_term_votes_self_and_wins_majority)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	struct raft_status s = th_status(&C, 1);
	cr_assert_eq(s.term, 1);
	cr_assert_eq(s.vote, 1);
	cr_assert_eq(C.nodes[1].st.hs.vote, 1, "the self-vote is persisted");
	cr_assert_eq(th_status(&C, 2).leader, 1);
	cr_assert_eq(th_status(&C, 3).leader, 1);
}

/* Persistent state is saved before responding: a vote goes out only after it is durable. */
Test(raft_election, vote_reply_held_until_hard_state_persisted)
{
	th_init(&C, 3, 3);
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	th_persist(&C, 1);
	th_deliver_one(&C, 1, 2, RAFT_MSG_PREVOTE);
	th_deliver_one(&C, 2, 1, RAFT_MSG_PREVOTE_RESP);
	cr_assert_eq(th_status(&C, 1).role, RAFT_CANDIDATE);
	cr_assert(th_deliver_one(&C, 1, 2, RAFT_MSG_VOTE));
	cr_assert_eq(th_status(&C, 2).vote, 1);
	cr_assert_eq(th_count(&C, 2, 1, RAFT_MSG_VOTE_RESP), 0, "vote sent before it was durable");
	th_persist(&C, 2);
	cr_assert_eq(th_count(&C, 2, 1, RAFT_MSG_VOTE_RESP), 1);
}

/* A candidate's own vote counts only once persisted (single voter: no leader before persist). */
Test(raft_election, own_vote_counts_after_persist)
{
	th_init(&C, 1, 1);
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	cr_assert_eq(th_status(&C, 1).role, RAFT_CANDIDATE);
	th_persist(&C, 1);
	cr_assert_eq(th_status(&C, 1).role, RAFT_LEADER);
}

/* RequestVote receiver 1: reply false if term < currentTerm. */
Test(raft_election, vote_rejected_for_older_term)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	cr_assert(th_elect(&C, 2)); /* term 2 */
	th_auto_persist(&C, 1);
	struct raft_message m = {.type = RAFT_MSG_VOTE,
	                         .group_id = 7,
	                         .from = 1,
	                         .to = 3,
	                         .term = 1,
	                         .index = 100,
	                         .log_term = 100};
	struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &m};
	cr_assert_eq(th_step(&C, 3, &ev), 0);
	cr_assert_eq(th_status(&C, 3).vote, 2);
	cr_assert_eq(th_status(&C, 3).term, 2);
}

/* RequestVote receiver 2: grant only if votedFor is null/candidate and the log is up to date. */
Test(raft_election, one_vote_per_term)
{
	th_init(&C, 3, 3);
	th_auto_persist(&C, 1);
	struct raft_message m = {
	    .type = RAFT_MSG_VOTE, .group_id = 7, .from = 1, .to = 3, .term = 5};
	struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &m};
	cr_assert_eq(th_step(&C, 3, &ev), 0);
	cr_assert_eq(th_status(&C, 3).vote, 1);
	m.from = 2;
	cr_assert_eq(th_step(&C, 3, &ev), 0);
	cr_assert_eq(th_status(&C, 3).vote, 1, "a second vote in the same term");
	const struct raft_message *r = th_find(&C, 3, 2, RAFT_MSG_VOTE_RESP);
	cr_assert_not_null(r);
	cr_assert(r->flags & RAFT_MSG_F_REJECT);
	/* the same candidate asking again gets the vote again (retransmission) */
	m.from = 1;
	cr_assert_eq(th_step(&C, 3, &ev), 0);
	r = th_find(&C, 3, 1, RAFT_MSG_VOTE_RESP);
	cr_assert_not_null(r);
	cr_assert_not(r->flags & RAFT_MSG_F_REJECT);
}

Test(raft_election, vote_requires_up_to_date_log)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(th_propose(&C, 1, "x"), 0);
	th_deliver(&C);
	/* node 3 asks with a log that ends before ours (index 1, term 1) */
	struct raft_message m = {.type = RAFT_MSG_VOTE,
	                         .group_id = 7,
	                         .from = 3,
	                         .to = 2,
	                         .term = 9,
	                         .index = 1,
	                         .log_term = 1,
	                         .flags = RAFT_MSG_F_TRANSFER};
	struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &m};
	cr_assert_eq(th_step(&C, 2, &ev), 0);
	struct raft_status s = th_status(&C, 2);
	cr_assert_eq(s.term, 9, "a higher term is adopted even when the vote is refused");
	cr_assert_eq(s.vote, 0);
	/* a higher last term wins regardless of length */
	m.term = 10;
	m.log_term = 2;
	cr_assert_eq(th_step(&C, 2, &ev), 0);
	cr_assert_eq(th_status(&C, 2).vote, 3);
}

/* All servers: a higher term in any RPC or reply converts to follower. */
Test(raft_election, higher_term_reply_deposes_leader)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	struct raft_message m = {
	    .type = RAFT_MSG_APP_RESP, .group_id = 7, .from = 2, .to = 1, .term = 4};
	struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &m};
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	struct raft_status s = th_status(&C, 1);
	cr_assert_eq(s.role, RAFT_FOLLOWER);
	cr_assert_eq(s.term, 4);
	cr_assert_eq(s.leader, 0);
}

/* A stale leader's AppendEntries gets a reply with our term so it steps down. */
Test(raft_election, stale_leader_is_told_the_new_term)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	cr_assert(th_elect(&C, 2));
	th_drop(&C, 0);
	struct raft_message m = {
	    .type = RAFT_MSG_APP, .group_id = 7, .from = 1, .to = 3, .term = 1};
	struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &m};
	cr_assert_eq(th_step(&C, 3, &ev), 0);
	const struct raft_message *r = th_find(&C, 3, 1, RAFT_MSG_APP_RESP);
	cr_assert_not_null(r);
	cr_assert_eq(r->term, 2);
	cr_assert_eq(th_status(&C, 3).leader, 2, "the stale message changed nothing");
}

/* Candidates: AppendEntries from a leader of the same term converts to follower. */
Test(raft_election, candidate_yields_to_leader_of_same_term)
{
	th_init(&C, 3, 3);
	th_auto_persist(&C, 1);
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	cr_assert_eq(th_step(&C, 2, &ev), 0);
	th_deliver_one(&C, 2, 1, RAFT_MSG_PREVOTE);
	th_deliver_one(&C, 1, 2, RAFT_MSG_PREVOTE_RESP);
	cr_assert_eq(th_status(&C, 2).role, RAFT_CANDIDATE);
	uint64_t term = th_status(&C, 2).term;
	th_drop(&C, 0);
	struct raft_message m = {
	    .type = RAFT_MSG_HEARTBEAT, .group_id = 7, .from = 3, .to = 2, .term = term};
	struct raft_event rv = {.type = RAFT_EVENT_RECEIVE, .msg = &m};
	cr_assert_eq(th_step(&C, 2, &rv), 0);
	cr_assert_eq(th_status(&C, 2).role, RAFT_FOLLOWER);
	cr_assert_eq(th_status(&C, 2).leader, 3);
}

/* Candidates: if the election times out, start a new one (a new term). */
Test(raft_election, split_vote_retries_in_new_term)
{
	th_init(&C, 3, 3);
	th_auto_persist(&C, 1);
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	th_deliver_one(&C, 1, 2, RAFT_MSG_PREVOTE);
	th_deliver_one(&C, 2, 1, RAFT_MSG_PREVOTE_RESP);
	cr_assert_eq(th_status(&C, 1).term, 1);
	th_drop(&C, 0); /* every vote request is lost */
	th_tick(&C, 1, 20);
	th_drop(&C, 0);
	struct raft_status s = th_status(&C, 1);
	cr_assert(s.role == RAFT_PRE_CANDIDATE || s.role == RAFT_CANDIDATE);
	cr_assert_eq(th_elect(&C, 1), 1);
	cr_assert_geq(th_status(&C, 1).term, 2);
}

/* Pre-vote: a partitioned node that keeps timing out does not inflate terms. */
Test(raft_election, prevote_keeps_isolated_node_term)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	for (uint32_t i = 1; i <= 3; i++)
		C.cut[i][3] = C.cut[3][i] = 1;
	for (int round = 0; round < 10; round++) {
		th_tick(&C, 3, 25);
		th_deliver(&C);
	}
	cr_assert_eq(th_status(&C, 3).term, 1, "pre-vote failed, so no term was spent");
	for (uint32_t i = 1; i <= 3; i++)
		C.cut[i][3] = C.cut[3][i] = 0;
	th_tick(&C, 1, 2); /* heartbeat */
	th_deliver(&C);
	cr_assert_eq(th_status(&C, 1).role, RAFT_LEADER, "the returning node did not disrupt");
	cr_assert_eq(th_status(&C, 3).leader, 1);
}

/* Check-quorum: a leader that hears from no quorum for an election timeout steps down. */
Test(raft_election, check_quorum_leader_steps_down)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	for (uint32_t i = 2; i <= 3; i++)
		C.cut[i][1] = 1;
	for (int k = 0; k < 25; k++) {
		th_tick(&C, 1, 1);
		th_deliver(&C);
	}
	cr_assert_eq(th_status(&C, 1).role, RAFT_FOLLOWER);
	cr_assert_eq(th_status(&C, 1).term, 1);
}

/* Leader stickiness: a follower that heard from its leader recently ignores vote requests. */
Test(raft_election, stickiness_ignores_disruptive_candidate)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	struct raft_message m = {.type = RAFT_MSG_VOTE,
	                         .group_id = 7,
	                         .from = 3,
	                         .to = 2,
	                         .term = 5,
	                         .index = 100,
	                         .log_term = 100};
	struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &m};
	cr_assert_eq(th_step(&C, 2, &ev), 0);
	cr_assert_eq(th_status(&C, 2).term, 1);
	cr_assert_eq(th_count(&C, 2, 3, RAFT_MSG_VOTE_RESP), 0);
}

/* Learners never campaign and are never asked for votes. */
Test(raft_election, learner_never_campaigns)
{
	th_init(&C, 3, 2);
	cr_assert(th_elect(&C, 1));
	struct raft_event ev = {.type = RAFT_EVENT_CONF_CHANGE};
	ev.conf_change.type = RAFT_CONF_ADD_LEARNER;
	ev.conf_change.id = 3;
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	th_deliver(&C);
	cr_assert(raft_conf_is_learner(raft_conf_current(&C.nodes[3].r), 3));
	th_tick(&C, 3, 100);
	cr_assert_eq(th_status(&C, 3).role, RAFT_FOLLOWER);
	cr_assert_eq(th_count(&C, 3, 0, RAFT_MSG_PREVOTE), 0);
	/* an election by node 2 asks only voters */
	th_drop(&C, 0);
	for (uint32_t i = 1; i <= 3; i++)
		C.cut[1][i] = C.cut[i][1] = 1;
	th_tick(&C, 2, 25);
	cr_assert_eq(th_count(&C, 2, 3, RAFT_MSG_PREVOTE), 0);
}

/* Restart: term and vote survive; a restarted node starts as follower and does not vote twice. */
Test(raft_election, restart_keeps_term_and_vote)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	th_restart(&C, 2);
	struct raft_status s = th_status(&C, 2);
	cr_assert_eq(s.term, 1);
	cr_assert_eq(s.vote, 1);
	cr_assert_eq(s.role, RAFT_FOLLOWER);
	struct raft_message m = {.type = RAFT_MSG_VOTE,
	                         .group_id = 7,
	                         .from = 3,
	                         .to = 2,
	                         .term = 1,
	                         .index = 100,
	                         .log_term = 100};
	struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &m};
	cr_assert_eq(th_step(&C, 2, &ev), 0);
	cr_assert_eq(th_status(&C, 2).vote, 1);
}
