/*
 * grpc.h — what the gRPC server and client share: metadata entries and the method kinds.
 * Includes the status and compression vocabularies so callers need one include.
 */
#ifndef NET_GRPC_H
#define NET_GRPC_H

#include "net/grpc_compress.h"
#include "net/grpc_status.h"

#include <stddef.h>

/* One metadata entry (a header or trailer). Names are lower-case ASCII. Values are raw bytes:
 * for "-bin" names the caller does the base64 itself (the layer does not know which are binary).
 * `value_len` may be 0 for a NUL-terminated value. */
struct grpc_md {
	const char *name;
	const char *value;
	size_t value_len;
};

enum grpc_method_kind {
	GRPC_METHOD_UNARY = 0,            /* one request, one response */
	GRPC_METHOD_SERVER_STREAMING = 1, /* one request, any number of responses */
	GRPC_METHOD_CLIENT_STREAMING = 2, /* any number of requests, one response */
	GRPC_METHOD_BIDI = 3,             /* both sides stream */
};

/* The content-type we send and accept (also accepted: "application/grpc+<anything>"). */
#define GRPC_CONTENT_TYPE "application/grpc"

#endif
