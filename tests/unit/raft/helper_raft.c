/*
 * helper_raft.c — the in-memory trace-test cluster (see helper_raft.h).
 *
 * Each update is written to the node's store at once (the harness's "disk" never loses data);
 * whether the core hears about it (RAFT_EVENT_PERSISTED) is up to the test: th_persist() or
 * auto_persist. That separation is what lets tests check that nothing promising durability
 * leaves a node before the persist report.
 */
#include "helper_raft.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void *mem_alloc(void *ctx, size_t n)
{
	(void)ctx;
	return malloc(n ? n : 1);
}

static void mem_free(void *ctx, void *p, size_t n)
{
	(void)ctx;
	(void)n;
	free(p);
}

static uint64_t store_last(const struct th_store *s)
{
	return s->first + s->n - 1;
}

static int store_term(const struct th_store *s, uint64_t index, uint64_t *t)
{
	if (index == 0) {
		*t = 0;
		return 1;
	}
	if (index >= s->first && index <= store_last(s)) {
		*t = s->log[index - s->first].term;
		return 1;
	}
	if (index + 1 == s->first) {
		*t = s->prev_term;
		return 1;
	}
	if (index == s->snap.index) {
		*t = s->snap.term;
		return 1;
	}
	return 0;
}

static int log_term(void *ctx, uint64_t g, uint64_t index, uint64_t *term)
{
	(void)g;
	struct th_node *n = ctx;
	return store_term(&n->st, index, term) ? 0 : ERR_RANGE;
}

static int log_entries(void *ctx, uint64_t g, uint64_t lo, uint64_t hi, uint64_t max_bytes,
                       struct raft_entry *out, uint32_t cap, uint32_t *count)
{
	(void)g;
	struct th_node *n = ctx;
	*count = 0;
	if (lo < n->st.first)
		return ERR_RANGE;
	uint64_t bytes = 0;
	for (uint64_t i = lo; i < hi && *count < cap; i++) {
		const struct th_entry *e = &n->st.log[i - n->st.first];
		if (*count > 0 && bytes + e->len > max_bytes)
			break;
		bytes += e->len;
		out[*count] = (struct raft_entry){.term = e->term,
		                                  .index = i,
		                                  .type = e->type,
		                                  .len = e->len,
		                                  .data = e->len ? e->data : NULL};
		(*count)++;
	}
	return 0;
}

static int log_snapshot_read(void *ctx, uint64_t g, uint64_t index, uint64_t offset,
                             uint32_t len_max, const uint8_t **data, uint32_t *len)
{
	(void)g;
	struct th_node *n = ctx;
	if (n->st.snap.index != index || n->st.snap_len == 0)
		return ERR_NOTFOUND;
	uint64_t left = n->st.snap_len - offset;
	*len = left < len_max ? (uint32_t)left : len_max;
	*data = n->st.snap_data + offset;
	return 0;
}

static void node_init(struct th_cluster *c, struct th_node *n,
                      void (*adjust)(struct raft_config *, uint64_t))
{
	struct raft_config cfg;
	raft_config_defaults(&cfg);
	cfg.id = n->id;
	cfg.group_id = 7;
	cfg.election_ticks = 10;
	cfg.heartbeat_ticks = 2;
	cfg.inflight_max = 4;
	cfg.cache_entries = 64;
	cfg.snapshot_chunk_bytes = 16;
	cfg.seed = c->seed + n->id;
	cfg.log.ctx = n;
	cfg.log.term = log_term;
	cfg.log.entries = log_entries;
	cfg.log.snapshot_read = log_snapshot_read;
	cfg.mem.alloc = mem_alloc;
	cfg.mem.free = mem_free;
	if (adjust)
		adjust(&cfg, n->id);
	struct raft_conf_entry confs[LIMIT_RAFT_CONF_HISTORY];
	uint32_t nc = 0;
	for (uint64_t i = 0; i < n->st.n; i++) {
		const struct th_entry *e = &n->st.log[i];
		if (e->type != RAFT_ENTRY_CONF || n->st.first + i <= n->st.snap.index)
			continue;
		if (nc == LIMIT_RAFT_CONF_HISTORY) {
			memmove(confs, confs + 1, (nc - 1) * sizeof(confs[0]));
			nc--;
		}
		confs[nc].index = n->st.first + i;
		confs[nc].term = e->term;
		cr_assert_eq(raft_conf_decode(e->data, e->len, &confs[nc].conf), 0);
		nc++;
	}
	struct raft_init_state st = {
	    .hard = n->st.hs,
	    .snapshot = n->st.snap,
	    .log_first = n->st.first,
	    .log_last = store_last(&n->st),
	    .applied = n->st.snap.index,
	    .confs = confs,
	    .n_confs = nc,
	};
	cr_assert(store_term(&n->st, st.log_last, &st.log_last_term));
	cr_assert_eq(raft_init(&n->r, &cfg, &st), 0);
	raft_update_init(&n->u, n->msgs, 256, n->ents, 1024, n->reads, 64);
	n->up = 1;
	n->seq_handed = 0;
	n->n_applied = 0;
}

void th_init_cfg(struct th_cluster *c, uint32_t n, uint32_t voters,
                 void (*adjust)(struct raft_config *cfg, uint64_t id))
{
	memset(c, 0, sizeof(*c));
	cr_assert(n <= TH_MAX && voters <= n);
	c->n = n;
	c->seed = 42;
	struct raft_conf boot;
	memset(&boot, 0, sizeof(boot));
	for (uint32_t i = 1; i <= voters; i++)
		boot.voters[boot.n_voters++] = i;
	for (uint32_t i = 1; i <= n; i++) {
		struct th_node *nd = &c->nodes[i];
		nd->id = i;
		nd->st.snap.conf = boot;
		nd->st.first = 1;
		node_init(c, nd, adjust);
	}
}

void th_init(struct th_cluster *c, uint32_t n, uint32_t voters)
{
	th_init_cfg(c, n, voters, NULL);
}

void th_free(struct th_cluster *c)
{
	th_drop(c, 0);
	for (uint32_t i = 1; i <= c->n; i++)
		if (c->nodes[i].up)
			raft_deinit(&c->nodes[i].r);
}

static void store_apply(struct th_node *n, const struct raft_update *u)
{
	struct th_store *s = &n->st;
	if (u->compact_to >= s->first) {
		uint64_t t;
		cr_assert(store_term(s, u->compact_to, &t));
		uint64_t drop = u->compact_to + 1 - s->first;
		memmove(s->log, s->log + drop, (size_t)(s->n - drop) * sizeof(s->log[0]));
		s->n -= drop;
		s->first = u->compact_to + 1;
		s->prev_term = t;
		n->compact_to = u->compact_to;
	}
	if (u->hard_state_changed)
		s->hs = u->hard_state;
	if (u->truncate_from && u->truncate_from <= store_last(s))
		s->n = u->truncate_from - s->first;
	for (uint32_t i = 0; i < u->n_persist; i++) {
		const struct raft_entry *e = &u->persist[i];
		cr_assert_eq(e->index, store_last(s) + 1);
		cr_assert(s->n < TH_LOG_MAX && e->len <= TH_DATA_MAX);
		struct th_entry *d = &s->log[s->n++];
		d->term = e->term;
		d->type = e->type;
		d->len = e->len;
		if (e->len)
			memcpy(d->data, e->data, e->len);
	}
	if (u->have_chunk) {
		if (u->chunk.offset == 0)
			s->staging_len = 0;
		cr_assert_eq(u->chunk.offset, s->staging_len);
		memcpy(s->staging + s->staging_len, u->chunk.data, u->chunk.len);
		s->staging_len += u->chunk.len;
	}
	if (u->install) {
		s->snap = u->snapshot;
		memcpy(s->snap_data, s->staging, s->staging_len);
		s->snap_len = s->staging_len;
		s->n = 0;
		s->first = u->snapshot.index + 1;
		s->prev_term = u->snapshot.term;
		n->installs++;
	}
}

static void enqueue(struct th_cluster *c, const struct raft_message *m)
{
	cr_assert(c->n_queue < TH_QUEUE_MAX);
	struct th_msg *q = calloc(1, sizeof(*q));
	q->m = *m;
	size_t bytes = m->len;
	for (uint32_t i = 0; i < m->n_entries; i++)
		bytes += m->entries[i].len;
	q->buf = malloc(bytes + 1);
	size_t off = 0;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		q->ents[i] = m->entries[i];
		if (m->entries[i].len) {
			memcpy(q->buf + off, m->entries[i].data, m->entries[i].len);
			q->ents[i].data = q->buf + off;
			off += m->entries[i].len;
		}
	}
	q->m.entries = m->n_entries ? q->ents : NULL;
	if (m->len) {
		memcpy(q->buf + off, m->data, m->len);
		q->m.data = q->buf + off;
	}
	c->queue[c->n_queue++] = q;
}

static void consume(struct th_cluster *c, struct th_node *n)
{
	const struct raft_update *u = &n->u;
	if (u->want_flush)
		n->want_flush = 1;
	for (uint32_t i = 0; i < u->n_msgs; i++)
		enqueue(c, &u->msgs[i]);
	for (uint32_t i = 0; i < u->n_apply; i++) {
		cr_assert(n->n_applied < TH_APPLIED_MAX);
		cr_assert_leq(u->apply[i].index, n->r.commit, "applied past commit");
		cr_assert_leq(u->apply[i].index, n->r.stable, "applied an entry not durable here");
		n->applied[n->n_applied] = u->apply[i].index;
		n->applied_term[n->n_applied] = u->apply[i].term;
		n->applied_type[n->n_applied] = u->apply[i].type;
		n->n_applied++;
	}
	for (uint32_t i = 0; i < u->n_reads; i++)
		if (n->n_read_states < 64)
			n->read_states[n->n_read_states++] = u->reads[i];
	store_apply(n, u);
	if (u->persist_seq)
		n->seq_handed = u->persist_seq;
	if (u->proposed_index)
		n->proposed_index = u->proposed_index;
}

int th_step(struct th_cluster *c, uint64_t id, const struct raft_event *ev)
{
	struct th_node *n = &c->nodes[id];
	cr_assert(n->up);
	int rc = raft_step(&n->r, ev, &n->u);
	if (rc)
		return rc;
	consume(c, n);
	for (int k = 0; k < 16 && n->u.more; k++) {
		struct raft_event f = {.type = RAFT_EVENT_FLUSH};
		cr_assert_eq(raft_step(&n->r, &f, &n->u), 0);
		consume(c, n);
	}
	if (!n->hold_flush)
		th_flush(c, id);
	if (n->auto_persist && n->seq_handed && n->r.persisted_seq < n->seq_handed)
		th_persist(c, id);
	return 0;
}

void th_flush(struct th_cluster *c, uint64_t id)
{
	struct th_node *n = &c->nodes[id];
	for (int k = 0; k < 16 && n->want_flush; k++) {
		n->want_flush = 0;
		struct raft_event f = {.type = RAFT_EVENT_FLUSH};
		cr_assert_eq(raft_step(&n->r, &f, &n->u), 0);
		consume(c, n);
	}
}

void th_persist(struct th_cluster *c, uint64_t id)
{
	struct th_node *n = &c->nodes[id];
	for (int k = 0; k < 16 && n->seq_handed > n->r.persisted_seq; k++) {
		struct raft_event ev = {.type = RAFT_EVENT_PERSISTED,
		                        .persisted_seq = n->seq_handed};
		cr_assert_eq(raft_step(&n->r, &ev, &n->u), 0);
		consume(c, n);
		if (!n->hold_flush)
			th_flush(c, id);
	}
}

void th_auto_persist(struct th_cluster *c, int on)
{
	for (uint32_t i = 1; i <= c->n; i++) {
		c->nodes[i].auto_persist = on;
		if (on && c->nodes[i].up)
			th_persist(c, i);
	}
}

void th_tick(struct th_cluster *c, uint64_t id, uint32_t ticks)
{
	for (uint32_t i = 0; i < ticks; i++) {
		struct raft_event ev = {.type = RAFT_EVENT_TICK, .ticks = 1};
		cr_assert_eq(th_step(c, id, &ev), 0);
	}
}

int th_propose(struct th_cluster *c, uint64_t id, const char *text)
{
	struct raft_event ev = {.type = RAFT_EVENT_PROPOSE};
	ev.propose.data = (const uint8_t *)text;
	ev.propose.len = (uint32_t)strlen(text);
	return th_step(c, id, &ev);
}

int th_read(struct th_cluster *c, uint64_t id, uint64_t ctx)
{
	struct raft_event ev = {.type = RAFT_EVENT_READ, .read_ctx = ctx};
	return th_step(c, id, &ev);
}

static void free_msg(struct th_msg *q)
{
	free(q->buf);
	free(q);
}

static int matches(const struct th_msg *q, uint64_t from, uint64_t to, uint8_t type)
{
	return (!from || q->m.from == from) && (!to || q->m.to == to) &&
	       (!type || q->m.type == type);
}

static void deliver_at(struct th_cluster *c, uint32_t i)
{
	struct th_msg *q = c->queue[i];
	memmove(c->queue + i, c->queue + i + 1, (c->n_queue - i - 1) * sizeof(c->queue[0]));
	c->n_queue--;
	struct th_node *n = &c->nodes[q->m.to];
	if (n->up && !c->cut[q->m.from][q->m.to]) {
		struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &q->m};
		int rc = th_step(c, q->m.to, &ev);
		cr_assert_eq(rc, 0, "step %s from %lu to %lu: %s", raft_msg_type_str(q->m.type),
		             (unsigned long)q->m.from, (unsigned long)q->m.to, err_str(rc));
	}
	free_msg(q);
}

uint32_t th_deliver(struct th_cluster *c)
{
	uint32_t count = 0;
	while (c->n_queue > 0 && count < 100000) {
		deliver_at(c, 0);
		count++;
	}
	return count;
}

int th_deliver_one(struct th_cluster *c, uint64_t from, uint64_t to, uint8_t type)
{
	for (uint32_t i = 0; i < c->n_queue; i++) {
		if (matches(c->queue[i], from, to, type)) {
			deliver_at(c, i);
			return 1;
		}
	}
	return 0;
}

void th_drop(struct th_cluster *c, uint64_t to)
{
	uint32_t keep = 0;
	for (uint32_t i = 0; i < c->n_queue; i++) {
		if (!to || c->queue[i]->m.to == to)
			free_msg(c->queue[i]);
		else
			c->queue[keep++] = c->queue[i];
	}
	c->n_queue = keep;
}

uint32_t th_count(const struct th_cluster *c, uint64_t from, uint64_t to, uint8_t type)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < c->n_queue; i++)
		k += (uint32_t)matches(c->queue[i], from, to, type);
	return k;
}

const struct raft_message *th_find(const struct th_cluster *c, uint64_t from, uint64_t to,
                                   uint8_t type)
{
	for (uint32_t i = 0; i < c->n_queue; i++)
		if (matches(c->queue[i], from, to, type))
			return &c->queue[i]->m;
	return NULL;
}

int th_elect(struct th_cluster *c, uint64_t id)
{
	th_auto_persist(c, 1);
	for (uint32_t i = 1; i <= c->n; i++) {
		if (i != id && c->nodes[i].up && c->nodes[i].r.role == RAFT_LEADER) {
			/* a live leader keeps followers sticky: hand leadership over instead */
			struct raft_event tr = {.type = RAFT_EVENT_TRANSFER, .transfer_to = id};
			cr_assert_eq(th_step(c, i, &tr), 0);
			th_deliver(c);
			return c->nodes[id].r.role == RAFT_LEADER;
		}
	}
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	cr_assert_eq(th_step(c, id, &ev), 0);
	th_deliver(c);
	return c->nodes[id].r.role == RAFT_LEADER;
}

int th_campaign(struct th_cluster *c, uint64_t id)
{
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	cr_assert_eq(th_step(c, id, &ev), 0);
	th_deliver(c);
	return c->nodes[id].r.role == RAFT_LEADER;
}

void th_isolate(struct th_cluster *c, uint64_t id, int cut)
{
	for (uint32_t i = 1; i <= c->n; i++)
		c->cut[id][i] = c->cut[i][id] = cut;
}

void th_restart(struct th_cluster *c, uint64_t id)
{
	struct th_node *n = &c->nodes[id];
	raft_deinit(&n->r);
	n->up = 0;
	int ap = n->auto_persist;
	node_init(c, n, NULL);
	n->auto_persist = ap;
}

int th_take_snapshot(struct th_cluster *c, uint64_t id, const char *data)
{
	struct th_node *n = &c->nodes[id];
	uint64_t index = n->r.applied;
	uint64_t term;
	cr_assert(index > 0 && store_term(&n->st, index, &term));
	uint32_t len = (uint32_t)strlen(data);
	cr_assert(len <= sizeof(n->st.snap_data));
	n->st.snap.index = index;
	n->st.snap.term = term;
	n->st.snap.size_bytes = len;
	n->st.snap.conf = *raft_conf_applied(&n->r);
	memcpy(n->st.snap_data, data, len);
	n->st.snap_len = len;
	struct raft_event ev = {.type = RAFT_EVENT_SNAPSHOT_TAKEN};
	ev.snapshot.index = index;
	ev.snapshot.size_bytes = len;
	ev.snapshot.conf = *raft_conf_applied(&n->r);
	return th_step(c, id, &ev);
}

struct raft_status th_status(const struct th_cluster *c, uint64_t id)
{
	struct raft_status s;
	raft_status_get(&c->nodes[id].r, &s);
	return s;
}
