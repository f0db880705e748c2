/*
 * peers.c — the Raft transport between nodes, on our gRPC stack.
 *
 * Each core keeps one client-streaming call "/regatta.internal.v1.Raft/Stream" open to every
 * other member's Raft port; every request message on it is one batched Raft frame
 * (raft/raft_codec.h) from that core's groups. Metadata "x-regatta-node" and "x-regatta-core"
 * say who sends and for which core: the receiving node hands core i's frames to its own core i
 * (same table placement everywhere). Frames are dropped when a stream is down or its send queue
 * is full: Raft retransmits, and a dead link must not grow memory.
 */
#include "server/node/node_impl.h"
#include "core/assert.h"
#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAFT_STREAM_PATH "/regatta.internal.v1.Raft/Stream"
#define PEER_RETRY_NS (200ull * 1000000ull)

/* ---- client side ------------------------------------------------------------------------------ */

static void peer_call_done(struct grpc_client_call *call, int status, const char *message, void *ctx)
{
	struct peer *p = ctx;
	if (p->call == call)
		p->call = NULL;
	if (status != GRPC_STATUS_OK && status != GRPC_STATUS_UNAVAILABLE && status != GRPC_STATUS_CANCELLED)
		LOG_WARN("raft stream to node %" PRIu64 " ended: %s %s", p->id, grpc_status_name(status), message);
}

static const struct grpc_client_call_ops peer_call_ops = {.on_done = peer_call_done};

static void peer_start_call(struct peer *p)
{
	struct core_ctx *cc = p->cc;
	char node[24], core[12];
	snprintf(node, sizeof node, "%" PRIu64, cc->node->cfg.node_id);
	snprintf(core, sizeof core, "%d", cc->core);
	struct grpc_md md[2] = {{.name = "x-regatta-node", .value = node}, {.name = "x-regatta-core", .value = core}};
	struct grpc_client_call_opts o = {.md = md, .md_count = 2};
	int rc = grpc_client_call_start(transport_client_grpc(p->client), RAFT_STREAM_PATH, &o, &peer_call_ops, p,
					&p->call);
	if (rc) {
		p->call = NULL;
		LOG_DEBUG("raft stream to node %" PRIu64 ": %s", p->id, err_str(rc));
	}
}

static void peer_ready(struct transport_client *c, void *ctx)
{
	struct peer *p = ctx;
	p->connected = 1;
	LOG_INFO("raft: connected to node %" PRIu64 " at %s", p->id, p->addr);
}

static void peer_closed(struct transport_client *c, int err, void *ctx)
{
	struct peer *p = ctx;
	if (p->connected)
		LOG_INFO("raft: connection to node %" PRIu64 " lost (%s)", p->id, err_str(err));
	p->connected = 0;
	p->call = NULL;
	p->client = NULL;
	p->retry_at_ns = reactor_now_ns(p->cc->r) + PEER_RETRY_NS;
	transport_client_free(c);
}

static void peer_connect(struct peer *p)
{
	struct core_ctx *cc = p->cc;
	struct transport_client_config tc = {
		.addr = p->addr,
		.tls = cc->node->raft_tls_client,
		.grpc = {.authority = p->addr,
			 .max_send_msg_bytes = LIMIT_RAFT_FRAME_BYTES,
			 .max_recv_msg_bytes = LIMIT_RAFT_FRAME_BYTES,
			 .keepalive_ns = 10ull * 1000000000ull},
		.on_ready = peer_ready,
		.on_closed = peer_closed,
		.ctx = p,
	};
	int rc = transport_client_connect(cc->r, &tc, &p->client);
	if (rc) {
		p->client = NULL;
		p->retry_at_ns = reactor_now_ns(cc->r) + PEER_RETRY_NS;
		return;
	}
	peer_start_call(p);
}

void peers_start(struct core_ctx *cc)
{
	const struct node_config *c = &cc->node->cfg;
	cc->n_peers = 0;
	for (uint32_t i = 0; i < c->n_members; i++) {
		if (c->members[i].id == c->node_id)
			continue;
		struct peer *p = &cc->peers[cc->n_peers++];
		memset(p, 0, sizeof *p);
		p->cc = cc;
		p->id = c->members[i].id;
		p->addr = c->members[i].raft_addr;
		peer_connect(p);
	}
}

void peers_tick(struct core_ctx *cc, uint64_t now_ns)
{
	for (uint32_t i = 0; i < cc->n_peers; i++) {
		struct peer *p = &cc->peers[i];
		if (!p->client) {
			if (now_ns >= p->retry_at_ns)
				peer_connect(p);
		} else if (!p->call && transport_client_ready(p->client)) {
			peer_start_call(p);
		}
	}
}

void peers_stop(struct core_ctx *cc)
{
	for (uint32_t i = 0; i < cc->n_peers; i++) {
		struct peer *p = &cc->peers[i];
		if (p->client) {
			struct transport_client *c = p->client;
			p->client = NULL;
			p->call = NULL;
			transport_client_free(c);
		}
	}
	cc->n_peers = 0;
}

void peers_send_frame(void *ctx, uint64_t to_node, const uint8_t *frame, size_t len)
{
	struct core_ctx *cc = ctx;
	for (uint32_t i = 0; i < cc->n_peers; i++) {
		struct peer *p = &cc->peers[i];
		if (p->id != to_node)
			continue;
		if (!p->call || grpc_client_call_send_msg(p->call, frame, len) != 0) {
			p->frames_dropped++;
			return;
		}
		p->frames_sent++;
		return;
	}
}

/* ---- server side ------------------------------------------------------------------------------ */

struct frame_msg {
	size_t len;
	uint8_t data[];
};

static void frame_run(struct core_ctx *cc, void *arg)
{
	struct frame_msg *m = arg;
	if (!cc->stopping && host_receive_frame(cc->host, m->data, m->len) != 0)
		LOG_DEBUG("raft: dropped an undecodable frame");
	free(m);
}

static void raft_on_start(struct grpc_call *call)
{
	struct core_ctx *cc = grpc_call_method_ctx(call);
	size_t len = 0;
	const char *core = grpc_call_header(call, "x-regatta-core", &len);
	char buf[16];
	if (!core || len == 0 || len >= sizeof buf) {
		grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "x-regatta-core is required");
		return;
	}
	memcpy(buf, core, len);
	buf[len] = 0;
	char *end;
	long c = strtol(buf, &end, 10);
	if (*end || c < 0 || c >= cc->node->cores) {
		LOG_ERROR("raft: a peer sends for core %s but this node runs %d cores: every node of a "
			  "cluster must run with the same --cores", buf, cc->node->cores);
		grpc_call_finish(call, GRPC_STATUS_FAILED_PRECONDITION, "peer core count differs from this node's --cores");
		return;
	}
	grpc_call_set_user(call, (void *)(intptr_t)(c + 1));
}

static void raft_on_message(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct core_ctx *cc = grpc_call_method_ctx(call);
	intptr_t target = (intptr_t)grpc_call_user(call) - 1;
	if (target < 0)
		return;
	if (target == cc->core) {
		if (host_receive_frame(cc->host, msg, len) != 0)
			LOG_DEBUG("raft: dropped an undecodable frame");
		return;
	}
	struct frame_msg *m = malloc(sizeof *m + len);
	if (!m)
		return;
	m->len = len;
	memcpy(m->data, msg, len);
	if (node_post(cc->node, (int)target, frame_run, m))
		free(m); /* the other core is saturated: drop, Raft retransmits */
}

static void raft_on_half_close(struct grpc_call *call) { grpc_call_finish(call, GRPC_STATUS_OK, NULL); }
static void raft_on_cancel(struct grpc_call *call, int status) { grpc_call_finish(call, status, NULL); }

int peers_register(struct core_ctx *cc)
{
	struct grpc_method m = {.path = RAFT_STREAM_PATH,
				.kind = GRPC_METHOD_CLIENT_STREAMING,
				.on_start = raft_on_start,
				.on_message = raft_on_message,
				.on_half_close = raft_on_half_close,
				.on_cancel = raft_on_cancel,
				.ctx = cc};
	return grpc_server_register(cc->raft_grpc, &m);
}
