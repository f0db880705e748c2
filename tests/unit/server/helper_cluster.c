/* helper_cluster.c — see helper_cluster.h. */
#define _GNU_SOURCE /* mkdtemp */
#include "helper_cluster.h"

#include "core/io_fs_sim.h"
#include "core/log.h"
#include "core/reactor.h"
#include "proto/internal/v1/internal.pb-c.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t cl_seed(const char *test)
{
	const char *s = getenv("REGATTA_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : prng_seed_from_time();
	fprintf(stderr, "%s: seed %" PRIu64 " (replay with REGATTA_SEED=%" PRIu64 ")\n", test, seed, seed);
	return seed;
}

static struct cl_node *node_of(struct cluster *c, uint64_t id)
{
	cr_assert(id >= 1 && id <= c->n);
	return &c->nodes[id - 1];
}

static void send_frame(void *ctx, uint64_t to, const uint8_t *frame, size_t len)
{
	struct cl_node *nd = ctx;
	struct cluster *c = nd->c;
	nd->frames_out++;
	nd->bytes_out += len;
	if (to < 1 || to > c->n)
		return;
	if (c->cut[nd->id - 1][to - 1])
		return;
	if (c->opt.drop_permille && prng_below(&c->rng, 1000) < c->opt.drop_permille)
		return;
	if (c->nq == c->capq) {
		c->capq = c->capq ? c->capq * 2 : 256;
		c->q = realloc(c->q, c->capq * sizeof *c->q);
		cr_assert(c->q);
	}
	struct cl_frame *f = &c->q[c->nq++];
	f->from = nd->id;
	f->to = to;
	f->due_tick = c->tick + 1 + (c->opt.delay_ticks_max ? prng_below(&c->rng, c->opt.delay_ticks_max + 1) : 0);
	f->seq = c->seq++;
	f->data = malloc(len);
	cr_assert(f->data);
	memcpy(f->data, frame, len);
	f->len = len;
}

static void on_change(void *ctx, const struct catalog_change *ch)
{
	struct cl_node *nd = ctx;
	struct cluster *c = nd->c;
	if (!c->opt.auto_tables || !nd->h)
		return;
	if (ch->kind == CATALOG_CREATED) {
		uint64_t voters[CL_NODES_MAX];
		for (uint32_t k = 0; k < c->n; k++)
			voters[k] = k + 1;
		int rc = host_table_create(nd->h, ch->table.id, voters, c->n);
		cr_assert(rc == 0 || rc == ERR_EXISTS, "create table %" PRIu64 " on node %" PRIu64 ": %s",
			  ch->table.id, nd->id, err_str(rc));
	} else if (ch->kind == CATALOG_DELETED) {
		int rc = host_table_remove(nd->h, ch->table.id);
		cr_assert(rc == 0 || rc == ERR_NOTFOUND, "remove table %" PRIu64 ": %s", ch->table.id,
			  err_str(rc));
	}
}

void cl_init(struct cluster *c, uint32_t n, uint64_t seed, const struct cl_options *o)
{
	cr_assert(n >= 1 && n <= CL_NODES_MAX);
	memset(c, 0, sizeof *c);
	log_set_level(LOG_LEVEL_WARN);
	c->n = n;
	c->seed = seed;
	if (o)
		c->opt = *o;
	prng_init(&c->rng, seed);
	if (c->opt.reactors) {
		snprintf(c->root, sizeof c->root, "/tmp/regatta-engine-XXXXXX");
		cr_assert_not_null(mkdtemp(c->root));
	}
	for (uint32_t i = 0; i < n; i++) {
		c->nodes[i].c = c;
		c->nodes[i].id = i + 1;
		if (c->opt.reactors) {
			c->nodes[i].fs = io_fs_posix();
			snprintf(c->nodes[i].dir, sizeof c->nodes[i].dir, "%s/node%u", c->root, i + 1);
		} else {
			c->nodes[i].fs = io_fs_sim_new(seed * 31 + i);
			snprintf(c->nodes[i].dir, sizeof c->nodes[i].dir, "/data");
		}
		cl_start(c, i);
	}
}

void cl_fini(struct cluster *c)
{
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->nodes[i].h)
			cl_stop(c, i);
		if (!c->opt.reactors)
			io_fs_sim_free(c->nodes[i].fs);
	}
	if (c->opt.reactors && c->root[0])
		cr_assert_eq(io_fs_remove_all(io_fs_posix(), c->root), 0);
	for (size_t k = 0; k < c->nq; k++)
		free(c->q[k].data);
	free(c->q);
	memset(c, 0, sizeof *c);
}

static void reconcile(struct cluster *c, struct cl_node *nd);

void cl_start(struct cluster *c, uint32_t i)
{
	struct cl_node *nd = &c->nodes[i];
	cr_assert(nd->h == NULL);
	struct host_config cfg;
	host_config_defaults(&cfg);
	cfg.node_id = nd->id;
	nd->incarnation = prng_next(&c->rng) | 1;
	cfg.incarnation = nd->incarnation;
	cfg.core_id = 0;
	cfg.data_dir = nd->dir;
	cfg.fs = nd->fs;
	cfg.ctx = nd;
	cfg.send_frame = send_frame;
	cfg.on_catalog_change = on_change;
	cfg.election_ticks = 20;
	cfg.heartbeat_ticks = 4;
	cfg.memtable_bytes = c->opt.memtable_bytes ? c->opt.memtable_bytes : 256u << 10;
	cfg.lsm_cache_bytes = 4u << 20;
	cfg.snapshot_log_bytes = c->opt.snapshot_log_bytes ? c->opt.snapshot_log_bytes : 64u << 20;
	cfg.groups_max = c->opt.groups_max ? c->opt.groups_max : 256;
	cfg.raft_cache_entries = 64;
	cfg.raft_mem_bytes = 256u << 20;
	int rc = host_open(&cfg, &nd->h);
	cr_assert_eq(rc, 0, "node %" PRIu64 ": host_open: %s (seed %" PRIu64 ")", nd->id, err_str(rc), c->seed);
	reconcile(c, nd);
	if (c->opt.reactors) {
		enum reactor_backend b;
		cr_assert_eq(reactor_backend_parse(NULL, &b), 0);
		struct reactor_config rc_cfg = {.backend = b, .cpu = -1, .core_id = (int)nd->id};
		rc = reactor_new(&rc_cfg, &nd->r);
		cr_assert_eq(rc, 0, "reactor_new: %s", err_str(rc));
		rc = host_attach(nd->h, nd->r);
		cr_assert_eq(rc, 0, "host_attach: %s", err_str(rc));
	}
}

/* What the node layer does at start: make the replicas match the catalogue (a crash may have
 * come between the metadata group applying a change durably and the replica being created or
 * removed). The catalogue reopens at its durable applied index, a prefix: a replica is removed
 * only if its id (the creating index) is within that prefix and the table is not there. */
static int reconcile_one(void *ctx, uint64_t table)
{
	struct cl_node *nd = ctx;
	if (table == HOST_META_GROUP_ID)
		return 0;
	struct catalog *cat = replica_catalog(host_table_find(nd->h, HOST_META_GROUP_ID));
	/* ids are creating indexes: a table newer than what the catalogue applied so far may be
	 * created by an entry not replayed yet — only older ones are known to be deleted */
	if (table <= catalog_applied_index(cat) && !catalog_find_id(cat, table)) {
		nd->c->reconciled_removes++;
		return (int)table; /* removed by the caller: not while iterating */
	}
	return 0;
}

static void reconcile(struct cluster *c, struct cl_node *nd)
{
	struct replica *meta = host_table_find(nd->h, HOST_META_GROUP_ID);
	if (!c->opt.auto_tables || !meta || !replica_catalog(meta))
		return;
	struct catalog *cat = replica_catalog(meta);
	for (int round = 0; round < 1000; round++) {
		int victim = host_table_foreach(nd->h, reconcile_one, nd);
		if (victim <= 0)
			break;
		cr_assert_eq(host_table_remove(nd->h, (uint64_t)victim), 0);
	}
	uint64_t voters[CL_NODES_MAX];
	for (uint32_t k = 0; k < c->n; k++)
		voters[k] = k + 1;
	for (size_t i = 0; i < catalog_tables(cat); i++) {
		uint64_t id = catalog_table_at(cat, i)->id;
		if (!host_table_find(nd->h, id)) {
			cr_assert_eq(host_table_create(nd->h, id, voters, c->n), 0);
			c->reconciled_creates++;
		}
	}
}

/* Reactor mode: run node i's reactor until its Raft log is idle (what raftlog_flush does in
 * sync mode), so simulated time does not run ahead of the real fdatasyncs. */
static void settle(struct cluster *c, uint32_t i)
{
	struct cl_node *nd = &c->nodes[i];
	if (!nd->r || !nd->h)
		return;
	for (int k = 0; k < 10000; k++) {
		int rc = reactor_run_once(nd->r, host_log_busy(nd->h) ? 1000000 : 0);
		cr_assert_eq(rc, 0, "reactor: %s", err_str(rc));
		if (!nd->h || !host_log_busy(nd->h))
			return;
	}
	cr_assert(0, "node %u: the raft log stayed busy", i + 1);
}

static void reactor_down(struct cl_node *nd)
{
	if (!nd->r)
		return;
	reactor_free(nd->r);
	nd->r = NULL;
}

static void account(struct cluster *c, struct host *h)
{
	struct host_stats hs;
	host_stats(h, &hs);
	c->snapshots_taken += hs.snapshots_taken;
	c->snapshots_installed += hs.snapshots_installed;
}

void cl_snapshot_counts(struct cluster *c, uint64_t *taken, uint64_t *installed)
{
	*taken = c->snapshots_taken;
	*installed = c->snapshots_installed;
	for (uint32_t i = 0; i < c->n; i++) {
		if (!c->nodes[i].h)
			continue;
		struct host_stats hs;
		host_stats(c->nodes[i].h, &hs);
		*taken += hs.snapshots_taken;
		*installed += hs.snapshots_installed;
	}
}

void cl_stop(struct cluster *c, uint32_t i)
{
	struct cl_node *nd = &c->nodes[i];
	cr_assert(nd->h != NULL);
	settle(c, i);
	struct host *h = nd->h;
	nd->h = NULL; /* callbacks during close see the node as down */
	account(c, h);
	host_detach(h);
	host_close(h);
	reactor_down(nd);
}

void cl_crash(struct cluster *c, uint32_t i)
{
	struct cl_node *nd = &c->nodes[i];
	cr_assert(nd->h != NULL);
	settle(c, i); /* a write in flight cannot be abandoned by a process; let it land */
	struct host *h = nd->h;
	nd->h = NULL;
	account(c, h);
	host_detach(h);
	host_crash(h);
	reactor_down(nd);
	if (!c->opt.reactors)
		io_fs_sim_crash(nd->fs);
}

int cl_up(const struct cluster *c, uint32_t i) { return c->nodes[i].h != NULL; }
struct host *cl_host(struct cluster *c, uint32_t i) { return c->nodes[i].h; }

void cl_isolate(struct cluster *c, uint32_t i, int cut)
{
	c->isolated[i] = cut;
	for (uint32_t k = 0; k < c->n; k++) {
		if (k == i)
			continue;
		c->cut[i][k] = cut;
		c->cut[k][i] = cut;
	}
}

uint64_t cl_now_ns(const struct cluster *c) { return (c->tick + 1) * CL_TICK_NS; }

static int frame_cmp(const void *a, const void *b)
{
	const struct cl_frame *x = a, *y = b;
	if (x->due_tick != y->due_tick)
		return x->due_tick < y->due_tick ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void deliver(struct cluster *c)
{
	if (c->nq == 0)
		return;
	qsort(c->q, c->nq, sizeof *c->q, frame_cmp);
	size_t due = 0;
	while (due < c->nq && c->q[due].due_tick <= c->tick)
		due++;
	/* take the due frames out first: delivering produces new ones */
	struct cl_frame *batch = malloc((due ? due : 1) * sizeof *batch);
	cr_assert(batch);
	memcpy(batch, c->q, due * sizeof *batch);
	memmove(c->q, c->q + due, (c->nq - due) * sizeof *c->q);
	c->nq -= due;
	for (size_t k = 0; k < due; k++) {
		struct cl_node *to = node_of(c, batch[k].to);
		if (to->h && !c->cut[batch[k].from - 1][batch[k].to - 1]) {
			int rc = host_receive_frame(to->h, batch[k].data, batch[k].len);
			cr_assert(rc == 0 || c->may_fail[batch[k].to - 1], "frame decode: %s", err_str(rc));
			c->frames_delivered++;
		}
		free(batch[k].data);
	}
	free(batch);
}

void cl_step(struct cluster *c)
{
	c->tick++;
	deliver(c);
	for (uint32_t i = 0; i < c->n; i++) {
		struct host *h = c->nodes[i].h;
		if (!h)
			continue;
		host_tick(h, cl_now_ns(c));
		if (c->nodes[i].h && !c->nodes[i].r) {
			int rc = host_turn(c->nodes[i].h);
			cr_assert(rc == 0 || c->may_fail[i], "node %u turn: %s (seed %" PRIu64 ")", i + 1,
				  err_str(rc), c->seed);
		}
		settle(c, i);
	}
}

void cl_run(struct cluster *c, uint32_t ticks)
{
	for (uint32_t t = 0; t < ticks; t++)
		cl_step(c);
}

void cl_create_table(struct cluster *c, uint64_t table)
{
	uint64_t voters[CL_NODES_MAX];
	for (uint32_t k = 0; k < c->n; k++)
		voters[k] = k + 1;
	for (uint32_t i = 0; i < c->n; i++) {
		if (!c->nodes[i].h)
			continue;
		int rc = host_table_create(c->nodes[i].h, table, voters, c->n);
		cr_assert_eq(rc, 0, "create %" PRIu64 " on node %u: %s", table, i + 1, err_str(rc));
	}
}

int cl_leader(struct cluster *c, uint64_t table)
{
	int leader = -1;
	for (uint32_t i = 0; i < c->n; i++) {
		if (!c->nodes[i].h || c->isolated[i])
			continue;
		struct host_table_status st;
		if (host_table_status(c->nodes[i].h, table, &st) != 0)
			return -1;
		if (st.role == HOST_ROLE_LEADER) {
			if (leader >= 0)
				return -1; /* two leaders in different terms: wait */
			leader = (int)i;
		}
	}
	if (leader < 0)
		return -1;
	struct host_table_status ls;
	if (host_table_status(c->nodes[leader].h, table, &ls) != 0)
		return -1;
	for (uint32_t i = 0; i < c->n; i++) {
		struct host_table_status st;
		if (!c->nodes[i].h || c->isolated[i] || host_table_status(c->nodes[i].h, table, &st) != 0)
			continue;
		if (st.leader != (uint64_t)leader + 1 || st.term != ls.term)
			return -1;
	}
	return leader;
}

int cl_wait_leader(struct cluster *c, uint64_t table, uint32_t max_ticks)
{
	for (uint32_t t = 0; t < max_ticks; t++) {
		int l = cl_leader(c, table);
		if (l >= 0)
			return l;
		cl_step(c);
	}
	return -1;
}

/* ---- synchronous requests ---------------------------------------------------------------- */

struct waiter {
	struct cl_result *out;
	const char *key;
};

static void on_proposed(void *ctx, const struct host_propose_result *r)
{
	struct waiter *w = ctx;
	cr_assert(!w->out->done, "a proposal callback ran twice");
	w->out->done = 1;
	w->out->status = r->status;
	w->out->index = r->index;
	w->out->revision = r->revision;
}

int cl_put(struct cluster *c, uint32_t i, uint64_t table, const char *key, const char *val,
	   uint32_t max_ticks, struct cl_result *out)
{
	memset(out, 0, sizeof *out);
	struct host *h = c->nodes[i].h;
	if (!h)
		return out->accepted_rc = ERR_STOPPED;
	Mvcc__V1__KeyValue kv;
	mvcc__v1__key_value__init(&kv);
	kv.key.data = (uint8_t *)(uintptr_t)key;
	kv.key.len = strlen(key);
	kv.value.data = (uint8_t *)(uintptr_t)val;
	kv.value.len = strlen(val);
	Mvcc__V1__Command cmd;
	mvcc__v1__command__init(&cmd);
	cmd.type = MVCC__V1__COMMAND__COMMAND_TYPE__PUT;
	cmd.kv = &kv;
	struct waiter w = {.out = out};
	uint64_t deadline = cl_now_ns(c) + (uint64_t)max_ticks * CL_TICK_NS;
	out->accepted_rc = host_propose(h, table, &cmd, NULL, deadline, on_proposed, &w);
	if (out->accepted_rc)
		return out->accepted_rc;
	for (uint32_t t = 0; t < max_ticks + 4 && !out->done; t++) {
		cl_step(c);
		if (!c->nodes[i].h && !out->done)
			return ERR_STOPPED; /* the node went down: its callback is gone */
	}
	cr_assert(out->done, "a proposal outlived its deadline (seed %" PRIu64 ")", c->seed);
	return out->status;
}

static void on_read(void *ctx, const struct host_read_ready *r)
{
	struct waiter *w = ctx;
	cr_assert(!w->out->done, "a read callback ran twice");
	w->out->done = 1;
	w->out->status = r->status;
	w->out->index = r->applied;
	w->out->revision = r->revision;
	if (r->status || !r->store)
		return;
	struct arena a;
	arena_init(&a, 4096, 1u << 20);
	struct kv_range q = {.key = (const uint8_t *)w->key, .key_len = strlen(w->key)};
	struct kv_range_result res;
	int rc = kv_store_range(r->store, NULL, &q, &a, &res);
	cr_assert_eq(rc, 0);
	if (res.n_kvs == 1) {
		w->out->found = 1;
		size_t n = res.kvs[0]->value.len;
		cr_assert_lt(n, sizeof w->out->value);
		memcpy(w->out->value, res.kvs[0]->value.data, n);
		w->out->value[n] = 0;
		w->out->value_len = n;
	}
	arena_deinit(&a);
}

int cl_get(struct cluster *c, uint32_t i, uint64_t table, const char *key, int linearizable,
	   uint32_t max_ticks, struct cl_result *out)
{
	memset(out, 0, sizeof *out);
	struct host *h = c->nodes[i].h;
	if (!h)
		return out->accepted_rc = ERR_STOPPED;
	struct waiter w = {.out = out, .key = key};
	uint64_t deadline = cl_now_ns(c) + (uint64_t)max_ticks * CL_TICK_NS;
	out->accepted_rc = host_read(h, table, linearizable ? HOST_READ_LINEARIZABLE : HOST_READ_SERIALIZABLE,
				     deadline, on_read, &w);
	if (out->accepted_rc)
		return out->accepted_rc;
	for (uint32_t t = 0; t < max_ticks + 4 && !out->done; t++) {
		cl_step(c);
		if (!c->nodes[i].h && !out->done)
			return ERR_STOPPED;
	}
	cr_assert(out->done, "a read outlived its deadline (seed %" PRIu64 ")", c->seed);
	return out->status;
}

int cl_put_retry(struct cluster *c, uint64_t table, const char *key, const char *val, uint32_t max_ticks,
		 struct cl_result *out)
{
	for (uint32_t t = 0; t < max_ticks;) {
		uint32_t i = (uint32_t)prng_below(&c->rng, c->n);
		if (!c->nodes[i].h) {
			cl_step(c);
			t++;
			continue;
		}
		int rc = cl_put(c, i, table, key, val, 100, out);
		if (rc == 0)
			return 0;
		cl_run(c, 2);
		t += out->accepted_rc ? 2 : 100;
	}
	return ERR_TIMEOUT;
}

/* ---- contents ------------------------------------------------------------------------------ */

int cl_table_digest(struct cluster *c, uint32_t i, uint64_t table, uint64_t *digest, uint64_t *keys)
{
	struct host *h = c->nodes[i].h;
	cr_assert(h);
	struct replica *rep = host_table_find(h, table);
	if (!rep || !replica_store(rep))
		return ERR_NOTFOUND;
	struct arena a;
	arena_init(&a, 1u << 16, 64u << 20);
	static const uint8_t zero = 0;
	uint8_t from[1100] = {0};
	size_t from_len = 1;
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	*keys = 0;
	for (int page = 0; page < 100000; page++) {
		struct kv_range q = {.key = from, .key_len = from_len, .range_end = &zero, .range_end_len = 1};
		struct kv_range_result res;
		int rc = kv_store_range(replica_store(rep), NULL, &q, &a, &res);
		cr_assert_eq(rc, 0);
		for (size_t k = 0; k < res.n_kvs; k++) {
			const Mvcc__V1__KeyValue *kv = res.kvs[k];
			XXH3_64bits_update(&st, kv->key.data, kv->key.len);
			XXH3_64bits_update(&st, "\0", 1);
			XXH3_64bits_update(&st, kv->value.data, kv->value.len);
			int64_t revs[3] = {kv->create_revision, kv->mod_revision, kv->version};
			XXH3_64bits_update(&st, revs, sizeof revs);
		}
		*keys += res.n_kvs;
		if (!res.more || res.n_kvs == 0)
			break;
		const Mvcc__V1__KeyValue *last = res.kvs[res.n_kvs - 1]; /* next page: after it */
		cr_assert_lt(last->key.len + 1, sizeof from);
		memcpy(from, last->key.data, last->key.len);
		from[last->key.len] = 0;
		from_len = last->key.len + 1;
		arena_reset(&a);
	}
	*digest = XXH3_64bits_digest(&st);
	arena_deinit(&a);
	return 0;
}

int cl_wait_converged(struct cluster *c, uint64_t table, uint32_t max_ticks)
{
	/* converged: a leader, nothing in flight (every up node applied the leader's whole log,
	 * including its term's first entry) and identical contents */
	for (uint32_t t = 0; t < max_ticks; t++) {
		int l = cl_leader(c, table);
		struct host_table_status ls;
		int same = l >= 0 && host_table_status(c->nodes[l].h, table, &ls) == 0;
		uint64_t digest = 0;
		for (uint32_t i = 0; i < c->n && same; i++) {
			if (!c->nodes[i].h)
				continue;
			struct host_table_status st;
			uint64_t d, k;
			if (host_table_status(c->nodes[i].h, table, &st) != 0 || st.applied != ls.last_index ||
			    cl_table_digest(c, i, table, &d, &k) != 0) {
				same = 0;
				break;
			}
			if (i == (uint32_t)l || digest == 0)
				digest = digest ? digest : d;
			if (d != digest)
				same = 0;
		}
		if (same)
			return 0;
		cl_step(c);
	}
	for (uint32_t i = 0; i < c->n; i++) { /* what each node thinks, for the failure report */
		struct host_table_status st;
		if (!c->nodes[i].h || host_table_status(c->nodes[i].h, table, &st) != 0) {
			fprintf(stderr, "not converged: node %u has no such table\n", i + 1);
			continue;
		}
		fprintf(stderr,
			"not converged: node %u role %u leader %" PRIu64 " term %" PRIu64 " commit %" PRIu64
			" applied %" PRIu64 " log %" PRIu64 "..%" PRIu64 " snapshot %" PRIu64 " error %s\n",
			i + 1, st.role, st.leader, st.term, st.commit, st.applied, st.first_index, st.last_index,
			st.snapshot_index, st.error ? err_str(st.error) : "none");
	}
	return ERR_TIMEOUT;
}

/* ---- metadata group ------------------------------------------------------------------------ */

struct meta_waiter {
	struct cl_result r;
	uint64_t id;
	int change_status;
	struct arena a;
};

static void on_meta(void *ctx, const struct host_propose_result *r)
{
	struct meta_waiter *w = ctx;
	w->r.done = 1;
	w->r.status = r->status;
	w->r.index = r->index;
	if (r->change) {
		w->id = r->change->table.id;
		w->change_status = r->change->status;
	}
}

static int meta_propose(struct cluster *c, uint32_t i, const Regatta__Internal__V1__MetaCommand *m,
			uint32_t max_ticks, struct meta_waiter *w)
{
	uint8_t buf[1024];
	size_t len = regatta__internal__v1__meta_command__get_packed_size(m);
	cr_assert_leq(len, sizeof buf);
	regatta__internal__v1__meta_command__pack(m, buf);
	memset(w, 0, sizeof *w);
	arena_init(&w->a, 4096, 1u << 20);
	uint64_t deadline = cl_now_ns(c) + (uint64_t)max_ticks * CL_TICK_NS;
	int rc = host_propose_meta(c->nodes[i].h, buf, len, &w->a, deadline, on_meta, w);
	for (uint32_t t = 0; rc == 0 && t < max_ticks + 4 && !w->r.done; t++)
		cl_step(c);
	if (rc == 0)
		rc = w->r.done ? w->r.status : ERR_TIMEOUT;
	if (rc == 0)
		rc = w->change_status;
	arena_deinit(&w->a);
	return rc;
}

int cl_meta_create(struct cluster *c, uint32_t i, const char *name, uint32_t max_ticks, uint64_t *id)
{
	Regatta__Internal__V1__MetaCommand__CreateTable ct;
	regatta__internal__v1__meta_command__create_table__init(&ct);
	ct.name = (char *)(uintptr_t)name;
	Regatta__Internal__V1__MetaCommand m;
	regatta__internal__v1__meta_command__init(&m);
	m.command_case = REGATTA__INTERNAL__V1__META_COMMAND__COMMAND_CREATE_TABLE;
	m.create_table = &ct;
	struct meta_waiter w;
	int rc = meta_propose(c, i, &m, max_ticks, &w);
	if (rc == 0 && id)
		*id = w.id;
	return rc;
}

int cl_meta_delete(struct cluster *c, uint32_t i, const char *name, uint32_t max_ticks)
{
	Regatta__Internal__V1__MetaCommand__DeleteTable dt;
	regatta__internal__v1__meta_command__delete_table__init(&dt);
	dt.name = (char *)(uintptr_t)name;
	Regatta__Internal__V1__MetaCommand m;
	regatta__internal__v1__meta_command__init(&m);
	m.command_case = REGATTA__INTERNAL__V1__META_COMMAND__COMMAND_DELETE_TABLE;
	m.delete_table = &dt;
	struct meta_waiter w;
	return meta_propose(c, i, &m, max_ticks, &w);
}
