/* test_raftlog_recovery.c — the Raft log across crashes and damage: acknowledged entries
 * survive simulated power loss at random points (including the very moment they are
 * reported), torn tails are cut, corruption before the tail is refused naming file and
 * offset, missing or damaged segments are refused, and I/O errors on fsync are fatal. */
#include "helper_raftlog.h"

#include "core/io_fs_sim.h"
#include "core/prng.h"
#include "storage/raftlog/format.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEG1 RLT_DIR "/0000000000000001.rlog"
#define SEG2 RLT_DIR "/0000000000000002.rlog"

static uint64_t seed_from_env(uint64_t dflt)
{
	const char *s = getenv("RAFTLOG_SEED");
	return s ? strtoull(s, NULL, 0) : dflt;
}

/* Fixed-size entries so record offsets are known: header 64, then 152-byte records. */
#define FIX_LEN 100u
#define FIX_REC 152u
static uint64_t rec_off(uint64_t k) { return RL_SEG_HEADER_BYTES + k * FIX_REC; }

static void append_fixed(struct rlt *t, uint64_t g, uint64_t i)
{
	unsigned char buf[FIX_LEN];
	memset(buf, (int)(i & 0xff), sizeof buf);
	struct raftlog_entry e = {.index = i, .term = 1, .len = FIX_LEN, .data = buf};
	cr_assert_eq(raftlog_append(t->log, g, &e, 1), 0);
}

Test(raftlog_recovery, record_size_assumption)
{
	cr_assert_eq(rl_record_size(FIX_LEN), FIX_REC);
}

Test(raftlog_recovery, torn_tail_is_truncated)
{
	struct rlt t;
	rlt_init(&t, 11, 0);
	for (uint64_t i = 1; i <= 3; i++)
		append_fixed(&t, 1, i);
	cr_assert_eq(raftlog_flush(t.log), 0);
	for (uint64_t i = 4; i <= 6; i++)
		append_fixed(&t, 1, i);
	cr_assert_eq(raftlog_flush(t.log), 0);
	rlt_close(&t);
	/* The last batch (records 3..5) tore: its second record is half there, then garbage. */
	struct io_file *f;
	cr_assert_eq(io_file_open(t.fs, SEG1, IO_OPEN_WRITE, &f), 0);
	cr_assert_eq(io_file_truncate(f, rec_off(4) + 70), 0);
	unsigned char junk[40];
	memset(junk, 0xa5, sizeof junk);
	cr_assert_eq(io_file_pwrite(f, junk, sizeof junk, rec_off(4) + 30), 0);
	cr_assert_eq(io_file_sync(f), 0);
	io_file_close(f);
	int rc = rlt_open(&t);
	cr_assert_eq(rc, 0, "%s", raftlog_open_error());
	struct raftlog_group_info gi;
	cr_assert_eq(raftlog_group_info(t.log, 1, &gi), 0);
	cr_assert_eq(gi.last_index, 4, "the whole records before the tear survive");
	cr_assert_eq(gi.durable_index, 4);
	rlt_close(&t);
	/* The tail is gone from the file, so new records follow the last good one. */
	cr_assert_eq(io_file_open(t.fs, SEG1, IO_OPEN_READ, &f), 0);
	uint64_t size;
	cr_assert_eq(io_file_size(f, &size), 0);
	io_file_close(f);
	cr_assert_eq(size, rec_off(4));
	cr_assert_eq(rlt_open(&t), 0);
	append_fixed(&t, 1, 5);
	cr_assert_eq(raftlog_flush(t.log), 0);
	rlt_close(&t);
	cr_assert_eq(rlt_open(&t), 0);
	cr_assert_eq(raftlog_group_info(t.log, 1, &gi), 0);
	cr_assert_eq(gi.last_index, 5);
	rlt_fini(&t);
}

Test(raftlog_recovery, same_batch_records_after_a_tear_are_part_of_the_tear)
{
	/* Out-of-order sector persistence: the middle of the last batch is lost, its end made it.
	 * The surviving end belongs to the same (unacknowledged) batch: still a torn tail. */
	struct rlt t;
	rlt_init(&t, 12, 0);
	for (uint64_t i = 1; i <= 2; i++)
		append_fixed(&t, 1, i);
	cr_assert_eq(raftlog_flush(t.log), 0);
	for (uint64_t i = 3; i <= 6; i++)
		append_fixed(&t, 1, i);
	cr_assert_eq(raftlog_flush(t.log), 0);
	rlt_close(&t);
	struct io_file *f;
	cr_assert_eq(io_file_open(t.fs, SEG1, IO_OPEN_WRITE, &f), 0);
	unsigned char zeros[FIX_REC] = {0};
	cr_assert_eq(io_file_pwrite(f, zeros, sizeof zeros, rec_off(3)), 0);
	cr_assert_eq(io_file_sync(f), 0);
	io_file_close(f);
	cr_assert_eq(rlt_open(&t), 0, "%s", raftlog_open_error());
	struct raftlog_group_info gi;
	cr_assert_eq(raftlog_group_info(t.log, 1, &gi), 0);
	cr_assert_eq(gi.last_index, 3);
	rlt_fini(&t);
}

static void expect_corrupt(struct rlt *t, const char *file, uint64_t off)
{
	int rc = rlt_open(t);
	cr_assert_eq(rc, ERR_CORRUPT, "open gave %s", err_str(rc));
	const char *msg = raftlog_open_error();
	cr_assert(strstr(msg, file) != NULL, "error names the file: %s", msg);
	if (off != UINT64_MAX) {
		char want[64];
		snprintf(want, sizeof want, "offset %" PRIu64, off);
		cr_assert(strstr(msg, want) != NULL, "error names the offset (%s): %s", want, msg);
	}
}

Test(raftlog_recovery, corruption_before_the_tail_is_refused_with_file_and_offset)
{
	struct rlt t;
	rlt_init(&t, 13, 0);
	for (uint64_t b = 0; b < 3; b++) {
		for (uint64_t i = 1; i <= 3; i++)
			append_fixed(&t, 1, b * 3 + i);
		cr_assert_eq(raftlog_flush(t.log), 0);
	}
	rlt_close(&t);
	/* One flipped payload byte in the middle batch: a later batch proves it was durable. */
	cr_assert_eq(io_fs_sim_corrupt(t.fs, SEG1, rec_off(4) + 60), 0);
	expect_corrupt(&t, SEG1, rec_off(4));
	/* Still refused on a second try: recovery changed nothing. */
	expect_corrupt(&t, SEG1, rec_off(4));
	/* A flipped header byte of the first record too. */
	cr_assert_eq(io_fs_sim_corrupt(t.fs, SEG1, rec_off(4) + 60), 0); /* undo */
	cr_assert_eq(io_fs_sim_corrupt(t.fs, SEG1, rec_off(0) + 20), 0);
	expect_corrupt(&t, SEG1, rec_off(0));
	cr_assert_eq(io_fs_sim_corrupt(t.fs, SEG1, rec_off(0) + 20), 0);
	cr_assert_eq(rlt_open(&t), 0, "undamaged again: %s", raftlog_open_error());
	rlt_fini(&t);
}

Test(raftlog_recovery, a_zeroed_durable_batch_is_a_lost_write)
{
	struct rlt t;
	rlt_init(&t, 14, 0);
	for (uint64_t b = 0; b < 3; b++) {
		for (uint64_t i = 1; i <= 2; i++)
			append_fixed(&t, 1, b * 2 + i);
		cr_assert_eq(raftlog_flush(t.log), 0);
	}
	rlt_close(&t);
	struct io_file *f;
	cr_assert_eq(io_file_open(t.fs, SEG1, IO_OPEN_WRITE, &f), 0);
	unsigned char zeros[2 * FIX_REC] = {0};
	cr_assert_eq(io_file_pwrite(f, zeros, sizeof zeros, rec_off(2)), 0);
	cr_assert_eq(io_file_sync(f), 0);
	io_file_close(f);
	expect_corrupt(&t, SEG1, rec_off(2));
	rlt_fini(&t);
}

static void fill_segments(struct rlt *t, uint64_t n)
{
	for (uint64_t i = 1; i <= n; i++) {
		append_fixed(t, 1, i);
		cr_assert_eq(raftlog_flush(t->log), 0);
	}
}

Test(raftlog_recovery, corruption_in_an_older_segment_is_refused)
{
	struct rlt t;
	rlt_init(&t, 15, 4096);
	fill_segments(&t, 80);
	struct raftlog_stats st;
	raftlog_stats(t.log, &st);
	cr_assert_geq(st.segments, 3);
	rlt_close(&t);
	/* The last record of segment 1 (its end is followed by segment 2's records). */
	uint64_t per_seg = (4096 - RL_SEG_HEADER_BYTES + FIX_REC - 1) / FIX_REC; /* records until >= 4096 */
	cr_assert_eq(io_fs_sim_corrupt(t.fs, SEG1, rec_off(per_seg - 1) + 50), 0);
	expect_corrupt(&t, SEG1, rec_off(per_seg - 1));
	rlt_fini(&t);
}

Test(raftlog_recovery, missing_or_headless_segments)
{
	struct rlt t;
	rlt_init(&t, 16, 4096);
	fill_segments(&t, 80);
	rlt_close(&t);
	/* A damaged header on an older segment. */
	cr_assert_eq(io_fs_sim_corrupt(t.fs, SEG2, 3), 0);
	expect_corrupt(&t, SEG2, 0);
	cr_assert_eq(io_fs_sim_corrupt(t.fs, SEG2, 3), 0);
	cr_assert_eq(rlt_open(&t), 0);
	rlt_close(&t);
	/* A segment missing from the middle. */
	cr_assert_eq(io_fs_unlink(t.fs, SEG2), 0);
	expect_corrupt(&t, "0000000000000002", UINT64_MAX);
	rlt_fini(&t);

	/* A newest segment whose creation was cut short (no valid header, no records): removed. */
	rlt_init(&t, 17, 0);
	fill_segments(&t, 5);
	rlt_close(&t);
	struct io_file *f;
	cr_assert_eq(io_file_open(t.fs, SEG2, IO_OPEN_CREATE, &f), 0);
	unsigned char junk[30];
	memset(junk, 0x11, sizeof junk);
	cr_assert_eq(io_file_pwrite(f, junk, sizeof junk, 0), 0);
	io_file_close(f);
	cr_assert_eq(rlt_open(&t), 0, "%s", raftlog_open_error());
	int is_dir;
	cr_assert_eq(io_fs_exists(t.fs, SEG2, &is_dir), ERR_NOTFOUND);
	struct raftlog_group_info gi;
	cr_assert_eq(raftlog_group_info(t.log, 1, &gi), 0);
	cr_assert_eq(gi.last_index, 5);
	rlt_fini(&t);
}

Test(raftlog_recovery, fsync_error_is_fatal_and_reported)
{
	struct rlt t;
	rlt_init(&t, 18, 0);
	for (uint64_t i = 1; i <= 5; i++)
		append_fixed(&t, 1, i);
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_eq(t.durable[1], 5);
	for (uint64_t i = 6; i <= 8; i++)
		append_fixed(&t, 1, i);
	/* The write succeeds, its fdatasync fails. */
	io_fs_sim_fault_after(t.fs, 1, ERR_IO, 0);
	uint64_t reports = t.reports;
	cr_assert_eq(raftlog_flush(t.log), ERR_IO);
	cr_assert_eq(t.fatal_calls, 1);
	cr_assert_eq(t.fatal_err, ERR_IO);
	cr_assert_eq(raftlog_error(t.log), ERR_IO);
	cr_assert_eq(t.reports, reports, "nothing is reported durable after a failed fsync");
	cr_assert_eq(t.durable[1], 5);
	/* Never retried as if fine: the disk works again, the log still refuses. */
	cr_assert_eq(raftlog_flush(t.log), ERR_IO);
	unsigned char b[1] = {0};
	struct raftlog_entry e = {.index = 9, .term = 1, .len = 1, .data = b};
	cr_assert_eq(raftlog_append(t.log, 1, &e, 1), ERR_IO);
	cr_assert_eq(t.fatal_calls, 1, "reported once");
	rlt_close(&t);
	io_fs_sim_crash(t.fs);
	cr_assert_eq(rlt_open(&t), 0, "%s", raftlog_open_error());
	struct raftlog_group_info gi;
	cr_assert_eq(raftlog_group_info(t.log, 1, &gi), 0);
	cr_assert_geq(gi.last_index, 5, "acknowledged entries survive");
	rlt_fini(&t);
}

Test(raftlog_recovery, write_error_is_fatal_create_error_is_not)
{
	struct rlt t;
	rlt_init(&t, 19, 4096);
	append_fixed(&t, 1, 1);
	io_fs_sim_fault_after(t.fs, 0, ERR_NOSPC, 0); /* the batch's pwrite */
	cr_assert_eq(raftlog_flush(t.log), ERR_NOSPC);
	cr_assert_eq(t.fatal_calls, 1);
	rlt_fini(&t);

	/* Creating the next segment fails (disk full): first ahead of time (silently: the log
	 * made it while a batch was out), then at the roll itself, where the append that needs
	 * the new segment is refused and the log lives on. Records are 152 bytes after a 64-byte
	 * header: from the 20th on the segment is 3/4 full (the spare is tried after each group
	 * commit), the 28th needs the new file. */
	rlt_init(&t, 20, 4096);
	for (uint64_t i = 1; i <= 27; i++) {
		append_fixed(&t, 1, i);
		if (i >= 20) /* every attempt at the spare fails: write, fdatasync, then its open */
			io_fs_sim_fault_after(t.fs, 2, ERR_NOSPC, 0);
		cr_assert_eq(raftlog_flush(t.log), 0);
	}
	struct raftlog_stats st;
	raftlog_stats(t.log, &st);
	cr_assert_eq(st.segments, 1);
	int is_dir;
	cr_assert_eq(io_fs_exists(t.fs, SEG2, &is_dir), ERR_NOTFOUND, "the spare was not made");
	io_fs_sim_fault_after(t.fs, 0, ERR_NOSPC, 0); /* the open of the new segment */
	unsigned char buf[FIX_LEN] = {0};
	struct raftlog_entry e = {.index = 28, .term = 1, .len = FIX_LEN, .data = buf};
	cr_assert_eq(raftlog_append(t.log, 1, &e, 1), ERR_NOSPC);
	cr_assert_eq(raftlog_error(t.log), 0);
	cr_assert_eq(t.fatal_calls, 0);
	cr_assert_eq(raftlog_append(t.log, 1, &e, 1), 0, "retry works once the disk has room");
	cr_assert_eq(raftlog_flush(t.log), 0);
	cr_assert_eq(t.durable[1], 28);
	raftlog_stats(t.log, &st);
	cr_assert_eq(st.segments, 2);
	rlt_fini(&t);

	/* Normally the next segment exists before it is needed, and an empty one reopens fine. */
	rlt_init(&t, 21, 4096);
	for (uint64_t i = 1; i <= 20; i++) {
		append_fixed(&t, 1, i);
		cr_assert_eq(raftlog_flush(t.log), 0);
	}
	cr_assert_eq(io_fs_exists(t.fs, SEG2, &is_dir), 0, "the spare exists at 3/4");
	rlt_close(&t);
	io_fs_sim_crash(t.fs);
	cr_assert_eq(rlt_open(&t), 0, "%s", raftlog_open_error());
	struct raftlog_group_info gi;
	cr_assert_eq(raftlog_group_info(t.log, 1, &gi), 0);
	cr_assert_eq(gi.last_index, 20);
	append_fixed(&t, 1, 21);
	cr_assert_eq(raftlog_flush(t.log), 0);
	rlt_close(&t);
	cr_assert_eq(rlt_open(&t), 0, "%s", raftlog_open_error());
	cr_assert_eq(raftlog_group_info(t.log, 1, &gi), 0);
	cr_assert_eq(gi.last_index, 21);
	rlt_fini(&t);
}

/* ---- random crash points ---------------------------------------------------------------- */

#define CR_GROUPS 4

struct crash_run {
	struct rlt t;
	struct prng rng;
	uint64_t reported[CR_GROUPS + 1]; /* durable index at the last report */
	uint64_t terms[CR_GROUPS + 1][512]; /* term of each index as written (current log) */
	uint64_t last[CR_GROUPS + 1];
	uint64_t hs_term[CR_GROUPS + 1];
	int crash_in_report; /* crash inside the next durable report */
	int crashed;
};

static struct crash_run *g_run;

static void crash_on_durable(void *ctx, const struct raftlog_durable *d)
{
	struct crash_run *c = ctx;
	c->reported[d->group] = d->index;
	if (c->crash_in_report && !c->crashed) {
		/* Power fails while the report is delivered: it must already be on disk. */
		io_fs_sim_crash(c->t.fs);
		c->crashed = 1;
	}
}

static int crash_open(struct crash_run *c)
{
	struct raftlog_config cfg = {.fs = c->t.fs, .dir = RLT_DIR, .segment_bytes = 4096,
				     .on_durable = crash_on_durable, .ctx = c};
	return raftlog_open(&cfg, &c->t.log);
}

Test(raftlog_recovery, acknowledged_entries_survive_random_crashes)
{
	uint64_t seed0 = seed_from_env(0x5eed0001);
	printf("raftlog crash test seed %#" PRIx64 " (RAFTLOG_SEED to replay)\n", seed0);
	int lost_runs = 0;
	for (uint64_t run = 0; run < 1000; run++) {
		uint64_t seed = seed0 + run;
		struct crash_run *c = calloc(1, sizeof *c);
		g_run = c;
		prng_init(&c->rng, seed);
		c->t.fs = io_fs_sim_new(seed);
		cr_assert_eq(crash_open(c), 0);
		for (int epoch = 0; epoch < 4; epoch++) {
			/* Random work, then a crash at a random moment. */
			int steps = (int)prng_range(&c->rng, 1, 60);
			/* A failing operation (often the fdatasync after a batch's write, which leaves
			 * that write unsynced: the crash may then keep, drop or tear it). */
			uint64_t fault_at = prng_below(&c->rng, 40);
			int fault_armed = prng_chance(&c->rng, 1, 2);
			c->crash_in_report = prng_chance(&c->rng, 1, 3);
			c->crashed = 0;
			if (fault_armed)
				io_fs_sim_fault_after(c->t.fs, fault_at, ERR_IO, 1);
			for (int s = 0; s < steps && !c->crashed && raftlog_error(c->t.log) == 0; s++) {
				uint64_t g = prng_range(&c->rng, 1, CR_GROUPS);
				uint64_t op = prng_below(&c->rng, 11);
				if (op < 6 && c->last[g] < 500) {
					/* append 1..5 entries, sometimes replacing a suffix */
					uint64_t from = c->last[g] + 1;
					if (op == 0 && c->last[g] > 3)
						from = c->last[g] - prng_below(&c->rng, 3);
					uint64_t term = from > 1 ? c->terms[g][from - 1] : 1;
					if (from <= c->last[g])
						term++;
					uint64_t n = prng_range(&c->rng, 1, 5);
					int rc = 0;
					for (uint64_t k = 0; k < n && rc == 0 && from + k < 511; k++) {
						rc = rlt_append(&c->t, g, from + k, term);
						if (rc == 0) {
							c->terms[g][from + k] = term;
							c->last[g] = from + k;
							if (c->reported[g] > from + k - 1 && k == 0)
								c->reported[g] = from - 1;
						}
					}
					if (rc && rc != ERR_IO)
						cr_assert_fail("append: %s (seed %#" PRIx64 ")", err_str(rc), seed);
				} else if (op == 10) {
					/* The batch's write lands, its fdatasync fails: a crash may keep,
					 * drop or tear that write, which was never reported durable. */
					io_fs_sim_fault_after(c->t.fs, 1, ERR_IO, 0);
					int rc = raftlog_flush(c->t.log);
					cr_assert(rc == 0 || rc == ERR_IO, "flush: %s", err_str(rc));
				} else if (op < 8) {
					int rc = raftlog_flush(c->t.log);
					cr_assert(rc == 0 || rc == ERR_IO, "flush: %s", err_str(rc));
				} else {
					struct raftlog_hard_state hs = {.term = ++c->hs_term[g], .vote = g,
									 .commit = c->reported[g]};
					int rc = raftlog_set_hard_state(c->t.log, g, &hs);
					cr_assert(rc == 0 || rc == ERR_IO, "hard state: %s", err_str(rc));
				}
			}
			raftlog_close(c->t.log);
			c->t.log = NULL;
			io_fs_sim_fault_clear(c->t.fs);
			if (!c->crashed) {
				uint64_t lost = io_fs_sim_crash(c->t.fs);
				if (lost)
					lost_runs++;
			}
			int rc = crash_open(c);
			cr_assert_eq(rc, 0, "reopen after crash: %s (%s) seed %#" PRIx64, err_str(rc),
				     raftlog_open_error(), seed);
			/* Everything reported durable is there, with its term and bytes. */
			for (uint64_t g = 1; g <= CR_GROUPS; g++) {
				struct raftlog_group_info gi;
				if (raftlog_group_info(c->t.log, g, &gi) != 0) {
					cr_assert_eq(c->reported[g], 0, "group %" PRIu64 " lost (seed %#" PRIx64 ")", g, seed);
					c->last[g] = 0;
					continue;
				}
				cr_assert_geq(gi.last_index, c->reported[g],
					      "group %" PRIu64 ": durable %" PRIu64 " reported, %" PRIu64
					      " recovered (seed %#" PRIx64 ")", g, c->reported[g], gi.last_index, seed);
				for (uint64_t i = 1; i <= c->reported[g]; i++) {
					uint64_t term;
					cr_assert_eq(raftlog_term(c->t.log, g, i, &term), 0);
					cr_assert_eq(term, c->terms[g][i], "seed %#" PRIx64 " g %" PRIu64 " i %" PRIu64, seed, g, i);
				}
				if (gi.last_index > 0)
					cr_assert_eq(rlt_verify(&c->t, g, 1, gi.last_index + 1), (int)gi.last_index,
						     "seed %#" PRIx64, seed);
				if (gi.has_hard_state)
					c->hs_term[g] = gi.hard_state.term;
				/* Continue from what survived. */
				c->last[g] = gi.last_index;
				for (uint64_t i = 1; i <= gi.last_index; i++)
					cr_assert_eq(raftlog_term(c->t.log, g, i, &c->terms[g][i]), 0);
				c->reported[g] = gi.last_index;
			}
		}
		raftlog_close(c->t.log);
		io_fs_sim_free(c->t.fs);
		free(c);
	}
	printf("raftlog crash test: %d crashes lost or tore unsynced writes\n", lost_runs);
	cr_assert_gt(lost_runs, 100, "the crashes must exercise torn and lost writes");
}

/* Retention frees segments only after the records that replace them (compaction bases, hard
 * states) are durable: a crash at any operation of that sequence loses nothing needed. */
Test(raftlog_recovery, crash_during_retention_keeps_bases_and_hard_states)
{
	for (uint64_t k = 0; k < 16; k++) {
		struct rlt t;
		rlt_init(&t, 30 + k, 4096);
		struct raftlog_hard_state hs = {.term = 7, .vote = 3, .commit = 5};
		cr_assert_eq(raftlog_set_hard_state(t.log, 1, &hs), 0);
		for (uint64_t i = 1; i <= 120; i++) {
			append_fixed(&t, 1, i);
			cr_assert_eq(raftlog_flush(t.log), 0);
		}
		struct raftlog_stats st;
		raftlog_stats(t.log, &st);
		cr_assert_geq(st.segments, 4);
		cr_assert_eq(raftlog_set_floor(t.log, 1, 100), 0);
		io_fs_sim_fault_after(t.fs, k, ERR_IO, 1); /* the k-th operation of retention fails */
		int rc = raftlog_flush(t.log);
		cr_assert(rc == 0 || rc == ERR_IO);
		raftlog_close(t.log);
		t.log = NULL;
		io_fs_sim_fault_clear(t.fs);
		io_fs_sim_crash(t.fs);
		rc = rlt_open(&t);
		cr_assert_eq(rc, 0, "k=%lu: %s", (unsigned long)k, raftlog_open_error());
		struct raftlog_group_info gi;
		cr_assert_eq(raftlog_group_info(t.log, 1, &gi), 0);
		cr_assert(gi.has_hard_state, "k=%lu: hard state lost", (unsigned long)k);
		cr_assert_eq(gi.hard_state.term, 7);
		cr_assert_eq(gi.hard_state.vote, 3);
		cr_assert_eq(gi.last_index, 120);
		cr_assert_leq(gi.base_index, 100);
		cr_assert(gi.base_index == 0 || gi.base_term == 1, "k=%lu: base %lu without its term",
			  (unsigned long)k, (unsigned long)gi.base_index);
		rlt_fini(&t);
	}
}

/* After a process crash (no power loss), written but unsynced batches and unsynced file names
 * are still visible. Recovery reports what it finds as durable, so it must make it durable. */
Test(raftlog_recovery, recovery_makes_what_it_found_durable)
{
	for (uint64_t seed = 40; seed < 100; seed++) {
		struct rlt t;
		rlt_init(&t, seed, 4096);
		for (uint64_t i = 1; i <= 10; i++) {
			append_fixed(&t, 1, i);
			cr_assert_eq(raftlog_flush(t.log), 0);
		}
		for (uint64_t i = 11; i <= 40; i++)
			append_fixed(&t, 1, i); /* crosses into a new segment: a new name */
		io_fs_sim_fault_after(t.fs, 1, ERR_IO, 0); /* the write lands, its fdatasync fails */
		cr_assert_eq(raftlog_flush(t.log), ERR_IO);
		rlt_close(&t); /* the process dies; the machine does not */
		cr_assert_eq(rlt_open(&t), 0, "%s", raftlog_open_error());
		struct raftlog_group_info gi;
		cr_assert_eq(raftlog_group_info(t.log, 1, &gi), 0);
		uint64_t found = gi.durable_index;
		cr_assert_eq(gi.last_index, found);
		rlt_close(&t);
		io_fs_sim_crash(t.fs); /* now the power goes */
		cr_assert_eq(rlt_open(&t), 0, "%s", raftlog_open_error());
		cr_assert_eq(raftlog_group_info(t.log, 1, &gi), 0);
		cr_assert_geq(gi.last_index, found, "seed %lu: recovery said %lu durable, %lu survived",
			      (unsigned long)seed, (unsigned long)found, (unsigned long)gi.last_index);
		rlt_fini(&t);
	}
}
