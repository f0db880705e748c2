/*
 * tls.c — TLS through OpenSSL memory BIOs (see tls.h).
 *
 * Each connection has two memory BIOs: rbio gets the ciphertext fed by the owner, wbio collects
 * the ciphertext OpenSSL produces, which is moved to the caller's buffer after every operation
 * (so wbio never holds more than one operation's output). Application bytes written before the
 * handshake completes wait in `pending`, bounded by the caller (the HTTP/2 layer writes its
 * preface and SETTINGS there: a few hundred bytes).
 *
 * Policy: TLS 1.2 minimum; ALPN must select "h2" (gRPC requires HTTP/2 and so do we: a peer
 * that does not negotiate it fails the handshake); with verify_peer the server requires a client
 * certificate chaining to ca_file (mTLS) and the client verifies the server name.
 */
#include "net/tls.h"

#include "core/assert.h"
#include "core/log.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define TLS_READ_CHUNK (16u << 10)
#define TLS_IDENTITY_MAX 256

struct tls_ctx {
	SSL_CTX *ctx;
	int server;
	int verify_peer;
	char *server_name;
};

struct tls_conn {
	struct tls_ctx *ctx;
	SSL *ssl;
	BIO *rbio;
	BIO *wbio;
	struct net_buf pending; /* plaintext written before the handshake finished */
	int handshake_done;
	int failed;
	char identity[TLS_IDENTITY_MAX];
	int have_identity;
};

static const unsigned char alpn_h2[] = {2, 'h', '2'};

static void log_ssl_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	if (e) {
		ERR_error_string_n(e, buf, sizeof buf);
		LOG_WARN("tls: %s: %s", what, buf);
	} else {
		LOG_WARN("tls: %s", what);
	}
	ERR_clear_error();
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	unsigned char *sel = NULL;
	if (SSL_select_next_proto(&sel, outlen, alpn_h2, sizeof alpn_h2, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL; /* no h2: gRPC cannot run */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int ctx_common(const struct tls_config *cfg, int server, struct tls_ctx **out)
{
	ASSERT(cfg != NULL && out != NULL);
	struct tls_ctx *t = calloc(1, sizeof *t);
	if (!t)
		return ERR_NOMEM;
	int rc = ERR_NOMEM;
	t->server = server;
	t->verify_peer = cfg->verify_peer;
	t->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!t->ctx)
		goto err;
	rc = ERR_INVAL;
	if (!SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION))
		goto err_ssl;
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS);
	if (server && (!cfg->cert_file || !cfg->key_file)) {
		LOG_WARN("tls: a server needs cert_file and key_file");
		goto err;
	}
	if (cfg->cert_file) {
		if (SSL_CTX_use_certificate_chain_file(t->ctx, cfg->cert_file) != 1 ||
		    SSL_CTX_use_PrivateKey_file(t->ctx, cfg->key_file ? cfg->key_file : cfg->cert_file,
						SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(t->ctx) != 1) {
			LOG_WARN("tls: cannot load certificate %s / key %s", cfg->cert_file,
				 cfg->key_file ? cfg->key_file : cfg->cert_file);
			goto err_ssl;
		}
	}
	if (server) {
		SSL_CTX_set_alpn_select_cb(t->ctx, alpn_select, NULL);
		if (cfg->verify_peer) {
			if (!cfg->ca_file) {
				LOG_WARN("tls: client certificate verification needs ca_file");
				goto err;
			}
			if (SSL_CTX_load_verify_locations(t->ctx, cfg->ca_file, NULL) != 1)
				goto err_ssl;
			STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
			if (names)
				SSL_CTX_set_client_CA_list(t->ctx, names);
			SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		}
	} else {
		if (SSL_CTX_set_alpn_protos(t->ctx, alpn_h2, sizeof alpn_h2) != 0)
			goto err_ssl;
		if (cfg->ca_file) {
			if (SSL_CTX_load_verify_locations(t->ctx, cfg->ca_file, NULL) != 1)
				goto err_ssl;
		} else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
			goto err_ssl;
		}
		SSL_CTX_set_verify(t->ctx, cfg->verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
		if (cfg->server_name) {
			t->server_name = strdup(cfg->server_name);
			if (!t->server_name) {
				rc = ERR_NOMEM;
				goto err;
			}
		}
	}
	*out = t;
	return 0;
err_ssl:
	log_ssl_error("context setup failed");
err:
	tls_ctx_free(t);
	return rc;
}

int tls_ctx_new_server(const struct tls_config *cfg, struct tls_ctx **out)
{
	return ctx_common(cfg, 1, out);
}

int tls_ctx_new_client(const struct tls_config *cfg, struct tls_ctx **out)
{
	return ctx_common(cfg, 0, out);
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ctx);
	free(ctx->server_name);
	free(ctx);
}

int tls_conn_new(struct tls_ctx *ctx, struct tls_conn **out)
{
	ASSERT(ctx != NULL && out != NULL);
	struct tls_conn *t = calloc(1, sizeof *t);
	if (!t)
		return ERR_NOMEM;
	t->ctx = ctx;
	net_buf_init(&t->pending);
	t->ssl = SSL_new(ctx->ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		SSL_free(t->ssl);
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		free(t);
		return ERR_NOMEM;
	}
	/* An empty read BIO says "retry", not EOF. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both BIOs now */
	if (ctx->server) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		if (ctx->server_name) {
			if (SSL_set_tlsext_host_name(t->ssl, ctx->server_name) != 1 ||
			    (ctx->verify_peer && SSL_set1_host(t->ssl, ctx->server_name) != 1)) {
				tls_conn_free(t);
				return ERR_NOMEM;
			}
		}
	}
	*out = t;
	return 0;
}

void tls_conn_free(struct tls_conn *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	net_buf_deinit(&t->pending);
	free(t);
}

/* Move everything OpenSSL wrote into the caller's buffer. */
static int drain(struct tls_conn *t, struct net_buf *out)
{
	size_t pend;
	/* Bounded by the bytes OpenSSL produced for this operation. */
	while ((pend = BIO_ctrl_pending(t->wbio)) > 0) {
		uint8_t *p = net_buf_reserve(out, pend);
		if (!p)
			return ERR_NOMEM;
		int n = BIO_read(t->wbio, p, (int)pend);
		if (n <= 0)
			break;
		net_buf_commit(out, (size_t)n);
	}
	return 0;
}

static int write_all(struct tls_conn *t, const uint8_t *data, size_t len)
{
	size_t off = 0;
	while (off < len) {
		size_t n = len - off > (1u << 30) ? (1u << 30) : len - off;
		int w = SSL_write(t->ssl, data + off, (int)n);
		if (w <= 0) {
			log_ssl_error("write failed");
			t->failed = 1;
			return ERR_PROTO;
		}
		off += (size_t)w;
	}
	return 0;
}

static int on_handshake_done(struct tls_conn *t)
{
	const unsigned char *alpn = NULL;
	unsigned alen = 0;
	SSL_get0_alpn_selected(t->ssl, &alpn, &alen);
	if (alen != 2 || memcmp(alpn, "h2", 2) != 0) {
		LOG_WARN("tls: peer did not negotiate h2 via ALPN");
		return ERR_PROTO;
	}
	t->handshake_done = 1;
	X509 *cert = SSL_get_peer_certificate(t->ssl);
	if (cert) {
		if (SSL_get_verify_result(t->ssl) == X509_V_OK) {
			int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
							  t->identity, sizeof t->identity);
			t->have_identity = n > 0;
		}
		X509_free(cert);
	}
	if (net_buf_size(&t->pending)) {
		int rc = write_all(t, net_buf_head(&t->pending), net_buf_size(&t->pending));
		net_buf_deinit(&t->pending);
		if (rc)
			return rc;
	}
	return 0;
}

static int step_handshake(struct tls_conn *t)
{
	ERR_clear_error();
	int r = SSL_do_handshake(t->ssl);
	if (r == 1)
		return on_handshake_done(t);
	int e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	log_ssl_error("handshake failed");
	return ERR_PROTO;
}

int tls_conn_start(struct tls_conn *t, struct net_buf *cipher_out)
{
	ASSERT(t != NULL && cipher_out != NULL);
	int rc = step_handshake(t);
	if (rc)
		t->failed = 1;
	int drc = drain(t, cipher_out);
	return rc ? rc : drc;
}

int tls_conn_recv(struct tls_conn *t, const uint8_t *data, size_t len, struct net_buf *plain,
		  struct net_buf *cipher_out)
{
	ASSERT(t != NULL && plain != NULL && cipher_out != NULL);
	ASSERT(data != NULL || len == 0);
	if (t->failed)
		return ERR_PROTO;
	if (len && BIO_write(t->rbio, data, (int)len) != (int)len)
		return ERR_NOMEM;
	int rc = 0;
	if (!t->handshake_done) {
		rc = step_handshake(t);
		if (rc || !t->handshake_done)
			goto out;
	}
	/* Read until OpenSSL needs more input; bounded by the ciphertext fed so far. */
	for (;;) {
		uint8_t *p = net_buf_reserve(plain, TLS_READ_CHUNK);
		if (!p) {
			rc = ERR_NOMEM;
			goto out;
		}
		ERR_clear_error();
		int n = SSL_read(t->ssl, p, (int)TLS_READ_CHUNK);
		if (n > 0) {
			net_buf_commit(plain, (size_t)n);
			continue;
		}
		int e = SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			rc = ERR_CLOSED;
			goto out;
		}
		log_ssl_error("read failed");
		rc = ERR_PROTO;
		goto out;
	}
out:
	if (rc && rc != ERR_CLOSED)
		t->failed = 1;
	int drc = drain(t, cipher_out);
	return rc ? rc : drc;
}

int tls_conn_send(struct tls_conn *t, const uint8_t *data, size_t len, struct net_buf *cipher_out)
{
	ASSERT(t != NULL && cipher_out != NULL);
	ASSERT(data != NULL || len == 0);
	if (t->failed)
		return ERR_PROTO;
	if (len == 0)
		return 0;
	if (!t->handshake_done)
		return net_buf_append(&t->pending, data, len);
	int rc = write_all(t, data, len);
	int drc = drain(t, cipher_out);
	return rc ? rc : drc;
}

void tls_conn_close(struct tls_conn *t, struct net_buf *cipher_out)
{
	if (!t->handshake_done || t->failed)
		return;
	(void)SSL_shutdown(t->ssl);
	(void)drain(t, cipher_out);
}

int tls_conn_handshake_done(const struct tls_conn *t)
{
	return t->handshake_done;
}

const char *tls_conn_alpn(const struct tls_conn *t)
{
	return t->handshake_done ? "h2" : NULL;
}

const char *tls_conn_peer_identity(const struct tls_conn *t)
{
	return t->have_identity ? t->identity : NULL;
}

const char *tls_conn_version(const struct tls_conn *t)
{
	return SSL_get_version(t->ssl);
}
