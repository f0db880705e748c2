/*
 * grpc_frame.h — gRPC length-prefixed messages: 1 byte compressed flag, 4 bytes big-endian
 * length, then the (possibly compressed) message.
 *
 * The parser is incremental: DATA frames cut messages anywhere, so bytes are fed as they arrive
 * and each complete message is delivered to a callback. A message that arrives whole inside one
 * fed chunk is delivered in place (no copy); otherwise its bytes are gathered into an internal
 * buffer that grows only up to the message's declared length, which is checked against
 * max_msg_bytes from the 5-byte header, before any body byte is buffered. So a peer cannot make
 * the parser hold more than max_msg_bytes + 5 bytes.
 *
 * Invariants: hdr_have < 5 while reading a header; body_have < msg_len while reading a body.
 */
#ifndef NET_GRPC_FRAME_H
#define NET_GRPC_FRAME_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

#define GRPC_FRAME_HEADER_BYTES 5

/* One complete message. `data` is valid only during the callback. Return 0 to go on, or a
 * negative ERR_* to stop parsing (returned from grpc_frame_parser_feed as is). */
typedef int (*grpc_frame_msg_fn)(void *ctx, int compressed, const uint8_t *data, size_t len);

struct grpc_frame_parser {
	size_t max_msg_bytes;
	uint8_t hdr[GRPC_FRAME_HEADER_BYTES];
	size_t hdr_have;
	int compressed;
	uint32_t msg_len;
	uint8_t *body;      /* gather buffer (malloc), used when a message spans chunks */
	size_t body_have;
	size_t body_cap;
	uint64_t msgs;      /* messages delivered, for tests and stats */
};

void grpc_frame_parser_init(struct grpc_frame_parser *p, size_t max_msg_bytes);
void grpc_frame_parser_deinit(struct grpc_frame_parser *p);

/* Feed bytes. Returns 0, ERR_TOOBIG when a header declares a message over max_msg_bytes
 * (-> RESOURCE_EXHAUSTED), ERR_PROTO when the flag byte is not 0 or 1, ERR_NOMEM, or the first
 * non-zero value the callback returned. After an error the parser must not be fed again. */
int grpc_frame_parser_feed(struct grpc_frame_parser *p, const uint8_t *data, size_t len,
			   grpc_frame_msg_fn cb, void *ctx) WUR;

/* True when no partial message is pending (the stream may legally end here). */
int grpc_frame_parser_idle(const struct grpc_frame_parser *p);

/* Write a 5-byte message header. */
void grpc_frame_header_write(uint8_t out[GRPC_FRAME_HEADER_BYTES], int compressed, uint32_t len);

#endif
