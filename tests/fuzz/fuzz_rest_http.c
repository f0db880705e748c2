/*
 * fuzz_rest_http.c — the REST port's request path (server/rest/rest_http.h) on arbitrary bytes
 * cut into arbitrary chunks, driven as the server drives it: feed; on a request write its
 * response and, when the client keeps the connection, go on with the next; on bad input write
 * the error response and stop.
 *
 * Input: byte 0 picks the chunk size (1 << (b & 15), 0 = everything at once); the rest is the
 * byte stream. Checked besides "no crash, no leak": consumption never exceeds what was given
 * and stops at a complete request; a request's path is a NUL-ended string within the limit that
 * starts with '/' (or is "*"); bounds are honoured (an accepted request never carries more than the limits
 * allow); errors are one of the statuses the contract lists; responses are well-formed.
 */
#include "core/assert.h"
#include "server/rest/rest_http.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_response(struct net_buf *out, int status, int head_only, int keep)
{
	net_buf_clear(out);
	static const char body[] = "body\n";
	int rc = rest_http_respond(out, status, "text/plain", body, sizeof body - 1, head_only, keep, 1, NULL);
	ASSERT(rc == 0);
	const char *t = (const char *)net_buf_head(out);
	size_t n = net_buf_size(out);
	ASSERT(n > 17 && memcmp(t, "HTTP/1.1 ", 9) == 0);
	size_t head_end = 0;
	for (size_t i = 0; i + 4 <= n; i++)
		if (!memcmp(t + i, "\r\n\r\n", 4)) {
			head_end = i + 4;
			break;
		}
	ASSERT(head_end > 0);
	ASSERT(n - head_end == (head_only ? 0 : sizeof body - 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint8_t ctl = data[0];
	size_t chunk = (ctl & 15) ? (size_t)1 << (ctl & 15) : size;
	const uint8_t *in = data + 1;
	size_t len = size - 1;
	struct rest_http h;
	rest_http_init(&h);
	struct net_buf out;
	net_buf_init(&out);
	size_t off = 0;      /* consumed */
	size_t avail = 0;    /* delivered so far: in[0, avail) */
	int requests = 0;
	for (size_t guard = 0; guard <= len + 1 && off < len; guard++) {
		if (off == avail)
			avail = len - avail < chunk ? len : avail + chunk;
		enum rest_http_event ev;
		size_t n = rest_http_feed(&h, in + off, avail - off, &ev);
		ASSERT(n <= avail - off);
		off += n;
		if (ev == REST_HTTP_MORE) {
			ASSERT(off == avail);
			continue;
		}
		if (ev == REST_HTTP_ERROR) {
			int st = rest_http_error_status(&h);
			ASSERT(st == 400 || st == 413 || st == 414 || st == 431 || st == 505);
			ASSERT(rest_http_error_reason(&h) != NULL);
			check_response(&out, st, 0, 0);
			break;
		}
		const struct rest_http_request *r = rest_http_request(&h);
		ASSERT(r->path_len >= 1 && r->path_len <= LIMIT_REST_URL_BYTES);
		ASSERT(strlen(r->path) == r->path_len);
		ASSERT(r->path[0] == '/' || !strcmp(r->path, "*"));
		ASSERT(r->method == REST_METHOD_GET || r->method == REST_METHOD_HEAD || r->method == REST_METHOD_OTHER);
		ASSERT(r->http_minor <= 9);
		ASSERT(h.headers <= LIMIT_REST_HEADERS && h.head_bytes <= LIMIT_REST_HEAD_BYTES);
		ASSERT(h.body_bytes <= LIMIT_REST_BODY_BYTES);
		check_response(&out, 200, r->method == REST_METHOD_HEAD, r->keep_alive);
		requests++;
		/* a paused parser consumes nothing more */
		enum rest_http_event ev2;
		ASSERT(rest_http_feed(&h, in + off, avail - off, &ev2) == 0 && ev2 == REST_HTTP_REQUEST);
		if (!r->keep_alive)
			break;
		rest_http_next(&h);
	}
	ASSERT(requests <= (int)len);
	net_buf_deinit(&out);
	return 0;
}
