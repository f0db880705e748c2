/* test_raftlog_model.c — model-based randomized test: random operations on the real Raft log
 * (appends with conflicting suffixes, truncate, compact, reset, hard state, floors, drops,
 * group commits, failed fsyncs and crashes) against a trivially correct in-memory model of each
 * group's log. After every step the log must agree with the model (indices, terms, durable
 * index, hard state); after every crash, everything the model says was durable must be there.
 * Prints its seed; RAFTLOG_SEED=S replays, RAFTLOG_RUNS=N runs more. */
#include "helper_raftlog.h"

#include "core/io_fs_sim.h"
#include "core/prng.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MG 6          /* groups 1..MG */
#define MAXI 1500     /* highest index the test writes */
#define HS_HIST 512   /* hard states submitted between two group commits */

struct mgroup {
	int exists;
	uint64_t base, base_term, last;
	uint64_t terms[MAXI + 8]; /* by absolute index, valid in (base, last] */
	uint64_t durable;
	uint64_t floor;
	int has_hs;
	struct raftlog_hard_state hs;
	/* what a crash must keep */
	int acked_exists;        /* existed at the last group commit */
	int acked_hs_valid;
	struct raftlog_hard_state hs_hist[HS_HIST]; /* [0] = acked, then submitted since */
	size_t nhs;
	int hs_overflow;
	int touched;             /* mutated since the last group commit */
	int created_since;       /* came into existence since the last group commit */
	int dropped_since;       /* dropped since the last group commit */
};

struct model {
	struct mgroup g[MG + 1];
	struct rlt t;
	struct prng rng;
	uint64_t seed;
	uint64_t steps, crashes, commits;
};

#define CHECK(cond, ...)                                                                         \
	do {                                                                                     \
		if (!(cond))                                                                     \
			cr_assert_fail("seed %#" PRIx64 " step %" PRIu64 ": " __VA_ARGS__);            \
	} while (0)
#define M_CHECK(m, cond, fmt, ...) CHECK(cond, fmt, (m)->seed, (m)->steps, ##__VA_ARGS__)

static uint64_t mterm(const struct mgroup *g, uint64_t i)
{
	return i == g->base ? g->base_term : g->terms[i];
}

static void hs_submitted(struct mgroup *g)
{
	if (g->nhs < HS_HIST)
		g->hs_hist[g->nhs++] = g->hs;
	else
		g->hs_overflow = 1;
}

/* Compare one group of the log with the model. */
static void check_group(struct model *m, uint64_t id, int deep)
{
	struct mgroup *g = &m->g[id];
	struct raftlog_group_info gi;
	int rc = raftlog_group_info(m->t.log, id, &gi);
	if (!g->exists) {
		M_CHECK(m, rc == ERR_NOTFOUND, "group %" PRIu64 " should not exist (%d)", id, rc);
		return;
	}
	M_CHECK(m, rc == 0, "group %" PRIu64 " missing", id);
	M_CHECK(m, gi.base_index == g->base && gi.last_index == g->last,
		"group %" PRIu64 ": log (%" PRIu64 ", %" PRIu64 "] model (%" PRIu64 ", %" PRIu64 "]", id,
		gi.base_index, gi.last_index, g->base, g->last);
	M_CHECK(m, gi.base_term == g->base_term, "group %" PRIu64 " base term %" PRIu64 " vs %" PRIu64, id,
		gi.base_term, g->base_term);
	M_CHECK(m, gi.last_term == mterm(g, g->last), "group %" PRIu64 " last term", id);
	M_CHECK(m, gi.durable_index == g->durable, "group %" PRIu64 " durable %" PRIu64 " model %" PRIu64,
		id, gi.durable_index, g->durable);
	M_CHECK(m, gi.durable_seq <= gi.submitted_seq, "group %" PRIu64 " durable seq", id);
	M_CHECK(m, gi.has_hard_state == g->has_hs, "group %" PRIu64 " hard state presence", id);
	if (g->has_hs)
		M_CHECK(m, memcmp(&gi.hard_state, &g->hs, sizeof g->hs) == 0, "group %" PRIu64 " hard state", id);
	if (g->last > g->base) {
		uint64_t i = prng_range(&m->rng, g->base + 1, g->last);
		uint64_t term;
		M_CHECK(m, raftlog_term(m->t.log, id, i, &term) == 0 && term == g->terms[i],
			"group %" PRIu64 " term at %" PRIu64, id, i);
	}
	if (deep && g->last > g->base) {
		for (uint64_t i = g->base + 1; i <= g->last; i++) {
			uint64_t term;
			M_CHECK(m, raftlog_term(m->t.log, id, i, &term) == 0 && term == g->terms[i],
				"group %" PRIu64 " term at %" PRIu64, id, i);
		}
		int n = rlt_verify(&m->t, id, g->base + 1, g->last + 1);
		M_CHECK(m, n == (int)(g->last - g->base), "group %" PRIu64 " read back: %d", id, n);
	}
}

static void op_append(struct model *m, uint64_t id)
{
	struct mgroup *g = &m->g[id];
	if (g->last >= MAXI)
		return;
	uint64_t from = g->last + 1;
	if (g->last > g->base && prng_chance(&m->rng, 1, 5))
		from = prng_range(&m->rng, g->base + 1, g->last); /* a conflicting suffix */
	uint64_t term = from - 1 > g->base || from - 1 == g->base ? mterm(g, from - 1) : 0;
	if (term == 0)
		term = 1;
	if (from <= g->last || prng_chance(&m->rng, 1, 10))
		term++;
	uint64_t n = prng_range(&m->rng, 1, 8);
	if (from + n - 1 > MAXI)
		n = MAXI - from + 1;
	unsigned char bufs[8][256];
	struct raftlog_entry v[8];
	for (uint64_t k = 0; k < n; k++) {
		size_t len = rlt_payload(id, from + k, term, bufs[k], sizeof bufs[k]);
		v[k] = (struct raftlog_entry){.index = from + k, .term = term, .type = (uint8_t)((from + k) % 3),
					      .len = (uint32_t)len, .data = bufs[k]};
	}
	int rc = raftlog_append(m->t.log, id, v, n);
	if (rc == ERR_AGAIN)
		return;
	M_CHECK(m, rc == 0, "append g%" PRIu64 " @%" PRIu64 ": %s", id, from, err_str(rc));
	if (!g->exists) {
		g->exists = 1;
		g->created_since = 1;
		g->base = g->base_term = g->last = g->durable = 0;
	}
	if (from <= g->last && g->durable > from - 1)
		g->durable = from - 1;
	for (uint64_t k = 0; k < n; k++)
		g->terms[from + k] = term;
	g->last = from + n - 1;
	g->touched = 1;
}

static void op_truncate(struct model *m, uint64_t id)
{
	struct mgroup *g = &m->g[id];
	if (g->last == g->base)
		return;
	uint64_t at = prng_range(&m->rng, g->base + 1, g->last);
	int rc = raftlog_truncate(m->t.log, id, at);
	M_CHECK(m, rc == 0, "truncate: %s", err_str(rc));
	g->last = at - 1;
	if (g->durable > at - 1)
		g->durable = at - 1;
	g->touched = 1;
}

static void op_compact(struct model *m, uint64_t id)
{
	struct mgroup *g = &m->g[id];
	uint64_t at, term;
	if (g->last > g->base && prng_chance(&m->rng, 4, 5)) {
		at = prng_range(&m->rng, g->base + 1, g->last);
		term = g->terms[at];
	} else {
		at = g->last + prng_range(&m->rng, 1, 20);
		if (at > MAXI)
			return;
		term = mterm(g, g->last) + prng_below(&m->rng, 2);
		if (term == 0)
			term = 1; /* the model never uses term 0 (see crash_and_check) */
	}
	int rc = raftlog_compact(m->t.log, id, at, term);
	M_CHECK(m, rc == 0, "compact: %s", err_str(rc));
	if (at >= g->last)
		g->last = at;
	g->base = at;
	g->base_term = term;
	g->touched = 1;
}

static void op_reset(struct model *m, uint64_t id)
{
	struct mgroup *g = &m->g[id];
	uint64_t at = g->last + prng_range(&m->rng, 0, 30);
	if (at == 0 || at > MAXI)
		return;
	uint64_t term = mterm(g, g->last) + 1;
	int rc = raftlog_reset(m->t.log, id, at, term);
	M_CHECK(m, rc == 0, "reset: %s", err_str(rc));
	if (!g->exists) {
		g->exists = 1;
		g->created_since = 1;
		g->durable = 0;
	}
	if (g->durable > at - 1)
		g->durable = at - 1;
	g->base = g->last = at;
	g->base_term = term;
	g->touched = 1;
}

static void op_hard_state(struct model *m, uint64_t id)
{
	struct mgroup *g = &m->g[id];
	struct raftlog_hard_state hs = {
		.term = (g->has_hs ? g->hs.term : 0) + prng_below(&m->rng, 2),
		.vote = prng_below(&m->rng, 4),
		.commit = g->last ? prng_below(&m->rng, g->last + 1) : 0,
	};
	int rc = raftlog_set_hard_state(m->t.log, id, &hs);
	M_CHECK(m, rc == 0, "hard state: %s", err_str(rc));
	if (g->has_hs && memcmp(&hs, &g->hs, sizeof hs) == 0)
		return;
	if (!g->exists) {
		g->exists = 1;
		g->created_since = 1;
		g->base = g->base_term = g->last = g->durable = 0;
	}
	g->has_hs = 1;
	g->hs = hs;
	hs_submitted(g);
	g->touched = 1;
}

static void op_drop(struct model *m, uint64_t id)
{
	struct mgroup *g = &m->g[id];
	int rc = raftlog_drop_group(m->t.log, id);
	M_CHECK(m, rc == 0, "drop: %s", err_str(rc));
	memset(g->terms, 0, sizeof g->terms);
	g->exists = 0;
	g->base = g->base_term = g->last = g->durable = g->floor = 0;
	g->has_hs = 0;
	g->touched = 1;
	g->dropped_since = 1;
}

static void op_floor(struct model *m, uint64_t id)
{
	struct mgroup *g = &m->g[id];
	uint64_t f = g->last ? prng_range(&m->rng, g->last / 2, g->last) : 0;
	M_CHECK(m, raftlog_set_floor(m->t.log, id, f) == 0, "floor");
	g->floor = f;
}

/* After a successful group commit: everything submitted is durable. Retention may also have
 * compacted groups, but only up to their floors. */
static void committed(struct model *m)
{
	m->commits++;
	for (uint64_t id = 1; id <= MG; id++) {
		struct mgroup *g = &m->g[id];
		g->acked_exists = g->exists;
		g->acked_hs_valid = g->has_hs;
		g->hs_hist[0] = g->hs;
		g->nhs = 1;
		g->hs_overflow = 0;
		g->touched = 0;
		g->created_since = g->dropped_since = 0;
		if (!g->exists)
			continue;
		g->durable = g->last;
		struct raftlog_group_info gi;
		M_CHECK(m, raftlog_group_info(m->t.log, id, &gi) == 0, "group %" PRIu64 " after commit", id);
		M_CHECK(m, gi.durable_seq == gi.submitted_seq || raftlog_busy(m->t.log),
			"group %" PRIu64 " everything submitted is durable after a commit", id);
		if (gi.base_index != g->base) {
			M_CHECK(m, gi.base_index > g->base && gi.base_index <= g->floor && gi.base_index <= g->last,
				"group %" PRIu64 ": retention moved base %" PRIu64 " -> %" PRIu64 " (floor %" PRIu64 ")",
				id, g->base, gi.base_index, g->floor);
			g->base = gi.base_index;
			g->base_term = g->terms[g->base];
			M_CHECK(m, gi.base_term == g->base_term, "retention base term");
		}
	}
}

static int open_log(struct model *m)
{
	return rlt_open(&m->t);
}

/* Crash (power loss), reopen, check what must have survived, and continue from what did. */
static uint64_t total_crashes, total_commits, total_deleted;

static void crash_and_check(struct model *m)
{
	m->crashes++;
	struct raftlog_stats st;
	raftlog_stats(m->t.log, &st);
	total_deleted += st.segments_deleted;
	raftlog_close(m->t.log);
	m->t.log = NULL;
	io_fs_sim_fault_clear(m->t.fs);
	io_fs_sim_crash(m->t.fs);
	int rc = open_log(m);
	M_CHECK(m, rc == 0, "reopen after crash: %s (%s)", err_str(rc), raftlog_open_error());
	for (uint64_t id = 1; id <= MG; id++) {
		struct mgroup *g = &m->g[id];
		struct raftlog_group_info gi;
		rc = raftlog_group_info(m->t.log, id, &gi);
		if (g->acked_exists && !g->dropped_since)
			M_CHECK(m, rc == 0, "group %" PRIu64 " lost in the crash", id);
		if (!g->acked_exists && !g->created_since)
			M_CHECK(m, rc == ERR_NOTFOUND, "dropped group %" PRIu64 " came back", id);
		if (rc == 0) {
			/* Durable entries above floor and base survive with their terms. */
			uint64_t lo = g->base > g->floor ? g->base : g->floor;
			if (g->exists) {
				for (uint64_t i = lo + 1; i <= g->durable; i++) {
					uint64_t term = 0;
					int trc = raftlog_term(m->t.log, id, i, &term);
					M_CHECK(m, trc == 0 && term == g->terms[i],
						"group %" PRIu64 " durable entry %" PRIu64 " lost or changed (durable %" PRIu64
						", recovered (%" PRIu64 ", %" PRIu64 "])", id, i, g->durable,
						gi.base_index, gi.last_index);
				}
			}
			/* A base always comes with its term (the model never uses term 0): a base
			 * without one means recovery restarted the group and lost the record that
			 * says where it starts. */
			M_CHECK(m, gi.base_index == 0 || gi.base_term > 0,
				"group %" PRIu64 " recovered base %" PRIu64 " without its term", id, gi.base_index);
			/* The hard state is the acknowledged one or one submitted after it. */
			if (g->exists && g->acked_hs_valid && !g->hs_overflow && !g->dropped_since) {
				M_CHECK(m, gi.has_hard_state, "group %" PRIu64 " hard state lost", id);
				int found = 0;
				for (size_t k = 0; k < g->nhs; k++)
					found |= memcmp(&g->hs_hist[k], &gi.hard_state, sizeof gi.hard_state) == 0;
				M_CHECK(m, found, "group %" PRIu64 " hard state is not one that was written", id);
			}
			/* Every recovered entry is one that was written: terms never decrease and the
			 * payload matches (group, index, term). */
			uint64_t prev = gi.base_term;
			for (uint64_t i = gi.base_index + 1; i <= gi.last_index; i++) {
				uint64_t term;
				M_CHECK(m, raftlog_term(m->t.log, id, i, &term) == 0 && term >= prev,
					"group %" PRIu64 " terms decrease at %" PRIu64, id, i);
				prev = term;
			}
			if (gi.last_index > gi.base_index) {
				int n = rlt_verify(&m->t, id, gi.base_index + 1, gi.last_index + 1);
				M_CHECK(m, n == (int)(gi.last_index - gi.base_index), "group %" PRIu64 " read: %d", id, n);
			}
			/* Continue from the recovered state. */
			g->exists = 1;
			g->base = gi.base_index;
			g->base_term = gi.base_term;
			g->last = gi.last_index;
			for (uint64_t i = g->base + 1; i <= g->last; i++)
				M_CHECK(m, raftlog_term(m->t.log, id, i, &g->terms[i]) == 0, "term");
			g->durable = gi.durable_index;
			M_CHECK(m, g->durable == g->last, "recovered entries are durable");
			g->has_hs = gi.has_hard_state;
			g->hs = gi.hard_state;
		} else {
			M_CHECK(m, rc == ERR_NOTFOUND, "group info: %s", err_str(rc));
			memset(g, 0, sizeof *g);
		}
		g->floor = 0; /* floors are not persisted: the caller sets them again */
		g->acked_exists = g->exists;
		g->acked_hs_valid = g->has_hs;
		g->hs_hist[0] = g->hs;
		g->nhs = 1;
		g->hs_overflow = 0;
		g->touched = 0;
		g->created_since = g->dropped_since = 0;
	}
}

static int trace;
#define TRACE(...) do { if (trace) printf(__VA_ARGS__); } while (0)

static void run_one(uint64_t seed, uint64_t steps)
{
	trace = getenv("RAFTLOG_TRACE") != NULL;
	struct model *m = calloc(1, sizeof *m);
	m->seed = seed;
	prng_init(&m->rng, seed);
	uint64_t seg = prng_chance(&m->rng, 1, 2) ? 4096 : 16384;
	rlt_init(&m->t, seed, seg);
	for (m->steps = 0; m->steps < steps; m->steps++) {
		uint64_t id = prng_range(&m->rng, 1, MG);
		uint64_t r = prng_below(&m->rng, 1000);
		TRACE("step %llu g%llu r=%llu base %llu last %llu floor %llu\n", (unsigned long long)m->steps,
		      (unsigned long long)id, (unsigned long long)r, (unsigned long long)m->g[id].base,
		      (unsigned long long)m->g[id].last, (unsigned long long)m->g[id].floor);
		if (r < 450)
			op_append(m, id);
		else if (r < 500)
			op_truncate(m, id);
		else if (r < 540 && m->g[id].exists)
			op_compact(m, id);
		else if (r < 550)
			op_reset(m, id);
		else if (r < 650)
			op_hard_state(m, id);
		else if (r < 655 && m->g[id].exists)
			op_drop(m, id);
		else if (r < 720 && m->g[id].exists)
			op_floor(m, id);
		else if (r >= 975 && m->g[id].exists)
			op_floor(m, id);
		else if (r < 930) {
			M_CHECK(m, raftlog_flush(m->t.log) == 0, "flush");
			committed(m);
		} else if (r < 960) {
			/* A failed fdatasync: fatal; the write may or may not survive the crash. */
			io_fs_sim_fault_after(m->t.fs, prng_below(&m->rng, 8), ERR_IO, 0);
			int rc = raftlog_flush(m->t.log);
			io_fs_sim_fault_clear(m->t.fs);
			if (rc == 0) {
				committed(m);
			} else {
				M_CHECK(m, rc == ERR_IO && raftlog_error(m->t.log) == ERR_IO, "failed flush: %s",
					err_str(rc));
				crash_and_check(m);
			}
		} else if (r < 975) {
			crash_and_check(m);
		}
		check_group(m, id, prng_chance(&m->rng, 1, 20));
	}
	for (uint64_t id = 1; id <= MG; id++)
		check_group(m, id, 1);
	M_CHECK(m, raftlog_flush(m->t.log) == 0, "final flush");
	committed(m);
	crash_and_check(m);
	total_crashes += m->crashes;
	total_commits += m->commits;
	for (uint64_t id = 1; id <= MG; id++)
		check_group(m, id, 1);
	rlt_fini(&m->t);
	free(m);
}

Test(raftlog_model, random_operations_against_a_model)
{
	const char *s = getenv("RAFTLOG_SEED");
	const char *r = getenv("RAFTLOG_RUNS");
	uint64_t seed0 = s ? strtoull(s, NULL, 0) : 0x70de1000;
	uint64_t runs = r ? strtoull(r, NULL, 0) : (s ? 1 : 150);
	printf("raftlog model test: seed %#" PRIx64 ", %" PRIu64 " runs (RAFTLOG_SEED=S RAFTLOG_RUNS=N)\n",
	       seed0, runs);
	fflush(stdout);
	for (uint64_t k = 0; k < runs; k++)
		run_one(seed0 + k, 1500);
	printf("raftlog model test: %" PRIu64 " crashes, %" PRIu64 " group commits, %" PRIu64
	       " segments freed by retention\n", total_crashes, total_commits,
	       total_deleted);
	cr_assert_gt(total_crashes, runs * 10);
	cr_assert_gt(total_deleted, 0, "retention must be exercised");
}
