/*
 * grpc_server.h — the gRPC server: a method registry and HTTP/2 connections driven sans-I/O.
 *
 * PUBLIC API (stable; extend, do not change).
 *
 * Pieces:
 *   struct grpc_server       method registry + configuration. Build it before the first
 *                            connection; afterwards it is read-only and may be shared by the
 *                            connections of every core.
 *   struct grpc_server_conn  one HTTP/2 connection. It never touches a socket: the owner feeds it
 *                            the bytes read from the peer (grpc_server_conn_recv) and drains the
 *                            bytes to write (grpc_server_conn_send). net/transport.h does that
 *                            with the reactor; tests do it with two buffers.
 *   struct grpc_call         one RPC on a connection.
 *
 * Threading: a connection, its calls and every function below belong to one core (the thread
 * that created the connection). A handler that forwards work to another core gets the answer
 * back by mailbox and calls grpc_call_* on the connection's core.
 *
 * Handler model. A method is a set of callbacks (struct grpc_method). Message bytes given to
 * callbacks are already decompressed and valid only during the callback (decode them into the
 * call's arena or copy them).
 *   UNARY, SERVER_STREAMING: on_message runs once with the single request, after the client
 *       half-closed. Zero or several requests are answered UNIMPLEMENTED by the layer (the gRPC
 *       spec's "cardinality violation").
 *   CLIENT_STREAMING, BIDI: on_message runs for every request message as it arrives, then
 *       on_half_close once the client has finished sending (required for CLIENT_STREAMING,
 *       optional for BIDI).
 *   on_start (optional, every kind) runs when the request headers were accepted, before any
 *       message: e.g. to authenticate (grpc_call_header(call, "authorization")) or to start a
 *       server-first stream.
 *
 * Call lifetime (the one rule): the handler owns a call from the first callback it receives for
 * it (on_start, else on_message or on_half_close) and must call grpc_call_finish() on it exactly
 * once, from inside that callback or any time later. Until then the call object and its arena
 * stay valid, even if the client went away. If the call dies first (client RST_STREAM, deadline
 * passed, connection closed or reset), on_cancel runs once with the reason (CANCELLED,
 * DEADLINE_EXCEEDED or UNAVAILABLE); sends then return ERR_CANCELED and the handler still calls
 * grpc_call_finish() to release the call (nothing more goes on the wire). A call that dies
 * before its first callback is cleaned up by the layer and the handler never hears of it.
 *
 * What the layer answers by itself (trailers-only responses, as grpc-go does): unknown service or
 * method -> UNIMPLEMENTED; :method not POST -> HTTP 405 + INTERNAL; content-type not
 * application/grpc[+...] -> HTTP 415 + INTERNAL; unknown
 * grpc-encoding -> UNIMPLEMENTED with our grpc-accept-encoding; malformed grpc-timeout -> HTTP 400
 * + INTERNAL; request message larger than max_recv_msg_bytes (declared or after decompression)
 * -> RESOURCE_EXHAUSTED; corrupt compressed message -> INTERNAL; deadline passed ->
 * DEADLINE_EXCEEDED (then RST_STREAM CANCEL); connection draining -> REFUSED_STREAM. In the
 * cases where a handler already owns the call it also gets on_cancel.
 *
 * Responses: headers go out with the first message (or as a trailers-only response when
 * grpc_call_finish comes first). grpc-status and grpc-message go in the trailers. If the
 * client had not half-closed when the trailers were sent, RST_STREAM(NO_ERROR) follows (as
 * grpc-go does) so it stops sending.
 *
 * Connection-level protection (limits in core/limits.h): SETTINGS max concurrent streams, max
 * header list size, max frame size; large stream and connection windows; PING answered by
 * nghttp2; a ping flood (more than LIMIT_H2_PING_BURST pings without us sending anything, then
 * over LIMIT_H2_PING_PER_SEC) gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings" — keepalive pings
 * every 10 s, as Regatta's Go followers send, never get near it; rapid reset (RST_STREAM over
 * LIMIT_H2_RESET_BURST, refilled at LIMIT_H2_RESET_PER_SEC) gets GOAWAY.
 */
#ifndef NET_GRPC_SERVER_H
#define NET_GRPC_SERVER_H

#include "core/arena.h"
#include "core/err.h"
#include "net/buf.h"
#include "net/grpc.h"

#include <stddef.h>
#include <stdint.h>

struct grpc_server;
struct grpc_server_conn;
struct grpc_call;

/* ---- server: registry + configuration ------------------------------------------------------ */

struct grpc_server_config {
	size_t max_recv_msg_bytes;       /* 0 -> LIMIT_MESSAGE_BYTES (after decompression too) */
	size_t max_send_msg_bytes;       /* 0 -> LIMIT_MESSAGE_BYTES */
	uint32_t max_concurrent_streams; /* 0 -> LIMIT_H2_MAX_CONCURRENT_STREAMS */
	uint32_t max_header_list_bytes;  /* 0 -> LIMIT_H2_MAX_HEADER_LIST_BYTES */
	uint32_t max_frame_bytes;        /* 0 -> LIMIT_H2_MAX_FRAME_BYTES */
	uint32_t stream_window_bytes;    /* 0 -> LIMIT_H2_STREAM_WINDOW_BYTES */
	uint32_t conn_window_bytes;      /* 0 -> LIMIT_H2_CONN_WINDOW_BYTES */
	/* Compress responses with the request's grpc-encoding when the client accepts it (what a
	 * grpc-go server does). 0: responses are always identity (cheaper; every client accepts). */
	int mirror_compression;
	/* Monotonic clock in ns for deadlines and rate limits. NULL -> clock_mono_ns(). The
	 * transport passes the reactor's per-turn time; tests pass a fake clock. */
	uint64_t (*clock_ns)(void *ctx);
	void *clock_ctx;
};

/* cfg may be NULL for defaults. */
int grpc_server_new(const struct grpc_server_config *cfg, struct grpc_server **out) WUR;
/* Free after every connection of this server was freed. */
void grpc_server_free(struct grpc_server *s);

struct grpc_method {
	const char *path; /* full method name "/pkg.Service/Method"; copied */
	enum grpc_method_kind kind;
	void (*on_start)(struct grpc_call *call);                                  /* optional */
	void (*on_message)(struct grpc_call *call, const uint8_t *msg, size_t len); /* required */
	void (*on_half_close)(struct grpc_call *call); /* required for CLIENT_STREAMING */
	void (*on_cancel)(struct grpc_call *call, int status);                     /* optional */
	/* The send queue fell below half of LIMIT_GRPC_CALL_SEND_QUEUE_BYTES after a send
	 * returned ERR_AGAIN (optional; streaming senders use it for backpressure). */
	void (*on_writable)(struct grpc_call *call);
	void *ctx; /* service object: grpc_call_method_ctx() */
};

/* Register a method. ERR_EXISTS for a duplicate path, ERR_INVAL for a malformed path, a missing
 * on_message (or on_half_close for CLIENT_STREAMING), ERR_NOMEM. Not after the first connection
 * was created. A BIDI call that half-closes before any callback reached the handler (no on_start,
 * no message, no on_half_close) is answered OK by the layer. */
int grpc_server_register(struct grpc_server *s, const struct grpc_method *m) WUR;

/* ---- connection ---------------------------------------------------------------------------- */

struct grpc_server_conn_hooks {
	/* New output became pending outside grpc_server_conn_recv/tick (a handler answered later):
	 * the owner should call grpc_server_conn_send soon (the transport flushes at turn end).
	 * May be NULL. Never called from inside recv, send or tick. */
	void (*on_output)(void *ctx);
	void *ctx;
};

/* The connection starts by queueing our SETTINGS (and a connection WINDOW_UPDATE). hooks may be
 * NULL. ERR_NOMEM. */
int grpc_server_conn_new(struct grpc_server *s, const struct grpc_server_conn_hooks *hooks,
			 struct grpc_server_conn **out) WUR;
/* Free the connection. Calls still owned by handlers get on_cancel(UNAVAILABLE) (unless already
 * canceled) and stay valid until their grpc_call_finish(). */
void grpc_server_conn_free(struct grpc_server_conn *c);

/* Peer description for handlers and logs: address ("1.2.3.4:5678") and the verified TLS client
 * identity (certificate subject CN, or NULL). Copied. */
int grpc_server_conn_set_peer(struct grpc_server_conn *c, const char *addr, const char *identity) WUR;

/* Feed bytes read from the peer. Returns 0, or ERR_PROTO when the connection must end (bad
 * preface, protocol error, flood): drain grpc_server_conn_send (it may hold a GOAWAY), then
 * close. Handlers' callbacks run inside this call. */
int grpc_server_conn_recv(struct grpc_server_conn *c, const uint8_t *data, size_t len) WUR;

/* Append pending output to `out` until it holds at least max_bytes unread bytes or nothing is
 * pending (a single frame may overshoot). Returns 0, ERR_NOMEM or ERR_PROTO (fatal). */
int grpc_server_conn_send(struct grpc_server_conn *c, struct net_buf *out, size_t max_bytes) WUR;

/* Output is pending. */
int grpc_server_conn_want_write(const struct grpc_server_conn *c);
/* Nothing more will be read or written (GOAWAY exchanged and every stream done, or a fatal
 * error): once its own buffers are flushed the owner closes the socket and frees the conn. */
int grpc_server_conn_done(const struct grpc_server_conn *c);

/* Expire deadlines (DEADLINE_EXCEEDED) and advance a graceful shutdown. Call when
 * grpc_server_conn_next_timer_ns() has passed (the transport arms a timer for it). */
void grpc_server_conn_tick(struct grpc_server_conn *c);
/* Absolute time (the server's clock) of the next tick that has work, or UINT64_MAX. */
uint64_t grpc_server_conn_next_timer_ns(const struct grpc_server_conn *c);

/* Graceful shutdown: GOAWAY (a notice first, then the final last-stream-id after a PING round
 * trip), refuse new streams, let in-flight calls finish. grpc_server_conn_done() turns true once
 * they did; the owner bounds the wait with its own grace timer, then frees the connection. */
void grpc_server_conn_shutdown(struct grpc_server_conn *c);

/* Counters. */
size_t grpc_server_conn_active_calls(const struct grpc_server_conn *c);
uint64_t grpc_server_conn_calls_total(const struct grpc_server_conn *c);

/* ---- call ---------------------------------------------------------------------------------- */

/* The registered method's ctx. */
void *grpc_call_method_ctx(const struct grpc_call *call);
/* Handler's own per-call pointer (NULL at start). */
void grpc_call_set_user(struct grpc_call *call, void *user);
void *grpc_call_user(const struct grpc_call *call);
/* Per-call arena (cap LIMIT_REQUEST_ARENA_BYTES), freed when the call is released. Use it as the
 * protobuf-c allocator for decoding requests. */
struct arena *grpc_call_arena(struct grpc_call *call);
/* "/pkg.Service/Method" */
const char *grpc_call_path(const struct grpc_call *call);
/* First request header with this (lower-case) name, or NULL. *len (if not NULL) gets its length.
 * Pseudo-headers and the gRPC reserved headers are not listed (grpc-timeout: see deadline). */
const char *grpc_call_header(const struct grpc_call *call, const char *name, size_t *len);
/* All custom request headers, in order. */
size_t grpc_call_header_count(const struct grpc_call *call);
struct grpc_md grpc_call_header_at(const struct grpc_call *call, size_t i);
/* Absolute deadline on the server's clock, or UINT64_MAX for none. */
uint64_t grpc_call_deadline_ns(const struct grpc_call *call);
/* The request's grpc-encoding. */
enum grpc_encoding grpc_call_request_encoding(const struct grpc_call *call);
/* Canceled (on_cancel ran or is about to): sends will fail. */
int grpc_call_is_canceled(const struct grpc_call *call);
/* Peer address / TLS identity from grpc_server_conn_set_peer ("" / NULL when unknown or gone). */
const char *grpc_call_peer(const struct grpc_call *call);
const char *grpc_call_peer_identity(const struct grpc_call *call);

/* Response metadata: headers before the first message, trailers before finish. At most
 * LIMIT_GRPC_MD_ENTRIES each; names must be lower-case and not reserved. ERR_INVAL (bad name,
 * too late), ERR_TOOBIG (too many), ERR_CANCELED, ERR_NOMEM. */
int grpc_call_add_header(struct grpc_call *call, const char *name, const char *value) WUR;
int grpc_call_add_trailer(struct grpc_call *call, const char *name, const char *value) WUR;
/* Choose the response encoding (before the first message); ignored if the client does not
 * accept it. Default: identity (or the request's encoding with mirror_compression). */
void grpc_call_set_response_encoding(struct grpc_call *call, enum grpc_encoding e);

/* Queue one response message (copied, framed, compressed if chosen). Returns 0; ERR_CANCELED
 * (call dead); ERR_TOOBIG (over max_send_msg_bytes); ERR_INVAL (after finish, or a second
 * message on a UNARY/CLIENT_STREAMING method); ERR_AGAIN when the call's queue already holds
 * LIMIT_GRPC_CALL_SEND_QUEUE_BYTES (nothing queued; wait for on_writable); ERR_NOMEM. */
int grpc_call_send_msg(struct grpc_call *call, const uint8_t *msg, size_t len) WUR;
/* Zero-copy variant: reserve space for a `len`-byte message, fill it (e.g. protobuf-c pack),
 * then commit. Same errors as send_msg from reserve (returned via *err, NULL result). */
uint8_t *grpc_call_send_reserve(struct grpc_call *call, size_t len, int *err);
int grpc_call_send_commit(struct grpc_call *call) WUR;
/* Bytes queued on this call and not yet handed to HTTP/2. */
size_t grpc_call_send_queued(const struct grpc_call *call);

/* End the call with a status (GRPC_STATUS_*) and optional message (NULL or text; it is
 * percent-encoded on the wire). Releases the handler's ownership: the call must not be used
 * afterwards. Returns 0, or ERR_CANCELED when the call had already died (nothing was sent). */
int grpc_call_finish(struct grpc_call *call, int status, const char *message);
/* Unary convenience: send_msg + finish(OK). On a send error finishes with the matching status
 * and returns the error. */
int grpc_call_reply(struct grpc_call *call, const uint8_t *msg, size_t len);

#endif
