/*
 * rest_gather.c — the walk over the cores that fills a node snapshot (see rest_gather.h).
 *
 * Invariants: g->next only grows; core c fills g->snap.core[c] and appends its replicas, and
 * does so only when g->next == c (a gather is never sampled twice by one core); the tables
 * array never grows (its capacity was fixed by the origin), replicas that do not fit are
 * counted in tables_missed.
 */
#include "server/rest/rest_gather.h"

#include "core/assert.h"
#include "core/log.h"

#include <stdlib.h>
#include <string.h>

#define GATHER_RETRY_NS 1000000ull /* a full mailbox: retry the hop after 1 ms */
#define GATHER_RETRIES_MAX 60000   /* ... for at most a minute, then give the gather up (logged) */

struct rest_gather *rest_gather_new(struct node *n, int origin, int want_tables, size_t cap_tables)
{
	ASSERT(n != NULL && origin >= 0 && origin < n->cores);
	struct rest_gather *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->node = n;
	g->origin = origin;
	g->want_tables = want_tables;
	atomic_store(&g->at, origin);
	g->snap.cores = n->cores;
	g->snap.node_id = n->cfg.node_id;
	g->snap.voters = n->n_voters;
	if (want_tables) {
		g->snap.tables = calloc(cap_tables ? cap_tables : 1, sizeof *g->snap.tables);
		if (!g->snap.tables) {
			free(g);
			return NULL;
		}
		g->snap.cap_tables = cap_tables;
	}
	return g;
}

void rest_gather_free(struct rest_gather *g)
{
	if (!g)
		return;
	free(g->snap.tables);
	free(g);
}

int rest_gather_at(struct rest_gather *g)
{
	return atomic_load(&g->at);
}

struct add_ctx {
	struct rest_gather *g;
	struct core_ctx *cc;
};

static int add_table(void *arg, uint64_t id)
{
	struct add_ctx *a = arg;
	struct rest_snapshot *s = &a->g->snap;
	if (s->n_tables == s->cap_tables) {
		s->tables_missed++;
		return 0;
	}
	struct rest_table_sample *t = &s->tables[s->n_tables];
	if (host_table_status(a->cc->host, id, &t->st) == 0) {
		t->core = a->cc->core;
		s->n_tables++;
	}
	return 0;
}

static void sample(struct core_ctx *cc, struct rest_gather *g)
{
	ASSERT(g->next == cc->core);
	struct rest_core_sample *cs = &g->snap.core[cc->core];
	memset(cs, 0, sizeof *cs);
	cs->answered = 1;
	cs->stopping = cc->stopping || cc->closed;
	reactor_get_stats(cc->r, &cs->reactor);
	cs->backend = reactor_backend_name(reactor_backend(cc->r));
	if (cc->host) {
		cs->engine = 1;
		host_stats(cc->host, &cs->host);
		host_log_stats(cc->host, &cs->log);
		if (cc->core == node_owner_core(cc->node, HOST_META_GROUP_ID) &&
		    host_table_status(cc->host, HOST_META_GROUP_ID, &g->snap.meta) == 0)
			g->snap.meta_seen = 1;
		if (g->want_tables) {
			struct add_ctx a = {g, cc};
			if (host_table_foreach(cc->host, add_table, &a))
				LOG_WARN("rest: core %d could not list its tables", cc->core);
		}
	}
	cs->api_conns = cc->api_srv ? transport_server_conns(cc->api_srv) : 0;
	cs->raft_conns = cc->raft_srv ? transport_server_conns(cc->raft_srv) : 0;
	cs->peers = cc->n_peers;
	for (uint32_t i = 0; i < cc->n_peers; i++) {
		cs->peers_connected += cc->peers[i].connected != 0;
		cs->peer_frames_sent += cc->peers[i].frames_sent;
		cs->peer_frames_dropped += cc->peers[i].frames_dropped;
	}
	g->next++;
}

static void visit(struct core_ctx *cc, void *arg);
static void retry_cb(struct io_op *op);

/* Send the gather on from the core holding it; a full mailbox is retried from a timer here. */
static void hop(struct core_ctx *cc, struct rest_gather *g, int to)
{
	atomic_store(&g->at, to);
	int rc = node_post(cc->node, to, visit, g);
	if (rc == 0)
		return;
	if (rc == ERR_STOPPED) {
		LOG_DEBUG("rest: the node is stopping; a gather is dropped");
		return; /* the runtime drops queued messages too: it ends with the process */
	}
	if (++g->retries > GATHER_RETRIES_MAX) {
		LOG_ERROR("rest: core %d's mailbox stayed full for a minute; a gather is given up", to);
		return;
	}
	g->retry_to = to;
	memset(&g->retry_op, 0, sizeof g->retry_op);
	g->retry_op.cb = retry_cb;
	g->retry_op.ctx = g;
	atomic_store(&g->at, cc->core);
	reactor_timeout(cc->r, &g->retry_op, GATHER_RETRY_NS);
}

static void retry_cb(struct io_op *op)
{
	struct rest_gather *g = op->ctx;
	struct core_ctx *cc = node_core_self(g->node);
	hop(cc, g, g->retry_to);
}

static void visit(struct core_ctx *cc, void *arg)
{
	struct rest_gather *g = arg;
	int cores = cc->node->cores;
	atomic_store(&g->at, cc->core);
	if (g->next < cores && g->next == cc->core)
		sample(cc, g);
	if (g->next >= cores && cc->core == g->origin) {
		g->done(g);
		return;
	}
	hop(cc, g, g->next < cores ? g->next : g->origin);
}

void rest_gather_start(struct rest_gather *g)
{
	ASSERT(g->done != NULL);
	ASSERT(g->next == 0);
	struct core_ctx *cc = node_core_self(g->node);
	ASSERT(cc->core == g->origin);
	visit(cc, g);
}
