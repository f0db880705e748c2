/* test_raftlog_basic.c — the Raft log's semantics: append, read (memory and disk), conflicting
 * suffix replacement, truncate, compact, reset, hard state, groups sharing segments, rolls,
 * group commit reports, retention floors, drop, and the API's refusals. */
#include "helper_raftlog.h"

#include "core/io_fs_sim.h"
#include "core/limits.h"
#include "raft/raft.h"

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The server glue hands Raft's entries and hard state to the log as they are. */
#define SAME_FIELD(a, b, f) (offsetof(struct a, f) == offsetof(struct b, f) && \
			     sizeof(((struct a *)0)->f) == sizeof(((struct b *)0)->f))
_Static_assert(sizeof(struct raftlog_entry) == sizeof(struct raft_entry) &&
		       SAME_FIELD(raftlog_entry, raft_entry, term) && SAME_FIELD(raftlog_entry, raft_entry, index) &&
		       SAME_FIELD(raftlog_entry, raft_entry, type) && SAME_FIELD(raftlog_entry, raft_entry, len) &&
		       SAME_FIELD(raftlog_entry, raft_entry, data),
	       "struct raftlog_entry has the layout of struct raft_entry");
_Static_assert(sizeof(struct raftlog_hard_state) == sizeof(struct raft_hard_state) &&
		       SAME_FIELD(raftlog_hard_state, raft_hard_state, term) &&
		       SAME_FIELD(raftlog_hard_state, raft_hard_state, vote) &&
		       SAME_FIELD(raftlog_hard_state, raft_hard_state, commit),
	       "struct raftlog_hard_state has the layout of struct raft_hard_state");

static struct raftlog_group_info info(struct rlt *t, uint64_t g)
{
	struct raftlog_group_info gi;
	cr_assert_eq(raftlog_group_info(t->log, g, &gi), 0);
	return gi;
}

static void reopen(struct rlt *t)
{
	cr_assert_eq(raftlog_flush(t->log), 0);
	rlt_close(t);
	int rc = rlt_open(t);
	cr_assert_eq(rc, 0, "reopen: %s (%s)", err_str(rc), raftlog_open_error());
}

Test(raftlog_basic, append_read_flush_reopen)
{
	struct rlt t;
	rlt_init(&t, 1, 0);
	for (uint64_t i = 1; i <= 100; i++)
		cr_assert_eq(rlt_append(&t, 1, i, 1 + i / 40), 0);
	struct raftlog_group_info gi = info(&t, 1);
	cr_assert_eq(gi.first_index, 1);
	cr_assert_eq(gi.last_index, 100);
	cr_assert_eq(gi.last_term, 3);
	cr_assert_eq(gi.durable_index, 0, "nothing is durable before a group commit");
	cr_assert_eq(rlt_verify(&t, 1, 1, 101), 100); /* from the collecting batch */
	cr_assert(raftlog_busy(t.log));
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert(!raftlog_busy(t.log));
	cr_assert_eq(t.durable[1], 100);
	cr_assert_eq(t.reports, 1, "one report per group per batch");
	cr_assert_eq(raftlog_group_seq(t.log, 1), 100);
	cr_assert_eq(t.durable_seq[1], 100);
	/* Mutations after a batch started are not covered by its report. */
	cr_assert_eq(rlt_append(&t, 1, 101, 3), 0);
	cr_assert_eq(raftlog_group_seq(t.log, 1), 101);
	cr_assert_eq(raftlog_truncate(t.log, 1, 101), 0);
	cr_assert_eq(raftlog_group_seq(t.log, 1), 102);
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_eq(t.durable_seq[1], 102);
	cr_assert_eq(t.durable[1], 100);
	cr_assert_eq(info(&t, 1).durable_index, 100);
	struct raftlog_stats st;
	raftlog_stats(t.log, &st);
	cr_assert_eq(st.syncs, 2);
	cr_assert_eq(st.entries_written, 101);
	reopen(&t);
	gi = info(&t, 1);
	cr_assert_eq(gi.last_index, 100);
	cr_assert_eq(gi.durable_index, 100);
	cr_assert_eq(rlt_verify(&t, 1, 1, 101), 100); /* from the segment file */
	raftlog_stats(t.log, &st);
	cr_assert_gt(st.disk_reads, 0);
	uint64_t term;
	cr_assert_eq(raftlog_term(t.log, 1, 0, &term), 0);
	cr_assert_eq(term, 0);
	cr_assert_eq(raftlog_term(t.log, 1, 39, &term), 0);
	cr_assert_eq(term, 1);
	cr_assert_eq(raftlog_term(t.log, 1, 101, &term), ERR_RANGE);
	cr_assert_eq(raftlog_term(t.log, 2, 1, &term), ERR_NOTFOUND);
	rlt_fini(&t);
}

Test(raftlog_basic, conflicting_suffix_is_replaced_and_stays_replaced)
{
	struct rlt t;
	rlt_init(&t, 2, 0);
	for (uint64_t i = 1; i <= 10; i++)
		cr_assert_eq(rlt_append(&t, 1, i, 1), 0);
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_eq(t.durable[1], 10);
	/* A new leader's entries from 6 on (term 2) replace 6..10. */
	cr_assert_eq(rlt_append(&t, 1, 6, 2), 0);
	struct raftlog_group_info gi = info(&t, 1);
	cr_assert_eq(gi.last_index, 6);
	cr_assert_eq(gi.durable_index, 5, "the replaced suffix is no longer durable");
	cr_assert_eq(rlt_append(&t, 1, 7, 2), 0);
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_eq(t.durable[1], 7);
	reopen(&t);
	gi = info(&t, 1);
	cr_assert_eq(gi.last_index, 7);
	cr_assert_eq(gi.last_term, 2);
	uint64_t term;
	cr_assert_eq(raftlog_term(t.log, 1, 5, &term), 0);
	cr_assert_eq(term, 1);
	cr_assert_eq(rlt_verify(&t, 1, 1, 8), 7);
	rlt_fini(&t);
}

Test(raftlog_basic, truncate_compact_reset)
{
	struct rlt t;
	rlt_init(&t, 3, 0);
	for (uint64_t i = 1; i <= 20; i++)
		cr_assert_eq(rlt_append(&t, 7, i, i <= 10 ? 1 : 2), 0);
	cr_assert_eq(raftlog_truncate(t.log, 7, 16), 0);
	cr_assert_eq(info(&t, 7).last_index, 15);
	cr_assert_eq(raftlog_truncate(t.log, 7, 16), 0, "truncating past the end is a no-op");
	cr_assert_eq(raftlog_truncate(t.log, 7, 17), ERR_RANGE);
	cr_assert_eq(raftlog_compact(t.log, 7, 5, 2), ERR_INVAL, "term must match the entry");
	cr_assert_eq(raftlog_compact(t.log, 7, 5, 1), 0);
	struct raftlog_group_info gi = info(&t, 7);
	cr_assert_eq(gi.base_index, 5);
	cr_assert_eq(gi.base_term, 1);
	cr_assert_eq(gi.first_index, 6);
	cr_assert_eq(rlt_verify(&t, 7, 5, 10), ERR_RANGE, "compacted entries are gone");
	cr_assert_eq(rlt_verify(&t, 7, 6, 16), 10);
	cr_assert_eq(raftlog_truncate(t.log, 7, 5), ERR_RANGE);
	cr_assert_eq(rlt_append(&t, 7, 5, 3), ERR_RANGE, "cannot append below the base");
	reopen(&t);
	gi = info(&t, 7);
	cr_assert_eq(gi.base_index, 5);
	cr_assert_eq(gi.base_term, 1);
	cr_assert_eq(gi.last_index, 15);
	cr_assert_eq(rlt_verify(&t, 7, 6, 16), 10);
	/* Snapshot install: everything goes, the log restarts after (100, 4). */
	cr_assert_eq(raftlog_reset(t.log, 7, 100, 4), 0);
	gi = info(&t, 7);
	cr_assert_eq(gi.first_index, 101);
	cr_assert_eq(gi.last_index, 100);
	cr_assert_eq(gi.last_term, 4);
	cr_assert_lt(gi.durable_index, 100, "the reset is not durable yet");
	cr_assert_eq(rlt_append(&t, 7, 101, 4), 0);
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_eq(t.durable[7], 101);
	/* Compaction past the end empties the log. */
	cr_assert_eq(raftlog_compact(t.log, 7, 200, 5), 0);
	gi = info(&t, 7);
	cr_assert_eq(gi.last_index, 200);
	cr_assert_eq(gi.base_index, 200);
	reopen(&t);
	gi = info(&t, 7);
	cr_assert_eq(gi.base_index, 200);
	cr_assert_eq(gi.base_term, 5);
	cr_assert_eq(gi.last_index, 200);
	cr_assert_eq(rlt_append(&t, 7, 201, 5), 0);
	cr_assert_eq(rlt_append(&t, 7, 202, 4), ERR_INVAL, "terms never decrease");
	rlt_fini(&t);
}

Test(raftlog_basic, hard_state)
{
	struct rlt t;
	rlt_init(&t, 4, 0);
	struct raftlog_hard_state hs = {.term = 3, .vote = 2, .commit = 0};
	cr_assert_eq(raftlog_set_hard_state(t.log, 9, &hs), 0);
	cr_assert(raftlog_busy(t.log));
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_eq(t.reports, 1, "a hard state alone is reported durable");
	cr_assert_eq(raftlog_set_hard_state(t.log, 9, &hs), 0);
	cr_assert(!raftlog_busy(t.log), "an unchanged hard state writes nothing");
	struct raftlog_hard_state older = {.term = 2, .vote = 1};
	cr_assert_eq(raftlog_set_hard_state(t.log, 9, &older), ERR_INVAL);
	hs.commit = 17;
	hs.term = 4;
	hs.vote = 0;
	cr_assert_eq(raftlog_set_hard_state(t.log, 9, &hs), 0);
	reopen(&t);
	struct raftlog_group_info gi = info(&t, 9);
	cr_assert(gi.has_hard_state);
	cr_assert_eq(gi.hard_state.term, 4);
	cr_assert_eq(gi.hard_state.vote, 0);
	cr_assert_eq(gi.hard_state.commit, 17);
	rlt_fini(&t);
}

static int count_group(void *ctx, uint64_t g)
{
	(void)g;
	(*(int *)ctx)++;
	return 0;
}

Test(raftlog_basic, many_groups_share_segments_and_roll)
{
	struct rlt t;
	rlt_init(&t, 5, 8192); /* tiny segments: many rolls */
	for (uint64_t round = 1; round <= 30; round++) {
		for (uint64_t g = 1; g <= 20; g++)
			cr_assert_eq(rlt_append(&t, g, round, 1), 0);
		cr_assert_eq(raftlog_flush(t.log), 0);
		for (uint64_t g = 1; g <= 20; g++)
			cr_assert_eq(t.durable[g], round);
	}
	struct raftlog_stats st;
	raftlog_stats(t.log, &st);
	cr_assert_gt(st.segments, 5);
	cr_assert_eq(st.syncs, 30, "one fdatasync per group commit for all 20 groups");
	cr_assert_eq(st.groups, 20);
	reopen(&t);
	int n = 0;
	cr_assert_eq(raftlog_groups(t.log, count_group, &n), 0);
	cr_assert_eq(n, 20);
	for (uint64_t g = 1; g <= 20; g++) {
		cr_assert_eq(info(&t, g).last_index, 30);
		cr_assert_eq(rlt_verify(&t, g, 1, 31), 30);
	}
	rlt_fini(&t);
}

Test(raftlog_basic, retention_waits_for_every_group_in_a_segment)
{
	struct rlt t;
	rlt_init(&t, 6, 4096);
	struct raftlog_hard_state hs = {.term = 1, .vote = 1, .commit = 0};
	cr_assert_eq(raftlog_set_hard_state(t.log, 1, &hs), 0);
	for (uint64_t i = 1; i <= 200; i++) {
		cr_assert_eq(rlt_append(&t, 1, i, 1), 0);
		if (i % 10 == 0)
			cr_assert_eq(rlt_append(&t, 2, i / 10, 1), 0);
		cr_assert_eq(raftlog_flush(t.log), 0);
	}
	struct raftlog_stats st;
	raftlog_stats(t.log, &st);
	uint64_t segs_before = st.segments;
	cr_assert_gt(segs_before, 4);
	/* Group 1 is done with everything, group 2 with nothing: nothing can go. */
	cr_assert_eq(raftlog_set_floor(t.log, 1, 200), 0);
	cr_assert_eq(raftlog_flush(t.log), 0);
	raftlog_stats(t.log, &st);
	cr_assert_eq(st.segments, segs_before);
	cr_assert_eq(st.segments_deleted, 0);
	cr_assert_eq(info(&t, 1).first_index, 1);
	/* Group 2 done up to 10: the segments holding only its entries <= 10 can go. */
	cr_assert_eq(raftlog_set_floor(t.log, 2, 10), 0);
	cr_assert_eq(raftlog_flush(t.log), 0);
	raftlog_stats(t.log, &st);
	cr_assert_gt(st.segments_deleted, 0);
	cr_assert_lt(st.segments, segs_before);
	struct raftlog_group_info g1 = info(&t, 1), g2 = info(&t, 2);
	cr_assert_gt(g1.first_index, 1);
	cr_assert_leq(g1.base_index, 200);
	cr_assert_leq(g2.base_index, 10);
	cr_assert_eq(rlt_verify(&t, 1, g1.first_index, 201), (int)(201 - g1.first_index));
	cr_assert_eq(rlt_verify(&t, 2, g2.first_index, 21), (int)(21 - g2.first_index));
	/* After a restart, the same bases, hard state and entries. */
	reopen(&t);
	struct raftlog_group_info r1 = info(&t, 1), r2 = info(&t, 2);
	cr_assert_eq(r1.base_index, g1.base_index);
	cr_assert_eq(r1.base_term, g1.base_term);
	cr_assert_eq(r2.base_index, g2.base_index);
	cr_assert_eq(r1.last_index, 200);
	cr_assert_eq(r2.last_index, 20);
	cr_assert(r1.has_hard_state);
	cr_assert_eq(r1.hard_state.vote, 1);
	cr_assert_eq(rlt_verify(&t, 1, r1.first_index, 201), (int)(201 - r1.first_index));
	rlt_fini(&t);
}

Test(raftlog_basic, drop_group_forgets_it_and_frees_its_segments)
{
	struct rlt t;
	rlt_init(&t, 7, 8192);
	for (uint64_t i = 1; i <= 100; i++) {
		cr_assert_eq(rlt_append(&t, 1, i, 1), 0);
		cr_assert_eq(rlt_append(&t, 2, i, 1), 0);
		cr_assert_eq(raftlog_flush(t.log), 0);
	}
	cr_assert_eq(raftlog_set_floor(t.log, 1, 100), 0);
	cr_assert_eq(raftlog_flush(t.log), 0);
	struct raftlog_stats st;
	raftlog_stats(t.log, &st);
	cr_assert_eq(st.segments_deleted, 0, "group 2 pins them");
	cr_assert_eq(raftlog_drop_group(t.log, 2), 0);
	cr_assert_eq(raftlog_drop_group(t.log, 2), ERR_NOTFOUND);
	cr_assert_eq(raftlog_flush(t.log), 0);
	raftlog_stats(t.log, &st);
	cr_assert_gt(st.segments_deleted, 0);
	reopen(&t);
	struct raftlog_group_info gi;
	cr_assert_eq(raftlog_group_info(t.log, 2, &gi), ERR_NOTFOUND);
	cr_assert_eq(info(&t, 1).last_index, 100);
	rlt_fini(&t);
}

static int stop_after_two(void *ctx, const struct raftlog_entry *e)
{
	(void)e;
	return ++*(int *)ctx == 2 ? 1 : 0;
}

static int count_entries(void *ctx, const struct raftlog_entry *e)
{
	(void)e;
	(*(int *)ctx)++;
	return 0;
}

Test(raftlog_basic, read_limits_and_refusals)
{
	struct rlt t;
	rlt_init(&t, 8, 0);
	static unsigned char big[4096];
	for (uint64_t i = 1; i <= 10; i++) {
		struct raftlog_entry e = {.index = i, .term = 1, .len = sizeof big, .data = big};
		cr_assert_eq(raftlog_append(t.log, 1, &e, 1), 0);
	}
	int n = 0;
	cr_assert_eq(raftlog_read(t.log, 1, 1, 11, 10000, count_entries, &n), 2, "max_bytes bounds a read");
	n = 0;
	cr_assert_eq(raftlog_read(t.log, 1, 1, 11, 1, count_entries, &n), 1, "at least one entry");
	n = 0;
	cr_assert_eq(raftlog_read(t.log, 1, 1, 11, 1 << 20, stop_after_two, &n), 2);
	cr_assert_eq(raftlog_read(t.log, 1, 0, 2, 100, count_entries, &n), ERR_RANGE);
	cr_assert_eq(raftlog_read(t.log, 1, 1, 12, 100, count_entries, &n), ERR_RANGE);
	cr_assert_eq(raftlog_read(t.log, 3, 1, 2, 100, count_entries, &n), ERR_NOTFOUND);
	/* Refusals. */
	struct raftlog_entry gap = {.index = 12, .term = 1};
	cr_assert_eq(raftlog_append(t.log, 1, &gap, 1), ERR_RANGE);
	struct raftlog_entry bad[2] = {{.index = 11, .term = 1}, {.index = 13, .term = 1}};
	cr_assert_eq(raftlog_append(t.log, 1, bad, 2), ERR_INVAL);
	struct raftlog_entry huge = {.index = 11, .term = 1, .len = LIMIT_RAFTLOG_ENTRY_BYTES + 1, .data = big};
	cr_assert_eq(raftlog_append(t.log, 1, &huge, 1), ERR_TOOBIG);
	cr_assert_eq(raftlog_reset(t.log, 1, 0, 1), ERR_INVAL);
	cr_assert_eq(info(&t, 1).last_index, 10, "refused calls change nothing");
	rlt_fini(&t);
}

Test(raftlog_basic, full_batch_is_backpressure)
{
	struct rlt t;
	rlt_init(&t, 9, 0);
	unsigned char *big = calloc(1, LIMIT_RAFTLOG_ENTRY_BYTES);
	cr_assert(big);
	uint64_t i = 1;
	int rc;
	for (; i < 100; i++) {
		struct raftlog_entry e = {.index = i, .term = 1, .len = LIMIT_RAFTLOG_ENTRY_BYTES, .data = big};
		rc = raftlog_append(t.log, 1, &e, 1);
		if (rc)
			break;
	}
	cr_assert_eq(rc, ERR_AGAIN);
	cr_assert_eq(info(&t, 1).last_index, i - 1);
	cr_assert_eq(raftlog_flush(t.log), 0);
	struct raftlog_entry e = {.index = i, .term = 1, .len = LIMIT_RAFTLOG_ENTRY_BYTES, .data = big};
	cr_assert_eq(raftlog_append(t.log, 1, &e, 1), 0, "room again after the group commit");
	cr_assert_eq(raftlog_flush(t.log), 0);
	reopen(&t);
	cr_assert_eq(info(&t, 1).last_index, i);
	int n = 0;
	cr_assert_eq(raftlog_read(t.log, 1, 1, i + 1, 0, count_entries, &n), 1);
	free(big);
	rlt_fini(&t);
}
