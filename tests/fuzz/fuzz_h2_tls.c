/*
 * fuzz_h2_tls.c — the TLS layer (net/tls.h, OpenSSL over memory BIOs) fed arbitrary peer bytes,
 * with HTTP/2 + gRPC behind it on the server side, as the transport stacks them.
 *
 * Input: byte 0 picks the side (b % 3: 0 server, 1 server requiring a client certificate
 * (mTLS), 2 client that sent its ClientHello) and the chunk size (bits 2..5: 1 << n bytes per
 * feed, 0 = all at once); the rest is what the peer sends. Random bytes never complete a
 * handshake, so this covers record parsing, the handshake messages up to the first one that
 * needs the peer's secret, alerts, and the glue (pending plaintext, buffer moves, failure
 * state); seeds are real ClientHellos / server flights made with python's ssl module
 * (tls_seeds() in tests/integration/capture_seeds.py). Checks: an error is sticky (after ERR_PROTO
 * the connection keeps refusing), decrypted bytes only appear after the handshake, and
 * nothing leaks. The certificate below is a throwaway self-signed test fixture (CN
 * fuzz.invalid), written to a temp file at start because tls.h loads files.
 */
#include "core/assert.h"
#include "core/err.h"
#include "core/log.h"
#include "net/buf.h"
#include "net/tls.h"
#include "tests/fuzz/fuzz_h2_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char FUZZ_CERT_PEM[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBhTCCASugAwIBAgIUMF31JuU6m0QtYDiKa4NXJj49SpMwCgYIKoZIzj0EAwIw\n"
	"FzEVMBMGA1UEAwwMZnV6ei5pbnZhbGlkMCAXDTI2MTEyNTE4NDAwOFoYDzIxMjYx\n"
	"MTAxMTg0MDA4WjAXMRUwEwYDVQQDDAxmdXp6LmludmFsaWQwWTATBgcqhkjOPQIB\n"
	"BggqhkjOPQMBBwNCAASVk9OeW09mbDdocFdQl/WYRIC3Gm7ynWsV2Mr22J1K+WeO\n"
	"93Xcfq+viREbAQiPGGDw6bGhU7vh6srgisnBbEs9o1MwUTAdBgNVHQ4EFgQUspIy\n"
	"CCG48Tbad3JWQzdGuGqO15MwHwYDVR0jBBgwFoAUspIyCCG48Tbad3JWQzdGuGqO\n"
	"15MwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA/sOGXV3Jm/e2\n"
	"CpLsuqGZUhAdH14PNGAAX2XCdMazWDMCIERJmnn7NiwPLB28acy08kdXtkWKiZ1c\n"
	"FjvTPVEliN4l\n"
	"-----END CERTIFICATE-----\n"
	;

static const char FUZZ_KEY_PEM[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDQSVzqtzIo4iSfM1\n"
	"avrFRpY1R66bMdBaDYoNGRfNamGhRANCAASVk9OeW09mbDdocFdQl/WYRIC3Gm7y\n"
	"nWsV2Mr22J1K+WeO93Xcfq+viREbAQiPGGDw6bGhU7vh6srgisnBbEs9\n"
	"-----END PRIVATE KEY-----\n"
	;

static struct tls_ctx *ctx_server, *ctx_mtls, *ctx_client;

static void write_file(char *path, const char *text)
{
	int fd = mkstemp(path);
	ASSERT(fd >= 0);
	size_t n = strlen(text);
	ASSERT(write(fd, text, n) == (ssize_t)n);
	ASSERT(close(fd) == 0);
}

static void init_once(void)
{
	if (ctx_server)
		return;
	log_set_level(LOG_LEVEL_OFF); /* every refused handshake would log a line */
	char crt[] = "/tmp/regatta-fuzz-crt-XXXXXX", key[] = "/tmp/regatta-fuzz-key-XXXXXX";
	write_file(crt, FUZZ_CERT_PEM);
	write_file(key, FUZZ_KEY_PEM);
	struct tls_config s = {.cert_file = crt, .key_file = key};
	ASSERT(tls_ctx_new_server(&s, &ctx_server) == 0);
	struct tls_config m = {.cert_file = crt, .key_file = key, .ca_file = crt, .verify_peer = 1};
	ASSERT(tls_ctx_new_server(&m, &ctx_mtls) == 0);
	struct tls_config c = {.ca_file = crt, .verify_peer = 1, .server_name = "fuzz.invalid"};
	ASSERT(tls_ctx_new_client(&c, &ctx_client) == 0);
	unlink(crt);
	unlink(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	init_once();
	unsigned side = data[0] % 3u;
	size_t chunk = ((data[0] >> 2) & 15u) ? (size_t)1 << ((data[0] >> 2) & 15u) : size;
	struct tls_ctx *ctx = side == 0 ? ctx_server : side == 1 ? ctx_mtls : ctx_client;
	struct tls_conn *t;
	ASSERT(tls_conn_new(ctx, &t) == 0);
	struct net_buf plain, cipher;
	net_buf_init(&plain);
	net_buf_init(&cipher);
	struct h2fuzz_server hs;
	int have_h2 = 0;
	int rc = tls_conn_start(t, &cipher);
	ASSERT(rc == 0);
	if (side != 2) { /* the server speaks HTTP/2 through TLS, as the transport does */
		h2fuzz_server_open(&hs);
		have_h2 = 1;
	}
	int failed = 0;
	for (size_t off = 1; off < size;) {
		size_t n = size - off < chunk ? size - off : chunk;
		net_buf_clear(&cipher);
		rc = tls_conn_recv(t, data + off, n, &plain, &cipher);
		off += n;
		if (rc) {
			ASSERT(rc == ERR_PROTO || rc == ERR_CLOSED || rc == ERR_NOMEM);
			failed = 1;
			break;
		}
		if (net_buf_size(&plain)) {
			ASSERT(tls_conn_handshake_done(t)); /* no application data before it */
			if (have_h2) /* (its answers are drained and dropped by the harness) */
				(void)h2fuzz_server_feed(&hs, net_buf_head(&plain), net_buf_size(&plain));
			net_buf_clear(&plain);
		}
	}
	if (failed) { /* sticky: a failed connection refuses more input */
		net_buf_clear(&cipher);
		static const uint8_t more[] = {0x16, 0x03, 0x01, 0x00, 0x01, 0x01};
		ASSERT(tls_conn_recv(t, more, sizeof more, &plain, &cipher) != 0);
	}
	tls_conn_close(t, &cipher);
	if (have_h2)
		h2fuzz_server_close(&hs);
	tls_conn_free(t);
	net_buf_deinit(&plain);
	net_buf_deinit(&cipher);
	return 0;
}
