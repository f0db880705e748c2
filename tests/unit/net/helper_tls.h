/* helper_tls.h — test certificates made with the openssl CLI in a temporary directory:
 * ca.pem, server.pem/server.key (CN=localhost, SAN localhost + 127.0.0.1),
 * client.pem/client.key (CN=client1, signed by ca), evil-ca.pem, evil.pem/evil.key (CN=mallory,
 * signed by another CA). */
#ifndef TEST_HELPER_TLS_H
#define TEST_HELPER_TLS_H

struct test_certs {
	char dir[256];
	char ca[300], server_cert[300], server_key[300], client_cert[300], client_key[300],
		evil_cert[300], evil_key[300], evil_ca[300];
};

/* Returns 0 or -1 (openssl CLI missing or failed). */
int test_certs_make(struct test_certs *c);
void test_certs_remove(struct test_certs *c);

#endif
