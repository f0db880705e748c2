/*
 * grpc_test_client.c — calls a regatta.test.v1.Echo + grpc.health.v1.Health server with our
 * gRPC client (net/transport.h + net/grpc_client.h) in every way the interop tests need, and
 * checks every answer itself.
 *
 * usage: grpc_test_client --target HOST:PORT [--tls-ca F [--cert F --key F]]
 *                         [--compression identity|gzip|deflate|snappy] [--max-recv BYTES]
 *                         CASE...
 * Cases: unary unary_big error_status server_stream client_stream bidi concurrent cancel
 *        deadline oversize unknown health_check health_watch expect_unavailable seedcalls
 * (see the table at the bottom). Each prints "PASS <case>" or "FAIL <case>: <why>"; the exit
 * code is 0 only if every case passed. health_watch prints "watch status=<n>" for each Watch
 * message so a test can flip the server's health (SIGUSR1) in between.
 *
 * One reactor on the calling thread (backend from REGATTA_IO_BACKEND) and one connection,
 * reopened if a case ended it. Bounded: every call has a deadline and every wait a timeout.
 */
#include "core/assert.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/reactor.h"
#include "net/grpc_client.h"
#include "net/tls.h"
#include "net/transport.h"
#include "proto/grpc/health/v1/health.pb-c.h"
#include "proto/test/v1/echo.pb-c.h"

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1u << 20)
#define CALL_TIMEOUT_NS (10ull * 1000000000ull) /* every call's deadline unless a case says */
#define WAIT_SLACK_NS (5ull * 1000000000ull)    /* a wait gives up this long after the deadline */
#define REASON_MAX 512

static const char *ECHO_UNARY = "/regatta.test.v1.Echo/Unary";
static const char *ECHO_SSTREAM = "/regatta.test.v1.Echo/ServerStream";
static const char *ECHO_CSTREAM = "/regatta.test.v1.Echo/ClientStream";
static const char *ECHO_BIDI = "/regatta.test.v1.Echo/BidiStream";
static const char *ECHO_SLEEP = "/regatta.test.v1.Echo/Sleep";
static const char *HEALTH_CHECK = "/grpc.health.v1.Health/Check";
static const char *HEALTH_WATCH = "/grpc.health.v1.Health/Watch";

struct options {
	const char *target;
	const char *tls_ca;
	const char *cert;
	const char *key;
	enum grpc_encoding encoding;
	size_t max_recv;
};

static struct options opt;
static struct reactor *g_r;
static struct tls_ctx *g_tls;
static struct transport_client *g_tc;
static int g_closed;
static char g_reason[REASON_MAX];

/* Record why a case failed and return -1 (first reason wins). */
static int failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int failf(const char *fmt, ...)
{
	if (g_reason[0] == '\0') {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(g_reason, sizeof g_reason, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* protobuf-c's message structs hold non-const pointers even for data we only send. */
static void *unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

#define CHECK(cond, ...)                      \
	do {                                  \
		if (!(cond))                  \
			return failf(__VA_ARGS__); \
	} while (0)

/* ---- connection ---------------------------------------------------------------------------- */

static void on_closed(struct transport_client *c, int err, void *ctx)
{
	(void)c;
	(void)ctx;
	g_closed = err ? err : ERR_CLOSED;
}

static int conn_open(void)
{
	ASSERT(g_tc == NULL);
	struct transport_client_config cfg = {.addr = opt.target, .tls = g_tls,
					      .on_closed = on_closed};
	cfg.grpc.authority = opt.target;
	cfg.grpc.max_recv_msg_bytes = opt.max_recv;
	cfg.grpc.max_send_msg_bytes = 64u * MIB; /* oversize tests reach the server's limit */
	g_closed = 0;
	return transport_client_connect(g_r, &cfg, &g_tc);
}

static void conn_close(void)
{
	if (g_tc)
		transport_client_free(g_tc);
	g_tc = NULL;
}

/* A live connection for the next case (reopened when the last one ended). */
static int conn_ensure(void)
{
	if (g_tc && !g_closed && grpc_client_conn_usable(transport_client_grpc(g_tc)))
		return 0;
	conn_close();
	return conn_open();
}

/* ---- calls --------------------------------------------------------------------------------- */

struct tcall;
typedef void (*tcall_msg_fn)(struct tcall *t, const uint8_t *msg, size_t len);

struct tcall {
	struct grpc_client_call *call;
	int started;
	int done;
	int status;
	char message[REASON_MAX];
	uint64_t nmsg;
	uint8_t *last; /* copy of the last message */
	size_t last_len;
	tcall_msg_fn on_msg; /* optional per-message hook */
	char fail[REASON_MAX]; /* a hook's check failure */
	uint64_t counter;
	void *user;
};

static void tcall_reset(struct tcall *t)
{
	free(t->last);
	memset(t, 0, sizeof *t);
}

static void tc_on_message(struct grpc_client_call *call, const uint8_t *msg, size_t len, void *ctx)
{
	(void)call;
	struct tcall *t = ctx;
	t->nmsg++;
	free(t->last);
	t->last = malloc(len ? len : 1);
	ASSERT(t->last != NULL);
	memcpy(t->last, msg, len);
	t->last_len = len;
	if (t->on_msg)
		t->on_msg(t, msg, len);
}

static void tc_on_done(struct grpc_client_call *call, int status, const char *message, void *ctx)
{
	(void)call;
	struct tcall *t = ctx;
	ASSERT(!t->done);
	t->done = 1;
	t->status = status;
	snprintf(t->message, sizeof t->message, "%s", message ? message : "");
	t->call = NULL;
}

static const struct grpc_client_call_ops tc_ops = {.on_message = tc_on_message,
						   .on_done = tc_on_done};

static int tcall_start(struct tcall *t, const char *path, uint64_t timeout_ns)
{
	struct grpc_client_call_opts o = {.timeout_ns = timeout_ns, .encoding = opt.encoding};
	int err = grpc_client_call_start(transport_client_grpc(g_tc), path, &o, &tc_ops, t, &t->call);
	if (err)
		return failf("start %s: %s", path, err_str(err));
	t->started = 1;
	return 0;
}

/* Run the reactor until every started call is done (bounded). */
static int wait_calls(struct tcall *ts, size_t n, uint64_t timeout_ns)
{
	uint64_t end = clock_mono_ns() + timeout_ns;
	for (;;) {
		size_t open = 0;
		for (size_t i = 0; i < n; i++)
			open += ts[i].started && !ts[i].done;
		if (open == 0)
			return 0;
		if (clock_mono_ns() > end)
			return failf("%zu call(s) not done in time", open);
		int err = reactor_run_once(g_r, 10 * 1000000ull);
		if (err)
			return failf("reactor: %s", err_str(err));
	}
}

static int wait_one(struct tcall *t, uint64_t timeout_ns)
{
	return wait_calls(t, 1, timeout_ns);
}

/* Run the reactor until cond(t) or timeout. */
static int wait_until(int (*cond)(struct tcall *), struct tcall *t, uint64_t timeout_ns)
{
	uint64_t end = clock_mono_ns() + timeout_ns;
	while (!cond(t)) {
		if (clock_mono_ns() > end)
			return failf("condition not met in time");
		int err = reactor_run_once(g_r, 10 * 1000000ull);
		if (err)
			return failf("reactor: %s", err_str(err));
	}
	return 0;
}

static int send_raw(struct tcall *t, const uint8_t *msg, size_t len)
{
	for (int tries = 0; tries < 1000; tries++) {
		int err = grpc_client_call_send_msg(t->call, msg, len);
		if (err != ERR_AGAIN)
			return err ? failf("send: %s", err_str(err)) : 0;
		/* Queue full: let the connection drain (bounded). */
		err = reactor_run_once(g_r, 10 * 1000000ull);
		if (err)
			return failf("reactor: %s", err_str(err));
		if (t->done)
			return failf("call ended while sending: %d %s", t->status, t->message);
	}
	return failf("send queue never drained");
}

static int send_echo(struct tcall *t, const uint8_t *payload, size_t len, uint32_t response_bytes,
		     uint32_t fail_code, const char *fail_message)
{
	Regatta__Test__V1__EchoRequest req;
	regatta__test__v1__echo_request__init(&req);
	req.payload.data = unconst(payload);
	req.payload.len = len;
	req.response_bytes = response_bytes;
	req.fail_code = fail_code;
	req.fail_message = unconst(fail_message ? fail_message : "");
	size_t n = regatta__test__v1__echo_request__get_packed_size(&req);
	uint8_t *buf = malloc(n ? n : 1);
	ASSERT(buf != NULL);
	ASSERT(regatta__test__v1__echo_request__pack(&req, buf) == n);
	int rc = send_raw(t, buf, n);
	free(buf);
	return rc;
}

static int close_send(struct tcall *t)
{
	int err = grpc_client_call_close_send(t->call);
	return err ? failf("close_send: %s", err_str(err)) : 0;
}

/* Unary Echo call; t holds the result. */
static int echo_unary(struct tcall *t, const uint8_t *payload, size_t len, uint32_t response_bytes,
		      uint32_t fail_code, const char *fail_message, uint64_t timeout_ns)
{
	if (tcall_start(t, ECHO_UNARY, timeout_ns) || send_echo(t, payload, len, response_bytes,
								 fail_code, fail_message) ||
	    close_send(t))
		return -1;
	return wait_one(t, timeout_ns + WAIT_SLACK_NS);
}

static Regatta__Test__V1__EchoResponse *decode_resp(const uint8_t *m, size_t n)
{
	return regatta__test__v1__echo_response__unpack(NULL, n, m);
}

/* Check the last message of an OK call: payload, sequence, received_bytes. */
static int expect_echo(struct tcall *t, const uint8_t *want, size_t want_len, uint64_t seq,
		       uint64_t received)
{
	CHECK(t->status == GRPC_STATUS_OK, "status %d (%s), want OK", t->status, t->message);
	CHECK(t->nmsg == 1, "%lu messages, want 1", (unsigned long)t->nmsg);
	Regatta__Test__V1__EchoResponse *r = decode_resp(t->last, t->last_len);
	CHECK(r != NULL, "cannot decode EchoResponse");
	int ok = r->payload.len == want_len && (want_len == 0 || memcmp(r->payload.data, want,
									 want_len) == 0) &&
		 r->sequence == seq && r->received_bytes == received;
	size_t got_len = r->payload.len;
	uint64_t got_seq = r->sequence, got_recv = r->received_bytes;
	regatta__test__v1__echo_response__free_unpacked(r, NULL);
	CHECK(ok, "answer: payload %zu bytes (want %zu), sequence %lu (want %lu), received %lu "
		  "(want %lu)", got_len, want_len, (unsigned long)got_seq, (unsigned long)seq,
	      (unsigned long)got_recv, (unsigned long)received);
	return 0;
}

static int expect_status(struct tcall *t, int status)
{
	CHECK(t->done, "call not done");
	CHECK(t->status == status, "status %d %s (%s), want %d %s", t->status,
	      grpc_status_name(t->status), t->message, status, grpc_status_name(status));
	return 0;
}

static uint8_t *pattern(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	ASSERT(p != NULL);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i % 251u);
	return p;
}

/* ---- cases ----------------------------------------------------------------------------------- */

static int case_unary(void)
{
	struct tcall t = {0};
	int rc = echo_unary(&t, (const uint8_t *)"hello", 5, 0, 0, NULL, CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_echo(&t, (const uint8_t *)"hello", 5, 0, 5);
	tcall_reset(&t);
	if (rc)
		return rc;
	rc = echo_unary(&t, NULL, 0, 0, 0, NULL, CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_echo(&t, NULL, 0, 0, 0);
	tcall_reset(&t);
	return rc;
}

static int case_unary_big(void)
{
	static const uint32_t sizes[] = {16383, 16384, 65537, 3 * MIB};
	int rc = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0] && rc == 0; i++) {
		struct tcall t = {0};
		uint8_t *want = pattern(sizes[i]);
		rc = echo_unary(&t, (const uint8_t *)"x", 1, sizes[i], 0, NULL, CALL_TIMEOUT_NS);
		rc = rc ? rc : expect_echo(&t, want, sizes[i], 0, 1);
		free(want);
		tcall_reset(&t);
	}
	if (rc)
		return rc;
	size_t n = 2 * MIB;
	uint8_t *big = malloc(n);
	ASSERT(big != NULL);
	for (size_t i = 0; i < n; i++)
		big[i] = (uint8_t)((i * 2654435761u) >> 13);
	struct tcall t = {0};
	rc = echo_unary(&t, big, n, 0, 0, NULL, CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_echo(&t, big, n, 0, n);
	tcall_reset(&t);
	free(big);
	return rc;
}

static int case_error_status(void)
{
	static const char msg[] = "not here: 100% sure \xe2\x9c\x93\nline2";
	struct tcall t = {0};
	int rc = echo_unary(&t, NULL, 0, 0, GRPC_STATUS_NOT_FOUND, msg, CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_NOT_FOUND);
	if (rc == 0 && strcmp(t.message, msg) != 0)
		rc = failf("grpc-message round trip: got \"%s\"", t.message);
	tcall_reset(&t);
	if (rc)
		return rc;
	rc = echo_unary(&t, NULL, 0, 0, GRPC_STATUS_FAILED_PRECONDITION, "", CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_FAILED_PRECONDITION);
	tcall_reset(&t);
	return rc;
}

/* ServerStream hook: every message has sequence == index and the expected payload. */
struct ss_expect {
	const uint8_t *payload;
	size_t len;
};

static void ss_check(struct tcall *t, const uint8_t *m, size_t n)
{
	struct ss_expect *e = t->user;
	Regatta__Test__V1__EchoResponse *r = decode_resp(m, n);
	if (!r) {
		snprintf(t->fail, sizeof t->fail, "message %lu: cannot decode", (unsigned long)t->nmsg);
		return;
	}
	if (r->sequence != t->nmsg - 1 || r->payload.len != e->len ||
	    (e->len && memcmp(r->payload.data, e->payload, e->len) != 0))
		if (!t->fail[0])
			snprintf(t->fail, sizeof t->fail, "message %lu: sequence %lu, %zu bytes",
				 (unsigned long)t->nmsg, (unsigned long)r->sequence, r->payload.len);
	regatta__test__v1__echo_response__free_unpacked(r, NULL);
}

static int server_stream(struct tcall *t, uint32_t count, const uint8_t *payload, size_t len,
			 uint32_t response_bytes, uint32_t interval_ms, uint64_t timeout_ns)
{
	Regatta__Test__V1__EchoRequest er;
	regatta__test__v1__echo_request__init(&er);
	er.payload.data = unconst(payload);
	er.payload.len = len;
	er.response_bytes = response_bytes;
	Regatta__Test__V1__ServerStreamRequest req = REGATTA__TEST__V1__SERVER_STREAM_REQUEST__INIT;
	req.count = count;
	req.request = &er;
	req.interval_ms = interval_ms;
	uint8_t buf[4096];
	ASSERT(regatta__test__v1__server_stream_request__get_packed_size(&req) <= sizeof buf);
	size_t n = regatta__test__v1__server_stream_request__pack(&req, buf);
	if (tcall_start(t, ECHO_SSTREAM, timeout_ns) || send_raw(t, buf, n) || close_send(t))
		return -1;
	return wait_one(t, timeout_ns + WAIT_SLACK_NS);
}

static int case_server_stream(void)
{
	uint8_t p100[100];
	memset(p100, 's', sizeof p100);
	struct ss_expect e = {p100, sizeof p100};
	struct tcall t = {.on_msg = ss_check, .user = &e};
	int rc = server_stream(&t, 200, p100, sizeof p100, 0, 0, CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_OK);
	if (rc == 0 && (t.nmsg != 200 || t.fail[0]))
		rc = failf("%lu messages, want 200; %s", (unsigned long)t.nmsg, t.fail);
	tcall_reset(&t);
	if (rc)
		return rc;
	t.on_msg = ss_check;
	t.user = &e;
	rc = server_stream(&t, 0, NULL, 0, 0, 0, CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_OK);
	if (rc == 0 && t.nmsg != 0)
		rc = failf("empty stream gave %lu messages", (unsigned long)t.nmsg);
	tcall_reset(&t);
	if (rc)
		return rc;
	uint8_t *big = pattern(MIB);
	struct ss_expect eb = {big, MIB};
	t.on_msg = ss_check;
	t.user = &eb;
	rc = server_stream(&t, 8, (const uint8_t *)"x", 1, MIB, 0, CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_OK);
	if (rc == 0 && (t.nmsg != 8 || t.fail[0]))
		rc = failf("%lu big messages, want 8; %s", (unsigned long)t.nmsg, t.fail);
	tcall_reset(&t);
	free(big);
	return rc;
}

static int case_client_stream(void)
{
	struct tcall t = {0};
	size_t total = 0;
	uint8_t *all = malloc(60 * 60 * 37);
	ASSERT(all != NULL);
	int rc = tcall_start(&t, ECHO_CSTREAM, CALL_TIMEOUT_NS);
	for (int i = 0; i < 60 && rc == 0; i++) {
		size_t n = (size_t)i * 37;
		memset(all + total, i, n);
		rc = send_echo(&t, all + total, n, 0, 0, NULL);
		total += n;
	}
	rc = rc ? rc : close_send(&t);
	rc = rc ? rc : wait_one(&t, CALL_TIMEOUT_NS + WAIT_SLACK_NS);
	rc = rc ? rc : expect_echo(&t, all, total, 60, total);
	tcall_reset(&t);
	free(all);
	if (rc)
		return rc;
	rc = tcall_start(&t, ECHO_CSTREAM, CALL_TIMEOUT_NS);
	rc = rc ? rc : close_send(&t);
	rc = rc ? rc : wait_one(&t, CALL_TIMEOUT_NS + WAIT_SLACK_NS);
	rc = rc ? rc : expect_echo(&t, NULL, 0, 0, 0);
	tcall_reset(&t);
	if (rc)
		return rc;
	rc = tcall_start(&t, ECHO_CSTREAM, CALL_TIMEOUT_NS);
	rc = rc ? rc : send_echo(&t, (const uint8_t *)"a", 1, 0, 0, NULL);
	rc = rc ? rc : send_echo(&t, NULL, 0, 0, GRPC_STATUS_ABORTED, "stop");
	rc = rc ? rc : wait_one(&t, CALL_TIMEOUT_NS + WAIT_SLACK_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_ABORTED);
	tcall_reset(&t);
	return rc;
}

/* Bidi ping-pong: the next request goes out only when the previous answer arrived. */
#define PINGPONG_N 100
static void pingpong_on_msg(struct tcall *t, const uint8_t *m, size_t n)
{
	char want[32];
	int wl = snprintf(want, sizeof want, "p%lu", (unsigned long)(t->nmsg - 1));
	Regatta__Test__V1__EchoResponse *r = decode_resp(m, n);
	if (!r || r->payload.len != (size_t)wl || memcmp(r->payload.data, want, (size_t)wl) != 0 ||
	    r->sequence != t->nmsg - 1) {
		if (!t->fail[0])
			snprintf(t->fail, sizeof t->fail, "answer %lu wrong", (unsigned long)t->nmsg);
	}
	if (r)
		regatta__test__v1__echo_response__free_unpacked(r, NULL);
	if (t->nmsg == PINGPONG_N) {
		if (grpc_client_call_close_send(t->call) && !t->fail[0])
			snprintf(t->fail, sizeof t->fail, "close_send failed");
		return;
	}
	int l = snprintf(want, sizeof want, "p%lu", (unsigned long)t->nmsg);
	Regatta__Test__V1__EchoRequest req;
	regatta__test__v1__echo_request__init(&req);
	req.payload.data = (uint8_t *)want;
	req.payload.len = (size_t)l;
	uint8_t buf[64];
	size_t bl = regatta__test__v1__echo_request__pack(&req, buf);
	if (grpc_client_call_send_msg(t->call, buf, bl) && !t->fail[0])
		snprintf(t->fail, sizeof t->fail, "send %lu failed", (unsigned long)t->nmsg);
}

static void seq_check(struct tcall *t, const uint8_t *m, size_t n)
{
	char want[32];
	int wl = snprintf(want, sizeof want, "%lu", (unsigned long)(t->nmsg - 1));
	Regatta__Test__V1__EchoResponse *r = decode_resp(m, n);
	if (!r || r->payload.len != (size_t)wl || memcmp(r->payload.data, want, (size_t)wl) != 0 ||
	    r->sequence != t->nmsg - 1)
		if (!t->fail[0])
			snprintf(t->fail, sizeof t->fail, "answer %lu wrong", (unsigned long)t->nmsg);
	if (r)
		regatta__test__v1__echo_response__free_unpacked(r, NULL);
}

static int case_bidi(void)
{
	struct tcall t = {.on_msg = pingpong_on_msg};
	int rc = tcall_start(&t, ECHO_BIDI, CALL_TIMEOUT_NS);
	rc = rc ? rc : send_echo(&t, (const uint8_t *)"p0", 2, 0, 0, NULL);
	rc = rc ? rc : wait_one(&t, CALL_TIMEOUT_NS + WAIT_SLACK_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_OK);
	if (rc == 0 && (t.nmsg != PINGPONG_N || t.fail[0]))
		rc = failf("ping-pong: %lu answers; %s", (unsigned long)t.nmsg, t.fail);
	tcall_reset(&t);
	if (rc)
		return rc;
	t.on_msg = seq_check;
	rc = tcall_start(&t, ECHO_BIDI, CALL_TIMEOUT_NS);
	for (int i = 0; i < 500 && rc == 0; i++) {
		char p[16];
		int l = snprintf(p, sizeof p, "%d", i);
		rc = send_echo(&t, (const uint8_t *)p, (size_t)l, 0, 0, NULL);
	}
	rc = rc ? rc : close_send(&t);
	rc = rc ? rc : wait_one(&t, CALL_TIMEOUT_NS + WAIT_SLACK_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_OK);
	if (rc == 0 && (t.nmsg != 500 || t.fail[0]))
		rc = failf("pipelined: %lu answers; %s", (unsigned long)t.nmsg, t.fail);
	tcall_reset(&t);
	if (rc)
		return rc;
	rc = tcall_start(&t, ECHO_BIDI, CALL_TIMEOUT_NS);
	rc = rc ? rc : send_echo(&t, (const uint8_t *)"a", 1, 0, 0, NULL);
	rc = rc ? rc : send_echo(&t, NULL, 0, 0, GRPC_STATUS_PERMISSION_DENIED, "no");
	rc = rc ? rc : wait_one(&t, CALL_TIMEOUT_NS + WAIT_SLACK_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_PERMISSION_DENIED);
	tcall_reset(&t);
	return rc;
}

static int case_concurrent(void)
{
	enum { N = 300 };
	struct tcall *ts = calloc(N, sizeof *ts);
	ASSERT(ts != NULL);
	int rc = 0;
	for (int i = 0; i < N && rc == 0; i++) {
		char p[16];
		int l = snprintf(p, sizeof p, "c%d", i);
		rc = tcall_start(&ts[i], ECHO_UNARY, CALL_TIMEOUT_NS);
		rc = rc ? rc : send_echo(&ts[i], (const uint8_t *)p, (size_t)l, 0, 0, NULL);
		rc = rc ? rc : close_send(&ts[i]);
	}
	rc = rc ? rc : wait_calls(ts, N, CALL_TIMEOUT_NS + WAIT_SLACK_NS);
	for (int i = 0; i < N && rc == 0; i++) {
		char p[16];
		int l = snprintf(p, sizeof p, "c%d", i);
		rc = expect_echo(&ts[i], (const uint8_t *)p, (size_t)l, 0, (uint64_t)l);
	}
	for (int i = 0; i < N; i++) {
		if (ts[i].call)
			grpc_client_call_cancel(ts[i].call);
	}
	(void)wait_calls(ts, N, WAIT_SLACK_NS);
	for (int i = 0; i < N; i++)
		tcall_reset(&ts[i]);
	free(ts);
	return rc;
}

static void cancel_after_10(struct tcall *t, const uint8_t *m, size_t n)
{
	(void)m;
	(void)n;
	if (t->nmsg == 10)
		grpc_client_call_cancel(t->call);
}

static int case_cancel(void)
{
	uint8_t p[1000];
	memset(p, 'z', sizeof p);
	struct tcall t = {.on_msg = cancel_after_10};
	int rc = server_stream(&t, 1000000, p, sizeof p, 0, 0, CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_CANCELLED);
	if (rc == 0 && t.nmsg < 10)
		rc = failf("only %lu messages before the cancel", (unsigned long)t.nmsg);
	tcall_reset(&t);
	return rc ? rc : case_unary(); /* the connection still serves */
}

static int sleep_call(struct tcall *t, uint32_t ms, uint64_t timeout_ns)
{
	Regatta__Test__V1__SleepRequest req = REGATTA__TEST__V1__SLEEP_REQUEST__INIT;
	req.sleep_ms = ms;
	uint8_t buf[16];
	size_t n = regatta__test__v1__sleep_request__pack(&req, buf);
	if (tcall_start(t, ECHO_SLEEP, timeout_ns) || send_raw(t, buf, n) || close_send(t))
		return -1;
	return wait_one(t, timeout_ns + WAIT_SLACK_NS);
}

static int case_deadline(void)
{
	struct tcall t = {0};
	uint64_t t0 = clock_mono_ns();
	int rc = sleep_call(&t, 3000, 300 * 1000000ull);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_DEADLINE_EXCEEDED);
	if (rc == 0 && clock_mono_ns() - t0 > 2500 * 1000000ull)
		rc = failf("deadline fired only after the sleep ended");
	tcall_reset(&t);
	if (rc)
		return rc;
	rc = sleep_call(&t, 50, CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_OK);
	if (rc == 0) {
		Regatta__Test__V1__SleepResponse *r =
			regatta__test__v1__sleep_response__unpack(NULL, t.last_len, t.last);
		if (!r || r->slept_ms < 40)
			rc = failf("Sleep(50) answered %s", r ? "too early" : "garbage");
		if (r)
			regatta__test__v1__sleep_response__free_unpacked(r, NULL);
	}
	tcall_reset(&t);
	if (rc)
		return rc;
	rc = server_stream(&t, 100, (const uint8_t *)"d", 1, 0, 100, 500 * 1000000ull);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_DEADLINE_EXCEEDED);
	if (rc == 0 && (t.nmsg == 0 || t.nmsg >= 100))
		rc = failf("%lu stream messages before the deadline", (unsigned long)t.nmsg);
	tcall_reset(&t);
	return rc;
}

static int case_oversize(void)
{
	size_t n = 5 * MIB;
	uint8_t *big = calloc(1, n);
	ASSERT(big != NULL);
	struct tcall t = {0};
	int rc = echo_unary(&t, big, n, 0, 0, NULL, CALL_TIMEOUT_NS);
	free(big);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_RESOURCE_EXHAUSTED);
	tcall_reset(&t);
	if (rc)
		return rc;
	if (conn_ensure())
		return failf("reconnect failed");
	rc = echo_unary(&t, NULL, 0, 5 * MIB, 0, NULL, CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_RESOURCE_EXHAUSTED);
	tcall_reset(&t);
	if (rc)
		return rc;
	if (conn_ensure())
		return failf("reconnect failed");
	return case_unary();
}

static int case_unknown(void)
{
	static const char *paths[] = {"/regatta.test.v1.Echo/Nope", "/no.such.Service/Unary"};
	for (size_t i = 0; i < 2; i++) {
		struct tcall t = {0};
		int rc = tcall_start(&t, paths[i], CALL_TIMEOUT_NS);
		rc = rc ? rc : send_raw(&t, (const uint8_t *)"", 0);
		rc = rc ? rc : close_send(&t);
		rc = rc ? rc : wait_one(&t, CALL_TIMEOUT_NS + WAIT_SLACK_NS);
		rc = rc ? rc : expect_status(&t, GRPC_STATUS_UNIMPLEMENTED);
		tcall_reset(&t);
		if (rc)
			return failf("%s: %s", paths[i], g_reason);
	}
	return 0;
}

static int health_call(struct tcall *t, const char *path, const char *service, uint64_t timeout_ns,
		       int wait)
{
	Grpc__Health__V1__HealthCheckRequest req;
	grpc__health__v1__health_check_request__init(&req);
	req.service = unconst(service);
	uint8_t buf[256];
	ASSERT(grpc__health__v1__health_check_request__get_packed_size(&req) <= sizeof buf);
	size_t n = grpc__health__v1__health_check_request__pack(&req, buf);
	if (tcall_start(t, path, timeout_ns) || send_raw(t, buf, n) || close_send(t))
		return -1;
	return wait ? wait_one(t, timeout_ns + WAIT_SLACK_NS) : 0;
}

static int health_status_of(const uint8_t *m, size_t n)
{
	Grpc__Health__V1__HealthCheckResponse *r =
		grpc__health__v1__health_check_response__unpack(NULL, n, m);
	if (!r)
		return -1;
	int s = (int)r->status;
	grpc__health__v1__health_check_response__free_unpacked(r, NULL);
	return s;
}

static int case_health_check(void)
{
	static const char *known[] = {"", "regatta.test.v1.Echo"};
	for (size_t i = 0; i < 2; i++) {
		struct tcall t = {0};
		int rc = health_call(&t, HEALTH_CHECK, known[i], CALL_TIMEOUT_NS, 1);
		rc = rc ? rc : expect_status(&t, GRPC_STATUS_OK);
		if (rc == 0 && health_status_of(t.last, t.last_len) != 1)
			rc = failf("Check(\"%s\") is not SERVING", known[i]);
		tcall_reset(&t);
		if (rc)
			return rc;
	}
	struct tcall t = {0};
	int rc = health_call(&t, HEALTH_CHECK, "no.such.Service", CALL_TIMEOUT_NS, 1);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_NOT_FOUND);
	tcall_reset(&t);
	return rc;
}

static int has_n_msgs(struct tcall *t)
{
	return t->done || t->nmsg >= t->counter;
}

static int case_health_watch(void)
{
	/* Expect SERVING, NOT_SERVING, SERVING: the test flips the server between our lines. */
	static const int want[] = {1, 2, 1};
	struct tcall t = {0};
	int rc = health_call(&t, HEALTH_WATCH, "", 30ull * 1000000000ull, 0);
	for (size_t i = 0; i < 3 && rc == 0; i++) {
		t.counter = i + 1;
		rc = wait_until(has_n_msgs, &t, CALL_TIMEOUT_NS);
		if (rc == 0 && t.done)
			rc = failf("Watch ended: %d %s", t.status, t.message);
		int s = rc ? -1 : health_status_of(t.last, t.last_len);
		if (rc == 0) {
			printf("watch status=%d\n", s);
			fflush(stdout);
		}
		if (rc == 0 && s != want[i])
			rc = failf("Watch message %zu: status %d, want %d", i, s, want[i]);
	}
	if (t.call)
		grpc_client_call_cancel(t.call);
	int rc2 = wait_one(&t, WAIT_SLACK_NS);
	rc = rc ? rc : rc2;
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_CANCELLED);
	tcall_reset(&t);
	if (rc)
		return rc;
	rc = health_call(&t, HEALTH_WATCH, "no.such.Service", CALL_TIMEOUT_NS, 0);
	t.counter = 1;
	rc = rc ? rc : wait_until(has_n_msgs, &t, CALL_TIMEOUT_NS);
	if (rc == 0 && (t.nmsg < 1 || health_status_of(t.last, t.last_len) != 3))
		rc = failf("Watch(unknown) is not SERVICE_UNKNOWN");
	if (t.call)
		grpc_client_call_cancel(t.call);
	rc2 = wait_one(&t, WAIT_SLACK_NS);
	tcall_reset(&t);
	return rc ? rc : rc2;
}

/* A server that refuses us (mTLS without an accepted certificate): UNAVAILABLE. */
static int case_expect_unavailable(void)
{
	struct tcall t = {0};
	int rc = echo_unary(&t, (const uint8_t *)"x", 1, 0, 0, NULL, CALL_TIMEOUT_NS);
	rc = rc ? rc : expect_status(&t, GRPC_STATUS_UNAVAILABLE);
	tcall_reset(&t);
	return rc;
}

/* The four call shapes at once, in a fixed order (streams 1, 3, 5, 7): the fuzz seed capture
 * (tests/integration/capture_seeds.py) records the server's answer to exactly these calls,
 * which fuzz_h2_client.c starts in the same order. */
static int case_seedcalls(void)
{
	struct tcall ts[4] = {{0}};
	int rc = tcall_start(&ts[0], ECHO_UNARY, CALL_TIMEOUT_NS);
	rc = rc ? rc : send_echo(&ts[0], (const uint8_t *)"seed", 4, 0, 0, NULL);
	rc = rc ? rc : close_send(&ts[0]);
	Regatta__Test__V1__EchoRequest er;
	regatta__test__v1__echo_request__init(&er);
	er.payload.data = unconst("stream");
	er.payload.len = 6;
	Regatta__Test__V1__ServerStreamRequest sr = REGATTA__TEST__V1__SERVER_STREAM_REQUEST__INIT;
	sr.count = 3;
	sr.request = &er;
	uint8_t buf[64];
	size_t n = regatta__test__v1__server_stream_request__pack(&sr, buf);
	rc = rc ? rc : tcall_start(&ts[1], ECHO_SSTREAM, CALL_TIMEOUT_NS);
	rc = rc ? rc : send_raw(&ts[1], buf, n);
	rc = rc ? rc : close_send(&ts[1]);
	rc = rc ? rc : tcall_start(&ts[2], ECHO_BIDI, CALL_TIMEOUT_NS);
	rc = rc ? rc : tcall_start(&ts[3], ECHO_CSTREAM, CALL_TIMEOUT_NS);
	for (int i = 0; i < 3 && rc == 0; i++) {
		rc = send_echo(&ts[2], (const uint8_t *)"bidi", 4, 0, 0, NULL);
		rc = rc ? rc : send_echo(&ts[3], (const uint8_t *)"cs", 2, 0, 0, NULL);
	}
	rc = rc ? rc : close_send(&ts[2]);
	rc = rc ? rc : close_send(&ts[3]);
	rc = rc ? rc : wait_calls(ts, 4, CALL_TIMEOUT_NS + WAIT_SLACK_NS);
	for (int i = 0; i < 4 && rc == 0; i++)
		rc = expect_status(&ts[i], GRPC_STATUS_OK);
	for (int i = 0; i < 4; i++)
		tcall_reset(&ts[i]);
	return rc;
}

static const struct {
	const char *name;
	int (*fn)(void);
} cases[] = {
	{"unary", case_unary},
	{"unary_big", case_unary_big},
	{"error_status", case_error_status},
	{"server_stream", case_server_stream},
	{"client_stream", case_client_stream},
	{"bidi", case_bidi},
	{"concurrent", case_concurrent},
	{"cancel", case_cancel},
	{"deadline", case_deadline},
	{"oversize", case_oversize},
	{"unknown", case_unknown},
	{"health_check", case_health_check},
	{"health_watch", case_health_watch},
	{"expect_unavailable", case_expect_unavailable},
	{"seedcalls", case_seedcalls},
};

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(void)
{
	fprintf(stderr, "usage: grpc_test_client --target H:P [--tls-ca F [--cert F --key F]] "
			"[--compression E] [--max-recv B] CASE...\ncases:");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		fprintf(stderr, " %s", cases[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int first_case = argc;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-') {
			first_case = i;
			break;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (strcmp(a, "--target") == 0)
			opt.target = v;
		else if (strcmp(a, "--tls-ca") == 0)
			opt.tls_ca = v;
		else if (strcmp(a, "--cert") == 0)
			opt.cert = v;
		else if (strcmp(a, "--key") == 0)
			opt.key = v;
		else if (strcmp(a, "--max-recv") == 0)
			opt.max_recv = (size_t)strtoull(v, NULL, 10);
		else if (strcmp(a, "--compression") == 0) {
			if (grpc_encoding_parse(v, strlen(v), &opt.encoding))
				usage();
		} else
			usage();
	}
	if (!opt.target || first_case == argc)
		usage();
	signal(SIGPIPE, SIG_IGN);

	enum reactor_backend backend;
	if (reactor_backend_parse(NULL, &backend))
		usage();
	struct reactor_config rcfg = {.backend = backend, .cpu = -1};
	int err = reactor_new(&rcfg, &g_r);
	if (err) {
		fprintf(stderr, "reactor: %s\n", err_str(err));
		return 1;
	}
	if (opt.tls_ca) {
		struct tls_config tcfg = {.cert_file = opt.cert, .key_file = opt.key,
					  .ca_file = opt.tls_ca, .verify_peer = 1,
					  .server_name = "localhost"};
		err = tls_ctx_new_client(&tcfg, &g_tls);
		if (err) {
			fprintf(stderr, "tls: %s\n", err_str(err));
			reactor_free(g_r);
			return 1;
		}
	}
	int failed = 0;
	for (int i = first_case; i < argc; i++) {
		size_t k = 0;
		while (k < sizeof cases / sizeof cases[0] && strcmp(cases[k].name, argv[i]) != 0)
			k++;
		if (k == sizeof cases / sizeof cases[0]) {
			printf("FAIL %s: no such case\n", argv[i]);
			failed++;
			continue;
		}
		g_reason[0] = '\0';
		uint64_t t0 = clock_mono_ns();
		int rc = conn_ensure();
		if (rc)
			failf("connect %s: %s", opt.target, err_str(rc));
		else
			rc = cases[k].fn();
		double s = (double)(clock_mono_ns() - t0) / 1e9;
		if (rc) {
			printf("FAIL %s (%.2fs): %s\n", argv[i], s, g_reason);
			failed++;
		} else {
			printf("PASS %s (%.2fs)\n", argv[i], s);
		}
		fflush(stdout);
	}
	conn_close();
	/* Let the reactor return the closed connection's operations (bounded). */
	for (int i = 0; i < 10; i++)
		if (reactor_run_once(g_r, 1000000ull))
			break;
	if (g_tls)
		tls_ctx_free(g_tls);
	reactor_free(g_r);
	printf("%d failed\n", failed);
	return failed ? 1 : 0;
}
