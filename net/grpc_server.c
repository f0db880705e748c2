/*
 * grpc_server.c — gRPC server over HTTP/2 on nghttp2's sans-I/O API (see grpc_server.h for the
 * contract; docs/net.md for the design).
 *
 * Structure: one nghttp2 server session per connection. Each request stream gets a struct
 * grpc_call (stream user data). Request bytes go DATA -> grpc_frame_parser -> decompress ->
 * handler. Responses are framed into the call's queue (`out`) and handed to nghttp2 by a data
 * source that defers when the queue is empty and is resumed when the handler sends more; the
 * status goes out as trailers (EOF | NO_END_STREAM, then nghttp2_submit_trailer), or as a
 * trailers-only HEADERS frame when nothing was sent.
 *
 * Call lifetime invariants:
 *   - stream_open: the nghttp2 stream exists and the call is on conn->calls;
 *   - owned: the handler received its first callback; handler_done: it called finish;
 *   - resp_final: the status is decided (handler finish, or the layer's reject/abort);
 *   - the call is freed exactly when !stream_open && (!owned || handler_done) && holds == 0.
 *     `holds` pins the call across a handler callback, so a finish inside a callback never
 *     frees memory the layer is still using.
 */
#include "net/grpc_server.h"

#include "core/assert.h"
#include "core/limits.h"
#include "core/log.h"
#include "net/grpc_frame.h"
#include "net/grpc_internal.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHUTDOWN_PING_OPAQUE "regatta!"
#define SHUTDOWN_ACK_WAIT_NS 1000000000ull /* final GOAWAY at the latest 1 s after the notice */

struct method_entry {
	struct grpc_method m;
	char *path;
};

struct grpc_server {
	struct grpc_server_config cfg;
	struct method_entry *methods; /* open-addressing hash table, cap a power of two */
	size_t nmethods;
	size_t cap;
	int frozen; /* a connection exists: no more registrations */
	size_t conns;
};

struct grpc_server_conn {
	struct grpc_server *srv;
	nghttp2_session *session;
	struct grpc_server_conn_hooks hooks;
	struct grpc_call *calls; /* calls with an open stream (doubly linked) */
	size_t ncalls;
	uint64_t calls_total;
	int in_io;               /* inside recv/send/tick: the owner drains afterwards anyway */
	int fatal;               /* protocol error or abuse: drain output, then close */
	int shutdown;            /* 0 none, 1 notice sent (waiting for the PING ack), 2 final GOAWAY */
	uint64_t shutdown_ns;
	int writable_pending;    /* some call wants on_writable after this send */
	uint64_t min_deadline;   /* lower bound of the open calls' deadlines (exact after a tick) */
	struct grpc_bucket pings;
	char *peer_addr;
	char *peer_identity;
};

struct grpc_call {
	struct grpc_server_conn *conn; /* NULL once the connection is gone */
	const struct method_entry *method;
	int32_t stream_id;
	struct grpc_call *prev, *next;
	unsigned holds;
	unsigned stream_open : 1, owned : 1, handler_done : 1, resp_final : 1, resp_started : 1,
		resp_complete : 1, canceled : 1, remote_closed : 1, deferred : 1, want_writable : 1,
		dispatched : 1, trailers_submitted : 1, reserved_pending : 1, rst_cancel : 1;
	/* request */
	char *path;
	struct grpc_md *hdrs;
	size_t nhdrs, cap_hdrs;
	size_t hdr_bytes;
	enum grpc_encoding req_enc;
	unsigned accept_set;
	enum grpc_encoding resp_enc;
	uint64_t deadline_ns;
	int bad_method;      /* :method not POST */
	int content_type_ok; /* 1 ok, 0 missing, -1 wrong */
	int early_status;    /* nonzero: reject with this status after the headers */
	int early_http;
	const char *early_msg;
	char early_buf[160];
	struct grpc_frame_parser parser;
	unsigned nmsgs;
	struct net_buf unary;  /* UNARY/SERVER_STREAMING: the request until half-close */
	struct net_buf decomp; /* decompression output */
	struct arena arena;
	void *user;
	/* response */
	struct net_buf out;     /* framed messages not yet handed to nghttp2 */
	struct net_buf scratch; /* compression scratch / reserve area */
	size_t reserve_len;
	unsigned msgs_sent;
	int status;
	char *status_msg;
	struct grpc_md resp_hdrs[LIMIT_GRPC_MD_ENTRIES];
	size_t nresp_hdrs;
	struct grpc_md trailers[LIMIT_GRPC_MD_ENTRIES];
	size_t ntrailers;
};

/* ---- server: registry ----------------------------------------------------------------------- */

static uint64_t hash_path(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static int path_ok(const char *p)
{
	if (!p || p[0] != '/')
		return 0;
	const char *slash = strchr(p + 1, '/');
	return slash && slash > p + 1 && slash[1] != '\0' && !strchr(slash + 1, '/');
}

int grpc_server_new(const struct grpc_server_config *cfg, struct grpc_server **out)
{
	ASSERT(out != NULL);
	struct grpc_server *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	if (cfg)
		s->cfg = *cfg;
	struct grpc_server_config *c = &s->cfg;
	if (!c->max_recv_msg_bytes)
		c->max_recv_msg_bytes = LIMIT_MESSAGE_BYTES;
	if (!c->max_send_msg_bytes)
		c->max_send_msg_bytes = LIMIT_MESSAGE_BYTES;
	if (!c->max_concurrent_streams)
		c->max_concurrent_streams = LIMIT_H2_MAX_CONCURRENT_STREAMS;
	if (!c->max_header_list_bytes)
		c->max_header_list_bytes = LIMIT_H2_MAX_HEADER_LIST_BYTES;
	if (!c->max_frame_bytes)
		c->max_frame_bytes = LIMIT_H2_MAX_FRAME_BYTES;
	if (!c->stream_window_bytes)
		c->stream_window_bytes = LIMIT_H2_STREAM_WINDOW_BYTES;
	if (!c->conn_window_bytes)
		c->conn_window_bytes = LIMIT_H2_CONN_WINDOW_BYTES;
	if (c->max_recv_msg_bytes > UINT32_MAX || c->max_send_msg_bytes > UINT32_MAX ||
	    c->max_frame_bytes < (16u << 10) || c->max_frame_bytes > (16u << 20) - 1 ||
	    c->stream_window_bytes > 0x7fffffffu || c->conn_window_bytes > 0x7fffffffu) {
		free(s);
		return ERR_INVAL;
	}
	*out = s;
	return 0;
}

void grpc_server_free(struct grpc_server *s)
{
	if (!s)
		return;
	ASSERT(s->conns == 0);
	for (size_t i = 0; i < s->cap; i++)
		free(s->methods[i].path);
	free(s->methods);
	free(s);
}

static const struct method_entry *server_lookup(const struct grpc_server *s, const char *path)
{
	if (!s->cap)
		return NULL;
	size_t mask = s->cap - 1;
	for (size_t i = hash_path(path) & mask, n = 0; n < s->cap; i = (i + 1) & mask, n++) {
		if (!s->methods[i].path)
			return NULL;
		if (strcmp(s->methods[i].path, path) == 0)
			return &s->methods[i];
	}
	return NULL;
}

static int server_insert(struct method_entry *tab, size_t cap, const struct method_entry *e)
{
	size_t mask = cap - 1;
	for (size_t i = hash_path(e->path) & mask, n = 0; n < cap; i = (i + 1) & mask, n++) {
		if (!tab[i].path) {
			tab[i] = *e;
			tab[i].m.path = tab[i].path;
			return 0;
		}
		if (strcmp(tab[i].path, e->path) == 0)
			return ERR_EXISTS;
	}
	UNREACHABLE();
}

int grpc_server_register(struct grpc_server *s, const struct grpc_method *m)
{
	ASSERT(s != NULL && m != NULL);
	ASSERT(!s->frozen);
	if (!path_ok(m->path) || !m->on_message || (unsigned)m->kind > GRPC_METHOD_BIDI)
		return ERR_INVAL;
	if (m->kind == GRPC_METHOD_CLIENT_STREAMING && !m->on_half_close)
		return ERR_INVAL; /* it could never know when to answer */
	if (server_lookup(s, m->path))
		return ERR_EXISTS;
	if ((s->nmethods + 1) * 2 > s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct method_entry *tab = calloc(ncap, sizeof *tab);
		if (!tab)
			return ERR_NOMEM;
		for (size_t i = 0; i < s->cap; i++)
			if (s->methods[i].path && server_insert(tab, ncap, &s->methods[i]))
				UNREACHABLE();
		free(s->methods);
		s->methods = tab;
		s->cap = ncap;
	}
	struct method_entry e;
	e.m = *m;
	e.path = strdup(m->path);
	if (!e.path)
		return ERR_NOMEM;
	int rc = server_insert(s->methods, s->cap, &e);
	ASSERT(rc == 0);
	s->nmethods++;
	return 0;
}

/* "unknown service X" / "unknown method M for service X", as grpc-go words it. */
static void unknown_method_msg(const struct grpc_server *s, const char *path, char *buf, size_t cap)
{
	const char *p = path[0] == '/' ? path + 1 : path;
	const char *slash = strchr(p, '/');
	if (!slash) {
		snprintf(buf, cap, "malformed method name: \"%.100s\"", path);
		return;
	}
	int svc_len = (int)(slash - p);
	for (size_t i = 0; i < s->cap; i++) {
		const char *mp = s->methods[i].path;
		if (mp && strncmp(mp + 1, p, (size_t)svc_len) == 0 && mp[1 + svc_len] == '/') {
			snprintf(buf, cap, "unknown method %.60s for service %.*s", slash + 1,
				 svc_len > 80 ? 80 : svc_len, p);
			return;
		}
	}
	snprintf(buf, cap, "unknown service %.*s", svc_len > 120 ? 120 : svc_len, p);
}

/* ---- call bookkeeping ---------------------------------------------------------------------- */

static uint64_t conn_now(const struct grpc_server_conn *c)
{
	return grpc_clock(c->srv->cfg.clock_ns, c->srv->cfg.clock_ctx);
}

static void call_free(struct grpc_call *call)
{
	ASSERT(!call->stream_open && call->holds == 0);
	grpc_frame_parser_deinit(&call->parser);
	net_buf_deinit(&call->unary);
	net_buf_deinit(&call->decomp);
	net_buf_deinit(&call->out);
	net_buf_deinit(&call->scratch);
	arena_deinit(&call->arena);
	free(call->status_msg);
	free(call);
}

static void call_maybe_free(struct grpc_call *call)
{
	if (call->holds == 0 && !call->stream_open && (!call->owned || call->handler_done))
		call_free(call);
}

static void call_unlink(struct grpc_call *call)
{
	struct grpc_server_conn *c = call->conn;
	ASSERT(c != NULL && call->stream_open);
	if (call->prev)
		call->prev->next = call->next;
	else
		c->calls = call->next;
	if (call->next)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
	c->ncalls--;
	call->stream_open = 0;
}

static void conn_signal_output(struct grpc_server_conn *c)
{
	if (c && !c->in_io && c->hooks.on_output)
		c->hooks.on_output(c->hooks.ctx);
}

/* Handler callbacks, with the call pinned. */
static void cb_start(struct grpc_call *call)
{
	/* Owned only once a callback is delivered (grpc_server.h): a call that dies before its
	 * first callback is the layer's to clean up, and the handler never hears of it. */
	if (!call->method->m.on_start)
		return;
	call->owned = 1;
	call->holds++;
	call->method->m.on_start(call);
	call->holds--;
}

static void cb_message(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	call->owned = 1;
	call->holds++;
	call->method->m.on_message(call, msg, len);
	call->holds--;
}

static void cb_half_close(struct grpc_call *call)
{
	if (!call->method->m.on_half_close)
		return; /* not a callback: ownership unchanged (see cb_start) */
	call->owned = 1;
	call->holds++;
	call->method->m.on_half_close(call);
	call->holds--;
}

static void cb_cancel(struct grpc_call *call, int status)
{
	if (call->canceled)
		return;
	call->canceled = 1;
	if (!call->owned || call->handler_done || !call->method->m.on_cancel)
		return;
	call->holds++;
	call->method->m.on_cancel(call, status);
	call->holds--;
}

/* ---- response path --------------------------------------------------------------------------- */

static ssize_t data_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
			    uint32_t *data_flags, nghttp2_data_source *source, void *user_data);

static size_t status_nv(struct grpc_call *call, nghttp2_nv *nv, char *code)
{
	snprintf(code, 8, "%d", call->status);
	size_t n = 0;
	nv[n++] = GRPC_NVS("grpc-status", code);
	if (call->status_msg && call->status_msg[0])
		nv[n++] = GRPC_NVS("grpc-message", call->status_msg);
	for (size_t i = 0; i < call->ntrailers; i++)
		nv[n++] = GRPC_NV(call->trailers[i].name, call->trailers[i].value, call->trailers[i].value_len);
	return n;
}

static int resp_encoding_ok(const struct grpc_call *call)
{
	return call->resp_enc != GRPC_ENCODING_IDENTITY && (call->accept_set & (1u << call->resp_enc));
}

/* Queue the response HEADERS with a deferred data source (first message or finish). */
static int call_start_response(struct grpc_call *call)
{
	ASSERT(!call->resp_started && call->stream_open);
	nghttp2_nv nv[8 + LIMIT_GRPC_MD_ENTRIES];
	size_t n = 0;
	nv[n++] = GRPC_NVS(":status", "200");
	nv[n++] = GRPC_NVS("content-type", GRPC_CONTENT_TYPE);
	if (resp_encoding_ok(call))
		nv[n++] = GRPC_NVS("grpc-encoding", grpc_encoding_name(call->resp_enc));
	nv[n++] = GRPC_NVS("grpc-accept-encoding", GRPC_ACCEPT_ENCODING_VALUE);
	for (size_t i = 0; i < call->nresp_hdrs; i++)
		nv[n++] = GRPC_NV(call->resp_hdrs[i].name, call->resp_hdrs[i].value, call->resp_hdrs[i].value_len);
	nghttp2_data_provider prd;
	prd.source.ptr = call;
	prd.read_callback = data_read_cb;
	int rc = nghttp2_submit_response(call->conn->session, call->stream_id, nv, n, &prd);
	if (rc)
		return grpc_h2_err(rc);
	call->resp_started = 1;
	return 0;
}

/* Trailers-only response (nothing was sent yet): one HEADERS frame with END_STREAM. */
static int call_trailers_only(struct grpc_call *call, int http_status)
{
	ASSERT(!call->resp_started && call->stream_open);
	nghttp2_nv nv[8 + LIMIT_GRPC_MD_ENTRIES];
	char http[8], code[8];
	snprintf(http, sizeof http, "%d", http_status);
	size_t n = 0;
	nv[n++] = GRPC_NVS(":status", http);
	nv[n++] = GRPC_NVS("content-type", GRPC_CONTENT_TYPE);
	if (call->status == GRPC_STATUS_UNIMPLEMENTED || call->status == GRPC_STATUS_INTERNAL)
		nv[n++] = GRPC_NVS("grpc-accept-encoding", GRPC_ACCEPT_ENCODING_VALUE);
	n += status_nv(call, nv + n, code);
	int rc = nghttp2_submit_response(call->conn->session, call->stream_id, nv, n, NULL);
	if (rc)
		return grpc_h2_err(rc);
	call->resp_started = 1;
	call->resp_complete = 1;
	return 0;
}

static int set_status(struct grpc_call *call, int status, const char *message)
{
	call->status = status;
	free(call->status_msg);
	call->status_msg = NULL;
	if (message && message[0]) {
		char *enc = malloc(GRPC_MESSAGE_WIRE_MAX);
		if (!enc)
			return ERR_NOMEM;
		grpc_message_encode(message, strlen(message), enc, GRPC_MESSAGE_WIRE_MAX);
		call->status_msg = enc;
	}
	call->resp_final = 1;
	return 0;
}

/* Decide the status and push it out (trailers-only, or trailers after the queued data). */
static void call_send_status(struct grpc_call *call, int http_status, int status, const char *message)
{
	ASSERT(!call->resp_final);
	ASSERT(call->stream_open && call->conn);
	if (set_status(call, status, message)) {
		call->status_msg = NULL; /* out of memory: status without text */
		call->resp_final = 1;
	}
	int rc;
	if (!call->resp_started)
		rc = call_trailers_only(call, http_status);
	else
		rc = call->deferred ? nghttp2_session_resume_data(call->conn->session, call->stream_id) : 0;
	call->deferred = 0;
	if (rc) {
		LOG_DEBUG("grpc: stream %d: cannot queue status: %d", call->stream_id, rc);
		(void)nghttp2_submit_rst_stream(call->conn->session, NGHTTP2_FLAG_NONE, call->stream_id,
						NGHTTP2_INTERNAL_ERROR);
	}
}

/* The layer ends a call with an error (bad input, too big, deadline). The handler, if it owns
 * the call, hears on_cancel; the client gets the status. */
static void call_abort(struct grpc_call *call, int status, const char *message)
{
	if (call->resp_final || !call->stream_open)
		return;
	/* Queued messages still go out (dropping them could cut one in half); then the status. */
	call_send_status(call, 200, status, message);
	cb_cancel(call, status);
}

static ssize_t data_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
			    uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
	struct grpc_call *call = source->ptr;
	struct grpc_server_conn *c = user_data;
	ASSERT(call && call->stream_id == stream_id);
	size_t n = grpc_queue_read(&call->out, buf, length);
	if (call->want_writable && net_buf_size(&call->out) < LIMIT_GRPC_CALL_SEND_QUEUE_BYTES / 2)
		c->writable_pending = 1;
	if (net_buf_size(&call->out) == 0) {
		net_buf_shrink(&call->out, 64u << 10);
		if (call->resp_final) {
			*data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_nv nv[4 + LIMIT_GRPC_MD_ENTRIES];
			char code[8];
			size_t nn = status_nv(call, nv, code);
			int rc = nghttp2_submit_trailer(session, stream_id, nv, nn);
			if (rc)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			call->trailers_submitted = 1;
			call->resp_complete = 1;
			return (ssize_t)n;
		}
		if (n == 0) {
			call->deferred = 1;
			return NGHTTP2_ERR_DEFERRED;
		}
	}
	return (ssize_t)n;
}

/* ---- request path ---------------------------------------------------------------------------- */

static int hdr_add(struct grpc_call *call, const uint8_t *name, size_t nlen, const uint8_t *value,
		   size_t vlen)
{
	if (call->nhdrs == call->cap_hdrs) {
		size_t ncap = call->cap_hdrs ? call->cap_hdrs * 2 : 8;
		struct grpc_md *n = arena_alloc(&call->arena, ncap * sizeof *n);
		if (!n)
			return ERR_NOMEM;
		if (call->nhdrs)
			memcpy(n, call->hdrs, call->nhdrs * sizeof *n);
		call->hdrs = n;
		call->cap_hdrs = ncap;
	}
	char *nm = arena_alloc(&call->arena, nlen + 1 + vlen + 1);
	if (!nm)
		return ERR_NOMEM;
	memcpy(nm, name, nlen);
	nm[nlen] = '\0';
	char *v = nm + nlen + 1;
	memcpy(v, value, vlen);
	v[vlen] = '\0';
	call->hdrs[call->nhdrs++] = (struct grpc_md){nm, v, vlen};
	return 0;
}

static void early(struct grpc_call *call, int http, int status, const char *msg)
{
	if (call->early_status)
		return; /* the first problem wins */
	call->early_http = http;
	call->early_status = status;
	call->early_msg = msg;
}

static int on_header_cb(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
			size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user_data)
{
	(void)flags;
	(void)user_data;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0; /* trailers from a client: gRPC has none; ignore */
	struct grpc_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!call)
		return 0;
	call->hdr_bytes += nlen + vlen + 32;
	if (call->hdr_bytes > call->conn->srv->cfg.max_header_list_bytes) {
		early(call, 200, GRPC_STATUS_RESOURCE_EXHAUSTED, "header list too large");
		return 0;
	}
#define IS(lit) (nlen == sizeof(lit) - 1 && memcmp(name, lit, nlen) == 0)
	if (name[0] == ':') {
		if (IS(":method")) {
			if (!(vlen == 4 && memcmp(value, "POST", 4) == 0))
				call->bad_method = 1;
		} else if (IS(":path")) {
			char *p = arena_alloc(&call->arena, vlen + 1);
			if (!p)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			memcpy(p, value, vlen);
			p[vlen] = '\0';
			call->path = p;
		}
		return 0; /* :scheme, :authority */
	}
	if (IS("content-type")) {
		const size_t ctl = sizeof GRPC_CONTENT_TYPE - 1;
		call->content_type_ok = vlen >= ctl && memcmp(value, GRPC_CONTENT_TYPE, ctl) == 0 &&
						(vlen == ctl || value[ctl] == '+' || value[ctl] == ';')
					? 1
					: -1;
	} else if (IS("te")) {
		/* nghttp2 already rejects any te other than "trailers"; grpc-go does not require it. */
	} else if (IS("grpc-timeout")) {
		uint64_t ns;
		if (grpc_timeout_parse((const char *)value, vlen, &ns)) {
			early(call, 400, GRPC_STATUS_INTERNAL, "malformed grpc-timeout");
		} else {
			uint64_t now = conn_now(call->conn);
			call->deadline_ns = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
			if (call->deadline_ns < call->conn->min_deadline)
				call->conn->min_deadline = call->deadline_ns;
		}
	} else if (IS("grpc-encoding")) {
		enum grpc_encoding e;
		if (grpc_encoding_parse((const char *)value, vlen, &e)) {
			snprintf(call->early_buf, sizeof call->early_buf,
				 "grpc: Decompressor is not installed for grpc-encoding \"%.*s\"",
				 (int)(vlen > 64 ? 64 : vlen), (const char *)value);
			early(call, 200, GRPC_STATUS_UNIMPLEMENTED, call->early_buf);
		} else {
			call->req_enc = e;
		}
	} else if (IS("grpc-accept-encoding")) {
		call->accept_set = grpc_accept_encoding_parse((const char *)value, vlen);
	} else if (nlen > 5 && memcmp(name, "grpc-", 5) == 0) {
		/* other reserved grpc-* headers: not metadata */
	} else if (hdr_add(call, name, nlen, value, vlen)) {
		early(call, 200, GRPC_STATUS_RESOURCE_EXHAUSTED, "request metadata too large");
	}
#undef IS
	return 0;
}

static int on_begin_headers_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct grpc_server_conn *c = user_data;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct grpc_call *call = calloc(1, sizeof *call);
	if (!call)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
	call->conn = c;
	call->stream_id = frame->hd.stream_id;
	call->accept_set = 1u << GRPC_ENCODING_IDENTITY;
	call->deadline_ns = UINT64_MAX;
	call->status = GRPC_STATUS_OK;
	grpc_frame_parser_init(&call->parser, c->srv->cfg.max_recv_msg_bytes);
	net_buf_init(&call->unary);
	net_buf_init(&call->decomp);
	net_buf_init(&call->out);
	net_buf_init(&call->scratch);
	arena_init(&call->arena, LIMIT_GRPC_CALL_ARENA_CHUNK_BYTES, LIMIT_REQUEST_ARENA_BYTES);
	int rc = nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call);
	ASSERT(rc == 0);
	call->stream_open = 1;
	call->next = c->calls;
	if (c->calls)
		c->calls->prev = call;
	c->calls = call;
	c->ncalls++;
	c->calls_total++;
	return 0;
}

/* Deliver the single request of a UNARY/SERVER_STREAMING call at half-close. */
static void call_half_close(struct grpc_call *call)
{
	if (call->resp_final && !call->owned)
		return; /* already rejected */
	if (call->handler_done)
		return; /* the handler finished already: no callback after grpc_call_finish */
	if (!grpc_frame_parser_idle(&call->parser)) {
		call_abort(call, GRPC_STATUS_INTERNAL, "grpc: client half-closed inside a message");
		return;
	}
	enum grpc_method_kind k = call->method->m.kind;
	if (k == GRPC_METHOD_UNARY || k == GRPC_METHOD_SERVER_STREAMING) {
		if (call->nmsgs != 1) {
			call_abort(call, GRPC_STATUS_UNIMPLEMENTED,
				   call->nmsgs ? "grpc: more than one request message for a unary request"
					       : "grpc: no request message for a unary request");
			return;
		}
		cb_message(call, net_buf_head(&call->unary), net_buf_size(&call->unary));
		net_buf_deinit(&call->unary);
		return;
	}
	if (call->canceled)
		return;
	if (!call->owned && !call->method->m.on_half_close) {
		/* A BIDI call that ended before the handler saw anything: empty stream, OK. */
		call_send_status(call, 200, GRPC_STATUS_OK, NULL);
		return;
	}
	cb_half_close(call);
}

static int on_msg(void *ctx, int compressed, const uint8_t *data, size_t len)
{
	struct grpc_call *call = ctx;
	const struct grpc_server_config *cfg = &call->conn->srv->cfg;
	if (compressed) {
		if (call->req_enc == GRPC_ENCODING_IDENTITY) {
			call_abort(call, GRPC_STATUS_INTERNAL,
				   "grpc: compressed flag set with identity or empty encoding");
			return ERR_PROTO;
		}
		net_buf_clear(&call->decomp);
		int rc = grpc_decompress(call->req_enc, data, len, cfg->max_recv_msg_bytes, &call->decomp);
		if (rc == ERR_TOOBIG) {
			char m[120];
			snprintf(m, sizeof m, "grpc: received message after decompression larger than max %zu",
				 cfg->max_recv_msg_bytes);
			call_abort(call, GRPC_STATUS_RESOURCE_EXHAUSTED, m);
			return rc;
		}
		if (rc) {
			call_abort(call, rc == ERR_NOMEM ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_INTERNAL,
				   "grpc: failed to decompress the received message");
			return rc;
		}
		data = net_buf_head(&call->decomp);
		len = net_buf_size(&call->decomp);
	}
	call->nmsgs++;
	enum grpc_method_kind k = call->method->m.kind;
	if (k == GRPC_METHOD_UNARY || k == GRPC_METHOD_SERVER_STREAMING) {
		if (call->nmsgs > 1) {
			call_abort(call, GRPC_STATUS_UNIMPLEMENTED,
				   "grpc: more than one request message for a unary request");
			return ERR_PROTO;
		}
		if (net_buf_append(&call->unary, data, len)) {
			call_abort(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
			return ERR_NOMEM;
		}
	} else if (!call->canceled && !call->handler_done) {
		cb_message(call, data, len);
	}
	if (call->decomp.cap > (64u << 10))
		net_buf_deinit(&call->decomp);
	return 0;
}

static int on_data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
			    const uint8_t *data, size_t len, void *user_data)
{
	(void)flags;
	(void)user_data;
	struct grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
	if (!call || !call->dispatched || call->resp_final || call->canceled)
		return 0; /* answered already: drop (flow control is still credited by nghttp2) */
	int rc = grpc_frame_parser_feed(&call->parser, data, len, on_msg, call);
	if (rc == ERR_TOOBIG) {
		char m[120];
		snprintf(m, sizeof m, "grpc: received message larger than max %zu",
			 call->conn->srv->cfg.max_recv_msg_bytes);
		call_abort(call, GRPC_STATUS_RESOURCE_EXHAUSTED, m);
	} else if (rc == ERR_PROTO && !call->resp_final) {
		call_abort(call, GRPC_STATUS_INTERNAL, "grpc: bad message flag");
	} else if (rc && !call->resp_final) {
		call_abort(call, GRPC_STATUS_INTERNAL, "grpc: cannot receive message");
	}
	return 0;
}

/* Request headers complete: validate, find the method, start the call. */
static void call_dispatch(struct grpc_call *call)
{
	struct grpc_server_conn *c = call->conn;
	call->dispatched = 1;
	if (c->srv->cfg.mirror_compression)
		call->resp_enc = call->req_enc;
	if (call->content_type_ok != 1) {
		call->early_status = 0;
		early(call, 415, GRPC_STATUS_INTERNAL,
		      call->content_type_ok ? "invalid gRPC request content-type" : "missing content-type");
	}
	if (call->bad_method) {
		call->early_status = 0;
		early(call, 405, GRPC_STATUS_INTERNAL, "grpc: :method must be POST");
	}
	if (!call->early_status) {
		if (!call->path) {
			early(call, 200, GRPC_STATUS_UNIMPLEMENTED, "missing :path");
		} else {
			call->method = server_lookup(c->srv, call->path);
			if (!call->method) {
				unknown_method_msg(c->srv, call->path, call->early_buf, sizeof call->early_buf);
				early(call, 200, GRPC_STATUS_UNIMPLEMENTED, call->early_buf);
			}
		}
	}
	if (call->early_status) {
		call_send_status(call, call->early_http, call->early_status, call->early_msg);
		return;
	}
	if (call->deadline_ns <= conn_now(c)) {
		call_send_status(call, 200, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
		return;
	}
	cb_start(call);
}

static int on_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct grpc_server_conn *c = user_data;
	struct grpc_call *call;
	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
		if (!call)
			return 0;
		call->holds++;
		if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
			call_dispatch(call);
		if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && call->stream_open) {
			call->remote_closed = 1;
			if (call->method && !(call->resp_final && !call->owned))
				call_half_close(call);
		}
		call->holds--;
		call_maybe_free(call);
		return 0;
	case NGHTTP2_DATA:
		if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
			return 0;
		call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
		if (!call)
			return 0;
		call->remote_closed = 1;
		if (!call->method || (call->resp_final && !call->owned))
			return 0;
		call->holds++;
		call_half_close(call);
		call->holds--;
		call_maybe_free(call);
		return 0;
	case NGHTTP2_PING:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
			if (c->shutdown == 1 && memcmp(frame->ping.opaque_data, SHUTDOWN_PING_OPAQUE, 8) == 0) {
				c->shutdown = 2;
				(void)nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE,
							    nghttp2_session_get_last_proc_stream_id(session),
							    NGHTTP2_NO_ERROR, NULL, 0);
			}
			return 0;
		}
		if (!grpc_bucket_take(&c->pings, conn_now(c)) && !c->fatal) {
			LOG_WARN("grpc: ping flood from %s: GOAWAY too_many_pings",
				 c->peer_addr ? c->peer_addr : "peer");
			c->fatal = 1;
			(void)nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE,
						    nghttp2_session_get_last_proc_stream_id(session),
						    NGHTTP2_ENHANCE_YOUR_CALM, (const uint8_t *)"too_many_pings", 14);
		}
		return 0;
	default:
		return 0;
	}
}

static int on_frame_send_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct grpc_server_conn *c = user_data;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	/* We are answering: pings in between are not abuse (grpc-go resets its strikes here). */
	grpc_bucket_fill(&c->pings);
	if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	struct grpc_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (call && !call->remote_closed) {
		/* The status is out and the client is still sending: tell it to stop. */
		(void)nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
						call->rst_cancel ? NGHTTP2_CANCEL : NGHTTP2_NO_ERROR);
	}
	return 0;
}

static int on_stream_close_cb(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
			      void *user_data)
{
	(void)user_data;
	struct grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
	if (!call)
		return 0;
	nghttp2_session_set_stream_user_data(session, stream_id, NULL);
	call_unlink(call);
	if (!call->resp_complete || error_code != NGHTTP2_NO_ERROR)
		cb_cancel(call, GRPC_STATUS_CANCELLED);
	call_maybe_free(call);
	return 0;
}

static int on_invalid_frame_cb(nghttp2_session *session, const nghttp2_frame *frame, int lib_error,
			       void *user_data)
{
	(void)session;
	(void)user_data;
	LOG_DEBUG("grpc: invalid frame type %u on stream %d: %s", frame->hd.type, frame->hd.stream_id,
		  nghttp2_strerror(lib_error));
	return 0;
}

/* ---- connection ---------------------------------------------------------------------------- */

int grpc_server_conn_new(struct grpc_server *s, const struct grpc_server_conn_hooks *hooks,
			 struct grpc_server_conn **out)
{
	ASSERT(s != NULL && out != NULL);
	struct grpc_server_conn *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM;
	c->srv = s;
	c->min_deadline = UINT64_MAX;
	if (hooks)
		c->hooks = *hooks;
	grpc_bucket_init(&c->pings, LIMIT_H2_PING_BURST, LIMIT_H2_PING_PER_SEC, conn_now(c));
	nghttp2_session_callbacks *cbs = NULL;
	nghttp2_option *opt = NULL;
	int rc = ERR_NOMEM;
	if (nghttp2_session_callbacks_new(&cbs) || nghttp2_option_new(&opt))
		goto err;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers_cb);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close_cb);
	nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send_cb);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame_cb);
	nghttp2_option_set_no_closed_streams(opt, 1);
	nghttp2_option_set_stream_reset_rate_limit(opt, LIMIT_H2_RESET_BURST, LIMIT_H2_RESET_PER_SEC);
	if (nghttp2_session_server_new2(&c->session, cbs, c, opt))
		goto err;
	const struct grpc_server_config *cfg = &s->cfg;
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->max_concurrent_streams},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, cfg->stream_window_bytes},
		{NGHTTP2_SETTINGS_MAX_FRAME_SIZE, cfg->max_frame_bytes},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, cfg->max_header_list_bytes},
	};
	if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]))
		goto err;
	if (nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
						  (int32_t)cfg->conn_window_bytes))
		goto err;
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	s->frozen = 1;
	s->conns++;
	*out = c;
	return 0;
err:
	if (c->session)
		nghttp2_session_del(c->session);
	nghttp2_session_callbacks_del(cbs);
	nghttp2_option_del(opt);
	free(c);
	return rc;
}

void grpc_server_conn_free(struct grpc_server_conn *c)
{
	if (!c)
		return;
	while (c->calls) {
		struct grpc_call *call = c->calls;
		nghttp2_session_set_stream_user_data(c->session, call->stream_id, NULL);
		call_unlink(call);
		call->holds++;
		cb_cancel(call, GRPC_STATUS_UNAVAILABLE);
		call->holds--;
		call->conn = NULL;
		call_maybe_free(call);
	}
	nghttp2_session_del(c->session);
	ASSERT(c->srv->conns > 0);
	c->srv->conns--;
	free(c->peer_addr);
	free(c->peer_identity);
	free(c);
}

int grpc_server_conn_set_peer(struct grpc_server_conn *c, const char *addr, const char *identity)
{
	char *a = addr ? strdup(addr) : NULL;
	char *i = identity ? strdup(identity) : NULL;
	if ((addr && !a) || (identity && !i)) {
		free(a);
		free(i);
		return ERR_NOMEM;
	}
	free(c->peer_addr);
	free(c->peer_identity);
	c->peer_addr = a;
	c->peer_identity = i;
	return 0;
}

int grpc_server_conn_recv(struct grpc_server_conn *c, const uint8_t *data, size_t len)
{
	ASSERT(c != NULL);
	ASSERT(data != NULL || len == 0);
	if (c->fatal)
		return ERR_PROTO;
	c->in_io++;
	ssize_t n = nghttp2_session_mem_recv(c->session, data, len);
	c->in_io--;
	if (n < 0) {
		LOG_DEBUG("grpc: connection %s: %s", c->peer_addr ? c->peer_addr : "", nghttp2_strerror((int)n));
		c->fatal = 1;
		return n == NGHTTP2_ERR_NOMEM ? ERR_NOMEM : ERR_PROTO;
	}
	ASSERT((size_t)n == len);
	return c->fatal ? ERR_PROTO : 0;
}

static void conn_run_writable(struct grpc_server_conn *c)
{
	if (!c->writable_pending)
		return;
	c->writable_pending = 0;
	/* Bounded: one pass over the open calls. A callback may finish its call (it stays pinned)
	 * but cannot close streams: only nghttp2 does that, inside recv/send. */
	for (struct grpc_call *call = c->calls; call; call = call->next) {
		if (!call->want_writable || net_buf_size(&call->out) >= LIMIT_GRPC_CALL_SEND_QUEUE_BYTES / 2)
			continue;
		call->want_writable = 0;
		if (call->canceled || call->handler_done || !call->method->m.on_writable)
			continue;
		call->holds++;
		call->method->m.on_writable(call);
		call->holds--;
	}
}

int grpc_server_conn_send(struct grpc_server_conn *c, struct net_buf *out, size_t max_bytes)
{
	ASSERT(c != NULL && out != NULL);
	int rc = 0;
	c->in_io++;
	/* Bounded: each round either appends bytes or stops; the byte bound ends the loop. */
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

int grpc_server_conn_want_write(const struct grpc_server_conn *c)
{
	return nghttp2_session_want_write(c->session);
}

int grpc_server_conn_done(const struct grpc_server_conn *c)
{
	if (nghttp2_session_want_write(c->session))
		return 0;
	return c->fatal || !nghttp2_session_want_read(c->session);
}

void grpc_server_conn_tick(struct grpc_server_conn *c)
{
	uint64_t now = conn_now(c);
	if (now < c->min_deadline && !(c->shutdown == 1))
		return; /* nothing can have expired */
	c->in_io++;
	uint64_t min = UINT64_MAX;
	for (struct grpc_call *call = c->calls, *next; call; call = next) {
		next = call->next;
		if (call->resp_final)
			continue;
		if (call->deadline_ns > now) {
			if (call->deadline_ns < min)
				min = call->deadline_ns;
			continue;
		}
		call->holds++;
		if (call->resp_started && nghttp2_session_get_stream_remote_window_size(c->session, call->stream_id) <= 0) {
			/* The client is not reading: trailers cannot go out; reset. */
			(void)nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
			call->resp_final = 1;
			cb_cancel(call, GRPC_STATUS_DEADLINE_EXCEEDED);
		} else {
			call->rst_cancel = 1;
			call_abort(call, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
		}
		call->holds--;
		/* still linked: streams close only inside nghttp2 */
	}
	c->min_deadline = min;
	if (c->shutdown == 1 && now >= c->shutdown_ns + SHUTDOWN_ACK_WAIT_NS) {
		c->shutdown = 2;
		(void)nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
					    nghttp2_session_get_last_proc_stream_id(c->session),
					    NGHTTP2_NO_ERROR, NULL, 0);
	}
	c->in_io--;
}

uint64_t grpc_server_conn_next_timer_ns(const struct grpc_server_conn *c)
{
	/* A lower bound: the call it came from may be done already; the tick then finds the
	 * exact next one. Keeps this O(1) for the transport, which asks after every flush. */
	uint64_t t = c->min_deadline;
	if (c->shutdown == 1 && c->shutdown_ns + SHUTDOWN_ACK_WAIT_NS < t)
		t = c->shutdown_ns + SHUTDOWN_ACK_WAIT_NS;
	return t;
}

void grpc_server_conn_shutdown(struct grpc_server_conn *c)
{
	if (c->shutdown || c->fatal)
		return;
	c->shutdown = 1;
	c->shutdown_ns = conn_now(c);
	if (nghttp2_submit_shutdown_notice(c->session) ||
	    nghttp2_submit_ping(c->session, NGHTTP2_FLAG_NONE, (const uint8_t *)SHUTDOWN_PING_OPAQUE)) {
		c->shutdown = 2;
		(void)nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
					    nghttp2_session_get_last_proc_stream_id(c->session),
					    NGHTTP2_NO_ERROR, NULL, 0);
	}
	conn_signal_output(c);
}

size_t grpc_server_conn_active_calls(const struct grpc_server_conn *c)
{
	return c->ncalls;
}

uint64_t grpc_server_conn_calls_total(const struct grpc_server_conn *c)
{
	return c->calls_total;
}

/* ---- call API ------------------------------------------------------------------------------ */

void *grpc_call_method_ctx(const struct grpc_call *call) { return call->method->m.ctx; }
void grpc_call_set_user(struct grpc_call *call, void *user) { call->user = user; }
void *grpc_call_user(const struct grpc_call *call) { return call->user; }
struct arena *grpc_call_arena(struct grpc_call *call) { return &call->arena; }
const char *grpc_call_path(const struct grpc_call *call) { return call->path; }
uint64_t grpc_call_deadline_ns(const struct grpc_call *call) { return call->deadline_ns; }
enum grpc_encoding grpc_call_request_encoding(const struct grpc_call *call) { return call->req_enc; }
int grpc_call_is_canceled(const struct grpc_call *call) { return call->canceled; }
size_t grpc_call_header_count(const struct grpc_call *call) { return call->nhdrs; }
size_t grpc_call_send_queued(const struct grpc_call *call) { return net_buf_size(&call->out); }

struct grpc_md grpc_call_header_at(const struct grpc_call *call, size_t i)
{
	ASSERT(i < call->nhdrs);
	return call->hdrs[i];
}

const char *grpc_call_header(const struct grpc_call *call, const char *name, size_t *len)
{
	for (size_t i = 0; i < call->nhdrs; i++) {
		if (strcmp(call->hdrs[i].name, name) == 0) {
			if (len)
				*len = call->hdrs[i].value_len;
			return call->hdrs[i].value;
		}
	}
	return NULL;
}

const char *grpc_call_peer(const struct grpc_call *call)
{
	return call->conn && call->conn->peer_addr ? call->conn->peer_addr : "";
}

const char *grpc_call_peer_identity(const struct grpc_call *call)
{
	return call->conn ? call->conn->peer_identity : NULL;
}

static int md_add(struct grpc_call *call, struct grpc_md *arr, size_t *n, const char *name,
		  const char *value)
{
	if (call->canceled)
		return ERR_CANCELED;
	if (!grpc_md_name_ok(name) || grpc_md_reserved(name) || !value)
		return ERR_INVAL;
	if (*n >= LIMIT_GRPC_MD_ENTRIES)
		return ERR_TOOBIG;
	size_t nl = strlen(name), vl = strlen(value);
	char *p = arena_alloc(&call->arena, nl + 1 + vl + 1);
	if (!p)
		return ERR_NOMEM;
	memcpy(p, name, nl + 1);
	memcpy(p + nl + 1, value, vl + 1);
	arr[(*n)++] = (struct grpc_md){p, p + nl + 1, vl};
	return 0;
}

int grpc_call_add_header(struct grpc_call *call, const char *name, const char *value)
{
	if (call->resp_started || call->resp_final)
		return ERR_INVAL;
	return md_add(call, call->resp_hdrs, &call->nresp_hdrs, name, value);
}

int grpc_call_add_trailer(struct grpc_call *call, const char *name, const char *value)
{
	if (call->resp_final)
		return ERR_INVAL;
	return md_add(call, call->trailers, &call->ntrailers, name, value);
}

void grpc_call_set_response_encoding(struct grpc_call *call, enum grpc_encoding e)
{
	ASSERT((unsigned)e < GRPC_ENCODING_COUNT);
	if (!call->resp_started)
		call->resp_enc = e;
}

static int send_check(struct grpc_call *call, size_t len)
{
	ASSERT(call->owned && !call->handler_done);
	if (call->canceled || !call->conn || !call->stream_open)
		return ERR_CANCELED;
	if (call->resp_final || call->reserved_pending)
		return ERR_INVAL;
	enum grpc_method_kind k = call->method->m.kind;
	if ((k == GRPC_METHOD_UNARY || k == GRPC_METHOD_CLIENT_STREAMING) && call->msgs_sent)
		return ERR_INVAL;
	if (len > call->conn->srv->cfg.max_send_msg_bytes)
		return ERR_TOOBIG;
	if (net_buf_size(&call->out) >= LIMIT_GRPC_CALL_SEND_QUEUE_BYTES) {
		call->want_writable = 1;
		return ERR_AGAIN;
	}
	return 0;
}

/* After bytes were queued: start the response or wake the data source. */
static int send_kick(struct grpc_call *call)
{
	struct grpc_server_conn *c = call->conn;
	call->msgs_sent++;
	int rc = 0;
	if (!call->resp_started) {
		rc = call_start_response(call);
	} else if (call->deferred) {
		call->deferred = 0;
		rc = grpc_h2_err(nghttp2_session_resume_data(c->session, call->stream_id));
	}
	conn_signal_output(c);
	return rc;
}

int grpc_call_send_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	int rc = send_check(call, len);
	if (rc)
		return rc;
	enum grpc_encoding enc = resp_encoding_ok(call) ? call->resp_enc : GRPC_ENCODING_IDENTITY;
	rc = grpc_msg_append(&call->out, &call->scratch, enc, msg, len);
	if (rc)
		return rc;
	return send_kick(call);
}

uint8_t *grpc_call_send_reserve(struct grpc_call *call, size_t len, int *err)
{
	int rc = send_check(call, len);
	uint8_t *p = NULL;
	if (rc)
		goto out;
	enum grpc_encoding enc = resp_encoding_ok(call) ? call->resp_enc : GRPC_ENCODING_IDENTITY;
	if (enc == GRPC_ENCODING_IDENTITY) {
		p = net_buf_reserve(&call->out, GRPC_FRAME_HEADER_BYTES + len);
		if (p)
			p += GRPC_FRAME_HEADER_BYTES;
	} else {
		net_buf_clear(&call->scratch);
		p = net_buf_reserve(&call->scratch, len ? len : 1);
	}
	if (!p) {
		rc = ERR_NOMEM;
		goto out;
	}
	call->reserve_len = len;
	call->reserved_pending = 1;
out:
	if (err)
		*err = rc;
	return p;
}

int grpc_call_send_commit(struct grpc_call *call)
{
	ASSERT(call->reserved_pending);
	call->reserved_pending = 0;
	if (call->canceled || !call->conn || !call->stream_open)
		return ERR_CANCELED;
	size_t len = call->reserve_len;
	enum grpc_encoding enc = resp_encoding_ok(call) ? call->resp_enc : GRPC_ENCODING_IDENTITY;
	if (enc == GRPC_ENCODING_IDENTITY) {
		uint8_t *p = call->out.data + call->out.len;
		grpc_frame_header_write(p, 0, (uint32_t)len);
		net_buf_commit(&call->out, GRPC_FRAME_HEADER_BYTES + len);
	} else {
		struct net_buf plain = call->scratch; /* take the reserved bytes out of scratch */
		plain.len = plain.off + len;
		net_buf_init(&call->scratch);
		int rc = grpc_msg_append(&call->out, &call->scratch, enc, net_buf_head(&plain), len);
		net_buf_deinit(&plain);
		if (rc)
			return rc;
	}
	return send_kick(call);
}

int grpc_call_finish(struct grpc_call *call, int status, const char *message)
{
	ASSERT(call->owned && !call->handler_done);
	ASSERT(status >= 0 && status < GRPC_STATUS_COUNT);
	call->handler_done = 1;
	call->reserved_pending = 0;
	int rc = 0;
	if (call->canceled || !call->conn || !call->stream_open || call->resp_final) {
		rc = ERR_CANCELED;
	} else {
		struct grpc_server_conn *c = call->conn;
		call_send_status(call, 200, status, message);
		conn_signal_output(c);
	}
	call_maybe_free(call);
	return rc;
}

int grpc_call_reply(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	int rc = grpc_call_send_msg(call, msg, len);
	if (rc && rc != ERR_CANCELED) {
		(void)grpc_call_finish(call, grpc_status_from_err(rc), "cannot send the response");
		return rc;
	}
	int frc = grpc_call_finish(call, GRPC_STATUS_OK, NULL);
	return rc ? rc : frc;
}
