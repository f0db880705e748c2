/*
 * regattactl — the operator's command-line client for Regatta (gRPC, our own client stack).
 *
 *   regattactl [global flags] <command> [args] [flags]
 *
 * Exit codes (scripts may rely on them):
 *   0 success (also: a get that found nothing, a txn whose compares failed — see its output)
 *   1 the server refused or failed the request for another reason
 *   2 bad usage: unknown command or flag, missing argument
 *   3 not found: the table does not exist
 *   4 unavailable: no endpoint answered, no leader, deadline passed — retry later
 *   5 permission denied: missing or wrong --token / client certificate
 *   6 invalid argument: the server refused the request as malformed (key too long, ...)
 */
#include "core/arena.h"
#include "core/limits.h"
#include "net/transport.h"
#include "proto/decode.h"
#include "proto/regatta/v1/regatta.pb-c.h"
#include "server/ctl/ctl_output.h"
#include "server/ctl/txn_parse.h"
#include "server/version.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_NOTFOUND = 3,
	EXIT_UNAVAILABLE = 4,
	EXIT_DENIED = 5,
	EXIT_INVALID = 6,
};

struct opts {
	const char *endpoints;
	int json;
	const char *cacert, *cert, *key, *token;
	int insecure;
	double timeout_s;
	/* command flags */
	int prefix, from_key, keys_only, count_only, linearizable, prev_kv, stream;
	int64_t limit;
	int64_t min_mod, max_mod, min_create, max_create;
	const char *file;
};

struct ctx {
	struct opts o;
	struct grpc_client_sync *conn;
	char endpoint[512];
	struct arena arena;
	struct net_buf resp;
	char auth[LIMIT_H2_MAX_HEADER_LIST_BYTES];
	struct grpc_md md[1];
	size_t md_count;
};

static const char USAGE[] =
	"usage: regattactl [global flags] <command> [args] [flags]\n"
	"\n"
	"commands:\n"
	"  put <table> <key> <value> [--prev-kv]\n"
	"  get <table> <key> [<range_end>] [--prefix | --from-key] [--limit N] [--keys-only]\n"
	"      [--count-only] [--linearizable] [--stream] [--min-mod-rev N] [--max-mod-rev N]\n"
	"      [--min-create-rev N] [--max-create-rev N]\n"
	"  delete <table> <key> [<range_end>] [--prefix | --from-key] [--prev-kv]\n"
	"  txn <table> [--file F]          compares, success ops and failure ops from F or stdin\n"
	"                                  (etcdctl's text form, or JSON: see docs/regattactl.md)\n"
	"  table create <name> | table delete <name> | table list\n"
	"  member list\n"
	"  status\n"
	"  version\n"
	"\n"
	"global flags:\n"
	"  --endpoints h:p[,h:p...]   servers to try in order (default 127.0.0.1:8443); a URL\n"
	"                             scheme http:// or https:// may be given\n"
	"  --json                     print JSON instead of text\n"
	"  --cacert F --cert F --key F  TLS: CA to verify the server; client cert/key (mTLS)\n"
	"  --insecure-skip-tls-verify   TLS without verifying the server\n"
	"  --token T                  bearer token (Tables create/delete, maintenance)\n"
	"  --timeout S                per-request deadline in seconds (default 5)\n"
	"\n"
	"exit codes: 0 ok, 1 failed, 2 usage, 3 table not found, 4 unavailable (retry),\n"
	"            5 permission denied, 6 invalid argument\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "regattactl: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nrun 'regattactl --help' for usage\n");
	return EXIT_USAGE;
}

static int exit_for_status(int status)
{
	switch (status) {
	case GRPC_STATUS_OK: return EXIT_OK;
	case GRPC_STATUS_NOT_FOUND: return EXIT_NOTFOUND;
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_DEADLINE_EXCEEDED: return EXIT_UNAVAILABLE;
	case GRPC_STATUS_UNAUTHENTICATED:
	case GRPC_STATUS_PERMISSION_DENIED: return EXIT_DENIED;
	case GRPC_STATUS_INVALID_ARGUMENT: return EXIT_INVALID;
	default: return EXIT_FAILED;
	}
}

static const char *hint_for_status(int status)
{
	switch (status) {
	case GRPC_STATUS_NOT_FOUND: return "check the table name with 'regattactl table list'";
	case GRPC_STATUS_UNAVAILABLE: return "the cluster may be electing a leader or a node is down; retry, or try another --endpoints";
	case GRPC_STATUS_DEADLINE_EXCEEDED: return "the request took longer than --timeout; retry or raise --timeout";
	case GRPC_STATUS_UNAUTHENTICATED:
	case GRPC_STATUS_PERMISSION_DENIED: return "pass the server's token with --token (or the right client certificate)";
	case GRPC_STATUS_UNIMPLEMENTED: return "this server does not offer that call (a follower cluster, or an older server?)";
	case GRPC_STATUS_RESOURCE_EXHAUSTED: return "the request or answer is too large; narrow the range or use --limit";
	default: return NULL;
	}
}

/* ---- connection ------------------------------------------------------------------------------- */

static int connect_any(struct ctx *c)
{
	char list[4096];
	snprintf(list, sizeof list, "%s", c->o.endpoints);
	int tls = c->o.cacert || c->o.cert || c->o.insecure;
	struct tls_config tc = {.cert_file = c->o.cert, .key_file = c->o.key, .ca_file = c->o.cacert,
				.verify_peer = !c->o.insecure};
	char *save = NULL;
	int last = 0;
	for (char *ep = strtok_r(list, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
		char url[512];
		if (strstr(ep, "://"))
			snprintf(url, sizeof url, "%s", ep);
		else
			snprintf(url, sizeof url, "%s://%s", tls ? "https" : "http", ep);
		int use_tls = strncmp(url, "https://", 8) == 0;
		last = grpc_client_sync_open(url, use_tls ? &tc : NULL,
					     (uint64_t)(c->o.timeout_s * 1e9), &c->conn);
		if (last == 0) {
			snprintf(c->endpoint, sizeof c->endpoint, "%s", ep);
			return 0;
		}
		fprintf(stderr, "regattactl: %s: %s\n", url, err_str(last));
	}
	fprintf(stderr, "regattactl: no endpoint answered (%s); is the server running? check --endpoints\n",
		c->o.endpoints);
	return EXIT_UNAVAILABLE;
}

/* One unary call; decodes the answer into *out. Returns an exit code. */
static int call(struct ctx *c, const char *path, const ProtobufCMessage *req,
		const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **out)
{
	uint8_t *bytes;
	size_t len;
	if (!c->conn && connect_any(c))
		return EXIT_UNAVAILABLE;
	if (proto_encode(req, &c->arena, &bytes, &len)) {
		fprintf(stderr, "regattactl: request too large\n");
		return EXIT_USAGE;
	}
	struct grpc_client_call_opts co = {.timeout_ns = (uint64_t)(c->o.timeout_s * 1e9),
					   .md = c->md, .md_count = c->md_count};
	int status = 0;
	char msg[1024] = "";
	net_buf_clear(&c->resp);
	int rc = grpc_client_sync_unary(c->conn, path, &co, bytes, len, &c->resp, &status, msg, sizeof msg);
	if (rc) {
		fprintf(stderr, "regattactl: %s: %s\n", path, err_str(rc));
		return EXIT_UNAVAILABLE;
	}
	if (status != GRPC_STATUS_OK) {
		fprintf(stderr, "regattactl: %s (%s)\n", msg[0] ? msg : "request failed", grpc_status_name(status));
		const char *hint = hint_for_status(status);
		if (hint)
			fprintf(stderr, "hint: %s\n", hint);
		return exit_for_status(status);
	}
	struct proto_error perr;
	rc = proto_decode(resp_desc, net_buf_head(&c->resp), net_buf_size(&c->resp), &c->arena, NULL, out, &perr);
	if (rc) {
		fprintf(stderr, "regattactl: undecodable answer from the server: %s\n", perr.msg);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static ProtobufCBinaryData bytes_of(const char *s) { return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)(uintptr_t)s}; }

/* ---- commands ---------------------------------------------------------------------------------- */

static int cmd_put(struct ctx *c, char **args, int n)
{
	if (n != 3)
		return usage_error("put needs <table> <key> <value>");
	Regatta__V1__PutRequest req;
	regatta__v1__put_request__init(&req);
	req.table = bytes_of(args[0]);
	req.key = bytes_of(args[1]);
	req.value = bytes_of(args[2]);
	req.prev_kv = c->o.prev_kv;
	Regatta__V1__PutResponse *resp;
	int rc = call(c, "/regatta.v1.KV/Put", &req.base, &regatta__v1__put_response__descriptor, (ProtobufCMessage **)&resp);
	if (rc)
		return rc;
	if (c->o.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "header", ctl_json_header(resp->header));
		if (resp->prev_kv)
			cJSON_AddItemToObject(o, "prev_kv", ctl_json_kv(resp->prev_kv));
		ctl_json_print(stdout, o);
	} else {
		printf("OK\n");
		if (resp->prev_kv)
			ctl_text_kv(stdout, resp->prev_kv, 0);
	}
	return EXIT_OK;
}

static int range_end_for(struct ctx *c, char **args, int n, ProtobufCBinaryData *end)
{
	if (n == 3 && (c->o.prefix || c->o.from_key))
		return usage_error("give either <range_end> or --prefix/--from-key");
	return ctl_range_end(&c->arena, args[1], strlen(args[1]), c->o.prefix, c->o.from_key,
			     n == 3 ? args[2] : NULL, n == 3 ? strlen(args[2]) : 0, end)
		       ? EXIT_FAILED : EXIT_OK;
}

struct get_print {
	struct ctx *c;
	cJSON *kvs;
	int64_t count;
	int more;
	int64_t revision;
};

static void print_range(struct get_print *p, const Regatta__V1__RangeResponse *r)
{
	for (size_t i = 0; i < r->n_kvs; i++) {
		if (p->c->o.json)
			cJSON_AddItemToArray(p->kvs, ctl_json_kv(r->kvs[i]));
		else
			ctl_text_kv(stdout, r->kvs[i], p->c->o.keys_only);
	}
	p->count += r->count;
	p->more = r->more;
	if (r->header)
		p->revision = (int64_t)r->header->revision;
}

static int stream_msg(void *arg, const uint8_t *msg, size_t len)
{
	struct get_print *p = arg;
	ProtobufCMessage *m;
	struct proto_error perr;
	if (proto_decode(&regatta__v1__range_response__descriptor, msg, len, &p->c->arena, NULL, &m, &perr)) {
		fprintf(stderr, "regattactl: undecodable stream message: %s\n", perr.msg);
		return 1;
	}
	print_range(p, (Regatta__V1__RangeResponse *)m);
	return 0;
}

static int cmd_get(struct ctx *c, char **args, int n)
{
	if (n < 2 || n > 3)
		return usage_error("get needs <table> <key> [<range_end>]");
	Regatta__V1__RangeRequest req;
	regatta__v1__range_request__init(&req);
	req.table = bytes_of(args[0]);
	req.key = bytes_of(args[1]);
	int rc = range_end_for(c, args, n, &req.range_end);
	if (rc)
		return rc;
	req.limit = c->o.limit;
	req.keys_only = c->o.keys_only;
	req.count_only = c->o.count_only;
	req.linearizable = c->o.linearizable;
	req.min_mod_revision = c->o.min_mod;
	req.max_mod_revision = c->o.max_mod;
	req.min_create_revision = c->o.min_create;
	req.max_create_revision = c->o.max_create;
	struct get_print p = {.c = c, .kvs = cJSON_CreateArray()};
	if (c->o.stream) {
		uint8_t *bytes;
		size_t len;
		if (!c->conn && connect_any(c)) {
			cJSON_Delete(p.kvs);
			return EXIT_UNAVAILABLE;
		}
		if (proto_encode(&req.base, &c->arena, &bytes, &len))
			return EXIT_USAGE;
		struct grpc_client_call_opts co = {.timeout_ns = (uint64_t)(c->o.timeout_s * 1e9),
						   .md = c->md, .md_count = c->md_count};
		int status = 0;
		char msg[1024] = "";
		rc = grpc_client_sync_stream(c->conn, "/regatta.v1.KV/IterateRange", &co, bytes, len, stream_msg, &p,
					     &status, msg, sizeof msg);
		if (rc) {
			cJSON_Delete(p.kvs);
			fprintf(stderr, "regattactl: IterateRange: %s\n", err_str(rc));
			return EXIT_UNAVAILABLE;
		}
		if (status != GRPC_STATUS_OK) {
			cJSON_Delete(p.kvs);
			fprintf(stderr, "regattactl: %s (%s)\n", msg[0] ? msg : "request failed", grpc_status_name(status));
			return exit_for_status(status);
		}
	} else {
		Regatta__V1__RangeResponse *resp;
		rc = call(c, "/regatta.v1.KV/Range", &req.base, &regatta__v1__range_response__descriptor,
			  (ProtobufCMessage **)&resp);
		if (rc) {
			cJSON_Delete(p.kvs);
			return rc;
		}
		print_range(&p, resp);
	}
	if (c->o.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "revision", (double)p.revision);
		cJSON_AddItemToObject(o, "kvs", p.kvs);
		cJSON_AddNumberToObject(o, "count", (double)p.count);
		cJSON_AddBoolToObject(o, "more", p.more);
		ctl_json_print(stdout, o);
	} else {
		cJSON_Delete(p.kvs);
		if (c->o.count_only)
			printf("%" PRId64 "\n", p.count);
	}
	return EXIT_OK;
}

static int cmd_delete(struct ctx *c, char **args, int n)
{
	if (n < 2 || n > 3)
		return usage_error("delete needs <table> <key> [<range_end>]");
	Regatta__V1__DeleteRangeRequest req;
	regatta__v1__delete_range_request__init(&req);
	req.table = bytes_of(args[0]);
	req.key = bytes_of(args[1]);
	int rc = range_end_for(c, args, n, &req.range_end);
	if (rc)
		return rc;
	req.prev_kv = c->o.prev_kv;
	req.count = 1;
	Regatta__V1__DeleteRangeResponse *resp;
	rc = call(c, "/regatta.v1.KV/DeleteRange", &req.base, &regatta__v1__delete_range_response__descriptor,
		  (ProtobufCMessage **)&resp);
	if (rc)
		return rc;
	if (c->o.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "header", ctl_json_header(resp->header));
		cJSON_AddNumberToObject(o, "deleted", (double)resp->deleted);
		cJSON *a = cJSON_AddArrayToObject(o, "prev_kvs");
		for (size_t i = 0; i < resp->n_prev_kvs; i++)
			cJSON_AddItemToArray(a, ctl_json_kv(resp->prev_kvs[i]));
		ctl_json_print(stdout, o);
	} else {
		printf("%" PRId64 "\n", resp->deleted);
		for (size_t i = 0; i < resp->n_prev_kvs; i++)
			ctl_text_kv(stdout, resp->prev_kvs[i], 0);
	}
	return EXIT_OK;
}

static char *read_all(FILE *f, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
		if (n == cap) {
			if (cap >= LIMIT_MESSAGE_BYTES) {
				free(buf);
				return NULL;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	*len = n;
	return buf;
}

static int cmd_txn(struct ctx *c, char **args, int n)
{
	if (n != 1)
		return usage_error("txn needs <table>");
	FILE *f = stdin;
	if (c->o.file && !(f = fopen(c->o.file, "r"))) {
		fprintf(stderr, "regattactl: cannot read %s: %s\n", c->o.file, strerror(errno));
		return EXIT_USAGE;
	}
	size_t len = 0;
	char *text = read_all(f, &len);
	if (f != stdin)
		fclose(f);
	if (!text) {
		fprintf(stderr, "regattactl: txn input too large or unreadable\n");
		return EXIT_USAGE;
	}
	Regatta__V1__TxnRequest req;
	regatta__v1__txn_request__init(&req);
	char err[256];
	int rc = ctl_txn_parse(text, len, &c->arena, &req, err, sizeof err);
	free(text);
	if (rc) {
		fprintf(stderr, "regattactl: %s\n", err);
		return EXIT_USAGE;
	}
	req.table = bytes_of(args[0]);
	Regatta__V1__TxnResponse *resp;
	rc = call(c, "/regatta.v1.KV/Txn", &req.base, &regatta__v1__txn_response__descriptor, (ProtobufCMessage **)&resp);
	if (rc)
		return rc;
	if (c->o.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "header", ctl_json_header(resp->header));
		cJSON_AddBoolToObject(o, "succeeded", resp->succeeded);
		cJSON *a = cJSON_AddArrayToObject(o, "responses");
		for (size_t i = 0; i < resp->n_responses; i++) {
			const Mvcc__V1__ResponseOp *r = resp->responses[i];
			cJSON *e = cJSON_CreateObject();
			if (r->response_case == MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_RANGE) {
				cJSON *g = cJSON_AddObjectToObject(e, "get");
				cJSON *kvs = cJSON_AddArrayToObject(g, "kvs");
				for (size_t k = 0; k < r->response_range->n_kvs; k++)
					cJSON_AddItemToArray(kvs, ctl_json_kv(r->response_range->kvs[k]));
				cJSON_AddNumberToObject(g, "count", (double)r->response_range->count);
				cJSON_AddBoolToObject(g, "more", r->response_range->more);
			} else if (r->response_case == MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_PUT) {
				cJSON *p = cJSON_AddObjectToObject(e, "put");
				if (r->response_put->prev_kv)
					cJSON_AddItemToObject(p, "prev_kv", ctl_json_kv(r->response_put->prev_kv));
			} else if (r->response_case == MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE) {
				cJSON *d = cJSON_AddObjectToObject(e, "delete");
				cJSON_AddNumberToObject(d, "deleted", (double)r->response_delete_range->deleted);
				cJSON *pk = cJSON_AddArrayToObject(d, "prev_kvs");
				for (size_t k = 0; k < r->response_delete_range->n_prev_kvs; k++)
					cJSON_AddItemToArray(pk, ctl_json_kv(r->response_delete_range->prev_kvs[k]));
			}
			cJSON_AddItemToArray(a, e);
		}
		ctl_json_print(stdout, o);
		return EXIT_OK;
	}
	printf("%s\n", resp->succeeded ? "SUCCESS" : "FAILURE");
	for (size_t i = 0; i < resp->n_responses; i++) {
		const Mvcc__V1__ResponseOp *r = resp->responses[i];
		printf("\n");
		if (r->response_case == MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_RANGE) {
			for (size_t k = 0; k < r->response_range->n_kvs; k++)
				ctl_text_kv(stdout, r->response_range->kvs[k], 0);
		} else if (r->response_case == MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_PUT) {
			printf("OK\n");
		} else if (r->response_case == MVCC__V1__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE) {
			printf("%" PRId64 "\n", r->response_delete_range->deleted);
		}
	}
	return EXIT_OK;
}

static int cmd_table(struct ctx *c, char **args, int n)
{
	if (n < 1)
		return usage_error("table needs create, delete or list");
	if (!strcmp(args[0], "create") || !strcmp(args[0], "delete")) {
		if (n != 2)
			return usage_error("table %s needs <name>", args[0]);
		int create = !strcmp(args[0], "create");
		if (create) {
			Regatta__V1__CreateTableRequest req;
	regatta__v1__create_table_request__init(&req);
			req.name = args[1];
			Regatta__V1__CreateTableResponse *resp;
			int rc = call(c, "/regatta.v1.Tables/Create", &req.base,
				      &regatta__v1__create_table_response__descriptor, (ProtobufCMessage **)&resp);
			if (rc)
				return rc;
			if (c->o.json) {
				cJSON *o = cJSON_CreateObject();
				cJSON_AddStringToObject(o, "id", resp->id);
				cJSON_AddStringToObject(o, "name", args[1]);
				ctl_json_print(stdout, o);
			} else {
				printf("created table %s (id %s)\n", args[1], resp->id);
			}
			return EXIT_OK;
		}
		Regatta__V1__DeleteTableRequest req;
	regatta__v1__delete_table_request__init(&req);
		req.name = args[1];
		ProtobufCMessage *resp;
		int rc = call(c, "/regatta.v1.Tables/Delete", &req.base, &regatta__v1__delete_table_response__descriptor,
			      &resp);
		if (rc)
			return rc;
		if (c->o.json) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "deleted", args[1]);
			ctl_json_print(stdout, o);
		} else {
			printf("deleted table %s\n", args[1]);
		}
		return EXIT_OK;
	}
	if (!strcmp(args[0], "list")) {
		if (n != 1)
			return usage_error("table list takes no arguments");
		Regatta__V1__ListTablesRequest req;
	regatta__v1__list_tables_request__init(&req);
		Regatta__V1__ListTablesResponse *resp;
		int rc = call(c, "/regatta.v1.Tables/List", &req.base, &regatta__v1__list_tables_response__descriptor,
			      (ProtobufCMessage **)&resp);
		if (rc)
			return rc;
		if (c->o.json) {
			cJSON *o = cJSON_CreateObject();
			cJSON *a = cJSON_AddArrayToObject(o, "tables");
			for (size_t i = 0; i < resp->n_tables; i++) {
				cJSON *t = cJSON_CreateObject();
				cJSON_AddStringToObject(t, "name", resp->tables[i]->name);
				cJSON_AddStringToObject(t, "id", resp->tables[i]->id);
				cJSON_AddItemToArray(a, t);
			}
			ctl_json_print(stdout, o);
		} else {
			for (size_t i = 0; i < resp->n_tables; i++)
				printf("%s\t%s\n", resp->tables[i]->name, resp->tables[i]->id);
		}
		return EXIT_OK;
	}
	return usage_error("unknown table command '%s' (create, delete or list)", args[0]);
}

static int cmd_member(struct ctx *c, char **args, int n)
{
	if (n != 1 || strcmp(args[0], "list"))
		return usage_error("member takes 'list'");
	Regatta__V1__MemberListRequest req;
	regatta__v1__member_list_request__init(&req);
	Regatta__V1__MemberListResponse *resp;
	int rc = call(c, "/regatta.v1.Cluster/MemberList", &req.base, &regatta__v1__member_list_response__descriptor,
		      (ProtobufCMessage **)&resp);
	if (rc)
		return rc;
	if (c->o.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "cluster", resp->cluster);
		cJSON *a = cJSON_AddArrayToObject(o, "members");
		for (size_t i = 0; i < resp->n_members; i++) {
			const Regatta__V1__Member *m = resp->members[i];
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "id", m->id);
			cJSON_AddStringToObject(e, "name", m->name);
			cJSON_AddItemToObject(e, "peerURLs", cJSON_CreateStringArray((const char *const *)m->peerurls, (int)m->n_peerurls));
			cJSON_AddItemToObject(e, "clientURLs", cJSON_CreateStringArray((const char *const *)m->clienturls, (int)m->n_clienturls));
			cJSON_AddItemToArray(a, e);
		}
		ctl_json_print(stdout, o);
	} else {
		for (size_t i = 0; i < resp->n_members; i++) {
			const Regatta__V1__Member *m = resp->members[i];
			printf("%s\t%s\t%s\t%s\n", m->id, m->name[0] ? m->name : "-",
			       m->n_peerurls ? m->peerurls[0] : "-", m->n_clienturls ? m->clienturls[0] : "-");
		}
	}
	return EXIT_OK;
}

static int cmd_status(struct ctx *c, char **args, int n)
{
	if (n != 0)
		return usage_error("status takes no arguments");
	Regatta__V1__StatusRequest req;
	regatta__v1__status_request__init(&req);
	Regatta__V1__StatusResponse *resp;
	int rc = call(c, "/regatta.v1.Cluster/Status", &req.base, &regatta__v1__status_response__descriptor,
		      (ProtobufCMessage **)&resp);
	if (rc)
		return rc;
	if (c->o.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "endpoint", c->endpoint);
		cJSON_AddStringToObject(o, "id", resp->id);
		cJSON_AddStringToObject(o, "version", resp->version);
		cJSON_AddStringToObject(o, "info", resp->info);
		cJSON *t = cJSON_AddObjectToObject(o, "tables");
		for (size_t i = 0; i < resp->n_tables; i++) {
			const Regatta__V1__TableStatus *s = resp->tables[i]->value;
			cJSON *e = cJSON_CreateObject();
			if (s) {
				cJSON_AddStringToObject(e, "leader", s->leader);
				cJSON_AddNumberToObject(e, "raftTerm", (double)s->raftterm);
				cJSON_AddNumberToObject(e, "raftIndex", (double)s->raftindex);
				cJSON_AddNumberToObject(e, "raftAppliedIndex", (double)s->raftappliedindex);
				cJSON_AddNumberToObject(e, "logSize", (double)s->logsize);
				cJSON_AddNumberToObject(e, "dbSize", (double)s->dbsize);
			}
			cJSON_AddItemToObject(t, resp->tables[i]->key, e);
		}
		cJSON_AddItemToObject(o, "errors", cJSON_CreateStringArray((const char *const *)resp->errors, (int)resp->n_errors));
		ctl_json_print(stdout, o);
	} else {
		printf("endpoint %s: member %s, version %s\n", c->endpoint, resp->id, resp->version);
		printf("%-24s %-8s %-8s %-12s %-12s %-12s %-12s\n", "TABLE", "LEADER", "TERM", "COMMIT", "APPLIED",
		       "LOG BYTES", "DB BYTES");
		for (size_t i = 0; i < resp->n_tables; i++) {
			const Regatta__V1__TableStatus *s = resp->tables[i]->value;
			if (!s)
				continue;
			printf("%-24s %-8s %-8" PRIu64 " %-12" PRIu64 " %-12" PRIu64 " %-12" PRId64 " %-12" PRId64 "\n",
			       resp->tables[i]->key, s->leader, s->raftterm, s->raftindex, s->raftappliedindex, s->logsize,
			       s->dbsize);
		}
		for (size_t i = 0; i < resp->n_errors; i++)
			printf("error: %s\n", resp->errors[i]);
	}
	return EXIT_OK;
}

/* ---- flags ---------------------------------------------------------------------------------- */

static int parse_int(const char *flag, const char *v, int64_t *out)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || *end || end == v) {
		usage_error("%s needs an integer", flag);
		return -1;
	}
	*out = (int64_t)x;
	return 0;
}

int main(int argc, char **argv)
{
	struct ctx c = {.o = {.endpoints = "127.0.0.1:8443", .timeout_s = 5}};
	char *pos[8];
	int npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDV()                                                     \
	do {                                                        \
		if (!v)                                             \
			return usage_error("%s needs a value", a); \
		i++;                                                \
	} while (0)
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(USAGE, stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--endpoints")) {
			NEEDV();
			c.o.endpoints = v;
		} else if (!strcmp(a, "--json")) {
			c.o.json = 1;
		} else if (!strcmp(a, "--cacert")) {
			NEEDV();
			c.o.cacert = v;
		} else if (!strcmp(a, "--cert")) {
			NEEDV();
			c.o.cert = v;
		} else if (!strcmp(a, "--key")) {
			NEEDV();
			c.o.key = v;
		} else if (!strcmp(a, "--insecure-skip-tls-verify")) {
			c.o.insecure = 1;
		} else if (!strcmp(a, "--token")) {
			NEEDV();
			c.o.token = v;
		} else if (!strcmp(a, "--timeout")) {
			NEEDV();
			c.o.timeout_s = strtod(v, NULL);
			if (c.o.timeout_s <= 0)
				return usage_error("--timeout needs a positive number of seconds");
		} else if (!strcmp(a, "--prefix")) {
			c.o.prefix = 1;
		} else if (!strcmp(a, "--from-key")) {
			c.o.from_key = 1;
		} else if (!strcmp(a, "--keys-only")) {
			c.o.keys_only = 1;
		} else if (!strcmp(a, "--count-only") || !strcmp(a, "--count")) {
			c.o.count_only = 1;
		} else if (!strcmp(a, "--linearizable")) {
			c.o.linearizable = 1;
		} else if (!strcmp(a, "--prev-kv")) {
			c.o.prev_kv = 1;
		} else if (!strcmp(a, "--stream")) {
			c.o.stream = 1;
		} else if (!strcmp(a, "--file")) {
			NEEDV();
			c.o.file = v;
		} else if (!strcmp(a, "--limit")) {
			NEEDV();
			if (parse_int(a, v, &c.o.limit) || c.o.limit < 0)
				return EXIT_USAGE;
		} else if (!strcmp(a, "--min-mod-rev")) {
			NEEDV();
			if (parse_int(a, v, &c.o.min_mod))
				return EXIT_USAGE;
		} else if (!strcmp(a, "--max-mod-rev")) {
			NEEDV();
			if (parse_int(a, v, &c.o.max_mod))
				return EXIT_USAGE;
		} else if (!strcmp(a, "--min-create-rev")) {
			NEEDV();
			if (parse_int(a, v, &c.o.min_create))
				return EXIT_USAGE;
		} else if (!strcmp(a, "--max-create-rev")) {
			NEEDV();
			if (parse_int(a, v, &c.o.max_create))
				return EXIT_USAGE;
		} else if (a[0] == '-' && a[1] == '-' && a[2]) {
			return usage_error("unknown flag %s", a);
		} else {
			if (npos == (int)(sizeof pos / sizeof pos[0]))
				return usage_error("too many arguments");
			pos[npos++] = argv[i];
		}
#undef NEEDV
	}
	if (npos == 0) {
		fputs(USAGE, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = pos[0];
	if (!strcmp(cmd, "version")) {
		printf("regattactl %s (%s)\n", regatta_version(), regatta_build_info());
		return EXIT_OK;
	}
	if (c.o.keys_only && c.o.count_only)
		return usage_error("--keys-only and --count-only exclude each other");
	if (c.o.prefix && c.o.from_key)
		return usage_error("--prefix and --from-key exclude each other");
	int (*fn)(struct ctx *, char **, int) = NULL;
	if (!strcmp(cmd, "put"))
		fn = cmd_put;
	else if (!strcmp(cmd, "get"))
		fn = cmd_get;
	else if (!strcmp(cmd, "delete") || !strcmp(cmd, "del"))
		fn = cmd_delete;
	else if (!strcmp(cmd, "txn"))
		fn = cmd_txn;
	else if (!strcmp(cmd, "table"))
		fn = cmd_table;
	else if (!strcmp(cmd, "member"))
		fn = cmd_member;
	else if (!strcmp(cmd, "status"))
		fn = cmd_status;
	else
		return usage_error("unknown command '%s'", cmd);

	arena_init(&c.arena, 64u << 10, LIMIT_REQUEST_ARENA_BYTES * 2);
	net_buf_init(&c.resp);
	if (c.o.token) {
		snprintf(c.auth, sizeof c.auth, "Bearer %s", c.o.token);
		c.md[0] = (struct grpc_md){.name = "authorization", .value = c.auth};
		c.md_count = 1;
	}
	/* Commands check their arguments first and connect on their first call. */
	int rc = fn(&c, pos + 1, npos - 1);
	if (c.conn)
		grpc_client_sync_close(c.conn);
	net_buf_deinit(&c.resp);
	arena_deinit(&c.arena);
	return rc;
}
