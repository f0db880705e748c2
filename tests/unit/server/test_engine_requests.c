/*
 * test_engine_requests.c — how requests end when things go wrong: unknown tables, no leader yet,
 * a deadline passing while the leader is cut off (ERR_TIMEOUT), an entry whose log position is
 * taken by a new leader's entries (ERR_AGAIN: known not applied), a table removed under waiting
 * requests (ERR_STOPPED), a host closed under waiting requests, the per-core request table full
 * (ERR_BUSY), and every accepted request answered exactly once.
 */
#include "helper_cluster.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T1 100

struct counter {
	int calls;
	int status;
	int64_t revision;
};

static void on_prop(void *ctx, const struct host_propose_result *r)
{
	struct counter *c = ctx;
	c->calls++;
	c->status = r->status;
	c->revision = r->revision;
}

static void on_read(void *ctx, const struct host_read_ready *r)
{
	struct counter *c = ctx;
	c->calls++;
	c->status = r->status;
}

static int propose(struct cluster *c, uint32_t i, uint64_t table, const char *key, uint64_t deadline_ticks,
		   struct counter *out)
{
	Mvcc__V1__KeyValue kv;
	mvcc__v1__key_value__init(&kv);
	kv.key.data = (uint8_t *)(uintptr_t)key;
	kv.key.len = strlen(key);
	kv.value.data = (uint8_t *)"v";
	kv.value.len = 1;
	Mvcc__V1__Command cmd;
	mvcc__v1__command__init(&cmd);
	cmd.type = MVCC__V1__COMMAND__COMMAND_TYPE__PUT;
	cmd.kv = &kv;
	uint64_t deadline = deadline_ticks ? cl_now_ns(c) + deadline_ticks * CL_TICK_NS : 0;
	return host_propose(cl_host(c, i), table, &cmd, NULL, deadline, on_prop, out);
}

Test(engine_requests, refusals_before_anything_waits)
{
	struct cluster c;
	cl_init(&c, 3, cl_seed("refusals_before_anything_waits"), NULL);
	struct counter k = {0};
	cr_assert_eq(propose(&c, 0, T1, "a", 10, &k), ERR_NOTFOUND);
	cr_assert_eq(host_read(cl_host(&c, 0), T1, HOST_READ_SERIALIZABLE, 0, on_read, &k), ERR_NOTFOUND);
	cl_create_table(&c, T1);
	/* no election yet: nobody to forward to */
	cr_assert_eq(propose(&c, 0, T1, "a", 10, &k), ERR_NOTLEADER);
	cr_assert_eq(host_read(cl_host(&c, 0), T1, HOST_READ_LINEARIZABLE, 0, on_read, &k), ERR_NOTLEADER);
	cr_assert_eq(host_transfer_leader(cl_host(&c, 0), T1, 2), ERR_NOTLEADER);
	cr_assert_eq(host_table_create(cl_host(&c, 0), T1, (uint64_t[]){1, 2, 3}, 3), ERR_EXISTS);
	cr_assert_eq(host_table_create(cl_host(&c, 0), T1 + 1, (uint64_t[]){2, 3}, 2), ERR_INVAL, "self not a voter");
	cr_assert_eq(host_table_create(cl_host(&c, 0), T1 + 1, (uint64_t[]){1, 1}, 2), ERR_INVAL);
	cr_assert_eq(host_table_remove(cl_host(&c, 0), T1 + 1), ERR_NOTFOUND);
	/* a serializable read needs no leader and answers before host_read returns */
	cr_assert_eq(host_read(cl_host(&c, 0), T1, HOST_READ_SERIALIZABLE, 0, on_read, &k), 0);
	cr_assert_eq(k.calls, 1);
	cr_assert_eq(k.status, 0);
	cl_fini(&c);
}

Test(engine_requests, deadline_superseded_and_stopped)
{
	struct cluster c;
	cl_init(&c, 3, cl_seed("deadline_superseded_and_stopped"), NULL);
	cl_create_table(&c, T1);
	int l = cl_wait_leader(&c, T1, 500);
	cr_assert_geq(l, 0);
	struct cl_result r;
	cr_assert_eq(cl_put(&c, (uint32_t)l, T1, "x", "1", 200, &r), 0);

	/* the leader is cut off: what it accepts cannot commit; a follower's forward is lost */
	cl_isolate(&c, (uint32_t)l, 1);
	uint32_t f = (uint32_t)(l + 1) % 3;
	struct counter on_old = {0}, via_follower = {0};
	cr_assert_eq(propose(&c, (uint32_t)l, T1, "lost", 0, &on_old), 0);
	cr_assert_eq(propose(&c, f, T1, "late", 30, &via_follower), 0);
	cl_run(&c, 40);
	cr_assert_eq(via_follower.calls, 1);
	cr_assert_eq(via_follower.status, ERR_TIMEOUT);
	/* the others elect and write over the old leader's uncommitted entry */
	int nl = -1;
	for (int t = 0; t < 1000 && nl < 0; t++) {
		cl_step(&c);
		nl = cl_leader(&c, T1);
		if (nl == l)
			nl = -1;
	}
	cr_assert_geq(nl, 0, "no new leader (seed %" PRIu64 ")", c.seed);
	for (int k = 0; k < 5; k++)
		cr_assert_eq(cl_put(&c, (uint32_t)nl, T1, "y", "2", 200, &r), 0);
	cr_assert_eq(on_old.calls, 0, "no deadline, not yet known");
	cl_isolate(&c, (uint32_t)l, 0);
	cr_assert_eq(cl_wait_converged(&c, T1, 1000), 0);
	cr_assert_eq(on_old.calls, 1);
	cr_assert_eq(on_old.status, ERR_AGAIN, "its position holds another entry: known not applied");
	struct cl_result g;
	cr_assert_eq(cl_get(&c, (uint32_t)l, T1, "lost", 1, 200, &g), 0);
	cr_assert(!g.found);

	/* requests waiting on a table that is removed end with ERR_STOPPED */
	cl_isolate(&c, (uint32_t)nl, 1);
	struct counter p1 = {0}, p2 = {0}, rd = {0};
	uint32_t other = (uint32_t)(nl + 1) % 3;
	cr_assert_eq(propose(&c, (uint32_t)nl, T1, "p1", 0, &p1), 0);
	cr_assert_eq(propose(&c, other, T1, "p2", 0, &p2), 0);
	cr_assert_eq(host_read(cl_host(&c, other), T1, HOST_READ_LINEARIZABLE, 0, on_read, &rd), 0);
	cl_run(&c, 3);
	cr_assert_eq(host_table_remove(cl_host(&c, (uint32_t)nl), T1), 0);
	cr_assert_eq(host_table_remove(cl_host(&c, other), T1), 0);
	cr_assert_eq(p1.calls, 1);
	cr_assert_eq(p1.status, ERR_STOPPED);
	cr_assert_eq(p2.calls, 1);
	cr_assert_eq(p2.status, ERR_STOPPED);
	cr_assert_eq(rd.calls, 1);
	cr_assert_eq(rd.status, ERR_STOPPED);
	cr_assert_null(host_table_find(cl_host(&c, other), T1));
	cl_isolate(&c, (uint32_t)nl, 0);
	cl_run(&c, 20); /* frames for the removed group are ignored */
	cl_fini(&c);
}

Test(engine_requests, close_answers_everything_and_busy_when_full)
{
	struct cluster c;
	cl_init(&c, 3, cl_seed("close_answers_everything"), NULL);
	cl_create_table(&c, T1);
	int l = cl_wait_leader(&c, T1, 500);
	cr_assert_geq(l, 0);
	uint32_t f = (uint32_t)(l + 1) % 3;
	cl_isolate(&c, f, 1); /* its forwarded reads go nowhere and wait */
	enum { MANY = 16384 };
	struct counter *rs = calloc(MANY + 1, sizeof *rs);
	int accepted = 0, busy = 0;
	for (int k = 0; k <= MANY; k++) {
		int rc = host_read(cl_host(&c, f), T1, HOST_READ_LINEARIZABLE, 0, on_read, &rs[k]);
		if (rc == 0)
			accepted++;
		else if (rc == ERR_BUSY)
			busy++;
		else
			cr_assert(0, "read %d: %s", k, err_str(rc));
	}
	cr_assert_eq(accepted, MANY, "the request table holds LIMIT_ENGINE_PENDING_PER_CORE");
	cr_assert_eq(busy, 1);
	cl_stop(&c, f);
	for (int k = 0; k < accepted; k++) {
		cr_assert_eq(rs[k].calls, 1, "request %d answered %d times", k, rs[k].calls);
		cr_assert_eq(rs[k].status, ERR_STOPPED);
	}
	free(rs);
	cl_isolate(&c, f, 0);
	cl_start(&c, f);
	cr_assert_eq(cl_wait_converged(&c, T1, 1000), 0);
	cl_fini(&c);
}
