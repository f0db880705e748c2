/*
 * api_iter.c — regatta.v1.KV/IterateRange: one point-in-time view (an LSM snapshot taken on the
 * table's owner core) streamed as RangeResponse chunks of at most 4 MiB each.
 *
 * The origin core holds the call, the owner core holds the snapshot. They pass the iteration
 * back and forth, one chunk at a time: owner produces a chunk → origin sends it → once the
 * call's send queue has room, origin asks for the next. So at most one chunk per stream is in
 * memory, and a slow client slows its own stream only. Deleting the table ends its streams
 * (api_table_removed releases their snapshots) with UNAVAILABLE.
 */
#include "server/api/api.h"
#include "core/assert.h"
#include "core/log.h"
#include "proto/decode.h"
#include "server/kv/kv_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct api_iter {
	/* origin side */
	struct core_ctx *origin;
	struct grpc_call *call;
	int canceled;
	int waiting_writable;
	/* shared description */
	uint64_t table_id;
	int owner;
	uint64_t deadline_ns;
	uint8_t *bytes; /* the request (malloc) */
	size_t len;
	/* owner side */
	struct core_ctx *exec;
	struct arena arena;
	const Regatta__V1__RangeRequest *req;
	struct lsm_snapshot *snap;
	struct lsm_tree *tree;
	int64_t revision;
	uint64_t term, leader;
	uint8_t next_key[LIMIT_KEY_BYTES + 2];
	size_t next_len;
	int64_t remaining; /* limit left; -1 = none */
	int opened;
	int aborted;
	struct api_iter *next_on_core;
	struct io_op retry;
	/* the chunk in flight (malloc), or the final status */
	uint8_t *chunk;
	size_t chunk_len;
	int last;
	int status;
	char msg[256];
};

static void iter_produce(struct api_iter *it);
static void origin_chunk(struct core_ctx *cc, void *arg);

/* ---- owner side --------------------------------------------------------------------------- */

static void owner_release(struct api_iter *it)
{
	if (it->snap && it->tree && !it->aborted)
		lsm_tree_snapshot_release(it->tree, it->snap);
	it->snap = NULL;
	struct api_iter **pp = &it->exec->iters;
	while (*pp && *pp != it)
		pp = &(*pp)->next_on_core;
	if (*pp)
		*pp = it->next_on_core;
	if (it->opened)
		arena_deinit(&it->arena);
	it->opened = 0;
}

static void send_back(struct api_iter *it)
{
	for (int attempt = 0;; attempt++) {
		int rc = node_post(it->exec->node, it->origin->core, origin_chunk, it);
		if (rc == 0)
			return;
		if (rc == ERR_STOPPED || attempt > 100000)
			return;
		struct timespec ts = {0, 50000};
		nanosleep(&ts, NULL);
	}
}

static void iter_fail(struct api_iter *it, int status, const char *msg)
{
	it->status = status;
	snprintf(it->msg, sizeof it->msg, "%s", msg);
	it->last = 1;
	free(it->chunk);
	it->chunk = NULL;
	owner_release(it);
	send_back(it);
}

void api_table_removed(struct core_ctx *cc, uint64_t table_id)
{
	for (struct api_iter *it = cc->iters; it; it = it->next_on_core) {
		if (it->table_id != table_id || !it->snap)
			continue;
		lsm_tree_snapshot_release(it->tree, it->snap);
		it->snap = NULL;
		it->aborted = 1; /* the next chunk request ends the stream */
	}
}

static void iter_produce(struct api_iter *it)
{
	if (it->aborted || !it->snap) {
		iter_fail(it, GRPC_STATUS_UNAVAILABLE, "the table was deleted during the iteration");
		return;
	}
	struct replica *rep = it->exec->host ? host_table_find(it->exec->host, it->table_id) : NULL;
	struct kv_store *store = rep ? replica_store(rep) : NULL;
	if (!store) {
		iter_fail(it, GRPC_STATUS_UNAVAILABLE, "the table is gone");
		return;
	}
	arena_reset(&it->arena);
	/* The request lives in the arena too: decode it again after the reset. */
	struct proto_error perr;
	ProtobufCMessage *m;
	if (proto_decode(&regatta__v1__range_request__descriptor, it->bytes, it->len, &it->arena, NULL, &m, &perr)) {
		iter_fail(it, GRPC_STATUS_INVALID_ARGUMENT, perr.msg);
		return;
	}
	it->req = (const Regatta__V1__RangeRequest *)m;
	const Regatta__V1__RangeRequest *q = it->req;
	struct kv_range k = {.key = it->next_len ? it->next_key : q->key.data,
			     .key_len = it->next_len ? it->next_len : q->key.len,
			     .range_end = q->range_end.data, .range_end_len = q->range_end.len,
			     .limit = it->remaining > 0 ? it->remaining : 0, .keys_only = q->keys_only,
			     .count_only = q->count_only, .min_mod_revision = q->min_mod_revision,
			     .max_mod_revision = q->max_mod_revision, .min_create_revision = q->min_create_revision,
			     .max_create_revision = q->max_create_revision};
	/* A continuation key of a single-key request never happens (one chunk). */
	struct kv_range_result res;
	int rc = kv_store_range(store, it->snap, &k, &it->arena, &res);
	if (rc) {
		iter_fail(it, GRPC_STATUS_FAILED_PRECONDITION, err_str(rc));
		return;
	}
	Regatta__V1__RangeResponse resp;
	regatta__v1__range_response__init(&resp);
	Regatta__V1__ResponseHeader h;
	regatta__v1__response_header__init(&h);
	h.shard_id = it->table_id;
	h.replica_id = it->exec->node->cfg.node_id;
	h.revision = (uint64_t)it->revision;
	h.raft_term = it->term;
	h.raft_leader_id = it->leader;
	resp.header = &h;
	resp.kvs = res.kvs;
	resp.n_kvs = res.n_kvs;
	resp.count = res.count;
	int limit_done = 0;
	if (it->remaining > 0) {
		int64_t used = q->count_only ? res.count : (int64_t)res.n_kvs;
		it->remaining -= used;
		limit_done = it->remaining <= 0;
	}
	/* more=true on every chunk but the last; a limit-ended last chunk says whether keys remain */
	it->last = !res.more || limit_done || q->range_end.len == 0 || q->count_only;
	resp.more = res.more;
	if (!it->last && res.n_kvs > 0) {
		const Mvcc__V1__KeyValue *lastkv = res.kvs[res.n_kvs - 1];
		ASSERT(lastkv->key.len <= LIMIT_KEY_BYTES);
		memcpy(it->next_key, lastkv->key.data, lastkv->key.len);
		it->next_key[lastkv->key.len] = 0; /* the smallest key after it */
		it->next_len = lastkv->key.len + 1;
	} else {
		it->last = 1;
	}
	size_t len = regatta__v1__range_response__get_packed_size(&resp);
	it->chunk = malloc(len ? len : 1);
	if (!it->chunk) {
		iter_fail(it, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	regatta__v1__range_response__pack(&resp, it->chunk);
	it->chunk_len = len;
	it->status = GRPC_STATUS_OK;
	if (it->last)
		owner_release(it);
	send_back(it);
}

static void iter_ready(void *ctx, const struct host_read_ready *rr)
{
	struct api_iter *it = ctx;
	if (rr->status) {
		if ((rr->status == ERR_NOTLEADER || rr->status == ERR_AGAIN) &&
		    reactor_now_ns(it->exec->r) < it->deadline_ns) {
			iter_fail(it, GRPC_STATUS_UNAVAILABLE, "the table has no leader; retry");
			return;
		}
		iter_fail(it, api_status_of(rr->status), err_str(rr->status));
		return;
	}
	it->tree = kv_store_tree(rr->store);
	if (lsm_tree_snapshot(it->tree, &it->snap)) {
		it->snap = NULL;
		iter_fail(it, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot take a snapshot");
		return;
	}
	it->revision = rr->revision;
	it->term = rr->term;
	it->leader = rr->leader;
	it->next_on_core = it->exec->iters;
	it->exec->iters = it;
	iter_produce(it);
}

static void owner_open(struct core_ctx *cc, void *arg)
{
	struct api_iter *it = arg;
	it->exec = cc;
	arena_init(&it->arena, 64u << 10, LIMIT_REQUEST_ARENA_BYTES + LIMIT_RESPONSE_BYTES * 2);
	it->opened = 1;
	struct proto_error perr;
	ProtobufCMessage *m;
	if (proto_decode(&regatta__v1__range_request__descriptor, it->bytes, it->len, &it->arena, NULL, &m, &perr)) {
		iter_fail(it, GRPC_STATUS_INVALID_ARGUMENT, perr.msg);
		return;
	}
	it->req = (const Regatta__V1__RangeRequest *)m;
	it->remaining = it->req->limit > 0 ? it->req->limit : -1;
	if (cc->stopping || !cc->host) {
		iter_fail(it, GRPC_STATUS_UNAVAILABLE, "the node is shutting down");
		return;
	}
	int rc = host_read(cc->host, it->table_id,
			   it->req->linearizable ? HOST_READ_LINEARIZABLE : HOST_READ_SERIALIZABLE, it->deadline_ns,
			   iter_ready, it);
	if (rc)
		iter_fail(it, rc == ERR_NOTLEADER || rc == ERR_NOTFOUND ? GRPC_STATUS_UNAVAILABLE : api_status_of(rc),
			  rc == ERR_NOTFOUND ? "table not ready yet; retry" : err_str(rc));
}

static void owner_next(struct core_ctx *cc, void *arg) { iter_produce(arg); }

static void owner_close(struct core_ctx *cc, void *arg)
{
	struct api_iter *it = arg;
	owner_release(it);
	free(it->bytes);
	free(it->chunk);
	free(it);
}

/* ---- origin side -------------------------------------------------------------------------- */

static void origin_free(struct api_iter *it)
{
	/* The owner may still hold the snapshot (a canceled stream): let it clean up. */
	if (it->opened && node_post(it->origin->node, it->owner, owner_close, it) == 0)
		return;
	free(it->bytes);
	free(it->chunk);
	free(it);
}

static void request_next(struct api_iter *it)
{
	if (node_post(it->origin->node, it->owner, owner_next, it)) {
		(void)grpc_call_finish(it->call, GRPC_STATUS_UNAVAILABLE, "the table's core is overloaded");
		origin_free(it);
	}
}

static void origin_send(struct api_iter *it)
{
	if (it->canceled) {
		(void)grpc_call_finish(it->call, GRPC_STATUS_CANCELLED, NULL);
		origin_free(it);
		return;
	}
	if (it->status != GRPC_STATUS_OK) {
		(void)grpc_call_finish(it->call, it->status, it->msg);
		origin_free(it);
		return;
	}
	int rc = grpc_call_send_msg(it->call, it->chunk, it->chunk_len);
	if (rc == ERR_AGAIN) {
		it->waiting_writable = 1;
		return;
	}
	free(it->chunk);
	it->chunk = NULL;
	if (rc) {
		(void)grpc_call_finish(it->call, grpc_status_from_err(rc), "stream send failed");
		origin_free(it);
		return;
	}
	if (it->last) {
		(void)grpc_call_finish(it->call, GRPC_STATUS_OK, NULL);
		origin_free(it);
		return;
	}
	request_next(it);
}

static void origin_chunk(struct core_ctx *cc, void *arg) { origin_send(arg); }

void api_iter_on_writable(struct grpc_call *call)
{
	struct api_iter *it = grpc_call_user(call);
	if (it && it->waiting_writable) {
		it->waiting_writable = 0;
		origin_send(it);
	}
}

void api_iter_on_cancel(struct grpc_call *call, int status)
{
	struct api_iter *it = grpc_call_user(call);
	if (!it) {
		grpc_call_finish(call, status, NULL);
		return;
	}
	it->canceled = 1;
	if (it->waiting_writable) { /* nothing in flight on the owner: end here */
		it->waiting_writable = 0;
		origin_send(it);
	}
}

void api_iter_start(struct core_ctx *cc, struct grpc_call *call, const uint8_t *msg, size_t len)
{
	const struct api_iter zero = {0};
	struct api_iter *it = malloc(sizeof *it);
	uint8_t *copy = malloc(len ? len : 1);
	if (!it || !copy) {
		free(it);
		free(copy);
		grpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	*it = zero;
	if (len)
		memcpy(copy, msg, len);
	/* find the table again (the caller validated it exists) */
	struct proto_error perr;
	ProtobufCMessage *m;
	if (proto_decode(&regatta__v1__range_request__descriptor, msg, len, grpc_call_arena(call), NULL, &m, &perr)) {
		free(it);
		free(copy);
		grpc_call_finish(call, proto_error_grpc_status(perr.code), perr.msg);
		return;
	}
	const Regatta__V1__RangeRequest *q = (const Regatta__V1__RangeRequest *)m;
	const struct table_ref *t = table_map_find(&cc->tables, q->table.data, q->table.len);
	if (!t) {
		free(it);
		free(copy);
		grpc_call_finish(call, GRPC_STATUS_NOT_FOUND, "table not found");
		return;
	}
	it->origin = cc;
	it->call = call;
	it->table_id = t->id;
	it->owner = node_owner_core(cc->node, t->id);
	uint64_t dl = grpc_call_deadline_ns(call);
	it->deadline_ns = dl != UINT64_MAX ? dl : reactor_now_ns(cc->r) + 5000000000ull;
	it->bytes = copy;
	it->len = len;
	it->opened = 1; /* from here on the owner holds resources to release */
	grpc_call_set_user(call, it);
	if (node_post(cc->node, it->owner, owner_open, it)) {
		it->opened = 0;
		grpc_call_finish(call, GRPC_STATUS_UNAVAILABLE, "the table's core is overloaded");
		origin_free(it);
	}
}

void api_core_stop(struct core_ctx *cc)
{
	/* The trees close after this: every snapshot held by a stream on this core goes first. The
	 * streams' calls die with their connections. */
	for (struct api_iter *it = cc->iters; it; it = it->next_on_core) {
		if (it->snap && !it->aborted)
			lsm_tree_snapshot_release(it->tree, it->snap);
		it->snap = NULL;
		it->aborted = 1;
	}
}
