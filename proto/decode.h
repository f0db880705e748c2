/*
 * decode.h — bounded protobuf decoding into a per-request arena, and encoding helpers.
 *
 * protobuf-c's unpacker trusts its input more than a server may: it recurses once per nesting
 * level with no limit (google.protobuf.Struct nests without end), allocates in proportion to
 * the number of fields rather than the number of bytes, and reports every failure as NULL.
 * proto_decode() therefore runs in two passes:
 *
 *   1. proto_check() walks the wire bytes guided by the message descriptors, without
 *      allocating: every tag, varint and length must be well formed and inside its parent,
 *      known fields must carry the wire type their declared type allows, strings must be UTF-8
 *      (proto3 rule) without NUL bytes (protobuf-c would cut them there), groups are refused,
 *      and message nesting may not exceed max_depth.
 *   2. protobuf_c_message_unpack() with an allocator backed by the caller's arena. The arena's
 *      byte cap bounds the memory one message can take; running out is ERR_TOOBIG. Nothing is
 *      freed individually: the result lives until the caller resets the arena.
 *
 * Errors: ERR_INVAL for malformed input, ERR_TOOBIG for an input, nesting or memory limit.
 * The gRPC layer maps them to INVALID_ARGUMENT and RESOURCE_EXHAUSTED and sends err->msg as
 * grpc-message. Pure functions over memory: any thread may call them with its own arena.
 */
#ifndef PROTO_DECODE_H
#define PROTO_DECODE_H

#include "core/arena.h"
#include "core/err.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_ERROR_MSG_BYTES 200

/* Why a decode failed, in words fit for a gRPC status message. */
struct proto_error {
	int code;                          /* 0, ERR_INVAL or ERR_TOOBIG */
	size_t offset;                     /* byte offset into the input where the problem is */
	char msg[PROTO_ERROR_MSG_BYTES];   /* e.g. "regatta.v1.PutRequest.key: length 90 ..." */
};

/* Largest max_depth a caller may ask for (the walk and protobuf-c recurse once per level). */
#define PROTO_DEPTH_MAX 1024u

/* Limits of one decode. NULL options mean LIMIT_MESSAGE_BYTES and LIMIT_PROTO_DEPTH. */
struct proto_decode_opts {
	size_t max_input_bytes; /* longer input: ERR_TOOBIG before any parsing */
	uint32_t max_depth;     /* the top-level message is depth 1 */
};

/*
 * Structural check only (pass 1 above); allocates nothing. Returns 0, ERR_INVAL or ERR_TOOBIG
 * and fills *err (which may be NULL) on failure.
 */
int proto_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		const struct proto_decode_opts *opts, struct proto_error *err) WUR;

/*
 * Decode `buf` as a `desc` message into `arena`. On success *out points to the message (cast
 * it to the generated type) and stays valid until the arena is reset; do not call
 * protobuf_c_message_free_unpacked on it. On failure *out is NULL and *err says why.
 */
int proto_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		 struct arena *arena, const struct proto_decode_opts *opts, ProtobufCMessage **out,
		 struct proto_error *err) WUR;

/* A protobuf-c allocator that takes memory from `arena` and never frees (arena reset does). */
void proto_allocator_init(ProtobufCAllocator *pa, struct arena *arena);

/*
 * Encode `msg` into memory from `arena`. Returns 0 and sets *out and *out_len, or ERR_TOOBIG when
 * the arena cannot hold the encoding.
 */
int proto_encode(const ProtobufCMessage *msg, struct arena *arena, uint8_t **out,
		 size_t *out_len) WUR;

/*
 * Encode `msg` into buf[0..cap). Returns 0 and sets *out_len, or ERR_TOOBIG (buf untouched,
 * *out_len set to the size needed) when it does not fit.
 */
int proto_encode_into(const ProtobufCMessage *msg, uint8_t *buf, size_t cap, size_t *out_len) WUR;

/* The gRPC status code (google.rpc.Code number) for a decode error code. */
int proto_error_grpc_status(int code);

#endif
