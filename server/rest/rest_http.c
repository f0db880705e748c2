/*
 * rest_http.c — HTTP/1.1 requests from bytes, responses into a buffer (see rest_http.h).
 *
 * The parser's callbacks count and bound what arrives (target, header count and bytes, body);
 * a callback returning non-zero stops http_parser_execute with HPE_CB_*, and the status we
 * chose is already recorded. on_message_complete pauses the parser, so execute returns right
 * after the request's last byte and later bytes (a pipelined request) are left to the caller.
 *
 * Invariants: state == REST_HTTP_REQUEST exactly while the parser is paused on a complete
 * request; after REST_HTTP_ERROR nothing is consumed any more.
 */
#include "server/rest/rest_http.h"

#include "core/assert.h"

#include <stdio.h>
#include <string.h>

static int fail(struct rest_http *h, int status, const char *reason)
{
	if (!h->error_status) {
		h->error_status = status;
		h->error_reason = reason;
	}
	return -1; /* stops the parser (on_headers_complete gives 1 and 2 other meanings) */
}

static struct rest_http *of(http_parser *p)
{
	return p->data;
}

static int on_message_begin(http_parser *p)
{
	struct rest_http *h = of(p);
	h->started = 1;
	h->headers = 0;
	h->head_bytes = 0;
	h->body_bytes = 0;
	h->url_len = 0;
	h->in_value = 0;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct rest_http *h = of(p);
	if (len > LIMIT_REST_URL_BYTES - h->url_len)
		return fail(h, 414, "the request target is too long");
	memcpy(h->url + h->url_len, at, len);
	h->url_len += len;
	h->head_bytes += len;
	return 0;
}

static int count_head(struct rest_http *h, size_t len)
{
	if (len > LIMIT_REST_HEAD_BYTES - h->head_bytes)
		return fail(h, 431, "the request headers are too large");
	h->head_bytes += len;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	(void)at;
	struct rest_http *h = of(p);
	if (h->in_value || h->headers == 0) { /* a new field begins (fields arrive in pieces) */
		if (h->headers == LIMIT_REST_HEADERS)
			return fail(h, 431, "too many request headers");
		h->headers++;
		h->in_value = 0;
	}
	return count_head(h, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	(void)at;
	struct rest_http *h = of(p);
	h->in_value = 1;
	return count_head(h, len);
}

static int on_headers_complete(http_parser *p)
{
	struct rest_http *h = of(p);
	if (p->http_major != 1)
		return fail(h, 505, "only HTTP/1.0 and HTTP/1.1 are served here");
	/* Content-Length is ULLONG_MAX when absent; chunked bodies are counted in on_body. */
	if (p->content_length != UINT64_MAX && p->content_length > LIMIT_REST_BODY_BYTES)
		return fail(h, 413, "the request body is too large");
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (h->url_len == 0 || http_parser_parse_url(h->url, h->url_len, 0, &u) != 0)
		return fail(h, 400, "malformed request target");
	size_t off = 0, len = 0;
	if (u.field_set & (1u << UF_PATH)) {
		off = u.field_data[UF_PATH].off;
		len = u.field_data[UF_PATH].len;
	}
	ASSERT(off + len <= h->url_len);
	struct rest_http_request *r = &h->req;
	if (h->url_len == 1 && h->url[0] == '*') { /* asterisk form (OPTIONS *): no resource */
		off = 0;
		len = 1;
	} else if (len && h->url[off] != '/') {
		return fail(h, 400, "malformed request target");
	}
	if (len == 0) { /* absolute form without a path means "/" */
		r->path[0] = '/';
		r->path_len = 1;
	} else {
		memcpy(r->path, h->url + off, len);
		r->path_len = len;
	}
	r->path[r->path_len] = 0;
	if (p->method == HTTP_GET)
		r->method = REST_METHOD_GET;
	else if (p->method == HTTP_HEAD)
		r->method = REST_METHOD_HEAD;
	else
		r->method = REST_METHOD_OTHER;
	r->http_minor = p->http_minor;
	/* An Upgrade request (h2c, websocket) is answered as plain HTTP/1.1 and then closed: the
	 * parser stops reading at the upgrade, so the stream position after it is not ours. */
	r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	(void)at;
	struct rest_http *h = of(p);
	if (len > LIMIT_REST_BODY_BYTES - h->body_bytes)
		return fail(h, 413, "the request body is too large");
	h->body_bytes += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct rest_http *h = of(p);
	h->state = REST_HTTP_REQUEST;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void rest_http_init(struct rest_http *h)
{
	ASSERT(h != NULL);
	memset(h, 0, sizeof *h);
	http_parser_init(&h->p, HTTP_REQUEST);
	h->p.data = h;
	h->state = REST_HTTP_MORE;
}

static void map_parser_error(struct rest_http *h)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&h->p);
	if (h->error_status)
		return; /* one of our callbacks chose it */
	if (e == HPE_HEADER_OVERFLOW)
		fail(h, 431, "the request headers are too large");
	else if (e == HPE_INVALID_VERSION)
		fail(h, 505, "only HTTP/1.0 and HTTP/1.1 are served here");
	else
		fail(h, 400, http_errno_description(e));
}

size_t rest_http_feed(struct rest_http *h, const uint8_t *data, size_t len, enum rest_http_event *ev)
{
	ASSERT(h != NULL && ev != NULL);
	ASSERT(data != NULL || len == 0);
	if (h->state != REST_HTTP_MORE || len == 0) {
		*ev = len == 0 && h->state == REST_HTTP_MORE ? REST_HTTP_MORE : h->state;
		return 0;
	}
	size_t n = http_parser_execute(&h->p, &settings, (const char *)data, len);
	ASSERT(n <= len);
	if (h->state == REST_HTTP_REQUEST) {
		ASSERT(HTTP_PARSER_ERRNO(&h->p) == HPE_PAUSED);
	} else if (HTTP_PARSER_ERRNO(&h->p) != HPE_OK || h->p.upgrade) {
		/* upgrade without a complete message cannot happen for requests: complete first */
		map_parser_error(h);
		h->state = REST_HTTP_ERROR;
	} else {
		ASSERT(n == len);
	}
	*ev = h->state;
	return n;
}

const struct rest_http_request *rest_http_request(const struct rest_http *h)
{
	ASSERT(h->state == REST_HTTP_REQUEST);
	return &h->req;
}

int rest_http_error_status(const struct rest_http *h)
{
	ASSERT(h->state == REST_HTTP_ERROR);
	ASSERT(h->error_status >= 400 && h->error_status <= 599);
	return h->error_status;
}

const char *rest_http_error_reason(const struct rest_http *h)
{
	return h->error_reason ? h->error_reason : "bad request";
}

void rest_http_next(struct rest_http *h)
{
	ASSERT(h->state == REST_HTTP_REQUEST);
	ASSERT(h->req.keep_alive);
	h->state = REST_HTTP_MORE;
	h->started = 0;
	http_parser_pause(&h->p, 0);
}

int rest_http_started(const struct rest_http *h)
{
	return h->started;
}

const char *rest_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

int rest_http_respond(struct net_buf *out, int status, const char *content_type, const void *body,
		      size_t body_len, int head_only, int keep_alive, unsigned http_minor,
		      const char *extra_headers)
{
	ASSERT(out != NULL && status >= 100 && status <= 599);
	ASSERT(body != NULL || body_len == 0);
	char head[512];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.%u %d %s\r\n%s%s%sContent-Length: %zu\r\nConnection: %s\r\n",
			 http_minor ? 1u : 0u, status, rest_http_reason(status),
			 content_type ? "Content-Type: " : "", content_type ? content_type : "",
			 content_type ? "\r\n" : "", body_len, keep_alive ? "keep-alive" : "close");
	ASSERT(n > 0 && (size_t)n < sizeof head);
	if (net_buf_append(out, head, (size_t)n))
		return ERR_NOMEM;
	if (extra_headers && net_buf_append(out, extra_headers, strlen(extra_headers)))
		return ERR_NOMEM;
	if (net_buf_append(out, "\r\n", 2))
		return ERR_NOMEM;
	if (!head_only && body_len && net_buf_append(out, body, body_len))
		return ERR_NOMEM;
	return 0;
}
