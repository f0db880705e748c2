/* test_tls.c — TLS over memory BIOs: handshake with ALPN h2, gRPC over TLS in memory, mTLS
 * accept/reject, server-name verification. Certificates are made by the openssl CLI. */
#include "helper_net.h"
#include "helper_tls.h"
#include "net/tls.h"

#include <criterion/criterion.h>
#include <string.h>

static struct test_certs certs;

static void setup(void)
{
	cr_assert_eq(test_certs_make(&certs), 0);
}

static void teardown(void)
{
	test_certs_remove(&certs);
}

struct tpair {
	struct tls_conn *s, *c;
	struct net_buf c2s, s2c; /* ciphertext */
	struct net_buf splain, cplain;
	int serr, cerr;
};

/* Shuttle ciphertext until quiet; returns 0 or the first error. */
static void tpump(struct tpair *t)
{
	for (int i = 0; i < 1000; i++) {
		int moved = 0;
		if (net_buf_size(&t->c2s) && !t->serr) {
			size_t n = net_buf_size(&t->c2s);
			t->serr = tls_conn_recv(t->s, net_buf_head(&t->c2s), n, &t->splain, &t->s2c);
			net_buf_consume(&t->c2s, n);
			moved = 1;
		}
		if (net_buf_size(&t->s2c) && !t->cerr) {
			size_t n = net_buf_size(&t->s2c);
			t->cerr = tls_conn_recv(t->c, net_buf_head(&t->s2c), n, &t->cplain, &t->c2s);
			net_buf_consume(&t->s2c, n);
			moved = 1;
		}
		if (!moved)
			return;
	}
	cr_assert_fail("tls pump did not settle");
}

static void tpair_init(struct tpair *t, struct tls_ctx *sctx, struct tls_ctx *cctx)
{
	memset(t, 0, sizeof *t);
	cr_assert_eq(tls_conn_new(sctx, &t->s), 0);
	cr_assert_eq(tls_conn_new(cctx, &t->c), 0);
	cr_assert_eq(tls_conn_start(t->c, &t->c2s), 0);
	cr_assert_eq(tls_conn_start(t->s, &t->s2c), 0);
}

static void tpair_deinit(struct tpair *t)
{
	tls_conn_free(t->s);
	tls_conn_free(t->c);
	net_buf_deinit(&t->c2s);
	net_buf_deinit(&t->s2c);
	net_buf_deinit(&t->splain);
	net_buf_deinit(&t->cplain);
}

TestSuite(tls, .init = setup, .fini = teardown);

Test(tls, handshake_alpn_and_data)
{
	struct tls_config sc = {.cert_file = certs.server_cert, .key_file = certs.server_key};
	struct tls_config cc = {.ca_file = certs.ca, .verify_peer = 1, .server_name = "localhost"};
	struct tls_ctx *sctx, *cctx;
	cr_assert_eq(tls_ctx_new_server(&sc, &sctx), 0);
	cr_assert_eq(tls_ctx_new_client(&cc, &cctx), 0);
	struct tpair t;
	tpair_init(&t, sctx, cctx);
	/* written before the handshake: kept until it completes */
	cr_assert_eq(tls_conn_send(t.c, (const uint8_t *)"early", 5, &t.c2s), 0);
	tpump(&t);
	cr_assert_eq(t.serr, 0);
	cr_assert_eq(t.cerr, 0);
	cr_assert(tls_conn_handshake_done(t.s));
	cr_assert(tls_conn_handshake_done(t.c));
	cr_assert_str_eq(tls_conn_alpn(t.c), "h2");
	cr_assert_str_eq(tls_conn_version(t.c), "TLSv1.3");
	cr_assert_null(tls_conn_peer_identity(t.s)); /* no client certificate */
	cr_assert_str_eq(tls_conn_peer_identity(t.c), "localhost");
	cr_assert_eq(net_buf_size(&t.splain), 5);
	cr_assert_eq(memcmp(net_buf_head(&t.splain), "early", 5), 0);
	/* a large write crosses many records */
	size_t n = 1u << 20;
	uint8_t *big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (uint8_t)(i * 7);
	cr_assert_eq(tls_conn_send(t.s, big, n, &t.s2c), 0);
	tpump(&t);
	cr_assert_eq(net_buf_size(&t.cplain), n);
	cr_assert_eq(memcmp(net_buf_head(&t.cplain), big, n), 0);
	free(big);
	/* close_notify */
	tls_conn_close(t.s, &t.s2c);
	tpump(&t);
	cr_assert_eq(t.cerr, ERR_CLOSED);
	tpair_deinit(&t);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

Test(tls, mtls_accepts_and_rejects)
{
	struct tls_config sc = {.cert_file = certs.server_cert, .key_file = certs.server_key,
				.ca_file = certs.ca, .verify_peer = 1};
	struct tls_ctx *sctx;
	cr_assert_eq(tls_ctx_new_server(&sc, &sctx), 0);
	/* good client certificate */
	struct tls_config good = {.cert_file = certs.client_cert, .key_file = certs.client_key,
				  .ca_file = certs.ca, .verify_peer = 1, .server_name = "localhost"};
	struct tls_ctx *cctx;
	cr_assert_eq(tls_ctx_new_client(&good, &cctx), 0);
	struct tpair t;
	tpair_init(&t, sctx, cctx);
	cr_assert_eq(tls_conn_send(t.c, (const uint8_t *)"hi", 2, &t.c2s), 0);
	tpump(&t);
	cr_assert_eq(t.serr, 0);
	cr_assert_eq(t.cerr, 0);
	cr_assert_str_eq(tls_conn_peer_identity(t.s), "client1");
	cr_assert_eq(net_buf_size(&t.splain), 2);
	tpair_deinit(&t);
	tls_ctx_free(cctx);
	/* no client certificate */
	struct tls_config none = {.ca_file = certs.ca, .verify_peer = 1, .server_name = "localhost"};
	cr_assert_eq(tls_ctx_new_client(&none, &cctx), 0);
	tpair_init(&t, sctx, cctx);
	cr_assert_eq(tls_conn_send(t.c, (const uint8_t *)"hi", 2, &t.c2s), 0);
	tpump(&t);
	cr_assert(t.serr == ERR_PROTO || t.cerr == ERR_PROTO);
	cr_assert_eq(net_buf_size(&t.splain), 0);
	tpair_deinit(&t);
	tls_ctx_free(cctx);
	/* certificate from another CA */
	struct tls_config evil = {.cert_file = certs.evil_cert, .key_file = certs.evil_key,
				  .ca_file = certs.ca, .verify_peer = 1, .server_name = "localhost"};
	cr_assert_eq(tls_ctx_new_client(&evil, &cctx), 0);
	tpair_init(&t, sctx, cctx);
	cr_assert_eq(tls_conn_send(t.c, (const uint8_t *)"hi", 2, &t.c2s), 0);
	tpump(&t);
	cr_assert_eq(t.serr, ERR_PROTO);
	cr_assert_eq(net_buf_size(&t.splain), 0);
	tpair_deinit(&t);
	tls_ctx_free(cctx);
	tls_ctx_free(sctx);
}

Test(tls, client_verifies_server)
{
	struct tls_config sc = {.cert_file = certs.server_cert, .key_file = certs.server_key};
	struct tls_ctx *sctx, *cctx;
	cr_assert_eq(tls_ctx_new_server(&sc, &sctx), 0);
	/* wrong name */
	struct tls_config wrong = {.ca_file = certs.ca, .verify_peer = 1, .server_name = "other.example"};
	cr_assert_eq(tls_ctx_new_client(&wrong, &cctx), 0);
	struct tpair t;
	tpair_init(&t, sctx, cctx);
	tpump(&t);
	cr_assert_eq(t.cerr, ERR_PROTO);
	tpair_deinit(&t);
	tls_ctx_free(cctx);
	/* untrusted CA */
	struct tls_config untrusted = {.ca_file = certs.evil_ca, .verify_peer = 1, .server_name = "localhost"};
	cr_assert_eq(tls_ctx_new_client(&untrusted, &cctx), 0);
	tpair_init(&t, sctx, cctx);
	tpump(&t);
	cr_assert_eq(t.cerr, ERR_PROTO);
	tpair_deinit(&t);
	tls_ctx_free(cctx);
	/* verification off (insecure) connects */
	struct tls_config insecure = {.server_name = "whatever"};
	cr_assert_eq(tls_ctx_new_client(&insecure, &cctx), 0);
	tpair_init(&t, sctx, cctx);
	tpump(&t);
	cr_assert_eq(t.cerr, 0);
	cr_assert(tls_conn_handshake_done(t.c));
	tpair_deinit(&t);
	tls_ctx_free(cctx);
	tls_ctx_free(sctx);
	/* bad files */
	struct tls_config bad = {.cert_file = "/nonexistent.pem", .key_file = "/nonexistent.key"};
	cr_assert_eq(tls_ctx_new_server(&bad, &sctx), ERR_INVAL);
	struct tls_config mismatch = {.cert_file = certs.server_cert, .key_file = certs.client_key};
	cr_assert_eq(tls_ctx_new_server(&mismatch, &sctx), ERR_INVAL);
}

static struct svc svc;

/* gRPC through TLS through memory: server conn <- TLS <- bytes <- TLS <- client conn. */
Test(tls, grpc_over_tls_in_memory)
{
	struct tls_config sc = {.cert_file = certs.server_cert, .key_file = certs.server_key};
	struct tls_config cc = {.ca_file = certs.ca, .verify_peer = 1, .server_name = "localhost"};
	struct tls_ctx *sctx, *cctx;
	cr_assert_eq(tls_ctx_new_server(&sc, &sctx), 0);
	cr_assert_eq(tls_ctx_new_client(&cc, &cctx), 0);
	struct tpair t;
	tpair_init(&t, sctx, cctx);
	struct grpc_client_config gcc = {.tls = 1};
	struct pair p;
	pair_init(&p, NULL, &gcc, &svc);
	struct result r;
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(p.cc, "/test.Echo/Unary", NULL, (const uint8_t *)"secure", 6, &result_ops, &r, NULL), 0);
	for (int round = 0; round < 100 && !r.done; round++) {
		net_buf_clear(&p.c2s);
		cr_assert_eq(grpc_client_conn_send(p.cc, &p.c2s, 1u << 20), 0);
		cr_assert_eq(tls_conn_send(t.c, net_buf_head(&p.c2s), net_buf_size(&p.c2s), &t.c2s), 0);
		net_buf_clear(&p.s2c);
		cr_assert_eq(grpc_server_conn_send(p.sc, &p.s2c, 1u << 20), 0);
		cr_assert_eq(tls_conn_send(t.s, net_buf_head(&p.s2c), net_buf_size(&p.s2c), &t.s2c), 0);
		tpump(&t);
		cr_assert_eq(t.serr, 0);
		cr_assert_eq(t.cerr, 0);
		cr_assert_eq(grpc_server_conn_recv(p.sc, net_buf_head(&t.splain), net_buf_size(&t.splain)), 0);
		net_buf_clear(&t.splain);
		cr_assert_eq(grpc_client_conn_recv(p.cc, net_buf_head(&t.cplain), net_buf_size(&t.cplain)), 0);
		net_buf_clear(&t.cplain);
	}
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_OK);
	cr_assert_eq(memcmp(r.last, "secure", 6), 0);
	pair_deinit(&p);
	tpair_deinit(&t);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}
