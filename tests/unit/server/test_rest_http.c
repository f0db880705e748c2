/*
 * test_rest_http.c — the REST port's HTTP/1.1 handling (server/rest/rest_http.h) fed from memory:
 * requests, keep-alive and pipelining, every bound (413/414/431), malformed input (400/505),
 * responses; and a randomized check that any split of a pipelined stream gives the same
 * requests (prints its seed; REGATTA_TEST_SEED=N replays one).
 */
#include "core/prng.h"
#include "server/rest/rest_http.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Feed a whole string; returns the event, *used the consumed bytes. */
static enum rest_http_event feed(struct rest_http *h, const char *s, size_t *used)
{
	enum rest_http_event ev;
	size_t n = rest_http_feed(h, (const uint8_t *)s, strlen(s), &ev);
	if (used)
		*used = n;
	return ev;
}

static int error_of(const char *s)
{
	struct rest_http h;
	rest_http_init(&h);
	enum rest_http_event ev = feed(&h, s, NULL);
	cr_assert_eq(ev, REST_HTTP_ERROR, "expected an error for %.60s", s);
	return rest_http_error_status(&h);
}

Test(rest_http, simple_get)
{
	struct rest_http h;
	rest_http_init(&h);
	cr_assert_not(rest_http_started(&h));
	size_t used;
	const char *req = "GET /metrics?x=1#frag HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n";
	cr_assert_eq(feed(&h, req, &used), REST_HTTP_REQUEST);
	cr_assert_eq(used, strlen(req));
	const struct rest_http_request *r = rest_http_request(&h);
	cr_assert_eq(r->method, REST_METHOD_GET);
	cr_assert_str_eq(r->path, "/metrics");
	cr_assert_eq(r->path_len, 8);
	cr_assert(r->keep_alive);
	cr_assert_eq(r->http_minor, 1);
	/* nothing more is consumed until the request was answered */
	cr_assert_eq(feed(&h, "GET / HTTP/1.1\r\n\r\n", &used), REST_HTTP_REQUEST);
	cr_assert_eq(used, 0);
}

Test(rest_http, head_close_and_http10)
{
	struct rest_http h;
	rest_http_init(&h);
	cr_assert_eq(feed(&h, "HEAD /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", NULL), REST_HTTP_REQUEST);
	cr_assert_eq(rest_http_request(&h)->method, REST_METHOD_HEAD);
	cr_assert_not(rest_http_request(&h)->keep_alive);

	rest_http_init(&h);
	cr_assert_eq(feed(&h, "GET /healthz HTTP/1.0\r\n\r\n", NULL), REST_HTTP_REQUEST);
	cr_assert_not(rest_http_request(&h)->keep_alive, "HTTP/1.0 closes unless asked");
	cr_assert_eq(rest_http_request(&h)->http_minor, 0);

	rest_http_init(&h);
	cr_assert_eq(feed(&h, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", NULL), REST_HTTP_REQUEST);
	cr_assert(rest_http_request(&h)->keep_alive);
}

Test(rest_http, other_methods_and_bodies)
{
	struct rest_http h;
	rest_http_init(&h);
	size_t used;
	const char *req = "POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET";
	cr_assert_eq(feed(&h, req, &used), REST_HTTP_REQUEST);
	cr_assert_eq(used, strlen(req) - 3, "the body is read, the next request is left");
	cr_assert_eq(rest_http_request(&h)->method, REST_METHOD_OTHER);
	cr_assert(rest_http_request(&h)->keep_alive);

	rest_http_init(&h);
	const char *chunked = "DELETE /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
	cr_assert_eq(feed(&h, chunked, &used), REST_HTTP_REQUEST);
	cr_assert_eq(used, strlen(chunked));
	cr_assert_eq(rest_http_request(&h)->method, REST_METHOD_OTHER);
}

Test(rest_http, absolute_form_and_root)
{
	struct rest_http h;
	rest_http_init(&h);
	cr_assert_eq(feed(&h, "GET http://example.com:8079/readyz?a HTTP/1.1\r\n\r\n", NULL), REST_HTTP_REQUEST);
	cr_assert_str_eq(rest_http_request(&h)->path, "/readyz");
	rest_http_init(&h);
	cr_assert_eq(feed(&h, "GET http://example.com HTTP/1.1\r\n\r\n", NULL), REST_HTTP_REQUEST);
	cr_assert_str_eq(rest_http_request(&h)->path, "/");
	rest_http_init(&h);
	cr_assert_eq(feed(&h, "OPTIONS * HTTP/1.1\r\n\r\n", NULL), REST_HTTP_REQUEST);
	cr_assert_str_eq(rest_http_request(&h)->path, "*");
	cr_assert_eq(rest_http_request(&h)->method, REST_METHOD_OTHER);
	cr_assert_eq(error_of("GET healthz HTTP/1.1\r\n\r\n"), 400);
}

Test(rest_http, pipelined_requests)
{
	struct rest_http h;
	rest_http_init(&h);
	const char *two = "GET /healthz HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n";
	size_t used;
	cr_assert_eq(feed(&h, two, &used), REST_HTTP_REQUEST);
	cr_assert_str_eq(rest_http_request(&h)->path, "/healthz");
	cr_assert_eq(used, strlen("GET /healthz HTTP/1.1\r\n\r\n"));
	rest_http_next(&h);
	cr_assert_not(rest_http_started(&h));
	size_t used2;
	cr_assert_eq(feed(&h, two + used, &used2), REST_HTTP_REQUEST);
	cr_assert_eq(used + used2, strlen(two));
	cr_assert_str_eq(rest_http_request(&h)->path, "/metrics");
	cr_assert_not(rest_http_request(&h)->keep_alive);
}

Test(rest_http, partial_then_complete)
{
	struct rest_http h;
	rest_http_init(&h);
	size_t used;
	cr_assert_eq(feed(&h, "GET /hea", &used), REST_HTTP_MORE);
	cr_assert_eq(used, 8);
	cr_assert(rest_http_started(&h));
	cr_assert_eq(feed(&h, "lthz HTTP/1.1\r\nHost: x\r", &used), REST_HTTP_MORE);
	cr_assert_eq(feed(&h, "\n\r\n", &used), REST_HTTP_REQUEST);
	cr_assert_str_eq(rest_http_request(&h)->path, "/healthz");
}

Test(rest_http, blank_lines_between_requests_are_not_a_request)
{
	struct rest_http h;
	rest_http_init(&h);
	cr_assert_eq(feed(&h, "\r\n\r\n", NULL), REST_HTTP_MORE);
	cr_assert_not(rest_http_started(&h), "an idle connection sending CRLF has not started a request");
}

Test(rest_http, bounds)
{
	/* target longer than LIMIT_REST_URL_BYTES: 414 */
	size_t big = LIMIT_REST_URL_BYTES + 10;
	char *req = malloc(big + 64);
	cr_assert(req);
	strcpy(req, "GET /");
	memset(req + 5, 'a', big);
	strcpy(req + 5 + big, " HTTP/1.1\r\n\r\n");
	cr_assert_eq(error_of(req), 414);
	free(req);

	/* too many header fields: 431 */
	char *many = malloc(LIMIT_REST_HEADERS * 16 + 64);
	cr_assert(many);
	size_t off = (size_t)sprintf(many, "GET / HTTP/1.1\r\n");
	for (int i = 0; i <= LIMIT_REST_HEADERS; i++)
		off += (size_t)sprintf(many + off, "X-%d: v\r\n", i);
	strcpy(many + off, "\r\n");
	cr_assert_eq(error_of(many), 431);
	free(many);

	/* header bytes over LIMIT_REST_HEAD_BYTES: 431 */
	size_t vb = LIMIT_REST_HEAD_BYTES + 1;
	char *fat = malloc(vb + 64);
	cr_assert(fat);
	off = (size_t)sprintf(fat, "GET / HTTP/1.1\r\nX: ");
	memset(fat + off, 'v', vb);
	strcpy(fat + off + vb, "\r\n\r\n");
	cr_assert_eq(error_of(fat), 431);
	free(fat);

	/* bodies: a declared length over the limit, and a chunked body that grows past it */
	char cl[128];
	snprintf(cl, sizeof cl, "GET / HTTP/1.1\r\nContent-Length: %u\r\n\r\n", LIMIT_REST_BODY_BYTES + 1);
	cr_assert_eq(error_of(cl), 413);
	struct rest_http h;
	rest_http_init(&h);
	enum rest_http_event ev = REST_HTTP_MORE;
	const char *head = "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
	rest_http_feed(&h, (const uint8_t *)head, strlen(head), &ev);
	cr_assert_eq(ev, REST_HTTP_MORE);
	char chunk[1100];
	memset(chunk, 'z', sizeof chunk);
	memcpy(chunk, "400\r\n", 5);
	memcpy(chunk + 5 + 0x400, "\r\n", 2);
	for (int i = 0; i < 8 && ev == REST_HTTP_MORE; i++)
		rest_http_feed(&h, (const uint8_t *)chunk, 5 + 0x400 + 2, &ev);
	cr_assert_eq(ev, REST_HTTP_ERROR);
	cr_assert_eq(rest_http_error_status(&h), 413);
}

Test(rest_http, malformed)
{
	cr_assert_eq(error_of("HELLO\r\n\r\n"), 400);
	cr_assert_eq(error_of("GET / HTTP/1.1\r\nBad Header\r\n\r\n"), 400);
	cr_assert_eq(error_of("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), 400);
	cr_assert_eq(error_of("\x01\x02\x03\x04"), 400);
	cr_assert_eq(error_of("GET / HTTP/2.0\r\n\r\n"), 505);
	int s = error_of("GET / HTTP/9.9\r\n\r\n");
	cr_assert(s == 505 || s == 400, "got %d", s);
	/* a request whose bytes stop being HTTP after the request line */
	cr_assert_eq(error_of("GET / HTTP/1.1\r\n\x7f\x7f\r\n\r\n"), 400);
	/* after an error nothing more is consumed */
	struct rest_http h;
	rest_http_init(&h);
	cr_assert_eq(feed(&h, "GET / HTTP/1.1\r\nHo", NULL), REST_HTTP_MORE);
	cr_assert_eq(feed(&h, "\x01: x\r\n", NULL), REST_HTTP_ERROR);
	size_t used;
	cr_assert_eq(feed(&h, "GET / HTTP/1.1\r\n\r\n", &used), REST_HTTP_ERROR);
	cr_assert_eq(used, 0);
	cr_assert(strlen(rest_http_error_reason(&h)) > 0);
}

Test(rest_http, upgrade_is_answered_then_closed)
{
	struct rest_http h;
	rest_http_init(&h);
	const char *req = "GET /metrics HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
	cr_assert_eq(feed(&h, req, NULL), REST_HTTP_REQUEST);
	cr_assert_str_eq(rest_http_request(&h)->path, "/metrics");
	cr_assert_not(rest_http_request(&h)->keep_alive);
}

Test(rest_http, responses)
{
	struct net_buf b;
	net_buf_init(&b);
	cr_assert_eq(rest_http_respond(&b, 200, "text/plain", "ok\n", 3, 0, 1, 1, NULL), 0);
	const char *want = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
			   "Connection: keep-alive\r\n\r\nok\n";
	cr_assert_eq(net_buf_size(&b), strlen(want));
	cr_assert(memcmp(net_buf_head(&b), want, strlen(want)) == 0);
	net_buf_clear(&b);
	/* HEAD: the length of the body that GET would send, no body */
	cr_assert_eq(rest_http_respond(&b, 405, NULL, "abc", 3, 1, 0, 0, "Allow: GET, HEAD\r\n"), 0);
	const char *want2 = "HTTP/1.0 405 Method Not Allowed\r\nContent-Length: 3\r\nConnection: close\r\n"
			    "Allow: GET, HEAD\r\n\r\n";
	cr_assert_eq(net_buf_size(&b), strlen(want2));
	cr_assert(memcmp(net_buf_head(&b), want2, strlen(want2)) == 0);
	net_buf_deinit(&b);
	cr_assert_str_eq(rest_http_reason(503), "Service Unavailable");
	cr_assert_str_eq(rest_http_reason(299), "Unknown");
}

/* Any split of a pipelined stream yields the same requests in the same order. */
Test(rest_http, random_splits)
{
	uint64_t seed = prng_seed_from_time();
	const char *env = getenv("REGATTA_TEST_SEED");
	if (env)
		seed = strtoull(env, NULL, 10);
	printf("rest_http.random_splits seed %" PRIu64 " (REGATTA_TEST_SEED=%" PRIu64 " replays)\n", seed, seed);
	struct prng rng;
	prng_init(&rng, seed);
	const char *reqs[] = {
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /metrics?a=b HTTP/1.1\r\nAccept: */*\r\n\r\n",
		"POST /readyz HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody",
		"PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
		"GET /readyz HTTP/1.1\r\n\r\n",
	};
	const char *paths[] = {"/healthz", "/metrics", "/readyz", "/x", "/readyz"};
	const enum rest_method methods[] = {REST_METHOD_GET, REST_METHOD_HEAD, REST_METHOD_OTHER, REST_METHOD_OTHER,
					    REST_METHOD_GET};
	size_t nreq = sizeof reqs / sizeof reqs[0];
	char stream[1024] = "";
	for (size_t i = 0; i < nreq; i++)
		strcat(stream, reqs[i]);
	size_t total = strlen(stream);
	for (int round = 0; round < 2000; round++) {
		struct rest_http h;
		rest_http_init(&h);
		size_t got = 0, off = 0, avail = 0; /* stream[off, avail) delivered, not consumed */
		for (int guard = 0; guard < 100000 && got < nreq; guard++) {
			if (off == avail) {
				cr_assert(avail < total, "seed %" PRIu64 ": stream ended after %zu requests", seed, got);
				avail += 1 + prng_next(&rng) % (total - avail);
			}
			enum rest_http_event ev;
			off += rest_http_feed(&h, (const uint8_t *)stream + off, avail - off, &ev);
			cr_assert_neq(ev, REST_HTTP_ERROR, "seed %" PRIu64, seed);
			if (ev == REST_HTTP_REQUEST) {
				const struct rest_http_request *r = rest_http_request(&h);
				cr_assert_str_eq(r->path, paths[got], "seed %" PRIu64, seed);
				cr_assert_eq(r->method, methods[got], "seed %" PRIu64, seed);
				got++;
				rest_http_next(&h);
			}
		}
		cr_assert_eq(got, nreq, "seed %" PRIu64, seed);
		cr_assert_eq(off, total, "seed %" PRIu64, seed);
	}
}
