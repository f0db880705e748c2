/*
 * registry.c — see registry.h. Tables are plain arrays searched linearly: ~60 messages and
 * ~20 methods; callers that need speed on the hot path keep the pointer they found.
 */
#include "proto/registry.h"

#include "core/assert.h"

#include "google/protobuf/struct.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "maintenance/v1/maintenance.pb-c.h"
#include "mvcc/v1/mvcc.pb-c.h"
#include "regatta/v1/regatta.pb-c.h"
#include "replication/v1/replication.pb-c.h"

#include <string.h>

static const ProtobufCMessageDescriptor *const messages[] = {
	/* mvcc.v1 */
	&mvcc__v1__command__descriptor,
	&mvcc__v1__command_result__descriptor,
	&mvcc__v1__txn__descriptor,
	&mvcc__v1__request_op__descriptor,
	&mvcc__v1__request_op__range__descriptor,
	&mvcc__v1__request_op__put__descriptor,
	&mvcc__v1__request_op__delete_range__descriptor,
	&mvcc__v1__response_op__descriptor,
	&mvcc__v1__response_op__range__descriptor,
	&mvcc__v1__response_op__put__descriptor,
	&mvcc__v1__response_op__delete_range__descriptor,
	&mvcc__v1__compare__descriptor,
	&mvcc__v1__key_value__descriptor,
	/* regatta.v1 */
	&regatta__v1__response_header__descriptor,
	&regatta__v1__range_request__descriptor,
	&regatta__v1__range_response__descriptor,
	&regatta__v1__put_request__descriptor,
	&regatta__v1__put_response__descriptor,
	&regatta__v1__delete_range_request__descriptor,
	&regatta__v1__delete_range_response__descriptor,
	&regatta__v1__txn_request__descriptor,
	&regatta__v1__txn_response__descriptor,
	&regatta__v1__member_list_request__descriptor,
	&regatta__v1__member_list_response__descriptor,
	&regatta__v1__member__descriptor,
	&regatta__v1__table_status__descriptor,
	&regatta__v1__status_request__descriptor,
	&regatta__v1__status_response__descriptor,
	&regatta__v1__status_response__tables_entry__descriptor,
	&regatta__v1__create_table_request__descriptor,
	&regatta__v1__create_table_response__descriptor,
	&regatta__v1__delete_table_request__descriptor,
	&regatta__v1__delete_table_response__descriptor,
	&regatta__v1__list_tables_request__descriptor,
	&regatta__v1__table_info__descriptor,
	&regatta__v1__list_tables_response__descriptor,
	/* replication.v1 */
	&replication__v1__metadata_request__descriptor,
	&replication__v1__metadata_response__descriptor,
	&replication__v1__table__descriptor,
	&replication__v1__snapshot_request__descriptor,
	&replication__v1__snapshot_chunk__descriptor,
	&replication__v1__replicate_request__descriptor,
	&replication__v1__replicate_response__descriptor,
	&replication__v1__replicate_commands_response__descriptor,
	&replication__v1__replicate_command__descriptor,
	&replication__v1__replicate_err_response__descriptor,
	/* maintenance.v1 */
	&maintenance__v1__backup_request__descriptor,
	&maintenance__v1__restore_message__descriptor,
	&maintenance__v1__restore_info__descriptor,
	&maintenance__v1__restore_response__descriptor,
	&maintenance__v1__reset_request__descriptor,
	&maintenance__v1__reset_response__descriptor,
	/* grpc.health.v1 */
	&grpc__health__v1__health_check_request__descriptor,
	&grpc__health__v1__health_check_response__descriptor,
	/* google.protobuf (Struct configs) */
	&google__protobuf__struct__descriptor,
	&google__protobuf__struct__fields_entry__descriptor,
	&google__protobuf__value__descriptor,
	&google__protobuf__list_value__descriptor,
};

/* One row per method: service descriptor, method name, input, output, streaming kinds (as in
 * the .proto files: client_streaming, server_streaming). */
#define M(svc_desc, svc, name, in, out, cs, ss)                                             \
	{                                                                                   \
		.path = "/" svc "/" name, .service = &svc_desc, .input = &in, .output = &out, \
		.client_streaming = cs, .server_streaming = ss                              \
	}

static const struct proto_method methods[] = {
	M(regatta__v1__kv__descriptor, "regatta.v1.KV", "Range",
	  regatta__v1__range_request__descriptor,
	  regatta__v1__range_response__descriptor, false, false),
	M(regatta__v1__kv__descriptor, "regatta.v1.KV", "IterateRange",
	  regatta__v1__range_request__descriptor,
	  regatta__v1__range_response__descriptor, false, true),
	M(regatta__v1__kv__descriptor, "regatta.v1.KV", "Put",
	  regatta__v1__put_request__descriptor,
	  regatta__v1__put_response__descriptor, false, false),
	M(regatta__v1__kv__descriptor, "regatta.v1.KV", "DeleteRange",
	  regatta__v1__delete_range_request__descriptor,
	  regatta__v1__delete_range_response__descriptor, false, false),
	M(regatta__v1__kv__descriptor, "regatta.v1.KV", "Txn",
	  regatta__v1__txn_request__descriptor,
	  regatta__v1__txn_response__descriptor, false, false),
	M(regatta__v1__cluster__descriptor, "regatta.v1.Cluster", "MemberList",
	  regatta__v1__member_list_request__descriptor,
	  regatta__v1__member_list_response__descriptor, false, false),
	M(regatta__v1__cluster__descriptor, "regatta.v1.Cluster", "Status",
	  regatta__v1__status_request__descriptor,
	  regatta__v1__status_response__descriptor, false, false),
	M(regatta__v1__tables__descriptor, "regatta.v1.Tables", "Create",
	  regatta__v1__create_table_request__descriptor,
	  regatta__v1__create_table_response__descriptor, false, false),
	M(regatta__v1__tables__descriptor, "regatta.v1.Tables", "Delete",
	  regatta__v1__delete_table_request__descriptor,
	  regatta__v1__delete_table_response__descriptor, false, false),
	M(regatta__v1__tables__descriptor, "regatta.v1.Tables", "List",
	  regatta__v1__list_tables_request__descriptor,
	  regatta__v1__list_tables_response__descriptor, false, false),
	M(replication__v1__metadata__descriptor, "replication.v1.Metadata", "Get",
	  replication__v1__metadata_request__descriptor,
	  replication__v1__metadata_response__descriptor, false, false),
	M(replication__v1__snapshot__descriptor, "replication.v1.Snapshot", "Stream",
	  replication__v1__snapshot_request__descriptor,
	  replication__v1__snapshot_chunk__descriptor, false, true),
	M(replication__v1__log__descriptor, "replication.v1.Log", "Replicate",
	  replication__v1__replicate_request__descriptor,
	  replication__v1__replicate_response__descriptor, false, true),
	M(maintenance__v1__maintenance__descriptor, "maintenance.v1.Maintenance", "Backup",
	  maintenance__v1__backup_request__descriptor,
	  replication__v1__snapshot_chunk__descriptor, false, true),
	M(maintenance__v1__maintenance__descriptor, "maintenance.v1.Maintenance", "Restore",
	  maintenance__v1__restore_message__descriptor,
	  maintenance__v1__restore_response__descriptor, true, false),
	M(maintenance__v1__maintenance__descriptor, "maintenance.v1.Maintenance", "Reset",
	  maintenance__v1__reset_request__descriptor,
	  maintenance__v1__reset_response__descriptor, false, false),
	M(grpc__health__v1__health__descriptor, "grpc.health.v1.Health", "Check",
	  grpc__health__v1__health_check_request__descriptor,
	  grpc__health__v1__health_check_response__descriptor, false, false),
	M(grpc__health__v1__health__descriptor, "grpc.health.v1.Health", "Watch",
	  grpc__health__v1__health_check_request__descriptor,
	  grpc__health__v1__health_check_response__descriptor, false, true),
};
#undef M

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

size_t proto_message_count(void)
{
	return COUNT(messages);
}

const ProtobufCMessageDescriptor *proto_message_at(size_t i)
{
	ASSERT(i < COUNT(messages));
	return messages[i];
}

const ProtobufCMessageDescriptor *proto_message_find(const char *full_name)
{
	ASSERT(full_name);
	for (size_t i = 0; i < COUNT(messages); i++)
		if (strcmp(messages[i]->name, full_name) == 0)
			return messages[i];
	return NULL;
}

size_t proto_method_count(void)
{
	return COUNT(methods);
}

const struct proto_method *proto_method_at(size_t i)
{
	ASSERT(i < COUNT(methods));
	return &methods[i];
}

const struct proto_method *proto_method_find(const char *path, size_t len)
{
	ASSERT(path || len == 0);
	for (size_t i = 0; i < COUNT(methods); i++)
		if (strlen(methods[i].path) == len && memcmp(methods[i].path, path, len) == 0)
			return &methods[i];
	return NULL;
}
