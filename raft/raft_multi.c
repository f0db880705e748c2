/*
 * raft_multi.c — groups of one core, batched frames per peer node, node liveness (see
 * raft_multi.h for the heartbeat-coalescing design).
 *
 * Invariants: the group table never holds two entries with one id and always has an empty
 * slot (capacity >= 2 * groups_max), so probing terminates; every frame in a node's writer
 * starts with a NODE record; on_update is never re-entered.
 */
#include "raft/raft_multi.h"

#include "raft/raft_impl.h"

#include "core/assert.h"

#include <string.h>

#define FLUSH_ROUNDS_MAX 64 /* FLUSH steps per event when an update overflows its arrays */

void raft_multi_config_defaults(struct raft_multi_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->heartbeat_ticks = 5;
	cfg->election_ticks = 30;
	cfg->groups_max = 1024;
	cfg->frame_bytes = LIMIT_RAFT_FRAME_BYTES;
	cfg->msgs_cap = 1024;
	cfg->ents_cap = 8192;
	cfg->reads_cap = LIMIT_RAFT_READS_PENDING;
}

static void *mem_alloc(struct raft_multi *m, size_t n)
{
	return m->cfg.mem.alloc(m->cfg.mem.ctx, n);
}

static void mem_free(struct raft_multi *m, void *p, size_t n)
{
	if (p)
		m->cfg.mem.free(m->cfg.mem.ctx, p, n);
}

static size_t sz_msgs(const struct raft_multi *m)
{
	return (size_t)m->cfg.msgs_cap * sizeof(struct raft_message);
}
static size_t sz_ents(const struct raft_multi *m)
{
	return (size_t)m->cfg.ents_cap * sizeof(struct raft_entry);
}
static size_t sz_reads(const struct raft_multi *m)
{
	return (size_t)m->cfg.reads_cap * sizeof(struct raft_read_state);
}
static size_t sz_groups(const struct raft_multi *m)
{
	return (size_t)m->groups_cap * sizeof(struct raft_multi_group);
}
static size_t sz_dec_msgs(void)
{
	return (size_t)LIMIT_RAFT_FRAME_MSGS * sizeof(struct raft_message);
}
static size_t sz_dec_ents(void)
{
	return (size_t)LIMIT_RAFT_FRAME_ENTRIES * sizeof(struct raft_entry);
}

int raft_multi_init(struct raft_multi *m, const struct raft_multi_config *cfg)
{
	memset(m, 0, sizeof(*m));
	if (cfg->node_id == 0 || cfg->groups_max == 0 ||
	    cfg->groups_max > LIMIT_RAFT_GROUPS_PER_CORE || cfg->frame_bytes < 4096 ||
	    cfg->frame_bytes > LIMIT_RAFT_FRAME_BYTES || !cfg->send_frame || !cfg->on_update ||
	    !cfg->mem.alloc || cfg->heartbeat_ticks == 0 ||
	    cfg->election_ticks <= cfg->heartbeat_ticks || cfg->msgs_cap == 0 ||
	    cfg->ents_cap == 0 || cfg->reads_cap == 0)
		return ERR_INVAL;
	m->cfg = *cfg;
	m->groups_cap = 16;
	while (m->groups_cap < 2 * cfg->groups_max)
		m->groups_cap *= 2;
	m->groups = mem_alloc(m, sz_groups(m));
	struct raft_message *msgs = mem_alloc(m, sz_msgs(m));
	struct raft_entry *ents = mem_alloc(m, sz_ents(m));
	struct raft_read_state *reads = mem_alloc(m, sz_reads(m));
	m->dec_msgs = mem_alloc(m, sz_dec_msgs());
	m->dec_ents = mem_alloc(m, sz_dec_ents());
	if (!m->groups || !msgs || !ents || !reads || !m->dec_msgs || !m->dec_ents) {
		mem_free(m, msgs, sz_msgs(m));
		mem_free(m, ents, sz_ents(m));
		mem_free(m, reads, sz_reads(m));
		goto err_nomem;
	}
	memset(m->groups, 0, sz_groups(m));
	raft_update_init(&m->u, msgs, cfg->msgs_cap, ents, cfg->ents_cap, reads, cfg->reads_cap);
	return 0;

err_nomem:
	mem_free(m, m->groups, sz_groups(m));
	mem_free(m, m->dec_msgs, sz_dec_msgs());
	mem_free(m, m->dec_ents, sz_dec_ents());
	memset(m, 0, sizeof(*m));
	return ERR_NOMEM;
}

void raft_multi_deinit(struct raft_multi *m)
{
	if (!m->groups)
		return;
	for (uint32_t i = 0; i < m->n_nodes; i++)
		mem_free(m, m->nodes[i].buf, m->cfg.frame_bytes);
	mem_free(m, m->u.msgs, sz_msgs(m));
	mem_free(m, m->u.ents, sz_ents(m));
	mem_free(m, m->u.reads, sz_reads(m));
	mem_free(m, m->dec_msgs, sz_dec_msgs());
	mem_free(m, m->dec_ents, sz_dec_ents());
	mem_free(m, m->groups, sz_groups(m));
	memset(m, 0, sizeof(*m));
}

/* ---- group table ---------------------------------------------------------------------------- */

static uint32_t hash_id(uint64_t id)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdULL;
	id ^= id >> 33;
	return (uint32_t)id;
}

static struct raft_multi_group *slot_find(const struct raft_multi *m, uint64_t id)
{
	uint32_t mask = m->groups_cap - 1;
	for (uint32_t i = hash_id(id) & mask, k = 0; k < m->groups_cap; i = (i + 1) & mask, k++) {
		if (m->groups[i].group_id == id)
			return &m->groups[i];
		if (m->groups[i].group_id == 0)
			return NULL;
	}
	return NULL;
}

int raft_multi_add(struct raft_multi *m, uint64_t group_id, struct raft *r, void *user)
{
	ASSERT(group_id != 0 && r != NULL);
	if (slot_find(m, group_id))
		return ERR_EXISTS;
	if (m->n_groups == m->cfg.groups_max)
		return ERR_NOMEM;
	uint32_t mask = m->groups_cap - 1;
	uint32_t i = hash_id(group_id) & mask;
	while (m->groups[i].group_id != 0)
		i = (i + 1) & mask;
	m->groups[i].group_id = group_id;
	m->groups[i].r = r;
	m->groups[i].user = user;
	m->n_groups++;
	ASSERT(m->n_groups * 2 <= m->groups_cap);
	return 0;
}

int raft_multi_remove(struct raft_multi *m, uint64_t group_id)
{
	struct raft_multi_group *g = slot_find(m, group_id);
	if (!g)
		return ERR_NOTFOUND;
	/* backward-shift deletion keeps probe chains intact without tombstones */
	uint32_t mask = m->groups_cap - 1;
	uint32_t hole = (uint32_t)(g - m->groups);
	m->groups[hole].group_id = 0;
	for (uint32_t j = (hole + 1) & mask; m->groups[j].group_id != 0; j = (j + 1) & mask) {
		uint32_t home = hash_id(m->groups[j].group_id) & mask;
		/* move j into the hole if its home is not in (hole, j] cyclically */
		int between = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
		if (!between) {
			m->groups[hole] = m->groups[j];
			m->groups[j].group_id = 0;
			hole = j;
		}
	}
	m->n_groups--;
	return 0;
}

struct raft *raft_multi_find(const struct raft_multi *m, uint64_t group_id, void **user)
{
	struct raft_multi_group *g = slot_find(m, group_id);
	if (!g)
		return NULL;
	if (user)
		*user = g->user;
	return g->r;
}

/* ---- nodes and frames ------------------------------------------------------------------------ */

static struct raft_multi_node *node_get(struct raft_multi *m, uint64_t id)
{
	for (uint32_t i = 0; i < m->n_nodes; i++)
		if (m->nodes[i].id == id)
			return &m->nodes[i];
	if (m->n_nodes == LIMIT_RAFT_NODES_MAX)
		return NULL;
	struct raft_multi_node *n = &m->nodes[m->n_nodes];
	memset(n, 0, sizeof(*n));
	n->buf = mem_alloc(m, m->cfg.frame_bytes);
	if (!n->buf)
		return NULL;
	n->id = id;
	n->alive = 1;
	raft_frame_begin(&n->w, n->buf, m->cfg.frame_bytes, m->cfg.node_id);
	m->n_nodes++;
	return n;
}

static void node_emit(struct raft_multi *m, struct raft_multi_node *n)
{
	size_t len = raft_frame_finish(&n->w);
	if (len > 0) {
		m->cfg.send_frame(m->cfg.ctx, n->id, n->buf, len);
		m->stats.frames_sent++;
		m->stats.bytes_sent += len;
	}
	raft_frame_begin(&n->w, n->buf, m->cfg.frame_bytes, m->cfg.node_id);
}

/* Make sure the node's current frame starts with our NODE record. */
static int node_open(struct raft_multi *m, struct raft_multi_node *n)
{
	if (n->w.n_records > 0)
		return 0;
	n->sent_this_interval = 1;
	return raft_frame_add_node(&n->w, m->cfg.incarnation, 0);
}

static void route(struct raft_multi *m, const struct raft_message *msg)
{
	struct raft_multi_node *n = node_get(m, msg->to);
	if (!n || node_open(m, n) != 0) {
		m->stats.msgs_dropped++;
		return;
	}
	if (raft_frame_add_msg(&n->w, msg) == 0) {
		m->stats.msgs_sent++;
		return;
	}
	node_emit(m, n); /* full: send this frame, start the next */
	if (node_open(m, n) != 0 || raft_frame_add_msg(&n->w, msg) != 0) {
		m->stats.msgs_dropped++; /* larger than a whole frame: Raft retries it smaller */
		return;
	}
	m->stats.msgs_sent++;
}

/* ---- stepping ---------------------------------------------------------------------------------
 */

static int step_group(struct raft_multi *m, struct raft_multi_group *g, const struct raft_event *ev)
{
	ASSERT(!m->stepping);
	m->stepping = 1;
	int rc = raft_step(g->r, ev, &m->u);
	struct raft_event flush = {.type = RAFT_EVENT_FLUSH};
	for (uint32_t round = 0; rc == 0; round++) {
		for (uint32_t i = 0; i < m->u.n_msgs; i++)
			route(m, &m->u.msgs[i]);
		m->cfg.on_update(m->cfg.ctx, g->user, g->r, &m->u);
		if (!m->u.more || round == FLUSH_ROUNDS_MAX)
			break;
		if (round > 0 && m->u.n_msgs == 0 && !m->u.persist_seq && !m->u.n_apply &&
		    !m->u.n_reads && !m->u.compact_to)
			break; /* the last FLUSH moved nothing: another would spin */
		rc = raft_step(g->r, &flush, &m->u);
	}
	m->stepping = 0;
	return rc;
}

int raft_multi_step(struct raft_multi *m, uint64_t group_id, const struct raft_event *ev)
{
	struct raft_multi_group *g = slot_find(m, group_id);
	if (!g)
		return ERR_NOTFOUND;
	return step_group(m, g, ev);
}

static void wake_groups_of(struct raft_multi *m, uint64_t node)
{
	struct raft_event wake = {.type = RAFT_EVENT_WAKE};
	for (uint32_t i = 0; i < m->groups_cap; i++) {
		struct raft_multi_group *g = &m->groups[i];
		if (g->group_id == 0 || !raft_is_quiesced(g->r))
			continue;
		int led_by = raft_leader(g->r) == node;
		int leads_it = g->r->role == RAFT_LEADER &&
		               (raft_conf_is_voter(raft_conf_current(g->r), node) ||
		                raft_conf_is_learner(raft_conf_current(g->r), node));
		if (!led_by && !leads_it)
			continue;
		m->stats.wakes++;
		(void)step_group(m, g, &wake);
	}
}

void raft_multi_tick(struct raft_multi *m)
{
	struct raft_event tick = {.type = RAFT_EVENT_TICK, .ticks = 1};
	for (uint32_t i = 0; i < m->groups_cap; i++) {
		struct raft_multi_group *g = &m->groups[i];
		if (g->group_id == 0 || raft_is_quiesced(g->r))
			continue; /* an idle group costs one flag test per tick */
		(void)step_group(m, g, &tick);
	}
	for (uint32_t i = 0; i < m->n_nodes; i++) {
		struct raft_multi_node *n = &m->nodes[i];
		if (n->silent_ticks < UINT32_MAX)
			n->silent_ticks++;
		if (n->alive && n->silent_ticks >= m->cfg.election_ticks) {
			n->alive = 0;
			wake_groups_of(m, n->id);
		}
	}
	if (++m->hb_elapsed >= m->cfg.heartbeat_ticks) {
		m->hb_elapsed = 0;
		for (uint32_t i = 0; i < m->n_nodes; i++) {
			struct raft_multi_node *n = &m->nodes[i];
			if (!n->sent_this_interval && node_open(m, n) == 0)
				m->stats.node_heartbeats_sent++;
			n->sent_this_interval = 0;
		}
	}
}

int raft_multi_receive(struct raft_multi *m, const uint8_t *frame, size_t len)
{
	struct raft_frame f;
	memset(&f, 0, sizeof(f));
	f.msgs = m->dec_msgs;
	f.msgs_cap = LIMIT_RAFT_FRAME_MSGS;
	f.ents = m->dec_ents;
	f.ents_cap = LIMIT_RAFT_FRAME_ENTRIES;
	int rc = raft_frame_decode(frame, len, m->cfg.node_id, &f);
	if (rc) {
		m->stats.frames_bad++;
		return rc;
	}
	m->stats.frames_received++;
	struct raft_multi_node *n = node_get(m, f.from_node);
	if (n) {
		int was_dead = !n->alive;
		n->silent_ticks = 0;
		n->alive = 1;
		int restarted =
		    f.have_node && n->incarnation != 0 && f.incarnation != n->incarnation;
		if (f.have_node)
			n->incarnation = f.incarnation;
		if (was_dead || restarted)
			wake_groups_of(m, n->id);
	}
	for (uint32_t i = 0; i < f.n_msgs; i++) {
		struct raft_multi_group *g = slot_find(m, f.msgs[i].group_id);
		if (!g) {
			m->stats.msgs_unknown_group++;
			continue;
		}
		m->stats.msgs_received++;
		struct raft_event ev = {.type = RAFT_EVENT_RECEIVE, .msg = &f.msgs[i]};
		(void)step_group(m, g, &ev); /* ERR_PROTO: a malformed message changes nothing */
	}
	return 0;
}

void raft_multi_flush(struct raft_multi *m)
{
	for (uint32_t i = 0; i < m->n_nodes; i++)
		if (m->nodes[i].w.n_records > 0)
			node_emit(m, &m->nodes[i]);
}

uint32_t raft_multi_quiesced(const struct raft_multi *m)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < m->groups_cap; i++)
		if (m->groups[i].group_id != 0 && raft_is_quiesced(m->groups[i].r))
			n++;
	return n;
}
