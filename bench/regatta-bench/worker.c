/*
 * worker.c — one worker thread: a reactor (core/reactor.h) with its own connections
 * (net/transport.h) and clients. Workers share nothing while they run; main reads their
 * counters after joining them.
 *
 * Placement: connection i belongs to worker i % T and talks to endpoint i % E; client g uses
 * connection g % M. Quotas: with --total, client g gets total/N (+1 for the first total%N);
 * a worker's quota is the sum of its clients'. Keys: random uniform over the key space, or
 * sequential (client g writes g, g+N, g+2N, ... so a preload with total = keys writes every key
 * exactly once; in open loop the worker's stride is T).
 *
 * Invariants:
 *   - a client has at most one call in flight (`busy`); `inflight` counts the worker's calls;
 *   - every started call ends in exactly one on_done, which counts it once: issued == ok +
 *     errors per operation kind (asserted at the end);
 *   - the worker stops when it is told to (duration, --max-seconds) or has nothing left to
 *     issue, and only leaves its loop with no call in flight;
 *   - a connection that closes while running is reconnected with backoff; after
 *     RB_RECONNECTS_MAX failures in a row it gives up and its clients stop.
 */
#define _GNU_SOURCE
#include "rb.h"

#include "core/assert.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/prng.h"
#include "core/reactor.h"
#include "net/transport.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define NS_PER_S 1000000000ull
#define BEHIND_NS 1000000ull /* open loop: a send this late counts as behind schedule */
#define RECONNECT_BACKOFF_MIN_NS 50000000ull
#define RECONNECT_BACKOFF_MAX_NS 1000000000ull
#define TEARDOWN_TURNS_MAX 1000 /* turns to let canceled socket ops come back */

struct worker;

struct conn {
	struct worker *w;
	struct transport_client *tc;
	const char *addr;
	uint32_t index;
	int ready;
	int gave_up;
	uint32_t failures; /* consecutive failed connects */
	uint64_t backoff_ns;
	struct io_op retry_op;
	int retry_busy;
	struct client **clients;
	uint32_t n_clients;
};

struct client {
	struct worker *w;
	struct conn *conn;
	uint64_t gid;
	uint64_t remaining; /* closed loop quota; UINT64_MAX when unbounded or open loop */
	uint64_t seq;
	struct prng rng;
	int busy;
	int dead;
	int on_stack;
	struct client *next_idle;
	/* The call in flight. */
	enum rb_op op;
	uint64_t origin_ns; /* latency counts from here: send time, or due time in open loop */
	uint32_t msgs;
	int found, succeeded, bad;
};

struct phase {
	const struct rb_config *cfg;
	pthread_barrier_t barrier;
	atomic_int connect_failed;
};

struct worker {
	const struct rb_config *cfg;
	struct phase *ph;
	uint32_t id;
	pthread_t thread;
	struct reactor *r;
	struct conn *conns;
	uint32_t n_conns;
	struct client *clients;
	struct client **slots; /* clients grouped by connection; conn->clients points in here */
	uint32_t n_clients;
	uint64_t remaining;    /* requests this worker may still start */
	uint32_t live_clients; /* clients that may still issue */
	uint64_t inflight;
	int running; /* past the start barrier */
	int stopping;
	int done;
	uint32_t mix_total;
	uint32_t mix_cum[RB_OP_COUNT];
	uint64_t seq; /* open loop sequential keys */
	/* Open loop. */
	uint64_t interval_ns;
	uint64_t next_due_ns;
	struct client *idle;
	struct io_op tick_op;
	int tick_busy;
	struct io_op stop_op;
	int stop_busy;
	/* Request encoding (grpc_client_unary copies the message). */
	uint8_t *req_buf;
	size_t req_cap;
	uint8_t *value;
	uint8_t key[RB_KEY_BYTES_MAX];
	struct grpc_client_call_opts call_opts;
	struct rb_result res;
};

static void client_kick(struct client *cl);
static void worker_check_done(struct worker *w);
static void conn_connect(struct conn *c);

static const char *err_slot_msg(const char *m)
{
	return m && *m ? m : "(no message)";
}

/* ---- calls ------------------------------------------------------------------------------- */

static void on_message(struct grpc_client_call *call, const uint8_t *msg, size_t len, void *ctx)
{
	(void)call;
	struct client *cl = ctx;
	cl->msgs++;
	if (cl->msgs == 1 && rb_wire_check_response(cl->w->cfg->target, cl->op, msg, len,
	                                            &cl->found, &cl->succeeded))
		cl->bad = 1;
}

static void record_error(struct rb_op_stats *st, int slot, const char *message)
{
	ASSERT(slot > 0 && slot < RB_ERR_SLOTS);
	if (st->errors[slot]++ == 0)
		snprintf(st->first_error[slot], sizeof st->first_error[slot], "%s",
		         err_slot_msg(message));
}

static void on_done(struct grpc_client_call *call, int status, const char *message, void *ctx)
{
	(void)call;
	struct client *cl = ctx;
	struct worker *w = cl->w;
	ASSERT(cl->busy && w->inflight > 0);
	uint64_t now = clock_mono_ns();
	cl->busy = 0;
	w->inflight--;
	struct rb_op_stats *st = &w->res.ops[cl->op];
	if (status == GRPC_STATUS_OK) {
		if (cl->msgs != 1 || cl->bad) {
			record_error(st, RB_ERR_BAD_RESPONSE,
			             cl->msgs != 1 ? "OK without exactly one response message"
			                           : "malformed response message");
		} else {
			st->ok++;
			hist_record(&st->hist, now > cl->origin_ns ? now - cl->origin_ns : 0);
			if ((cl->op == RB_OP_RANGE || cl->op == RB_OP_RANGE_LIN) && !cl->found)
				st->misses++;
			if (cl->op == RB_OP_TXN && !cl->succeeded)
				st->txn_failed++;
		}
	} else {
		int slot = status > 0 && status < GRPC_STATUS_COUNT ? status : GRPC_STATUS_UNKNOWN;
		record_error(st, slot, message);
	}
	if (w->running && !w->done)
		client_kick(cl);
	worker_check_done(w);
}

static const struct grpc_client_call_ops call_ops = {.on_message = on_message, .on_done = on_done};

static enum rb_op pick_op(struct client *cl)
{
	struct worker *w = cl->w;
	uint32_t x = (uint32_t)prng_below(&cl->rng, w->mix_total);
	for (int op = 0; op < RB_OP_COUNT; op++)
		if (x < w->mix_cum[op])
			return (enum rb_op)op;
	UNREACHABLE();
}

static uint64_t pick_key(struct client *cl)
{
	struct worker *w = cl->w;
	const struct rb_config *cfg = w->cfg;
	if (!cfg->sequential)
		return prng_below(&cl->rng, cfg->keys);
	if (cfg->rate > 0)
		return (w->id + (uint64_t)cfg->threads * w->seq++) % cfg->keys;
	return (cl->gid + (uint64_t)cfg->clients * cl->seq++) % cfg->keys;
}

static void client_stop(struct client *cl)
{
	if (cl->dead)
		return;
	cl->dead = 1;
	ASSERT(cl->w->live_clients > 0);
	cl->w->live_clients--;
}

/* Start the client's next call now; origin_ns is when its latency starts counting. */
static void client_issue(struct client *cl, struct grpc_client_conn *gc, uint64_t origin_ns)
{
	struct worker *w = cl->w;
	const struct rb_config *cfg = w->cfg;
	ASSERT(!cl->busy && !cl->dead && w->remaining > 0 && cl->remaining > 0);
	enum rb_op op = pick_op(cl);
	size_t key_len = 0, len = 0;
	int rc = rb_key_format(cfg, pick_key(cl), w->key, &key_len);
	ASSERT(rc == 0); /* opts checked that every index of the key space fits */
	rc = rb_wire_encode(cfg, op, w->key, key_len, w->value, cfg->value_bytes, w->req_buf,
	                    w->req_cap, &len);
	ASSERT(rc == 0); /* req_cap is rb_wire_request_max */
	cl->op = op;
	cl->msgs = 0;
	cl->found = cl->succeeded = cl->bad = 0;
	cl->origin_ns = origin_ns ? origin_ns : clock_mono_ns();
	rc = grpc_client_unary(gc, rb_wire_path(cfg->target, op), &w->call_opts, w->req_buf, len,
	                       &call_ops, cl, NULL);
	if (rc == ERR_CLOSED)
		return; /* the connection stopped taking calls: it will close and reconnect */
	w->res.ops[op].issued++;
	w->remaining--;
	if (cl->remaining != UINT64_MAX)
		cl->remaining--;
	if (rc) {
		/* A local failure (memory, call limit): counted, and this client stops so a
		 * persistent failure cannot spin. */
		char m[96];
		snprintf(m, sizeof m, "call not started: %s", err_str(rc));
		record_error(&w->res.ops[op], RB_ERR_CLIENT, m);
		client_stop(cl);
		return;
	}
	cl->busy = 1;
	w->inflight++;
	if (cl->remaining == 0)
		client_stop(cl);
}

static void tick_arm(struct worker *w);

/* The client is idle: give it work if there is some and its connection takes calls. */
static void client_kick(struct client *cl)
{
	struct worker *w = cl->w;
	ASSERT(!cl->busy);
	if (cl->dead || w->stopping || w->remaining == 0 || cl->remaining == 0)
		return;
	struct conn *c = cl->conn;
	if (c->gave_up) {
		client_stop(cl);
		return;
	}
	struct grpc_client_conn *gc = c->ready && c->tc ? transport_client_grpc(c->tc) : NULL;
	if (!gc || !grpc_client_conn_usable(gc))
		return; /* kicked again when the connection is ready */
	uint64_t origin = 0;
	if (w->interval_ns) {
		uint64_t now = clock_mono_ns();
		if (w->next_due_ns > now) {
			if (!cl->on_stack) {
				cl->on_stack = 1;
				cl->next_idle = w->idle;
				w->idle = cl;
			}
			tick_arm(w);
			return;
		}
		origin = w->next_due_ns;
		w->next_due_ns += w->interval_ns;
		if (now - origin >= BEHIND_NS)
			w->res.behind_schedule++;
	}
	client_issue(cl, gc, origin);
}

/* ---- timers -------------------------------------------------------------------------------- */

static void tick_cb(struct io_op *op)
{
	struct worker *w = op->ctx;
	w->tick_busy = 0;
	if (op->result < 0 || w->done)
		return;
	/* Bounded: each pass pops one client off the stack (a kick may push it back only when
	 * the next request is not due yet, which ends the loop). */
	uint64_t now = clock_mono_ns();
	while (w->idle && w->next_due_ns <= now && !w->stopping) {
		struct client *cl = w->idle;
		w->idle = cl->next_idle;
		cl->on_stack = 0;
		cl->next_idle = NULL;
		client_kick(cl);
		if (cl->on_stack)
			break;
	}
	if (w->idle && !w->stopping)
		tick_arm(w);
	worker_check_done(w);
}

static void tick_arm(struct worker *w)
{
	if (w->tick_busy || w->done)
		return;
	uint64_t now = clock_mono_ns();
	w->tick_busy = 1;
	w->tick_op.cb = tick_cb;
	w->tick_op.ctx = w;
	reactor_timeout(w->r, &w->tick_op, w->next_due_ns > now ? w->next_due_ns - now : 0);
}

static void stop_cb(struct io_op *op)
{
	struct worker *w = op->ctx;
	w->stop_busy = 0;
	if (op->result < 0)
		return;
	w->stopping = 1;
	if (w->cfg->duration_s <= 0 || (w->cfg->max_seconds < w->cfg->duration_s))
		w->res.capped = 1;
	worker_check_done(w);
}

static void worker_check_done(struct worker *w)
{
	if (w->done || !w->running || w->inflight > 0)
		return;
	if (w->stopping || w->remaining == 0 || w->live_clients == 0) {
		w->done = 1;
		w->res.end_ns = clock_mono_ns();
	}
}

/* ---- connections ----------------------------------------------------------------------------- */

static void on_ready(struct transport_client *tc, void *ctx)
{
	(void)tc;
	struct conn *c = ctx;
	c->ready = 1;
	c->failures = 0;
	c->backoff_ns = 0;
	if (!c->w->running)
		return;
	for (uint32_t i = 0; i < c->n_clients; i++)
		if (!c->clients[i]->busy && !c->clients[i]->on_stack)
			client_kick(c->clients[i]);
}

static void retry_cb(struct io_op *op)
{
	struct conn *c = op->ctx;
	c->retry_busy = 0;
	if (op->result < 0 || c->w->done || c->w->stopping)
		return;
	conn_connect(c);
}

static void conn_give_up(struct conn *c, int err)
{
	struct worker *w = c->w;
	c->gave_up = 1;
	LOG_WARN("regatta-bench: giving up on %s after %u failed connects (%s)", c->addr,
	         c->failures, err_str(err));
	for (uint32_t i = 0; i < c->n_clients; i++)
		if (!c->clients[i]->busy)
			client_stop(c->clients[i]);
	worker_check_done(w);
}

static void on_closed(struct transport_client *tc, int err, void *ctx)
{
	struct conn *c = ctx;
	struct worker *w = c->w;
	ASSERT(c->tc == tc);
	int was_ready = c->ready;
	c->ready = 0;
	transport_client_free(tc);
	c->tc = NULL;
	if (!w->running) {
		/* Still connecting before the start: the phase fails. */
		if (!w->res.connect_failed) {
			w->res.connect_failed = 1;
			snprintf(w->res.connect_error, sizeof w->res.connect_error, "%s: %s",
			         c->addr, err_str(err));
		}
		return;
	}
	if (w->done || w->stopping)
		return;
	if (!was_ready)
		c->failures++;
	if (c->failures >= RB_RECONNECTS_MAX) {
		conn_give_up(c, err);
		return;
	}
	c->backoff_ns = c->backoff_ns ? c->backoff_ns * 2 : RECONNECT_BACKOFF_MIN_NS;
	if (c->backoff_ns > RECONNECT_BACKOFF_MAX_NS)
		c->backoff_ns = RECONNECT_BACKOFF_MAX_NS;
	c->retry_busy = 1;
	c->retry_op.cb = retry_cb;
	c->retry_op.ctx = c;
	reactor_timeout(w->r, &c->retry_op, c->backoff_ns);
}

static void conn_connect(struct conn *c)
{
	struct worker *w = c->w;
	ASSERT(c->tc == NULL && !c->ready);
	struct transport_client_config tcc = {
	    .addr = c->addr,
	    .on_ready = on_ready,
	    .on_closed = on_closed,
	    .ctx = c,
	};
	/* Every client of this connection may have one call in flight. */
	tcc.grpc.max_calls = c->n_clients + 1;
	if (w->running)
		w->res.reconnects++;
	int rc = transport_client_connect(w->r, &tcc, &c->tc);
	if (rc == 0)
		return;
	c->tc = NULL;
	c->failures++;
	if (!w->running) {
		w->res.connect_failed = 1;
		snprintf(w->res.connect_error, sizeof w->res.connect_error, "%s: %s", c->addr,
		         err_str(rc));
		return;
	}
	if (c->failures >= RB_RECONNECTS_MAX) {
		conn_give_up(c, rc);
		return;
	}
	c->backoff_ns = RECONNECT_BACKOFF_MAX_NS;
	c->retry_busy = 1;
	c->retry_op.cb = retry_cb;
	c->retry_op.ctx = c;
	reactor_timeout(w->r, &c->retry_op, c->backoff_ns);
}

/* ---- the thread ------------------------------------------------------------------------------ */

static int worker_setup(struct worker *w)
{
	const struct rb_config *cfg = w->cfg;
	struct reactor_config rcfg = {
	    .backend = REACTOR_BACKEND_AUTO, .cpu = -1, .core_id = (int)w->id};
	if (cfg->backend && reactor_backend_parse(cfg->backend, &rcfg.backend))
		return ERR_INVAL;
	if (cfg->n_cpus)
		rcfg.cpu = cfg->cpus[w->id % cfg->n_cpus];
	int rc = reactor_new(&rcfg, &w->r);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < w->n_conns; i++)
		conn_connect(&w->conns[i]);
	/* Bounded by the transport's connect timeout (LIMIT_NET_CONNECT_TIMEOUT_MS). */
	for (;;) {
		uint32_t settled = 0;
		for (uint32_t i = 0; i < w->n_conns; i++)
			settled += w->conns[i].ready || w->conns[i].tc == NULL;
		if (settled == w->n_conns || w->res.connect_failed)
			break;
		rc = reactor_run_once(w->r, 100000000ull);
		if (rc)
			return rc;
	}
	return w->res.connect_failed ? ERR_CONN : 0;
}

static void worker_teardown(struct worker *w)
{
	if (!w->r)
		return;
	for (uint32_t i = 0; i < w->n_conns; i++) {
		struct conn *c = &w->conns[i];
		if (c->tc) {
			transport_client_free(c->tc);
			c->tc = NULL;
		}
		if (c->retry_busy)
			reactor_cancel(w->r, &c->retry_op);
	}
	if (w->tick_busy)
		reactor_cancel(w->r, &w->tick_op);
	if (w->stop_busy)
		reactor_cancel(w->r, &w->stop_op);
	/* Let the canceled ops come back so every buffer is freed by its owner. */
	for (int i = 0; i < TEARDOWN_TURNS_MAX; i++) {
		struct reactor_stats st;
		reactor_get_stats(w->r, &st);
		if (st.inflight == 0)
			break;
		if (reactor_run_once(w->r, 10000000ull))
			break;
	}
	reactor_free(w->r);
	w->r = NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct rb_config *cfg = w->cfg;
	log_set_core_id((int)w->id);
	int rc = worker_setup(w);
	if (rc && !w->res.connect_failed) {
		w->res.connect_failed = 1;
		snprintf(w->res.connect_error, sizeof w->res.connect_error, "worker %u: %s", w->id,
		         err_str(rc));
	}
	if (w->res.connect_failed)
		atomic_store(&w->ph->connect_failed, 1);
	pthread_barrier_wait(&w->ph->barrier);
	if (atomic_load(&w->ph->connect_failed))
		goto out;
	w->running = 1;
	w->res.start_ns = clock_mono_ns();
	double limit_s = cfg->max_seconds;
	if (cfg->duration_s > 0 && cfg->duration_s < limit_s)
		limit_s = cfg->duration_s;
	w->stop_busy = 1;
	w->stop_op.cb = stop_cb;
	w->stop_op.ctx = w;
	reactor_timeout(w->r, &w->stop_op, (uint64_t)(limit_s * (double)NS_PER_S));
	if (w->interval_ns)
		w->next_due_ns = w->res.start_ns;
	for (uint32_t i = 0; i < w->n_clients; i++)
		client_kick(&w->clients[i]);
	worker_check_done(w);
	/* Bounded: the stop timer ends the phase (max_seconds), and after it only calls in flight
	 * remain, each bounded by its deadline. */
	while (!w->done) {
		rc = reactor_run_once(w->r, 100000000ull);
		if (rc) {
			LOG_ERROR("regatta-bench: worker %u: reactor failed: %s", w->id,
			          err_str(rc));
			break;
		}
	}
	if (!w->res.end_ns)
		w->res.end_ns = clock_mono_ns();
out:
	worker_teardown(w);
	return NULL;
}

/* ---- the phase ------------------------------------------------------------------------------- */

static uint64_t client_quota(const struct rb_config *cfg, uint64_t gid)
{
	if (!cfg->total)
		return UINT64_MAX;
	return cfg->total / cfg->clients + (gid < cfg->total % cfg->clients ? 1 : 0);
}

static int worker_init(struct worker *w, const struct rb_config *cfg, struct phase *ph, uint32_t id)
{
	w->cfg = cfg;
	w->ph = ph;
	w->id = id;
	for (int op = 0; op < RB_OP_COUNT; op++) {
		w->mix_total += cfg->mix[op];
		w->mix_cum[op] = w->mix_total;
		hist_init(&w->res.ops[op].hist);
	}
	ASSERT(w->mix_total > 0);
	/* Connections id, id+T, ...; clients of those connections. */
	w->n_conns = cfg->conns / cfg->threads + (id < cfg->conns % cfg->threads ? 1 : 0);
	ASSERT(w->n_conns > 0);
	w->conns = calloc(w->n_conns, sizeof *w->conns);
	w->req_cap = rb_wire_request_max(cfg);
	w->req_buf = malloc(w->req_cap);
	w->value = malloc(cfg->value_bytes ? cfg->value_bytes : 1);
	if (!w->conns || !w->req_buf || !w->value)
		return ERR_NOMEM;
	/* The same value bytes everywhere (Txn's VALUE compare expects them). */
	struct prng vr;
	prng_init(&vr, cfg->seed ^ 0x76616c7565ull);
	for (uint32_t i = 0; i < cfg->value_bytes; i++)
		w->value[i] = (uint8_t)('a' + prng_below(&vr, 26));
	uint32_t n_clients = 0;
	for (uint32_t k = 0; k < w->n_conns; k++) {
		uint32_t ci = id + k * cfg->threads;
		n_clients += cfg->clients / cfg->conns + (ci < cfg->clients % cfg->conns ? 1 : 0);
	}
	w->n_clients = n_clients;
	w->clients = calloc(n_clients ? n_clients : 1, sizeof *w->clients);
	struct client **slots = calloc(n_clients ? n_clients : 1, sizeof *slots);
	w->slots = slots;
	if (!w->clients || !slots)
		return ERR_NOMEM;
	uint32_t next = 0;
	uint64_t quota_sum = 0;
	for (uint32_t k = 0; k < w->n_conns; k++) {
		struct conn *c = &w->conns[k];
		c->w = w;
		c->index = id + k * cfg->threads;
		c->addr = cfg->endpoints[c->index % cfg->n_endpoints];
		c->clients = slots + next;
		for (uint64_t g = c->index; g < cfg->clients; g += cfg->conns) {
			ASSERT(next < n_clients);
			struct client *cl = &w->clients[next];
			slots[next++] = cl;
			c->n_clients++;
			cl->w = w;
			cl->conn = c;
			cl->gid = g;
			prng_init(&cl->rng, cfg->seed + g * 0x9e3779b97f4a7c15ull);
			uint64_t q = client_quota(cfg, g);
			cl->remaining = cfg->rate > 0 && q != UINT64_MAX ? UINT64_MAX : q;
			if (q != UINT64_MAX)
				quota_sum += q;
			if (q == 0)
				cl->dead = 1;
			else
				w->live_clients++;
		}
	}
	ASSERT(next == n_clients);
	w->remaining = cfg->total ? quota_sum : UINT64_MAX;
	if (cfg->rate > 0 && n_clients > 0) {
		double share = cfg->rate * (double)n_clients / (double)cfg->clients;
		double iv = (double)NS_PER_S / share;
		w->interval_ns = iv < 1.0 ? 1 : (uint64_t)iv;
	}
	w->call_opts.timeout_ns = cfg->timeout_ns;
	return 0;
}

static void worker_free(struct worker *w)
{
	free(w->slots);
	free(w->conns);
	free(w->clients);
	free(w->req_buf);
	free(w->value);
}

static void merge(struct rb_result *dst, const struct rb_result *src, int first)
{
	for (int op = 0; op < RB_OP_COUNT; op++) {
		struct rb_op_stats *d = &dst->ops[op];
		const struct rb_op_stats *s = &src->ops[op];
		d->issued += s->issued;
		d->ok += s->ok;
		d->misses += s->misses;
		d->txn_failed += s->txn_failed;
		for (int e = 0; e < RB_ERR_SLOTS; e++) {
			if (s->errors[e] && !d->errors[e])
				memcpy(d->first_error[e], s->first_error[e],
				       sizeof d->first_error[e]);
			d->errors[e] += s->errors[e];
		}
		hist_merge(&d->hist, &s->hist);
	}
	if (first || (src->start_ns && src->start_ns < dst->start_ns))
		dst->start_ns = src->start_ns;
	if (src->end_ns > dst->end_ns)
		dst->end_ns = src->end_ns;
	dst->behind_schedule += src->behind_schedule;
	dst->reconnects += src->reconnects;
	dst->capped |= src->capped;
	if (src->connect_failed && !dst->connect_failed) {
		dst->connect_failed = 1;
		memcpy(dst->connect_error, src->connect_error, sizeof dst->connect_error);
	}
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)ru.ru_utime.tv_sec * NS_PER_S + (uint64_t)ru.ru_utime.tv_usec * 1000u +
	       (uint64_t)ru.ru_stime.tv_sec * NS_PER_S + (uint64_t)ru.ru_stime.tv_usec * 1000u;
}

int rb_run_phase(const struct rb_config *cfg, struct rb_result *res)
{
	ASSERT(cfg->threads >= 1 && cfg->threads <= cfg->conns && cfg->conns <= cfg->clients);
	ASSERT(cfg->total > 0 || cfg->duration_s > 0);
	memset(res, 0, sizeof *res);
	for (int op = 0; op < RB_OP_COUNT; op++)
		hist_init(&res->ops[op].hist);
	struct phase ph = {.cfg = cfg};
	atomic_init(&ph.connect_failed, 0);
	struct worker *ws = calloc(cfg->threads, sizeof *ws);
	if (!ws)
		return ERR_NOMEM;
	int rc = 0;
	uint32_t started = 0;
	for (uint32_t i = 0; i < cfg->threads; i++) {
		rc = worker_init(&ws[i], cfg, &ph, i);
		if (rc)
			goto out;
	}
	if (pthread_barrier_init(&ph.barrier, NULL, cfg->threads)) {
		rc = ERR_NOMEM;
		goto out;
	}
	uint64_t cpu0 = cpu_ns();
	for (; started < cfg->threads; started++) {
		if (pthread_create(&ws[started].thread, NULL, worker_main, &ws[started])) {
			/* The barrier would wait forever for the missing thread: give up loudly. */
			fprintf(stderr, "regatta-bench: cannot start worker thread %u\n", started);
			abort();
		}
	}
	for (uint32_t i = 0; i < started; i++)
		pthread_join(ws[i].thread, NULL);
	res->client_cpu_ns = cpu_ns() - cpu0;
	pthread_barrier_destroy(&ph.barrier);
	for (uint32_t i = 0; i < cfg->threads; i++) {
		merge(res, &ws[i].res, i == 0);
		ASSERT(ws[i].inflight == 0 || ws[i].res.connect_failed);
	}
	for (int op = 0; op < RB_OP_COUNT; op++) {
		uint64_t errs = 0;
		for (int e = 0; e < RB_ERR_SLOTS; e++)
			errs += res->ops[op].errors[e];
		ASSERT(res->ops[op].ok + errs == res->ops[op].issued || res->connect_failed);
		ASSERT(res->ops[op].hist.count == res->ops[op].ok);
	}
	rc = res->connect_failed ? ERR_CONN : 0;
out:
	for (uint32_t i = 0; i < cfg->threads; i++)
		worker_free(&ws[i]);
	free(ws);
	return rc;
}
