/*
 * sim_node.c — one simulated node: a raft_multi with G groups, their disks, their state machines
 * (a small KV with client sessions for exactly-once puts) and the client requests it serves.
 *
 * The node plays the server's part exactly as the raft.h contract asks: it applies committed
 * entries, persists each update in order (group commit: one fsync in flight per node, covering
 * every write queued before it started), reports PERSISTED only when that fsync completed, takes
 * snapshots of its state machine, and serves linearizable reads once its applied index reached
 * the read index. Work that must not re-enter raft_multi_step from on_update is deferred to
 * sim_node_after().
 */
#include "sim.h"

#include "core/assert.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PUT_BYTES 27

struct sim *sim_current;

static void *sim_mem_alloc(void *ctx, size_t bytes)
{
	(void)ctx;
	struct sim *s = sim_current;
	/* the pool runs dry now and then: the core must answer with backpressure, not grow */
	if (s && !s->in_init && !s->healed && s->p.mem_fail_permille &&
	    prng_chance(&s->prng, s->p.mem_fail_permille, 1000)) {
		s->mem_failures++;
		return NULL;
	}
	void *p = malloc(bytes ? bytes : 1);
	ASSERT(p != NULL);
	return p;
}

static void sim_mem_free(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	(void)bytes;
	free(p);
}

static const struct raft_mem sim_mem = {.ctx = NULL, .alloc = sim_mem_alloc, .free = sim_mem_free};

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void kv_encode(const struct sim_kv *kv, uint8_t *buf)
{
	put_u64(buf, kv->applied);
	for (int i = 0; i < SIM_KEYS; i++)
		put_u64(buf + 8 + 8 * i, kv->values[i]);
	for (int i = 0; i < SIM_CLIENTS; i++)
		put_u64(buf + 8 + 8 * SIM_KEYS + 8 * i, kv->sessions[i]);
}

static void kv_decode(struct sim_kv *kv, const uint8_t *buf, uint32_t len)
{
	ASSERT(len == SIM_KV_BYTES);
	kv->applied = get_u64(buf);
	for (int i = 0; i < SIM_KEYS; i++)
		kv->values[i] = get_u64(buf + 8 + 8 * i);
	for (int i = 0; i < SIM_CLIENTS; i++)
		kv->sessions[i] = get_u64(buf + 8 + 8 * SIM_KEYS + 8 * i);
}

/* ---- clients ------------------------------------------------------------------------------------
 */

static void client_next(struct sim *s, struct sim_client *c);

static void client_done(struct sim *s, struct sim_client *c)
{
	c->waiting = 0;
	client_next(s, c);
}

static void read_respond(struct sim *s, struct sim_group_state *g, uint64_t op)
{
	struct sim_client *c = &s->clients[g->group][0];
	for (uint32_t i = 0; i < SIM_CLIENTS; i++, c++) {
		if (c->waiting && c->op_id == op && c->kind == SIM_OP_GET) {
			struct sim_hist_op h = {.kind = SIM_OP_GET,
			                        .value = g->kv.values[c->key],
			                        .invoke = c->invoke,
			                        .response = s->now};
			sim_history_add(s, g->group, c->key, &h);
			s->gets_ok++;
			client_done(s, c);
			return;
		}
	}
}

static void reads_serve(struct sim *s, struct sim_group_state *g)
{
	uint32_t keep = 0;
	for (uint32_t i = 0; i < g->n_reads; i++) {
		struct sim_pending_read *rd = &g->reads[i];
		if (rd->index != 0 && rd->index <= g->kv.applied)
			read_respond(s, g, rd->op);
		else
			g->reads[keep++] = *rd;
	}
	g->n_reads = keep;
}

static void read_fail(struct sim *s, struct sim_group_state *g, uint64_t op)
{
	for (uint32_t i = 0; i < g->n_reads; i++) {
		if (g->reads[i].op == op) {
			g->reads[i] = g->reads[--g->n_reads];
			break;
		}
	}
	struct sim_client *c = &s->clients[g->group][0];
	for (uint32_t i = 0; i < SIM_CLIENTS; i++, c++)
		if (c->waiting && c->op_id == op)
			client_done(s, c);
}

static uint64_t kv_hash(const struct sim_kv *kv)
{
	uint8_t buf[SIM_KV_BYTES];
	kv_encode(kv, buf);
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < sizeof(buf); i++) {
		h ^= buf[i];
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

static void apply_put(struct sim *s, struct sim_group_state *g, const struct raft_entry *e);

static void apply_entry(struct sim *s, struct sim_group_state *g, const struct raft_entry *e)
{
	sim_check_apply(s, g, e);
	ASSERT(e->index == g->kv.applied + 1);
	g->kv.applied = e->index;
	if (e->type == RAFT_ENTRY_NORMAL)
		apply_put(s, g, e);
	sim_check_state(s, g, e->index, kv_hash(&g->kv), 0);
}

static void apply_put(struct sim *s, struct sim_group_state *g, const struct raft_entry *e)
{
	ASSERT(e->len >= PUT_BYTES && e->data[0] == 'P');
	uint32_t client = e->data[1];
	uint32_t key = e->data[2];
	uint64_t seq = get_u64(e->data + 3);
	uint64_t value = get_u64(e->data + 11);
	uint64_t op = get_u64(e->data + 19);
	ASSERT(client < SIM_CLIENTS && key < SIM_KEYS);
	if (seq <= g->kv.sessions[client])
		return; /* a duplicate (forwarded proposal delivered twice, or retried): exactly
		           once */
	g->kv.sessions[client] = seq;
	g->kv.values[key] = value;
	struct sim_client *c = &s->clients[g->group][client];
	if (c->waiting && c->op_id == op && c->node == g->node->id) {
		struct sim_hist_op h = {
		    .kind = SIM_OP_PUT, .value = value, .invoke = c->invoke, .response = s->now};
		sim_history_add(s, g->group, key, &h);
		s->puts_acked++;
		if (s->healed)
			s->check[g->group].acks_after_heal++;
		client_done(s, c);
	}
}

static void client_next(struct sim *s, struct sim_client *c)
{
	/* think time, then sim_client_issue via the event loop */
	extern void sim_schedule_client(struct sim * s, struct sim_client * c, uint64_t at);
	/* mostly busy, sometimes idle for a while (so that groups quiesce and must wake up) */
	uint64_t think = prng_chance(&s->prng, 1, 25) ? prng_range(&s->prng, 500, 4000)
	                                              : prng_range(&s->prng, 1, 40);
	sim_schedule_client(s, c, s->now + think * SIM_MS);
}

void sim_client_issue(struct sim *s, struct sim_client *c)
{
	ASSERT(!c->waiting);
	uint32_t candidates[SIM_NODES_MAX];
	uint32_t nc = 0;
	for (uint32_t i = 1; i <= s->p.nodes; i++)
		if (s->nodes[i].up && !s->nodes[i].paused)
			candidates[nc++] = i;
	if (nc == 0) {
		client_next(s, c);
		return;
	}
	/* prefer the node the client thinks leads (what a real client learns), else any node */
	uint32_t node = candidates[prng_below(&s->prng, nc)];
	struct sim_group_state *lead = sim_leader_of(s, c->group);
	if (lead && lead->node->up && !lead->node->paused && prng_chance(&s->prng, 1, 2))
		node = lead->node->id;
	struct sim_node *n = &s->nodes[node];
	struct sim_group_state *g = &n->groups[c->group];
	c->op_id = ++s->next_op_id;
	c->node = node;
	c->key = (uint32_t)prng_below(&s->prng, SIM_KEYS);
	c->invoke = s->now;
	c->kind = prng_chance(&s->prng, 11, 20) ? SIM_OP_PUT : SIM_OP_GET;
	struct raft_event ev;
	memset(&ev, 0, sizeof(ev));
	int rc;
	if (c->kind == SIM_OP_PUT) {
		uint8_t buf[PUT_BYTES + 64];
		uint32_t len = PUT_BYTES + (uint32_t)prng_below(&s->prng, 64);
		memset(buf, 0xab, sizeof(buf));
		c->seq++;
		c->value = c->op_id;
		buf[0] = 'P';
		buf[1] = (uint8_t)c->idx;
		buf[2] = (uint8_t)c->key;
		put_u64(buf + 3, c->seq);
		put_u64(buf + 11, c->value);
		put_u64(buf + 19, c->op_id);
		ev.type = RAFT_EVENT_PROPOSE;
		ev.propose.data = buf;
		ev.propose.len = len;
		c->waiting = 1;
		rc = sim_node_step(s, n, c->group, &ev);
	} else {
		if (g->n_reads == sizeof(g->reads) / sizeof(g->reads[0])) {
			client_next(s, c);
			return;
		}
		g->reads[g->n_reads].op = c->op_id;
		g->reads[g->n_reads].index = 0;
		g->n_reads++;
		ev.type = RAFT_EVENT_READ;
		ev.read_ctx = c->op_id;
		c->waiting = 1;
		rc = sim_node_step(s, n, c->group, &ev);
	}
	if (rc != 0) {
		/* refused before anything happened (no leader, backpressure, transfer): not in
		 * history */
		if (c->kind == SIM_OP_GET)
			read_fail(s, g, c->op_id);
		else
			client_done(s, c);
		sim_node_after(s, n);
		return;
	}
	extern void sim_schedule_timeout(struct sim * s, struct sim_client * c, uint64_t op,
	                                 uint64_t at);
	c->deadline = s->now + 2 * SIM_SEC;
	sim_schedule_timeout(s, c, c->op_id, c->deadline);
	sim_node_after(s, n);
}

void sim_client_timeout(struct sim *s, struct sim_client *c, uint64_t op_id)
{
	if (!c->waiting || c->op_id != op_id)
		return;
	s->ops_timed_out++;
	if (c->kind == SIM_OP_PUT) {
		/* the outcome is unknown: it may still commit later */
		struct sim_hist_op h = {.kind = SIM_OP_PUT,
		                        .value = c->value,
		                        .invoke = c->invoke,
		                        .response = UINT64_MAX};
		sim_history_add(s, c->group, c->key, &h);
		client_done(s, c);
		return;
	}
	struct sim_node *n = &s->nodes[c->node];
	if (n->up)
		read_fail(s, &n->groups[c->group], op_id);
	else
		client_done(s, c);
}

/* ---- persistence
 * ---------------------------------------------------------------------------------- */

static struct sim_write *write_from_update(struct sim_group_state *g, const struct raft_update *u)
{
	struct sim_write *w = calloc(1, sizeof(*w));
	ASSERT(w != NULL);
	w->group = g->group;
	w->seq = u->persist_seq;
	w->compact_to = u->compact_to;
	w->has_hs = u->hard_state_changed;
	w->hs = u->hard_state;
	w->truncate_from = u->truncate_from;
	if (u->n_persist > 0) {
		w->first_index = u->persist[0].index;
		w->n_ents = u->n_persist;
		w->ents = calloc(u->n_persist, sizeof(*w->ents));
		ASSERT(w->ents != NULL);
		for (uint32_t i = 0; i < u->n_persist; i++) {
			const struct raft_entry *e = &u->persist[i];
			ASSERT(e->index == w->first_index + i);
			w->ents[i].term = e->term;
			w->ents[i].type = e->type;
			w->ents[i].len = e->len;
			if (e->len) {
				w->ents[i].data = malloc(e->len);
				ASSERT(w->ents[i].data != NULL);
				memcpy(w->ents[i].data, e->data, e->len);
			}
		}
	}
	if (u->have_chunk) {
		w->has_chunk = 1;
		w->chunk_meta = u->chunk.meta;
		w->chunk_offset = u->chunk.offset;
		w->chunk_len = u->chunk.len;
		if (u->chunk.len) {
			w->chunk_data = malloc(u->chunk.len);
			ASSERT(w->chunk_data != NULL);
			memcpy(w->chunk_data, u->chunk.data, u->chunk.len);
		}
	}
	w->install = u->install;
	w->install_meta = u->snapshot;
	return w;
}

void sim_schedule_fsync(struct sim *s, struct sim_node *n);

static void queue_write(struct sim *s, struct sim_node *n, struct sim_write *w)
{
	if (n->n_pending == n->cap_pending) {
		n->cap_pending = n->cap_pending ? n->cap_pending * 2 : 64;
		n->pending = realloc(n->pending, n->cap_pending * sizeof(*n->pending));
		ASSERT(n->pending != NULL);
	}
	n->pending[n->n_pending++] = w;
	if (!n->fsync_inflight)
		sim_schedule_fsync(s, n);
}

void sim_node_fsync_done(struct sim *s, struct sim_node *n)
{
	ASSERT(n->fsync_inflight);
	uint32_t covers = n->fsync_covers;
	uint64_t seq[SIM_GROUPS_MAX] = {0};
	for (uint32_t i = 0; i < covers; i++) {
		struct sim_write *w = n->pending[i];
		sim_store_apply(&n->groups[w->group].dur, w, UINT32_MAX, 0);
		if (w->seq > seq[w->group])
			seq[w->group] = w->seq;
		sim_write_free(w);
	}
	memmove(n->pending, n->pending + covers, (n->n_pending - covers) * sizeof(*n->pending));
	n->n_pending -= covers;
	n->fsync_inflight = 0;
	n->fsync_covers = 0;
	for (uint32_t gi = 0; gi < s->p.groups; gi++) {
		if (seq[gi] == 0)
			continue;
		struct raft_event ev = {.type = RAFT_EVENT_PERSISTED, .persisted_seq = seq[gi]};
		int rc = sim_node_step(s, n, gi, &ev);
		ASSERT(rc == 0);
	}
	if (n->n_pending > 0 && !n->fsync_inflight)
		sim_schedule_fsync(s, n);
	sim_node_after(s, n);
}

/* ---- on_update: the server's side of the contract
 * -------------------------------------------------- */

static void take_snapshot(struct sim *s, struct sim_group_state *g)
{
	struct sim_node *n = g->node;
	uint8_t *data = malloc(SIM_KV_BYTES);
	ASSERT(data != NULL);
	kv_encode(&g->kv, data);
	int ok;
	uint64_t term = sim_store_term(&g->cur, g->kv.applied, &ok);
	ASSERT(ok);
	/* written to a temporary file, fsynced, renamed, directory synced: durable at once */
	struct sim_store *stores[2] = {&g->cur, &g->dur};
	for (int k = 0; k < 2; k++) {
		free(stores[k]->snap_data);
		stores[k]->snap_data = malloc(SIM_KV_BYTES);
		ASSERT(stores[k]->snap_data != NULL);
		memcpy(stores[k]->snap_data, data, SIM_KV_BYTES);
		stores[k]->snap_len = SIM_KV_BYTES;
		stores[k]->snap.index = g->kv.applied;
		stores[k]->snap.term = term;
		stores[k]->snap.size_bytes = SIM_KV_BYTES;
		stores[k]->snap.conf = *raft_conf_applied(&g->r);
	}
	free(data);
	g->last_snap_applied = g->kv.applied;
	ASSERT(n->n_deferred < sizeof(n->deferred) / sizeof(n->deferred[0]));
	struct sim_deferred *d = &n->deferred[n->n_deferred++];
	memset(d, 0, sizeof(*d));
	d->group = g->group;
	d->snap_index = g->kv.applied;
	d->snap_size = SIM_KV_BYTES;
	d->snap_conf = *raft_conf_applied(&g->r);
	(void)s;
}

static void on_update(void *ctx, void *user, struct raft *r, const struct raft_update *u)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	struct sim_group_state *g = user;
	ASSERT(&g->r == r);
	s->steps++;
	if (u->want_flush)
		g->want_flush = 1;
	if (u->soft_changed && u->role == RAFT_LEADER) {
		sim_check_leader(s, g, u->term);
		sim_new_leader(s, n);
	}
	for (uint32_t i = 0; i < u->n_apply; i++)
		apply_entry(s, g, &u->apply[i]);
	if (u->persist_seq || u->compact_to) {
		if (u->persist_seq)
			sim_check_persist(s, g, u);
		if (u->have_chunk && getenv("SIM_TRACE"))
			printf("t=%.4f node %u g%u chunk snap %lu/%lu off %lu len %u last %d "
			       "first8 %lu install %d\n",
			       (double)s->now / 1e9, n->id, g->group,
			       (unsigned long)u->chunk.meta.index,
			       (unsigned long)u->chunk.meta.term, (unsigned long)u->chunk.offset,
			       u->chunk.len, u->chunk.last,
			       u->chunk.offset == 0 && u->chunk.len >= 8
			           ? (unsigned long)get_u64(u->chunk.data)
			           : 0UL,
			       u->install);
		struct sim_write *w = write_from_update(g, u);
		sim_store_apply(&g->cur, w, UINT32_MAX, 0);
		queue_write(s, n, w);
	}
	if (u->install) {
		/* the state machine becomes the snapshot */
		ASSERT(g->cur.snap.index == u->snapshot.index);
		kv_decode(&g->kv, g->cur.snap_data, g->cur.snap_len);
		if (g->kv.applied != u->snapshot.index)
			sim_fail(s,
			         "snapshot install: node %u group %u staged data for index %" PRIu64
			         " under metadata for index %" PRIu64
			         " (chunks of different snapshots mixed)",
			         n->id, g->group, g->kv.applied, u->snapshot.index);
		g->kv.applied = u->snapshot.index;
		sim_check_state(s, g, u->snapshot.index, kv_hash(&g->kv), 1);
		g->last_snap_applied = g->kv.applied;
		s->snapshots_installed++;
	}
	for (uint32_t i = 0; i < u->n_reads; i++) {
		const struct raft_read_state *rs = &u->reads[i];
		if (rs->status) {
			read_fail(s, g, rs->ctx);
			continue;
		}
		for (uint32_t k = 0; k < g->n_reads; k++)
			if (g->reads[k].op == rs->ctx)
				g->reads[k].index = rs->index ? rs->index : 1;
	}
	reads_serve(s, g);
	struct raft_status st;
	raft_status_get(r, &st);
	if (st.role == RAFT_LEADER && st.commit > g->last_commit_seen)
		sim_check_commit(s, g, st.commit);
	if (g->kv.applied > st.snapshot_index && g->kv.applied > g->cur.snap.index &&
	    g->kv.applied >= g->last_snap_applied + s->p.snapshot_every &&
	    g->kv.applied <= st.stable_index)
		take_snapshot(s, g);
	sim_check_node(s, g);
}

static void send_frame(void *ctx, uint64_t to, const uint8_t *frame, size_t len)
{
	struct sim_node *n = ctx;
	sim_schedule_deliver(n->sim, n->id, (uint32_t)to, frame, len);
}

/* ---- lifecycle
 * ------------------------------------------------------------------------------------ */

static void group_start(struct sim *s, struct sim_node *n, uint32_t gi)
{
	struct sim_group_state *g = &n->groups[gi];
	g->node = n;
	g->group = gi;
	g->n_reads = 0;
	memset(&g->cur, 0, sizeof(g->cur));
	sim_store_copy(&g->cur, &g->dur);
	memset(&g->kv, 0, sizeof(g->kv));
	if (g->dur.snap_data)
		kv_decode(&g->kv, g->dur.snap_data, g->dur.snap_len);
	g->kv.applied = g->dur.snap.index;
	g->last_snap_applied = g->kv.applied;
	g->last_commit_seen = 0;
	g->last_term_seen = 0;

	struct raft_config cfg;
	raft_config_defaults(&cfg);
	cfg.id = n->id;
	cfg.group_id = gi + 1;
	cfg.election_ticks = 20;
	cfg.heartbeat_ticks = 4;
	cfg.inflight_max = 8;
	cfg.msg_bytes_max = s->p.msg_bytes_max;
	cfg.cache_entries = s->p.cache_entries;
	cfg.cache_bytes_max = 64u << 10;
	cfg.snapshot_chunk_bytes = s->p.chunk_bytes;
	cfg.seed = prng_next(&s->prng);
	cfg.pre_vote = 1;
	cfg.check_quorum = 1;
	cfg.quiesce = s->p.quiesce;
	cfg.batch_appends = s->p.batch_appends;
	cfg.log = sim_log_ops_template;
	cfg.log.ctx = g;
	cfg.mem = sim_mem;

	struct raft_conf_entry confs[LIMIT_RAFT_CONF_HISTORY];
	uint32_t n_confs = 0;
	const struct sim_store *d = &g->dur;
	for (uint64_t i = 0; i < d->n; i++) {
		const struct sim_entry *e = &d->ents[i];
		uint64_t index = d->first + i;
		if (e->type != RAFT_ENTRY_CONF || index <= d->snap.index)
			continue;
		if (n_confs == LIMIT_RAFT_CONF_HISTORY) {
			memmove(&confs[0], &confs[1], (n_confs - 1) * sizeof(confs[0]));
			n_confs--;
		}
		confs[n_confs].index = index;
		confs[n_confs].term = e->term;
		ASSERT(raft_conf_decode(e->data, e->len, &confs[n_confs].conf) == 0);
		n_confs++;
	}
	struct raft_init_state st;
	memset(&st, 0, sizeof(st));
	st.hard = d->hs;
	st.snapshot = d->snap;
	st.log_first = d->first;
	st.log_last = sim_store_last(d);
	int ok;
	st.log_last_term = sim_store_term(d, st.log_last, &ok);
	ASSERT(ok);
	st.applied = d->snap.index;
	st.confs = confs;
	st.n_confs = n_confs;
	int rc = raft_init(&g->r, &cfg, &st);
	if (rc != 0) {
		fprintf(stderr, "raft_init node %u group %u: %s (first %lu last %lu snap %lu)\n",
		        n->id, gi, err_str(rc), (unsigned long)st.log_first,
		        (unsigned long)st.log_last, (unsigned long)st.snapshot.index);
		ASSERT(rc == 0);
	}
	rc = raft_multi_add(&n->multi, gi + 1, &g->r, g);
	ASSERT(rc == 0);
}

void sim_node_start(struct sim *s, struct sim_node *n)
{
	ASSERT(!n->up);
	s->in_init = 1;
	n->sim = s;
	n->up = 1;
	n->paused = 0;
	n->missed_ticks = 0;
	n->incarnation = ++s->next_incarnation;
	struct raft_multi_config mc;
	raft_multi_config_defaults(&mc);
	mc.node_id = n->id;
	mc.incarnation = n->incarnation;
	mc.heartbeat_ticks = 4;
	mc.election_ticks = 20;
	mc.groups_max = SIM_GROUPS_MAX;
	mc.frame_bytes = 256u << 10;
	mc.msgs_cap = 512;
	mc.ents_cap = 2048;
	mc.mem = sim_mem;
	mc.ctx = n;
	mc.send_frame = send_frame;
	mc.on_update = on_update;
	int rc = raft_multi_init(&n->multi, &mc);
	ASSERT(rc == 0);
	for (uint32_t gi = 0; gi < s->p.groups; gi++)
		group_start(s, n, gi);
	s->in_init = 0;
}

void sim_node_crash(struct sim *s, struct sim_node *n)
{
	ASSERT(n->up);
	/* power loss: synced writes stay; of the rest, a random prefix survives, the last maybe
	 * torn */
	uint32_t keep = (uint32_t)prng_below(&s->prng, n->n_pending + 1);
	for (uint32_t i = 0; i < keep; i++) {
		struct sim_write *w = n->pending[i];
		sim_store_apply(&n->groups[w->group].dur, w, UINT32_MAX, 0);
	}
	if (keep < n->n_pending && prng_chance(&s->prng, 1, 2)) {
		struct sim_write *w = n->pending[keep];
		uint32_t parts = sim_write_parts(w);
		uint32_t torn = (uint32_t)prng_below(&s->prng, parts + 1);
		uint32_t bytes = w->chunk_len ? (uint32_t)prng_below(&s->prng, w->chunk_len) : 0;
		sim_store_apply(&n->groups[w->group].dur, w, torn, bytes);
	}
	for (uint32_t i = 0; i < n->n_pending; i++)
		sim_write_free(n->pending[i]);
	n->n_pending = 0;
	n->fsync_inflight = 0;
	n->fsync_covers = 0;
	n->n_deferred = 0;
	for (uint32_t i = 0; i < n->n_inbox; i++)
		free(n->inbox[i]);
	n->n_inbox = 0;
	for (uint32_t gi = 0; gi < s->p.groups; gi++) {
		struct sim_group_state *g = &n->groups[gi];
		int rc = raft_multi_remove(&n->multi, gi + 1);
		ASSERT(rc == 0);
		raft_deinit(&g->r);
		sim_store_free(&g->cur);
		g->n_reads = 0;
	}
	raft_multi_deinit(&n->multi);
	n->up = 0;
	n->paused = 0;
	s->crashes++;
}

void sim_node_free(struct sim_node *n)
{
	for (uint32_t gi = 0; gi < SIM_GROUPS_MAX; gi++)
		sim_store_free(&n->groups[gi].dur);
	free(n->pending);
	free(n->inbox);
}

/* ---- events
 * ----------------------------------------------------------------------------------------- */

int sim_node_step(struct sim *s, struct sim_node *n, uint32_t group, const struct raft_event *ev)
{
	(void)s;
	ASSERT(n->up);
	return raft_multi_step(&n->multi, group + 1, ev);
}

void sim_node_after(struct sim *s, struct sim_node *n)
{
	if (!n->up)
		return;
	for (uint32_t i = 0; i < n->n_deferred; i++) {
		struct sim_deferred *d = &n->deferred[i];
		struct raft_event ev;
		memset(&ev, 0, sizeof(ev));
		ev.type = RAFT_EVENT_SNAPSHOT_TAKEN;
		ev.snapshot.index = d->snap_index;
		ev.snapshot.size_bytes = d->snap_size;
		ev.snapshot.conf = d->snap_conf;
		int rc = sim_node_step(s, n, d->group, &ev);
		if (rc != 0 && rc != ERR_INVAL)
			sim_fail(s, "snapshot_taken node %u: %s", n->id, err_str(rc));
	}
	n->n_deferred = 0;
	for (uint32_t gi = 0; gi < SIM_GROUPS_MAX; gi++) { /* the end of this node's turn */
		struct sim_group_state *g = &n->groups[gi];
		if (!g->want_flush)
			continue;
		g->want_flush = 0;
		struct raft_event ev = {.type = RAFT_EVENT_FLUSH};
		int rc = sim_node_step(s, n, g->group, &ev);
		if (rc != 0)
			sim_fail(s, "flush node %u group %u: %s", n->id, g->group, err_str(rc));
	}
	raft_multi_flush(&n->multi);
}

void sim_node_tick(struct sim *s, struct sim_node *n)
{
	raft_multi_tick(&n->multi);
	s->quiesced_ticks += raft_multi_quiesced(&n->multi);
	sim_node_after(s, n);
}

void sim_node_receive(struct sim *s, struct sim_node *n, const uint8_t *bytes, size_t len)
{
	s->frames++;
	int rc = raft_multi_receive(&n->multi, bytes, len);
	ASSERT(rc == 0 || rc == ERR_CORRUPT || rc == ERR_PROTO); /* the network flips bits */
	sim_node_after(s, n);
}

struct sim_group_state *sim_leader_of(struct sim *s, uint32_t group)
{
	struct sim_group_state *best = NULL;
	for (uint32_t i = 1; i <= s->p.nodes; i++) {
		struct sim_node *n = &s->nodes[i];
		if (!n->up)
			continue;
		struct sim_group_state *g = &n->groups[group];
		if (g->r.role == RAFT_LEADER && (!best || g->r.term > best->r.term))
			best = g;
	}
	return best;
}
