/* test_runtime.c — cores and mailboxes (backend from REGATTA_IO_BACKEND): ping-pong between two
 * cores with ordering preserved, ERR_AGAIN on a full mailbox (core-to-core and foreign), posts
 * from foreign threads, and a clean stop/join (ASan checks for leaks). */
#include "core/limits.h"
#include "core/pool.h"
#include "core/reactor.h"
#include "core/runtime.h"
#include "unit/core/helper_core.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum reactor_backend test_backend(void)
{
	enum reactor_backend b;
	cr_assert_eq(reactor_backend_parse(NULL, &b), 0);
	return b;
}

/* Wait on a semaphore for at most 60 s (hang guard). */
static void sem_wait_guarded(sem_t *s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 60;
	int rc;
	do
		rc = sem_timedwait(s, &ts);
	while (rc < 0 && errno == EINTR);
	cr_assert_eq(rc, 0, "hang guard: waited 60 s");
}

static struct runtime *start(int cores, int pin, runtime_core_init_fn init,
			     runtime_core_fini_fn fini, void *arg)
{
	struct runtime_config cfg = {.cores = cores, .backend = test_backend(), .pin = pin,
				     .init = init, .fini = fini, .arg = arg};
	struct runtime *rt = NULL;
	int rc = runtime_start(&cfg, &rt);
	cr_assert_eq(rc, 0, "runtime_start: %s", err_str(rc));
	cr_assert_eq(runtime_cores(rt), cores);
	return rt;
}

/* ---- ping-pong -------------------------------------------------------------------------- */

#define PP_ROUNDS 20000
#define PP_WINDOW 64 /* messages in flight: ordering is tested under pipelining */

struct pingpong {
	struct runtime *rt;
	uint64_t next_to_send;  /* core 0 */
	uint64_t acked;         /* core 0 */
	uint64_t expect_at_1;   /* core 1 */
	int order_errors;
	int wrong_core;
	sem_t done;
};

static void pp_pong(struct runtime *rt, int core, void *arg);

static void pp_send_more(struct pingpong *pp)
{
	while (pp->next_to_send < PP_ROUNDS && pp->next_to_send - pp->acked < PP_WINDOW) {
		int rc = runtime_post(pp->rt, 1, pp_pong, (void *)(uintptr_t)pp->next_to_send);
		cr_assert_eq(rc, 0, "post to core 1: %s", err_str(rc));
		pp->next_to_send++;
	}
}

static struct pingpong *g_pp;

static void pp_ack(struct runtime *rt, int core, void *arg)
{
	struct pingpong *pp = g_pp;
	uint64_t seq = (uint64_t)(uintptr_t)arg;
	if (core != 0 || runtime_current_core() != 0)
		pp->wrong_core++;
	if (seq != pp->acked)
		pp->order_errors++;
	pp->acked = seq + 1;
	if (pp->acked == PP_ROUNDS)
		sem_post(&pp->done);
	else
		pp_send_more(pp);
}

static void pp_pong(struct runtime *rt, int core, void *arg)
{
	struct pingpong *pp = g_pp;
	uint64_t seq = (uint64_t)(uintptr_t)arg;
	if (core != 1 || runtime_current_core() != 1)
		pp->wrong_core++;
	if (seq != pp->expect_at_1)
		pp->order_errors++;
	pp->expect_at_1 = seq + 1;
	int rc = runtime_post(rt, 0, pp_ack, arg);
	cr_assert_eq(rc, 0);
}

static void pp_kick(struct runtime *rt, int core, void *arg)
{
	pp_send_more(arg);
}

Test(runtime, ping_pong_two_cores_in_order, .timeout = 120)
{
	struct pingpong pp;
	memset(&pp, 0, sizeof pp);
	sem_init(&pp.done, 0, 0);
	g_pp = &pp;
	pp.rt = start(2, 1, NULL, NULL, NULL);
	cr_assert_eq(runtime_current_core(), -1, "the test thread is not a core");
	cr_assert_eq(runtime_post(pp.rt, 0, pp_kick, &pp), 0);
	sem_wait_guarded(&pp.done);
	runtime_stop(pp.rt);
	cr_assert_eq(runtime_join(pp.rt), 0);
	cr_assert_eq(pp.order_errors, 0);
	cr_assert_eq(pp.wrong_core, 0);
	cr_assert_eq(pp.acked, PP_ROUNDS);
	cr_assert_eq(pp.expect_at_1, PP_ROUNDS);
	sem_destroy(&pp.done);
}

/* ---- full mailboxes --------------------------------------------------------------------- */

struct full {
	struct runtime *rt;
	sem_t blocked, release, done;
	_Atomic uint64_t ran;
	uint64_t next_ring, next_foreign; /* on core 1 */
	int order_errors;
	int ring_accepted, ring_again;
	int foreign_accepted, foreign_again;
};

static struct full *g_full;

static void full_block(struct runtime *rt, int core, void *arg)
{
	struct full *f = arg;
	sem_post(&f->blocked);
	sem_wait_guarded(&f->release); /* core 1 drains nothing until core 0 filled its ring */
}

static void full_ring_msg(struct runtime *rt, int core, void *arg)
{
	struct full *f = g_full;
	uint64_t seq = (uint64_t)(uintptr_t)arg;
	if (seq != f->next_ring)
		f->order_errors++;
	f->next_ring = seq + 1;
	if (atomic_fetch_add(&f->ran, 1) + 1 == 2 * LIMIT_MAILBOX_SLOTS)
		sem_post(&f->done);
}

static void full_foreign_msg(struct runtime *rt, int core, void *arg)
{
	struct full *f = g_full;
	uint64_t seq = (uint64_t)(uintptr_t)arg;
	if (seq != f->next_foreign)
		f->order_errors++;
	f->next_foreign = seq + 1;
	if (atomic_fetch_add(&f->ran, 1) + 1 == 2 * LIMIT_MAILBOX_SLOTS)
		sem_post(&f->done);
}

static void full_flood_from_core0(struct runtime *rt, int core, void *arg)
{
	struct full *f = arg;
	for (uint64_t i = 0; i <= LIMIT_MAILBOX_SLOTS; i++) {
		int rc = runtime_post(rt, 1, full_ring_msg, (void *)(uintptr_t)i);
		if (rc == 0)
			f->ring_accepted++;
		else if (rc == ERR_AGAIN)
			f->ring_again++;
	}
	sem_post(&f->release);
}

Test(runtime, full_mailbox_gives_err_again, .timeout = 120)
{
	struct full f;
	memset(&f, 0, sizeof f);
	g_full = &f;
	sem_init(&f.blocked, 0, 0);
	sem_init(&f.release, 0, 0);
	sem_init(&f.done, 0, 0);
	f.rt = start(2, 0, NULL, NULL, NULL);
	cr_assert_eq(runtime_post(f.rt, 1, full_block, &f), 0);
	sem_wait_guarded(&f.blocked);

	/* Core 1 is stuck in full_block: its foreign queue fills up... */
	for (uint64_t i = 0; i <= LIMIT_MAILBOX_SLOTS; i++) {
		int rc = runtime_post(f.rt, 1, full_foreign_msg, (void *)(uintptr_t)i);
		if (rc == 0)
			f.foreign_accepted++;
		else if (rc == ERR_AGAIN)
			f.foreign_again++;
	}
	/* ...and so does the ring from core 0, which then releases core 1. */
	cr_assert_eq(runtime_post(f.rt, 0, full_flood_from_core0, &f), 0);
	sem_wait_guarded(&f.done);
	runtime_stop(f.rt);
	cr_assert_eq(runtime_join(f.rt), 0);

	cr_assert_eq(f.foreign_accepted, LIMIT_MAILBOX_SLOTS);
	cr_assert_eq(f.foreign_again, 1);
	cr_assert_eq(f.ring_accepted, LIMIT_MAILBOX_SLOTS);
	cr_assert_eq(f.ring_again, 1);
	cr_assert_eq(f.order_errors, 0);
	cr_assert_eq(f.next_ring, LIMIT_MAILBOX_SLOTS);
	cr_assert_eq(f.next_foreign, LIMIT_MAILBOX_SLOTS);
	sem_destroy(&f.blocked);
	sem_destroy(&f.release);
	sem_destroy(&f.done);
}

/* ---- foreign threads -------------------------------------------------------------------- */

#define FOREIGN_THREADS 3
#define FOREIGN_MSGS 20000

struct foreign {
	struct runtime *rt;
	uint64_t next[2][FOREIGN_THREADS]; /* [core][thread], touched only by that core */
	int order_errors[2];
	_Atomic uint64_t ran;
	_Atomic uint64_t again;
	sem_t done;
};

static struct foreign *g_foreign;

static void foreign_msg(struct runtime *rt, int core, void *arg)
{
	struct foreign *fo = g_foreign;
	uintptr_t v = (uintptr_t)arg;
	unsigned th = (unsigned)(v & 0xff);
	uint64_t seq = v >> 8;
	if (fo->next[core][th] != seq)
		fo->order_errors[core]++;
	fo->next[core][th] = seq + 1;
	if (atomic_fetch_add(&fo->ran, 1) + 1 == 2ull * FOREIGN_THREADS * FOREIGN_MSGS)
		sem_post(&fo->done);
}

struct foreign_arg {
	struct foreign *fo;
	unsigned id;
};

static void *foreign_thread(void *p)
{
	struct foreign_arg *a = p;
	for (uint64_t i = 0; i < FOREIGN_MSGS; i++) {
		for (int core = 0; core < 2; core++) {
			void *arg = (void *)(uintptr_t)((i << 8) | a->id);
			int rc;
			int tries = 0;
			while ((rc = runtime_post(a->fo->rt, core, foreign_msg, arg)) == ERR_AGAIN) {
				atomic_fetch_add(&a->fo->again, 1);
				cr_assert_lt(++tries, 10000000, "mailbox never drained");
				sched_yield();
			}
			cr_assert_eq(rc, 0);
		}
	}
	return NULL;
}

Test(runtime, posts_from_foreign_threads, .timeout = 120)
{
	struct foreign fo;
	memset(&fo, 0, sizeof fo);
	g_foreign = &fo;
	sem_init(&fo.done, 0, 0);
	fo.rt = start(2, 0, NULL, NULL, NULL);
	pthread_t th[FOREIGN_THREADS];
	struct foreign_arg args[FOREIGN_THREADS];
	for (unsigned i = 0; i < FOREIGN_THREADS; i++) {
		args[i].fo = &fo;
		args[i].id = i;
		cr_assert_eq(pthread_create(&th[i], NULL, foreign_thread, &args[i]), 0);
	}
	for (unsigned i = 0; i < FOREIGN_THREADS; i++)
		pthread_join(th[i], NULL);
	sem_wait_guarded(&fo.done);
	runtime_stop(fo.rt);
	cr_assert_eq(runtime_join(fo.rt), 0);
	cr_assert_eq(fo.order_errors[0] + fo.order_errors[1], 0);
	for (int c = 0; c < 2; c++)
		for (int t = 0; t < FOREIGN_THREADS; t++)
			cr_assert_eq(fo.next[c][t], FOREIGN_MSGS);
}

/* ---- life cycle ------------------------------------------------------------------------- */

struct life {
	_Atomic int inits, finis;
	int init_core_ok;
	struct pool pools[4];
	void *objs[4];
	struct io_op timers[4];
	_Atomic int timer_results[4];
	sem_t stopped_by_core;
};

static void life_timer_cb(struct io_op *op)
{
	struct life *l = op->ctx;
	int core = runtime_current_core();
	atomic_store(&l->timer_results[core], (int)op->result + 100);
}

static void life_init(struct runtime *rt, int core, struct reactor *r, void *arg)
{
	struct life *l = arg;
	atomic_fetch_add(&l->inits, 1);
	if (runtime_current_core() == core && reactor_core_id(r) == core)
		l->init_core_ok++;
	/* Per-core state the core allocates and its fini frees. */
	cr_assert_eq(pool_init(&l->pools[core], 64, 16), 0);
	l->objs[core] = pool_alloc(&l->pools[core]);
	cr_assert_not_null(l->objs[core]);
	/* A timer that is still armed at stop: the loop ends without running it. */
	l->timers[core].cb = life_timer_cb;
	l->timers[core].ctx = l;
	reactor_timeout(r, &l->timers[core], 3600ull * 1000000000ull);
}

static void life_fini(struct runtime *rt, int core, struct reactor *r, void *arg)
{
	struct life *l = arg;
	reactor_cancel(r, &l->timers[core]); /* its callback will never run: the loop is over */
	pool_free(&l->pools[core], l->objs[core]);
	pool_deinit(&l->pools[core]);
	atomic_fetch_add(&l->finis, 1);
}

static void life_stop_from_core(struct runtime *rt, int core, void *arg)
{
	struct life *l = arg;
	runtime_stop(rt);
	sem_post(&l->stopped_by_core);
}

Test(runtime, clean_stop_and_join, .timeout = 120)
{
	for (int round = 0; round < 6; round++) {
		struct life l;
		memset(&l, 0, sizeof l);
		sem_init(&l.stopped_by_core, 0, 0);
		int cores = 1 + round % 3;
		struct runtime *rt = start(cores, round % 2, life_init, life_fini, &l);
		cr_assert_eq(atomic_load(&l.inits), cores, "runtime_start returns after every init");
		cr_assert_eq(l.init_core_ok, cores);
		if (round % 2) {
			/* Stop from inside a core. */
			cr_assert_eq(runtime_post(rt, cores - 1, life_stop_from_core, &l), 0);
			sem_wait_guarded(&l.stopped_by_core);
		} else {
			runtime_stop(rt);
		}
		cr_assert_eq(runtime_post(rt, 0, life_stop_from_core, &l), ERR_STOPPED);
		cr_assert_eq(runtime_join(rt), 0);
		cr_assert_eq(atomic_load(&l.finis), cores);
		for (int c = 0; c < cores; c++)
			cr_assert_eq(atomic_load(&l.timer_results[c]), 0, "no callback after the loop");
		sem_destroy(&l.stopped_by_core);
	}
}

Test(runtime, bad_config_is_refused)
{
	struct runtime_config cfg = {.cores = 0};
	struct runtime *rt = NULL;
	cr_assert_eq(runtime_start(&cfg, &rt), ERR_INVAL);
	cfg.cores = LIMIT_CORES_MAX + 1;
	cr_assert_eq(runtime_start(&cfg, &rt), ERR_INVAL);
}
