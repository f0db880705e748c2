/*
 * test_multi.c — many groups per core (raft/raft_multi.h): the group table, batched frames,
 * heartbeat coalescing through quiescence (1,000 idle groups cost about what one does), and node
 * liveness waking groups whose leader's node went silent.
 */
#include "raft/raft_multi.h"
#include "raft/raft_impl.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define NODES 3
#define GROUPS_MAX 1000

struct mgroup {
	uint32_t node;
	uint64_t gid;
	struct raft r;
	struct raft_entry *log; /* persisted entries, index i at log[i - 1] */
	uint8_t **data;
	uint64_t n;
	uint64_t cap;
	uint64_t seq_pending;
};

struct mnode {
	uint32_t id;
	struct raft_multi m;
	struct mgroup *groups;
	uint32_t n_groups;
	int silent; /* frames from this node are lost */
};

struct frame {
	uint32_t from, to;
	size_t len;
	uint8_t *bytes;
};

static struct mnode N[NODES + 1];
static struct frame *Q;
static uint32_t nq, capq;
static uint64_t bytes_sent;

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
	struct mgroup *mg = ctx;
	if (index == 0) {
		*term = 0;
		return 0;
	}
	if (index > mg->n)
		return ERR_RANGE;
	*term = mg->log[index - 1].term;
	return 0;
}

static int log_entries(void *ctx, uint64_t g, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                       struct raft_entry *out, uint32_t cap, uint32_t *n)
{
	(void)g;
	(void)max_bytes;
	struct mgroup *mg = ctx;
	*n = 0;
	for (uint64_t i = lo; i < hi && i <= mg->n && *n < cap; i++)
		out[(*n)++] = mg->log[i - 1];
	return 0;
}

static int log_snap(void *ctx, uint64_t g, uint64_t index, uint64_t off, uint32_t len_max,
                    const uint8_t **d, uint32_t *len)
{
	(void)ctx, (void)g, (void)index, (void)off, (void)len_max, (void)d, (void)len;
	return ERR_NOTFOUND;
}

static void send_frame(void *ctx, uint64_t to, const uint8_t *frame, size_t len)
{
	struct mnode *n = ctx;
	bytes_sent += len;
	if (n->silent)
		return;
	if (nq == capq) {
		capq = capq ? capq * 2 : 256;
		Q = realloc(Q, capq * sizeof(*Q));
	}
	Q[nq].from = n->id;
	Q[nq].to = (uint32_t)to;
	Q[nq].len = len;
	Q[nq].bytes = malloc(len);
	memcpy(Q[nq].bytes, frame, len);
	nq++;
}

static void on_update(void *ctx, void *user, struct raft *r, const struct raft_update *u)
{
	(void)ctx;
	(void)r;
	struct mgroup *g = user;
	if (u->truncate_from && u->truncate_from <= g->n)
		g->n = u->truncate_from - 1;
	for (uint32_t i = 0; i < u->n_persist; i++) {
		if (g->n == g->cap) {
			g->cap = g->cap ? g->cap * 2 : 16;
			g->log = realloc(g->log, g->cap * sizeof(*g->log));
			g->data = realloc(g->data, g->cap * sizeof(*g->data));
		}
		struct raft_entry e = u->persist[i];
		cr_assert_eq(e.index, g->n + 1);
		g->data[g->n] = e.len ? malloc(e.len) : NULL;
		if (e.len)
			memcpy(g->data[g->n], e.data, e.len);
		e.data = g->data[g->n];
		g->log[g->n++] = e;
	}
	if (u->persist_seq)
		g->seq_pending = u->persist_seq; /* "fsync" happens after the step returns */
}

static void persist_all(struct mnode *n)
{
	for (uint32_t i = 0; i < n->n_groups; i++) {
		struct mgroup *g = &n->groups[i];
		if (!g->seq_pending)
			continue;
		struct raft_event ev = {.type = RAFT_EVENT_PERSISTED,
		                        .persisted_seq = g->seq_pending};
		g->seq_pending = 0;
		cr_assert_eq(raft_multi_step(&n->m, g->gid, &ev), 0);
	}
	raft_multi_flush(&n->m);
}

static void setup(uint32_t groups, int quiesce)
{
	memset(N, 0, sizeof(N));
	nq = 0;
	bytes_sent = 0;
	struct raft_conf boot;
	memset(&boot, 0, sizeof(boot));
	for (uint32_t i = 1; i <= NODES; i++)
		boot.voters[boot.n_voters++] = i;
	for (uint32_t id = 1; id <= NODES; id++) {
		struct mnode *n = &N[id];
		n->id = id;
		struct raft_multi_config mc;
		raft_multi_config_defaults(&mc);
		mc.node_id = id;
		mc.incarnation = 100 + id;
		mc.heartbeat_ticks = 2;
		mc.election_ticks = 10;
		mc.groups_max = GROUPS_MAX;
		mc.frame_bytes = 1u << 20;
		mc.mem.alloc = mem_alloc;
		mc.mem.free = mem_free;
		mc.ctx = n;
		mc.send_frame = send_frame;
		mc.on_update = on_update;
		cr_assert_eq(raft_multi_init(&n->m, &mc), 0);
		n->groups = calloc(groups, sizeof(*n->groups));
		n->n_groups = groups;
		for (uint32_t gi = 0; gi < groups; gi++) {
			struct mgroup *g = &n->groups[gi];
			g->node = id;
			g->gid = 1000 + gi;
			struct raft_config cfg;
			raft_config_defaults(&cfg);
			cfg.id = id;
			cfg.group_id = g->gid;
			cfg.election_ticks = 10;
			cfg.heartbeat_ticks = 2;
			cfg.cache_entries = 16;
			cfg.seed = gi;
			cfg.quiesce = quiesce;
			cfg.log = (struct raft_log_ops){.ctx = g,
			                                .term = log_term,
			                                .entries = log_entries,
			                                .snapshot_read = log_snap};
			cfg.mem = (struct raft_mem){.alloc = mem_alloc, .free = mem_free};
			struct raft_init_state st = {.snapshot = {.conf = boot}, .log_first = 1};
			cr_assert_eq(raft_init(&g->r, &cfg, &st), 0);
			cr_assert_eq(raft_multi_add(&n->m, g->gid, &g->r, g), 0);
		}
	}
}

static void teardown(void)
{
	for (uint32_t id = 1; id <= NODES; id++) {
		struct mnode *n = &N[id];
		for (uint32_t gi = 0; gi < n->n_groups; gi++) {
			struct mgroup *g = &n->groups[gi];
			raft_deinit(&g->r);
			for (uint64_t i = 0; i < g->n; i++)
				free(g->data[i]);
			free(g->log);
			free(g->data);
		}
		free(n->groups);
		raft_multi_deinit(&n->m);
	}
	for (uint32_t i = 0; i < nq; i++)
		free(Q[i].bytes);
	free(Q);
	Q = NULL;
	nq = capq = 0;
}

TestSuite(raft_multi, .fini = teardown);

static void deliver(void)
{
	for (int round = 0; round < 50 && nq > 0; round++) {
		uint32_t n = nq;
		struct frame *batch = malloc(n * sizeof(*batch));
		memcpy(batch, Q, n * sizeof(*batch));
		nq = 0;
		for (uint32_t i = 0; i < n; i++) {
			cr_assert_eq(
			    raft_multi_receive(&N[batch[i].to].m, batch[i].bytes, batch[i].len), 0);
			free(batch[i].bytes);
			persist_all(&N[batch[i].to]);
		}
		free(batch);
		for (uint32_t id = 1; id <= NODES; id++)
			persist_all(&N[id]);
	}
}

static void tick_all(uint32_t ticks)
{
	for (uint32_t t = 0; t < ticks; t++) {
		for (uint32_t id = 1; id <= NODES; id++) {
			raft_multi_tick(&N[id].m);
			persist_all(&N[id]);
		}
		deliver();
	}
}

static uint32_t leaders(uint32_t group_index, uint32_t *who)
{
	uint32_t k = 0;
	for (uint32_t id = 1; id <= NODES; id++)
		if (N[id].groups[group_index].r.role == RAFT_LEADER) {
			k++;
			*who = id;
		}
	return k;
}

Test(raft_multi, groups_elect_and_commit_through_frames)
{
	setup(20, 0);
	tick_all(60);
	for (uint32_t gi = 0; gi < 20; gi++) {
		uint32_t who = 0;
		cr_assert_eq(leaders(gi, &who), 1, "group %u", gi);
		struct raft_event ev = {.type = RAFT_EVENT_PROPOSE};
		ev.propose.data = (const uint8_t *)"v";
		ev.propose.len = 1;
		cr_assert_eq(raft_multi_step(&N[who].m, 1000 + gi, &ev), 0);
		persist_all(&N[who]);
	}
	deliver();
	tick_all(4);
	for (uint32_t id = 1; id <= NODES; id++)
		for (uint32_t gi = 0; gi < 20; gi++)
			cr_assert_eq(N[id].groups[gi].r.commit, 2, "node %u group %u", id, gi);
	cr_assert_lt(N[1].m.stats.frames_sent, N[1].m.stats.msgs_sent,
	             "messages are batched into frames");
}

/* Idle groups quiesce: the traffic of 1,000 idle groups is about that of one. */
Test(raft_multi, idle_groups_cost_like_one)
{
	uint64_t per_tick[2];
	uint32_t sizes[2] = {1, GROUPS_MAX};
	for (int k = 0; k < 2; k++) {
		setup(sizes[k], 1);
		tick_all(80);
		uint32_t q = 0;
		for (uint32_t id = 1; id <= NODES; id++)
			q += raft_multi_quiesced(&N[id].m);
		cr_assert_eq(q, NODES * sizes[k], "every group quiesced on every node");
		uint64_t before = bytes_sent;
		tick_all(100);
		per_tick[k] = (bytes_sent - before) / 100;
		teardown();
	}
	cr_assert_gt(per_tick[0], 0, "node heartbeats keep flowing");
	cr_assert_leq(per_tick[1], per_tick[0] * 2,
	              "1,000 idle groups: %lu B/tick vs one group: %lu B/tick",
	              (unsigned long)per_tick[1], (unsigned long)per_tick[0]);
	setup(1, 1); /* for the suite's teardown */
}

/* A leader's node goes silent: its quiesced groups wake up elsewhere and elect new leaders. */
Test(raft_multi, silent_leader_node_wakes_its_groups)
{
	setup(10, 1);
	tick_all(80);
	uint32_t who = 0;
	cr_assert_eq(leaders(0, &who), 1);
	cr_assert(raft_is_quiesced(&N[who == 1 ? 2 : 1].groups[0].r));
	N[who].silent = 1;
	tick_all(80);
	for (uint32_t gi = 0; gi < 10; gi++) {
		uint32_t ok = 0;
		for (uint32_t id = 1; id <= NODES; id++)
			if (id != who && N[id].groups[gi].r.role == RAFT_LEADER)
				ok = 1;
		cr_assert(ok, "group %u has a leader on a live node", gi);
	}
	cr_assert_gt(N[who == 1 ? 2 : 1].m.stats.wakes, 0);
}

/* The followers' nodes go silent: a quiesced leader must notice (check-quorum) and step down,
 * not wake up and fall asleep again still claiming leadership (found through the REST /healthz
 * checks: the flags from before quiescence made the peers look active after a wake-up). */
Test(raft_multi, quiesced_leader_without_a_quorum_steps_down)
{
	setup(10, 1);
	tick_all(80);
	uint32_t who = 0;
	cr_assert_eq(leaders(0, &who), 1);
	cr_assert(raft_is_quiesced(&N[who].groups[0].r));
	for (uint32_t id = 1; id <= NODES; id++)
		if (id != who)
			N[id].silent = 1;
	tick_all(200);
	for (uint32_t gi = 0; gi < 10; gi++)
		cr_assert_neq(N[who].groups[gi].r.role, RAFT_LEADER,
			      "group %u: a leader that hears from no follower steps down", gi);
}

Test(raft_multi, group_table_add_remove_find)
{
	setup(0, 0);
	static struct raft dummy;
	struct raft_multi *m = &N[1].m;
	for (uint64_t g = 1; g <= 1000; g++)
		cr_assert_eq(raft_multi_add(m, g * 7919, &dummy, (void *)(uintptr_t)g), 0);
	cr_assert_eq(raft_multi_add(m, 7919, &dummy, NULL), ERR_EXISTS);
	cr_assert_eq(raft_multi_add(m, 1, &dummy, NULL), ERR_NOMEM, "groups_max reached");
	for (uint64_t g = 1; g <= 1000; g += 3)
		cr_assert_eq(raft_multi_remove(m, g * 7919), 0);
	for (uint64_t g = 1; g <= 1000; g++) {
		void *user = NULL;
		struct raft *r = raft_multi_find(m, g * 7919, &user);
		if ((g - 1) % 3 == 0) {
			cr_assert_null(r);
		} else {
			cr_assert_not_null(r, "group %lu lost by backward-shift deletion",
			                   (unsigned long)g);
			cr_assert_eq((uintptr_t)user, g);
		}
	}
	cr_assert_eq(raft_multi_remove(m, 12345), ERR_NOTFOUND);
	for (uint64_t g = 1; g <= 1000; g++)
		if ((g - 1) % 3 != 0)
			cr_assert_eq(raft_multi_remove(m, g * 7919), 0);
	cr_assert_eq(m->n_groups, 0);
}

Test(raft_multi, unknown_groups_and_bad_frames_are_counted)
{
	setup(1, 0);
	uint8_t junk[64] = {0x52, 1};
	cr_assert_eq(raft_multi_receive(&N[1].m, junk, sizeof(junk)), ERR_PROTO);
	uint8_t buf[256];
	struct raft_frame_writer w;
	raft_frame_begin(&w, buf, sizeof(buf), 2);
	struct raft_message m = {.type = RAFT_MSG_HEARTBEAT, .group_id = 999, .term = 1};
	cr_assert_eq(raft_frame_add_msg(&w, &m), 0);
	size_t len = raft_frame_finish(&w);
	cr_assert_eq(raft_multi_receive(&N[1].m, buf, len), 0);
	cr_assert_eq(N[1].m.stats.msgs_unknown_group, 1);
	cr_assert_eq(N[1].m.stats.frames_bad, 1);
}
