/*
 * grpc_common.c — helpers shared by the gRPC server and client (see grpc_internal.h).
 */
#include "net/grpc_internal.h"

#include "core/assert.h"
#include "net/grpc_frame.h"

int grpc_msg_append(struct net_buf *out, struct net_buf *scratch, enum grpc_encoding enc,
		    const uint8_t *msg, size_t len)
{
	ASSERT(out != NULL);
	ASSERT(msg != NULL || len == 0);
	if (enc == GRPC_ENCODING_IDENTITY) {
		if (len > UINT32_MAX)
			return ERR_TOOBIG;
		uint8_t *p = net_buf_reserve(out, GRPC_FRAME_HEADER_BYTES + len);
		if (!p)
			return ERR_NOMEM;
		grpc_frame_header_write(p, 0, (uint32_t)len);
		if (len)
			memcpy(p + GRPC_FRAME_HEADER_BYTES, msg, len);
		net_buf_commit(out, GRPC_FRAME_HEADER_BYTES + len);
		return 0;
	}
	net_buf_clear(scratch);
	int rc = grpc_compress(enc, msg, len, scratch);
	if (rc)
		return rc;
	size_t clen = net_buf_size(scratch);
	if (clen > UINT32_MAX)
		return ERR_TOOBIG;
	uint8_t *p = net_buf_reserve(out, GRPC_FRAME_HEADER_BYTES + clen);
	if (!p)
		return ERR_NOMEM;
	grpc_frame_header_write(p, 1, (uint32_t)clen);
	if (clen)
		memcpy(p + GRPC_FRAME_HEADER_BYTES, net_buf_head(scratch), clen);
	net_buf_commit(out, GRPC_FRAME_HEADER_BYTES + clen);
	net_buf_clear(scratch);
	net_buf_shrink(scratch, 64u << 10);
	return 0;
}

size_t grpc_queue_read(struct net_buf *q, uint8_t *buf, size_t length)
{
	size_t n = net_buf_size(q);
	if (n > length)
		n = length;
	if (n) {
		memcpy(buf, net_buf_head(q), n);
		net_buf_consume(q, n);
	}
	return n;
}

int grpc_md_reserved(const char *name)
{
	if (name[0] == ':')
		return 1;
	static const char *const reserved[] = {
		"content-type", "te", "grpc-status", "grpc-message", "grpc-timeout", "grpc-encoding",
		"grpc-accept-encoding", "grpc-status-details-bin", "connection", "host",
		"transfer-encoding", "upgrade", "keep-alive", "proxy-connection",
	};
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		if (strcmp(name, reserved[i]) == 0)
			return 1;
	return 0;
}

int grpc_md_name_ok(const char *name)
{
	if (!name || !name[0])
		return 0;
	for (const char *p = name; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

int grpc_h2_err(int rc)
{
	if (rc == 0)
		return 0;
	if (rc == NGHTTP2_ERR_NOMEM)
		return ERR_NOMEM;
	return ERR_PROTO;
}

void grpc_bucket_init(struct grpc_bucket *b, uint64_t burst, uint64_t per_sec, uint64_t now_ns)
{
	ASSERT(burst > 0);
	b->burst = burst;
	b->per_sec = per_sec;
	b->tokens_milli = burst * 1000;
	b->last_ns = now_ns;
}

int grpc_bucket_take(struct grpc_bucket *b, uint64_t now_ns)
{
	if (now_ns > b->last_ns) {
		/* per_sec tokens per second = per_sec milli-tokens per millisecond; whole
		 * milliseconds only, the remainder carries over to the next call. */
		uint64_t ms = (now_ns - b->last_ns) / 1000000;
		b->tokens_milli += ms * b->per_sec;
		if (b->tokens_milli > b->burst * 1000)
			b->tokens_milli = b->burst * 1000;
		b->last_ns += ms * 1000000;
	}
	if (b->tokens_milli < 1000)
		return 0;
	b->tokens_milli -= 1000;
	ASSERT(b->tokens_milli <= b->burst * 1000);
	return 1;
}

void grpc_bucket_fill(struct grpc_bucket *b)
{
	b->tokens_milli = b->burst * 1000;
}
