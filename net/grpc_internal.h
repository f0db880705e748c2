/*
 * grpc_internal.h — private helpers shared by the gRPC server and client (not a public API).
 */
#ifndef NET_GRPC_INTERNAL_H
#define NET_GRPC_INTERNAL_H

#include "core/clock.h"
#include "net/buf.h"
#include "net/grpc.h"

#include <nghttp2/nghttp2.h>
#include <string.h>

/* An nghttp2 name/value pair from C strings (nghttp2 copies both). */
#define GRPC_NV(n, v, vl) \
	((nghttp2_nv){(uint8_t *)(uintptr_t)(n), (uint8_t *)(uintptr_t)(v), strlen(n), (vl), NGHTTP2_NV_FLAG_NONE})
#define GRPC_NVS(n, v) GRPC_NV(n, v, strlen(v))

/* Longest grpc-message we put on the wire (encoded); longer texts are cut. */
#define GRPC_MESSAGE_WIRE_MAX 1024

/* Append one length-prefixed message to out, compressed with `enc` unless identity. scratch is
 * a reusable buffer for the compressed form. Returns 0, ERR_NOMEM, ERR_TOOBIG (compressed form
 * over 4 GiB). */
int grpc_msg_append(struct net_buf *out, struct net_buf *scratch, enum grpc_encoding enc,
		    const uint8_t *msg, size_t len) WUR;

/* Copy up to `length` bytes from q into buf for an nghttp2 data source; returns bytes copied. */
size_t grpc_queue_read(struct net_buf *q, uint8_t *buf, size_t length);

/* A reserved header name a handler or caller may not set. */
int grpc_md_reserved(const char *name);
/* Header name check: lower-case token characters only, non-empty. */
int grpc_md_name_ok(const char *name);

/* nghttp2 error code -> ERR_* for the connection owner. */
int grpc_h2_err(int nghttp2_rc);

static inline uint64_t grpc_clock(uint64_t (*fn)(void *), void *ctx)
{
	return fn ? fn(ctx) : clock_mono_ns();
}

/* Token bucket (abuse limits). */
struct grpc_bucket {
	uint64_t tokens_milli; /* thousandths of a token */
	uint64_t last_ns;
	uint64_t burst;
	uint64_t per_sec;
};
void grpc_bucket_init(struct grpc_bucket *b, uint64_t burst, uint64_t per_sec, uint64_t now_ns);
/* Take one token; 0 when none is left (the caller acts on abuse). */
int grpc_bucket_take(struct grpc_bucket *b, uint64_t now_ns);
void grpc_bucket_fill(struct grpc_bucket *b);

#endif
