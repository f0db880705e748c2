/*
 * registry.h — lookup tables over the generated contracts: every message type by its full
 * protobuf name, and every gRPC method by its HTTP/2 path with its streaming kind.
 *
 * protobuf-c's service descriptors drop the `stream` keyword, so the method table here is the
 * one place in C that says which calls stream; tests check it against protoc's own reading of
 * the .proto files (tests/integration/test_proto_wire.py) and against protobuf-c's service
 * descriptors (tests/unit/proto/test_registry.c). Immutable data: any thread may read it.
 */
#ifndef PROTO_REGISTRY_H
#define PROTO_REGISTRY_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

struct proto_method {
	const char *path;                          /* "/regatta.v1.KV/Range" */
	const ProtobufCServiceDescriptor *service; /* generated service descriptor */
	const ProtobufCMessageDescriptor *input;
	const ProtobufCMessageDescriptor *output;
	bool client_streaming;
	bool server_streaming;
};

/* Message types: Regatta's four packages, grpc.health.v1 and the google.protobuf.Struct family. */
size_t proto_message_count(void);
const ProtobufCMessageDescriptor *proto_message_at(size_t i);
/* By full name ("regatta.v1.PutRequest"); NULL when unknown. */
const ProtobufCMessageDescriptor *proto_message_find(const char *full_name);

/* gRPC methods of all services we serve. */
size_t proto_method_count(void);
const struct proto_method *proto_method_at(size_t i);
/* By path ("/regatta.v1.KV/Range", not NUL-terminated: len bytes); NULL when unknown. */
const struct proto_method *proto_method_find(const char *path, size_t len);

#endif
