/*
 * sim_main.c — the simulator's event loop, fault schedule and command line.
 *
 *   sim --seed S            run one seed (replays exactly); exit 1 and print the seed on failure
 *   sim --seeds A-B         run seeds A..B (each independent); stops at the first failure
 *   sim --soak N            N seeds from a clock-derived start (prints each seed)
 *   sim --expect-failure    canary mode: succeed iff some seed in the range fails (each seed runs
 *                           in a child process, so a core assertion counts as caught)
 *   --chaos SEC --live SEC  fault phase and liveness budget (defaults 20 and 15)
 *   --verbose               print each run's parameters and counters
 *
 * A run: faults for `chaos` simulated seconds, then every fault stops (links heal, crashed nodes
 * restart, paused nodes resume, the network stops losing frames) and every group must elect a
 * leader and commit new client writes within `live` seconds. Then each key's history is checked
 * for linearizability.
 */
#include "sim.h"

#include "core/assert.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum sim_event_type {
	EV_TICK = 1,
	EV_DELIVER,
	EV_FSYNC,
	EV_CLIENT,
	EV_TIMEOUT,
	EV_CHAOS,
	EV_RESTART,
	EV_RESUME,
	EV_LINK_HEAL,
	EV_HEAL,
	EV_END,
	EV_ISOLATE,
};

struct sim_event {
	uint64_t time;
	uint64_t seq;
	uint8_t type;
	uint32_t node;
	uint64_t incarnation;
	uint64_t op;
	struct sim_client *client;
	struct sim_frame *frame;
};

static struct sim *g_sim; /* for sim_fail from deep inside callbacks */

void sim_fail(struct sim *s, const char *fmt, ...)
{
	if (s->failed)
		return;
	s->failed = 1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->failure, sizeof(s->failure), fmt, ap);
	va_end(ap);
}

/* ---- event heap
 * ---------------------------------------------------------------------------------- */

static int ev_before(const struct sim_event *a, const struct sim_event *b)
{
	return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static struct sim_event *ev_new(struct sim *s, uint8_t type, uint64_t at)
{
	struct sim_event *e = calloc(1, sizeof(*e));
	ASSERT(e != NULL);
	e->type = type;
	e->time = at < s->now ? s->now : at;
	e->seq = s->next_seq++;
	if (s->n_heap == s->cap_heap) {
		s->cap_heap = s->cap_heap ? s->cap_heap * 2 : 1024;
		s->heap = realloc(s->heap, s->cap_heap * sizeof(*s->heap));
		ASSERT(s->heap != NULL);
	}
	uint32_t i = s->n_heap++;
	s->heap[i] = e;
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (!ev_before(s->heap[i], s->heap[p]))
			break;
		struct sim_event *t = s->heap[i];
		s->heap[i] = s->heap[p];
		s->heap[p] = t;
		i = p;
	}
	return e;
}

static struct sim_event *ev_pop(struct sim *s)
{
	if (s->n_heap == 0)
		return NULL;
	struct sim_event *top = s->heap[0];
	s->heap[0] = s->heap[--s->n_heap];
	uint32_t i = 0;
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->n_heap && ev_before(s->heap[l], s->heap[m]))
			m = l;
		if (r < s->n_heap && ev_before(s->heap[r], s->heap[m]))
			m = r;
		if (m == i)
			break;
		struct sim_event *t = s->heap[i];
		s->heap[i] = s->heap[m];
		s->heap[m] = t;
		i = m;
	}
	return top;
}

/* ---- scheduling helpers used by nodes and clients
 * -------------------------------------------------- */

void sim_schedule_client(struct sim *s, struct sim_client *c, uint64_t at);
void sim_schedule_timeout(struct sim *s, struct sim_client *c, uint64_t op, uint64_t at);

void sim_schedule_client(struct sim *s, struct sim_client *c, uint64_t at)
{
	struct sim_event *e = ev_new(s, EV_CLIENT, at);
	e->client = c;
}

void sim_schedule_timeout(struct sim *s, struct sim_client *c, uint64_t op, uint64_t at)
{
	struct sim_event *e = ev_new(s, EV_TIMEOUT, at);
	e->client = c;
	e->op = op;
}

void sim_schedule_fsync(struct sim *s, struct sim_node *n)
{
	ASSERT(!n->fsync_inflight && n->n_pending > 0);
	n->fsync_inflight = 1;
	n->fsync_covers = n->n_pending;
	struct sim_event *e = ev_new(
	    s, EV_FSYNC, s->now + prng_range(&s->prng, s->p.fsync_min_ns, s->p.fsync_max_ns));
	e->node = n->id;
	e->incarnation = n->incarnation;
}

static int link_up(const struct sim *s, uint32_t from, uint32_t to)
{
	return !s->link_down[from][to];
}

void sim_schedule_deliver(struct sim *s, uint32_t from, uint32_t to, const uint8_t *bytes,
                          size_t len)
{
	if (to == 0 || to > s->p.nodes || !link_up(s, from, to))
		return;
	if (!s->healed && prng_chance(&s->prng, s->p.drop_permille, 1000))
		return;
	uint32_t copies = (!s->healed && prng_chance(&s->prng, s->p.dup_permille, 1000)) ? 2 : 1;
	for (uint32_t k = 0; k < copies; k++) {
		struct sim_frame *f = malloc(sizeof(*f) + len);
		ASSERT(f != NULL);
		f->from = from;
		f->to = to;
		f->len = len;
		memcpy(f->bytes, bytes, len);
		if (!s->healed && prng_chance(&s->prng, s->p.corrupt_permille, 1000))
			f->bytes[prng_below(&s->prng, len)] ^=
			    (uint8_t)(1u << prng_below(&s->prng, 8));
		uint64_t delay = prng_range(&s->prng, s->p.delay_min_ns, s->p.delay_max_ns);
		if (!s->healed && prng_chance(&s->prng, 1, 30))
			delay +=
			    prng_range(&s->prng, 10, 300) * SIM_MS; /* a straggler: reordering */
		struct sim_event *e = ev_new(s, EV_DELIVER, s->now + delay);
		e->node = to;
		e->frame = f;
	}
}

/* A nemesis that strands a new leader's first entries: cut it off just after it won. */
void sim_new_leader(struct sim *s, struct sim_node *n)
{
	if (s->healed || !prng_chance(&s->prng, s->p.isolate_leader_permille, 1000))
		return;
	struct sim_event *e = ev_new(s, EV_ISOLATE, s->now + prng_range(&s->prng, 0, 3000) * 1000);
	e->node = n->id;
}

static void schedule_tick(struct sim *s, struct sim_node *n, uint64_t at)
{
	struct sim_event *e = ev_new(s, EV_TICK, at);
	e->node = n->id;
	e->incarnation = n->incarnation;
}

static void start_node(struct sim *s, struct sim_node *n)
{
	sim_node_start(s, n);
	/* each node's clock runs at its own phase */
	schedule_tick(s, n, s->now + prng_range(&s->prng, 1, SIM_TICK_NS));
}

/* ---- faults
 * -------------------------------------------------------------------------------------- */

static uint32_t random_node(struct sim *s)
{
	return 1 + (uint32_t)prng_below(&s->prng, s->p.nodes);
}

static uint32_t nodes_down(const struct sim *s)
{
	uint32_t d = 0;
	for (uint32_t i = 1; i <= s->p.nodes; i++)
		d += !s->nodes[i].up;
	return d;
}

static void conf_change(struct sim *s)
{
	uint32_t group = (uint32_t)prng_below(&s->prng, s->p.groups);
	struct sim_group_state *lead = sim_leader_of(s, group);
	if (!lead || lead->node->paused)
		return;
	const struct raft_conf *c = raft_conf_current(&lead->r);
	uint32_t node = random_node(s);
	struct raft_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = RAFT_EVENT_CONF_CHANGE;
	ev.conf_change.id = node;
	if (raft_conf_is_voter(c, node)) {
		if (c->n_voters <= 2)
			return;
		ev.conf_change.type =
		    prng_chance(&s->prng, 1, 2) ? RAFT_CONF_REMOVE : RAFT_CONF_ADD_LEARNER;
	} else if (raft_conf_is_learner(c, node)) {
		ev.conf_change.type =
		    prng_chance(&s->prng, 3, 4) ? RAFT_CONF_ADD_VOTER : RAFT_CONF_REMOVE;
	} else {
		ev.conf_change.type = RAFT_CONF_ADD_LEARNER;
	}
	if (sim_node_step(s, lead->node, group, &ev) == 0) {
		s->conf_changes++;
		if (s->p.verbose)
			printf("  t=%.3fs group %u: conf change %u on node %u (leader %u)\n",
			       (double)s->now / 1e9, group, ev.conf_change.type, node,
			       lead->node->id);
	}
	sim_node_after(s, lead->node);
}

static void transfer(struct sim *s)
{
	uint32_t group = (uint32_t)prng_below(&s->prng, s->p.groups);
	struct sim_group_state *lead = sim_leader_of(s, group);
	if (!lead || lead->node->paused)
		return;
	struct raft_event ev = {.type = RAFT_EVENT_TRANSFER, .transfer_to = random_node(s)};
	if (sim_node_step(s, lead->node, group, &ev) == 0)
		s->transfers++;
	sim_node_after(s, lead->node);
}

static void set_floor(struct sim *s)
{
	struct sim_node *n = &s->nodes[random_node(s)];
	if (!n->up || n->paused)
		return;
	uint32_t group = (uint32_t)prng_below(&s->prng, s->p.groups);
	struct raft_status st;
	raft_status_get(&n->groups[group].r, &st);
	uint64_t floor = 0;
	if (prng_chance(&s->prng, 2, 3) && st.applied > 0)
		floor = st.applied - prng_below(&s->prng, st.applied < 40 ? st.applied : 40);
	struct raft_event ev = {.type = RAFT_EVENT_SET_FLOOR, .floor = floor};
	ASSERT(sim_node_step(s, n, group, &ev) == 0);
	sim_node_after(s, n);
}

static void chaos(struct sim *s)
{
	uint32_t what = (uint32_t)prng_below(&s->prng, 100);
	uint32_t a = random_node(s);
	/* nemeses aim at leaders half the time: that is where the subtle schedules are */
	struct sim_group_state *lead =
	    sim_leader_of(s, (uint32_t)prng_below(&s->prng, s->p.groups));
	if (lead && prng_chance(&s->prng, 1, 2))
		a = lead->node->id;
	struct sim_node *n = &s->nodes[a];
	if (what < 14) { /* symmetric partition into two random sides */
		uint32_t side = (uint32_t)prng_below(&s->prng, 1u << s->p.nodes);
		for (uint32_t i = 1; i <= s->p.nodes; i++)
			for (uint32_t j = 1; j <= s->p.nodes; j++)
				if (((side >> (i - 1)) & 1) != ((side >> (j - 1)) & 1))
					s->link_down[i][j] = 1;
		ev_new(s, EV_LINK_HEAL, s->now + prng_range(&s->prng, 200, 3000) * SIM_MS);
	} else if (what < 24) { /* asymmetric links */
		uint32_t b = random_node(s);
		if (a != b)
			s->link_down[a][b] = 1;
		if (prng_chance(&s->prng, 1, 2)) {
			uint32_t c = random_node(s);
			if (c != a)
				s->link_down[c][a] = 1;
		}
		ev_new(s, EV_LINK_HEAL, s->now + prng_range(&s->prng, 200, 3000) * SIM_MS);
	} else if (what < 30) { /* isolate one node */
		for (uint32_t j = 1; j <= s->p.nodes; j++) {
			s->link_down[a][j] = 1;
			s->link_down[j][a] = 1;
		}
		ev_new(s, EV_LINK_HEAL, s->now + prng_range(&s->prng, 300, 3000) * SIM_MS);
	} else if (what < 44) { /* crash, restart later */
		if (n->up && nodes_down(s) < s->p.nodes) {
			sim_node_crash(s, n);
			struct sim_event *e =
			    ev_new(s, EV_RESTART, s->now + prng_range(&s->prng, 50, 3000) * SIM_MS);
			e->node = a;
		}
	} else if (what < 50) { /* pause (GC, VM freeze); the clock jumps on resume */
		if (n->up && !n->paused) {
			n->paused = 1;
			struct sim_event *e =
			    ev_new(s, EV_RESUME, s->now + prng_range(&s->prng, 50, 2000) * SIM_MS);
			e->node = a;
			e->incarnation = n->incarnation;
		}
	} else if (what < 54) { /* clock jump forward */
		if (n->up && !n->paused) {
			uint32_t ticks = (uint32_t)prng_range(&s->prng, 5, 60);
			for (uint32_t k = 0; k < ticks && n->up; k++)
				raft_multi_tick(&n->multi);
			sim_node_after(s, n);
		}
	} else if (what < 68) {
		conf_change(s);
	} else if (what < 78) {
		transfer(s);
	} else if (what < 86) {
		set_floor(s);
	} else if (what < 92) { /* network weather */
		static const uint32_t drops[] = {0, 0, 10, 50, 200};
		s->p.drop_permille = drops[prng_below(&s->prng, 5)];
	} else { /* heal links early */
		memset(s->link_down, 0, sizeof(s->link_down));
	}
}

static void resume(struct sim *s, struct sim_node *n)
{
	if (!n->up || !n->paused)
		return;
	n->paused = 0;
	uint32_t jump = n->missed_ticks;
	n->missed_ticks = 0;
	if (jump > 100)
		jump = 100;
	for (uint32_t k = 0; k < jump; k++) /* the clock jumps over the pause */
		raft_multi_tick(&n->multi);
	sim_node_after(s, n);
	for (uint32_t i = 0; i < n->n_inbox && n->up; i++) {
		struct sim_frame *f = n->inbox[i];
		sim_node_receive(s, n, f->bytes, f->len);
		free(f);
	}
	n->n_inbox = 0;
}

static void heal(struct sim *s)
{
	s->healed = 1;
	s->heal_time = s->now;
	memset(s->link_down, 0, sizeof(s->link_down));
	s->p.drop_permille = 0;
	for (uint32_t i = 1; i <= s->p.nodes; i++) {
		struct sim_node *n = &s->nodes[i];
		if (!n->up)
			start_node(s, n);
		else if (n->paused)
			resume(s, n);
	}
	for (uint32_t g = 0; g < s->p.groups; g++) {
		uint64_t commit = 0;
		for (uint32_t i = 1; i <= s->p.nodes; i++)
			if (s->nodes[i].groups[g].r.commit > commit)
				commit = s->nodes[i].groups[g].r.commit;
		s->check[g].commit_at_heal = commit;
		s->check[g].acks_after_heal = 0;
		s->check[g].leader_after_heal = sim_leader_of(s, g) != NULL;
	}
}

static void end_checks(struct sim *s)
{
	/* puts still in flight have an unknown outcome */
	for (uint32_t g = 0; g < s->p.groups; g++)
		for (uint32_t c = 0; c < SIM_CLIENTS; c++) {
			struct sim_client *cl = &s->clients[g][c];
			if (cl->waiting && cl->kind == SIM_OP_PUT) {
				struct sim_hist_op h = {.kind = SIM_OP_PUT,
				                        .value = cl->value,
				                        .invoke = cl->invoke,
				                        .response = UINT64_MAX};
				sim_history_add(s, g, cl->key, &h);
			}
		}
	for (uint32_t g = 0; g < s->p.groups && !s->failed; g++) {
		struct sim_group_check *c = &s->check[g];
		uint64_t commit = 0;
		for (uint32_t i = 1; i <= s->p.nodes; i++)
			if (s->nodes[i].up && s->nodes[i].groups[g].r.commit > commit)
				commit = s->nodes[i].groups[g].r.commit;
		if (!c->leader_after_heal && !sim_leader_of(s, g))
			sim_fail(s, "liveness: group %u has no leader %.1fs after faults stopped",
			         g, (double)s->p.liveness_ns / 1e9);
		else if (commit <= c->commit_at_heal || c->acks_after_heal == 0)
			sim_fail(s,
			         "liveness: group %u committed nothing new (commit %" PRIu64
			         ", %" PRIu64 " acks) within %.1fs after faults stopped",
			         g, commit, c->acks_after_heal, (double)s->p.liveness_ns / 1e9);
	}
	for (uint32_t g = 0; g < s->p.groups && !s->failed; g++)
		for (uint32_t k = 0; k < SIM_KEYS && !s->failed; k++)
			if (!sim_check_linearizable(s, g, k)) {
				if (getenv("SIM_DUMP_HISTORY")) {
					const struct sim_history *h = &s->check[g].hist[k];
					for (uint32_t i = 0; i < h->n; i++)
						printf("  %s %" PRIu64 " [%.3f, %.3f]\n",
						       h->ops[i].kind == SIM_OP_PUT ? "put" : "get",
						       h->ops[i].value,
						       (double)h->ops[i].invoke / 1e9,
						       h->ops[i].response == UINT64_MAX
						           ? -1.0
						           : (double)h->ops[i].response / 1e9);
				}
				sim_fail(s,
				         "linearizability: group %u key %u: the history of %u "
				         "operations has no "
				         "linearization",
				         g, k, s->check[g].hist[k].n);
			}
}

/* ---- one run ------------------------------------------------------------------------------------
 */

static void params_from_seed(struct sim_params *p, uint64_t seed, uint64_t chaos_s, uint64_t live_s)
{
	struct prng r;
	prng_init(&r, seed ^ 0x5eed5eed5eedULL);
	memset(p, 0, sizeof(*p));
	p->seed = seed;
	p->nodes = (uint32_t)prng_range(&r, 3, 5);
	p->groups = (uint32_t)prng_range(&r, 1, 3);
	p->voters0 =
	    prng_chance(&r, 1, 2) ? p->nodes : 3; /* 5 voters make Figure 8 schedules possible */
	p->chaos_ns = chaos_s * SIM_SEC;
	p->liveness_ns = live_s * SIM_SEC;
	p->drop_permille = (uint32_t)prng_range(&r, 0, 50);
	p->dup_permille = (uint32_t)prng_range(&r, 0, 30);
	p->corrupt_permille = (uint32_t)prng_range(&r, 0, 5);
	p->delay_min_ns = prng_range(&r, 1, 3) * SIM_MS / 2;
	p->delay_max_ns = p->delay_min_ns + prng_range(&r, 1, 20) * SIM_MS;
	p->fsync_min_ns = prng_range(&r, 100, 1000) * 1000;
	p->fsync_max_ns = p->fsync_min_ns + prng_range(&r, 0, 20) * SIM_MS;
	p->fault_every_ns = prng_range(&r, 50, 600) * SIM_MS;
	p->snapshot_every = (uint32_t)prng_range(&r, 10, 120);
	p->chunk_bytes = (uint32_t)prng_range(&r, 8, SIM_KV_BYTES + 8);
	p->cache_entries = 1u << prng_range(&r, 4, 8);
	p->msg_bytes_max = prng_chance(&r, 1, 2) ? (uint32_t)prng_range(&r, 1, 200) : 2048;
	p->quiesce = prng_chance(&r, 1, 2);
	p->batch_appends = prng_chance(&r, 1, 2);
	p->isolate_leader_permille = prng_chance(&r, 1, 2) ? (uint32_t)prng_range(&r, 100, 600) : 0;
	p->mem_fail_permille = prng_chance(&r, 1, 3) ? (uint32_t)prng_range(&r, 1, 30) : 0;
	p->storage_again_permille = prng_chance(&r, 1, 3) ? (uint32_t)prng_range(&r, 10, 200) : 0;
}

static int run(uint64_t seed, uint64_t chaos_s, uint64_t live_s, int verbose)
{
	struct sim *s = calloc(1, sizeof(*s));
	ASSERT(s != NULL);
	g_sim = s;
	sim_current = s;
	assert_set_seed(seed, 1);
	params_from_seed(&s->p, seed, chaos_s, live_s);
	s->p.verbose = verbose;
	prng_init(&s->prng, seed);
	sim_check_init(s);
	if (verbose)
		printf("seed %" PRIu64 ": %u nodes (%u voters), %u groups, drop %u/1000, dup "
		       "%u/1000, corrupt %u/1000, delay "
		       "%.1f-%.1fms, fsync %.2f-%.2fms, faults every ~%.0fms, snapshot every %u, "
		       "chunk %u B, "
		       "cache %u, msg %u B, quiesce %d, batch appends %d\n",
		       seed, s->p.nodes, s->p.voters0, s->p.groups, s->p.drop_permille,
		       s->p.dup_permille, s->p.corrupt_permille, (double)s->p.delay_min_ns / 1e6,
		       (double)s->p.delay_max_ns / 1e6, (double)s->p.fsync_min_ns / 1e6,
		       (double)s->p.fsync_max_ns / 1e6, (double)s->p.fault_every_ns / 1e6,
		       s->p.snapshot_every, s->p.chunk_bytes, s->p.cache_entries,
		       s->p.msg_bytes_max, s->p.quiesce, s->p.batch_appends);

	struct raft_conf boot;
	memset(&boot, 0, sizeof(boot));
	for (uint32_t i = 1; i <= s->p.voters0 && i <= s->p.nodes; i++)
		boot.voters[boot.n_voters++] = i;
	for (uint32_t i = 1; i <= s->p.nodes; i++) {
		struct sim_node *n = &s->nodes[i];
		n->id = i;
		n->sim = s;
		for (uint32_t g = 0; g < s->p.groups; g++)
			sim_store_init(&n->groups[g].dur, &boot);
		start_node(s, n);
	}
	for (uint32_t g = 0; g < s->p.groups; g++)
		for (uint32_t c = 0; c < SIM_CLIENTS; c++) {
			struct sim_client *cl = &s->clients[g][c];
			cl->group = g;
			cl->idx = c;
			sim_schedule_client(s, cl, prng_range(&s->prng, 1, 500) * SIM_MS);
		}
	ev_new(s, EV_CHAOS, prng_range(&s->prng, 100, 1000) * SIM_MS);
	ev_new(s, EV_HEAL, s->p.chaos_ns);
	ev_new(s, EV_END, s->p.chaos_ns + s->p.liveness_ns);

	struct sim_event *e;
	int done = 0;
	while (!done && !s->failed && (e = ev_pop(s)) != NULL) {
		s->now = e->time;
		struct sim_node *n = e->node ? &s->nodes[e->node] : NULL;
		switch (e->type) {
		case EV_TICK:
			if (!n->up || n->incarnation != e->incarnation)
				break;
			if (n->paused)
				n->missed_ticks++;
			else
				sim_node_tick(s, n);
			schedule_tick(s, n, s->now + SIM_TICK_NS);
			break;
		case EV_DELIVER:
			if (n->up && n->paused) {
				if (n->n_inbox == n->cap_inbox) {
					n->cap_inbox = n->cap_inbox ? n->cap_inbox * 2 : 64;
					n->inbox =
					    realloc(n->inbox, n->cap_inbox * sizeof(*n->inbox));
					ASSERT(n->inbox != NULL);
				}
				n->inbox[n->n_inbox++] = e->frame;
				e->frame = NULL;
			} else if (n->up && link_up(s, e->frame->from, e->frame->to)) {
				sim_node_receive(s, n, e->frame->bytes, e->frame->len);
			}
			break;
		case EV_FSYNC:
			if (n->up && n->incarnation == e->incarnation && n->fsync_inflight)
				sim_node_fsync_done(s, n);
			break;
		case EV_CLIENT:
			if (!e->client->waiting)
				sim_client_issue(s, e->client);
			break;
		case EV_TIMEOUT:
			sim_client_timeout(s, e->client, e->op);
			break;
		case EV_CHAOS:
			if (!s->healed) {
				chaos(s);
				ev_new(s, EV_CHAOS,
				       s->now + prng_range(&s->prng, 1, 2 * s->p.fault_every_ns));
			}
			break;
		case EV_RESTART:
			if (!s->healed && !n->up)
				start_node(s, n);
			break;
		case EV_RESUME:
			if (n->incarnation == e->incarnation)
				resume(s, n);
			break;
		case EV_LINK_HEAL:
			memset(s->link_down, 0, sizeof(s->link_down));
			break;
		case EV_HEAL:
			heal(s);
			break;
		case EV_ISOLATE:
			if (s->healed)
				break;
			for (uint32_t j = 1; j <= s->p.nodes; j++) {
				s->link_down[e->node][j] = 1;
				s->link_down[j][e->node] = 1;
			}
			ev_new(s, EV_LINK_HEAL, s->now + prng_range(&s->prng, 300, 2000) * SIM_MS);
			break;
		case EV_END:
			end_checks(s);
			done = 1;
			break;
		default:
			UNREACHABLE();
		}
		free(e->frame);
		free(e);
	}
	int failed = s->failed;
	if (failed) {
		printf("FAIL seed=%" PRIu64 " at t=%.3fs: %s\n", seed, (double)s->now / 1e9,
		       s->failure);
		printf("replay: tests/sim/sim --seed %" PRIu64 " --chaos %" PRIu64
		       " --live %" PRIu64 " --verbose\n",
		       seed, chaos_s, live_s);
	} else if (verbose) {
		uint64_t elections = 0;
		for (uint32_t g = 0; g < s->p.groups; g++)
			elections += s->check[g].elections;
		printf("  ok: %.1f simulated s, %" PRIu64 " steps, %" PRIu64 " frames, %" PRIu64
		       " puts acked, %" PRIu64 " reads, %" PRIu64 " timed out, %" PRIu64
		       " elections, %" PRIu64 " crashes, %" PRIu64 " conf changes, %" PRIu64
		       " transfers, %" PRIu64 " snapshots installed, %" PRIu64
		       " group-ticks quiesced, %" PRIu64 " allocation failures, %" PRIu64
		       " storage ERR_AGAIN\n",
		       (double)s->now / 1e9, s->steps, s->frames, s->puts_acked, s->gets_ok,
		       s->ops_timed_out, elections, s->crashes, s->conf_changes, s->transfers,
		       s->snapshots_installed, s->quiesced_ticks, s->mem_failures,
		       s->storage_agains);
	}
	fflush(stdout);
	while ((e = ev_pop(s)) != NULL) {
		free(e->frame);
		free(e);
	}
	free(s->heap);
	for (uint32_t i = 1; i <= s->p.nodes; i++) {
		if (s->nodes[i].up)
			sim_node_crash(s, &s->nodes[i]);
		sim_node_free(&s->nodes[i]);
	}
	sim_check_free(s);
	free(s);
	g_sim = NULL;
	sim_current = NULL;
	return failed;
}

/* Run one seed in a child so that a core assertion (abort) counts as a caught failure. */
static int run_forked(uint64_t seed, uint64_t chaos_s, uint64_t live_s, int verbose)
{
	fflush(stdout);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		int failed = run(seed, chaos_s, live_s, verbose);
		fflush(stdout);
		_exit(failed ? 1 : 0);
	}
	int status = 0;
	ASSERT(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status))
		return WEXITSTATUS(status) != 0;
	printf("FAIL seed=%" PRIu64 ": the run died (signal %d; a core assertion above says why)\n",
	       seed, WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	return 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: sim [--seed S | --seeds A-B | --soak N] [--chaos SEC] [--live SEC] "
	                "[--expect-failure] [--verbose]\n");
}

int main(int argc, char **argv)
{
	uint64_t first = 1, last = 1, chaos_s = 20, live_s = 15;
	int verbose = 0, expect_failure = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			first = last = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			char *dash;
			first = strtoull(argv[++i], &dash, 10);
			last = *dash == '-' ? strtoull(dash + 1, NULL, 10) : first;
		} else if (!strcmp(argv[i], "--soak") && i + 1 < argc) {
			uint64_t n = strtoull(argv[++i], NULL, 10);
			first = prng_seed_from_time() % 1000000000ULL;
			last = first + (n ? n - 1 : 0);
			printf("soak: seeds %" PRIu64 "-%" PRIu64 "\n", first, last);
		} else if (!strcmp(argv[i], "--chaos") && i + 1 < argc) {
			chaos_s = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--live") && i + 1 < argc) {
			live_s = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--verbose")) {
			verbose = 1;
		} else if (!strcmp(argv[i], "--expect-failure")) {
			expect_failure = 1;
		} else {
			usage();
			return 2;
		}
	}
	if (last < first || chaos_s == 0 || live_s == 0) {
		usage();
		return 2;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t runs = 0;
	int failed = 0;
	for (uint64_t seed = first; seed <= last; seed++) {
		runs++;
		failed = expect_failure ? run_forked(seed, chaos_s, live_s, verbose)
		                        : run(seed, chaos_s, live_s, verbose);
		if (failed)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("sim: %" PRIu64 " seed(s) from %" PRIu64 ", %" PRIu64
	       " simulated s, %.1f s wall: %s\n",
	       runs, first, runs * (chaos_s + live_s), wall,
	       failed ? (expect_failure ? "failure found (expected)" : "FAILED") : "all passed");
	if (expect_failure)
		return failed ? 0 : 1;
	return failed ? 1 : 0;
}
