/* helper_raftlog.c — see helper_raftlog.h. */
#include "helper_raftlog.h"

#include "core/io_fs_sim.h"
#include "core/log.h"

#include <criterion/criterion.h>
#include <string.h>

static void on_durable(void *ctx, const struct raftlog_durable *d)
{
	struct rlt *t = ctx;
	cr_assert_lt(d->group, RLT_GROUPS_MAX);
	t->durable[d->group] = d->index;
	t->durable_seq[d->group] = d->seq;
	t->reports++;
}

static void on_fatal(void *ctx, int err, const char *what)
{
	struct rlt *t = ctx;
	(void)what;
	t->fatal_err = err;
	t->fatal_calls++;
}

int rlt_open(struct rlt *t)
{
	struct raftlog_config cfg = {
		.fs = t->fs,
		.dir = t->dir ? t->dir : RLT_DIR,
		.segment_bytes = t->segment_bytes,
		.on_durable = on_durable,
		.on_fatal = on_fatal,
		.ctx = t,
	};
	t->log = NULL;
	memset(t->durable_seq, 0, sizeof t->durable_seq); /* counters restart with the log */
	return raftlog_open(&cfg, &t->log);
}

void rlt_close(struct rlt *t)
{
	raftlog_close(t->log);
	t->log = NULL;
}

void rlt_init(struct rlt *t, uint64_t seed, uint64_t segment_bytes)
{
	memset(t, 0, sizeof *t);
	log_set_level(LOG_LEVEL_WARN);
	t->fs = io_fs_sim_new(seed);
	t->segment_bytes = segment_bytes;
	int rc = rlt_open(t);
	cr_assert_eq(rc, 0, "open: %s (%s)", err_str(rc), raftlog_open_error());
}

void rlt_fini(struct rlt *t)
{
	if (t->log)
		rlt_close(t);
	io_fs_sim_free(t->fs);
}

size_t rlt_payload(uint64_t group, uint64_t index, uint64_t term, unsigned char *buf, size_t cap)
{
	uint64_t x = group * 0x9e3779b97f4a7c15ull ^ index * 0xbf58476d1ce4e5b9ull ^ term * 0x94d049bb133111ebull;
	size_t len = (size_t)(x % 200);
	if (x % 17 == 0)
		len = 0;
	if (len > cap)
		len = cap;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	return len;
}

int rlt_append(struct rlt *t, uint64_t group, uint64_t index, uint64_t term)
{
	unsigned char buf[256];
	size_t len = rlt_payload(group, index, term, buf, sizeof buf);
	struct raftlog_entry e = {.index = index, .term = term, .type = (uint8_t)(index % 3),
				  .len = (uint32_t)len, .data = buf};
	return raftlog_append(t->log, group, &e, 1);
}

struct verify_ctx {
	struct rlt *t;
	uint64_t group;
	uint64_t next;
	int bad;
};

static int verify_one(void *arg, const struct raftlog_entry *e)
{
	struct verify_ctx *v = arg;
	unsigned char buf[256];
	uint64_t term = 0;
	if (e->index != v->next || raftlog_term(v->t->log, v->group, e->index, &term) != 0 ||
	    term != e->term || e->type != (uint8_t)(e->index % 3)) {
		v->bad = 1;
		return -1000;
	}
	size_t len = rlt_payload(v->group, e->index, e->term, buf, sizeof buf);
	if (len != e->len || (len && memcmp(buf, e->data, len) != 0)) {
		v->bad = 1;
		return -1000;
	}
	v->next++;
	return 0;
}

int rlt_verify(struct rlt *t, uint64_t group, uint64_t lo, uint64_t hi)
{
	struct verify_ctx v = {.t = t, .group = group, .next = lo};
	int total = 0;
	while (v.next < hi) {
		int n = raftlog_read(t->log, group, v.next, hi, 4096, verify_one, &v);
		if (n < 0)
			return n;
		if (n == 0)
			return ERR_RANGE;
		total += n;
	}
	return total;
}
