/*
 * bench_raftlog — the Raft log on this disk; prints numbers, asserts nothing.
 *
 *   fdatasync:  latency of one 4 KiB linked write+fdatasync through the reactor (p50/p99),
 *               appending to a preallocated file: what one group commit costs at least.
 *   groupcommit: G groups on one core each propose continuously (a group appends its next
 *               entry as soon as the previous one is reported durable, `--window` entries in
 *               flight per group); the log's turn hook makes each turn's appends durable with
 *               one linked write+fdatasync. Reports appended entries per second, entries per
 *               fdatasync and the append-to-durable latency (p50/p99), for G = 1, 16, 256.
 *   recovery:   after each group commit case, the time raftlog_open takes to scan the segments
 *               it wrote and rebuild the index (page cache warm: the files were just written).
 *
 * Runs each backend (io_uring, then epoll for comparison), or the one REGATTA_IO_BACKEND names.
 * Files live in a fresh directory under --dir (default: the working directory), removed after.
 * usage: bench_raftlog [--seconds S] [--entry-bytes N] [--window W] [--groups 1,16,256]
 *                      [--dir D] [--syncs N]
 */
#define _GNU_SOURCE
#include "core/clock.h"
#include "core/io_fs.h"
#include "core/log.h"
#include "core/reactor.h"
#include "server/version.h"
#include "storage/raftlog.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GROUPS_MAX 4096
#define WINDOW_MAX 64
#define SAMPLES_MAX (1u << 22)

struct samples {
	uint64_t *v;
	size_t n;
};

static void sample(struct samples *s, uint64_t ns)
{
	if (s->n < SAMPLES_MAX)
		s->v[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_us(struct samples *s, double p)
{
	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof *s->v, cmp_u64);
	size_t i = (size_t)(p * (double)(s->n - 1));
	return (double)s->v[i] / 1000.0;
}

static struct reactor *reactor_for(enum reactor_backend b)
{
	struct reactor_config cfg = {.backend = b, .cpu = -1, .core_id = 0};
	struct reactor *r = NULL;
	int rc = reactor_new(&cfg, &r);
	if (rc) {
		fprintf(stderr, "reactor_new(%s): %s\n", reactor_backend_name(b), err_str(rc));
		return NULL;
	}
	return r;
}

static void make_dir(char *out, size_t cap, const char *base)
{
	snprintf(out, cap, "%s/bench-raftlog-XXXXXX", base);
	if (!mkdtemp(out)) {
		perror("mkdtemp");
		exit(1);
	}
}

/* ---- fdatasync latency ------------------------------------------------------------------ */

struct sync_bench {
	struct reactor *r;
	struct io_op op;
	int done;
	int64_t result;
};

static void on_sync(struct io_op *op)
{
	struct sync_bench *s = op->ctx;
	s->result = op->result;
	s->done = 1;
}

static void bench_fdatasync(enum reactor_backend b, const char *base, unsigned n)
{
	struct reactor *r = reactor_for(b);
	if (!r)
		return;
	char dir[512], path[600];
	make_dir(dir, sizeof dir, base);
	snprintf(path, sizeof path, "%s/sync.dat", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 || fallocate(fd, 0, 0, (off_t)n * 4096) != 0 || fdatasync(fd) != 0) {
		perror("sync file");
		exit(1);
	}
	static char buf[4096];
	memset(buf, 0x5a, sizeof buf);
	struct samples s = {.v = malloc(n * sizeof(uint64_t))};
	struct sync_bench sb = {.r = r};
	for (unsigned i = 0; i < n; i++) {
		sb.op = (struct io_op){.cb = on_sync, .ctx = &sb};
		sb.done = 0;
		uint64_t t0 = clock_mono_ns();
		reactor_pwrite_fdatasync(r, &sb.op, fd, buf, sizeof buf, (uint64_t)i * 4096);
		while (!sb.done) {
			if (reactor_run_once(r, 1000000000ull) != 0) {
				fprintf(stderr, "reactor failed\n");
				exit(1);
			}
		}
		if (sb.result != (int64_t)sizeof buf) {
			fprintf(stderr, "write+fdatasync: %s\n", err_str((int)sb.result));
			exit(1);
		}
		sample(&s, clock_mono_ns() - t0);
	}
	double p50 = pct_us(&s, 0.50), p99 = pct_us(&s, 0.99);
	printf("fdatasync backend=%s write=4KiB n=%u p50_us=%.0f p99_us=%.0f max_us=%.0f\n",
	       reactor_backend_name(b), n, p50, p99, pct_us(&s, 1.0));
	free(s.v);
	close(fd);
	unlink(path);
	rmdir(dir);
	reactor_free(r);
}

/* ---- group commit ------------------------------------------------------------------------ */

struct gc_group {
	uint64_t next;                    /* next index to append */
	uint64_t seen;                    /* highest durable index counted */
	uint64_t t_append[WINDOW_MAX];    /* append time of entries in flight, by index % window */
};

struct gc_bench {
	struct raftlog *log;
	struct gc_group *g;
	unsigned groups, window;
	uint32_t entry_bytes;
	int running;
	uint64_t appended, durable_entries, errors;
	struct samples lat;
	unsigned char *payload;
};

static void gc_append(struct gc_bench *b, uint64_t id)
{
	struct gc_group *g = &b->g[id - 1];
	struct raftlog_entry e = {.term = 1, .index = g->next, .type = 1, .len = b->entry_bytes,
				  .data = b->payload};
	int rc = raftlog_append(b->log, id, &e, 1);
	if (rc) {
		b->errors++;
		return;
	}
	g->t_append[g->next % b->window] = clock_mono_ns();
	g->next++;
	b->appended++;
}

static void gc_durable(void *ctx, const struct raftlog_durable *d)
{
	struct gc_bench *b = ctx;
	struct gc_group *g = &b->g[d->group - 1];
	uint64_t now = clock_mono_ns();
	/* Entries (seen, d->index] became durable now: each is counted once. */
	for (uint64_t i = g->seen + 1; i <= d->index; i++) {
		sample(&b->lat, now - g->t_append[i % b->window]);
		b->durable_entries++;
	}
	if (d->index > g->seen)
		g->seen = d->index;
	while (b->running && g->next <= d->index + b->window)
		gc_append(b, d->group);
}

static void gc_fatal(void *ctx, int err, const char *what)
{
	(void)ctx;
	fprintf(stderr, "raft log failed: %s: %s\n", what, err_str(err));
	exit(1);
}

static void bench_groupcommit(enum reactor_backend b, const char *base, unsigned groups,
			      unsigned window, uint32_t entry_bytes, double seconds)
{
	struct reactor *r = reactor_for(b);
	if (!r)
		return;
	char dir[512];
	make_dir(dir, sizeof dir, base);
	struct gc_bench gb = {.groups = groups, .window = window, .entry_bytes = entry_bytes};
	gb.g = calloc(groups, sizeof *gb.g);
	gb.lat.v = malloc(SAMPLES_MAX * sizeof(uint64_t));
	gb.payload = malloc(entry_bytes ? entry_bytes : 1);
	memset(gb.payload, 0xab, entry_bytes);
	struct raftlog_config cfg = {.fs = io_fs_posix(), .dir = dir, .on_durable = gc_durable,
				     .on_fatal = gc_fatal, .ctx = &gb};
	int rc = raftlog_open(&cfg, &gb.log);
	if (rc == 0)
		rc = raftlog_attach(gb.log, r);
	if (rc) {
		fprintf(stderr, "raftlog: %s (%s)\n", err_str(rc), raftlog_open_error());
		exit(1);
	}
	/* Start every group with a full window; durable reports keep it full. */
	gb.running = 1;
	for (unsigned id = 1; id <= groups; id++) {
		gb.g[id - 1].next = 1;
		for (unsigned k = 0; k < window; k++)
			gc_append(&gb, id);
	}
	struct raftlog_stats st0;
	raftlog_stats(gb.log, &st0);
	uint64_t t0 = clock_mono_ns();
	uint64_t end = t0 + (uint64_t)(seconds * 1e9);
	while (clock_mono_ns() < end) {
		if (reactor_run_once(r, 100000000ull) != 0) {
			fprintf(stderr, "reactor failed\n");
			exit(1);
		}
	}
	gb.running = 0;
	double elapsed = (double)(clock_mono_ns() - t0) / 1e9;
	struct raftlog_stats st;
	raftlog_stats(gb.log, &st);
	uint64_t durable = gb.durable_entries;
	for (int i = 0; i < 100000 && raftlog_busy(gb.log); i++)
		if (reactor_run_once(r, 100000000ull) != 0)
			break;
	uint64_t syncs = st.syncs - st0.syncs;
	printf("groupcommit backend=%s groups=%u window=%u entry=%uB seconds=%.1f entries_per_s=%.0f "
	       "fdatasyncs_per_s=%.0f entries_per_fdatasync=%.1f MiB_per_s=%.1f commit_p50_us=%.0f "
	       "commit_p99_us=%.0f errors=%" PRIu64 "\n",
	       reactor_backend_name(b), groups, window, entry_bytes, elapsed, (double)durable / elapsed,
	       (double)syncs / elapsed, syncs ? (double)st.entries_written / (double)syncs : 0.0,
	       (double)st.bytes_written / elapsed / 1048576.0, pct_us(&gb.lat, 0.50),
	       pct_us(&gb.lat, 0.99), gb.errors);
	fflush(stdout);
	raftlog_close(gb.log);
	gb.log = NULL;
	uint64_t r0 = clock_mono_ns();
	rc = raftlog_open(&cfg, &gb.log);
	uint64_t r1 = clock_mono_ns();
	if (rc) {
		fprintf(stderr, "reopen: %s (%s)\n", err_str(rc), raftlog_open_error());
		exit(1);
	}
	struct raftlog_stats rs;
	raftlog_stats(gb.log, &rs);
	printf("recovery groups=%u segments=%" PRIu64 " MiB=%.1f entries=%" PRIu64 " open_ms=%.1f "
	       "entries_per_s=%.0f\n", groups, rs.segments, (double)st.bytes_written / 1048576.0,
	       st.entries_written, (double)(r1 - r0) / 1e6,
	       (double)st.entries_written / ((double)(r1 - r0) / 1e9));
	raftlog_close(gb.log);
	if (io_fs_remove_all(io_fs_posix(), dir) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(gb.g);
	free(gb.lat.v);
	free(gb.payload);
	reactor_free(r);
}

int main(int argc, char **argv)
{
	double seconds = 3;
	uint32_t entry_bytes = 128;
	unsigned window = 1, nsyncs = 300;
	const char *base = ".";
	char groups_arg[256] = "1,16,256";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--seconds") && v)
			seconds = atof(argv[++i]);
		else if (!strcmp(a, "--entry-bytes") && v)
			entry_bytes = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(a, "--window") && v)
			window = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(a, "--groups") && v)
			snprintf(groups_arg, sizeof groups_arg, "%s", argv[++i]);
		else if (!strcmp(a, "--dir") && v)
			base = argv[++i];
		else if (!strcmp(a, "--syncs") && v)
			nsyncs = (unsigned)strtoul(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: %s [--seconds S] [--entry-bytes N] [--window W] "
					"[--groups 1,16,256] [--dir D] [--syncs N]\n", argv[0]);
			return 2;
		}
	}
	if (window < 1 || window > WINDOW_MAX || entry_bytes > (1u << 20)) {
		fprintf(stderr, "window 1..%d, entry-bytes <= 1 MiB\n", WINDOW_MAX);
		return 2;
	}
	log_set_level(LOG_LEVEL_WARN);
	double load = 0;
	(void)getloadavg(&load, 1); /* a busy machine moves every timing: say how busy */
	printf("bench_raftlog: %s; dir=%s seconds=%.1f entry=%uB window=%u groups=%s "
	       "(1 core; load average %.2f at start)\n",
	       regatta_build_info(), base, seconds, entry_bytes, window, groups_arg, load);
	enum reactor_backend backends[2] = {REACTOR_BACKEND_URING, REACTOR_BACKEND_EPOLL};
	int nb = 2;
	if (getenv("REGATTA_IO_BACKEND")) {
		if (reactor_backend_parse(NULL, &backends[0]) != 0)
			return 2;
		nb = 1;
	}
	for (int k = 0; k < nb; k++) {
		bench_fdatasync(backends[k], base, nsyncs);
		char list[256];
		snprintf(list, sizeof list, "%s", groups_arg);
		for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
			unsigned g = (unsigned)strtoul(tok, NULL, 0);
			if (g < 1 || g > GROUPS_MAX)
				continue;
			bench_groupcommit(backends[k], base, g, window, entry_bytes, seconds);
		}
	}
	return 0;
}
