/* test_reactor_file.c — file I/O through the reactor (io_uring ops, or the blocking pool of the
 * epoll backend): pwrite/pread/fdatasync on a temporary file, the linked pwrite+fdatasync, a
 * short linked write that must report ERR_IO without syncing, and many writes in flight. */
#include "core/prng.h"
#include "core/reactor.h"
#include "unit/core/helper_core.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

struct res {
	int calls;
	int64_t result;
};

static void res_cb(struct io_op *op)
{
	struct res *s = op->ctx;
	s->calls++;
	s->result = op->result;
}

/* Submit-and-wait for one op (the op is set up by `submit`). */
#define RUN_ONE(r, s) helper_run_until((r), &(s).calls, 10000)

Test(reactor_file, pwrite_pread_fdatasync)
{
	uint64_t seed = helper_seed("pwrite_pread_fdatasync");
	struct prng rnd;
	prng_init(&rnd, seed);
	struct reactor *r = helper_reactor_new();
	int fd = helper_tmpfile();
	size_t len = 256 * 1024;
	uint8_t *data = malloc(len), *back = malloc(len);
	cr_assert(data && back);
	prng_fill(&rnd, data, len);

	struct res w = {0}, s = {0}, rd = {0};
	struct io_op wop = {.cb = res_cb, .ctx = &w};
	reactor_pwrite(r, &wop, fd, data, len, 4096);
	RUN_ONE(r, w);
	cr_assert_eq(w.result, (int64_t)len, "pwrite: %s", err_str((int)w.result));

	struct io_op sop = {.cb = res_cb, .ctx = &s};
	reactor_fdatasync(r, &sop, fd);
	RUN_ONE(r, s);
	cr_assert_eq(s.result, 0, "fdatasync: %s", err_str((int)s.result));

	struct io_op rop = {.cb = res_cb, .ctx = &rd};
	reactor_pread(r, &rop, fd, back, len, 4096);
	RUN_ONE(r, rd);
	cr_assert_eq(rd.result, (int64_t)len);
	cr_assert(memcmp(data, back, len) == 0);

	/* The hole before the data reads as zeros; a read past the end is short, then 0. */
	rd.calls = 0;
	reactor_pread(r, &rop, fd, back, 4096, 0);
	RUN_ONE(r, rd);
	cr_assert_eq(rd.result, 4096);
	for (int i = 0; i < 4096; i++)
		cr_assert_eq(back[i], 0);
	rd.calls = 0;
	reactor_pread(r, &rop, fd, back, 8192, 4096 + len - 100);
	RUN_ONE(r, rd);
	cr_assert_eq(rd.result, 100);
	rd.calls = 0;
	reactor_pread(r, &rop, fd, back, 8192, 4096 + len);
	RUN_ONE(r, rd);
	cr_assert_eq(rd.result, 0);

	/* A bad descriptor is an operating error, not a crash. */
	rd.calls = 0;
	int bad = dup(fd);
	close(bad);
	reactor_pread(r, &rop, bad, back, 16, 0);
	RUN_ONE(r, rd);
	cr_assert_lt(rd.result, 0);
	free(data);
	free(back);
	close(fd);
	reactor_free(r);
}

Test(reactor_file, linked_pwrite_fdatasync)
{
	struct reactor *r = helper_reactor_new();
	int fd = helper_tmpfile();
	char rec[4096];
	for (int round = 0; round < 16; round++) {
		memset(rec, 'a' + round, sizeof rec);
		struct res s = {0};
		struct io_op op = {.cb = res_cb, .ctx = &s};
		reactor_pwrite_fdatasync(r, &op, fd, rec, sizeof rec, (uint64_t)round * sizeof rec);
		RUN_ONE(r, s);
		cr_assert_eq(s.calls, 1);
		cr_assert_eq(s.result, (int64_t)sizeof rec, "round %d: %s", round, err_str((int)s.result));
	}
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, 16 * (off_t)sizeof rec);
	char back[4096];
	cr_assert_eq(pread(fd, back, sizeof back, 15 * 4096), 4096);
	cr_assert_eq(back[0], 'a' + 15);
	close(fd);
	reactor_free(r);
}

Test(reactor_file, short_linked_write_reports_err_io)
{
	/* RLIMIT_FSIZE makes the kernel cut a write that crosses it (SIGXFSZ ignored): a genuine
	 * short write. The linked fdatasync must then not count: the op reports ERR_IO. */
	signal(SIGXFSZ, SIG_IGN);
	struct reactor *r = helper_reactor_new();
	int fd = helper_tmpfile();
	struct rlimit lim = {.rlim_cur = 4096 + 100, .rlim_max = RLIM_INFINITY};
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	char buf[8192];
	memset(buf, 'x', sizeof buf);

	struct res s = {0};
	struct io_op op = {.cb = res_cb, .ctx = &s};
	reactor_pwrite_fdatasync(r, &op, fd, buf, sizeof buf, 4096);
	RUN_ONE(r, s);
	cr_assert_eq(s.calls, 1);
	cr_assert_eq(s.result, ERR_IO, "got %lld (%s)", (long long)s.result, err_str((int)s.result));
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq(st.st_size, 4096 + 100, "the kernel wrote up to the limit");

	/* A plain pwrite reports the short count; the caller writes the rest. */
	s.calls = 0;
	reactor_pwrite(r, &op, fd, buf, 1000, 4096 + 50);
	RUN_ONE(r, s);
	cr_assert_eq(s.result, 50);

	/* Short write is not fatal: the reactor keeps running. */
	cr_assert_eq(reactor_run_once(r, 0), 0);
	close(fd);
	reactor_free(r);
}

#define INFLIGHT_WRITES 64

struct many {
	uint64_t done;
	int failed;
};

static void many_cb(struct io_op *op)
{
	struct many *m = op->ctx;
	if (op->result != 4096)
		m->failed++;
	m->done++;
}

Test(reactor_file, many_writes_in_flight_then_one_sync)
{
	/* The group-commit pattern: a turn's appends in flight together, then one fdatasync. */
	struct reactor *r = helper_reactor_new();
	int fd = helper_tmpfile();
	static char bufs[INFLIGHT_WRITES][4096];
	struct io_op ops[INFLIGHT_WRITES];
	struct many m = {0, 0};
	memset(ops, 0, sizeof ops);
	for (int i = 0; i < INFLIGHT_WRITES; i++) {
		memset(bufs[i], i, sizeof bufs[i]);
		ops[i].cb = many_cb;
		ops[i].ctx = &m;
		reactor_pwrite(r, &ops[i], fd, bufs[i], 4096, (uint64_t)i * 4096);
	}
	helper_run_until_count(r, &m.done, INFLIGHT_WRITES, 10000);
	cr_assert_eq(m.failed, 0);
	struct res s = {0};
	struct io_op sop = {.cb = res_cb, .ctx = &s};
	reactor_fdatasync(r, &sop, fd);
	RUN_ONE(r, s);
	cr_assert_eq(s.result, 0);
	for (int i = 0; i < INFLIGHT_WRITES; i++) {
		char c;
		cr_assert_eq(pread(fd, &c, 1, (off_t)i * 4096 + 17), 1);
		cr_assert_eq((unsigned char)c, (unsigned char)i);
	}
	close(fd);
	reactor_free(r);
}

Test(reactor_file, cancel_file_op_runs_callback_once)
{
	/* File I/O may be past the point of cancellation: either outcome is allowed, but the
	 * callback runs exactly once and the data is intact if it says so. */
	struct reactor *r = helper_reactor_new();
	int fd = helper_tmpfile();
	char buf[4096];
	memset(buf, 'z', sizeof buf);
	for (int round = 0; round < 20; round++) {
		struct res s = {0};
		struct io_op op = {.cb = res_cb, .ctx = &s};
		reactor_pwrite_fdatasync(r, &op, fd, buf, sizeof buf, 0);
		reactor_cancel(r, &op);
		RUN_ONE(r, s);
		for (int i = 0; i < 3; i++)
			cr_assert_eq(reactor_run_once(r, 0), 0);
		cr_assert_eq(s.calls, 1);
		cr_assert(s.result == ERR_CANCELED || s.result == (int64_t)sizeof buf, "got %s",
			  err_str((int)s.result));
	}
	close(fd);
	reactor_free(r);
}
