/* test_raftlog_batch.c — batch ids: raftlog_submitted_batch() / raftlog_durable_batch() let a
 * caller tell when everything it submitted so far (entries, truncations, hard-state-only
 * changes) is durable, in the sync path and when mutations arrive during durable callbacks. */
#include "helper_raftlog.h"

#include <criterion/criterion.h>

static void hs(struct rlt *t, uint64_t g, uint64_t term, uint64_t vote)
{
	struct raftlog_hard_state s = {.term = term, .vote = vote, .commit = 0};
	cr_assert_eq(raftlog_set_hard_state(t->log, g, &s), 0);
}

Test(raftlog_batch, ids_follow_group_commits)
{
	struct rlt t;
	rlt_init(&t, 11, 0);
	cr_assert_eq(raftlog_durable_batch(t.log), 0);
	cr_assert_eq(raftlog_submitted_batch(t.log), 0, "nothing submitted: nothing to wait for");

	cr_assert_eq(rlt_append(&t, 1, 1, 1), 0);
	uint64_t b1 = raftlog_submitted_batch(t.log);
	cr_assert_eq(b1, 1);
	cr_assert_lt(raftlog_durable_batch(t.log), b1);
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_geq(raftlog_durable_batch(t.log), b1);

	/* a hard-state-only change moves no durable_index, but it has a batch id */
	hs(&t, 1, 2, 7);
	uint64_t b2 = raftlog_submitted_batch(t.log);
	cr_assert_gt(b2, b1);
	cr_assert_lt(raftlog_durable_batch(t.log), b2);
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_geq(raftlog_durable_batch(t.log), b2);

	/* an unchanged hard state adds nothing: already durable */
	hs(&t, 1, 2, 7);
	cr_assert_leq(raftlog_submitted_batch(t.log), raftlog_durable_batch(t.log));

	/* two groups in one batch share its id */
	cr_assert_eq(rlt_append(&t, 1, 2, 2), 0);
	uint64_t a = raftlog_submitted_batch(t.log);
	cr_assert_eq(rlt_append(&t, 2, 1, 1), 0);
	cr_assert_eq(raftlog_submitted_batch(t.log), a);
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_geq(raftlog_durable_batch(t.log), a);
	rlt_fini(&t);
}

static uint64_t seen_in_callback;

static void on_durable(void *ctx, uint64_t group, uint64_t durable_index)
{
	struct rlt *t = ctx;
	(void)group;
	(void)durable_index;
	seen_in_callback = raftlog_durable_batch(t->log);
}

Test(raftlog_batch, durable_id_is_advanced_before_callbacks)
{
	struct rlt t;
	rlt_init(&t, 12, 0);
	rlt_close(&t);
	/* reopen with our own callback */
	struct raftlog_config cfg = {.fs = t.fs, .dir = RLT_DIR, .on_durable = on_durable, .ctx = &t};
	cr_assert_eq(raftlog_open(&cfg, &t.log), 0);
	cr_assert_eq(rlt_append(&t, 3, 1, 1), 0);
	uint64_t b = raftlog_submitted_batch(t.log);
	seen_in_callback = 0;
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_eq(seen_in_callback, b, "a callback sees its own batch as durable");
	rlt_fini(&t);
}

Test(raftlog_batch, ids_restart_at_open_and_stay_consistent)
{
	struct rlt t;
	rlt_init(&t, 13, 0);
	for (uint64_t i = 1; i <= 10; i++) {
		cr_assert_eq(rlt_append(&t, 1, i, 1), 0);
		cr_assert_eq(raftlog_flush(t.log), 0);
	}
	cr_assert_geq(raftlog_durable_batch(t.log), 10);
	rlt_close(&t);
	cr_assert_eq(rlt_open(&t), 0);
	uint64_t d = raftlog_durable_batch(t.log);
	cr_assert_leq(raftlog_submitted_batch(t.log), d, "a fresh open has nothing pending");
	cr_assert_eq(rlt_append(&t, 1, 11, 1), 0);
	cr_assert_gt(raftlog_submitted_batch(t.log), d);
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_geq(raftlog_durable_batch(t.log), raftlog_submitted_batch(t.log));
	rlt_fini(&t);
}
