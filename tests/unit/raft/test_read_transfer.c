/*
 * test_read_transfer.c — linearizable reads with ReadIndex (thesis §6.4: the leader confirms it
 * still leads with a heartbeat round and waits for an entry of its term to commit; followers ask
 * the leader) and leader transfer (thesis §3.10: TimeoutNow once the target is caught up;
 * proposals paused meanwhile; abandoned after an election timeout).
 */
#include "helper_raft.h"

#include <criterion/criterion.h>

static struct th_cluster C;

static void teardown(void)
{
	th_free(&C);
}

TestSuite(raft_read_transfer, .fini = teardown);

static const struct raft_read_state *read_state(uint64_t id, uint64_t ctx)
{
	for (uint32_t i = 0; i < C.nodes[id].n_read_states; i++)
		if (C.nodes[id].read_states[i].ctx == ctx)
			return &C.nodes[id].read_states[i];
	return NULL;
}

Test(raft_read_transfer, leader_read_needs_heartbeat_quorum)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	th_drop(&C, 0);
	cr_assert_eq(th_read(&C, 1, 77), 0);
	cr_assert_null(read_state(1, 77), "answered without confirming leadership");
	cr_assert_eq(th_count(&C, 1, 2, RAFT_MSG_HEARTBEAT), 1);
	cr_assert(th_deliver_one(&C, 1, 2, RAFT_MSG_HEARTBEAT));
	cr_assert(th_deliver_one(&C, 2, 1, RAFT_MSG_HEARTBEAT_RESP));
	const struct raft_read_state *rs = read_state(1, 77);
	cr_assert_not_null(rs);
	cr_assert_eq(rs->status, 0);
	cr_assert_eq(rs->index, th_status(&C, 1).commit);
}

Test(raft_read_transfer, read_waits_for_first_commit_of_term)
{
	th_init(&C, 3, 3);
	th_auto_persist(&C, 1);
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	while (th_status(&C, 1).role != RAFT_LEADER &&
	       (th_deliver_one(&C, 0, 0, RAFT_MSG_PREVOTE) ||
	        th_deliver_one(&C, 0, 0, RAFT_MSG_PREVOTE_RESP) ||
	        th_deliver_one(&C, 0, 0, RAFT_MSG_VOTE) ||
	        th_deliver_one(&C, 0, 0, RAFT_MSG_VOTE_RESP)))
		;
	cr_assert_eq(th_status(&C, 1).commit, 0);
	cr_assert_eq(th_read(&C, 1, 5), 0);
	cr_assert_eq(th_count(&C, 1, 0, RAFT_MSG_HEARTBEAT), 0,
	             "no round before the no-op commits");
	th_deliver(&C);
	const struct raft_read_state *rs = read_state(1, 5);
	cr_assert_not_null(rs);
	cr_assert_eq(rs->status, 0);
	cr_assert_geq(rs->index, 1, "the read index covers the no-op");
}

Test(raft_read_transfer, follower_read_asks_leader)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(th_propose(&C, 1, "w"), 0);
	th_deliver(&C);
	cr_assert_eq(th_read(&C, 3, 9), 0);
	cr_assert_eq(th_count(&C, 3, 1, RAFT_MSG_READ_INDEX), 1);
	th_deliver(&C);
	const struct raft_read_state *rs = read_state(3, 9);
	cr_assert_not_null(rs);
	cr_assert_eq(rs->status, 0);
	cr_assert_eq(rs->index, 2, "the leader's commit when the read arrived");
}

Test(raft_read_transfer, isolated_leader_never_answers)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	th_isolate(&C, 1, 1);
	cr_assert_eq(th_read(&C, 1, 3), 0);
	for (int k = 0; k < 30; k++) {
		th_tick(&C, 1, 1);
		th_deliver(&C);
		const struct raft_read_state *rs = read_state(1, 3);
		cr_assert(rs == NULL || rs->status != 0, "a stale leader served a read");
	}
	const struct raft_read_state *rs = read_state(1, 3);
	cr_assert_not_null(rs, "the read failed when leadership was lost");
	cr_assert_eq(rs->status, ERR_NOTLEADER);
}

Test(raft_read_transfer, single_voter_reads_at_once_and_no_leader_refuses)
{
	th_init(&C, 2, 1);
	cr_assert_eq(th_read(&C, 2, 1), ERR_NOTLEADER);
	cr_assert(th_elect(&C, 1));
	cr_assert_eq(th_read(&C, 1, 4), 0);
	cr_assert_not_null(read_state(1, 4));
}

Test(raft_read_transfer, transfer_to_caught_up_follower)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	struct raft_event ev = {.type = RAFT_EVENT_TRANSFER, .transfer_to = 2};
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	cr_assert_eq(th_count(&C, 1, 2, RAFT_MSG_TIMEOUT_NOW), 1);
	th_deliver(&C);
	cr_assert_eq(th_status(&C, 2).role, RAFT_LEADER);
	cr_assert_eq(th_status(&C, 2).term, 2);
	cr_assert_eq(th_status(&C, 1).leader, 2);
}

Test(raft_read_transfer, transfer_waits_for_catch_up)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	th_isolate(&C, 3, 1);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(th_propose(&C, 1, "x"), 0);
	th_deliver(&C);
	th_isolate(&C, 3, 0);
	struct raft_event ev = {.type = RAFT_EVENT_TRANSFER, .transfer_to = 3};
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	cr_assert_eq(th_count(&C, 1, 3, RAFT_MSG_TIMEOUT_NOW), 0, "3 is behind");
	cr_assert_eq(th_propose(&C, 1, "paused"), ERR_BUSY);
	for (int k = 0; k < 4 && th_status(&C, 3).role != RAFT_LEADER; k++) {
		th_tick(&C, 1, 2);
		th_deliver(&C);
	}
	cr_assert_eq(th_status(&C, 3).role, RAFT_LEADER);
	cr_assert_eq(th_status(&C, 3).last_index, 5,
	             "caught up, then won: entries 1-4 plus its no-op");
}

Test(raft_read_transfer, transfer_abandoned_after_timeout)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	th_isolate(&C, 3, 1);
	cr_assert_eq(th_propose(&C, 1, "x"), 0);
	th_deliver(&C);
	struct raft_event ev = {.type = RAFT_EVENT_TRANSFER, .transfer_to = 3};
	cr_assert_eq(th_step(&C, 1, &ev), 0);
	cr_assert_eq(th_propose(&C, 1, "y"), ERR_BUSY);
	for (int k = 0; k < 12; k++) {
		th_tick(&C, 1, 1);
		th_deliver(&C);
	}
	cr_assert_eq(th_status(&C, 1).role, RAFT_LEADER);
	cr_assert_eq(th_status(&C, 1).transferee, 0);
	cr_assert_eq(th_propose(&C, 1, "y"), 0);
}

Test(raft_read_transfer, transfer_errors)
{
	th_init(&C, 3, 2);
	cr_assert(th_elect(&C, 1));
	struct raft_event ev = {.type = RAFT_EVENT_TRANSFER, .transfer_to = 3};
	cr_assert_eq(th_step(&C, 1, &ev), ERR_INVAL, "not a voter");
	ev.transfer_to = 1;
	cr_assert_eq(th_step(&C, 1, &ev), ERR_INVAL, "itself");
	ev.transfer_to = 1;
	cr_assert_eq(th_step(&C, 2, &ev), ERR_NOTLEADER);
}
