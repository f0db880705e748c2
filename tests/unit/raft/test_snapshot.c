/*
 * test_snapshot.c — snapshots and log compaction: a checkpoint lets the log be compacted (never
 * past the caller's retention floor), a follower behind the compacted prefix receives the
 * snapshot in chunks (resuming after a lost chunk) and installs it, and a node restarts from a
 * snapshot plus the log after it.
 */
#include "helper_raft.h"

#include <criterion/criterion.h>
#include <string.h>

static struct th_cluster C;

static void teardown(void)
{
	th_free(&C);
}

TestSuite(raft_snapshot, .fini = teardown);

static const char *CHECKPOINT = "checkpoint-of-the-state-machine-at-index-11";

static void fill(uint64_t leader, int n)
{
	for (int i = 0; i < n; i++) {
		cr_assert_eq(th_propose(&C, leader, "e"), 0);
		th_deliver(&C);
	}
	th_tick(&C, leader, 2);
	th_deliver(&C);
}

Test(raft_snapshot, snapshot_lets_log_compact)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	fill(1, 10);
	cr_assert_eq(th_status(&C, 1).applied, 11);
	cr_assert_eq(th_take_snapshot(&C, 1, CHECKPOINT), 0);
	cr_assert_eq(C.nodes[1].compact_to, 11);
	struct raft_status s = th_status(&C, 1);
	cr_assert_eq(s.first_index, 12);
	cr_assert_eq(s.snapshot_index, 11);
	cr_assert_eq(C.nodes[1].st.n, 0, "storage dropped the compacted entries");
}

Test(raft_snapshot, floor_limits_compaction)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	struct raft_event fl = {.type = RAFT_EVENT_SET_FLOOR, .floor = 6};
	cr_assert_eq(th_step(&C, 1, &fl), 0);
	fill(1, 10);
	cr_assert_eq(th_take_snapshot(&C, 1, CHECKPOINT), 0);
	cr_assert_eq(C.nodes[1].compact_to, 5, "entries >= floor are kept");
	cr_assert_eq(th_status(&C, 1).first_index, 6);
	fl.floor = 0;
	cr_assert_eq(th_step(&C, 1, &fl), 0);
	cr_assert_eq(C.nodes[1].compact_to, 11,
	             "lifting the floor lets compaction reach the snapshot");
}

static void send_snapshot_to_3(int lose_one_chunk)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	th_isolate(&C, 3, 1);
	fill(1, 10);
	cr_assert_eq(th_take_snapshot(&C, 1, CHECKPOINT), 0);
	fill(1, 2); /* entries after the snapshot */
	th_drop(&C, 0);
	th_isolate(&C, 3, 0);
	th_tick(&C, 1,
	        2); /* heartbeat: 3 answers, the leader finds 3 behind the compacted prefix */
	int lost = 0;
	for (int k = 0; k < 200 && C.nodes[3].installs == 0; k++) {
		if (C.n_queue == 0) {
			th_tick(&C, 1, 1);
			continue;
		}
		if (lose_one_chunk && !lost && th_find(&C, 1, 3, RAFT_MSG_SNAP) &&
		    th_find(&C, 1, 3, RAFT_MSG_SNAP)->offset == 16) {
			/* drop the second chunk once */
			for (uint32_t i = 0; i < C.n_queue; i++) {
				if (C.queue[i]->m.type == RAFT_MSG_SNAP &&
				    C.queue[i]->m.offset == 16) {
					C.queue[i]->m.to = 1; /* re-address it to a dead letter: the
					                         leader ignores SNAP */
					C.cut[1][1] = 1;
					break;
				}
			}
			lost = 1;
		}
		th_deliver_one(&C, 0, 0, 0);
	}
	C.cut[1][1] = 0;
	cr_assert(!lose_one_chunk || lost, "the trace lost a chunk");
	cr_assert_eq(C.nodes[3].installs, 1);
	cr_assert_eq(C.nodes[3].st.snap.index, 11);
	cr_assert_eq(C.nodes[3].st.snap_len, strlen(CHECKPOINT));
	cr_assert_eq(memcmp(C.nodes[3].st.snap_data, CHECKPOINT, strlen(CHECKPOINT)), 0,
	             "chunks reassembled");
	for (int k = 0; k < 4; k++) {
		th_tick(&C, 1, 2);
		th_deliver(&C);
	}
	struct raft_status s = th_status(&C, 3);
	cr_assert_eq(s.last_index, th_status(&C, 1).last_index,
	             "appends resumed after the install");
	cr_assert_eq(s.commit, th_status(&C, 1).commit);
	cr_assert_eq(s.applied, s.commit);
	for (uint32_t i = 0; i < C.nodes[3].n_applied; i++) /* 1 was applied before the isolation */
		cr_assert(C.nodes[3].applied[i] < 2 || C.nodes[3].applied[i] > 11,
		          "entries inside the snapshot are not applied one by one");
	cr_assert_eq(C.nodes[3].applied[C.nodes[3].n_applied - 1], 13);
}

Test(raft_snapshot, lagging_follower_gets_snapshot_in_chunks)
{
	send_snapshot_to_3(0);
}

Test(raft_snapshot, lost_chunk_is_resent)
{
	send_snapshot_to_3(1);
}

Test(raft_snapshot, restart_from_snapshot_and_log)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	fill(1, 10);
	cr_assert_eq(th_take_snapshot(&C, 2, CHECKPOINT), 0);
	fill(1, 3);
	th_restart(&C, 2);
	struct raft_status s = th_status(&C, 2);
	cr_assert_eq(s.snapshot_index, 11);
	cr_assert_eq(s.applied, 11, "the state machine restarts from the snapshot");
	th_tick(&C, 1, 2);
	th_deliver(&C);
	s = th_status(&C, 2);
	cr_assert_eq(s.applied, 14, "and replays the committed log after it");
	cr_assert_eq(C.nodes[2].applied[0], 12);
}

Test(raft_snapshot, snapshot_taken_must_be_applied)
{
	th_init(&C, 3, 3);
	cr_assert(th_elect(&C, 1));
	struct raft_event ev = {.type = RAFT_EVENT_SNAPSHOT_TAKEN};
	ev.snapshot.index = 50;
	ev.snapshot.size_bytes = 4;
	ev.snapshot.conf = *raft_conf_current(&C.nodes[1].r);
	cr_assert_eq(th_step(&C, 1, &ev), ERR_INVAL);
}
