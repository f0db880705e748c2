/*
 * echo_service.c — handlers of regatta.test.v1.Echo on
 * net/grpc_server.h (see echo_service.h for the contract, echo.proto for the rules).
 *
 * Call state (struct echo_call) is allocated in the call's arena on the first callback, so it
 * lives exactly as long as the handler owns the call. Sending follows the layer's backpressure:
 * a send that returns ERR_AGAIN leaves the message for on_writable (server stream: the next
 * sequence number; bidi: a bounded queue of packed answers). Timers (Sleep, stream intervals)
 * are reactor timeouts; a cancel (deadline, RST_STREAM, connection gone) cancels the timer and
 * the timer's completion finishes the call, so a call is never finished while its timer is
 * armed.
 */
#include "tests/integration/echo_service.h"

#include "core/arena.h"
#include "core/assert.h"
#include "core/limits.h"
#include "core/log.h"
#include "net/buf.h"
#include "proto/test/v1/echo.pb-c.h"

#include <string.h>

/* Bidi answers waiting for the call's send queue to drain, at most (then RESOURCE_EXHAUSTED):
 * the layer gives no read backpressure per call, so this queue bounds a client that sends
 * faster than it reads. */
#define ECHO_BIDI_PENDING_MAX_BYTES (16u << 20)

enum echo_kind {
	ECHO_UNARY = 1,
	ECHO_SERVER_STREAM,
	ECHO_CLIENT_STREAM,
	ECHO_BIDI,
	ECHO_SLEEP,
};

struct echo_call {
	struct grpc_call *call;
	struct echo_core *core;
	enum echo_kind kind;
	int canceled;
	/* timer: Sleep, ServerStream interval */
	struct io_op timer;
	int timer_armed;
	uint64_t started_ns;
	uint32_t sleep_ms;
	/* ServerStream */
	Regatta__Test__V1__EchoRequest *ss_req;
	uint32_t ss_next;
	uint32_t ss_count;
	uint32_t ss_interval_ms;
	int ss_waited; /* the interval before ss_next has passed */
	/* ClientStream (payload concatenation) and Bidi (queued packed answers, each prefixed
	 * with its 4-byte length) */
	struct net_buf buf;
	uint64_t nreq;
	uint64_t total_bytes;
	uint64_t seq;
	int half_closed;
};

/* ---- protobuf-c allocator over the call arena -------------------------------------------- */

static void *pb_arena_alloc(void *data, size_t size)
{
	return arena_alloc(data, size ? size : 1);
}

static void pb_arena_free(void *data, void *p)
{
	(void)data;
	(void)p; /* the arena is freed with the call */
}

static ProtobufCAllocator call_allocator(struct grpc_call *call)
{
	ProtobufCAllocator a = {.alloc = pb_arena_alloc, .free = pb_arena_free,
				.allocator_data = grpc_call_arena(call)};
	return a;
}

/* ---- call state ---------------------------------------------------------------------------- */

static struct echo_call *state_of(struct grpc_call *call, enum echo_kind kind)
{
	struct echo_call *ec = grpc_call_user(call);
	if (ec) {
		ASSERT(ec->call == call && ec->kind == kind);
		return ec;
	}
	ec = arena_calloc(grpc_call_arena(call), 1, sizeof *ec);
	if (!ec)
		return NULL;
	ec->call = call;
	ec->kind = kind;
	ec->core = grpc_call_method_ctx(call);
	ASSERT(ec->core != NULL);
	net_buf_init(&ec->buf);
	ec->core->live_calls++;
	grpc_call_set_user(call, ec);
	return ec;
}

/* The one exit: release buffers, then the call. */
static void done(struct echo_call *ec, int status, const char *message)
{
	ASSERT(!ec->timer_armed);
	struct echo_core *core = ec->core;
	ASSERT(core->live_calls > 0);
	net_buf_deinit(&ec->buf);
	core->live_calls--;
	(void)grpc_call_finish(ec->call, status, message); /* ERR_CANCELED: already dead, fine */
}

/* A call we could not even allocate state for: answer without state. */
static void fail_stateless(struct grpc_call *call)
{
	(void)grpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of call memory");
}

static void send_error(struct echo_call *ec, int err)
{
	done(ec, grpc_status_from_err(err), err_str(err));
}

/* Pack an EchoResponse answering `req` (sequence `seq`) straight into the call's send queue. */
static int send_answer(struct echo_call *ec, const Regatta__Test__V1__EchoRequest *req, uint64_t seq)
{
	Regatta__Test__V1__EchoResponse resp = REGATTA__TEST__V1__ECHO_RESPONSE__INIT;
	uint8_t *pattern = NULL;
	if (req->response_bytes) {
		pattern = arena_alloc(grpc_call_arena(ec->call), req->response_bytes);
		if (!pattern)
			return ERR_TOOBIG;
		for (size_t i = 0; i < req->response_bytes; i++)
			pattern[i] = echo_pattern_byte(i);
		resp.payload.data = pattern;
		resp.payload.len = req->response_bytes;
	} else {
		resp.payload = req->payload;
	}
	resp.sequence = seq;
	resp.received_bytes = req->payload.len;
	size_t n = regatta__test__v1__echo_response__get_packed_size(&resp);
	int err = 0;
	uint8_t *out = grpc_call_send_reserve(ec->call, n, &err);
	if (!out) {
		ASSERT(err < 0);
		return err;
	}
	size_t packed = regatta__test__v1__echo_response__pack(&resp, out);
	ASSERT(packed == n);
	return grpc_call_send_commit(ec->call);
}

static Regatta__Test__V1__EchoRequest *decode_echo(struct grpc_call *call, const uint8_t *msg,
						    size_t len)
{
	ProtobufCAllocator a = call_allocator(call);
	return regatta__test__v1__echo_request__unpack(&a, len, msg);
}

/* Streaming requests are decoded with malloc and freed after use: the call arena lives as long
 * as the stream, so decoding into it would bound a stream's total size, not each message. */
static Regatta__Test__V1__EchoRequest *decode_stream_echo(const uint8_t *msg, size_t len)
{
	return regatta__test__v1__echo_request__unpack(NULL, len, msg);
}

/* ---- Unary ---------------------------------------------------------------------------------- */

static void unary_on_message(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct echo_call *ec = state_of(call, ECHO_UNARY);
	if (!ec)
		return fail_stateless(call);
	Regatta__Test__V1__EchoRequest *req = decode_echo(call, msg, len);
	if (!req)
		return done(ec, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode EchoRequest");
	if (req->fail_code)
		return done(ec, (int)req->fail_code, req->fail_message);
	int err = send_answer(ec, req, 0);
	if (err)
		return send_error(ec, err);
	done(ec, GRPC_STATUS_OK, NULL);
}

static void any_on_cancel(struct grpc_call *call, int status)
{
	struct echo_call *ec = grpc_call_user(call);
	ASSERT(ec != NULL && ec->call == call);
	ASSERT(status != GRPC_STATUS_OK);
	ec->canceled = 1;
	if (ec->timer_armed) {
		reactor_cancel(ec->core->r, &ec->timer); /* its completion finishes the call */
		return;
	}
	done(ec, status, NULL);
}

/* ---- ServerStream --------------------------------------------------------------------------- */

static void ss_timer_done(struct io_op *op);

static void ss_pump(struct echo_call *ec)
{
	while (ec->ss_next < ec->ss_count) {
		if (ec->ss_interval_ms && ec->ss_next > 0 && !ec->ss_waited) {
			ec->timer.cb = ss_timer_done;
			ec->timer.ctx = ec;
			ec->timer_armed = 1;
			reactor_timeout(ec->core->r, &ec->timer, (uint64_t)ec->ss_interval_ms * 1000000u);
			return;
		}
		int err = send_answer(ec, ec->ss_req, ec->ss_next);
		if (err == ERR_AGAIN)
			return; /* on_writable resumes */
		if (err)
			return send_error(ec, err);
		ec->ss_next++;
		ec->ss_waited = 0;
	}
	done(ec, GRPC_STATUS_OK, NULL);
}

static void ss_timer_done(struct io_op *op)
{
	struct echo_call *ec = op->ctx;
	ASSERT(ec->timer_armed);
	ec->timer_armed = 0;
	if (ec->canceled || op->result < 0)
		return done(ec, GRPC_STATUS_CANCELLED, NULL);
	ec->ss_waited = 1;
	ss_pump(ec);
}

static void ss_on_message(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct echo_call *ec = state_of(call, ECHO_SERVER_STREAM);
	if (!ec)
		return fail_stateless(call);
	ProtobufCAllocator a = call_allocator(call);
	Regatta__Test__V1__ServerStreamRequest *req =
		regatta__test__v1__server_stream_request__unpack(&a, len, msg);
	if (!req)
		return done(ec, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode ServerStreamRequest");
	if (!req->request) { /* absent: an empty EchoRequest */
		req->request = arena_alloc(grpc_call_arena(call), sizeof *req->request);
		if (!req->request)
			return done(ec, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of call memory");
		regatta__test__v1__echo_request__init(req->request);
	}
	ec->ss_req = req->request;
	if (ec->ss_req->fail_code)
		return done(ec, (int)ec->ss_req->fail_code, ec->ss_req->fail_message);
	ec->ss_count = req->count;
	ec->ss_interval_ms = req->interval_ms;
	ss_pump(ec);
}

static void ss_on_writable(struct grpc_call *call)
{
	struct echo_call *ec = grpc_call_user(call);
	ASSERT(ec != NULL && ec->kind == ECHO_SERVER_STREAM);
	if (!ec->timer_armed && !ec->canceled)
		ss_pump(ec);
}

/* ---- ClientStream --------------------------------------------------------------------------- */

static void cs_on_message(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct echo_call *ec = state_of(call, ECHO_CLIENT_STREAM);
	if (!ec)
		return fail_stateless(call);
	Regatta__Test__V1__EchoRequest *req = decode_stream_echo(msg, len);
	if (!req)
		return done(ec, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode EchoRequest");
	int status = GRPC_STATUS_OK;
	const char *why = NULL;
	if (req->fail_code) {
		status = (int)req->fail_code;
		why = req->fail_message;
	} else if (net_buf_size(&ec->buf) + req->payload.len > LIMIT_MESSAGE_BYTES) {
		status = GRPC_STATUS_RESOURCE_EXHAUSTED;
		why = "concatenation over the message limit";
	} else if (req->payload.len &&
		   net_buf_append(&ec->buf, req->payload.data, req->payload.len)) {
		status = GRPC_STATUS_RESOURCE_EXHAUSTED;
		why = "out of memory";
	}
	ec->nreq++;
	ec->total_bytes += req->payload.len;
	if (status != GRPC_STATUS_OK)
		done(ec, status, why); /* copies why before the request is freed */
	regatta__test__v1__echo_request__free_unpacked(req, NULL);
}

static void cs_on_half_close(struct grpc_call *call)
{
	struct echo_call *ec = state_of(call, ECHO_CLIENT_STREAM);
	if (!ec)
		return fail_stateless(call);
	Regatta__Test__V1__EchoResponse resp = REGATTA__TEST__V1__ECHO_RESPONSE__INIT;
	resp.payload.data = net_buf_head(&ec->buf);
	resp.payload.len = net_buf_size(&ec->buf);
	resp.sequence = ec->nreq;
	resp.received_bytes = ec->total_bytes;
	size_t n = regatta__test__v1__echo_response__get_packed_size(&resp);
	int err = 0;
	uint8_t *out = grpc_call_send_reserve(call, n, &err);
	if (!out)
		return send_error(ec, err);
	ASSERT(regatta__test__v1__echo_response__pack(&resp, out) == n);
	err = grpc_call_send_commit(call);
	if (err)
		return send_error(ec, err);
	done(ec, GRPC_STATUS_OK, NULL);
}

/* ---- BidiStream ----------------------------------------------------------------------------- */

/* Send queued answers; returns 0 when the queue is empty, ERR_AGAIN when it must wait. */
static int bidi_drain(struct echo_call *ec)
{
	while (net_buf_size(&ec->buf) > 0) {
		ASSERT(net_buf_size(&ec->buf) >= 4);
		const uint8_t *p = net_buf_head(&ec->buf);
		uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			     (uint32_t)p[3] << 24;
		ASSERT(net_buf_size(&ec->buf) >= 4u + n);
		int err = grpc_call_send_msg(ec->call, p + 4, n);
		if (err)
			return err;
		net_buf_consume(&ec->buf, 4u + n);
	}
	return 0;
}

static int bidi_queue(struct echo_call *ec, const Regatta__Test__V1__EchoRequest *req)
{
	Regatta__Test__V1__EchoResponse resp = REGATTA__TEST__V1__ECHO_RESPONSE__INIT;
	if (req->response_bytes)
		return ERR_INVAL; /* big answers only on Unary/ServerStream (keeps the queue small) */
	resp.payload = req->payload;
	resp.sequence = ec->seq;
	resp.received_bytes = req->payload.len;
	size_t n = regatta__test__v1__echo_response__get_packed_size(&resp);
	if (net_buf_size(&ec->buf) + n + 4 > ECHO_BIDI_PENDING_MAX_BYTES)
		return ERR_TOOBIG;
	uint8_t *p = net_buf_reserve(&ec->buf, n + 4);
	if (!p)
		return ERR_NOMEM;
	p[0] = (uint8_t)n;
	p[1] = (uint8_t)(n >> 8);
	p[2] = (uint8_t)(n >> 16);
	p[3] = (uint8_t)(n >> 24);
	ASSERT(regatta__test__v1__echo_response__pack(&resp, p + 4) == n);
	net_buf_commit(&ec->buf, n + 4);
	return 0;
}

static int bidi_answer(struct echo_call *ec, const Regatta__Test__V1__EchoRequest *req);

static void bidi_on_message(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct echo_call *ec = state_of(call, ECHO_BIDI);
	if (!ec)
		return fail_stateless(call);
	Regatta__Test__V1__EchoRequest *req = decode_stream_echo(msg, len);
	if (!req)
		return done(ec, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode EchoRequest");
	int err = bidi_answer(ec, req);
	regatta__test__v1__echo_request__free_unpacked(req, NULL);
	if (err == ERR_CANCELED)
		return; /* done() already ran */
	if (err == ERR_INVAL)
		return done(ec, GRPC_STATUS_INVALID_ARGUMENT, "response_bytes is for Unary/ServerStream");
	if (err)
		return send_error(ec, err);
	ec->seq++;
}

/* Answer one bidi request (send now, or queue behind earlier answers). ERR_CANCELED means the
 * request asked to fail and the call was finished here. */
static int bidi_answer(struct echo_call *ec, const Regatta__Test__V1__EchoRequest *req)
{
	if (req->fail_code) {
		done(ec, (int)req->fail_code, req->fail_message);
		return ERR_CANCELED;
	}
	int err;
	if (net_buf_size(&ec->buf) == 0 && !req->response_bytes) {
		err = send_answer(ec, req, ec->seq);
		if (err == ERR_AGAIN)
			err = bidi_queue(ec, req);
	} else if (req->response_bytes) {
		err = ERR_INVAL;
	} else {
		err = bidi_queue(ec, req);
	}
	return err;
}

static void bidi_on_writable(struct grpc_call *call)
{
	struct echo_call *ec = grpc_call_user(call);
	ASSERT(ec != NULL && ec->kind == ECHO_BIDI);
	if (ec->canceled)
		return;
	int err = bidi_drain(ec);
	if (err == ERR_AGAIN)
		return;
	if (err)
		return send_error(ec, err);
	if (ec->half_closed)
		done(ec, GRPC_STATUS_OK, NULL);
}

static void bidi_on_half_close(struct grpc_call *call)
{
	struct echo_call *ec = state_of(call, ECHO_BIDI);
	if (!ec)
		return fail_stateless(call);
	ec->half_closed = 1;
	int err = bidi_drain(ec);
	if (err == ERR_AGAIN)
		return;
	if (err)
		return send_error(ec, err);
	done(ec, GRPC_STATUS_OK, NULL);
}

/* ---- Sleep ---------------------------------------------------------------------------------- */

static void sleep_timer_done(struct io_op *op)
{
	struct echo_call *ec = op->ctx;
	ASSERT(ec->timer_armed);
	ec->timer_armed = 0;
	if (ec->canceled || op->result < 0)
		return done(ec, GRPC_STATUS_CANCELLED, NULL);
	Regatta__Test__V1__SleepResponse resp = REGATTA__TEST__V1__SLEEP_RESPONSE__INIT;
	uint64_t now = reactor_now_ns(ec->core->r);
	resp.slept_ms = (uint32_t)((now - ec->started_ns) / 1000000u);
	uint8_t out[16];
	size_t n = regatta__test__v1__sleep_response__pack(&resp, out);
	ASSERT(n <= sizeof out);
	int err = grpc_call_send_msg(ec->call, out, n);
	if (err)
		return send_error(ec, err);
	done(ec, GRPC_STATUS_OK, NULL);
}

static void sleep_on_message(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct echo_call *ec = state_of(call, ECHO_SLEEP);
	if (!ec)
		return fail_stateless(call);
	ProtobufCAllocator a = call_allocator(call);
	Regatta__Test__V1__SleepRequest *req = regatta__test__v1__sleep_request__unpack(&a, len, msg);
	if (!req)
		return done(ec, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode SleepRequest");
	ec->started_ns = reactor_now_ns(ec->core->r);
	ec->timer.cb = sleep_timer_done;
	ec->timer.ctx = ec;
	ec->timer_armed = 1;
	reactor_timeout(ec->core->r, &ec->timer, (uint64_t)req->sleep_ms * 1000000u);
}

/* ---- per core ------------------------------------------------------------------------------- */

void echo_core_init(struct echo_core *ec, struct reactor *r)
{
	ASSERT(ec != NULL && r != NULL);
	memset(ec, 0, sizeof *ec);
	ec->r = r;
}

/* ---- registration --------------------------------------------------------------------------- */

int echo_service_register(struct grpc_server *s, struct echo_core *core)
{
	ASSERT(s != NULL && core != NULL && core->r != NULL);
	const struct grpc_method methods[] = {
		{.path = "/regatta.test.v1.Echo/Unary", .kind = GRPC_METHOD_UNARY,
		 .on_message = unary_on_message, .on_cancel = any_on_cancel},
		{.path = "/regatta.test.v1.Echo/ServerStream", .kind = GRPC_METHOD_SERVER_STREAMING,
		 .on_message = ss_on_message, .on_cancel = any_on_cancel,
		 .on_writable = ss_on_writable},
		{.path = "/regatta.test.v1.Echo/ClientStream", .kind = GRPC_METHOD_CLIENT_STREAMING,
		 .on_message = cs_on_message, .on_half_close = cs_on_half_close,
		 .on_cancel = any_on_cancel},
		{.path = "/regatta.test.v1.Echo/BidiStream", .kind = GRPC_METHOD_BIDI,
		 .on_message = bidi_on_message, .on_half_close = bidi_on_half_close,
		 .on_cancel = any_on_cancel, .on_writable = bidi_on_writable},
		{.path = "/regatta.test.v1.Echo/Sleep", .kind = GRPC_METHOD_UNARY,
		 .on_message = sleep_on_message, .on_cancel = any_on_cancel},
	};
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
		struct grpc_method m = methods[i];
		m.ctx = core;
		int err = grpc_server_register(s, &m);
		if (err) {
			LOG_ERROR("echo: register %s: %s", m.path, err_str(err));
			return err;
		}
	}
	return 0;
}
