/*
 * api_admin.c — regatta.v1.Tables (Create, Delete, List) and regatta.v1.Cluster (MemberList,
 * Status), plus the API's registration on a core.
 *
 * Tables calls run on core 0, where the metadata group lives: Create/Delete propose a
 * MetaCommand and answer once this node applied it (every node then creates or removes the
 * table's replica on its owning core). Create and Delete need "authorization: Bearer <token>"
 * when --tables.token is set (UNAUTHENTICATED otherwise). Status visits every core in turn to
 * collect its tables' states.
 */
#include "server/api/api.h"
#include "core/assert.h"
#include "core/clock.h"
#include "core/log.h"
#include "proto/decode.h"
#include "proto/internal/v1/internal.pb-c.h"
#include "server/version.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *arena_strdup(struct arena *a, const char *s)
{
	return arena_memdup(a, s, strlen(s) + 1);
}

static char *arena_printf_u64(struct arena *a, uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof buf, "%" PRIu64, v);
	return arena_strdup(a, buf);
}

static struct catalog *meta_catalog(struct core_ctx *cc)
{
	ASSERT(cc->core == 0);
	struct replica *rep = host_table_find(cc->host, HOST_META_GROUP_ID);
	return rep ? replica_catalog(rep) : NULL;
}

/* ---- Tables ---------------------------------------------------------------------------------- */

static void meta_done(void *ctx, const struct host_propose_result *res)
{
	struct api_req *r = ctx;
	if (res->status) {
		if (res->status == ERR_AGAIN) {
			api_retry_later(r, "the metadata group changed leader; retry");
			return;
		}
		api_fail(r, res->status == ERR_TIMEOUT ? GRPC_STATUS_DEADLINE_EXCEEDED : api_status_of(res->status),
			 "the catalogue change was not applied: %s", err_str(res->status));
		return;
	}
	const struct catalog_change *ch = res->change;
	if (!ch) {
		api_fail(r, GRPC_STATUS_INTERNAL, "no catalogue change reported");
		return;
	}
	if (r->method == API_TABLES_CREATE) {
		if (ch->status == ERR_EXISTS) {
			api_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "table already exists");
			return;
		}
		if (ch->status) {
			api_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "table cannot be created: %s", err_str(ch->status));
			return;
		}
		Regatta__V1__CreateTableResponse *resp = arena_alloc(r->a, sizeof *resp);
		if (!resp) {
			api_reply(r, NULL);
			return;
		}
		regatta__v1__create_table_response__init(resp);
		resp->id = arena_printf_u64(r->a, ch->table.id);
		api_reply(r, &resp->base);
		return;
	}
	if (ch->status == ERR_NOTFOUND) {
		api_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "table not found");
		return;
	}
	if (ch->status) {
		api_fail(r, GRPC_STATUS_INVALID_ARGUMENT, "table cannot be deleted: %s", err_str(ch->status));
		return;
	}
	Regatta__V1__DeleteTableResponse *resp = arena_alloc(r->a, sizeof *resp);
	if (!resp) {
		api_reply(r, NULL);
		return;
	}
	regatta__v1__delete_table_response__init(resp);
	api_reply(r, &resp->base);
}

static void tables_change(struct api_req *r)
{
	Regatta__Internal__V1__MetaCommand cmd;
	regatta__internal__v1__meta_command__init(&cmd);
	Regatta__Internal__V1__MetaCommand__CreateTable ct;
	Regatta__Internal__V1__MetaCommand__DeleteTable dt;
	uint8_t *cfg_bytes = NULL;
	if (r->method == API_TABLES_CREATE) {
		const Regatta__V1__CreateTableRequest *q = (const Regatta__V1__CreateTableRequest *)r->req;
		regatta__internal__v1__meta_command__create_table__init(&ct);
		ct.name = q->name;
		if (q->config) {
			size_t n = protobuf_c_message_get_packed_size(&q->config->base);
			cfg_bytes = arena_alloc(r->a, n ? n : 1);
			if (!cfg_bytes) {
				api_reply(r, NULL);
				return;
			}
			protobuf_c_message_pack(&q->config->base, cfg_bytes);
			ct.config.data = cfg_bytes;
			ct.config.len = n;
		}
		ct.created_unix_nanos = clock_real_ns();
		cmd.command_case = REGATTA__INTERNAL__V1__META_COMMAND__COMMAND_CREATE_TABLE;
		cmd.create_table = &ct;
	} else {
		const Regatta__V1__DeleteTableRequest *q = (const Regatta__V1__DeleteTableRequest *)r->req;
		regatta__internal__v1__meta_command__delete_table__init(&dt);
		dt.name = q->name;
		cmd.command_case = REGATTA__INTERNAL__V1__META_COMMAND__COMMAND_DELETE_TABLE;
		cmd.delete_table = &dt;
	}
	size_t len = regatta__internal__v1__meta_command__get_packed_size(&cmd);
	uint8_t *buf = arena_alloc(r->a, len ? len : 1);
	if (!buf) {
		api_reply(r, NULL);
		return;
	}
	regatta__internal__v1__meta_command__pack(&cmd, buf);
	int rc = host_propose_meta(r->exec->host, buf, len, r->a, r->deadline_ns, meta_done, r);
	if (rc == ERR_NOTLEADER || rc == ERR_AGAIN || rc == ERR_BUSY)
		api_retry_later(r, "the metadata group has no leader yet; retry");
	else if (rc)
		api_fail(r, api_status_of(rc), "%s", err_str(rc));
}

static void tables_list(struct api_req *r)
{
	struct catalog *cat = meta_catalog(r->exec);
	if (!cat) {
		api_fail(r, GRPC_STATUS_UNAVAILABLE, "the catalogue is not open");
		return;
	}
	size_t n = catalog_tables(cat);
	Regatta__V1__ListTablesResponse *resp = arena_alloc(r->a, sizeof *resp);
	Regatta__V1__TableInfo **v = arena_alloc(r->a, (n ? n : 1) * sizeof *v);
	if (!resp || !v) {
		api_reply(r, NULL);
		return;
	}
	regatta__v1__list_tables_response__init(resp);
	for (size_t i = 0; i < n; i++) {
		const struct catalog_table *t = catalog_table_at(cat, i);
		Regatta__V1__TableInfo *ti = arena_alloc(r->a, sizeof *ti);
		if (!ti) {
			api_reply(r, NULL);
			return;
		}
		regatta__v1__table_info__init(ti);
		ti->name = arena_strdup(r->a, t->name);
		ti->id = arena_printf_u64(r->a, t->id);
		if (t->config_len) {
			ProtobufCMessage *m;
			struct proto_error perr;
			if (proto_decode(&google__protobuf__struct__descriptor, t->config, t->config_len, r->a, NULL, &m,
					 &perr) == 0)
				ti->config = (Google__Protobuf__Struct *)m;
		}
		v[i] = ti;
	}
	resp->tables = v;
	resp->n_tables = n;
	api_reply(r, &resp->base);
}

/* ---- Cluster --------------------------------------------------------------------------------- */

static void member_list(struct api_req *r)
{
	struct node *n = r->exec->node;
	struct catalog *cat = meta_catalog(r->exec);
	Regatta__V1__MemberListResponse *resp = arena_alloc(r->a, sizeof *resp);
	Regatta__V1__Member **v = arena_alloc(r->a, n->cfg.n_members * sizeof *v);
	if (!resp || !v) {
		api_reply(r, NULL);
		return;
	}
	regatta__v1__member_list_response__init(resp);
	resp->cluster = n->cfg.cluster_name;
	for (uint32_t i = 0; i < n->cfg.n_members; i++) {
		const struct node_member *nm = &n->cfg.members[i];
		Regatta__V1__Member *m = arena_alloc(r->a, sizeof *m);
		char **peer = arena_alloc(r->a, sizeof *peer);
		char **client = arena_alloc(r->a, sizeof *client);
		if (!m || !peer || !client) {
			api_reply(r, NULL);
			return;
		}
		regatta__v1__member__init(m);
		m->id = arena_printf_u64(r->a, nm->id);
		m->name = "";
		peer[0] = (char *)(uintptr_t)nm->raft_addr;
		m->peerurls = peer;
		m->n_peerurls = 1;
		for (size_t k = 0; cat && k < catalog_nodes(cat); k++) {
			const struct catalog_node *cn = catalog_node_at(cat, k);
			if (cn->node_id != nm->id)
				continue;
			m->name = arena_strdup(r->a, cn->name);
			client[0] = arena_strdup(r->a, cn->api_url);
			m->clienturls = client;
			m->n_clienturls = 1;
		}
		v[i] = m;
	}
	resp->members = v;
	resp->n_members = n->cfg.n_members;
	api_reply(r, &resp->base);
}

/* Status: the request visits core 0, 1, ... N-1 (each adds its tables), then answers on the
 * origin. Only one core touches the accumulator at a time (it travels with the request). */
struct status_acc {
	size_t n, cap;
	struct host_table_status *v;
	int visited;
};

static int status_add(void *ctx, uint64_t id)
{
	struct api_req *r = ctx;
	struct status_acc *acc = r->state;
	if (acc->n == acc->cap) {
		size_t cap = acc->cap ? acc->cap * 2 : 16;
		struct host_table_status *v = realloc(acc->v, cap * sizeof *v);
		if (!v)
			return ERR_NOMEM;
		acc->v = v;
		acc->cap = cap;
	}
	if (host_table_status(r->exec->host, id, &acc->v[acc->n]) == 0)
		acc->n++;
	return 0;
}

static void status_finish(struct api_req *r)
{
	struct status_acc *acc = r->state;
	struct core_ctx *cc = r->exec;
	r->state = NULL;
	Regatta__V1__StatusResponse *resp = arena_alloc(r->a, sizeof *resp);
	Regatta__V1__StatusResponse__TablesEntry **ents = arena_alloc(r->a, (acc->n ? acc->n : 1) * sizeof *ents);
	if (!resp || !ents) {
		free(acc->v);
		free(acc);
		api_reply(r, NULL);
		return;
	}
	regatta__v1__status_response__init(resp);
	resp->id = arena_printf_u64(r->a, cc->node->cfg.node_id);
	resp->version = (char *)(uintptr_t)regatta_version();
	resp->info = (char *)(uintptr_t)regatta_build_info();
	size_t k = 0;
	for (size_t i = 0; i < acc->n; i++) {
		const struct host_table_status *s = &acc->v[i];
		const char *name = NULL;
		if (s->table_id == HOST_META_GROUP_ID)
			name = "_meta";
		for (size_t t = 0; !name && t < cc->tables.n; t++)
			if (cc->tables.v[t].id == s->table_id)
				name = cc->tables.v[t].name;
		if (!name)
			continue; /* a table being removed */
		Regatta__V1__StatusResponse__TablesEntry *e = arena_alloc(r->a, sizeof *e);
		Regatta__V1__TableStatus *ts = arena_alloc(r->a, sizeof *ts);
		if (!e || !ts)
			break;
		regatta__v1__status_response__tables_entry__init(e);
		regatta__v1__table_status__init(ts);
		e->key = arena_strdup(r->a, name);
		ts->logsize = (int64_t)s->log_bytes;
		ts->dbsize = (int64_t)s->lsm_bytes;
		ts->leader = arena_printf_u64(r->a, s->leader);
		ts->raftindex = s->commit;
		ts->raftterm = s->term;
		ts->raftappliedindex = s->applied;
		if (s->error) {
			char buf[160];
			snprintf(buf, sizeof buf, "table %s: replica failed: %s", name, err_str(s->error));
			char **errs = arena_alloc(r->a, (resp->n_errors + 1) * sizeof *errs);
			if (errs) {
				if (resp->n_errors)
					memcpy(errs, resp->errors, resp->n_errors * sizeof *errs);
				errs[resp->n_errors++] = arena_strdup(r->a, buf);
				resp->errors = errs;
			}
		}
		e->value = ts;
		ents[k++] = e;
	}
	resp->tables = ents;
	resp->n_tables = k;
	free(acc->v);
	free(acc);
	api_reply(r, &resp->base);
}

static void status_visit(struct core_ctx *cc, void *arg)
{
	struct api_req *r = arg;
	struct status_acc *acc = r->state;
	int cores = cc->node->cores;
	r->exec = cc;
	if (acc->visited < cores) {
		ASSERT(cc->core == acc->visited);
		if (cc->host && host_table_foreach(cc->host, status_add, r))
			LOG_WARN("status: core %d could not report every table", cc->core);
		acc->visited++;
	}
	int next = acc->visited < cores ? acc->visited : r->origin->core;
	if (acc->visited >= cores && cc == r->origin) {
		status_finish(r);
		return;
	}
	if (node_post(cc->node, next, status_visit, r))
		LOG_ERROR("status: core %d unreachable; the call ends at its deadline", next);
}

static void cluster_status(struct api_req *r)
{
	struct status_acc *acc = calloc(1, sizeof *acc);
	if (!acc) {
		api_reply(r, NULL);
		return;
	}
	r->state = acc;
	if (node_post(r->exec->node, 0, status_visit, r)) {
		free(acc);
		r->state = NULL;
		api_fail(r, GRPC_STATUS_UNAVAILABLE, "core 0 unreachable");
	}
}

void api_admin_exec(struct api_req *r)
{
	switch (r->method) {
	case API_TABLES_CREATE:
	case API_TABLES_DELETE:
		tables_change(r);
		return;
	case API_TABLES_LIST:
		tables_list(r);
		return;
	case API_CLUSTER_MEMBERS:
		member_list(r);
		return;
	case API_CLUSTER_STATUS:
		cluster_status(r);
		return;
	default:
		UNREACHABLE();
	}
}

/* ---- arriving on the origin ------------------------------------------------------------------- */

struct admin_ctx {
	struct core_ctx *cc;
	enum api_method m;
};

static int token_ok(struct core_ctx *cc, struct grpc_call *call)
{
	const char *want = cc->node->cfg.tables_token;
	if (!want)
		return 1;
	size_t len = 0;
	const char *got = grpc_call_header(call, "authorization", &len);
	size_t wl = strlen(want);
	if (!got || len != wl + 7 || strncasecmp(got, "Bearer ", 7) != 0)
		return 0;
	/* constant-time compare of the token itself */
	unsigned diff = 0;
	for (size_t i = 0; i < wl; i++)
		diff |= (unsigned)(got[7 + i] ^ want[i]);
	return diff == 0;
}

static void admin_on_message(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct admin_ctx *mc = grpc_call_method_ctx(call);
	struct core_ctx *cc = mc->cc;
	struct arena *a = grpc_call_arena(call);
	if ((mc->m == API_TABLES_CREATE || mc->m == API_TABLES_DELETE) && !token_ok(cc, call)) {
		grpc_call_finish(call, GRPC_STATUS_UNAUTHENTICATED, "a valid bearer token is required (--tables.token)");
		return;
	}
	struct proto_error perr;
	ProtobufCMessage *req;
	if (proto_decode(api_request_desc(mc->m), msg, len, a, NULL, &req, &perr)) {
		grpc_call_finish(call, proto_error_grpc_status(perr.code), perr.msg);
		return;
	}
	if (mc->m == API_TABLES_CREATE || mc->m == API_TABLES_DELETE) {
		const char *name = mc->m == API_TABLES_CREATE ? ((Regatta__V1__CreateTableRequest *)req)->name
							       : ((Regatta__V1__DeleteTableRequest *)req)->name;
		if (!name || !name[0]) {
			grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "name must be set");
			return;
		}
		if (!catalog_name_valid(name, strlen(name))) {
			grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
					 "table names are 1-256 characters of A-Z a-z 0-9 . _ -");
			return;
		}
	}
	struct api_req *r = calloc(1, sizeof *r);
	if (!r) {
		grpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	r->origin = cc;
	r->call = call;
	r->method = mc->m;
	r->owner = 0;
	uint64_t dl = grpc_call_deadline_ns(call);
	r->deadline_ns = dl != UINT64_MAX ? dl : reactor_now_ns(cc->r) + 10000000000ull;
	r->a = a;
	r->req = req;
	grpc_call_set_user(call, r);
	if (mc->m == API_CLUSTER_STATUS) {
		r->owner = cc->core; /* status walks the cores itself */
		r->table_id = 0;
	}
	api_dispatch(r, msg, len);
}

static void admin_on_cancel(struct grpc_call *call, int status)
{
	struct api_req *r = grpc_call_user(call);
	if (r)
		r->canceled = 1;
	else
		grpc_call_finish(call, status, NULL);
}

int api_admin_register(struct core_ctx *cc)
{
	static const struct {
		const char *path;
		enum api_method m;
	} methods[] = {
		{"/regatta.v1.Tables/Create", API_TABLES_CREATE},
		{"/regatta.v1.Tables/Delete", API_TABLES_DELETE},
		{"/regatta.v1.Tables/List", API_TABLES_LIST},
		{"/regatta.v1.Cluster/MemberList", API_CLUSTER_MEMBERS},
		{"/regatta.v1.Cluster/Status", API_CLUSTER_STATUS},
	};
	size_t n = sizeof methods / sizeof methods[0];
	struct admin_ctx *ctx = arena_alloc(&cc->scratch, n * sizeof *ctx);
	if (!ctx)
		return ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		ctx[i] = (struct admin_ctx){.cc = cc, .m = methods[i].m};
		struct grpc_method gm = {.path = methods[i].path,
					 .kind = GRPC_METHOD_UNARY,
					 .on_message = admin_on_message,
					 .on_cancel = admin_on_cancel,
					 .ctx = &ctx[i]};
		int rc = grpc_server_register(cc->api_grpc, &gm);
		if (rc)
			return rc;
	}
	return 0;
}

int api_register(struct core_ctx *cc)
{
	int rc = api_kv_register(cc);
	if (rc)
		return rc;
	return api_admin_register(cc);
}

