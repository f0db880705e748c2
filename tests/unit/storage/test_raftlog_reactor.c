/* test_raftlog_reactor.c — the Raft log's group commit on a real reactor and a real directory
 * (run under REGATTA_IO_BACKEND=uring and =epoll by the suite): one linked write+fdatasync per
 * turn for all groups, durable reports from completions, rolls while a batch is in flight,
 * retention, reopen; a short write is never reported durable. */
#define _GNU_SOURCE
#include "helper_raftlog.h"

#include "core/clock.h"
#include "core/io_fs.h"
#include "core/log.h"
#include "core/reactor.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define GROUPS 64
#define ROUNDS 40

struct env {
	struct reactor *r;
	struct raftlog *log;
	char dir[256];
	uint64_t durable[GROUPS + 1];
	uint64_t reports;
	uint64_t last[GROUPS + 1];
	uint64_t target;   /* each durable report appends the next entry until this index */
	int fatal_err;
	size_t payload;
	int append_errors;
};

static struct reactor *reactor_for_test(void)
{
	enum reactor_backend b;
	cr_assert_eq(reactor_backend_parse(NULL, &b), 0);
	struct reactor_config cfg = {.backend = b, .cpu = -1, .core_id = 0};
	struct reactor *r = NULL;
	int rc = reactor_new(&cfg, &r);
	cr_assert_eq(rc, 0, "reactor_new: %s", err_str(rc));
	return r;
}

static void append_next(struct env *e, uint64_t g)
{
	static unsigned char buf[4096];
	uint64_t i = e->last[g] + 1;
	size_t len = rlt_payload(g, i, 1, buf, sizeof buf);
	if (e->payload > len) {
		memset(buf + len, (int)i, e->payload - len);
		len = e->payload;
	}
	struct raftlog_entry ent = {.term = 1, .index = i, .type = (uint8_t)(i % 3), .len = (uint32_t)len,
				    .data = buf};
	int rc = raftlog_append(e->log, g, &ent, 1);
	if (rc) {
		e->append_errors++;
		return;
	}
	e->last[g] = i;
}

static void on_durable(void *ctx, const struct raftlog_durable *d)
{
	struct env *e = ctx;
	cr_assert(d->group >= 1 && d->group <= GROUPS);
	cr_assert_geq(d->index, e->durable[d->group]);
	e->durable[d->group] = d->index;
	e->reports++;
	if (e->last[d->group] < e->target)
		append_next(e, d->group); /* each group proposes continuously */
}

static void on_fatal(void *ctx, int err, const char *what)
{
	struct env *e = ctx;
	(void)what;
	e->fatal_err = err;
}

static void env_open(struct env *e, uint64_t segment_bytes)
{
	struct raftlog_config cfg = {.fs = io_fs_posix(), .dir = e->dir, .segment_bytes = segment_bytes,
				     .on_durable = on_durable, .on_fatal = on_fatal, .ctx = e};
	int rc = raftlog_open(&cfg, &e->log);
	cr_assert_eq(rc, 0, "open: %s (%s)", err_str(rc), raftlog_open_error());
	cr_assert_eq(raftlog_attach(e->log, e->r), 0);
}

static void env_init(struct env *e, uint64_t segment_bytes)
{
	memset(e, 0, sizeof *e);
	log_set_level(LOG_LEVEL_WARN);
	const char *tmp = getenv("TMPDIR");
	snprintf(e->dir, sizeof e->dir, "%s/raftlog-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cr_assert(mkdtemp(e->dir) != NULL);
	e->r = reactor_for_test();
	env_open(e, segment_bytes);
}

static int all_durable(const struct env *e, uint64_t upto)
{
	for (uint64_t g = 1; g <= GROUPS; g++)
		if (e->durable[g] < upto)
			return 0;
	return 1;
}

/* Run turns until every group is durable up to `upto` (bounded by turns and a hang guard). */
static void run_until(struct env *e, uint64_t upto)
{
	uint64_t start = clock_mono_ns();
	for (int turn = 0; !all_durable(e, upto); turn++) {
		cr_assert_lt(turn, 100000, "no progress");
		cr_assert_lt(clock_mono_ns() - start, 60ull * 1000000000ull, "hang guard");
		int rc = reactor_run_once(e->r, 50 * 1000000ull);
		cr_assert_eq(rc, 0, "reactor: %s", err_str(rc));
		cr_assert_eq(e->fatal_err, 0, "log failed: %s", err_str(e->fatal_err));
	}
}

/* Let the write in flight (if any) finish, so the log can be detached and closed. */
static void drain(struct env *e)
{
	for (int turn = 0; raftlog_busy(e->log) && turn < 10000; turn++)
		cr_assert_eq(reactor_run_once(e->r, 50 * 1000000ull), 0);
	cr_assert(!raftlog_busy(e->log));
}

static void env_fini(struct env *e)
{
	if (e->log) {
		drain(e);
		raftlog_close(e->log);
	}
	reactor_free(e->r);
	cr_assert_eq(io_fs_remove_all(io_fs_posix(), e->dir), 0);
}

/* Reopen without a reactor and check every entry of every group. */
static void verify_reopened(struct env *e, uint64_t segment_bytes)
{
	drain(e);
	raftlog_close(e->log);
	e->log = NULL;
	struct rlt t = {.fs = io_fs_posix(), .dir = e->dir, .segment_bytes = segment_bytes};
	int rc = rlt_open(&t);
	cr_assert_eq(rc, 0, "reopen: %s (%s)", err_str(rc), raftlog_open_error());
	for (uint64_t g = 1; g <= GROUPS; g++) {
		struct raftlog_group_info gi;
		cr_assert_eq(raftlog_group_info(t.log, g, &gi), 0);
		cr_assert_geq(gi.last_index, e->durable[g]);
		if (e->payload == 0)
			cr_assert_eq(rlt_verify(&t, g, gi.first_index, gi.last_index + 1),
				     (int)(gi.last_index - gi.base_index));
	}
	rlt_close(&t);
	env_open(e, segment_bytes);
}

Test(raftlog_reactor, one_fdatasync_per_turn_for_all_groups)
{
	struct env e;
	env_init(&e, 0);
	printf("backend %s\n", reactor_backend_name(reactor_backend(e.r)));
	/* Every group appends in the same turn: one linked write+fdatasync covers them all. */
	for (uint64_t g = 1; g <= GROUPS; g++)
		append_next(&e, g);
	run_until(&e, 1);
	struct raftlog_stats st;
	raftlog_stats(e.log, &st);
	cr_assert_eq(st.syncs, 1, "one fdatasync for %d groups, got %llu", GROUPS, (unsigned long long)st.syncs);
	cr_assert_eq(e.reports, GROUPS);
	/* Continuous proposing: each completion's reports append the next batch together. */
	e.target = ROUNDS;
	for (uint64_t g = 1; g <= GROUPS; g++)
		cr_assert_eq(e.durable[g], 1);
	/* reports happened before target was set: kick each group once more */
	for (uint64_t g = 1; g <= GROUPS; g++)
		append_next(&e, g);
	run_until(&e, ROUNDS);
	raftlog_stats(e.log, &st);
	cr_assert_eq(st.entries_written, (uint64_t)GROUPS * ROUNDS);
	cr_assert_leq(st.syncs, (uint64_t)ROUNDS + 1, "group commit: %llu syncs for %d rounds of %d groups",
		      (unsigned long long)st.syncs, ROUNDS, GROUPS);
	cr_assert_eq(e.append_errors, 0);
	verify_reopened(&e, 0);
	env_fini(&e);
}

Test(raftlog_reactor, rolls_while_a_batch_is_in_flight_and_retention)
{
	struct env e;
	env_init(&e, 65536);
	e.payload = 1000;
	e.target = 60;
	for (uint64_t g = 1; g <= GROUPS; g++)
		append_next(&e, g);
	run_until(&e, 60);
	struct raftlog_stats st;
	raftlog_stats(e.log, &st);
	cr_assert_gt(st.segments, 10, "64 KiB segments roll often");
	for (uint64_t g = 1; g <= GROUPS; g++)
		cr_assert_eq(raftlog_set_floor(e.log, g, 50), 0);
	/* Retention runs at the next group commits. */
	e.target = 70;
	for (uint64_t g = 1; g <= GROUPS; g++)
		append_next(&e, g);
	run_until(&e, 70);
	drain(&e);
	raftlog_stats(e.log, &st);
	cr_assert_gt(st.segments_deleted, 0);
	for (uint64_t g = 1; g <= GROUPS; g++) {
		struct raftlog_group_info gi;
		cr_assert_eq(raftlog_group_info(e.log, g, &gi), 0);
		cr_assert_leq(gi.base_index, 50);
		cr_assert_eq(gi.last_index, 70);
	}
	verify_reopened(&e, 65536);
	for (uint64_t g = 1; g <= GROUPS; g++) {
		struct raftlog_group_info gi;
		cr_assert_eq(raftlog_group_info(e.log, g, &gi), 0);
		cr_assert_eq(gi.last_index, 70);
		cr_assert_leq(gi.base_index, 50);
	}
	env_fini(&e);
}

Test(raftlog_reactor, short_write_is_never_reported_durable)
{
	/* RLIMIT_FSIZE makes the kernel cut the batch's write: a genuine short write, which cancels
	 * the linked fdatasync. The batch must not be reported durable (the log may rewrite it or
	 * stop, but never pretend). */
	struct env e;
	env_init(&e, 1u << 20);
	signal(SIGXFSZ, SIG_IGN);
	for (uint64_t g = 1; g <= GROUPS; g++)
		append_next(&e, g);
	run_until(&e, 1);
	uint64_t reports = e.reports;
	struct raftlog_stats st;
	raftlog_stats(e.log, &st);
	/* The next batch starts at 64 (header) + bytes so far: let its first 200 bytes through. */
	struct rlimit lim = {.rlim_cur = 64 + st.bytes_written + 200, .rlim_max = RLIM_INFINITY};
	struct rlimit old;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (uint64_t g = 1; g <= GROUPS; g++)
		for (int k = 0; k < 4; k++)
			append_next(&e, g);
	for (int turn = 0; turn < 1000 && raftlog_busy(e.log) && e.fatal_err == 0; turn++) {
		int rrc = reactor_run_once(e.r, 50 * 1000000ull);
		cr_assert(rrc == 0 || rrc == ERR_IO, "reactor: %s", err_str(rrc));
	}
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_eq(e.reports, reports, "a cut batch is not reported durable");
	cr_assert_neq(e.fatal_err, 0, "the log stops (the reactor cannot tell a short write from a failed fsync)");
	cr_assert_neq(raftlog_error(e.log), 0);
	raftlog_close(e.log);
	e.log = NULL;
	/* What was acknowledged before is intact on disk. */
	struct rlt t = {.fs = io_fs_posix(), .dir = e.dir, .segment_bytes = 1u << 20};
	int rc = rlt_open(&t);
	cr_assert_eq(rc, 0, "reopen: %s (%s)", err_str(rc), raftlog_open_error());
	for (uint64_t g = 1; g <= GROUPS; g++) {
		struct raftlog_group_info gi;
		cr_assert_eq(raftlog_group_info(t.log, g, &gi), 0);
		cr_assert_geq(gi.last_index, 1);
	}
	rlt_close(&t);
	env_fini(&e);
}
