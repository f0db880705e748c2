/*
 * fuzz_h2_common.h — shared harness of the HTTP/2 + gRPC connection fuzz targets
 * (fuzz_h2_server.c, fuzz_h2_server_raw.c, fuzz_h2_client.c). Header-only (static functions):
 * the fuzz build links each fuzz_*.c alone.
 *
 * Server side: one grpc_server (built once, fake clock) with handlers on the paths real clients
 * use (the regatta.test.v1.Echo methods, and net's own grpc.health.v1.Health), covering every ownership
 * pattern of net/grpc_server.h — answer in the callback, answer later (parked calls finished
 * between chunks), stream, fail with a status, never answer (connection free must cancel them).
 * Client side: a grpc_client_conn with four calls started in a fixed order (streams 1, 3, 5, 7:
 * Unary, ServerStream, BidiStream, ClientStream), fed arbitrary server bytes.
 *
 * Invariants asserted: every call a handler owns gets exactly one finish (parked calls left at
 * the end must be canceled by grpc_server_conn_free); every client call gets exactly one on_done,
 * never a callback after it; output drains in bounded steps. Memory errors are ASan's job.
 */
#ifndef TESTS_FUZZ_FUZZ_H2_COMMON_H
#define TESTS_FUZZ_FUZZ_H2_COMMON_H

#include "core/assert.h"
#include "core/err.h"
#include "net/buf.h"
#include "net/grpc_client.h"
#include "net/grpc_health.h"
#include "net/grpc_server.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define H2FUZZ_PARK_MAX 64          /* parked (answer-later) server calls */
#define H2FUZZ_DRAIN_STEPS 256      /* send() calls per drain, at most */
#define H2FUZZ_DRAIN_BYTES (64u << 10)
#define H2FUZZ_STEP_NS (50ull * 1000000ull)

static uint64_t h2fuzz_now_ns = 1000000000ull;

static __attribute__((unused)) uint64_t h2fuzz_clock(void *ctx)
{
	(void)ctx;
	return h2fuzz_now_ns;
}

/* ---- server ----------------------------------------------------------------------------------- */

struct h2fuzz_server {
	struct grpc_server_conn *conn;
	struct net_buf out;
	int dead;
	uint64_t outputs; /* on_output hook calls */
};

static struct grpc_server *h2fuzz_srv;
static struct grpc_health *h2fuzz_health;
static struct grpc_call *h2fuzz_parked[H2FUZZ_PARK_MAX];
static size_t h2fuzz_nparked;
static uint64_t h2fuzz_owned;    /* calls owned by a handler and not finished */

/* Per-call tracker: marks ownership; freed at finish. */
struct h2fuzz_call {
	uint32_t magic;
	uint32_t msgs;
	int parked;
};
#define H2FUZZ_MAGIC 0x46555a5au

static __attribute__((unused)) struct h2fuzz_call *h2fuzz_own(struct grpc_call *call)
{
	struct h2fuzz_call *t = grpc_call_user(call);
	if (t) {
		ASSERT(t->magic == H2FUZZ_MAGIC);
		return t;
	}
	t = calloc(1, sizeof *t);
	ASSERT(t != NULL);
	t->magic = H2FUZZ_MAGIC;
	grpc_call_set_user(call, t);
	h2fuzz_owned++;
	return t;
}

static __attribute__((unused)) void h2fuzz_unpark(struct grpc_call *call)
{
	for (size_t i = 0; i < h2fuzz_nparked; i++) {
		if (h2fuzz_parked[i] == call) {
			h2fuzz_parked[i] = h2fuzz_parked[--h2fuzz_nparked];
			return;
		}
	}
}

static __attribute__((unused)) void h2fuzz_finish(struct grpc_call *call, int status, const char *msg)
{
	struct h2fuzz_call *t = grpc_call_user(call);
	ASSERT(t != NULL && t->magic == H2FUZZ_MAGIC);
	if (t->parked)
		h2fuzz_unpark(call);
	t->magic = 0;
	free(t);
	grpc_call_set_user(call, NULL);
	ASSERT(h2fuzz_owned > 0);
	h2fuzz_owned--;
	(void)grpc_call_finish(call, status, msg);
}

static __attribute__((unused)) void h2fuzz_park(struct grpc_call *call)
{
	struct h2fuzz_call *t = h2fuzz_own(call);
	if (h2fuzz_nparked == H2FUZZ_PARK_MAX) {
		h2fuzz_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "parking full");
		return;
	}
	t->parked = 1;
	h2fuzz_parked[h2fuzz_nparked++] = call;
}

/* on_cancel only ever comes for a call the handler owns (it had a callback before). */
static __attribute__((unused)) void h2fuzz_on_cancel(struct grpc_call *call, int status)
{
	ASSERT(status != GRPC_STATUS_OK);
	struct h2fuzz_call *t = grpc_call_user(call);
	ASSERT(t != NULL && t->magic == H2FUZZ_MAGIC);
	h2fuzz_finish(call, status, NULL);
}

/* Unary: the last request byte picks what the handler does. */
static __attribute__((unused)) void h2fuzz_unary_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	h2fuzz_own(call);
	unsigned mode = len ? msg[len - 1] % 5u : 4u;
	switch (mode) {
	case 0:
		h2fuzz_park(call);
		return;
	case 1: {
		char text[32];
		size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
		memcpy(text, msg, n);
		text[n] = '\0';
		h2fuzz_finish(call, (int)(msg[0] % GRPC_STATUS_COUNT), text);
		return;
	}
	case 2:
		if (grpc_call_add_header(call, "x-fuzz", "h") ||
		    grpc_call_add_trailer(call, "x-fuzz-t", "t"))
			break; /* refused metadata is fine; the reply still goes out */
		grpc_call_set_response_encoding(call, (enum grpc_encoding)(msg[0] % GRPC_ENCODING_COUNT));
		break;
	default:
		break;
	}
	int err = grpc_call_send_msg(call, msg, len);
	h2fuzz_finish(call, err ? grpc_status_from_err(err) : GRPC_STATUS_OK, NULL);
}

static __attribute__((unused)) void h2fuzz_sstream_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	h2fuzz_own(call);
	int err = 0;
	for (int i = 0; i < 3 && err == 0; i++)
		err = grpc_call_send_msg(call, msg, len);
	h2fuzz_finish(call, err ? grpc_status_from_err(err) : GRPC_STATUS_OK, NULL);
}

static __attribute__((unused)) void h2fuzz_cstream_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	(void)msg;
	struct h2fuzz_call *t = h2fuzz_own(call);
	t->msgs++;
	if (len > 0 && msg[0] == 0xEE) /* fail mid-stream; later messages must not reach us */
		h2fuzz_finish(call, GRPC_STATUS_ABORTED, "stop");
}

static __attribute__((unused)) void h2fuzz_cstream_half(struct grpc_call *call)
{
	struct h2fuzz_call *t = h2fuzz_own(call);
	uint8_t n[4] = {(uint8_t)t->msgs, (uint8_t)(t->msgs >> 8), 0, 0};
	int err = grpc_call_send_msg(call, n, sizeof n);
	h2fuzz_finish(call, err ? grpc_status_from_err(err) : GRPC_STATUS_OK, NULL);
}

static __attribute__((unused)) void h2fuzz_bidi_start(struct grpc_call *call)
{
	h2fuzz_own(call);
	if (grpc_call_header_count(call) % 2)
		grpc_call_set_response_encoding(call, GRPC_ENCODING_GZIP);
}

static __attribute__((unused)) void h2fuzz_bidi_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	h2fuzz_own(call);
	int err = grpc_call_send_msg(call, msg, len);
	if (err && err != ERR_AGAIN)
		h2fuzz_finish(call, grpc_status_from_err(err), NULL);
}

static __attribute__((unused)) void h2fuzz_bidi_half(struct grpc_call *call)
{
	h2fuzz_own(call);
	h2fuzz_finish(call, GRPC_STATUS_OK, NULL);
}

static __attribute__((unused)) void h2fuzz_sleep_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	(void)msg;
	(void)len;
	h2fuzz_park(call); /* answered on a later chunk, or canceled by deadline / free */
}

static __attribute__((unused)) void h2fuzz_server_init_once(void)
{
	if (h2fuzz_srv)
		return;
	struct grpc_server_config cfg = {.max_recv_msg_bytes = 1u << 20, .mirror_compression = 1,
					 .clock_ns = h2fuzz_clock};
	ASSERT(grpc_server_new(&cfg, &h2fuzz_srv) == 0);
	const struct grpc_method m[] = {
		{.path = "/regatta.test.v1.Echo/Unary", .kind = GRPC_METHOD_UNARY,
		 .on_message = h2fuzz_unary_msg, .on_cancel = h2fuzz_on_cancel},
		{.path = "/regatta.test.v1.Echo/ServerStream", .kind = GRPC_METHOD_SERVER_STREAMING,
		 .on_message = h2fuzz_sstream_msg, .on_cancel = h2fuzz_on_cancel},
		{.path = "/regatta.test.v1.Echo/ClientStream", .kind = GRPC_METHOD_CLIENT_STREAMING,
		 .on_message = h2fuzz_cstream_msg, .on_half_close = h2fuzz_cstream_half,
		 .on_cancel = h2fuzz_on_cancel},
		{.path = "/regatta.test.v1.Echo/BidiStream", .kind = GRPC_METHOD_BIDI,
		 .on_start = h2fuzz_bidi_start, .on_message = h2fuzz_bidi_msg,
		 .on_half_close = h2fuzz_bidi_half, .on_cancel = h2fuzz_on_cancel},
		{.path = "/regatta.test.v1.Echo/Sleep", .kind = GRPC_METHOD_UNARY,
		 .on_message = h2fuzz_sleep_msg, .on_cancel = h2fuzz_on_cancel},
	};
	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
		ASSERT(grpc_server_register(h2fuzz_srv, &m[i]) == 0);
	ASSERT(grpc_health_new(h2fuzz_srv, &h2fuzz_health) == 0);
	ASSERT(grpc_health_set(h2fuzz_health, "regatta.test.v1.Echo", GRPC_HEALTH_SERVING) == 0);
}

static __attribute__((unused)) void h2fuzz_on_output(void *ctx)
{
	struct h2fuzz_server *f = ctx;
	f->outputs++;
}

static __attribute__((unused)) void h2fuzz_server_drain(struct h2fuzz_server *f)
{
	for (int i = 0; i < H2FUZZ_DRAIN_STEPS && grpc_server_conn_want_write(f->conn); i++) {
		int err = grpc_server_conn_send(f->conn, &f->out, H2FUZZ_DRAIN_BYTES);
		net_buf_clear(&f->out);
		if (err) {
			ASSERT(err < 0);
			f->dead = 1;
			return;
		}
	}
}

static __attribute__((unused)) void h2fuzz_server_open(struct h2fuzz_server *f)
{
	h2fuzz_server_init_once();
	memset(f, 0, sizeof *f);
	net_buf_init(&f->out);
	struct grpc_server_conn_hooks hooks = {.on_output = h2fuzz_on_output, .ctx = f};
	ASSERT(grpc_server_conn_new(h2fuzz_srv, &hooks, &f->conn) == 0);
	ASSERT(grpc_server_conn_set_peer(f->conn, "127.0.0.1:1", NULL) == 0);
	h2fuzz_server_drain(f);
}

static __attribute__((unused)) int h2fuzz_server_feed(struct h2fuzz_server *f, const uint8_t *p, size_t n)
{
	if (f->dead)
		return ERR_PROTO;
	int err = grpc_server_conn_recv(f->conn, p, n);
	if (err) {
		ASSERT(err < 0);
		f->dead = 1;
	}
	h2fuzz_server_drain(f); /* a GOAWAY may be pending even after an error */
	return err;
}

/* Between chunks: time passes, one parked call is answered, timers run. */
static __attribute__((unused)) void h2fuzz_server_between(struct h2fuzz_server *f, uint64_t step_ns)
{
	h2fuzz_now_ns += step_ns;
	if (h2fuzz_nparked > 0) {
		struct grpc_call *c = h2fuzz_parked[0];
		static const uint8_t answer[] = {0x0a, 0x02, 'o', 'k'};
		int err = grpc_call_send_msg(c, answer, sizeof answer);
		h2fuzz_finish(c, err ? grpc_status_from_err(err) : GRPC_STATUS_OK, NULL);
	}
	if (!f->dead && grpc_server_conn_next_timer_ns(f->conn) <= h2fuzz_now_ns)
		grpc_server_conn_tick(f->conn);
	if (!f->dead)
		h2fuzz_server_drain(f);
}

static __attribute__((unused)) int h2fuzz_server_feed_chunked(struct h2fuzz_server *f, uint8_t ctl, const uint8_t *p,
				      size_t n)
{
	size_t chunk = (ctl & 15) ? (size_t)1 << (ctl & 15) : (n ? n : 1);
	uint64_t step = (uint64_t)(ctl >> 4) * H2FUZZ_STEP_NS;
	size_t off = 0;
	int err = 0;
	while (off < n && err == 0) {
		size_t k = n - off < chunk ? n - off : chunk;
		err = h2fuzz_server_feed(f, p + off, k);
		off += k;
		h2fuzz_server_between(f, step);
	}
	return err;
}

static __attribute__((unused)) void h2fuzz_server_close(struct h2fuzz_server *f)
{
	if (!f->dead) {
		grpc_server_conn_shutdown(f->conn);
		h2fuzz_server_drain(f);
		h2fuzz_now_ns += 10ull * 1000000000ull;
		if (grpc_server_conn_next_timer_ns(f->conn) <= h2fuzz_now_ns)
			grpc_server_conn_tick(f->conn);
		h2fuzz_server_drain(f);
	}
	/* Parked calls are still owned: the free must cancel every one of them. */
	grpc_server_conn_free(f->conn);
	ASSERT(h2fuzz_nparked == 0);
	ASSERT(h2fuzz_owned == 0);
	net_buf_deinit(&f->out);
}

/* ---- client ----------------------------------------------------------------------------------- */

#define H2FUZZ_CLIENT_CALLS 4

struct h2fuzz_ccall {
	struct grpc_client_call *call;
	int done;
	uint32_t msgs;
	int index;
	struct h2fuzz_client *owner;
};

struct h2fuzz_client {
	struct grpc_client_conn *conn;
	struct net_buf out;
	int dead;
	struct h2fuzz_ccall calls[H2FUZZ_CLIENT_CALLS];
};

static __attribute__((unused)) void h2fuzz_c_on_message(struct grpc_client_call *call, const uint8_t *msg, size_t len,
				void *ctx)
{
	struct h2fuzz_ccall *c = ctx;
	ASSERT(!c->done && c->call == call);
	c->msgs++;
	/* Bidi: answer each message with one more request, a few times (send from a callback). */
	if (c->index == 2 && c->msgs < 4)
		if (grpc_client_call_send_msg(call, msg, len < 64 ? len : 64))
			return; /* ERR_INVAL after close_send is the expected answer here */
	/* A message starting with 0xCC cancels its call (cancel from inside a callback). */
	if (len > 0 && msg[0] == 0xCC)
		grpc_client_call_cancel(call);
}

static __attribute__((unused)) void h2fuzz_c_on_done(struct grpc_client_call *call, int status, const char *message,
			     void *ctx)
{
	struct h2fuzz_ccall *c = ctx;
	ASSERT(!c->done && c->call == call);
	ASSERT(status >= 0 && status < GRPC_STATUS_COUNT);
	ASSERT(message != NULL);
	c->done = 1;
	c->call = NULL;
}

static const struct grpc_client_call_ops h2fuzz_c_ops = {.on_message = h2fuzz_c_on_message,
							 .on_done = h2fuzz_c_on_done};

static __attribute__((unused)) void h2fuzz_client_drain(struct h2fuzz_client *f)
{
	for (int i = 0; i < H2FUZZ_DRAIN_STEPS && grpc_client_conn_want_write(f->conn); i++) {
		int err = grpc_client_conn_send(f->conn, &f->out, H2FUZZ_DRAIN_BYTES);
		net_buf_clear(&f->out);
		if (err) {
			f->dead = 1;
			return;
		}
	}
}

/* The calls of tests/integration/grpc_test_client.c's "seedcalls" case, in the same order. */
static __attribute__((unused)) void h2fuzz_client_open(struct h2fuzz_client *f)
{
	memset(f, 0, sizeof *f);
	net_buf_init(&f->out);
	struct grpc_client_config cfg = {.authority = "127.0.0.1:1", .max_recv_msg_bytes = 1u << 20,
					 .clock_ns = h2fuzz_clock, .keepalive_ns = 2000000000ull};
	ASSERT(grpc_client_conn_new(&cfg, &f->conn) == 0);
	static const char *paths[H2FUZZ_CLIENT_CALLS] = {
		"/regatta.test.v1.Echo/Unary", "/regatta.test.v1.Echo/ServerStream",
		"/regatta.test.v1.Echo/BidiStream", "/regatta.test.v1.Echo/ClientStream"};
	static const uint8_t unary_req[] = {0x0a, 0x04, 's', 'e', 'e', 'd'};
	static const uint8_t ss_req[] = {0x08, 0x03, 0x12, 0x08, 0x0a, 0x06,
					 's', 't', 'r', 'e', 'a', 'm'};
	static const uint8_t bidi_req[] = {0x0a, 0x04, 'b', 'i', 'd', 'i'};
	static const uint8_t cs_req[] = {0x0a, 0x02, 'c', 's'};
	struct grpc_client_call_opts opts = {.timeout_ns = 10ull * 1000000000ull};
	for (int i = 0; i < H2FUZZ_CLIENT_CALLS; i++) {
		struct h2fuzz_ccall *c = &f->calls[i];
		c->index = i;
		c->owner = f;
		ASSERT(grpc_client_call_start(f->conn, paths[i], &opts, &h2fuzz_c_ops, c, &c->call) == 0);
	}
	ASSERT(grpc_client_call_send_msg(f->calls[0].call, unary_req, sizeof unary_req) == 0);
	ASSERT(grpc_client_call_send_msg(f->calls[1].call, ss_req, sizeof ss_req) == 0);
	for (int k = 0; k < 3; k++) {
		ASSERT(grpc_client_call_send_msg(f->calls[2].call, bidi_req, sizeof bidi_req) == 0);
		ASSERT(grpc_client_call_send_msg(f->calls[3].call, cs_req, sizeof cs_req) == 0);
	}
	for (int i = 0; i < H2FUZZ_CLIENT_CALLS; i++)
		ASSERT(grpc_client_call_close_send(f->calls[i].call) == 0);
	h2fuzz_client_drain(f);
}

static __attribute__((unused)) void h2fuzz_client_feed_chunked(struct h2fuzz_client *f, uint8_t ctl, const uint8_t *p,
				       size_t n)
{
	size_t chunk = (ctl & 15) ? (size_t)1 << (ctl & 15) : (n ? n : 1);
	uint64_t step = (uint64_t)(ctl >> 4) * H2FUZZ_STEP_NS;
	for (size_t off = 0; off < n && !f->dead;) {
		size_t k = n - off < chunk ? n - off : chunk;
		int err = grpc_client_conn_recv(f->conn, p + off, k);
		off += k;
		if (err) {
			ASSERT(err < 0);
			f->dead = 1;
		}
		h2fuzz_client_drain(f);
		h2fuzz_now_ns += step;
		if (!f->dead && grpc_client_conn_next_timer_ns(f->conn) <= h2fuzz_now_ns) {
			grpc_client_conn_tick(f->conn);
			h2fuzz_client_drain(f);
		}
	}
}

static __attribute__((unused)) void h2fuzz_client_close(struct h2fuzz_client *f)
{
	grpc_client_conn_free(f->conn);
	for (int i = 0; i < H2FUZZ_CLIENT_CALLS; i++)
		ASSERT(f->calls[i].done == 1); /* exactly once: on_done asserts the "once" */
	net_buf_deinit(&f->out);
}

#endif
