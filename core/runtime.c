/*
 * runtime.c — N core threads, each pinned to a CPU with its own reactor, and the mailboxes
 * between them. See runtime.h for the contract.
 *
 * Mailboxes. Core `to` owns one single-producer/single-consumer ring per source core
 * (inbox[from], LIMIT_MAILBOX_SLOTS each, lock-free: the producer owns `tail`, the consumer
 * owns `head`, release/acquire on the index publishes the slot) plus one mutex-protected ring
 * for threads outside the runtime. A post that finds its ring full returns ERR_AGAIN. After
 * enqueueing, the poster rings the destination's doorbell (reactor_wake: an eventfd that a
 * read kept armed in the destination's ring, or in its epoll set — the same path on both
 * backends, and usable from any thread; IORING_OP_MSG_RING would need the poster to own a
 * ring). Wakes coalesce: one eventfd write per drain, however many posts.
 *
 * Draining runs on the destination core as the doorbell's completion: at most
 * LIMIT_MAILBOX_DRAIN_PER_TURN messages, sources visited round-robin so no sender starves;
 * if messages remain, the core rings itself and continues next turn, after its I/O.
 * Ordering: messages from one source core (or from one foreign thread) to one destination run
 * in the order they were posted.
 *
 * Life cycle. runtime_start creates every reactor first (a core's init may post to any
 * other core), then runs init on every core, and returns once all inits ran. runtime_stop
 * refuses new posts (ERR_STOPPED) and stops every loop; each core then runs fini on its own
 * thread. runtime_join waits for the threads, then frees the reactors and mailboxes (freeing
 * there keeps every reactor alive for posters that raced with stop). Messages still queued
 * when a loop stopped are dropped, and counted in a log line: quiesce first if they own
 * memory.
 */
#define _GNU_SOURCE
#include "core/runtime.h"
#include "core/assert.h"
#include "core/limits.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAILBOX_MASK (LIMIT_MAILBOX_SLOTS - 1u)

struct rt_msg {
	runtime_msg_fn fn;
	void *arg;
};

struct rt_spsc {
	_Alignas(64) _Atomic uint32_t head; /* consumer: next slot to read */
	_Alignas(64) _Atomic uint32_t tail; /* producer: next slot to write */
	_Alignas(64) struct rt_msg slots[LIMIT_MAILBOX_SLOTS];
};

struct rt_core {
	struct runtime *rt;
	int id;
	int cpu;
	pthread_t thread;
	int thread_started;
	struct reactor *r;
	struct rt_spsc *inbox; /* [from core], n rings */
	pthread_mutex_t foreign_mu;
	struct rt_msg *foreign; /* LIMIT_MAILBOX_SLOTS ring */
	uint32_t foreign_head;
	uint32_t foreign_count;
	uint32_t rr; /* next source to drain first (n = the foreign ring) */
	uint64_t msgs_run;
};

struct runtime {
	struct runtime_config cfg;
	int n;
	struct rt_core *cores;
	_Atomic int stopping;
	_Atomic int first_error;

	pthread_mutex_t mu; /* start-up handshake */
	pthread_cond_t cv;
	int created;    /* threads that finished reactor_new (well or not) */
	int inited;     /* threads that finished init */
	int create_err; /* first reactor_new error */
	int go;         /* 1: run init; -1: abort */
};

static _Thread_local struct runtime *tls_rt;
static _Thread_local int tls_core = -1;

int runtime_cores(const struct runtime *rt) { return rt->n; }
int runtime_current_core(void) { return tls_rt ? tls_core : -1; }

/* ---- mailboxes -------------------------------------------------------------------------- */

static int rt_spsc_push(struct rt_spsc *q, struct rt_msg m)
{
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	ASSERT(tail - head <= LIMIT_MAILBOX_SLOTS);
	if (tail - head == LIMIT_MAILBOX_SLOTS)
		return ERR_AGAIN;
	q->slots[tail & MAILBOX_MASK] = m;
	atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
	return 0;
}

static int rt_spsc_pop(struct rt_spsc *q, struct rt_msg *m)
{
	uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	if (head == tail)
		return 0;
	*m = q->slots[head & MAILBOX_MASK];
	atomic_store_explicit(&q->head, head + 1, memory_order_release);
	return 1;
}

static int rt_foreign_pop(struct rt_core *c, struct rt_msg *m)
{
	int got = 0;
	pthread_mutex_lock(&c->foreign_mu);
	if (c->foreign_count) {
		*m = c->foreign[c->foreign_head];
		c->foreign_head = (c->foreign_head + 1) & MAILBOX_MASK;
		c->foreign_count--;
		got = 1;
	}
	pthread_mutex_unlock(&c->foreign_mu);
	return got;
}

/* Source `src` of core c (n = foreign ring): pop one message. */
static int rt_pop_from(struct rt_core *c, uint32_t src, struct rt_msg *m)
{
	if (src == (uint32_t)c->rt->n)
		return rt_foreign_pop(c, m);
	return rt_spsc_pop(&c->inbox[src], m);
}

/* The doorbell handler: run a bounded batch of messages on core c. */
static void rt_core_drain(void *arg)
{
	struct rt_core *c = arg;
	struct runtime *rt = c->rt;
	ASSERT(tls_rt == rt && tls_core == c->id);
	uint32_t sources = (uint32_t)rt->n + 1;
	uint32_t budget = LIMIT_MAILBOX_DRAIN_PER_TURN;
	int more = 0;
	for (uint32_t k = 0; k < sources; k++) {
		uint32_t src = (c->rr + k) % sources;
		struct rt_msg m;
		while (budget && rt_pop_from(c, src, &m)) {
			budget--;
			c->msgs_run++;
			m.fn(rt, c->id, m.arg);
		}
		if (!budget) {
			/* Resume after this source next time; ring ourselves if anything is left. */
			c->rr = (src + 1) % sources;
			more = 1;
			break;
		}
	}
	if (more)
		reactor_wake(c->r);
}

int runtime_post(struct runtime *rt, int to, runtime_msg_fn fn, void *arg)
{
	ASSERT(to >= 0 && to < rt->n);
	ASSERT(fn != NULL);
	if (atomic_load_explicit(&rt->stopping, memory_order_acquire))
		return ERR_STOPPED;
	struct rt_core *dst = &rt->cores[to];
	struct rt_msg m = {.fn = fn, .arg = arg};
	int rc;
	if (tls_rt == rt) {
		rc = rt_spsc_push(&dst->inbox[tls_core], m);
	} else {
		pthread_mutex_lock(&dst->foreign_mu);
		if (dst->foreign_count == LIMIT_MAILBOX_SLOTS) {
			rc = ERR_AGAIN;
		} else {
			dst->foreign[(dst->foreign_head + dst->foreign_count) & MAILBOX_MASK] = m;
			dst->foreign_count++;
			rc = 0;
		}
		pthread_mutex_unlock(&dst->foreign_mu);
	}
	if (rc == 0)
		reactor_wake(dst->r);
	return rc;
}

/* ---- threads ---------------------------------------------------------------------------- */

static void rt_set_error(struct runtime *rt, int err)
{
	int zero = 0;
	atomic_compare_exchange_strong(&rt->first_error, &zero, err);
}

static void *rt_core_main(void *arg)
{
	struct rt_core *c = arg;
	struct runtime *rt = c->rt;
	log_set_core_id(c->id);
	tls_rt = rt;
	tls_core = c->id;

	struct reactor_config rcfg = {
		.backend = rt->cfg.backend, .ring_entries = 0, .cpu = c->cpu, .core_id = c->id};
	int rc = reactor_new(&rcfg, &c->r);
	if (rc == 0)
		reactor_set_wake_handler(c->r, rt_core_drain, c);
	else
		LOG_ERROR("core %d: reactor_new: %s", c->id, err_str(rc));

	pthread_mutex_lock(&rt->mu);
	if (rc && !rt->create_err)
		rt->create_err = rc;
	rt->created++;
	pthread_cond_broadcast(&rt->cv);
	while (rt->go == 0)
		pthread_cond_wait(&rt->cv, &rt->mu);
	int go = rt->go;
	pthread_mutex_unlock(&rt->mu);
	if (go < 0 || rc)
		return NULL;

	if (rt->cfg.init)
		rt->cfg.init(rt, c->id, c->r, rt->cfg.arg);
	pthread_mutex_lock(&rt->mu);
	rt->inited++;
	pthread_cond_broadcast(&rt->cv);
	pthread_mutex_unlock(&rt->mu);

	rc = reactor_run(c->r);
	if (rc) {
		LOG_ERROR("core %d stopped on a fatal error: %s; stopping every core", c->id,
			  err_str(rc));
		rt_set_error(rt, rc);
		runtime_stop(rt);
	}
	if (rt->cfg.fini)
		rt->cfg.fini(rt, c->id, c->r, rt->cfg.arg);
	return NULL;
}

/* CPU for core i: the i-th CPU this process may run on, wrapping around. */
static int rt_cpu_for(int i)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return -1;
	int count = CPU_COUNT(&set);
	if (count <= 0)
		return -1;
	int want = i % count;
	for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET((size_t)cpu, &set))
			continue;
		if (seen++ == want)
			return cpu;
	}
	return -1;
}

static void rt_free(struct runtime *rt)
{
	for (int i = 0; i < rt->n; i++) {
		struct rt_core *c = &rt->cores[i];
		reactor_free(c->r);
		free(c->inbox);
		free(c->foreign);
		pthread_mutex_destroy(&c->foreign_mu);
	}
	pthread_cond_destroy(&rt->cv);
	pthread_mutex_destroy(&rt->mu);
	free(rt->cores);
	free(rt);
}

int runtime_start(const struct runtime_config *cfg, struct runtime **out)
{
	ASSERT(cfg != NULL && out != NULL);
	if (cfg->cores < 1 || cfg->cores > LIMIT_CORES_MAX)
		return ERR_INVAL;
	int rc = 0;
	struct runtime *rt = calloc(1, sizeof *rt);
	if (!rt)
		return ERR_NOMEM;
	rt->cfg = *cfg;
	rt->n = cfg->cores;
	pthread_mutex_init(&rt->mu, NULL);
	pthread_cond_init(&rt->cv, NULL);
	rt->cores = calloc((size_t)rt->n, sizeof *rt->cores);
	if (!rt->cores) {
		free(rt);
		return ERR_NOMEM;
	}
	for (int i = 0; i < rt->n; i++) {
		struct rt_core *c = &rt->cores[i];
		c->rt = rt;
		c->id = i;
		c->cpu = cfg->pin ? rt_cpu_for(i) : -1;
		pthread_mutex_init(&c->foreign_mu, NULL);
		/* Slots are written before they are read; only the indexes need a start value. */
		c->inbox = aligned_alloc(64, (size_t)rt->n * sizeof *c->inbox);
		c->foreign = calloc(LIMIT_MAILBOX_SLOTS, sizeof *c->foreign);
		if (!c->inbox || !c->foreign) {
			rc = ERR_NOMEM;
			goto err_free;
		}
		for (int j = 0; j < rt->n; j++) {
			atomic_init(&c->inbox[j].head, 0);
			atomic_init(&c->inbox[j].tail, 0);
		}
	}

	int started = 0;
	for (int i = 0; i < rt->n; i++) {
		struct rt_core *c = &rt->cores[i];
		int e = pthread_create(&c->thread, NULL, rt_core_main, c);
		if (e) {
			rc = err_from_errno(e);
			break;
		}
		c->thread_started = 1;
		started++;
	}

	pthread_mutex_lock(&rt->mu);
	while (rt->created < started)
		pthread_cond_wait(&rt->cv, &rt->mu);
	if (!rc)
		rc = rt->create_err;
	rt->go = rc ? -1 : 1;
	pthread_cond_broadcast(&rt->cv);
	while (!rc && rt->inited < rt->n)
		pthread_cond_wait(&rt->cv, &rt->mu);
	pthread_mutex_unlock(&rt->mu);
	if (rc)
		goto err_join;
	LOG_INFO("runtime: %d cores on %s%s", rt->n, reactor_backend_name(reactor_backend(rt->cores[0].r)),
		 cfg->pin ? ", pinned" : "");
	*out = rt;
	return 0;

err_join:
	for (int i = 0; i < rt->n; i++) {
		if (rt->cores[i].thread_started)
			pthread_join(rt->cores[i].thread, NULL);
	}
err_free:
	rt_free(rt);
	ASSERT(rc < 0);
	return rc;
}

void runtime_stop(struct runtime *rt)
{
	atomic_store_explicit(&rt->stopping, 1, memory_order_release);
	for (int i = 0; i < rt->n; i++)
		reactor_stop(rt->cores[i].r);
}

int runtime_join(struct runtime *rt)
{
	ASSERT(tls_rt != rt); /* a core cannot wait for itself */
	for (int i = 0; i < rt->n; i++) {
		ASSERT(rt->cores[i].thread_started);
		pthread_join(rt->cores[i].thread, NULL);
	}
	uint64_t dropped = 0;
	for (int i = 0; i < rt->n; i++) {
		struct rt_core *c = &rt->cores[i];
		for (int j = 0; j < rt->n; j++) {
			dropped += atomic_load(&c->inbox[j].tail) - atomic_load(&c->inbox[j].head);
		}
		dropped += c->foreign_count;
	}
	if (dropped)
		LOG_WARN("runtime: %llu mailbox messages were still queued at stop and were dropped",
			 (unsigned long long)dropped);
	int rc = atomic_load(&rt->first_error);
	rt_free(rt);
	return rc;
}
