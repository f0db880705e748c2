/*
 * test_engine_basic.c — a 3-node in-process cluster of engine hosts: elect a leader, propose
 * from every node (followers forward), converge to identical contents, linearizable reads on
 * followers, leader transfer, table status, and the metadata group creating and deleting
 * tables (whose replicas appear and vanish, freeing their directories).
 */
#include "helper_cluster.h"

#include "core/io_fs_sim.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define T1 100

Test(engine_basic, elect_propose_everywhere_converge)
{
	struct cluster c;
	cl_init(&c, 3, cl_seed("elect_propose_everywhere_converge"), NULL);
	cl_create_table(&c, T1);
	int l = cl_wait_leader(&c, T1, 500);
	cr_assert_geq(l, 0, "no leader (seed %" PRIu64 ")", c.seed);
	int64_t last_rev = 0;
	for (int k = 0; k < 60; k++) {
		char key[32], val[32];
		snprintf(key, sizeof key, "k%03d", k);
		snprintf(val, sizeof val, "v%d", k);
		struct cl_result r;
		int rc = cl_put(&c, (uint32_t)(k % 3), T1, key, val, 200, &r);
		cr_assert_eq(rc, 0, "put %s via node %d: %s (accepted %s, seed %" PRIu64 ")", key, k % 3 + 1,
			     err_str(rc), err_str(r.accepted_rc), c.seed);
		cr_assert_gt(r.revision, last_rev, "revisions grow");
		cr_assert_eq((uint64_t)r.revision, r.index, "revision == raft index on the leader cluster");
		last_rev = r.revision;
	}
	cr_assert_eq(cl_wait_converged(&c, T1, 500), 0, "replicas differ (seed %" PRIu64 ")", c.seed);
	uint64_t d, keys;
	cr_assert_eq(cl_table_digest(&c, 0, T1, &d, &keys), 0);
	cr_assert_eq(keys, 60);
	/* linearizable reads on every node, followers included */
	for (uint32_t i = 0; i < 3; i++) {
		struct cl_result r;
		cr_assert_eq(cl_get(&c, i, T1, "k007", 1, 200, &r), 0, "linearizable read on node %u", i + 1);
		cr_assert(r.found);
		cr_assert_str_eq(r.value, "v7");
		cr_assert_eq(cl_get(&c, i, T1, "k059", 0, 10, &r), 0);
		cr_assert(r.found);
	}
	cl_fini(&c);
}

Test(engine_basic, linearizable_read_sees_acknowledged_write_on_follower)
{
	struct cluster c;
	cl_init(&c, 3, cl_seed("linearizable_read_on_follower"), NULL);
	cl_create_table(&c, T1);
	int l = cl_wait_leader(&c, T1, 500);
	cr_assert_geq(l, 0);
	uint32_t f = (uint32_t)(l + 1) % 3;
	for (int k = 0; k < 20; k++) {
		char val[32];
		snprintf(val, sizeof val, "v%d", k);
		struct cl_result r;
		cr_assert_eq(cl_put(&c, (uint32_t)l, T1, "x", val, 200, &r), 0);
		/* immediately read on a follower: ReadIndex makes it wait for the write */
		struct cl_result g;
		cr_assert_eq(cl_get(&c, f, T1, "x", 1, 200, &g), 0);
		cr_assert(g.found);
		cr_assert_str_eq(g.value, val, "follower read is stale (seed %" PRIu64 ")", c.seed);
		cr_assert_geq(g.index, r.index);
	}
	cl_fini(&c);
}

Test(engine_basic, leader_transfer_and_status)
{
	struct cluster c;
	cl_init(&c, 3, cl_seed("leader_transfer_and_status"), NULL);
	cl_create_table(&c, T1);
	int l = cl_wait_leader(&c, T1, 500);
	cr_assert_geq(l, 0);
	struct cl_result r;
	cr_assert_eq(cl_put(&c, (uint32_t)l, T1, "a", "1", 200, &r), 0);
	uint32_t to = (uint32_t)(l + 2) % 3;
	cr_assert_eq(host_transfer_leader(cl_host(&c, (uint32_t)l), T1, to + 1), 0);
	cr_assert_eq(host_transfer_leader(cl_host(&c, to), T1, 1), ERR_NOTLEADER);
	int nl = -1;
	for (int t = 0; t < 300 && nl != (int)to; t++) {
		cl_step(&c);
		nl = cl_leader(&c, T1);
	}
	cr_assert_eq(nl, (int)to, "leadership did not move (seed %" PRIu64 ")", c.seed);
	cr_assert_eq(cl_put(&c, (uint32_t)l, T1, "b", "2", 200, &r), 0, "the old leader forwards");
	struct host_table_status st;
	cr_assert_eq(host_table_status(cl_host(&c, to), T1, &st), 0);
	cr_assert_eq(st.role, HOST_ROLE_LEADER);
	cr_assert_eq(st.leader, to + 1);
	cr_assert_geq(st.commit, r.index);
	cr_assert_geq(st.applied, r.index);
	cr_assert_geq(st.last_index, st.commit);
	cr_assert_gt(st.term, 0);
	cr_assert_gt(st.log_bytes, 0);
	cr_assert_eq(st.error, 0);
	cr_assert_eq(host_table_status(cl_host(&c, to), 999, &st), ERR_NOTFOUND);
	cr_assert_eq(cl_put(&c, 0, 999, "a", "b", 10, &r), ERR_NOTFOUND);
	cl_fini(&c);
}

static int dir_exists(struct io_fs *fs, uint64_t table)
{
	char path[64];
	snprintf(path, sizeof path, "/data/tables/%" PRIu64, table);
	return io_fs_exists(fs, path, NULL) == 0;
}

Test(engine_basic, metadata_group_creates_and_deletes_tables)
{
	struct cl_options o = {.auto_tables = 1};
	struct cluster c;
	cl_init(&c, 3, cl_seed("metadata_group_creates_and_deletes_tables"), &o);
	cl_create_table(&c, HOST_META_GROUP_ID);
	int l = cl_wait_leader(&c, HOST_META_GROUP_ID, 500);
	cr_assert_geq(l, 0);
	uint64_t id = 0;
	cr_assert_eq(cl_meta_create(&c, (uint32_t)(l + 1) % 3, "users", 300, &id), 0);
	cr_assert_gt(id, HOST_META_GROUP_ID);
	cr_assert_eq(cl_meta_create(&c, (uint32_t)l, "users", 300, NULL), ERR_EXISTS, "names are unique");
	cl_run(&c, 5);
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert_not_null(host_table_find(cl_host(&c, i), id), "node %u has no replica of %" PRIu64, i + 1, id);
		const struct catalog_table *t =
			catalog_find(replica_catalog(host_table_find(cl_host(&c, i), HOST_META_GROUP_ID)), "users", 5);
		cr_assert_not_null(t);
		cr_assert_eq(t->id, id);
	}
	cr_assert_geq(cl_wait_leader(&c, id, 500), 0);
	struct cl_result r;
	cr_assert_eq(cl_put_retry(&c, id, "k", "v", 1000, &r), 0);
	cr_assert_eq(cl_wait_converged(&c, id, 300), 0);
	for (uint32_t i = 0; i < 3; i++)
		cr_assert(dir_exists(c.nodes[i].fs, id));

	cr_assert_eq(cl_meta_delete(&c, (uint32_t)l, "users", 300), 0);
	cl_run(&c, 5);
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert_null(host_table_find(cl_host(&c, i), id), "node %u still has %" PRIu64, i + 1, id);
		cr_assert(!dir_exists(c.nodes[i].fs, id), "the table's directory is gone on node %u", i + 1);
	}
	/* the same name again is a new table with a new id and no data */
	uint64_t id2 = 0;
	cr_assert_eq(cl_meta_create(&c, 0, "users", 300, &id2), 0);
	cr_assert_gt(id2, id);
	cr_assert_geq(cl_wait_leader(&c, id2, 500), 0);
	cr_assert_eq(cl_get(&c, 1, id2, "k", 1, 300, &r), 0);
	cr_assert(!r.found, "no resurrected data");
	cl_fini(&c);
}
