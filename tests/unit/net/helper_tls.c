/* helper_tls.c — see helper_tls.h. */
#include "helper_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int run(const char *cmd)
{
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	return rc == 0 ? 0 : -1;
}

int test_certs_make(struct test_certs *c)
{
	snprintf(c->dir, sizeof c->dir, "/tmp/regatta-tls-XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->ca, sizeof c->ca, "%s/ca.pem", c->dir);
	snprintf(c->server_cert, sizeof c->server_cert, "%s/server.pem", c->dir);
	snprintf(c->server_key, sizeof c->server_key, "%s/server.key", c->dir);
	snprintf(c->client_cert, sizeof c->client_cert, "%s/client.pem", c->dir);
	snprintf(c->client_key, sizeof c->client_key, "%s/client.key", c->dir);
	snprintf(c->evil_cert, sizeof c->evil_cert, "%s/evil.pem", c->dir);
	snprintf(c->evil_key, sizeof c->evil_key, "%s/evil.key", c->dir);
	snprintf(c->evil_ca, sizeof c->evil_ca, "%s/evil-ca.pem", c->dir);
	char cmd[4096];
	snprintf(cmd, sizeof cmd,
		 "cd %s && "
		 "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
		 "-out ca.pem -days 2 -subj /CN=test-ca 2>/dev/null && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key "
		 "-out server.csr -subj /CN=localhost 2>/dev/null && "
		 "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-out server.pem -days 2 -extfile san.ext 2>/dev/null && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key "
		 "-out client.csr -subj /CN=client1 2>/dev/null && "
		 "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "-out client.pem -days 2 2>/dev/null && "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout evil-ca.key "
		 "-out evil-ca.pem -days 2 -subj /CN=evil-ca 2>/dev/null && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout evil.key "
		 "-out evil.csr -subj /CN=mallory 2>/dev/null && "
		 "openssl x509 -req -in evil.csr -CA evil-ca.pem -CAkey evil-ca.key -CAcreateserial "
		 "-out evil.pem -days 2 2>/dev/null",
		 c->dir);
	return run(cmd);
}

void test_certs_remove(struct test_certs *c)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
	(void)run(cmd);
}
