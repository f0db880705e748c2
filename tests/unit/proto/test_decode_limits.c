/* test_decode_limits.c — proto_decode refuses what a server must refuse, with the right code
 * and a message, and never crashes: nesting beyond LIMIT_PROTO_DEPTH (Struct recursion),
 * inputs and arenas beyond their caps, malformed tags/varints/lengths, groups, bad UTF-8,
 * wrong wire types, and every truncation and random corruption of valid messages.
 * Randomized parts print their seed; REGATTA_SEED=<n> replays one. */
#include "helper_fill.h"

#include "core/arena.h"
#include "core/limits.h"
#include "core/prng.h"
#include "proto/decode.h"
#include "proto/registry.h"

#include "google/protobuf/struct.pb-c.h"
#include "mvcc/v1/mvcc.pb-c.h"
#include "regatta/v1/regatta.pb-c.h"
#include "replication/v1/replication.pb-c.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct arena arena;

static void setup(void)
{
	arena_init(&arena, 64u << 10, LIMIT_REQUEST_ARENA_BYTES);
}

static void teardown(void)
{
	arena_deinit(&arena);
}

TestSuite(limits, .init = setup, .fini = teardown);

static int decode(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
		  struct proto_error *err)
{
	ProtobufCMessage *m = (ProtobufCMessage *)1;
	int rc = proto_decode(d, buf, len, &arena, NULL, &m, err);
	if (rc != 0) {
		cr_assert_null(m);
		cr_assert_eq(err->code, rc);
		cr_assert_gt(strlen(err->msg), 0);
		/* the structural walk must catch everything protobuf-c would refuse */
		cr_assert_null(strstr(err->msg, "rejected by the decoder"), "%s", err->msg);
	} else {
		cr_assert_not_null(m);
	}
	return rc;
}

/* Prepends tag + length to buf[start..end) in place, moving it right. Returns the new start. */
static size_t wrap(uint8_t *buf, size_t start, size_t end, uint8_t tag)
{
	uint8_t hdr[11];
	size_t h = 0, len = end - start;
	hdr[h++] = tag;
	do {
		hdr[h++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
		len >>= 7;
	} while (len);
	cr_assert_geq(start, h);
	memcpy(buf + start - h, hdr, h);
	return start - h;
}

/*
 * A google.protobuf.Value nested `depth` messages deep:
 * Value{list_value(6): ListValue{values(1): Value{list_value: ...}}}, built inside out at the
 * end of buf. Returns the start offset; the encoding is buf[start..cap).
 */
static size_t nested_value(uint8_t *buf, size_t cap, unsigned depth)
{
	size_t start = cap; /* innermost message: empty */
	for (unsigned level = depth; level > 1; level--) {
		/* level-1 wraps level: Value (odd level) holds ListValue in field 6, ListValue
		 * (even level) holds Value in field 1 */
		uint8_t tag = (level - 1) % 2 == 1 ? 0x32 : 0x0a;
		start = wrap(buf, start, cap, tag);
	}
	return start;
}

Test(limits, nesting_depth_cap_on_struct_values)
{
	size_t cap = 64u << 10;
	uint8_t *buf = malloc(cap);
	struct proto_error err;
	size_t s = nested_value(buf, cap, LIMIT_PROTO_DEPTH);
	cr_assert_eq(decode(&google__protobuf__value__descriptor, buf + s, cap - s, &err), 0,
		     "%s", err.msg);
	s = nested_value(buf, cap, LIMIT_PROTO_DEPTH + 1);
	cr_assert_eq(decode(&google__protobuf__value__descriptor, buf + s, cap - s, &err),
		     ERR_TOOBIG);
	cr_assert_not_null(strstr(err.msg, "nested deeper than 64"), "%s", err.msg);
	free(buf);
}

Test(limits, very_deep_struct_is_refused_without_recursing)
{
	/* 200,000 levels (a stack overflow for a naive recursive decoder): refused at level 65. */
	size_t cap = 2u << 20;
	uint8_t *buf = malloc(cap);
	size_t s = nested_value(buf, cap, 200000);
	struct proto_error err;
	cr_assert_eq(decode(&google__protobuf__value__descriptor, buf + s, cap - s, &err),
		     ERR_TOOBIG);
	/* the same inside a real request: StatusResponse.config (5) holds a Struct whose field
	 * "a" holds the deep Value */
	s = wrap(buf, s, cap, 0x12);                   /* FieldsEntry.value = 2 */
	buf[--s] = 'a';
	buf[--s] = 1;
	buf[--s] = 0x0a;                               /* FieldsEntry.key = "a" */
	s = wrap(buf, s, cap, 0x0a);                   /* Struct.fields = 1 */
	s = wrap(buf, s, cap, 0x2a);                   /* StatusResponse.config = 5 */
	cr_assert_eq(decode(&regatta__v1__status_response__descriptor, buf + s, cap - s, &err),
		     ERR_TOOBIG);
	free(buf);
}

Test(limits, custom_depth_limit)
{
	uint8_t buf[64];
	size_t s = nested_value(buf, sizeof buf, 5);
	struct proto_decode_opts o = {.max_input_bytes = 1000, .max_depth = 5};
	struct proto_error err;
	cr_assert_eq(proto_check(&google__protobuf__value__descriptor, buf + s, sizeof buf - s, &o,
				 &err), 0);
	o.max_depth = 4;
	cr_assert_eq(proto_check(&google__protobuf__value__descriptor, buf + s, sizeof buf - s, &o,
				 &err), ERR_TOOBIG);
}

Test(limits, input_size_cap)
{
	size_t len = LIMIT_MESSAGE_BYTES + 1;
	uint8_t *buf = calloc(1, len);
	struct proto_error err;
	cr_assert_eq(decode(&regatta__v1__put_request__descriptor, buf, len, &err), ERR_TOOBIG);
	cr_assert_not_null(strstr(err.msg, "exceeds the limit"), "%s", err.msg);
	free(buf);
}

Test(limits, arena_cap_exhausted_is_toobig)
{
	/* TxnRequest with 4096 empty RequestOps in `success` (field 3): 8 KiB on the wire, but
	 * each op costs a struct and a pointer when decoded. A 16 KiB arena cannot hold it. */
	size_t n = 4096, len = 2 * n;
	uint8_t *buf = malloc(len);
	for (size_t i = 0; i < n; i++) {
		buf[2 * i] = 0x1a;
		buf[2 * i + 1] = 0;
	}
	struct arena small;
	arena_init(&small, 4096, 16u << 10);
	ProtobufCMessage *m;
	struct proto_error err;
	int rc = proto_decode(&regatta__v1__txn_request__descriptor, buf, len, &small, NULL, &m, &err);
	cr_assert_eq(rc, ERR_TOOBIG);
	cr_assert_null(m);
	cr_assert_not_null(strstr(err.msg, "memory limit"), "%s", err.msg);
	cr_assert_eq(proto_error_grpc_status(rc), 8);
	/* the same input fits the default request arena */
	arena_reset(&small);
	cr_assert_eq(decode(&regatta__v1__txn_request__descriptor, buf, len, &err), 0);
	/* encoding into a full arena is ERR_TOOBIG too */
	Regatta__V1__PutRequest p = REGATTA__V1__PUT_REQUEST__INIT;
	uint8_t val[20000];
	memset(val, 'v', sizeof val);
	p.value.data = val;
	p.value.len = sizeof val;
	uint8_t *out;
	size_t out_len;
	cr_assert_eq(proto_encode(&p.base, &small, &out, &out_len), ERR_TOOBIG);
	arena_deinit(&small);
	free(buf);
}

struct bad_case {
	const char *what;
	const ProtobufCMessageDescriptor *desc;
	uint8_t bytes[16];
	size_t len;
	const char *msg_part;
};

Test(limits, malformed_inputs_have_clear_errors)
{
	const struct bad_case cases[] = {
		{"tag truncated", &regatta__v1__put_request__descriptor, {0x80}, 1, "malformed field tag"},
		{"varint of 11 bytes", &regatta__v1__range_request__descriptor,
		 {0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 12,
		 "malformed varint"},
		{"varint past 64 bits", &regatta__v1__range_request__descriptor,
		 {0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, 11,
		 "malformed varint"},
		{"tag zero-padded past 5 bytes", &regatta__v1__range_request__descriptor,
		 {0xf2, 0xe4, 0xab, 0xd8, 0x81, 0x00, 0x00}, 7, "malformed field tag"},
		{"length zero-padded past 5 bytes", &regatta__v1__put_request__descriptor,
		 {0x12, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 'a'}, 8, "malformed length"},
		{"length past end", &regatta__v1__put_request__descriptor, {0x12, 0x05, 'a'}, 3,
		 "runs past the end"},
		{"length varint truncated", &regatta__v1__put_request__descriptor, {0x12, 0x85}, 2,
		 "malformed length"},
		{"field number 0", &regatta__v1__put_request__descriptor, {0x00, 0x01}, 2,
		 "field number 0"},
		{"wire type 6", &regatta__v1__put_request__descriptor, {0x0e, 0x01}, 2,
		 "invalid wire type"},
		{"group", &regatta__v1__put_request__descriptor, {0x0b, 0x0c}, 2, "groups"},
		{"fixed64 truncated", &regatta__v1__put_request__descriptor, {0x39, 1, 2, 3}, 4,
		 "truncated fixed64"},
		{"wrong wire type", &regatta__v1__put_request__descriptor, {0x10, 0x01}, 2,
		 "regatta.v1.PutRequest.key (2): wire type varint"},
		{"bad UTF-8 in string", &regatta__v1__create_table_request__descriptor,
		 {0x0a, 0x02, 0xc3, 0x28}, 4, "not valid UTF-8"},
		{"surrogate in string", &regatta__v1__create_table_request__descriptor,
		 {0x0a, 0x03, 0xed, 0xa0, 0x80}, 5, "not valid UTF-8"},
		{"NUL in string", &regatta__v1__create_table_request__descriptor,
		 {0x0a, 0x03, 'a', 0x00, 'b'}, 5, "NUL byte"},
		{"overlong UTF-8", &regatta__v1__create_table_request__descriptor,
		 {0x0a, 0x02, 0xc0, 0xaf}, 4, "not valid UTF-8"},
		{"nested message malformed", &regatta__v1__put_response__descriptor,
		 {0x12, 0x03, 0x0a, 0x05, 'k'}, 5, "mvcc.v1.KeyValue.key: length 5"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct proto_error err;
		int rc = decode(cases[i].desc, cases[i].bytes, cases[i].len, &err);
		cr_assert_eq(rc, ERR_INVAL, "%s", cases[i].what);
		cr_assert_not_null(strstr(err.msg, cases[i].msg_part), "%s: got \"%s\"", cases[i].what,
				   err.msg);
		cr_assert_eq(proto_error_grpc_status(rc), 3);
	}
	/* Valid UTF-8 (2, 3 and 4 byte forms) passes. */
	static const uint8_t ok[] = {0x0a, 0x09, 0xc3, 0xbc, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80};
	struct proto_error err;
	cr_assert_eq(decode(&regatta__v1__create_table_request__descriptor, ok, sizeof ok, &err), 0);
}

static uint64_t test_seed(void)
{
	const char *s = getenv("REGATTA_SEED");
	uint64_t seed = s ? strtoull(s, NULL, 0) : prng_seed_from_time();
	fprintf(stderr, "test_decode_limits: seed %" PRIu64 " (REGATTA_SEED=%" PRIu64 " replays)\n",
		seed, seed);
	return seed;
}

Test(limits, truncations_and_corruptions_never_crash)
{
	struct prng rng;
	prng_init(&rng, test_seed());
	uint64_t ok = 0, refused = 0;
	for (size_t i = 0; i < proto_message_count(); i++) {
		const ProtobufCMessageDescriptor *d = proto_message_at(i);
		arena_reset(&arena);
		ProtobufCMessage *m = fill_message(d, &arena, (unsigned)i);
		cr_assert_not_null(m);
		uint8_t *good;
		size_t len;
		cr_assert_eq(proto_encode(m, &arena, &good, &len), 0);
		uint8_t *buf = malloc(len + 1);
		/* every strict prefix: refused, or a valid shorter message (cut at a field edge) */
		for (size_t cut = 0; cut < len; cut++) {
			memcpy(buf, good, cut);
			struct proto_error err;
			int rc = decode(d, buf, cut, &err);
			cr_assert(rc == 0 || rc == ERR_INVAL, "%s cut %zu: %d", d->name, cut, rc);
			rc == 0 ? ok++ : refused++;
		}
		/* random byte corruptions, bounded */
		for (unsigned round = 0; round < 200 && len > 0; round++) {
			memcpy(buf, good, len);
			unsigned flips = 1 + (unsigned)prng_below(&rng, 4);
			for (unsigned k = 0; k < flips; k++)
				buf[prng_below(&rng, len)] = (uint8_t)prng_next(&rng);
			struct proto_error err;
			int rc = decode(d, buf, len, &err);
			cr_assert(rc == 0 || rc == ERR_INVAL || rc == ERR_TOOBIG, "%s: %d", d->name, rc);
			rc == 0 ? ok++ : refused++;
			if (arena.used_bytes > (8u << 20))
				arena_reset(&arena), m = NULL;
		}
		free(buf);
	}
	/* pure garbage of every message type */
	uint8_t junk[256];
	for (unsigned round = 0; round < 2000; round++) {
		size_t len = prng_below(&rng, sizeof junk + 1);
		prng_fill(&rng, junk, len);
		const ProtobufCMessageDescriptor *d =
			proto_message_at(prng_below(&rng, proto_message_count()));
		struct proto_error err;
		int rc = decode(d, junk, len, &err);
		cr_assert(rc == 0 || rc == ERR_INVAL || rc == ERR_TOOBIG);
		rc == 0 ? ok++ : refused++;
		arena_reset(&arena);
	}
	cr_assert_gt(refused, 0);
	cr_assert_gt(ok, 0);
}

/* A singular message field written twice (found by fuzz_proto_decode: two empty
 * replication.v1.ReplicateCommand.command fields; protobuf-c refuses to merge a Command, whose
 * oneofs it cannot merge). Refused by the walk with a clear message, before protobuf-c. Repeated
 * message fields may of course appear many times. */
Test(limits, singular_message_field_twice_is_refused)
{
	const uint8_t twice[] = {0x12, 0x00, 0x12, 0x00}; /* command = {}, command = {} */
	struct proto_error err;
	int rc = decode(&replication__v1__replicate_command__descriptor, twice, sizeof twice, &err);
	cr_assert_eq(rc, ERR_INVAL);
	cr_assert(strstr(err.msg, "appears twice") != NULL, "%s", err.msg);
	const uint8_t once[] = {0x08, 0x07, 0x12, 0x00}; /* leader_index = 7, command = {} */
	cr_assert_eq(decode(&replication__v1__replicate_command__descriptor, once, sizeof once, &err), 0);
	/* Command.sequence (10) is repeated: two elements are fine */
	const uint8_t seq[] = {0x52, 0x00, 0x52, 0x00};
	cr_assert_eq(decode(&mvcc__v1__command__descriptor, seq, sizeof seq, &err), 0);
}
