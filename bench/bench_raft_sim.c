/*
 * bench_raft_sim.c — simulated commit throughput of one 3-node Raft group.
 *
 * Three nodes, each a raft_multi with one group, exchange encoded frames over a simulated network
 * (fixed one-way latency) and persist through a simulated disk with one fsync in flight per node
 * (group commit: an fsync covers every write queued before it started). A client on the leader
 * keeps up to --pipeline proposals outstanding. The clock is simulated, so the numbers say what
 * the protocol and core allow (entries per simulated second, commit latency) and what the core
 * costs on this CPU (entries per wall second: stepping, encoding, decoding, the in-memory log).
 *
 * usage: bench_raft_sim [--seconds S] [--net-us U] [--fsync-us U] [--entry-bytes B]
 *                       [--pipeline N] [--seed S]
 * Prints its configuration, seed and build; a benchmark never asserts on timing.
 */
#include "raft/raft_impl.h"
#include "raft/raft_multi.h"
#include "server/version.h"

#include "core/assert.h"
#include "core/prng.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NODES 3
#define GROUP 1
#define TICK_NS 10000000ULL

struct bnode;

struct bgroup {
	struct bnode *node;
	struct raft r;
	struct raft_entry *log;
	uint8_t **data;
	uint64_t n;
	uint64_t cap;
	uint64_t seq_written; /* highest seq written (page cache) */
	uint64_t seq_syncing; /* covered by the fsync in flight */
};

struct bnode {
	uint32_t id;
	struct raft_multi m;
	struct bgroup g;
	int fsync_inflight;
};

enum { EV_TICK = 1, EV_FRAME, EV_FSYNC };

struct bevent {
	uint64_t t;
	uint64_t seq;
	int type;
	uint32_t node;
	uint8_t *bytes;
	size_t len;
};

static struct bnode nodes[NODES + 1];
static struct bevent **heap;
static uint32_t nheap, capheap;
static uint64_t now, evseq;
static uint64_t net_ns = 100000, fsync_ns = 1000000;
static uint32_t entry_bytes = 128, pipeline = 1024;
static struct prng rng;

/* client bookkeeping (leader side) */
static uint64_t outstanding;
static uint64_t *proposed_at; /* by index */
static uint64_t proposed_cap;
static uint64_t applied_in_window, window_start, window_end;
static uint64_t *lat;
static uint64_t nlat, caplat;

static int before(const struct bevent *a, const struct bevent *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void push(struct bevent *e)
{
	e->seq = evseq++;
	if (nheap == capheap) {
		capheap = capheap ? capheap * 2 : 1024;
		heap = realloc(heap, capheap * sizeof(*heap));
		ASSERT(heap != NULL);
	}
	uint32_t i = nheap++;
	heap[i] = e;
	while (i > 0 && before(heap[i], heap[(i - 1) / 2])) {
		struct bevent *t = heap[i];
		heap[i] = heap[(i - 1) / 2];
		heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static struct bevent *pop(void)
{
	if (nheap == 0)
		return NULL;
	struct bevent *top = heap[0];
	heap[0] = heap[--nheap];
	for (uint32_t i = 0;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < nheap && before(heap[l], heap[m]))
			m = l;
		if (r < nheap && before(heap[r], heap[m]))
			m = r;
		if (m == i)
			break;
		struct bevent *t = heap[i];
		heap[i] = heap[m];
		heap[m] = t;
		i = m;
	}
	return top;
}

static struct bevent *event(int type, uint64_t at, uint32_t node)
{
	struct bevent *e = calloc(1, sizeof(*e));
	ASSERT(e != NULL);
	e->type = type;
	e->t = at;
	e->node = node;
	return e;
}

static void *mem_alloc(void *ctx, size_t n)
{
	(void)ctx;
	return malloc(n ? n : 1);
}

static void mem_free(void *ctx, void *p, size_t n)
{
	(void)ctx;
	(void)n;
	free(p);
}

static int log_term(void *ctx, uint64_t g, uint64_t index, uint64_t *term)
{
	(void)g;
	struct bgroup *bg = ctx;
	if (index == 0 || index > bg->n)
		return index == 0 ? (*term = 0, 0) : ERR_RANGE;
	*term = bg->log[index - 1].term;
	return 0;
}

static int log_entries(void *ctx, uint64_t g, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                       struct raft_entry *out, uint32_t cap, uint32_t *n)
{
	(void)g;
	struct bgroup *bg = ctx;
	uint64_t bytes = 0;
	*n = 0;
	for (uint64_t i = lo; i < hi && i <= bg->n && *n < cap; i++) {
		if (*n > 0 && bytes + bg->log[i - 1].len > max_bytes)
			break;
		bytes += bg->log[i - 1].len;
		out[(*n)++] = bg->log[i - 1];
	}
	return 0;
}

static int log_snap(void *ctx, uint64_t g, uint64_t index, uint64_t off, uint32_t max,
                    const uint8_t **d, uint32_t *len)
{
	(void)ctx, (void)g, (void)index, (void)off, (void)max, (void)d, (void)len;
	return ERR_NOTFOUND;
}

static void send_frame(void *ctx, uint64_t to, const uint8_t *frame, size_t len)
{
	struct bnode *n = ctx;
	(void)n;
	struct bevent *e = event(EV_FRAME, now + net_ns, (uint32_t)to);
	e->bytes = malloc(len);
	ASSERT(e->bytes != NULL);
	memcpy(e->bytes, frame, len);
	e->len = len;
	push(e);
}

static void start_fsync(struct bnode *n)
{
	if (n->fsync_inflight || n->g.seq_written == n->g.seq_syncing)
		return;
	n->fsync_inflight = 1;
	n->g.seq_syncing = n->g.seq_written;
	push(event(EV_FSYNC, now + fsync_ns, n->id));
}

static void on_update(void *ctx, void *user, struct raft *r, const struct raft_update *u)
{
	(void)r;
	struct bnode *n = ctx;
	struct bgroup *g = user;
	if (u->truncate_from && u->truncate_from <= g->n)
		g->n = u->truncate_from - 1;
	for (uint32_t i = 0; i < u->n_persist; i++) {
		if (g->n == g->cap) {
			g->cap = g->cap ? g->cap * 2 : 4096;
			g->log = realloc(g->log, g->cap * sizeof(*g->log));
			g->data = realloc(g->data, g->cap * sizeof(*g->data));
			ASSERT(g->log && g->data);
		}
		struct raft_entry e = u->persist[i];
		g->data[g->n] = e.len ? malloc(e.len) : NULL;
		if (e.len)
			memcpy(g->data[g->n], e.data, e.len);
		e.data = g->data[g->n];
		g->log[g->n++] = e;
	}
	if (u->persist_seq)
		g->seq_written = u->persist_seq;
	if (u->role == RAFT_LEADER) {
		for (uint32_t i = 0; i < u->n_apply; i++) {
			uint64_t idx = u->apply[i].index;
			if (u->apply[i].type != RAFT_ENTRY_NORMAL || idx >= proposed_cap ||
			    !proposed_at[idx])
				continue;
			outstanding--;
			if (now >= window_start && now < window_end) {
				applied_in_window++;
				if (nlat == caplat) {
					caplat = caplat ? caplat * 2 : 65536;
					lat = realloc(lat, caplat * sizeof(*lat));
					ASSERT(lat != NULL);
				}
				lat[nlat++] = now - proposed_at[idx];
			}
		}
	}
	(void)n;
}

static void client(struct bnode *n)
{
	static uint8_t payload[1 << 16];
	if (n->g.r.role != RAFT_LEADER)
		return;
	while (outstanding < pipeline) {
		struct raft_event ev = {.type = RAFT_EVENT_PROPOSE};
		ev.propose.data = payload;
		ev.propose.len = entry_bytes;
		uint64_t before_last = n->g.r.last_index;
		if (raft_multi_step(&n->m, GROUP, &ev) != 0)
			break; /* backpressure: the unstable tail is full until an fsync completes
			        */
		uint64_t idx = n->g.r.last_index;
		ASSERT(idx == before_last + 1);
		if (idx >= proposed_cap) {
			uint64_t cap = proposed_cap ? proposed_cap * 2 : 1 << 16;
			while (cap <= idx)
				cap *= 2;
			proposed_at = realloc(proposed_at, cap * sizeof(*proposed_at));
			ASSERT(proposed_at != NULL);
			memset(proposed_at + proposed_cap, 0,
			       (cap - proposed_cap) * sizeof(*proposed_at));
			proposed_cap = cap;
		}
		proposed_at[idx] = now;
		outstanding++;
	}
}

static void after(struct bnode *n)
{
	client(n);
	raft_multi_flush(&n->m);
	start_fsync(n);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	uint64_t seconds = 10, seed = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--net-us") && i + 1 < argc)
			net_ns = strtoull(argv[++i], NULL, 10) * 1000;
		else if (!strcmp(argv[i], "--fsync-us") && i + 1 < argc)
			fsync_ns = strtoull(argv[++i], NULL, 10) * 1000;
		else if (!strcmp(argv[i], "--entry-bytes") && i + 1 < argc)
			entry_bytes = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--pipeline") && i + 1 < argc)
			pipeline = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else {
			fprintf(stderr,
			        "usage: bench_raft_sim [--seconds S] [--net-us U] [--fsync-us U] "
			        "[--entry-bytes B] [--pipeline N] [--seed S]\n");
			return 2;
		}
	}
	if (entry_bytes > (1u << 16) || seconds == 0 || pipeline == 0)
		return 2;
	printf("bench_raft_sim: 3 nodes, 1 group, %" PRIu64
	       " simulated s, one-way network %.3f ms, fsync %.3f ms "
	       "(group commit), entries of %u B, pipeline %u, seed %" PRIu64 ", %s\n",
	       seconds, (double)net_ns / 1e6, (double)fsync_ns / 1e6, entry_bytes, pipeline, seed,
	       regatta_build_info());
	prng_init(&rng, seed);
	struct raft_conf boot;
	memset(&boot, 0, sizeof(boot));
	for (uint32_t i = 1; i <= NODES; i++)
		boot.voters[boot.n_voters++] = i;
	for (uint32_t id = 1; id <= NODES; id++) {
		struct bnode *n = &nodes[id];
		n->id = id;
		n->g.node = n;
		struct raft_multi_config mc;
		raft_multi_config_defaults(&mc);
		mc.node_id = id;
		mc.incarnation = id;
		mc.groups_max = 4;
		mc.mem = (struct raft_mem){.alloc = mem_alloc, .free = mem_free};
		mc.ctx = n;
		mc.send_frame = send_frame;
		mc.on_update = on_update;
		ASSERT(raft_multi_init(&n->m, &mc) == 0);
		struct raft_config cfg;
		raft_config_defaults(&cfg);
		cfg.id = id;
		cfg.group_id = GROUP;
		cfg.cache_entries = 8192;
		cfg.cache_bytes_max = 64u << 20;
		cfg.inflight_max = 256;
		cfg.msg_bytes_max = 1u << 20;
		cfg.seed = prng_next(&rng);
		cfg.log = (struct raft_log_ops){.ctx = &n->g,
		                                .term = log_term,
		                                .entries = log_entries,
		                                .snapshot_read = log_snap};
		cfg.mem = (struct raft_mem){.alloc = mem_alloc, .free = mem_free};
		struct raft_init_state st = {.snapshot = {.conf = boot}, .log_first = 1};
		ASSERT(raft_init(&n->g.r, &cfg, &st) == 0);
		ASSERT(raft_multi_add(&n->m, GROUP, &n->g.r, &n->g) == 0);
		push(event(EV_TICK, prng_below(&rng, TICK_NS), id));
	}
	struct raft_event camp = {.type = RAFT_EVENT_CAMPAIGN};
	ASSERT(raft_multi_step(&nodes[1].m, GROUP, &camp) == 0);
	after(&nodes[1]);

	window_start = 1000000000ULL; /* 1 s warm-up */
	window_end = window_start + seconds * 1000000000ULL;
	struct timespec w0, w1;
	int timing = 0;
	struct bevent *e;
	while ((e = pop()) != NULL && e->t < window_end) {
		now = e->t;
		if (!timing && now >= window_start) {
			clock_gettime(CLOCK_MONOTONIC, &w0);
			timing = 1;
		}
		struct bnode *n = &nodes[e->node];
		if (e->type == EV_TICK) {
			raft_multi_tick(&n->m);
			push(event(EV_TICK, now + TICK_NS, n->id));
		} else if (e->type == EV_FRAME) {
			ASSERT(raft_multi_receive(&n->m, e->bytes, e->len) == 0);
		} else {
			n->fsync_inflight = 0;
			struct raft_event ev = {.type = RAFT_EVENT_PERSISTED,
			                        .persisted_seq = n->g.seq_syncing};
			ASSERT(raft_multi_step(&n->m, GROUP, &ev) == 0);
		}
		after(n);
		free(e->bytes);
		free(e);
	}
	clock_gettime(CLOCK_MONOTONIC, &w1);
	if (e) {
		free(e->bytes);
		free(e);
	}
	double wall = (double)(w1.tv_sec - w0.tv_sec) + (double)(w1.tv_nsec - w0.tv_nsec) / 1e9;
	qsort(lat, nlat, sizeof(*lat), cmp_u64);
	double p50 = nlat ? (double)lat[nlat / 2] / 1e6 : 0,
	       p99 = nlat ? (double)lat[nlat * 99 / 100] / 1e6 : 0;
	printf("committed and applied on the leader: %" PRIu64 " entries in %" PRIu64
	       " simulated s = %.0f entries/s "
	       "simulated, %.0f entries/s wall (%.2f s wall)\n",
	       applied_in_window, seconds, (double)applied_in_window / (double)seconds,
	       wall > 0 ? (double)applied_in_window / wall : 0.0, wall);
	printf(
	    "commit latency (propose -> applied on leader, simulated): p50 %.3f ms, p99 %.3f ms\n",
	    p50, p99);
	uint64_t frames = 0, bytes = 0;
	for (uint32_t id = 1; id <= NODES; id++) {
		frames += nodes[id].m.stats.frames_sent;
		bytes += nodes[id].m.stats.bytes_sent;
	}
	printf("frames sent %" PRIu64 " (%.1f MB)\n", frames, (double)bytes / 1e6);
	while ((e = pop()) != NULL) {
		free(e->bytes);
		free(e);
	}
	for (uint32_t id = 1; id <= NODES; id++) {
		raft_deinit(&nodes[id].g.r);
		raft_multi_deinit(&nodes[id].m);
		for (uint64_t i = 0; i < nodes[id].g.n; i++)
			free(nodes[id].g.data[i]);
		free(nodes[id].g.log);
		free(nodes[id].g.data);
	}
	free(heap);
	free(proposed_at);
	free(lat);
	return 0;
}
