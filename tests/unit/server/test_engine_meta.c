/*
 * test_engine_meta.c — the metadata group across failures: tables created and deleted through
 * the catalogue survive whole-cluster power loss (the catalogue replays, replicas reopen, the
 * start-up reconciliation fixes what a crash interrupted), and a node that missed many
 * catalogue changes catches up by a catalogue snapshot whose differences are reported as
 * CREATED/DELETED changes, so its replicas match the catalogue and the new tables converge.
 */
#include "helper_cluster.h"

#include "core/io_fs_sim.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static uint64_t create(struct cluster *c, const char *name)
{
	uint64_t id = 0;
	int rc = ERR_TIMEOUT;
	for (int attempt = 0; attempt < 20 && rc != 0; attempt++) {
		int l = cl_wait_leader(c, HOST_META_GROUP_ID, 1000);
		cr_assert_geq(l, 0, "no metadata leader (seed %" PRIu64 ")", c->seed);
		rc = cl_meta_create(c, (uint32_t)l, name, 300, &id);
	}
	cr_assert_eq(rc, 0, "create %s: %s (seed %" PRIu64 ")", name, err_str(rc), c->seed);
	return id;
}

static void delete(struct cluster *c, const char *name)
{
	int rc = ERR_TIMEOUT;
	for (int attempt = 0; attempt < 20 && rc != 0 && rc != ERR_NOTFOUND; attempt++) {
		int l = cl_wait_leader(c, HOST_META_GROUP_ID, 1000);
		cr_assert_geq(l, 0);
		rc = cl_meta_delete(c, (uint32_t)l, name, 300);
	}
	cr_assert_eq(rc, 0, "delete %s: %s", name, err_str(rc));
}

static int has_dir(struct cluster *c, uint32_t i, uint64_t table)
{
	char path[64];
	snprintf(path, sizeof path, "/data/tables/%" PRIu64, table);
	return io_fs_exists(c->nodes[i].fs, path, NULL) == 0;
}

Test(engine_meta, catalogue_survives_power_loss)
{
	struct cl_options o = {.auto_tables = 1, .memtable_bytes = 8u << 10};
	struct cluster c;
	cl_init(&c, 3, cl_seed("catalogue_survives_power_loss"), &o);
	cl_create_table(&c, HOST_META_GROUP_ID);
	uint64_t a = create(&c, "a"), b = create(&c, "b"), t = create(&c, "t");
	struct cl_result r;
	cr_assert_eq(cl_put_retry(&c, a, "ka", "va", 2000, &r), 0);
	cr_assert_eq(cl_put_retry(&c, b, "kb", "vb", 2000, &r), 0);
	for (uint32_t i = 0; i < 3; i++)
		cl_crash(&c, i);
	for (uint32_t i = 0; i < 3; i++)
		cl_start(&c, i);
	cr_assert_eq(cl_wait_converged(&c, a, 3000), 0, "a (seed %" PRIu64 ")", c.seed);
	cr_assert_eq(cl_wait_converged(&c, b, 3000), 0);
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert_eq(cl_get(&c, i, a, "ka", 1, 300, &r), 0);
		cr_assert(r.found, "node %u lost table a's data (seed %" PRIu64 ")", i + 1, c.seed);
	}
	/* delete b, then one node loses power right away, before or after applying it */
	delete(&c, "b");
	cl_crash(&c, 2);
	cl_run(&c, 10);
	cl_start(&c, 2);
	cl_run(&c, 50);
	cr_assert_geq(cl_wait_leader(&c, HOST_META_GROUP_ID, 1000), 0);
	for (int k = 0; k < 500; k++) {
		int gone = 1;
		for (uint32_t i = 0; i < 3; i++)
			gone &= host_table_find(cl_host(&c, i), b) == NULL;
		if (gone)
			break;
		cl_step(&c);
	}
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert_null(host_table_find(cl_host(&c, i), b), "node %u kept the deleted table", i + 1);
		cr_assert(!has_dir(&c, i, b));
		cr_assert_not_null(host_table_find(cl_host(&c, i), a));
		cr_assert_not_null(host_table_find(cl_host(&c, i), t));
	}
	cr_assert_eq(cl_wait_converged(&c, t, 2000), 0);
	cl_fini(&c);
}

Test(engine_meta, lagging_node_catches_up_by_catalogue_snapshot)
{
	struct cl_options o = {.auto_tables = 1, .snapshot_log_bytes = 256};
	struct cluster c;
	cl_init(&c, 3, cl_seed("lagging_node_catches_up_by_catalogue_snapshot"), &o);
	cl_create_table(&c, HOST_META_GROUP_ID);
	uint64_t keep = create(&c, "keep"), gone = create(&c, "gone");
	int ml = cl_wait_leader(&c, HOST_META_GROUP_ID, 1000);
	uint32_t lag = (uint32_t)(ml + 1) % 3;
	cl_isolate(&c, lag, 1);
	uint64_t ids[12];
	char name[16];
	for (int k = 0; k < 12; k++) {
		snprintf(name, sizeof name, "t%02d", k);
		ids[k] = create(&c, name);
	}
	for (int k = 0; k < 12; k += 3) {
		snprintf(name, sizeof name, "t%02d", k);
		delete(&c, name);
	}
	delete(&c, "gone");
	struct host_table_status ms;
	cr_assert_eq(host_table_status(cl_host(&c, (uint32_t)cl_leader(&c, HOST_META_GROUP_ID)), HOST_META_GROUP_ID, &ms), 0);
	cr_assert_gt(ms.first_index, 3, "the metadata log was compacted");
	uint64_t t0, i0;
	cl_snapshot_counts(&c, &t0, &i0);
	cl_isolate(&c, lag, 0);
	for (int k = 0; k < 2000; k++) {
		struct host_table_status st;
		if (host_table_status(cl_host(&c, lag), HOST_META_GROUP_ID, &st) == 0 && st.applied >= ms.commit)
			break;
		cl_step(&c);
	}
	uint64_t t1, i1;
	cl_snapshot_counts(&c, &t1, &i1);
	cr_assert_gt(i1, i0, "the lagging node installed a catalogue snapshot (seed %" PRIu64 ")", c.seed);
	cl_run(&c, 5);
	struct host *h = cl_host(&c, lag);
	cr_assert_not_null(host_table_find(h, keep));
	cr_assert_null(host_table_find(h, gone), "a table deleted meanwhile was removed");
	for (int k = 0; k < 12; k++) {
		if (k % 3 == 0)
			cr_assert_null(host_table_find(h, ids[k]), "t%02d was deleted", k);
		else
			cr_assert_not_null(host_table_find(h, ids[k]), "t%02d missing on the lagging node", k);
	}
	struct cl_result r;
	cr_assert_eq(cl_put_retry(&c, ids[4], "k", "v", 2000, &r), 0);
	cr_assert_eq(cl_wait_converged(&c, ids[4], 2000), 0, "a table created while away converges");
	cl_fini(&c);
}
