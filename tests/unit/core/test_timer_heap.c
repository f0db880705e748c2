/* test_timer_heap.c — model-based test of the timer heap: random arm/cancel/pop sequences
 * against a trivially correct model (an array kept sorted by deadline, then arming order),
 * compared after every step. Prints its seed; REGATTA_SEED=<n> replays a run. */
#include "core/prng.h"
#include "core/timer_heap.h"
#include "unit/core/helper_core.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_OPS 512  /* distinct io_ops the run draws from */
#define STEPS 20000
#define RUNS 8

struct model {
	struct io_op *items[MODEL_OPS]; /* sorted: the order the heap must pop in */
	uint64_t seq[MODEL_OPS];
	int count;
};

static int model_before(uint64_t da, uint64_t sa, uint64_t db, uint64_t sb)
{
	return da != db ? da < db : sa < sb;
}

static void model_insert(struct model *m, struct io_op *op, uint64_t seq)
{
	int i = m->count;
	while (i > 0 && model_before(op->deadline_ns, seq, m->items[i - 1]->deadline_ns, m->seq[i - 1])) {
		m->items[i] = m->items[i - 1];
		m->seq[i] = m->seq[i - 1];
		i--;
	}
	m->items[i] = op;
	m->seq[i] = seq;
	m->count++;
}

static void model_remove(struct model *m, struct io_op *op)
{
	for (int i = 0; i < m->count; i++) {
		if (m->items[i] != op)
			continue;
		memmove(&m->items[i], &m->items[i + 1], (size_t)(m->count - i - 1) * sizeof m->items[0]);
		memmove(&m->seq[i], &m->seq[i + 1], (size_t)(m->count - i - 1) * sizeof m->seq[0]);
		m->count--;
		return;
	}
	cr_assert_fail("op not in the model");
}

static void run_one(uint64_t seed, uint32_t cap_max)
{
	struct prng rnd;
	prng_init(&rnd, seed);
	struct timer_heap h;
	timer_heap_init(&h, cap_max);
	struct io_op *ops = calloc(MODEL_OPS, sizeof *ops);
	int *armed = calloc(MODEL_OPS, sizeof *armed);
	struct model *m = calloc(1, sizeof *m);
	cr_assert(ops && armed && m);
	uint64_t seq = 0;
	/* Deadlines from a narrow range: many ties; sometimes a wide one. */
	uint64_t range = prng_chance(&rnd, 1, 2) ? 16 : 1u << 30;

	for (int step = 0; step < STEPS; step++) {
		uint64_t what = prng_below(&rnd, 10);
		if (what < 5) { /* arm an idle op */
			int k = (int)prng_below(&rnd, MODEL_OPS);
			if (armed[k])
				continue;
			ops[k].deadline_ns = prng_below(&rnd, range);
			int rc = timer_heap_push(&h, &ops[k]);
			if ((uint32_t)m->count == cap_max) {
				cr_assert_eq(rc, ERR_NOMEM, "seed %" PRIu64 " step %d: push past the cap", seed, step);
				continue;
			}
			cr_assert_eq(rc, 0, "seed %" PRIu64 " step %d", seed, step);
			armed[k] = 1;
			model_insert(m, &ops[k], seq++);
		} else if (what < 8) { /* cancel an armed op */
			int k = (int)prng_below(&rnd, MODEL_OPS);
			if (!armed[k])
				continue;
			timer_heap_remove(&h, &ops[k]);
			model_remove(m, &ops[k]);
			armed[k] = 0;
		} else { /* fire the earliest */
			struct io_op *op = timer_heap_pop(&h);
			if (m->count == 0) {
				cr_assert_null(op, "seed %" PRIu64 " step %d: pop from empty", seed, step);
				continue;
			}
			cr_assert_eq(op, m->items[0], "seed %" PRIu64 " step %d: wrong timer fired", seed, step);
			model_remove(m, op);
			armed[op - ops] = 0;
		}
		cr_assert_eq(timer_heap_count(&h), (uint32_t)m->count, "seed %" PRIu64 " step %d", seed, step);
		cr_assert_eq(timer_heap_peek(&h), m->count ? m->items[0] : NULL, "seed %" PRIu64 " step %d",
			     seed, step);
		if (step % 64 == 0)
			cr_assert(timer_heap_check(&h), "seed %" PRIu64 " step %d: heap invariant", seed, step);
	}
	/* Drain: everything comes out in model order. */
	for (int i = 0; i < m->count; i++)
		cr_assert_eq(timer_heap_pop(&h), m->items[i], "seed %" PRIu64 ": drain %d", seed, i);
	cr_assert_null(timer_heap_pop(&h));
	timer_heap_deinit(&h);
	free(ops);
	free(armed);
	free(m);
}

Test(timer_heap, matches_sorted_array_model, .timeout = 120)
{
	uint64_t seed = helper_seed("timer_heap.matches_sorted_array_model");
	struct prng seeds;
	prng_init(&seeds, seed);
	for (int run = 0; run < RUNS; run++) {
		uint64_t s = prng_next(&seeds);
		/* Half the runs with a small cap, so ERR_NOMEM at the limit is exercised too. */
		run_one(s, run % 2 ? 100 : 1u << 16);
	}
}
