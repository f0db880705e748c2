/* test_registry.c — the message and method tables agree with protobuf-c's own descriptors. */
#include "proto/registry.h"

#include <criterion/criterion.h>
#include <string.h>

Test(registry, messages_unique_and_closed_under_fields)
{
	size_t n = proto_message_count();
	for (size_t i = 0; i < n; i++) {
		const ProtobufCMessageDescriptor *d = proto_message_at(i);
		cr_assert_eq(proto_message_find(d->name), d, "%s", d->name);
		for (size_t k = i + 1; k < n; k++)
			cr_assert_neq(d, proto_message_at(k));
		/* every nested message type is in the table too */
		for (unsigned f = 0; f < d->n_fields; f++)
			if (d->fields[f].type == PROTOBUF_C_TYPE_MESSAGE) {
				const ProtobufCMessageDescriptor *sub = d->fields[f].descriptor;
				cr_assert_eq(proto_message_find(sub->name), sub, "%s.%s", d->name,
					     d->fields[f].name);
			}
	}
	cr_assert_null(proto_message_find("regatta.v1.NoSuchThing"));
}

Test(registry, methods_match_service_descriptors)
{
	size_t n = proto_method_count();
	for (size_t i = 0; i < n; i++) {
		const struct proto_method *m = proto_method_at(i);
		cr_assert_eq(proto_method_find(m->path, strlen(m->path)), m);
		/* "/<service>/<method>" names a method of that service with the same types */
		const char *name = strrchr(m->path, '/') + 1;
		cr_assert_eq(strncmp(m->path + 1, m->service->name, strlen(m->service->name)), 0);
		const ProtobufCMethodDescriptor *md =
			protobuf_c_service_descriptor_get_method_by_name(m->service, name);
		cr_assert_not_null(md, "%s", m->path);
		cr_assert_eq(md->input, m->input, "%s", m->path);
		cr_assert_eq(md->output, m->output, "%s", m->path);
	}
	/* and every method of every service we list has a row */
	size_t methods_in_services = 0;
	const ProtobufCServiceDescriptor *seen[16];
	size_t nseen = 0;
	for (size_t i = 0; i < n; i++) {
		const ProtobufCServiceDescriptor *s = proto_method_at(i)->service;
		int dup = 0;
		for (size_t k = 0; k < nseen; k++)
			dup |= seen[k] == s;
		if (!dup) {
			cr_assert_lt(nseen, 16);
			seen[nseen++] = s;
			methods_in_services += s->n_methods;
		}
	}
	cr_assert_eq(methods_in_services, n);
	cr_assert_eq(nseen, 8);
	const struct proto_method *it = proto_method_find("/regatta.v1.KV/IterateRange", 27);
	cr_assert_not_null(it);
	cr_assert(it->server_streaming && !it->client_streaming);
	const struct proto_method *rs = proto_method_find("/maintenance.v1.Maintenance/Restore", 35);
	cr_assert_not_null(rs);
	cr_assert(rs->client_streaming && !rs->server_streaming);
	cr_assert_null(proto_method_find("/regatta.v1.KV/Watch", 20));
}
