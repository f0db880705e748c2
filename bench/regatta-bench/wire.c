/*
 * wire.c — the requests regatta-bench sends and the checks on what comes back.
 *
 * Two targets, one workload:
 *   regatta: regatta.v1.KV (proto/regatta/v1/regatta.proto); every request names the table.
 *   etcd:    etcdserverpb.KV (proto/etcd/etcdserverpb/rpc.proto); one keyspace.
 * Txn is compare-and-swap shaped: one compare on the key (VERSION > 0: the key exists, or
 * VALUE == the value every put writes) and, when it holds, one Put of the key. Reads are single
 * keys. Requests are encoded with the generated protobuf-c code into the caller's buffer (no
 * allocation); responses are checked by a top-level wire scan (no decode, no allocation), so
 * the load generator spends its CPU on sending, not on parsing pairs it throws away.
 */
#include "rb.h"

#include "core/assert.h"
#include "net/transport.h"
#include "proto/decode.h"

#include "etcd/etcdserverpb/rpc.pb-c.h"
#include "regatta/v1/regatta.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const char *rb_wire_path(enum rb_target t, enum rb_op op)
{
	ASSERT(op < RB_OP_COUNT);
	static const char *const regatta[RB_OP_COUNT] = {
	    "/regatta.v1.KV/Put", "/regatta.v1.KV/Range", "/regatta.v1.KV/Range",
	    "/regatta.v1.KV/Txn"};
	static const char *const etcd[RB_OP_COUNT] = {
	    "/etcdserverpb.KV/Put", "/etcdserverpb.KV/Range", "/etcdserverpb.KV/Range",
	    "/etcdserverpb.KV/Txn"};
	return t == RB_TARGET_ETCD ? etcd[op] : regatta[op];
}

size_t rb_wire_request_max(const struct rb_config *cfg)
{
	ASSERT(cfg->key_bytes <= RB_KEY_BYTES_MAX && cfg->value_bytes <= RB_VALUE_BYTES_MAX);
	/* A Txn carries the key twice and the value twice (compare on VALUE + the put), plus
	 * the table and a few tags and lengths; 128 bytes cover every tag/length/varint. */
	size_t table = cfg->table ? strlen(cfg->table) : 0;
	return table + 2u * cfg->key_bytes + 2u * cfg->value_bytes + 128u;
}

int rb_key_format(const struct rb_config *cfg, uint64_t index, uint8_t *out, size_t *len)
{
	ASSERT(cfg->key_bytes >= 1 && cfg->key_bytes <= RB_KEY_BYTES_MAX);
	size_t plen = strlen(cfg->key_prefix);
	char digits[24];
	int n = snprintf(digits, sizeof digits, "%" PRIu64, index);
	ASSERT(n > 0 && (size_t)n < sizeof digits);
	if (plen + (size_t)n > cfg->key_bytes)
		return ERR_TOOBIG;
	size_t pad = cfg->key_bytes - plen - (size_t)n;
	memcpy(out, cfg->key_prefix, plen);
	memset(out + plen, '0', pad);
	memcpy(out + plen + pad, digits, (size_t)n);
	*len = cfg->key_bytes;
	return 0;
}

static ProtobufCBinaryData bin(const uint8_t *p, size_t n)
{
	return (ProtobufCBinaryData){.len = n, .data = (uint8_t *)(uintptr_t)p};
}

static int encode_regatta(const struct rb_config *cfg, enum rb_op op, ProtobufCBinaryData key,
                          ProtobufCBinaryData value, uint8_t *buf, size_t cap, size_t *len)
{
	ProtobufCBinaryData table = bin((const uint8_t *)cfg->table, strlen(cfg->table));
	switch (op) {
	case RB_OP_PUT: {
		Regatta__V1__PutRequest m;
		regatta__v1__put_request__init(&m);
		m.table = table;
		m.key = key;
		m.value = value;
		return proto_encode_into(&m.base, buf, cap, len);
	}
	case RB_OP_RANGE:
	case RB_OP_RANGE_LIN: {
		Regatta__V1__RangeRequest m;
		regatta__v1__range_request__init(&m);
		m.table = table;
		m.key = key;
		m.linearizable = op == RB_OP_RANGE_LIN;
		return proto_encode_into(&m.base, buf, cap, len);
	}
	case RB_OP_TXN: {
		Mvcc__V1__Compare cmp;
		mvcc__v1__compare__init(&cmp);
		cmp.key = key;
		if (cfg->txn_compare == RB_TXN_VALUE) {
			cmp.result = MVCC__V1__COMPARE__COMPARE_RESULT__EQUAL;
			cmp.target = MVCC__V1__COMPARE__COMPARE_TARGET__VALUE;
			cmp.target_union_case = MVCC__V1__COMPARE__TARGET_UNION_VALUE;
			cmp.value = value;
		} else {
			cmp.result = MVCC__V1__COMPARE__COMPARE_RESULT__GREATER;
			cmp.target = MVCC__V1__COMPARE__COMPARE_TARGET__VERSION;
			cmp.target_union_case = MVCC__V1__COMPARE__TARGET_UNION_VERSION;
			cmp.version = 0;
		}
		Mvcc__V1__RequestOp__Put put;
		mvcc__v1__request_op__put__init(&put);
		put.key = key;
		put.value = value;
		Mvcc__V1__RequestOp rop;
		mvcc__v1__request_op__init(&rop);
		rop.request_case = MVCC__V1__REQUEST_OP__REQUEST_REQUEST_PUT;
		rop.request_put = &put;
		Mvcc__V1__Compare *cmps[1] = {&cmp};
		Mvcc__V1__RequestOp *ops[1] = {&rop};
		Regatta__V1__TxnRequest m;
		regatta__v1__txn_request__init(&m);
		m.table = table;
		m.n_compare = 1;
		m.compare = cmps;
		m.n_success = 1;
		m.success = ops;
		return proto_encode_into(&m.base, buf, cap, len);
	}
	default:
		UNREACHABLE();
	}
}

static int encode_etcd(const struct rb_config *cfg, enum rb_op op, ProtobufCBinaryData key,
                       ProtobufCBinaryData value, uint8_t *buf, size_t cap, size_t *len)
{
	switch (op) {
	case RB_OP_PUT: {
		Etcdserverpb__PutRequest m;
		etcdserverpb__put_request__init(&m);
		m.key = key;
		m.value = value;
		return proto_encode_into(&m.base, buf, cap, len);
	}
	case RB_OP_RANGE:
	case RB_OP_RANGE_LIN: {
		Etcdserverpb__RangeRequest m;
		etcdserverpb__range_request__init(&m);
		m.key = key;
		m.serializable = op == RB_OP_RANGE; /* etcd reads are linearizable by default */
		return proto_encode_into(&m.base, buf, cap, len);
	}
	case RB_OP_TXN: {
		Etcdserverpb__Compare cmp;
		etcdserverpb__compare__init(&cmp);
		cmp.key = key;
		if (cfg->txn_compare == RB_TXN_VALUE) {
			cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL;
			cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE;
			cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
			cmp.value = value;
		} else {
			cmp.result = ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER;
			cmp.target = ETCDSERVERPB__COMPARE__COMPARE_TARGET__VERSION;
			cmp.target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VERSION;
			cmp.version = 0;
		}
		Etcdserverpb__PutRequest put;
		etcdserverpb__put_request__init(&put);
		put.key = key;
		put.value = value;
		Etcdserverpb__RequestOp rop;
		etcdserverpb__request_op__init(&rop);
		rop.request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
		rop.request_put = &put;
		Etcdserverpb__Compare *cmps[1] = {&cmp};
		Etcdserverpb__RequestOp *ops[1] = {&rop};
		Etcdserverpb__TxnRequest m;
		etcdserverpb__txn_request__init(&m);
		m.n_compare = 1;
		m.compare = cmps;
		m.n_success = 1;
		m.success = ops;
		return proto_encode_into(&m.base, buf, cap, len);
	}
	default:
		UNREACHABLE();
	}
}

int rb_wire_encode(const struct rb_config *cfg, enum rb_op op, const uint8_t *key, size_t key_len,
                   const uint8_t *value, size_t value_len, uint8_t *buf, size_t cap, size_t *len)
{
	ASSERT(op < RB_OP_COUNT && key_len > 0 && key_len <= RB_KEY_BYTES_MAX);
	ASSERT(buf != NULL && len != NULL);
	if (cfg->target == RB_TARGET_ETCD)
		return encode_etcd(cfg, op, bin(key, key_len), bin(value, value_len), buf, cap,
		                   len);
	return encode_regatta(cfg, op, bin(key, key_len), bin(value, value_len), buf, cap, len);
}

/* ---- response checks --------------------------------------------------------------------- */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return ERR_PROTO;
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return ERR_PROTO;
}

/* Walk the top-level fields: count those numbered `count_field` and keep the last varint of
 * `varint_field`. Any malformed field is ERR_PROTO. */
static int scan(const uint8_t *msg, size_t len, uint32_t count_field, uint64_t *count,
                uint32_t varint_field, uint64_t *varint)
{
	const uint8_t *p = msg, *end = msg + len;
	*count = 0;
	*varint = 0;
	while (p < end) {
		uint64_t tag, v;
		if (read_varint(&p, end, &tag))
			return ERR_PROTO;
		uint64_t field = tag >> 3;
		if (field == 0 || field > 0x1fffffff)
			return ERR_PROTO;
		switch (tag & 7) {
		case 0:
			if (read_varint(&p, end, &v))
				return ERR_PROTO;
			if (field == varint_field)
				*varint = v;
			break;
		case 1:
			if ((size_t)(end - p) < 8)
				return ERR_PROTO;
			p += 8;
			break;
		case 2:
			if (read_varint(&p, end, &v) || v > (uint64_t)(end - p))
				return ERR_PROTO;
			p += v;
			break;
		case 5:
			if ((size_t)(end - p) < 4)
				return ERR_PROTO;
			p += 4;
			break;
		default:
			return ERR_PROTO;
		}
		if (field == count_field)
			(*count)++;
	}
	ASSERT(p == end);
	return 0;
}

int rb_wire_check_response(enum rb_target t, enum rb_op op, const uint8_t *msg, size_t len,
                           int *found, int *succeeded)
{
	ASSERT(op < RB_OP_COUNT && found != NULL && succeeded != NULL);
	/* RangeResponse.kvs: regatta 3, etcd 2. TxnResponse.succeeded: 2 in both. */
	uint32_t kvs_field = t == RB_TARGET_ETCD ? 2 : 3;
	uint64_t count = 0, varint = 0;
	int rc;
	switch (op) {
	case RB_OP_RANGE:
	case RB_OP_RANGE_LIN:
		rc = scan(msg, len, kvs_field, &count, 0, &varint);
		*found = count > 0;
		return rc;
	case RB_OP_TXN:
		rc = scan(msg, len, 0, &count, 2, &varint);
		*succeeded = varint != 0;
		return rc;
	default:
		return scan(msg, len, 0, &count, 0, &varint);
	}
}

/* ---- Tables/Create -------------------------------------------------------------------------- */

int rb_wire_create_table(const struct rb_config *cfg)
{
	ASSERT(cfg->target == RB_TARGET_REGATTA && cfg->table != NULL && cfg->n_endpoints > 0);
	char url[300];
	snprintf(url, sizeof url, "http://%s", cfg->endpoints[0]);
	struct grpc_client_sync *s = NULL;
	int rc = grpc_client_sync_open(url, NULL, cfg->timeout_ns, &s);
	if (rc) {
		fprintf(stderr, "regatta-bench: cannot connect to %s to create table %s: %s\n",
		        cfg->endpoints[0], cfg->table, err_str(rc));
		return rc;
	}
	Regatta__V1__CreateTableRequest req;
	regatta__v1__create_table_request__init(&req);
	req.name = (char *)(uintptr_t)cfg->table;
	uint8_t buf[RB_TABLE_BYTES_MAX + 64];
	size_t len = 0;
	rc = proto_encode_into(&req.base, buf, sizeof buf, &len);
	ASSERT(rc == 0); /* the table name length is checked by opts */
	char auth[512];
	struct grpc_md md[1];
	struct grpc_client_call_opts opts = {.timeout_ns = cfg->timeout_ns};
	if (cfg->token) {
		snprintf(auth, sizeof auth, "Bearer %s", cfg->token);
		md[0] = (struct grpc_md){.name = "authorization", .value = auth};
		opts.md = md;
		opts.md_count = 1;
	}
	struct net_buf resp;
	net_buf_init(&resp);
	int status = 0;
	char msg[256] = "";
	rc = grpc_client_sync_unary(s, "/regatta.v1.Tables/Create", &opts, buf, len, &resp, &status,
	                            msg, sizeof msg);
	net_buf_deinit(&resp);
	grpc_client_sync_close(s);
	if (rc) {
		fprintf(stderr, "regatta-bench: Tables/Create %s: %s\n", cfg->table, err_str(rc));
		return rc;
	}
	if (status == GRPC_STATUS_OK || status == GRPC_STATUS_ALREADY_EXISTS) {
		if (!cfg->quiet && !cfg->json)
			printf("table %s: %s\n", cfg->table,
			       status == GRPC_STATUS_OK ? "created" : "already exists");
		return 0;
	}
	fprintf(stderr, "regatta-bench: Tables/Create %s: %s: %s\n", cfg->table,
	        grpc_status_name(status), msg);
	return ERR_INVAL;
}
