/* test_roundtrip.c — every message type we know, with every field set, survives
 * encode -> proto_decode -> encode byte for byte and field for field; specific fields land
 * where Regatta's numbering puts them; the rewritten `optional` fields keep their presence. */
#include "helper_fill.h"

#include "core/arena.h"
#include "core/limits.h"
#include "proto/decode.h"
#include "proto/registry.h"

#include "mvcc/v1/mvcc.pb-c.h"
#include "regatta/v1/regatta.pb-c.h"
#include "replication/v1/replication.pb-c.h"

#include <criterion/criterion.h>
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

TestSuite(roundtrip, .init = setup, .fini = teardown);

/* Encodes m, decodes it with proto_decode, checks equal text and equal re-encoding. */
static void roundtrip_check(const ProtobufCMessage *m)
{
	const char *name = m->descriptor->name;
	uint8_t *bytes;
	size_t len;
	cr_assert_eq(proto_encode(m, &arena, &bytes, &len), 0, "%s", name);
	ProtobufCMessage *back;
	struct proto_error err;
	int rc = proto_decode(m->descriptor, bytes, len, &arena, NULL, &back, &err);
	cr_assert_eq(rc, 0, "%s: %s", name, err.msg);
	cr_assert_eq(back->n_unknown_fields, 0, "%s", name);
	char *t1 = fill_dump(m), *t2 = fill_dump(back);
	cr_assert_str_eq(t1, t2, "%s", name);
	if (m->descriptor->n_fields > 0)
		cr_assert_gt(strlen(t1), 0, "%s dumped nothing", name);
	uint8_t *again;
	size_t again_len;
	cr_assert_eq(proto_encode(back, &arena, &again, &again_len), 0);
	cr_assert_eq(again_len, len, "%s", name);
	cr_assert_eq(memcmp(again, bytes, len), 0, "%s", name);
	free(t1);
	free(t2);
}

Test(roundtrip, every_message_type_all_fields)
{
	size_t types = 0;
	for (size_t i = 0; i < proto_message_count(); i++) {
		const ProtobufCMessageDescriptor *d = proto_message_at(i);
		for (unsigned v = 0; v < FILL_VARIANTS; v++) {
			arena_reset(&arena);
			ProtobufCMessage *m = fill_message(d, &arena, v);
			cr_assert_not_null(m, "%s", d->name);
			roundtrip_check(m);
		}
		types++;
	}
	cr_assert_geq(types, 58);
}

Test(roundtrip, put_request_fields)
{
	/* table=1 "t", key=2 "k", value=3 "v", prev_kv=4 true: numbers as in Regatta. */
	static const uint8_t wire[] = {0x0a, 1, 't', 0x12, 1, 'k', 0x1a, 1, 'v', 0x20, 1};
	ProtobufCMessage *m;
	struct proto_error err;
	cr_assert_eq(proto_decode(&regatta__v1__put_request__descriptor, wire, sizeof wire, &arena,
				  NULL, &m, &err), 0);
	Regatta__V1__PutRequest *p = (Regatta__V1__PutRequest *)m;
	cr_assert_eq(p->table.len, 1);
	cr_assert_eq(p->table.data[0], 't');
	cr_assert_eq(p->key.data[0], 'k');
	cr_assert_eq(p->value.data[0], 'v');
	cr_assert(p->prev_kv);
}

Test(roundtrip, key_value_version_and_compare_targets)
{
	/* KeyValue: key=1, create_revision=2, mod_revision=3, value=4 (Regatta), version=5 (ours). */
	static const uint8_t kv_wire[] = {0x0a, 1, 'a', 0x10, 2, 0x18, 3, 0x22, 1, 'x', 0x28, 7};
	ProtobufCMessage *m;
	struct proto_error err;
	cr_assert_eq(proto_decode(&mvcc__v1__key_value__descriptor, kv_wire, sizeof kv_wire,
				  &arena, NULL, &m, &err), 0);
	Mvcc__V1__KeyValue *kv = (Mvcc__V1__KeyValue *)m;
	cr_assert_eq(kv->create_revision, 2);
	cr_assert_eq(kv->mod_revision, 3);
	cr_assert_eq(kv->value.data[0], 'x');
	cr_assert_eq(kv->version, 7);

	/* Compare{result=GREATER(1), target=MOD(3), key="a", mod_revision(6)=5, range_end(64)="b"} */
	static const uint8_t cmp_wire[] = {0x08, 1, 0x10, 3, 0x1a, 1, 'a', 0x30, 5,
					   0x82, 0x04, 1, 'b'};
	cr_assert_eq(proto_decode(&mvcc__v1__compare__descriptor, cmp_wire, sizeof cmp_wire,
				  &arena, NULL, &m, &err), 0, "%s", err.msg);
	Mvcc__V1__Compare *c = (Mvcc__V1__Compare *)m;
	cr_assert_eq(c->result, MVCC__V1__COMPARE__COMPARE_RESULT__GREATER);
	cr_assert_eq(c->target, MVCC__V1__COMPARE__COMPARE_TARGET__MOD);
	cr_assert_eq(c->target_union_case, MVCC__V1__COMPARE__TARGET_UNION_MOD_REVISION);
	cr_assert_eq(c->mod_revision, 5);
	cr_assert_eq(c->range_end.len, 1);
	cr_assert_eq(MVCC__V1__COMPARE__COMPARE_TARGET__VERSION, 1);
	cr_assert_eq(MVCC__V1__COMPARE__COMPARE_TARGET__CREATE, 2);
	cr_assert_eq(MVCC__V1__COMPARE__TARGET_UNION_CREATE_REVISION, 5);
	cr_assert_eq(MVCC__V1__COMPARE__TARGET_UNION_VERSION, 7);
}

Test(roundtrip, optional_fields_keep_presence)
{
	/* Regatta's `optional uint64 leader_index = 5`, `optional Txn txn = 7`,
	 * `optional bytes range_end = 8`: zero/empty values that were sent stay "set". */
	static const uint8_t set_zero[] = {0x28, 0x00, 0x3a, 0x00, 0x42, 0x00};
	ProtobufCMessage *m;
	struct proto_error err;
	cr_assert_eq(proto_decode(&mvcc__v1__command__descriptor, set_zero, sizeof set_zero,
				  &arena, NULL, &m, &err), 0, "%s", err.msg);
	Mvcc__V1__Command *c = (Mvcc__V1__Command *)m;
	cr_assert_eq(c->_leader_index_case, MVCC__V1__COMMAND___LEADER_INDEX_LEADER_INDEX);
	cr_assert_eq(c->leader_index, 0);
	cr_assert_eq(c->_txn_case, MVCC__V1__COMMAND___TXN_TXN);
	cr_assert_not_null(c->txn);
	cr_assert_eq(c->_range_end_case, MVCC__V1__COMMAND___RANGE_END_RANGE_END);
	cr_assert_eq(c->range_end.len, 0);
	/* ... and encode back to the same bytes (proto3 would otherwise drop zero values). */
	uint8_t *out;
	size_t len;
	cr_assert_eq(proto_encode(m, &arena, &out, &len), 0);
	cr_assert_eq(len, sizeof set_zero);
	cr_assert_eq(memcmp(out, set_zero, len), 0);

	/* Absent stays absent. */
	cr_assert_eq(proto_decode(&mvcc__v1__command__descriptor, NULL, 0, &arena, NULL, &m, &err), 0);
	c = (Mvcc__V1__Command *)m;
	cr_assert_eq(c->_leader_index_case, MVCC__V1__COMMAND___LEADER_INDEX__NOT_SET);
	cr_assert_eq(c->_txn_case, MVCC__V1__COMMAND___TXN__NOT_SET);
	cr_assert_eq(c->_range_end_case, MVCC__V1__COMMAND___RANGE_END__NOT_SET);
	cr_assert_eq(proto_encode(m, &arena, &out, &len), 0);
	cr_assert_eq(len, 0);
}

Test(roundtrip, unknown_fields_pass_through)
{
	/* ReplicateRequest{table="t", leader_index=9} plus an unknown field 15 (varint 1) from a
	 * newer client: accepted, kept, and re-encoded. */
	static const uint8_t wire[] = {0x0a, 1, 't', 0x10, 9, 0x78, 1};
	ProtobufCMessage *m;
	struct proto_error err;
	cr_assert_eq(proto_decode(&replication__v1__replicate_request__descriptor, wire, sizeof wire,
				  &arena, NULL, &m, &err), 0);
	cr_assert_eq(m->n_unknown_fields, 1);
	uint8_t *out;
	size_t len;
	cr_assert_eq(proto_encode(m, &arena, &out, &len), 0);
	cr_assert_eq(len, sizeof wire);
	cr_assert_eq(memcmp(out, wire, len), 0);
}

Test(roundtrip, encode_into_caller_buffer)
{
	Regatta__V1__PutRequest p = REGATTA__V1__PUT_REQUEST__INIT;
	uint8_t key[] = "key";
	p.key.data = key;
	p.key.len = 3;
	uint8_t buf[16];
	size_t len;
	cr_assert_eq(proto_encode_into(&p.base, buf, sizeof buf, &len), 0);
	cr_assert_eq(len, 5);
	cr_assert_eq(proto_encode_into(&p.base, buf, 4, &len), ERR_TOOBIG);
	cr_assert_eq(len, 5, "the size needed is reported");
}
