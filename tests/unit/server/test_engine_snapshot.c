/*
 * test_engine_snapshot.c — Raft snapshots in the engine: the archive format round-trips and
 * refuses damage; a node cut off while the leader's log was compacted catches up through a
 * snapshot (streamed in chunks, staged, installed atomically) and converges; the leader's log
 * really shrinks (retention floors); a node crashed right after installing restarts on the new
 * state; and a node that installed a snapshot can itself serve it after becoming leader.
 */
#include "helper_cluster.h"

#include "core/io_fs_sim.h"
#include "server/engine/snapshot.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T1 100

static void write_file(struct io_fs *fs, const char *path, size_t len, uint8_t seed)
{
	struct io_file *f;
	cr_assert_eq(io_file_open(fs, path, IO_OPEN_CREATE | IO_OPEN_TRUNC, &f), 0);
	uint8_t *b = malloc(len ? len : 1);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed + i * 7);
	cr_assert_eq(io_file_pwrite(f, b, len, 0), 0);
	cr_assert_eq(io_file_sync(f), 0);
	io_file_close(f);
	free(b);
}

static int files_equal(struct io_fs *fs, const char *a, const char *b)
{
	void *x, *y;
	size_t xl, yl;
	cr_assert_eq(io_fs_read_all(fs, a, 64u << 20, &x, &xl), 0);
	cr_assert_eq(io_fs_read_all(fs, b, 64u << 20, &y, &yl), 0);
	int eq = xl == yl && memcmp(x, y, xl) == 0;
	free(x);
	free(y);
	return eq;
}

Test(engine_snapshot, archive_round_trip_and_damage)
{
	struct io_fs *fs = io_fs_sim_new(7);
	cr_assert_eq(io_fs_mkdir_all(fs, "/src"), 0);
	write_file(fs, "/src/000001.sst", 3000000, 1); /* spans several 1 MiB copy buffers */
	write_file(fs, "/src/MANIFEST-000002", 123, 2);
	write_file(fs, "/src/empty", 0, 3);
	struct snap_source *s;
	cr_assert_eq(snap_source_open(fs, "/src", 42, 7, &s), 0);
	uint64_t size = snap_source_size(s);
	cr_assert_gt(size, 3000123);
	/* read it out of order in odd chunks: the stream is the same as packing it in one go */
	uint8_t *stream = malloc(size);
	uint64_t off = size;
	while (off > 0) {
		uint64_t start = off > 77777 ? off - 77777 : 0;
		size_t n;
		cr_assert_eq(snap_source_read(s, start, stream + start, (size_t)(off - start), &n), 0);
		cr_assert_eq(n, off - start);
		off = start;
	}
	snap_source_close(s);
	cr_assert_eq(snap_pack_file(fs, "/src", 42, 7, "/a.snap"), 0);
	void *packed;
	size_t plen;
	cr_assert_eq(io_fs_read_all(fs, "/a.snap", 64u << 20, &packed, &plen), 0);
	cr_assert_eq(plen, size);
	cr_assert(memcmp(packed, stream, size) == 0, "random-order reads give the packed bytes");
	free(packed);
	uint64_t index = 0, term = 0;
	cr_assert_eq(snap_unpack(fs, "/a.snap", "/dst", &index, &term), 0);
	cr_assert_eq(index, 42);
	cr_assert_eq(term, 7);
	cr_assert(files_equal(fs, "/src/000001.sst", "/dst/000001.sst"));
	cr_assert(files_equal(fs, "/src/MANIFEST-000002", "/dst/MANIFEST-000002"));
	cr_assert(files_equal(fs, "/src/empty", "/dst/empty"));
	cr_assert_eq(snap_unpack(fs, "/a.snap", "/dst", &index, &term), ERR_EXISTS);

	/* staging in chunks (as Raft delivers them) gives the same archive */
	struct io_file *st = NULL;
	for (uint64_t o = 0; o < size; o += 1u << 20) {
		size_t n = size - o < (1u << 20) ? (size_t)(size - o) : (1u << 20);
		cr_assert_eq(snap_stage_write(fs, "/recv.tmp", &st, o, stream + o, n), 0);
	}
	snap_stage_close(&st);
	cr_assert(files_equal(fs, "/a.snap", "/recv.tmp"));

	/* any flipped byte is refused */
	uint64_t spots[] = {0, 20, 40 + 5, 40 + 30, 1000, 2000000, size - 20, size - 3};
	for (size_t k = 0; k < sizeof spots / sizeof spots[0]; k++) {
		struct io_file *f;
		cr_assert_eq(io_file_open(fs, "/b.snap", IO_OPEN_CREATE | IO_OPEN_TRUNC, &f), 0);
		uint8_t *copy = malloc(size);
		memcpy(copy, stream, size);
		copy[spots[k]] ^= 0x5a;
		cr_assert_eq(io_file_pwrite(f, copy, size, 0), 0);
		io_file_close(f);
		free(copy);
		char dir[32];
		snprintf(dir, sizeof dir, "/bad%zu", k);
		cr_assert_eq(snap_unpack(fs, "/b.snap", dir, &index, &term), ERR_CORRUPT, "flip at %" PRIu64, spots[k]);
	}
	/* truncated */
	struct io_file *f;
	cr_assert_eq(io_file_open(fs, "/c.snap", IO_OPEN_CREATE | IO_OPEN_TRUNC, &f), 0);
	cr_assert_eq(io_file_pwrite(f, stream, size - 1, 0), 0);
	io_file_close(f);
	cr_assert_eq(snap_unpack(fs, "/c.snap", "/trunc", &index, &term), ERR_CORRUPT);
	free(stream);
	io_fs_sim_free(fs);
}

static void put_range(struct cluster *c, int from, int to)
{
	for (int k = from; k < to; k++) {
		char key[32], val[64];
		snprintf(key, sizeof key, "s%05d", k);
		snprintf(val, sizeof val, "value-%d-padding-padding-padding", k);
		struct cl_result r;
		cr_assert_eq(cl_put_retry(c, T1, key, val, 3000, &r), 0, "put %s (seed %" PRIu64 ")", key, c->seed);
	}
}

Test(engine_snapshot, node_far_behind_catches_up_by_snapshot)
{
	struct cl_options o = {.memtable_bytes = 32u << 10, .snapshot_log_bytes = 16u << 10};
	struct cluster c;
	cl_init(&c, 3, cl_seed("node_far_behind_catches_up_by_snapshot"), &o);
	cl_create_table(&c, T1);
	int l = cl_wait_leader(&c, T1, 500);
	cr_assert_geq(l, 0);
	uint32_t lag = (uint32_t)(l + 1) % 3;
	put_range(&c, 0, 50);
	cl_isolate(&c, lag, 1);
	put_range(&c, 50, 1500); /* ~90 KiB of entries: several snapshots, the log is compacted */
	struct host_table_status ls;
	l = cl_leader(&c, T1);
	cr_assert_geq(l, 0);
	cr_assert_eq(host_table_status(cl_host(&c, (uint32_t)l), T1, &ls), 0);
	cr_assert_gt(ls.snapshot_index, 0, "the leader took a snapshot");
	cr_assert_gt(ls.first_index, 100, "the leader's log was compacted (first index %" PRIu64 ")", ls.first_index);
	struct host_table_status fs0;
	cr_assert_eq(host_table_status(cl_host(&c, lag), T1, &fs0), 0);
	cr_assert_lt(fs0.applied, ls.first_index, "the lagging node needs entries that are gone");
	uint64_t taken0, inst0;
	cl_snapshot_counts(&c, &taken0, &inst0);
	cl_isolate(&c, lag, 0);
	cr_assert_eq(cl_wait_converged(&c, T1, 3000), 0, "no convergence (seed %" PRIu64 ")", c.seed);
	uint64_t taken1, inst1;
	cl_snapshot_counts(&c, &taken1, &inst1);
	cr_assert_gt(inst1, inst0, "the lagging node installed a snapshot");
	uint64_t d, keys;
	cr_assert_eq(cl_table_digest(&c, lag, T1, &d, &keys), 0);
	cr_assert_eq(keys, 1500);

	/* it restarts (power loss) on the installed state and still agrees */
	cl_crash(&c, lag);
	cl_start(&c, lag);
	put_range(&c, 1500, 1520);
	cr_assert_eq(cl_wait_converged(&c, T1, 3000), 0);
	/* and it can lead and serve its snapshot to another lagging node */
	l = cl_leader(&c, T1);
	cr_assert_geq(l, 0);
	if (l != (int)lag) {
		cr_assert_eq(host_transfer_leader(cl_host(&c, (uint32_t)l), T1, lag + 1), 0);
		for (int t = 0; t < 300 && cl_leader(&c, T1) != (int)lag; t++)
			cl_step(&c);
		cr_assert_eq(cl_leader(&c, T1), (int)lag, "transfer to the restored node (seed %" PRIu64 ")", c.seed);
	}
	uint32_t other = (lag + 1) % 3;
	cl_isolate(&c, other, 1);
	put_range(&c, 1520, 2600);
	cl_isolate(&c, other, 0);
	cr_assert_eq(cl_wait_converged(&c, T1, 4000), 0, "no convergence (seed %" PRIu64 ")", c.seed);
	cr_assert_eq(cl_table_digest(&c, other, T1, &d, &keys), 0);
	cr_assert_eq(keys, 2600);
	cl_fini(&c);
}

/* The lagging node's disk fails at the k-th operation after it reconnects (sticky, like a dying
 * disk), anywhere in its catch-up: log appends, chunk staging, unpacking, the REPLICA switch,
 * the log reset. Then it loses power, its disk recovers, and it restarts: it must come back to
 * a consistent state and converge, whatever k was. */
Test(engine_snapshot, disk_failure_anywhere_in_catch_up_then_restart)
{
	uint64_t base = cl_seed("disk_failure_anywhere_in_catch_up_then_restart");
	uint64_t failed_points = 0, installs_before_fault = 0;
	for (uint64_t k = 0; k < 80; k += 2) {
		struct cl_options o = {.memtable_bytes = 16u << 10, .snapshot_log_bytes = 8u << 10};
		struct cluster c;
		cl_init(&c, 3, base + k, &o);
		cl_create_table(&c, T1);
		int l = cl_wait_leader(&c, T1, 500);
		cr_assert_geq(l, 0);
		uint32_t lag = (uint32_t)(l + 1) % 3;
		put_range(&c, 0, 20);
		cl_isolate(&c, lag, 1);
		put_range(&c, 20, 400);
		c.may_fail[lag] = 1;
		io_fs_sim_fault_after(c.nodes[lag].fs, k, ERR_IO, 1);
		cl_isolate(&c, lag, 0);
		cl_run(&c, 200);
		struct host_stats hs;
		host_stats(cl_host(&c, lag), &hs);
		struct host_table_status st;
		int broke = hs.fatal != 0 || (host_table_status(cl_host(&c, lag), T1, &st) == 0 && st.error != 0);
		failed_points += broke ? 1u : 0u;
		installs_before_fault += hs.snapshots_installed;
		cl_crash(&c, lag);
		io_fs_sim_fault_clear(c.nodes[lag].fs);
		c.may_fail[lag] = 0;
		cl_start(&c, lag);
		put_range(&c, 400, 410);
		cr_assert_eq(cl_wait_converged(&c, T1, 3000), 0, "k=%" PRIu64 ": no convergence (seed %" PRIu64 ")",
			     k, c.seed);
		uint64_t d, keys;
		cr_assert_eq(cl_table_digest(&c, lag, T1, &d, &keys), 0);
		cr_assert_eq(keys, 410, "k=%" PRIu64, k);
		cl_fini(&c);
	}
	fprintf(stderr, "disk failures: %" PRIu64 " of 40 fault points broke the node before its restart, "
		"%" PRIu64 " installs completed before a fault\n", failed_points, installs_before_fault);
	cr_assert_gt(failed_points, 20, "most fault points must hit the catch-up");
}
