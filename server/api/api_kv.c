/*
 * api_kv.c — regatta.v1.KV: Range, Put, DeleteRange, Txn (IterateRange: api_iter.c).
 *
 * Validation follows docs/kv-semantics.md and happens on the origin core, before anything is
 * routed; the owner core turns the request into an engine call (host_propose / host_read) and
 * the engine's answer into the response. "No leader yet" and "table replica not created yet"
 * (right after Tables.Create) are retried until the deadline, then UNAVAILABLE.
 */
#include "server/api/api.h"
#include "core/assert.h"
#include "core/log.h"
#include "proto/decode.h"
#include "server/kv/kv_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_DEFAULT_TIMEOUT_NS (5ull * 1000000000ull) /* Regatta's defaultQueryTimeout */

const ProtobufCMessageDescriptor *api_request_desc(enum api_method m)
{
	switch (m) {
	case API_RANGE:
	case API_ITERATE_RANGE: return &regatta__v1__range_request__descriptor;
	case API_PUT: return &regatta__v1__put_request__descriptor;
	case API_DELETE_RANGE: return &regatta__v1__delete_range_request__descriptor;
	case API_TXN: return &regatta__v1__txn_request__descriptor;
	case API_TABLES_CREATE: return &regatta__v1__create_table_request__descriptor;
	case API_TABLES_DELETE: return &regatta__v1__delete_table_request__descriptor;
	case API_TABLES_LIST: return &regatta__v1__list_tables_request__descriptor;
	case API_CLUSTER_MEMBERS: return &regatta__v1__member_list_request__descriptor;
	case API_CLUSTER_STATUS: return &regatta__v1__status_request__descriptor;
	}
	UNREACHABLE();
}

/* ---- engine answers -------------------------------------------------------------------------- */

/* A proposal's failure: retry what is safe to retry, map the rest. */
static void propose_failed(struct api_req *r, int status)
{
	switch (status) {
	case ERR_AGAIN: /* the entry lost its log position: it was not applied, propose again */
		api_retry_later(r, "leader changed; no leader confirmed the write in time");
		return;
	case ERR_TIMEOUT:
		api_fail(r, GRPC_STATUS_DEADLINE_EXCEEDED, "the write was not confirmed before the deadline");
		return;
	case ERR_STOPPED:
		api_fail(r, GRPC_STATUS_UNAVAILABLE, "the table stopped (deleted, or the node is shutting down)");
		return;
	case ERR_INVAL:
	case ERR_TOOBIG:
		api_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "the request was refused as invalid");
		return;
	default:
		api_fail(r, api_status_of(status), "%s", err_str(status));
		return;
	}
}

/* host_propose/host_read refused at once: retry the transient reasons. */
static void engine_refused(struct api_req *r, int rc)
{
	switch (rc) {
	case ERR_NOTLEADER:
		api_retry_later(r, "the table has no leader yet; retry");
		return;
	case ERR_NOTFOUND: /* the catalogue knows it, the replica is not created yet (or gone) */
		api_retry_later(r, "table not ready yet; retry");
		return;
	case ERR_AGAIN:
	case ERR_BUSY:
		api_retry_later(r, "the server is busy; retry");
		return;
	default:
		api_fail(r, api_status_of(rc), "%s", err_str(rc));
		return;
	}
}

static int result_too_big(struct api_req *r, const struct host_propose_result *res)
{
	if (res->out.result_err) {
		api_fail(r, GRPC_STATUS_RESOURCE_EXHAUSTED,
			 "applied at revision %" PRId64 ", but the answer (prev_kv) is too large to return",
			 res->revision);
		return 1;
	}
	return 0;
}

static void put_done(void *ctx, const struct host_propose_result *res)
{
	struct api_req *r = ctx;
	if (res->status) {
		propose_failed(r, res->status);
		return;
	}
	if (result_too_big(r, res))
		return;
	Regatta__V1__PutResponse *resp = arena_alloc(r->a, sizeof *resp);
	if (!resp) {
		api_reply(r, NULL);
		return;
	}
	regatta__v1__put_response__init(resp);
	resp->header = api_header(r, (uint64_t)res->revision, res->term, res->leader);
	if (res->out.n_responses == 1 && res->out.responses[0]->response_case == MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_PUT)
		resp->prev_kv = res->out.responses[0]->response_put->prev_kv;
	api_reply(r, &resp->base);
}

static void delete_done(void *ctx, const struct host_propose_result *res)
{
	struct api_req *r = ctx;
	if (res->status) {
		propose_failed(r, res->status);
		return;
	}
	if (result_too_big(r, res))
		return;
	Regatta__V1__DeleteRangeResponse *resp = arena_alloc(r->a, sizeof *resp);
	if (!resp) {
		api_reply(r, NULL);
		return;
	}
	regatta__v1__delete_range_response__init(resp);
	resp->header = api_header(r, (uint64_t)res->revision, res->term, res->leader);
	if (res->out.n_responses == 1 &&
	    res->out.responses[0]->response_case == MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE) {
		const Mvcc__V1__ResponseOp__DeleteRange *d = res->out.responses[0]->response_delete_range;
		resp->deleted = d->deleted;
		resp->prev_kvs = d->prev_kvs;
		resp->n_prev_kvs = d->n_prev_kvs;
	}
	api_reply(r, &resp->base);
}

static void txn_answer(struct api_req *r, const struct kv_apply_out *out, uint64_t revision, uint64_t term,
		       uint64_t leader)
{
	Regatta__V1__TxnResponse *resp = arena_alloc(r->a, sizeof *resp);
	if (!resp) {
		api_reply(r, NULL);
		return;
	}
	regatta__v1__txn_response__init(resp);
	resp->header = api_header(r, revision, term, leader);
	resp->succeeded = out->txn_succeeded;
	resp->responses = out->responses;
	resp->n_responses = out->n_responses;
	api_reply(r, &resp->base);
}

static void txn_done(void *ctx, const struct host_propose_result *res)
{
	struct api_req *r = ctx;
	if (res->status) {
		propose_failed(r, res->status);
		return;
	}
	if (result_too_big(r, res))
		return;
	txn_answer(r, &res->out, (uint64_t)res->revision, res->term, res->leader);
}

static void txn_read_ready(void *ctx, const struct host_read_ready *rr)
{
	struct api_req *r = ctx;
	if (rr->status) {
		engine_refused(r, rr->status);
		return;
	}
	const Regatta__V1__TxnRequest *q = (const Regatta__V1__TxnRequest *)r->req;
	Mvcc__V1__Txn txn;
	mvcc__v1__txn__init(&txn);
	txn.compare = q->compare;
	txn.n_compare = q->n_compare;
	txn.success = q->success;
	txn.n_success = q->n_success;
	txn.failure = q->failure;
	txn.n_failure = q->n_failure;
	struct kv_apply_out out;
	int rc = kv_store_txn_readonly(rr->store, &txn, r->a, &out);
	if (rc) {
		api_fail(r, rc == ERR_TOOBIG ? GRPC_STATUS_RESOURCE_EXHAUSTED : api_status_of(rc), "%s", err_str(rc));
		return;
	}
	txn_answer(r, &out, (uint64_t)rr->revision, rr->term, rr->leader);
}

static void range_ready(void *ctx, const struct host_read_ready *rr)
{
	struct api_req *r = ctx;
	if (rr->status) {
		engine_refused(r, rr->status);
		return;
	}
	const Regatta__V1__RangeRequest *q = (const Regatta__V1__RangeRequest *)r->req;
	struct kv_range k = {.key = q->key.data, .key_len = q->key.len, .range_end = q->range_end.data,
			     .range_end_len = q->range_end.len, .limit = q->limit, .keys_only = q->keys_only,
			     .count_only = q->count_only, .min_mod_revision = q->min_mod_revision,
			     .max_mod_revision = q->max_mod_revision, .min_create_revision = q->min_create_revision,
			     .max_create_revision = q->max_create_revision};
	struct kv_range_result res;
	int rc = kv_store_range(rr->store, NULL, &k, r->a, &res);
	if (rc) {
		api_fail(r, rc == ERR_NOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED : api_status_of(rc), "range: %s", err_str(rc));
		return;
	}
	Regatta__V1__RangeResponse *resp = arena_alloc(r->a, sizeof *resp);
	if (!resp) {
		api_reply(r, NULL);
		return;
	}
	regatta__v1__range_response__init(resp);
	resp->header = api_header(r, (uint64_t)rr->revision, rr->term, rr->leader);
	resp->kvs = res.kvs;
	resp->n_kvs = res.n_kvs;
	resp->more = res.more;
	resp->count = res.count;
	api_reply(r, &resp->base);
}

/* ---- executing on the owner --------------------------------------------------------------- */

static void propose(struct api_req *r, Mvcc__V1__Command *cmd, host_propose_cb cb)
{
	char msg[160];
	int rc = kv_command_validate(cmd, msg, sizeof msg);
	if (rc) {
		api_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "%s", msg);
		return;
	}
	rc = host_propose(r->exec->host, r->table_id, cmd, r->a, r->deadline_ns, cb, r);
	if (rc)
		engine_refused(r, rc);
}

static Mvcc__V1__Command *command_new(struct api_req *r, ProtobufCBinaryData table)
{
	Mvcc__V1__Command *c = arena_alloc(r->a, sizeof *c);
	if (c) {
		mvcc__v1__command__init(c);
		c->table = table;
	}
	return c;
}

void api_kv_exec(struct api_req *r)
{
	struct host *h = r->exec->host;
	switch (r->method) {
	case API_RANGE: {
		const Regatta__V1__RangeRequest *q = (const Regatta__V1__RangeRequest *)r->req;
		int rc = host_read(h, r->table_id, q->linearizable ? HOST_READ_LINEARIZABLE : HOST_READ_SERIALIZABLE,
				   r->deadline_ns, range_ready, r);
		if (rc)
			engine_refused(r, rc);
		return;
	}
	case API_PUT: {
		const Regatta__V1__PutRequest *q = (const Regatta__V1__PutRequest *)r->req;
		Mvcc__V1__Command *c = command_new(r, q->table);
		Mvcc__V1__KeyValue *kv = arena_alloc(r->a, sizeof *kv);
		if (!c || !kv) {
			api_reply(r, NULL);
			return;
		}
		mvcc__v1__key_value__init(kv);
		kv->key = q->key;
		kv->value = q->value;
		c->type = MVCC__V1__COMMAND__COMMAND_TYPE__PUT;
		c->kv = kv;
		c->prev_kvs = q->prev_kv;
		propose(r, c, put_done);
		return;
	}
	case API_DELETE_RANGE: {
		const Regatta__V1__DeleteRangeRequest *q = (const Regatta__V1__DeleteRangeRequest *)r->req;
		Mvcc__V1__Command *c = command_new(r, q->table);
		Mvcc__V1__KeyValue *kv = arena_alloc(r->a, sizeof *kv);
		if (!c || !kv) {
			api_reply(r, NULL);
			return;
		}
		mvcc__v1__key_value__init(kv);
		kv->key = q->key;
		c->type = MVCC__V1__COMMAND__COMMAND_TYPE__DELETE;
		c->kv = kv;
		if (q->range_end.len) {
			c->_range_end_case = MVCC__V1__COMMAND___RANGE_END_RANGE_END;
			c->range_end = q->range_end;
		}
		c->prev_kvs = q->prev_kv;
		c->count = q->count;
		propose(r, c, delete_done);
		return;
	}
	case API_TXN: {
		const Regatta__V1__TxnRequest *q = (const Regatta__V1__TxnRequest *)r->req;
		Mvcc__V1__Command *c = command_new(r, q->table);
		Mvcc__V1__Txn *t = arena_alloc(r->a, sizeof *t);
		if (!c || !t) {
			api_reply(r, NULL);
			return;
		}
		mvcc__v1__txn__init(t);
		t->compare = q->compare;
		t->n_compare = q->n_compare;
		t->success = q->success;
		t->n_success = q->n_success;
		t->failure = q->failure;
		t->n_failure = q->n_failure;
		c->type = MVCC__V1__COMMAND__COMMAND_TYPE__TXN;
		c->_txn_case = MVCC__V1__COMMAND___TXN_TXN;
		c->txn = t;
		if (kv_txn_is_readonly(t)) {
			/* Read-only: not proposed; served as a linearizable read (Regatta does so). */
			char msg[160];
			int rc = kv_command_validate(c, msg, sizeof msg);
			if (rc) {
				api_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "%s", msg);
				return;
			}
			rc = host_read(h, r->table_id, HOST_READ_LINEARIZABLE, r->deadline_ns, txn_read_ready, r);
			if (rc)
				engine_refused(r, rc);
			return;
		}
		propose(r, c, txn_done);
		return;
	}
	default:
		UNREACHABLE();
	}
}

/* ---- arriving on the origin --------------------------------------------------------------- */

struct method_ctx {
	struct core_ctx *cc;
	enum api_method m;
};

static int check_key(const ProtobufCBinaryData *k, const char **why)
{
	if (k->len == 0) {
		*why = "key must be set";
		return -1;
	}
	if (k->len > LIMIT_KEY_BYTES) {
		*why = "key is longer than 1 KiB";
		return -1;
	}
	return 0;
}

/* Method-specific checks before routing (docs/kv-semantics.md §1-§7). */
static const char *validate(enum api_method m, const ProtobufCMessage *req, ProtobufCBinaryData *table)
{
	const char *why = NULL;
	switch (m) {
	case API_RANGE:
	case API_ITERATE_RANGE: {
		const Regatta__V1__RangeRequest *q = (const Regatta__V1__RangeRequest *)req;
		*table = q->table;
		if (q->limit < 0)
			return "limit must be a positive number";
		if (q->keys_only && q->count_only)
			return "keys_only and count_only must not be set at the same time";
		if (check_key(&q->key, &why))
			return why;
		if (q->range_end.len > LIMIT_KEY_BYTES)
			return "range_end is longer than 1 KiB";
		return NULL;
	}
	case API_PUT: {
		const Regatta__V1__PutRequest *q = (const Regatta__V1__PutRequest *)req;
		*table = q->table;
		if (check_key(&q->key, &why))
			return why;
		if (q->value.len > LIMIT_VALUE_BYTES)
			return "value is larger than 2 MiB";
		return NULL;
	}
	case API_DELETE_RANGE: {
		const Regatta__V1__DeleteRangeRequest *q = (const Regatta__V1__DeleteRangeRequest *)req;
		*table = q->table;
		if (check_key(&q->key, &why))
			return why;
		if (q->range_end.len > LIMIT_KEY_BYTES)
			return "range_end is longer than 1 KiB";
		return NULL;
	}
	case API_TXN: {
		const Regatta__V1__TxnRequest *q = (const Regatta__V1__TxnRequest *)req;
		*table = q->table;
		return NULL; /* ops are checked with kv_command_validate on the owner */
	}
	default:
		UNREACHABLE();
	}
}

static void kv_on_message(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct method_ctx *mc = grpc_call_method_ctx(call);
	struct core_ctx *cc = mc->cc;
	struct arena *a = grpc_call_arena(call);
	struct proto_error perr;
	ProtobufCMessage *req;
	if (proto_decode(api_request_desc(mc->m), msg, len, a, NULL, &req, &perr)) {
		grpc_call_finish(call, proto_error_grpc_status(perr.code), perr.msg);
		return;
	}
	ProtobufCBinaryData table = {0};
	const char *why = validate(mc->m, req, &table);
	if (table.len == 0) {
		grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "table must be set");
		return;
	}
	if (why) {
		grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, why);
		return;
	}
	const struct table_ref *t = table_map_find(&cc->tables, table.data, table.len);
	if (!t) {
		grpc_call_finish(call, GRPC_STATUS_NOT_FOUND, "table not found");
		return;
	}
	if (mc->m == API_ITERATE_RANGE) {
		api_iter_start(cc, call, msg, len);
		return;
	}
	struct api_req *r = calloc(1, sizeof *r);
	if (!r) {
		grpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	r->origin = cc;
	r->call = call;
	r->method = mc->m;
	r->table_id = t->id;
	r->owner = node_owner_core(cc->node, t->id);
	uint64_t dl = grpc_call_deadline_ns(call);
	uint64_t now = reactor_now_ns(cc->r);
	r->deadline_ns = dl != UINT64_MAX ? dl : now + API_DEFAULT_TIMEOUT_NS;
	r->a = a;
	r->req = req;
	grpc_call_set_user(call, r);
	api_dispatch(r, msg, len);
}

static void kv_on_cancel(struct grpc_call *call, int status)
{
	struct api_req *r = grpc_call_user(call);
	if (r)
		r->canceled = 1; /* the work finishes and its finish() is then a no-op */
	else
		grpc_call_finish(call, status, NULL);
}

int api_kv_register(struct core_ctx *cc)
{
	static const struct {
		const char *path;
		enum api_method m;
		enum grpc_method_kind kind;
	} methods[] = {
		{"/regatta.v1.KV/Range", API_RANGE, GRPC_METHOD_UNARY},
		{"/regatta.v1.KV/Put", API_PUT, GRPC_METHOD_UNARY},
		{"/regatta.v1.KV/DeleteRange", API_DELETE_RANGE, GRPC_METHOD_UNARY},
		{"/regatta.v1.KV/Txn", API_TXN, GRPC_METHOD_UNARY},
		{"/regatta.v1.KV/IterateRange", API_ITERATE_RANGE, GRPC_METHOD_SERVER_STREAMING},
	};
	size_t n = sizeof methods / sizeof methods[0];
	struct method_ctx *ctx = arena_alloc(&cc->scratch, n * sizeof *ctx);
	if (!ctx)
		return ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		ctx[i] = (struct method_ctx){.cc = cc, .m = methods[i].m};
		struct grpc_method gm = {.path = methods[i].path,
					 .kind = methods[i].kind,
					 .on_message = kv_on_message,
					 .on_cancel = kv_on_cancel,
					 .ctx = &ctx[i]};
		if (methods[i].m == API_ITERATE_RANGE) {
			gm.on_cancel = api_iter_on_cancel;
			gm.on_writable = api_iter_on_writable;
		}
		int rc = grpc_server_register(cc->api_grpc, &gm);
		if (rc)
			return rc;
	}
	return 0;
}
