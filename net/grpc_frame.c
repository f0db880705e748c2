/*
 * grpc_frame.c — incremental parser for gRPC length-prefixed messages (see grpc_frame.h).
 *
 * The declared length is checked against the maximum as soon as the 5-byte header is complete,
 * so the gather buffer never grows past max_msg_bytes.
 */
#include "net/grpc_frame.h"

#include "core/assert.h"

#include <stdlib.h>
#include <string.h>

#define GRPC_FRAME_KEEP_BYTES (64u << 10)

void grpc_frame_parser_init(struct grpc_frame_parser *p, size_t max_msg_bytes)
{
	ASSERT(max_msg_bytes > 0 && max_msg_bytes <= UINT32_MAX);
	memset(p, 0, sizeof *p);
	p->max_msg_bytes = max_msg_bytes;
}

void grpc_frame_parser_deinit(struct grpc_frame_parser *p)
{
	free(p->body);
	p->body = NULL;
	p->body_cap = 0;
}

int grpc_frame_parser_idle(const struct grpc_frame_parser *p)
{
	return p->hdr_have == 0;
}

void grpc_frame_header_write(uint8_t out[GRPC_FRAME_HEADER_BYTES], int compressed, uint32_t len)
{
	out[0] = compressed ? 1 : 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

static int deliver(struct grpc_frame_parser *p, const uint8_t *data, grpc_frame_msg_fn cb, void *ctx)
{
	int compressed = p->compressed;
	uint32_t len = p->msg_len;
	/* Reset before the callback, so a callback error leaves a consistent parser. */
	p->hdr_have = 0;
	p->body_have = 0;
	p->msg_len = 0;
	p->msgs++;
	return cb(ctx, compressed, data, len);
}

int grpc_frame_parser_feed(struct grpc_frame_parser *p, const uint8_t *data, size_t len,
			   grpc_frame_msg_fn cb, void *ctx)
{
	ASSERT(cb != NULL);
	ASSERT(data != NULL || len == 0);
	size_t i = 0;
	while (i < len) {
		if (p->hdr_have < GRPC_FRAME_HEADER_BYTES) {
			size_t take = GRPC_FRAME_HEADER_BYTES - p->hdr_have;
			if (take > len - i)
				take = len - i;
			memcpy(p->hdr + p->hdr_have, data + i, take);
			p->hdr_have += take;
			i += take;
			if (p->hdr_have < GRPC_FRAME_HEADER_BYTES)
				break;
			if (p->hdr[0] > 1)
				return ERR_PROTO;
			p->compressed = p->hdr[0];
			p->msg_len = (uint32_t)p->hdr[1] << 24 | (uint32_t)p->hdr[2] << 16 |
				     (uint32_t)p->hdr[3] << 8 | p->hdr[4];
			if (p->msg_len > p->max_msg_bytes)
				return ERR_TOOBIG;
			p->body_have = 0;
			if (p->msg_len == 0) {
				int rc = deliver(p, (const uint8_t *)"", cb, ctx);
				if (rc)
					return rc;
				continue;
			}
		}
		/* Body. Whole message available in this chunk and nothing gathered: no copy. */
		size_t need = p->msg_len - p->body_have;
		if (p->body_have == 0 && len - i >= need) {
			int rc = deliver(p, data + i, cb, ctx);
			i += need;
			if (rc)
				return rc;
			continue;
		}
		if (p->body_cap < p->msg_len) {
			uint8_t *nb = realloc(p->body, p->msg_len);
			if (!nb)
				return ERR_NOMEM;
			p->body = nb;
			p->body_cap = p->msg_len;
		}
		size_t take = need < len - i ? need : len - i;
		memcpy(p->body + p->body_have, data + i, take);
		p->body_have += take;
		i += take;
		if (p->body_have == p->msg_len) {
			int rc = deliver(p, p->body, cb, ctx);
			/* A long-lived stream should not keep a large gather buffer after a spike. */
			if (p->body_cap > GRPC_FRAME_KEEP_BYTES) {
				free(p->body);
				p->body = NULL;
				p->body_cap = 0;
			}
			if (rc)
				return rc;
		}
	}
	ASSERT(i <= len);
	return 0;
}
