/*
 * rest_http.h — HTTP/1.1 for the REST port without sockets: requests are parsed from bytes the
 * caller feeds in (nodejs' http_parser, Debian's libhttp-parser-dev), responses are written into
 * a net_buf the caller sends. Nothing here touches a socket, a clock or another core, so unit
 * tests and the fuzzer drive it from memory buffers exactly as the server does.
 *
 * One struct rest_http per connection. Requests are handled one at a time: feeding stops right
 * after a complete request (the parser is paused there), so pipelined bytes stay with the
 * caller until it answered and called rest_http_next().
 *
 * Bounds (core/limits.h): the request target (LIMIT_REST_URL_BYTES, else 414), the head bytes
 * (LIMIT_REST_HEAD_BYTES) and header count (LIMIT_REST_HEADERS, else 431), the body
 * (LIMIT_REST_BODY_BYTES, else 413; bodies of GET/HEAD are read and ignored). Malformed input is
 * 400, an HTTP major version other than 1 is 505. After an error the connection must close: the
 * parser's position in the byte stream is unknown.
 */
#ifndef SERVER_REST_REST_HTTP_H
#define SERVER_REST_REST_HTTP_H

#include "core/err.h"
#include "core/limits.h"
#include "net/buf.h"

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

enum rest_http_event {
	REST_HTTP_MORE = 0,    /* all bytes consumed, no complete request yet */
	REST_HTTP_REQUEST = 1, /* a complete request is in rest_http_request(); answer, then next */
	REST_HTTP_ERROR = 2,   /* bad input: answer rest_http_error_status() and close */
};

enum rest_method {
	REST_METHOD_GET = 1,
	REST_METHOD_HEAD = 2,
	REST_METHOD_OTHER = 3, /* a valid method we do not serve (405) */
};

struct rest_http_request {
	enum rest_method method;
	char path[LIMIT_REST_URL_BYTES + 1]; /* the target's path (no query, no fragment), NUL-ended:
					      * starts with '/', or is "*" (OPTIONS *) */
	size_t path_len;
	int keep_alive;       /* the client allows another request on this connection */
	unsigned http_minor;  /* 0 or 1 (HTTP/1.x) */
};

struct rest_http {
	http_parser p;
	enum rest_http_event state; /* MORE while reading; REQUEST/ERROR stick until next/close */
	int started;                /* bytes of the current request arrived (not only blank lines) */
	int error_status;           /* 4xx/5xx for REST_HTTP_ERROR */
	const char *error_reason;   /* static text for the response body */
	int in_value;               /* the last header callback was a value */
	uint32_t headers;
	size_t head_bytes;
	uint64_t body_bytes;
	char url[LIMIT_REST_URL_BYTES + 1];
	size_t url_len;
	struct rest_http_request req;
};

void rest_http_init(struct rest_http *h);

/*
 * Feed bytes. Returns how many were consumed and sets *ev. REST_HTTP_REQUEST: the request ends at
 * the returned offset; bytes after it belong to the next request (keep them). REST_HTTP_ERROR:
 * stop reading. Calling feed again after REQUEST or ERROR consumes nothing.
 */
size_t rest_http_feed(struct rest_http *h, const uint8_t *data, size_t len, enum rest_http_event *ev);

/* The complete request (state REQUEST only). */
const struct rest_http_request *rest_http_request(const struct rest_http *h);

/* After REST_HTTP_ERROR: the status to answer (400, 413, 414, 431, 505) and a short reason. */
int rest_http_error_status(const struct rest_http *h);
const char *rest_http_error_reason(const struct rest_http *h);

/* The request was answered: get ready for the next one on the same connection. */
void rest_http_next(struct rest_http *h);

/* Part of a request arrived (an idle keep-alive connection has none). */
int rest_http_started(const struct rest_http *h);

/* The reason phrase of a status code ("OK", "Not Found", ...; "Unknown" for others). */
const char *rest_http_reason(int status);

/*
 * Append a complete response: status line, Content-Type (NULL: none), Content-Length,
 * Connection (keep-alive or close, spelled for HTTP/1.0 and 1.1 clients), extra header lines
 * (each ending in CRLF, or NULL), then the body unless head_only (a HEAD request: the length is
 * still the body's). Returns 0 or ERR_NOMEM.
 */
int rest_http_respond(struct net_buf *out, int status, const char *content_type, const void *body,
		      size_t body_len, int head_only, int keep_alive, unsigned http_minor,
		      const char *extra_headers) WUR;

#endif
