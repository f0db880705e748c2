/*
 * grpc_client.c — gRPC client over HTTP/2 on nghttp2's sans-I/O API (see grpc_client.h).
 *
 * Each call is one request stream (stream user data = the call). Requests are framed into the
 * call's queue and read by a data source that defers when the queue is empty; close_send makes
 * the source end the stream. Responses: headers -> DATA -> grpc_frame_parser -> decompress ->
 * on_message; the status comes from the trailers (or a trailers-only HEADERS frame).
 *
 * Invariants:
 *   - a call is on conn->calls from start until it completes; it completes exactly once, in
 *     call_complete(), which runs on_done and frees it;
 *   - call_complete runs from nghttp2's on_stream_close (every submitted request stream ends
 *     there: answered, reset, refused by GOAWAY, or canceled before its HEADERS went out), from
 *     a keepalive failure, or from conn_free;
 *   - a call is pinned (`holds`) while a user callback runs, so completion inside a callback is
 *     deferred until the callback returns.
 */
#include "net/grpc_client.h"

#include "core/assert.h"
#include "core/limits.h"
#include "core/log.h"
#include "net/grpc_frame.h"
#include "net/grpc_internal.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEPALIVE_TIMEOUT_DEFAULT_NS (20ull * 1000000000ull)
#define CLIENT_MESSAGE_MAX 512 /* decoded grpc-message kept for on_done */

struct grpc_client_conn {
	struct grpc_client_config cfg;
	char *authority;
	char *user_agent;
	nghttp2_session *session;
	struct grpc_client_call *calls;
	size_t ncalls;
	int in_io;
	int fatal;
	int goaway_recv;
	int shutdown;
	int writable_pending;
	uint64_t last_read_ns;
	uint64_t ping_sent_ns;
	int ping_outstanding;
	uint64_t min_deadline; /* lower bound of the calls' deadlines (exact after a tick) */
};

struct grpc_client_call {
	struct grpc_client_conn *conn;
	struct grpc_client_call *prev, *next;
	const struct grpc_client_call_ops *ops;
	void *ctx;
	int32_t stream_id;
	unsigned holds;
	unsigned close_send : 1, eof_sent : 1, deferred : 1, completed : 1, complete_pending : 1,
		headers_seen : 1, status_seen : 1, cancel_requested : 1, deadline_hit : 1,
		want_writable : 1, local_error : 1, trailers_only : 1;
	uint64_t deadline_ns;
	enum grpc_encoding enc;
	enum grpc_encoding resp_enc;
	int resp_enc_bad;
	int http_status;
	int content_type_ok;
	int status;
	uint32_t rst_code;
	char message[CLIENT_MESSAGE_MAX];
	struct grpc_frame_parser parser;
	struct net_buf decomp;
	struct net_buf out;
	struct net_buf scratch;
	struct net_buf md; /* response headers and trailers: name\0value\0 ... */
};

static uint64_t conn_now(const struct grpc_client_conn *c)
{
	return grpc_clock(c->cfg.clock_ns, c->cfg.clock_ctx);
}

static void conn_signal_output(struct grpc_client_conn *c)
{
	if (!c->in_io && c->cfg.on_output)
		c->cfg.on_output(c->cfg.output_ctx);
}

/* ---- completion ------------------------------------------------------------------------------ */

/* HTTP status -> gRPC code when the server did not send grpc-status (gRPC HTTP mapping doc). */
static int status_from_http(int http)
{
	switch (http) {
	case 400: return GRPC_STATUS_INTERNAL;
	case 401: return GRPC_STATUS_UNAUTHENTICATED;
	case 403: return GRPC_STATUS_PERMISSION_DENIED;
	case 404: return GRPC_STATUS_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504: return GRPC_STATUS_UNAVAILABLE;
	default: return GRPC_STATUS_UNKNOWN;
	}
}

/* RST_STREAM code -> gRPC code (as grpc-go maps them). */
static int status_from_rst(uint32_t code)
{
	switch (code) {
	case NGHTTP2_REFUSED_STREAM: return GRPC_STATUS_UNAVAILABLE;
	case NGHTTP2_CANCEL: return GRPC_STATUS_CANCELLED;
	case NGHTTP2_ENHANCE_YOUR_CALM: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case NGHTTP2_INADEQUATE_SECURITY: return GRPC_STATUS_PERMISSION_DENIED;
	default: return GRPC_STATUS_INTERNAL;
	}
}

static void set_local(struct grpc_client_call *call, int status, const char *msg)
{
	if (call->local_error)
		return;
	call->local_error = 1;
	call->status = status;
	snprintf(call->message, sizeof call->message, "%s", msg);
}

static void call_unlink(struct grpc_client_call *call)
{
	struct grpc_client_conn *c = call->conn;
	if (call->prev)
		call->prev->next = call->next;
	else
		c->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
	ASSERT(c->ncalls > 0);
	c->ncalls--;
}

static void call_free(struct grpc_client_call *call)
{
	grpc_frame_parser_deinit(&call->parser);
	net_buf_deinit(&call->decomp);
	net_buf_deinit(&call->out);
	net_buf_deinit(&call->scratch);
	net_buf_deinit(&call->md);
	free(call);
}

/* Decide the final status, run on_done, free. Deferred while a callback holds the call. */
static void call_complete(struct grpc_client_call *call)
{
	ASSERT(!call->completed);
	if (call->holds) {
		call->complete_pending = 1;
		return;
	}
	call->completed = 1;
	int status;
	const char *msg = call->message;
	if (call->local_error) {
		status = call->status;
	} else if (call->cancel_requested) {
		status = GRPC_STATUS_CANCELLED;
		msg = "canceled by the client";
	} else if (call->deadline_hit) {
		status = GRPC_STATUS_DEADLINE_EXCEEDED;
		msg = "deadline exceeded";
	} else if (call->status_seen) {
		status = call->status;
		if (status == GRPC_STATUS_OK && !grpc_frame_parser_idle(&call->parser)) {
			status = GRPC_STATUS_INTERNAL;
			msg = "server ended the stream inside a message";
		}
	} else if (call->headers_seen && call->http_status != 200) {
		status = status_from_http(call->http_status);
		snprintf(call->message, sizeof call->message, "unexpected HTTP status %d", call->http_status);
	} else if (call->rst_code != NGHTTP2_NO_ERROR) {
		status = status_from_rst(call->rst_code);
		snprintf(call->message, sizeof call->message, "stream reset: %s",
			 nghttp2_http2_strerror(call->rst_code));
	} else {
		status = GRPC_STATUS_INTERNAL;
		msg = "server closed the stream without a status";
	}
	if (call->conn)
		call_unlink(call);
	call->ops->on_done(call, status, msg, call->ctx);
	call_free(call);
}

static void call_release(struct grpc_client_call *call)
{
	ASSERT(call->holds > 0);
	call->holds--;
	if (!call->holds && call->complete_pending && !call->completed) {
		call->complete_pending = 0;
		call_complete(call);
	}
}

/* ---- nghttp2 callbacks ---------------------------------------------------------------------- */

static ssize_t data_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
			    uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
	(void)session;
	(void)stream_id;
	struct grpc_client_call *call = source->ptr;
	struct grpc_client_conn *c = user_data;
	size_t n = grpc_queue_read(&call->out, buf, length);
	if (call->want_writable && net_buf_size(&call->out) < LIMIT_GRPC_CALL_SEND_QUEUE_BYTES / 2)
		c->writable_pending = 1;
	if (net_buf_size(&call->out) == 0) {
		net_buf_shrink(&call->out, 64u << 10);
		if (call->close_send) {
			*data_flags |= NGHTTP2_DATA_FLAG_EOF;
			call->eof_sent = 1;
			return (ssize_t)n;
		}
		if (n == 0) {
			call->deferred = 1;
			return NGHTTP2_ERR_DEFERRED;
		}
	}
	return (ssize_t)n;
}

static int md_store(struct grpc_client_call *call, const uint8_t *name, size_t nlen,
		    const uint8_t *value, size_t vlen)
{
	if (net_buf_size(&call->md) + nlen + vlen + 2 > call->conn->cfg.max_header_list_bytes)
		return ERR_TOOBIG;
	uint8_t *p = net_buf_reserve(&call->md, nlen + vlen + 2);
	if (!p)
		return ERR_NOMEM;
	memcpy(p, name, nlen);
	p[nlen] = 0;
	memcpy(p + nlen + 1, value, vlen);
	p[nlen + 1 + vlen] = 0;
	net_buf_commit(&call->md, nlen + vlen + 2);
	return 0;
}

static int on_header_cb(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
			size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user_data)
{
	(void)flags;
	(void)user_data;
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct grpc_client_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!call || call->completed)
		return 0;
#define IS(lit) (nlen == sizeof(lit) - 1 && memcmp(name, lit, nlen) == 0)
	if (IS(":status")) {
		int v = 0;
		for (size_t i = 0; i < vlen && i < 3; i++)
			v = v * 10 + (value[i] - '0');
		call->http_status = v;
	} else if (IS("content-type")) {
		const size_t ctl = sizeof GRPC_CONTENT_TYPE - 1;
		call->content_type_ok = vlen >= ctl && memcmp(value, GRPC_CONTENT_TYPE, ctl) == 0 &&
					(vlen == ctl || value[ctl] == '+' || value[ctl] == ';');
	} else if (IS("grpc-encoding")) {
		enum grpc_encoding e;
		if (grpc_encoding_parse((const char *)value, vlen, &e))
			call->resp_enc_bad = 1;
		else
			call->resp_enc = e;
	} else if (IS("grpc-status")) {
		int st;
		if (grpc_status_parse((const char *)value, vlen, &st) == 0) {
			call->status = st;
			call->status_seen = 1;
		}
	} else if (IS("grpc-message")) {
		grpc_message_decode((const char *)value, vlen, call->message, sizeof call->message);
	} else if (name[0] != ':') {
		if (md_store(call, name, nlen, value, vlen))
			set_local(call, GRPC_STATUS_INTERNAL, "response metadata too large");
	}
#undef IS
	return 0;
}

static int on_msg(void *ctx, int compressed, const uint8_t *data, size_t len)
{
	struct grpc_client_call *call = ctx;
	if (compressed) {
		if (call->resp_enc_bad || call->resp_enc == GRPC_ENCODING_IDENTITY) {
			set_local(call, GRPC_STATUS_INTERNAL, "compressed response with an unusable grpc-encoding");
			return ERR_PROTO;
		}
		net_buf_clear(&call->decomp);
		int rc = grpc_decompress(call->resp_enc, data, len, call->conn->cfg.max_recv_msg_bytes,
					 &call->decomp);
		if (rc == ERR_TOOBIG) {
			set_local(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
				  "response message larger than max after decompression");
			return rc;
		}
		if (rc) {
			set_local(call, GRPC_STATUS_INTERNAL, "cannot decompress the response message");
			return rc;
		}
		data = net_buf_head(&call->decomp);
		len = net_buf_size(&call->decomp);
	}
	if (call->cancel_requested || call->deadline_hit)
		return 0;
	if (call->ops->on_message)
		call->ops->on_message(call, data, len, call->ctx);
	if (call->decomp.cap > (64u << 10))
		net_buf_deinit(&call->decomp);
	return 0;
}

static int on_data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			    const uint8_t *data, size_t len, void *user_data)
{
	(void)flags;
	(void)user_data;
	struct grpc_client_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
	if (!call || call->completed || call->local_error)
		return 0;
	if (!call->headers_seen || call->http_status != 200 || !call->content_type_ok) {
		set_local(call, GRPC_STATUS_INTERNAL, "response DATA without valid gRPC headers");
	} else {
		call->holds++;
		int rc = grpc_frame_parser_feed(&call->parser, data, len, on_msg, call);
		if (rc == ERR_TOOBIG)
			set_local(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "response message larger than max");
		else if (rc)
			set_local(call, GRPC_STATUS_INTERNAL, "bad response message framing");
		call_release(call);
	}
	if (call->local_error && !call->completed)
		(void)nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
	return 0;
}

static int on_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct grpc_client_conn *c = user_data;
	if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) {
		c->ping_outstanding = 0;
		return 0;
	}
	if (frame->hd.type == NGHTTP2_GOAWAY) {
		c->goaway_recv = 1;
		if (frame->goaway.error_code != NGHTTP2_NO_ERROR)
			LOG_WARN("grpc client: GOAWAY from %s: %s %.*s", c->authority,
				 nghttp2_http2_strerror(frame->goaway.error_code),
				 (int)(frame->goaway.opaque_data_len > 64 ? 64 : frame->goaway.opaque_data_len),
				 (const char *)frame->goaway.opaque_data);
		return 0;
	}
	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct grpc_client_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!call || call->completed)
		return 0;
	int end = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
	if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE) {
		call->headers_seen = 1;
		call->trailers_only = end ? 1 : 0;
		if (!end && call->http_status == 200 && !call->content_type_ok)
			set_local(call, GRPC_STATUS_INTERNAL, "response content-type is not application/grpc");
		if (!end && call->http_status == 200 && call->ops->on_headers && !call->local_error) {
			call->holds++;
			call->ops->on_headers(call, call->ctx);
			call_release(call);
		}
	}
	if (call->local_error && !call->completed && !end)
		(void)nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_CANCEL);
	/* The server ended its side while we still send: we are done; reset so the stream closes
	 * and on_done runs (grpc-go does the same). */
	if (end && !call->completed && !call->eof_sent)
		(void)nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
	return 0;
}

static int on_stream_close_cb(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			      void *user_data)
{
	(void)user_data;
	struct grpc_client_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
	if (!call || call->completed)
		return 0;
	(void)nghttp2_session_set_stream_user_data(session, stream_id, NULL);
	if (!call->status_seen)
		call->rst_code = error_code;
	call_complete(call);
	return 0;
}

/* ---- connection ---------------------------------------------------------------------------- */

int grpc_client_conn_new(const struct grpc_client_config *cfg, struct grpc_client_conn **out)
{
	ASSERT(cfg != NULL && out != NULL);
	if (!cfg->authority || !cfg->authority[0])
		return ERR_INVAL;
	struct grpc_client_conn *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM;
	c->cfg = *cfg;
	struct grpc_client_config *k = &c->cfg;
	if (!k->max_recv_msg_bytes)
		k->max_recv_msg_bytes = LIMIT_MESSAGE_BYTES;
	if (!k->max_send_msg_bytes)
		k->max_send_msg_bytes = LIMIT_MESSAGE_BYTES;
	if (!k->max_calls)
		k->max_calls = LIMIT_GRPC_CLIENT_CALLS;
	if (!k->max_header_list_bytes)
		k->max_header_list_bytes = LIMIT_H2_MAX_HEADER_LIST_BYTES;
	if (!k->max_frame_bytes)
		k->max_frame_bytes = LIMIT_H2_MAX_FRAME_BYTES;
	if (!k->stream_window_bytes)
		k->stream_window_bytes = LIMIT_H2_STREAM_WINDOW_BYTES;
	if (!k->conn_window_bytes)
		k->conn_window_bytes = LIMIT_H2_CONN_WINDOW_BYTES;
	if (!k->keepalive_timeout_ns)
		k->keepalive_timeout_ns = KEEPALIVE_TIMEOUT_DEFAULT_NS;
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	int rc = ERR_INVAL;
	if (k->max_recv_msg_bytes > UINT32_MAX || k->max_frame_bytes < (16u << 10) ||
	    k->max_frame_bytes > (16u << 20) - 1 || k->stream_window_bytes > 0x7fffffffu ||
	    k->conn_window_bytes > 0x7fffffffu)
		goto err;
	rc = ERR_NOMEM;
	c->authority = strdup(cfg->authority);
	c->user_agent = strdup(cfg->user_agent ? cfg->user_agent : "regatta-c/0.1");
	if (!c->authority || !c->user_agent)
		goto err;
	k->authority = c->authority;
	k->user_agent = c->user_agent;
	c->last_read_ns = conn_now(c);
	c->min_deadline = UINT64_MAX;
	if (nghttp2_session_callbacks_new(&cbs) || nghttp2_option_new(&opt))
		goto err;
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close_cb);
	nghttp2_option_set_no_closed_streams(opt, 1);
	/* Until the server's SETTINGS arrive, assume it allows many streams (RFC: unlimited);
	 * nghttp2 queues requests over the real limit once it is known. */
	nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
	if (nghttp2_session_client_new2(&c->session, cbs, c, opt))
		goto err;
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, k->stream_window_bytes},
		{NGHTTP2_SETTINGS_MAX_FRAME_SIZE, k->max_frame_bytes},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, k->max_header_list_bytes},
	};
	if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]))
		goto err;
	if (nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
						  (int32_t)k->conn_window_bytes))
		goto err;
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	*out = c;
	return 0;
err:
	if (c->session)
		nghttp2_session_del(c->session);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	free(c->authority);
	free(c->user_agent);
	free(c);
	return rc;
}

/* Fail every call now (connection lost). */
static void conn_fail_calls(struct grpc_client_conn *c, const char *why)
{
	/* Bounded: each round completes (and unlinks) the head call. */
	while (c->calls) {
		struct grpc_client_call *call = c->calls;
		if (call->stream_id > 0)
			(void)nghttp2_session_set_stream_user_data(c->session, call->stream_id, NULL);
		set_local(call, GRPC_STATUS_UNAVAILABLE, why);
		if (call->holds) {
			/* Inside this call's own callback: detach now, complete on release. */
			call_unlink(call);
			call->conn = NULL;
			call->complete_pending = 1;
			continue;
		}
		call_complete(call);
	}
}

void grpc_client_conn_free(struct grpc_client_conn *c)
{
	if (!c)
		return;
	conn_fail_calls(c, "connection closed");
	nghttp2_session_del(c->session);
	free(c->authority);
	free(c->user_agent);
	free(c);
}

int grpc_client_conn_recv(struct grpc_client_conn *c, const uint8_t *data, size_t len)
{
	ASSERT(c != NULL);
	ASSERT(data != NULL || len == 0);
	if (c->fatal)
		return ERR_PROTO;
	c->last_read_ns = conn_now(c);
	c->in_io++;
	ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
	c->in_io--;
	if (n < 0) {
		LOG_DEBUG("grpc client %s: %s", c->authority, nghttp2_strerror((int)n));
		c->fatal = 1;
		return n == NGHTTP2_ERR_NOMEM ? ERR_NOMEM : ERR_PROTO;
	}
	ASSERT((size_t)n == len);
	return 0;
}

static void conn_run_writable(struct grpc_client_conn *c)
{
	if (!c->writable_pending)
		return;
	c->writable_pending = 0;
	for (struct grpc_client_call *call = c->calls, *next; call; call = next) {
		next = call->next;
		if (!call->want_writable || net_buf_size(&call->out) >= LIMIT_GRPC_CALL_SEND_QUEUE_BYTES / 2)
			continue;
		call->want_writable = 0;
		if (!call->ops->on_writable || call->cancel_requested)
			continue;
		call->holds++;
		call->ops->on_writable(call, call->ctx);
		next = call->next; /* the callback may have started calls (they go to the head) */
		call_release(call);
	}
}

int grpc_client_conn_send(struct grpc_client_conn *c, struct net_buf *out, size_t max_bytes)
{
	ASSERT(c != NULL && out != NULL);
	int rc = 0;
	c->in_io++;
	while (net_buf_size(out) < max_bytes) {
		const uint8_t *p;
		ssize_t n = nghttp2_session_mem_send(c->session, &p);
		if (n < 0) {
			c->fatal = 1;
			rc = n == NGHTTP2_ERR_NOMEM ? ERR_NOMEM : ERR_PROTO;
			break;
		}
		if (n == 0) {
			conn_run_writable(c);
			if (!nghttp2_session_want_write(c->session))
				break;
			continue;
		}
		if (net_buf_append(out, p, (size_t)n)) {
			c->fatal = 1;
			rc = ERR_NOMEM;
			break;
		}
	}
	c->in_io--;
	return rc;
}

int grpc_client_conn_want_write(const struct grpc_client_conn *c)
{
	return nghttp2_session_want_write(c->session);
}

int grpc_client_conn_done(const struct grpc_client_conn *c)
{
	if (nghttp2_session_want_write(c->session))
		return 0;
	return c->fatal || !nghttp2_session_want_read(c->session);
}

int grpc_client_conn_usable(const struct grpc_client_conn *c)
{
	return !c->fatal && !c->goaway_recv && !c->shutdown;
}

void grpc_client_conn_tick(struct grpc_client_conn *c)
{
	uint64_t now = conn_now(c);
	c->in_io++;
	if (now >= c->min_deadline) {
		uint64_t min = UINT64_MAX;
		for (struct grpc_client_call *call = c->calls; call; call = call->next) {
			if (call->deadline_hit || call->cancel_requested)
				continue;
			if (call->deadline_ns > now) {
				if (call->deadline_ns < min)
					min = call->deadline_ns;
				continue;
			}
			call->deadline_hit = 1;
			(void)nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, call->stream_id,
							NGHTTP2_CANCEL);
		}
		c->min_deadline = min;
	}
	if (c->cfg.keepalive_ns && !c->fatal) {
		if (c->ping_outstanding && now - c->ping_sent_ns >= c->cfg.keepalive_timeout_ns) {
			LOG_WARN("grpc client %s: keepalive ping not answered: closing", c->authority);
			c->fatal = 1;
			(void)nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
			conn_fail_calls(c, "keepalive timeout");
		} else if (!c->ping_outstanding && now - c->last_read_ns >= c->cfg.keepalive_ns) {
			if (nghttp2_submit_ping(c->session, NGHTTP2_FLAG_NONE, NULL) == 0) {
				c->ping_outstanding = 1;
				c->ping_sent_ns = now;
			}
		}
	}
	c->in_io--;
}

uint64_t grpc_client_conn_next_timer_ns(const struct grpc_client_conn *c)
{
	uint64_t t = c->min_deadline; /* a lower bound, exact after a tick (as on the server) */
	if (c->cfg.keepalive_ns && !c->fatal) {
		uint64_t k = c->ping_outstanding ? c->ping_sent_ns + c->cfg.keepalive_timeout_ns
						 : c->last_read_ns + c->cfg.keepalive_ns;
		if (k < t)
			t = k;
	}
	return t;
}

void grpc_client_conn_shutdown(struct grpc_client_conn *c)
{
	if (c->shutdown || c->fatal)
		return;
	c->shutdown = 1;
	(void)nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
	conn_signal_output(c);
}

size_t grpc_client_conn_active_calls(const struct grpc_client_conn *c)
{
	return c->ncalls;
}

/* ---- calls --------------------------------------------------------------------------------- */

int grpc_client_call_start(struct grpc_client_conn *c, const char *path,
			   const struct grpc_client_call_opts *opts,
			   const struct grpc_client_call_ops *ops, void *ctx,
			   struct grpc_client_call **out)
{
	ASSERT(c != NULL && ops != NULL && ops->on_done != NULL);
	static const struct grpc_client_call_opts no_opts;
	if (!opts)
		opts = &no_opts;
	if (!grpc_client_conn_usable(c))
		return ERR_CLOSED;
	if (c->ncalls >= c->cfg.max_calls)
		return ERR_BUSY;
	if (!path || path[0] != '/' || (unsigned)opts->encoding >= GRPC_ENCODING_COUNT ||
	    opts->md_count > LIMIT_GRPC_MD_ENTRIES)
		return ERR_INVAL;
	for (size_t i = 0; i < opts->md_count; i++)
		if (!grpc_md_name_ok(opts->md[i].name) || grpc_md_reserved(opts->md[i].name) ||
		    !opts->md[i].value)
			return ERR_INVAL;
	struct grpc_client_call *call = calloc(1, sizeof *call);
	if (!call)
		return ERR_NOMEM;
	call->conn = c;
	call->ops = ops;
	call->ctx = ctx;
	call->enc = opts->encoding;
	call->deadline_ns = UINT64_MAX;
	grpc_frame_parser_init(&call->parser, c->cfg.max_recv_msg_bytes);
	net_buf_init(&call->decomp);
	net_buf_init(&call->out);
	net_buf_init(&call->scratch);
	net_buf_init(&call->md);

	nghttp2_nv nv[12 + LIMIT_GRPC_MD_ENTRIES];
	size_t n = 0;
	char tmo[GRPC_TIMEOUT_STR_MAX];
	nv[n++] = GRPC_NVS(":method", "POST");
	nv[n++] = GRPC_NVS(":scheme", c->cfg.tls ? "https" : "http");
	nv[n++] = GRPC_NVS(":path", path);
	nv[n++] = GRPC_NVS(":authority", c->authority);
	nv[n++] = GRPC_NVS("content-type", GRPC_CONTENT_TYPE);
	nv[n++] = GRPC_NVS("te", "trailers");
	nv[n++] = GRPC_NVS("user-agent", c->user_agent);
	nv[n++] = GRPC_NVS("grpc-accept-encoding", GRPC_ACCEPT_ENCODING_VALUE);
	if (opts->encoding != GRPC_ENCODING_IDENTITY)
		nv[n++] = GRPC_NVS("grpc-encoding", grpc_encoding_name(opts->encoding));
	if (opts->timeout_ns) {
		grpc_timeout_format(opts->timeout_ns, tmo);
		nv[n++] = GRPC_NVS("grpc-timeout", tmo);
		uint64_t now = conn_now(c);
		call->deadline_ns = opts->timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + opts->timeout_ns;
		if (call->deadline_ns < c->min_deadline)
			c->min_deadline = call->deadline_ns;
	}
	for (size_t i = 0; i < opts->md_count; i++) {
		const struct grpc_md *m = &opts->md[i];
		nv[n++] = GRPC_NV(m->name, m->value, m->value_len ? m->value_len : strlen(m->value));
	}
	nghttp2_data_provider prd;
	prd.source.ptr = call;
	prd.read_callback = data_read_cb;
	int32_t sid = nghttp2_submit_request(c->session, NULL, nv, n, &prd, call);
	if (sid < 0) {
		call_free(call);
		return sid == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? ERR_CLOSED : grpc_h2_err(sid);
	}
	call->stream_id = sid;
	call->next = c->calls;
	if (c->calls)
		c->calls->prev = call;
	c->calls = call;
	c->ncalls++;
	if (out)
		*out = call;
	conn_signal_output(c);
	return 0;
}

static int call_kick(struct grpc_client_call *call)
{
	struct grpc_client_conn *c = call->conn;
	if (call->deferred) {
		call->deferred = 0;
		int rc = nghttp2_session_resume_data(c->session, call->stream_id);
		if (rc && rc != NGHTTP2_ERR_INVALID_ARGUMENT)
			return grpc_h2_err(rc);
	}
	conn_signal_output(c);
	return 0;
}

int grpc_client_call_send_msg(struct grpc_client_call *call, const uint8_t *msg, size_t len)
{
	ASSERT(call != NULL && !call->completed);
	if (!call->conn || call->cancel_requested || call->deadline_hit || call->local_error)
		return ERR_CANCELED;
	if (call->close_send)
		return ERR_INVAL;
	if (len > call->conn->cfg.max_send_msg_bytes)
		return ERR_TOOBIG;
	if (net_buf_size(&call->out) >= LIMIT_GRPC_CALL_SEND_QUEUE_BYTES) {
		call->want_writable = 1;
		return ERR_AGAIN;
	}
	int rc = grpc_msg_append(&call->out, &call->scratch, call->enc, msg, len);
	if (rc)
		return rc;
	return call_kick(call);
}

int grpc_client_call_close_send(struct grpc_client_call *call)
{
	ASSERT(call != NULL && !call->completed);
	if (call->close_send)
		return 0;
	call->close_send = 1;
	if (!call->conn)
		return ERR_CANCELED;
	return call_kick(call);
}

void grpc_client_call_cancel(struct grpc_client_call *call)
{
	ASSERT(call != NULL && !call->completed);
	if (call->cancel_requested || !call->conn)
		return;
	call->cancel_requested = 1;
	(void)nghttp2_submit_rst_stream(call->conn->session, NGHTTP2_FLAG_NONE, call->stream_id,
					NGHTTP2_CANCEL);
	conn_signal_output(call->conn);
}

const char *grpc_client_call_header(const struct grpc_client_call *call, const char *name, size_t *len)
{
	const char *p = (const char *)net_buf_head(&call->md);
	const char *end = p + net_buf_size(&call->md);
	/* Bounded by the stored bytes (at most max_header_list_bytes). */
	while (p < end) {
		const char *v = p + strlen(p) + 1;
		size_t vl = strlen(v);
		if (strcmp(p, name) == 0) {
			if (len)
				*len = vl;
			return v;
		}
		p = v + vl + 1;
	}
	return NULL;
}

void *grpc_client_call_ctx(const struct grpc_client_call *call)
{
	return call->ctx;
}

int grpc_client_unary(struct grpc_client_conn *c, const char *path,
		      const struct grpc_client_call_opts *opts, const uint8_t *req, size_t len,
		      const struct grpc_client_call_ops *ops, void *ctx, struct grpc_client_call **out)
{
	struct grpc_client_call *call;
	if (len > c->cfg.max_send_msg_bytes)
		return ERR_TOOBIG;
	int rc = grpc_client_call_start(c, path, opts, ops, ctx, &call);
	if (rc)
		return rc;
	/* Cannot fail with a fresh queue except for memory: then cancel (on_done reports it). */
	rc = grpc_client_call_send_msg(call, req, len);
	if (!rc)
		rc = grpc_client_call_close_send(call);
	if (rc) {
		set_local(call, grpc_status_from_err(rc), "cannot queue the request");
		grpc_client_call_cancel(call);
	}
	if (out)
		*out = call;
	return 0;
}
