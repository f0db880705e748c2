/*
 * transport.h — the only part of net/ that owns sockets: it feeds the protocol layers (TLS,
 * HTTP/2 + gRPC) from the core's reactor (core/reactor.h).
 *
 * PUBLIC API (stable; extend, do not change).
 *
 * Server: one transport_server per core per listening address. Each core binds its own socket
 * with SO_REUSEPORT, so every core accepts connections on the same port and the kernel spreads
 * them. A connection lives on the core that accepted it: recv buffer -> (TLS) -> grpc_server_conn;
 * output is batched and flushed once per reactor turn by a turn hook, with at most
 * LIMIT_NET_SEND_BYTES_IN_FLIGHT per connection handed to the kernel at a time (a slow reader is
 * not read from while its output is over that bound: backpressure). Connection count per core is
 * bounded (LIMIT_CONNECTIONS_PER_CORE): over it, new sockets are closed at once.
 *
 * Client: transport_client connects (TCP, optional TLS with ALPN h2) and drives a
 * grpc_client_conn on the calling core. Reconnecting is the caller's business: on_closed tells
 * it the connection is gone.
 *
 * Sync client: grpc_client_sync_* runs its own reactor on the calling thread; for command-line
 * tools (regattactl) and tests. Not for use on a core thread.
 *
 * Every function except the sync client runs on the reactor's thread.
 */
#ifndef NET_TRANSPORT_H
#define NET_TRANSPORT_H

#include "core/err.h"
#include "core/reactor.h"
#include "net/buf.h"
#include "net/grpc_client.h"
#include "net/grpc_server.h"
#include "net/tls.h"

#include <stddef.h>
#include <stdint.h>

/* ---- server -------------------------------------------------------------------------------- */

struct transport_server;

struct transport_server_config {
	const char *addr;            /* "host:port"; port 0 picks one (see transport_server_port) */
	struct grpc_server *grpc;    /* methods; shared read-only across cores */
	struct tls_ctx *tls;         /* NULL: plaintext HTTP/2 (h2c, prior knowledge) */
	uint32_t max_conns;          /* 0 -> LIMIT_CONNECTIONS_PER_CORE */
	uint64_t shutdown_grace_ns;  /* drain time on shutdown; 0 -> LIMIT_NET_SHUTDOWN_GRACE_MS */
};

/* Bind and start accepting on reactor r. ERR_* from bind (e.g. ERR_EXISTS for a port in use
 * without SO_REUSEPORT peers). */
int transport_server_start(struct reactor *r, const struct transport_server_config *cfg,
			   struct transport_server **out) WUR;
/* The bound port (useful after binding port 0; other cores then bind that port). */
uint16_t transport_server_port(const struct transport_server *s);
size_t transport_server_conns(const struct transport_server *s);
/* Stop accepting; every connection gets GOAWAY and drains; after the grace time the rest are
 * closed. transport_server_idle() turns true when no connection is left. */
void transport_server_shutdown(struct transport_server *s);
int transport_server_idle(const struct transport_server *s);
/* Close everything now (calls get on_cancel UNAVAILABLE) and free. May be called while
 * operations are outstanding: frees once the reactor returned them (see docs/net.md). */
void transport_server_free(struct transport_server *s);

/* ---- client -------------------------------------------------------------------------------- */

struct transport_client;

struct transport_client_config {
	const char *addr;               /* "host:port" */
	struct tls_ctx *tls;            /* NULL: plaintext */
	struct grpc_client_config grpc; /* authority defaults to addr; tls flag set from tls */
	uint64_t connect_timeout_ns;    /* 0 -> LIMIT_NET_CONNECT_TIMEOUT_MS */
	/* Connected (and TLS handshake done): calls may start (they may also be started before;
	 * they are sent once connected). Optional. */
	void (*on_ready)(struct transport_client *c, void *ctx);
	/* The connection ended (err: ERR_CONN refused/reset, ERR_TIMEOUT, ERR_PROTO, ERR_CLOSED
	 * orderly). Calls not done already got UNAVAILABLE. The owner frees the client (may do so
	 * inside this callback). Optional. */
	void (*on_closed)(struct transport_client *c, int err, void *ctx);
	void *ctx;
};

int transport_client_connect(struct reactor *r, const struct transport_client_config *cfg,
			     struct transport_client **out) WUR;
struct grpc_client_conn *transport_client_grpc(struct transport_client *c);
int transport_client_ready(const struct transport_client *c);
/* Close (if open) and free; calls not done get UNAVAILABLE. */
void transport_client_free(struct transport_client *c);

/* ---- blocking convenience client ------------------------------------------------------------ */

struct grpc_client_sync;

/* url: "http://host:port" or "https://host:port". tls: NULL for defaults (https verifies the
 * server against the system trust store). Connects before returning. */
int grpc_client_sync_open(const char *url, const struct tls_config *tls, uint64_t timeout_ns,
			  struct grpc_client_sync **out) WUR;
void grpc_client_sync_close(struct grpc_client_sync *s);

/* One unary call. Returns 0 when the call completed (any gRPC status: see *status, *message
 * text is cut to message_cap), or an ERR_* when it could not be made. The response message
 * is appended to resp. */
int grpc_client_sync_unary(struct grpc_client_sync *s, const char *path,
			   const struct grpc_client_call_opts *opts, const uint8_t *req,
			   size_t req_len, struct net_buf *resp, int *status, char *message,
			   size_t message_cap) WUR;

/* One server-streaming call: on_msg runs for every response (return nonzero to cancel). */
typedef int (*grpc_client_sync_msg_fn)(void *ctx, const uint8_t *msg, size_t len);
int grpc_client_sync_stream(struct grpc_client_sync *s, const char *path,
			    const struct grpc_client_call_opts *opts, const uint8_t *req,
			    size_t req_len, grpc_client_sync_msg_fn on_msg, void *ctx, int *status,
			    char *message, size_t message_cap) WUR;

#endif
