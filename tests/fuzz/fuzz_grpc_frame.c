/*
 * fuzz_grpc_frame.c — the gRPC length-prefixed message parser (net/grpc_frame.h) fed arbitrary
 * bytes cut into arbitrary chunks.
 *
 * Input: byte 0 picks the chunk size (1 << (b & 15), 0 = everything at once) and bit 4 a small
 * max_msg_bytes (exercises ERR_TOOBIG); the rest is the stream. Besides "no crash, no leak",
 * it checks the parser against a model: while it reports no error, the messages it delivered,
 * re-framed, must be exactly the prefix of the input it consumed, every message must respect
 * the limit, and the parser is idle exactly when no partial message is left.
 */
#include "core/assert.h"
#include "net/grpc_frame.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct model {
	const uint8_t *in; /* the whole stream */
	size_t in_len;
	size_t matched;    /* bytes of `in` accounted for by delivered messages */
	size_t max_msg;
};

static int on_msg(void *ctx, int compressed, const uint8_t *msg, size_t len)
{
	struct model *m = ctx;
	ASSERT(compressed == 0 || compressed == 1);
	ASSERT(len <= m->max_msg);
	uint8_t hdr[GRPC_FRAME_HEADER_BYTES];
	grpc_frame_header_write(hdr, compressed, (uint32_t)len);
	ASSERT(m->matched + sizeof hdr + len <= m->in_len);
	ASSERT(memcmp(m->in + m->matched, hdr, sizeof hdr) == 0);
	ASSERT(len == 0 || memcmp(m->in + m->matched + sizeof hdr, msg, len) == 0);
	m->matched += sizeof hdr + len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t ctl = data[0];
	size_t chunk = (ctl & 15) ? (size_t)1 << (ctl & 15) : size;
	struct model m = {.in = data + 1, .in_len = size - 1,
			  .max_msg = (ctl & 16) ? 64 : (1u << 20)};
	struct grpc_frame_parser p;
	grpc_frame_parser_init(&p, m.max_msg);
	size_t off = 0;
	int err = 0;
	while (off < m.in_len && err == 0) {
		size_t n = m.in_len - off < chunk ? m.in_len - off : chunk;
		err = grpc_frame_parser_feed(&p, m.in + off, n, on_msg, &m);
		off += n;
	}
	if (err == 0) {
		ASSERT(off == m.in_len);
		/* Everything not delivered is one partial message. */
		ASSERT(m.matched <= m.in_len);
		ASSERT(grpc_frame_parser_idle(&p) == (m.matched == m.in_len));
		ASSERT(m.in_len - m.matched < GRPC_FRAME_HEADER_BYTES + m.max_msg);
	} else {
		ASSERT(err < 0);
	}
	grpc_frame_parser_deinit(&p);
	return 0;
}
