/* api_route.c — see api.h: executing requests on the owner core and answering on the origin. */
#include "server/api/api.h"
#include "core/assert.h"
#include "core/log.h"
#include "proto/decode.h"
#include "proto/regatta/v1/regatta.pb-c.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API_RETRY_NS (20ull * 1000000ull)

int api_status_of(int err)
{
	switch (err) {
	case 0: return GRPC_STATUS_OK;
	case ERR_NOTFOUND: return GRPC_STATUS_NOT_FOUND;
	case ERR_INVAL: return GRPC_STATUS_INVALID_ARGUMENT;
	case ERR_TOOBIG: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case ERR_NOTLEADER:
	case ERR_AGAIN:
	case ERR_BUSY:
	case ERR_STOPPED:
	case ERR_CLOSED:
	case ERR_CONN: return GRPC_STATUS_UNAVAILABLE;
	case ERR_TIMEOUT: return GRPC_STATUS_DEADLINE_EXCEEDED;
	case ERR_PERM: return GRPC_STATUS_PERMISSION_DENIED;
	default: return GRPC_STATUS_FAILED_PRECONDITION;
	}
}

Regatta__V1__ResponseHeader *api_header(struct api_req *r, uint64_t revision, uint64_t term, uint64_t leader)
{
	Regatta__V1__ResponseHeader *h = arena_alloc(r->a, sizeof *h);
	if (!h)
		return NULL;
	regatta__v1__response_header__init(h);
	h->shard_id = r->table_id;
	h->replica_id = r->exec->node->cfg.node_id;
	h->revision = revision;
	h->raft_term = term;
	h->raft_leader_id = leader;
	return h;
}

/* ---- answering on the origin ----------------------------------------------------------------- */

static void req_free(struct api_req *r)
{
	free(r->resp_bytes);
	free(r->bytes);
	free(r);
}

static void origin_finish(struct api_req *r)
{
	ASSERT(runtime_current_core() == r->origin->core);
	if (r->status == GRPC_STATUS_OK) {
		if (r->resp_bytes) {
			(void)grpc_call_reply(r->call, r->resp_bytes, r->resp_len);
		} else {
			ASSERT(r->resp);
			size_t len = protobuf_c_message_get_packed_size(r->resp);
			int err = 0;
			uint8_t *dst = grpc_call_send_reserve(r->call, len, &err);
			if (dst) {
				protobuf_c_message_pack(r->resp, dst);
				if (grpc_call_send_commit(r->call) == 0)
					(void)grpc_call_finish(r->call, GRPC_STATUS_OK, NULL);
				else
					(void)grpc_call_finish(r->call, GRPC_STATUS_INTERNAL, "send failed");
			} else {
				(void)grpc_call_finish(r->call, grpc_status_from_err(err), "response could not be sent");
			}
		}
	} else {
		(void)grpc_call_finish(r->call, r->status, r->msg[0] ? r->msg : NULL);
	}
	req_free(r);
}

static void origin_back(struct core_ctx *cc, void *arg) { origin_finish(arg); }

/* The executing core is done with r (status and answer set). */
static void exec_done(struct api_req *r)
{
	if (r->exec == r->origin) {
		origin_finish(r);
		return;
	}
	/* Away from the origin: encode the answer, drop our arena, go back. */
	if (r->status == GRPC_STATUS_OK && r->resp) {
		size_t len = protobuf_c_message_get_packed_size(r->resp);
		r->resp_bytes = malloc(len ? len : 1);
		if (!r->resp_bytes) {
			r->status = GRPC_STATUS_RESOURCE_EXHAUSTED;
			snprintf(r->msg, sizeof r->msg, "out of memory encoding the answer");
		} else {
			protobuf_c_message_pack(r->resp, r->resp_bytes);
			r->resp_len = len;
		}
	}
	r->resp = NULL;
	r->req = NULL;
	arena_deinit(&r->own_arena);
	r->a = NULL;
	struct node *n = r->exec->node;
	for (int attempt = 0;; attempt++) {
		int rc = node_post(n, r->origin->core, origin_back, r);
		if (rc == 0)
			return;
		if (rc == ERR_STOPPED || attempt > 100000) {
			LOG_ERROR("cannot return an answer to core %d: %s", r->origin->core, err_str(rc));
			return; /* shutting down: the origin's connection dies with it */
		}
		struct timespec ts = {0, 50000};
		nanosleep(&ts, NULL);
	}
}

void api_fail(struct api_req *r, int grpc_status, const char *fmt, ...)
{
	ASSERT(grpc_status != GRPC_STATUS_OK);
	r->status = grpc_status;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof r->msg, fmt, ap);
	va_end(ap);
	r->resp = NULL;
	exec_done(r);
}

void api_reply(struct api_req *r, ProtobufCMessage *resp)
{
	if (!resp) {
		api_fail(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "the answer does not fit in memory");
		return;
	}
	r->status = GRPC_STATUS_OK;
	r->resp = resp;
	exec_done(r);
}

/* ---- executing on the owner ------------------------------------------------------------------ */

static void exec(struct api_req *r)
{
	switch (r->method) {
	case API_RANGE:
	case API_PUT:
	case API_DELETE_RANGE:
	case API_TXN:
		api_kv_exec(r);
		return;
	default:
		api_admin_exec(r);
		return;
	}
}

static void retry_cb(struct io_op *op)
{
	struct api_req *r = op->ctx;
	if (r->exec->stopping || !r->exec->host) {
		api_fail(r, GRPC_STATUS_UNAVAILABLE, "the node is shutting down");
		return;
	}
	exec(r);
}

void api_retry_later(struct api_req *r, const char *why)
{
	uint64_t now = reactor_now_ns(r->exec->r);
	if (now + API_RETRY_NS >= r->deadline_ns || r->exec->stopping) {
		api_fail(r, GRPC_STATUS_UNAVAILABLE, "%s", why);
		return;
	}
	r->attempts++;
	memset(&r->retry, 0, sizeof r->retry);
	r->retry.cb = retry_cb;
	r->retry.ctx = r;
	reactor_timeout(r->exec->r, &r->retry, API_RETRY_NS);
}

static void remote_run(struct core_ctx *cc, void *arg)
{
	struct api_req *r = arg;
	r->exec = cc;
	if (cc->stopping || !cc->host) {
		r->a = NULL;
		api_fail(r, GRPC_STATUS_UNAVAILABLE, "the node is shutting down");
		return;
	}
	arena_init(&r->own_arena, 16u << 10, LIMIT_REQUEST_ARENA_BYTES + LIMIT_RESPONSE_BYTES * 2);
	r->a = &r->own_arena;
	struct proto_error perr;
	ProtobufCMessage *m;
	if (proto_decode(api_request_desc(r->method), r->bytes, r->len, r->a, NULL, &m, &perr)) {
		api_fail(r, proto_error_grpc_status(perr.code), "%s", perr.msg);
		return;
	}
	r->req = m;
	exec(r);
}

void api_dispatch(struct api_req *r, const uint8_t *msg, size_t len)
{
	struct core_ctx *cc = r->origin;
	if (cc->stopping || !cc->host) {
		r->exec = cc;
		api_fail(r, GRPC_STATUS_UNAVAILABLE, "the node is shutting down");
		return;
	}
	if (r->owner == cc->core) {
		r->exec = cc;
		exec(r);
		return;
	}
	/* The owner decodes its own copy: the call's arena stays with the origin. */
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy) {
		r->exec = cc;
		api_fail(r, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	if (len)
		memcpy(copy, msg, len);
	r->bytes = copy;
	r->len = len;
	r->req = NULL;
	int rc = node_post(cc->node, r->owner, remote_run, r);
	if (rc) {
		r->exec = cc;
		api_fail(r, GRPC_STATUS_UNAVAILABLE, "core %d is overloaded: %s", r->owner, err_str(rc));
	}
}
