/*
 * test_membership.c — Raft §6 (thesis chapter 4) with single-server changes: a configuration takes
 * effect when appended, one change at a time and only after the leader committed an entry of its
 * term, learners (non-voting members) catch up without counting, a removed leader steps down once
 * its removal commits, truncation rolls configurations back, restarts restore them; plus the
 * configuration encoding and change validation.
 */
#include "helper_raft.h"

#include <criterion/criterion.h>
#include <string.h>

static struct th_cluster C;

static void teardown(void)
{
	th_free(&C);
}

TestSuite(raft_membership, .fini = teardown);

static int change(uint64_t leader, uint8_t type, uint64_t id)
{
	struct raft_event ev = {.type = RAFT_EVENT_CONF_CHANGE};
	ev.conf_change.type = type;
	ev.conf_change.id = id;
	return th_step(&C, leader, &ev);
}

static void settle(uint64_t leader)
{
	for (int k = 0; k < 3; k++) {
		th_deliver(&C);
		th_tick(&C, leader, 2);
	}
	th_deliver(&C);
}

Test(raft_membership, conf_encoding_round_trip_and_validation)
{
	struct raft_conf c;
	memset(&c, 0, sizeof(c));
	c.voters[c.n_voters++] = 1;
	c.voters[c.n_voters++] = 2;
	c.learners[c.n_learners++] = 9;
	uint8_t buf[RAFT_CONF_ENCODED_MAX];
	uint32_t len = raft_conf_encode(&c, buf);
	struct raft_conf d;
	cr_assert_eq(raft_conf_decode(buf, len, &d), 0);
	cr_assert(raft_conf_equal(&c, &d));
	cr_assert_eq(raft_conf_decode(buf, len - 1, &d), ERR_CORRUPT, "length must be exact");
	buf[0] = 2;
	cr_assert_eq(raft_conf_decode(buf, len, &d), ERR_CORRUPT, "unknown version");
	buf[0] = 1;
	memcpy(buf + 16, buf + 8, 8); /* duplicate id */
	cr_assert_eq(raft_conf_decode(buf, len, &d), ERR_CORRUPT);

	cr_assert_eq(raft_conf_apply_change(&c, RAFT_CONF_ADD_VOTER, 2), ERR_INVAL,
	             "already a voter");
	cr_assert_eq(raft_conf_apply_change(&c, RAFT_CONF_ADD_VOTER, 9), 0, "promotion");
	cr_assert(raft_conf_is_voter(&c, 9) && !raft_conf_is_learner(&c, 9));
	cr_assert_eq(raft_conf_apply_change(&c, RAFT_CONF_ADD_LEARNER, 1), 0, "demotion");
	cr_assert_eq(raft_conf_apply_change(&c, RAFT_CONF_REMOVE, 7), ERR_INVAL, "not a member");
	cr_assert_eq(raft_conf_apply_change(&c, RAFT_CONF_REMOVE, 1), 0);
	cr_assert_eq(raft_conf_apply_change(&c, RAFT_CONF_REMOVE, 2), 0);
	cr_assert_eq(raft_conf_apply_change(&c, RAFT_CONF_REMOVE, 9), ERR_INVAL,
	             "the last voter stays");
}

/* A learner receives the log but is not counted: commit needs a quorum of voters only. */
Test(raft_membership, learner_catches_up_without_counting)
{
	th_init(&C, 3, 2);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(change(1, RAFT_CONF_ADD_LEARNER, 3), 0);
	settle(1);
	cr_assert_eq(th_status(&C, 3).last_index, th_status(&C, 1).last_index,
	             "the learner caught up");
	th_isolate(&C, 2, 1);
	cr_assert_eq(th_propose(&C, 1, "needs-2"), 0);
	settle(1);
	uint64_t idx = C.nodes[1].proposed_index;
	cr_assert_eq(th_status(&C, 3).last_index, idx, "replicated to the learner");
	cr_assert_lt(th_status(&C, 1).commit, idx, "the learner's copy does not count");
	th_isolate(&C, 2, 0);
	settle(1);
	cr_assert_geq(th_status(&C, 1).commit, idx);
}

/* The new configuration is used as soon as it is appended, before it commits. */
Test(raft_membership, config_effective_on_append)
{
	th_init(&C, 4, 3);
	cr_assert(th_elect(&C, 1));
	th_isolate(&C, 4, 1);
	cr_assert_eq(change(1, RAFT_CONF_ADD_VOTER, 4), 0);
	cr_assert(raft_conf_is_voter(raft_conf_current(&C.nodes[1].r), 4),
	          "leader uses it at once");
	uint64_t idx = C.nodes[1].proposed_index;
	th_deliver(&C);
	cr_assert(raft_conf_is_voter(raft_conf_current(&C.nodes[2].r), 4),
	          "follower uses it on append");
	/* with 4 voters, 3 acks are needed: {1, 2, 3} suffice while 4 is away */
	settle(1);
	cr_assert_geq(th_status(&C, 1).commit, idx);
	th_isolate(&C, 3, 1);
	cr_assert_eq(th_propose(&C, 1, "needs-3-of-4"), 0);
	settle(1);
	cr_assert_lt(th_status(&C, 1).commit, C.nodes[1].proposed_index, "2 of 4 is not a quorum");
}

/* One change at a time, and none before an entry of the leader's term committed. */
Test(raft_membership, one_change_at_a_time)
{
	th_init(&C, 4, 3);
	th_auto_persist(&C, 1);
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	while (th_status(&C, 1).role != RAFT_LEADER &&
	       (th_deliver_one(&C, 0, 0, RAFT_MSG_PREVOTE) ||
	        th_deliver_one(&C, 0, 0, RAFT_MSG_PREVOTE_RESP) ||
	        th_deliver_one(&C, 0, 0, RAFT_MSG_VOTE) ||
	        th_deliver_one(&C, 0, 0, RAFT_MSG_VOTE_RESP)))
		;
	cr_assert_eq(th_status(&C, 1).role, RAFT_LEADER);
	cr_assert_eq(change(1, RAFT_CONF_ADD_LEARNER, 4), ERR_BUSY,
	             "the no-op of this term is not committed");
	th_deliver(&C);
	cr_assert_eq(change(1, RAFT_CONF_ADD_LEARNER, 4), 0);
	cr_assert_eq(change(1, RAFT_CONF_ADD_VOTER, 4), ERR_BUSY, "the previous change is pending");
	settle(1);
	cr_assert_eq(change(1, RAFT_CONF_ADD_VOTER, 4), 0);
	cr_assert_eq(change(3, RAFT_CONF_REMOVE, 2), ERR_NOTLEADER);
}

/* Removing a follower: it stops being counted and asked immediately. */
Test(raft_membership, remove_follower)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(change(1, RAFT_CONF_REMOVE, 3), 0);
	settle(1);
	th_isolate(&C, 3, 1);
	cr_assert_eq(th_propose(&C, 1, "two-voters"), 0);
	settle(1);
	cr_assert_eq(th_status(&C, 1).commit, C.nodes[1].proposed_index, "1 and 2 are the quorum");
	th_drop(&C, 0);
	th_tick(&C, 1, 2);
	cr_assert_eq(th_count(&C, 1, 3, RAFT_MSG_HEARTBEAT), 0, "no heartbeats to a removed node");
}

/* A leader that removes itself keeps leading until the change commits, without counting itself,
 * then steps down. */
Test(raft_membership, removed_leader_steps_down_after_commit)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(change(1, RAFT_CONF_REMOVE, 1), 0);
	uint64_t idx = C.nodes[1].proposed_index;
	cr_assert_eq(th_status(&C, 1).role, RAFT_LEADER);
	th_isolate(&C, 3, 1);
	th_deliver(&C); /* only node 2 acknowledges: 1 of the 2 new voters */
	cr_assert_lt(th_status(&C, 1).commit, idx, "the leader does not count itself");
	cr_assert_eq(th_status(&C, 1).role, RAFT_LEADER);
	th_isolate(&C, 3, 0);
	th_tick(&C, 1, 2);
	th_deliver(&C);
	cr_assert_geq(th_status(&C, 1).commit, idx);
	cr_assert_eq(th_status(&C, 1).role, RAFT_FOLLOWER);
	th_tick(&C, 1, 100);
	cr_assert_eq(th_count(&C, 1, 0, RAFT_MSG_PREVOTE), 0, "a removed node never campaigns");
}

/* Truncating an uncommitted configuration entry rolls the configuration back. */
Test(raft_membership, truncation_rolls_back_config)
{
	th_init(&C, 4, 3);
	cr_assert(th_elect(&C, 1));
	th_isolate(&C, 1, 1);
	cr_assert_eq(change(1, RAFT_CONF_ADD_VOTER, 4), 0);
	cr_assert_eq(raft_conf_current(&C.nodes[1].r)->n_voters, 4);
	th_drop(&C, 0);
	th_tick(&C, 1, 25); /* steps down: no quorum */
	th_tick(&C, 2, 12);
	th_tick(&C, 3, 12);
	th_drop(&C, 0);
	cr_assert(th_campaign(&C, 2));
	cr_assert_eq(th_propose(&C, 2, "new-term"), 0);
	th_deliver(&C);
	th_isolate(&C, 1, 0);
	th_tick(&C, 2, 2);
	th_deliver(&C);
	th_tick(&C, 2, 2);
	th_deliver(&C);
	const struct raft_conf *c = raft_conf_current(&C.nodes[1].r);
	cr_assert_eq(c->n_voters, 3, "the conf entry was truncated with the log");
	cr_assert_not(raft_conf_is_voter(c, 4));
}

/* A restart restores the configuration from the snapshot plus conf entries in the log. */
Test(raft_membership, restart_restores_config)
{
	th_init(&C, 4, 3);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(change(1, RAFT_CONF_ADD_LEARNER, 4), 0);
	settle(1);
	cr_assert_eq(change(1, RAFT_CONF_ADD_VOTER, 4), 0);
	settle(1);
	th_restart(&C, 2);
	const struct raft_conf *c = raft_conf_current(&C.nodes[2].r);
	cr_assert_eq(c->n_voters, 4);
	cr_assert(raft_conf_is_voter(c, 4));
}

/* A node added later starts with no configuration of its own and learns it from the log. */
Test(raft_membership, new_node_learns_config_from_log)
{
	th_init(&C, 4, 3);
	/* node 4 bootstraps empty, as a brand-new server would */
	memset(&C.nodes[4].st.snap.conf, 0, sizeof(struct raft_conf));
	th_restart(&C, 4);
	cr_assert_eq(raft_conf_current(&C.nodes[4].r)->n_voters, 0);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(change(1, RAFT_CONF_ADD_LEARNER, 4), 0);
	settle(1);
	const struct raft_conf *c = raft_conf_current(&C.nodes[4].r);
	cr_assert_eq(c->n_voters, 3);
	cr_assert(raft_conf_is_learner(c, 4));
	th_tick(&C, 4, 100);
	cr_assert_eq(th_count(&C, 4, 0, RAFT_MSG_PREVOTE), 0);
}
