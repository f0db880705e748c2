/*
 * grpc_client.h — the gRPC client: one HTTP/2 connection driven sans-I/O, many concurrent calls.
 *
 * PUBLIC API (stable; extend, do not change).
 *
 * Like the server, a connection never touches a socket: the owner feeds it the bytes read from
 * the peer (grpc_client_conn_recv) and drains the bytes to write (grpc_client_conn_send).
 * net/transport.h does that with the reactor (and net/transport.h's grpc_client_sync_* gives
 * command-line tools a blocking client). Users: regattactl, regatta-bench (thousands of
 * concurrent calls on one connection: calls beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS
 * wait in nghttp2's queue), the Raft transport and cross-DC replication.
 *
 * Threading: a connection and its calls belong to one core; every function is called there.
 *
 * Call lifetime: grpc_client_call_start creates a call; ops->on_done runs exactly once, with the
 * final status, and the call is freed when on_done returns (do not touch it afterwards). Before
 * on_done the caller may send (streaming requests), half-close and cancel. on_done runs:
 *   - with the server's grpc-status/grpc-message when the trailers arrive;
 *   - DEADLINE_EXCEEDED when the deadline passes first (the stream is reset: RST_STREAM CANCEL);
 *   - CANCELLED after grpc_client_call_cancel (from a later recv/send/tick, never inside cancel);
 *   - UNAVAILABLE when the stream is refused or reset, the server sent GOAWAY before processing
 *     it, or the connection is freed (then synchronously, inside grpc_client_conn_free);
 *   - INTERNAL for a protocol violation by the server (bad content-type, missing status, a
 *     message that cannot be decompressed), RESOURCE_EXHAUSTED for a response message over
 *     max_recv_msg_bytes; UNKNOWN/INTERNAL... mapping of HTTP statuses as the gRPC spec says.
 * Messages given to on_message are decompressed and valid only during the callback.
 */
#ifndef NET_GRPC_CLIENT_H
#define NET_GRPC_CLIENT_H

#include "core/err.h"
#include "net/buf.h"
#include "net/grpc.h"

#include <stddef.h>
#include <stdint.h>

struct grpc_client_conn;
struct grpc_client_call;

struct grpc_client_config {
	const char *authority;           /* ":authority", e.g. "127.0.0.1:8443" (required) */
	int tls;                         /* ":scheme" https when set, else http */
	const char *user_agent;          /* NULL -> "regatta-c/<version>" */
	size_t max_recv_msg_bytes;       /* 0 -> LIMIT_MESSAGE_BYTES */
	size_t max_send_msg_bytes;       /* 0 -> LIMIT_MESSAGE_BYTES */
	uint32_t max_calls;              /* calls started and not done; 0 -> LIMIT_GRPC_CLIENT_CALLS */
	uint32_t max_header_list_bytes;  /* 0 -> LIMIT_H2_MAX_HEADER_LIST_BYTES */
	uint32_t max_frame_bytes;        /* 0 -> LIMIT_H2_MAX_FRAME_BYTES */
	uint32_t stream_window_bytes;    /* 0 -> LIMIT_H2_STREAM_WINDOW_BYTES */
	uint32_t conn_window_bytes;      /* 0 -> LIMIT_H2_CONN_WINDOW_BYTES */
	/* Send a PING after this long without reading anything (0 = never); no answer within
	 * keepalive_timeout_ns (0 -> 20 s) makes the connection fail: every call gets UNAVAILABLE
	 * and grpc_client_conn_done() turns true. */
	uint64_t keepalive_ns;
	uint64_t keepalive_timeout_ns;
	uint64_t (*clock_ns)(void *ctx); /* NULL -> clock_mono_ns() */
	void *clock_ctx;
	/* Output became pending outside recv/send/tick (a call was started or a message sent from
	 * elsewhere): the owner should call grpc_client_conn_send soon. May be NULL. */
	void (*on_output)(void *ctx);
	void *output_ctx;
};

/* Queues the connection preface and our SETTINGS. ERR_INVAL (no authority), ERR_NOMEM. */
int grpc_client_conn_new(const struct grpc_client_config *cfg, struct grpc_client_conn **out) WUR;
/* Every call not done gets on_done(UNAVAILABLE, "connection closed") now. */
void grpc_client_conn_free(struct grpc_client_conn *c);

/* Feed bytes read from the server. 0, or ERR_PROTO when the connection must end (calls not done
 * then get UNAVAILABLE at free). Callbacks run inside. */
int grpc_client_conn_recv(struct grpc_client_conn *c, const uint8_t *data, size_t len) WUR;
/* Same contract as grpc_server_conn_send. */
int grpc_client_conn_send(struct grpc_client_conn *c, struct net_buf *out, size_t max_bytes) WUR;
int grpc_client_conn_want_write(const struct grpc_client_conn *c);
/* The connection is over (GOAWAY received and no calls left, fatal error, keepalive timeout). */
int grpc_client_conn_done(const struct grpc_client_conn *c);
/* New calls are accepted (no GOAWAY received, no fatal error). A caller that sees 0 opens a new
 * connection for new calls and lets this one finish its calls. */
int grpc_client_conn_usable(const struct grpc_client_conn *c);
/* Deadlines and keepalive. Same contract as the server's. */
void grpc_client_conn_tick(struct grpc_client_conn *c);
uint64_t grpc_client_conn_next_timer_ns(const struct grpc_client_conn *c);
/* Send GOAWAY(NO_ERROR); calls in flight finish, new ones fail with ERR_CLOSED. */
void grpc_client_conn_shutdown(struct grpc_client_conn *c);
size_t grpc_client_conn_active_calls(const struct grpc_client_conn *c);

struct grpc_client_call_ops {
	/* Response headers arrived (optional). */
	void (*on_headers)(struct grpc_client_call *call, void *ctx);
	/* One response message (required unless the caller expects none). */
	void (*on_message)(struct grpc_client_call *call, const uint8_t *msg, size_t len, void *ctx);
	/* The call's send queue fell below half of LIMIT_GRPC_CALL_SEND_QUEUE_BYTES after a send
	 * returned ERR_AGAIN (optional). */
	void (*on_writable)(struct grpc_client_call *call, void *ctx);
	/* Exactly once; message is decoded text ("" when none). The call is freed afterwards. */
	void (*on_done)(struct grpc_client_call *call, int status, const char *message, void *ctx);
};

struct grpc_client_call_opts {
	uint64_t timeout_ns;            /* 0 = no deadline; sent as grpc-timeout */
	const struct grpc_md *md;       /* custom request metadata (e.g. authorization) */
	size_t md_count;
	enum grpc_encoding encoding;    /* request compression (identity by default) */
};

/* Start a call: queues HEADERS (path "/pkg.Service/Method"). opts may be NULL. ERR_CLOSED when
 * the connection is not usable, ERR_BUSY when max_calls are in flight, ERR_INVAL, ERR_NOMEM. */
int grpc_client_call_start(struct grpc_client_conn *c, const char *path,
			   const struct grpc_client_call_opts *opts,
			   const struct grpc_client_call_ops *ops, void *ctx,
			   struct grpc_client_call **out) WUR;
/* Queue one request message (copied). 0, ERR_TOOBIG, ERR_INVAL (after close_send), ERR_CANCELED
 * (call ending), ERR_AGAIN (queue full: wait for on_writable), ERR_NOMEM. */
int grpc_client_call_send_msg(struct grpc_client_call *call, const uint8_t *msg, size_t len) WUR;
/* Half-close: no more request messages (END_STREAM after the queued ones). Idempotent. */
int grpc_client_call_close_send(struct grpc_client_call *call) WUR;
/* Cancel: RST_STREAM CANCEL; on_done(CANCELLED) follows from a later recv/send/tick. */
void grpc_client_call_cancel(struct grpc_client_call *call);
/* Response header or trailer (lower-case name), or NULL; valid until on_done returns. */
const char *grpc_client_call_header(const struct grpc_client_call *call, const char *name,
				    size_t *len);
void *grpc_client_call_ctx(const struct grpc_client_call *call);

/* Unary convenience: start + send_msg + close_send. */
int grpc_client_unary(struct grpc_client_conn *c, const char *path,
		      const struct grpc_client_call_opts *opts, const uint8_t *req, size_t len,
		      const struct grpc_client_call_ops *ops, void *ctx,
		      struct grpc_client_call **out) WUR;

#endif
