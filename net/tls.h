/*
 * tls.h — TLS 1.2/1.3 through OpenSSL memory BIOs: the protocol layer never touches a socket.
 *
 * PUBLIC API (stable; extend, do not change).
 *
 * A tls_ctx holds the certificate, key, trusted CAs and policy (one per listener or per client
 * configuration; build it before use, then read-only; OpenSSL's SSL_CTX is thread-safe for
 * creating connections, so one ctx may serve every core). A tls_conn is one connection: feed it
 * ciphertext read from the socket, get plaintext out; give it plaintext, get ciphertext to write.
 * ALPN offers/selects "h2" only (gRPC requires it); a peer that does not negotiate h2 fails the
 * handshake. mTLS: a server with verify_peer requires a client certificate signed by ca_file.
 *
 * A tls_conn belongs to one core.
 */
#ifndef NET_TLS_H
#define NET_TLS_H

#include "core/err.h"
#include "net/buf.h"

#include <stddef.h>
#include <stdint.h>

struct tls_ctx;
struct tls_conn;

struct tls_config {
	const char *cert_file;   /* PEM certificate chain: required for a server, for mTLS on a client */
	const char *key_file;    /* PEM private key matching cert_file */
	const char *ca_file;     /* PEM CAs: server -> verify client certificates; client -> verify
	                          * the server (NULL: the system's default trust store) */
	int verify_peer;         /* server: require a verified client certificate (mTLS);
	                          * client: verify the server's certificate and name (recommended) */
	const char *server_name; /* client: SNI and the name checked against the certificate */
};

/* Load files and build a context. ERR_INVAL (missing files/keys mismatch: logged with OpenSSL's
 * reason), ERR_NOMEM. */
int tls_ctx_new_server(const struct tls_config *cfg, struct tls_ctx **out) WUR;
int tls_ctx_new_client(const struct tls_config *cfg, struct tls_ctx **out) WUR;
void tls_ctx_free(struct tls_ctx *ctx);

/* A new connection. A client connection puts its ClientHello into the first output. */
int tls_conn_new(struct tls_ctx *ctx, struct tls_conn **out) WUR;
void tls_conn_free(struct tls_conn *t);

/* Feed ciphertext; decrypted application bytes are appended to `plain`, and any records TLS
 * must send (handshake, alerts, key updates) are appended to `cipher_out`. Returns 0,
 * ERR_PROTO (handshake failed, peer certificate rejected, no h2 via ALPN, bad record: the
 * alert is in cipher_out), ERR_CLOSED (peer sent close_notify), ERR_NOMEM. */
int tls_conn_recv(struct tls_conn *t, const uint8_t *data, size_t len, struct net_buf *plain,
		  struct net_buf *cipher_out) WUR;
/* Encrypt application bytes into cipher_out (kept inside until the handshake is done).
 * 0, ERR_PROTO, ERR_NOMEM. */
int tls_conn_send(struct tls_conn *t, const uint8_t *data, size_t len,
		  struct net_buf *cipher_out) WUR;
/* Start the handshake (client: ClientHello into cipher_out; server: nothing). */
int tls_conn_start(struct tls_conn *t, struct net_buf *cipher_out) WUR;
/* Queue close_notify. */
void tls_conn_close(struct tls_conn *t, struct net_buf *cipher_out);

int tls_conn_handshake_done(const struct tls_conn *t);
/* Negotiated ALPN protocol ("h2") or NULL. */
const char *tls_conn_alpn(const struct tls_conn *t);
/* Verified peer certificate's subject CN, or NULL (no certificate / not verified). */
const char *tls_conn_peer_identity(const struct tls_conn *t);
/* "TLSv1.3" etc. */
const char *tls_conn_version(const struct tls_conn *t);

#endif
