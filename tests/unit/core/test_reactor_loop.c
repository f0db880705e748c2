/* test_reactor_loop.c — the loop itself on the backend REGATTA_IO_BACKEND names: timers fire in
 * deadline order and a cancel gives ERR_CANCELED exactly once; callbacks per turn are bounded
 * so a storm does not starve I/O; turn hooks run once per turn; the doorbell and stop work from
 * another thread; a failed fdatasync is fatal; AUTO falls back to epoll when io_uring is refused. */
#include "core/clock.h"
#include "core/limits.h"
#include "core/prng.h"
#include "core/reactor.h"
#include "unit/core/helper_core.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct one_result {
	int calls;
	int64_t result;
};

static void one_result_cb(struct io_op *op)
{
	struct one_result *s = op->ctx;
	s->calls++;
	s->result = op->result;
}

/* ---- timers ----------------------------------------------------------------------------- */

#define NTIMERS 400

struct timer_rec {
	struct io_op op;
	int id;
	uint64_t deadline_ns;
	int calls;
	int64_t result;
	uint64_t fired_ns;
};

struct timer_test {
	struct reactor *r;
	int order[NTIMERS];
	int nfired;
	uint64_t done;
};

static struct timer_test *g_tt;

static void timer_cb(struct io_op *op)
{
	struct timer_rec *t = op->ctx;
	t->calls++;
	t->result = op->result;
	t->fired_ns = clock_mono_ns();
	if (op->result == 0)
		g_tt->order[g_tt->nfired++] = t->id;
	g_tt->done++;
}

Test(reactor_loop, timers_fire_in_order_and_cancel_once, .timeout = 60)
{
	uint64_t seed = helper_seed("timers_fire_in_order_and_cancel_once");
	struct prng rnd;
	prng_init(&rnd, seed);
	struct timer_test tt;
	memset(&tt, 0, sizeof tt);
	g_tt = &tt;
	tt.r = helper_reactor_new();
	struct timer_rec *t = calloc(NTIMERS, sizeof *t);
	cr_assert_not_null(t);
	int canceled = 0;
	for (int i = 0; i < NTIMERS; i++) {
		t[i].id = i;
		t[i].op.cb = timer_cb;
		t[i].op.ctx = &t[i];
		/* Few distinct delays, so ties (fired in arming order) are common. */
		uint64_t after = prng_below(&rnd, 20) * 1000000ull;
		t[i].deadline_ns = clock_mono_ns() + after;
		reactor_timeout(tt.r, &t[i].op, after);
	}
	for (int i = 0; i < NTIMERS; i += 3) {
		reactor_cancel(tt.r, &t[i].op);
		reactor_cancel(tt.r, &t[i].op); /* a second cancel changes nothing */
		canceled++;
	}
	helper_run_until_count(tt.r, &tt.done, NTIMERS, 100000);
	cr_assert_eq(tt.nfired, NTIMERS - canceled);
	for (int i = 0; i < NTIMERS; i++) {
		cr_assert_eq(t[i].calls, 1, "timer %d ran its callback %d times", i, t[i].calls);
		if (i % 3 == 0)
			cr_assert_eq(t[i].result, ERR_CANCELED);
		else {
			cr_assert_eq(t[i].result, 0);
			cr_assert_geq(t[i].fired_ns, t[i].deadline_ns, "timer %d fired early", i);
		}
	}
	/* Deadline order; equal deadlines in arming order. */
	for (int k = 1; k < tt.nfired; k++) {
		struct timer_rec *a = &t[tt.order[k - 1]], *b = &t[tt.order[k]];
		cr_assert(a->op.deadline_ns < b->op.deadline_ns ||
				  (a->op.deadline_ns == b->op.deadline_ns && a->id < b->id),
			  "timer %d fired before timer %d", a->id, b->id);
	}
	/* Cancel after firing: nothing happens. */
	reactor_cancel(tt.r, &t[1].op);
	cr_assert_eq(reactor_run_once(tt.r, 0), 0);
	cr_assert_eq(t[1].calls, 1);
	free(t);
	reactor_free(tt.r);
}

/* ---- callback storm --------------------------------------------------------------------- */

#define STORM_OPS (2 * LIMIT_COMPLETIONS_PER_TURN + 100)

struct storm {
	struct reactor *r;
	struct io_op ops[STORM_OPS];
	uint64_t callbacks;
	uint64_t in_turn;
	uint64_t max_in_turn;
	uint64_t turns;
	int stop;
	int recv_done;
	uint64_t recv_turn;
	uint64_t hook_calls;
};

static void storm_cb(struct io_op *op)
{
	struct storm *s = op->ctx;
	s->callbacks++;
	s->in_turn++;
	if (!s->stop)
		reactor_timeout(s->r, op, 0); /* due at once: completes again next turn */
}

static void storm_hook(void *ctx)
{
	struct storm *s = ctx;
	if (s->in_turn > s->max_in_turn)
		s->max_in_turn = s->in_turn;
	s->in_turn = 0;
	s->turns++;
	s->hook_calls++;
}

static void storm_recv_cb(struct io_op *op)
{
	struct storm *s = op->ctx;
	s->callbacks++;
	s->in_turn++;
	cr_assert_eq(op->result, 5);
	s->recv_done = 1;
	s->recv_turn = s->turns;
}

Test(reactor_loop, callback_storm_is_bounded_and_io_flows, .timeout = 60)
{
	struct storm *s = calloc(1, sizeof *s);
	cr_assert_not_null(s);
	s->r = helper_reactor_new();
	cr_assert_eq(reactor_add_turn_hook(s->r, storm_hook, s), 0);
	for (int i = 0; i < STORM_OPS; i++) {
		s->ops[i].cb = storm_cb;
		s->ops[i].ctx = s;
		reactor_timeout(s->r, &s->ops[i], 0);
	}
	/* Let the storm get going, then start I/O in the middle of it. */
	for (int i = 0; i < 5; i++)
		cr_assert_eq(reactor_run_once(s->r, 0), 0);
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	cr_assert_eq(write(sv[1], "hello", 5), 5);
	char buf[8];
	struct io_op rx = {.cb = storm_recv_cb, .ctx = s};
	uint64_t start_turn = s->turns;
	reactor_recv(s->r, &rx, sv[0], buf, sizeof buf);
	helper_run_until(s->r, &s->recv_done, 100);
	/* The recv waited behind at most the backlog of the storm: a few bounded passes. */
	cr_assert_leq(s->recv_turn - start_turn, 4, "recv starved for %" PRIu64 " turns",
		      s->recv_turn - start_turn);
	cr_assert_leq(s->max_in_turn, LIMIT_COMPLETIONS_PER_TURN);
	cr_assert_eq(s->max_in_turn, LIMIT_COMPLETIONS_PER_TURN, "the storm fills every pass");
	struct reactor_stats st;
	reactor_get_stats(s->r, &st);
	cr_assert_leq(st.max_callbacks_in_turn, LIMIT_COMPLETIONS_PER_TURN);
	cr_assert_eq(s->hook_calls, st.turns, "one hook call per turn");

	s->stop = 1; /* drain: every timer runs its callback once more and stops */
	for (int i = 0; i < 100 && st.inflight; i++) {
		cr_assert_eq(reactor_run_once(s->r, 0), 0);
		reactor_get_stats(s->r, &st);
	}
	cr_assert_eq(st.inflight, 0);
	close(sv[0]);
	close(sv[1]);
	reactor_free(s->r);
	free(s);
}

/* ---- turn hooks ------------------------------------------------------------------------- */

struct hooks {
	struct reactor *r;
	int a_calls, b_calls, c_calls;
	int seq[64];
	int nseq;
	int remove_b_at;
};

static void hook_a(void *ctx)
{
	struct hooks *h = ctx;
	h->a_calls++;
	if (h->nseq < 64)
		h->seq[h->nseq++] = 'a';
}

static void hook_b(void *ctx);
static void hook_c(void *ctx)
{
	struct hooks *h = ctx;
	h->c_calls++;
	if (h->nseq < 64)
		h->seq[h->nseq++] = 'c';
}

static void hook_b(void *ctx)
{
	struct hooks *h = ctx;
	h->b_calls++;
	if (h->nseq < 64)
		h->seq[h->nseq++] = 'b';
	if (h->b_calls == h->remove_b_at)
		reactor_remove_turn_hook(h->r, hook_b, h); /* removing itself while hooks run */
}

Test(reactor_loop, turn_hooks_run_once_per_turn)
{
	struct hooks h;
	memset(&h, 0, sizeof h);
	h.r = helper_reactor_new();
	h.remove_b_at = 3;
	cr_assert_eq(reactor_add_turn_hook(h.r, hook_a, &h), 0);
	cr_assert_eq(reactor_add_turn_hook(h.r, hook_b, &h), 0);
	cr_assert_eq(reactor_add_turn_hook(h.r, hook_c, &h), 0);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(reactor_run_once(h.r, 0), 0);
	cr_assert_eq(h.a_calls, 10);
	cr_assert_eq(h.b_calls, 3);
	cr_assert_eq(h.c_calls, 10);
	/* Registration order: a, b, c while b lives. */
	cr_assert_eq(h.seq[0], 'a');
	cr_assert_eq(h.seq[1], 'b');
	cr_assert_eq(h.seq[2], 'c');
	cr_assert_eq(h.seq[9], 'a');
	cr_assert_eq(h.seq[10], 'c');
	reactor_remove_turn_hook(h.r, hook_a, &h);
	cr_assert_eq(reactor_run_once(h.r, 0), 0);
	cr_assert_eq(h.a_calls, 10);
	cr_assert_eq(h.c_calls, 11);
	/* The table is bounded. */
	int added = 0;
	while (reactor_add_turn_hook(h.r, hook_a, &h) == 0)
		cr_assert_lt(++added, LIMIT_TURN_HOOKS);
	cr_assert_eq(added, LIMIT_TURN_HOOKS - 1);
	reactor_free(h.r);
}

/* ---- doorbell and stop from another thread ---------------------------------------------- */

struct waker {
	struct reactor *r;
	int handler_calls;
	int rounds;
};

static void wake_handler(void *ctx)
{
	struct waker *w = ctx;
	w->handler_calls++;
}

static void *waker_thread(void *arg)
{
	struct waker *w = arg;
	for (int i = 0; i < w->rounds; i++)
		reactor_wake(w->r);
	usleep(20000);
	reactor_stop(w->r);
	return NULL;
}

Test(reactor_loop, wake_and_stop_from_another_thread, .timeout = 60)
{
	struct waker w = {.rounds = 1000};
	w.r = helper_reactor_new();
	reactor_set_wake_handler(w.r, wake_handler, &w);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, waker_thread, &w), 0);
	cr_assert_eq(reactor_run(w.r), 0); /* returns only because of reactor_stop */
	pthread_join(th, NULL);
	cr_assert_geq(w.handler_calls, 1);
	cr_assert_leq(w.handler_calls, w.rounds + 1, "wakes coalesce");
	/* The stop request was consumed: the reactor runs again. */
	struct one_result fired = {0, -1};
	struct io_op op = {.cb = one_result_cb, .ctx = &fired};
	reactor_timeout(w.r, &op, 0);
	helper_run_until(w.r, &fired.calls, 100);
	cr_assert_eq(fired.result, 0);
	reactor_free(w.r);
}

/* ---- fatal fsync ------------------------------------------------------------------------ */


Test(reactor_loop, failed_fdatasync_is_fatal)
{
	struct reactor *r = helper_reactor_new();
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct one_result s = {0, 0};
	struct io_op op = {.cb = one_result_cb, .ctx = &s};
	reactor_fdatasync(r, &op, p[1]); /* fdatasync on a pipe: EINVAL */
	int rc = 0;
	for (int i = 0; i < 1000 && !rc; i++)
		rc = reactor_run_once(r, 10000000);
	cr_assert_eq(s.calls, 1, "the callback still runs");
	cr_assert_eq(s.result, ERR_INVAL, "got %s", err_str((int)s.result));
	cr_assert_eq(rc, ERR_INVAL);
	cr_assert_eq(reactor_run_once(r, 0), ERR_INVAL, "sticky");
	cr_assert_eq(reactor_run(r), ERR_INVAL);
	close(p[0]);
	close(p[1]);
	reactor_free(r);
}

/* ---- automatic fallback ----------------------------------------------------------------- */

/* Refuse io_uring_setup with EPERM in this (forked) test process, as Docker's seccomp profile
 * does. Returns 0 when the filter is installed. */
static int refuse_io_uring(void)
{
#if defined(__x86_64__)
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = (unsigned short)(sizeof filter / sizeof filter[0]),
				  .filter = filter};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
#else
	return -1;
#endif
}

Test(reactor_loop, auto_falls_back_to_epoll_when_io_uring_is_refused)
{
	/* This test is about AUTO itself, so it ignores the suite's backend choice. */
	unsetenv("REGATTA_IO_BACKEND");
	if (refuse_io_uring() != 0)
		cr_skip_test("cannot install a seccomp filter here");
	struct reactor_config cfg = {.backend = REACTOR_BACKEND_URING, .cpu = -1};
	struct reactor *r = NULL;
	cr_assert_eq(reactor_new(&cfg, &r), ERR_UNSUPPORTED, "forced io_uring is refused, no fallback");
	cfg.backend = REACTOR_BACKEND_AUTO;
	cr_assert_eq(reactor_new(&cfg, &r), 0);
	cr_assert_eq(reactor_backend(r), REACTOR_BACKEND_EPOLL);
	/* And it works: a timer fires. */
	struct one_result fired = {0, -1};
	struct io_op op = {.cb = one_result_cb, .ctx = &fired};
	reactor_timeout(r, &op, 1000);
	helper_run_until(r, &fired.calls, 1000);
	cr_assert_eq(fired.result, 0);
	reactor_free(r);
}
