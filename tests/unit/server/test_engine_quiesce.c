/*
 * test_engine_quiesce.c — 100 tables on 3 nodes: every group elects, takes a write, and then
 * goes quiet. While idle, no Raft message crosses the wire at all; the only traffic is one
 * node-liveness frame per peer per heartbeat interval, whatever the number of tables. A write
 * wakes its group; a crashed node's groups are re-elected elsewhere (node liveness wakes them)
 * and every table keeps working.
 */
#include "helper_cluster.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define TABLES 100
#define FIRST 1000

struct traffic {
	uint64_t frames, msgs;
};

static struct traffic traffic(struct cluster *c)
{
	struct traffic t = {0};
	for (uint32_t i = 0; i < c->n; i++) {
		if (!cl_host(c, i))
			continue;
		struct host_stats s;
		host_stats(cl_host(c, i), &s);
		t.frames += s.frames_sent;
		t.msgs += s.msgs_sent;
	}
	return t;
}

static uint32_t quiesced(struct cluster *c)
{
	uint32_t q = UINT32_MAX;
	for (uint32_t i = 0; i < c->n; i++) {
		if (!cl_host(c, i))
			continue;
		struct host_stats s;
		host_stats(cl_host(c, i), &s);
		if (s.groups_quiesced < q)
			q = s.groups_quiesced;
	}
	return q;
}

static int all_led(struct cluster *c)
{
	for (uint64_t t = FIRST; t < FIRST + TABLES; t++)
		if (cl_leader(c, t) < 0)
			return 0;
	return 1;
}

Test(engine_quiesce, hundred_idle_tables_cost_only_node_heartbeats)
{
	struct cl_options o = {.groups_max = 256};
	struct cluster c;
	cl_init(&c, 3, cl_seed("hundred_idle_tables"), &o);
	for (uint64_t t = FIRST; t < FIRST + TABLES; t++) {
		cl_create_table(&c, t);
		cr_assert_eq(host_campaign(cl_host(&c, (uint32_t)(t % 3)), t), 0); /* spread the leaders */
	}
	for (int k = 0; k < 500 && !all_led(&c); k++)
		cl_step(&c);
	cr_assert(all_led(&c), "not every table elected (seed %" PRIu64 ")", c.seed);
	for (uint64_t t = FIRST; t < FIRST + TABLES; t++) {
		struct cl_result r;
		cr_assert_eq(cl_put(&c, (uint32_t)(t % 3), t, "k", "v", 200, &r), 0, "table %" PRIu64, t);
	}
	for (int k = 0; k < 1000 && quiesced(&c) < TABLES; k++)
		cl_step(&c);
	cr_assert_eq(quiesced(&c), TABLES, "groups did not go quiet (seed %" PRIu64 ")", c.seed);

	struct traffic a = traffic(&c);
	const uint32_t idle_ticks = 200;
	cl_run(&c, idle_ticks);
	struct traffic b = traffic(&c);
	uint64_t frames = b.frames - a.frames, msgs = b.msgs - a.msgs;
	double per_tick = (double)frames / idle_ticks;
	fprintf(stderr, "idle: %u tables on 3 nodes, %" PRIu64 " frames and %" PRIu64
		" raft messages in %u ticks (%.2f frames/tick)\n",
		TABLES, frames, msgs, idle_ticks, per_tick);
	cr_assert_eq(msgs, 0, "idle groups sent Raft messages");
	/* node liveness: each node -> each peer once per heartbeat interval (4 ticks) */
	cr_assert_leq(frames, (uint64_t)3 * 2 * (idle_ticks / 4 + 1), "idle traffic grows with tables");
	cr_assert_eq(quiesced(&c), TABLES);

	/* a write wakes its group and works */
	struct cl_result r;
	cr_assert_eq(cl_put(&c, 1, FIRST + 7, "k2", "v2", 200, &r), 0);
	cr_assert_eq(cl_get(&c, 2, FIRST + 7, "k2", 1, 200, &r), 0);
	cr_assert(r.found);

	/* a node dies: the groups it led elect new leaders and every table takes writes */
	cl_crash(&c, 0);
	for (int k = 0; k < 2000 && !all_led(&c); k++)
		cl_step(&c);
	cr_assert(all_led(&c), "tables led by the dead node did not re-elect (seed %" PRIu64 ")", c.seed);
	for (uint64_t t = FIRST; t < FIRST + TABLES; t += 9) {
		cr_assert_eq(cl_put(&c, 1 + (uint32_t)(t % 2), t, "after", "crash", 300, &r), 0, "table %" PRIu64, t);
	}
	cl_start(&c, 0);
	for (uint64_t t = FIRST; t < FIRST + TABLES; t += 9)
		cr_assert_eq(cl_wait_converged(&c, t, 2000), 0, "table %" PRIu64 " (seed %" PRIu64 ")", t, c.seed);
	cl_fini(&c);
}
