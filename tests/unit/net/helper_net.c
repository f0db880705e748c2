/* helper_net.c — see helper_net.h. */
#include "helper_net.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t fake_clock_ns(void *ctx)
{
	return ((struct fake_clock *)ctx)->now_ns;
}

/* ---- service ---- */

static void unary_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct svc *svc = grpc_call_method_ctx(call);
	const char *auth = grpc_call_header(call, "authorization", NULL);
	if (auth)
		snprintf(svc->last_auth, sizeof svc->last_auth, "%s", auth);
	if (len >= 4 && memcmp(msg, "err:", 4) == 0) {
		char m[200];
		snprintf(m, sizeof m, "%.*s", (int)(len - 4), (const char *)msg + 4);
		cr_assert_eq(grpc_call_add_trailer(call, "x-detail", "why"), 0);
		cr_assert_eq(grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, m), 0);
		return;
	}
	if (len >= 4 && memcmp(msg, "rsv:", 4) == 0) {
		/* zero-copy path: reserve, fill, commit */
		int err = -1;
		uint8_t *p = grpc_call_send_reserve(call, len, &err);
		cr_assert_eq(err, 0);
		cr_assert_not_null(p);
		memcpy(p, msg, len);
		cr_assert_eq(grpc_call_send_commit(call), 0);
		cr_assert_eq(grpc_call_finish(call, GRPC_STATUS_OK, NULL), 0);
		return;
	}
	cr_assert_eq(grpc_call_add_header(call, "x-hdr", "h1"), 0);
	cr_assert_eq(grpc_call_add_trailer(call, "x-trl", "t1"), 0);
	cr_assert_eq(grpc_call_reply(call, msg, len), 0);
}

/* Request: "count size" */
static void stream_pump(struct grpc_call *call)
{
	struct svc *svc = grpc_call_method_ctx(call);
	uint8_t *buf = malloc(svc->stream_size + 1);
	cr_assert_not_null(buf);
	while (svc->stream_sent < svc->stream_total) {
		memset(buf, (int)('a' + svc->stream_sent % 26), svc->stream_size);
		int rc = grpc_call_send_msg(call, buf, svc->stream_size);
		if (rc == ERR_AGAIN)
			break;
		cr_assert_eq(rc, 0);
		svc->stream_sent++;
	}
	free(buf);
	if (svc->stream_sent == svc->stream_total)
		cr_assert_eq(grpc_call_finish(call, GRPC_STATUS_OK, NULL), 0);
}

static void sstream_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct svc *svc = grpc_call_method_ctx(call);
	char tmp[64];
	snprintf(tmp, sizeof tmp, "%.*s", (int)len, (const char *)msg);
	unsigned long long count = 0, size = 0;
	cr_assert_eq(sscanf(tmp, "%llu %llu", &count, &size), 2);
	svc->stream_total = count;
	svc->stream_size = size;
	svc->stream_sent = 0;
	stream_pump(call);
}

static void sstream_writable(struct grpc_call *call)
{
	struct svc *svc = grpc_call_method_ctx(call);
	svc->writable_calls++;
	stream_pump(call);
}

struct cstream_state {
	uint64_t total;
	int n;
};

static void cstream_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	(void)msg;
	struct cstream_state *st = grpc_call_user(call);
	if (!st) {
		st = arena_calloc(grpc_call_arena(call), 1, sizeof *st);
		cr_assert_not_null(st);
		grpc_call_set_user(call, st);
	}
	st->total += len;
	st->n++;
}

static void cstream_half(struct grpc_call *call)
{
	struct cstream_state *st = grpc_call_user(call);
	char out[64];
	int n = snprintf(out, sizeof out, "%d %llu", st ? st->n : 0,
			 (unsigned long long)(st ? st->total : 0));
	cr_assert_eq(grpc_call_reply(call, (const uint8_t *)out, (size_t)n), 0);
}

static void bidi_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	cr_assert_eq(grpc_call_send_msg(call, msg, len), 0);
}

static void bidi_half(struct grpc_call *call)
{
	cr_assert_eq(grpc_call_finish(call, GRPC_STATUS_OK, NULL), 0);
}

static void hold_start(struct grpc_call *call)
{
	struct svc *svc = grpc_call_method_ctx(call);
	svc->starts++;
}

static void hold_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	(void)msg;
	(void)len;
	struct svc *svc = grpc_call_method_ctx(call);
	cr_assert_lt(svc->nheld, 64);
	svc->held[svc->nheld++] = call;
}

static void hold_cancel(struct grpc_call *call, int status)
{
	struct svc *svc = grpc_call_method_ctx(call);
	svc->cancels++;
	svc->last_cancel_status = status;
	/* Owned since on_start: a call the test does not hold is released here (the contract). */
	for (int i = 0; i < svc->nheld; i++)
		if (svc->held[i] == call)
			return;
	cr_assert_eq(grpc_call_finish(call, GRPC_STATUS_OK, NULL), ERR_CANCELED);
}

static void reject_start(struct grpc_call *call)
{
	cr_assert_eq(grpc_call_finish(call, GRPC_STATUS_PERMISSION_DENIED, "no token"), 0);
}

static void never_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	(void)call;
	(void)msg;
	(void)len;
	cr_assert_fail("callback after grpc_call_finish");
}

static void never_half(struct grpc_call *call)
{
	(void)call;
	cr_assert_fail("callback after grpc_call_finish");
}

void svc_register(struct grpc_server *s, struct svc *svc)
{
	memset(svc, 0, sizeof *svc);
	struct grpc_method ms[] = {
		{.path = "/test.Echo/Unary", .kind = GRPC_METHOD_UNARY, .on_message = unary_msg, .ctx = svc},
		{.path = "/test.Echo/ServerStream", .kind = GRPC_METHOD_SERVER_STREAMING,
		 .on_message = sstream_msg, .on_writable = sstream_writable, .ctx = svc},
		{.path = "/test.Echo/ClientStream", .kind = GRPC_METHOD_CLIENT_STREAMING,
		 .on_message = cstream_msg, .on_half_close = cstream_half, .ctx = svc},
		{.path = "/test.Echo/Bidi", .kind = GRPC_METHOD_BIDI, .on_message = bidi_msg,
		 .on_half_close = bidi_half, .ctx = svc},
		{.path = "/test.Echo/Hang", .kind = GRPC_METHOD_UNARY, .on_start = hold_start,
		 .on_message = hold_msg, .on_cancel = hold_cancel, .ctx = svc},
		{.path = "/test.Echo/Reject", .kind = GRPC_METHOD_UNARY, .on_start = reject_start,
		 .on_message = never_msg, .ctx = svc},
		{.path = "/test.Echo/RejectStream", .kind = GRPC_METHOD_CLIENT_STREAMING, .on_start = reject_start,
		 .on_message = never_msg, .on_half_close = never_half, .ctx = svc},
		{.path = "/test.Echo/BidiQuiet", .kind = GRPC_METHOD_BIDI, .on_message = bidi_msg, .ctx = svc},
	};
	for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
		cr_assert_eq(grpc_server_register(s, &ms[i]), 0);
	cr_assert_eq(grpc_server_register(s, &ms[0]), ERR_EXISTS);
	struct grpc_method bad = {.path = "nope", .on_message = unary_msg};
	cr_assert_eq(grpc_server_register(s, &bad), ERR_INVAL);
	struct grpc_method nohalf = {.path = "/test.Echo/X", .kind = GRPC_METHOD_CLIENT_STREAMING,
				     .on_message = unary_msg};
	cr_assert_eq(grpc_server_register(s, &nohalf), ERR_INVAL);
}

/* ---- pair ---- */

void (*pair_register_hook)(struct grpc_server *s, void *ctx);
void *pair_register_ctx;

static void on_output(void *ctx)
{
	((struct pair *)ctx)->output_signals++;
}

void pair_init(struct pair *p, const struct grpc_server_config *scfg, const struct grpc_client_config *ccfg,
	       struct svc *svc)
{
	memset(p, 0, sizeof *p);
	p->clock.now_ns = 1000000000ull;
	struct grpc_server_config sc = {0};
	if (scfg)
		sc = *scfg;
	sc.clock_ns = fake_clock_ns;
	sc.clock_ctx = &p->clock;
	cr_assert_eq(grpc_server_new(&sc, &p->srv), 0);
	svc_register(p->srv, svc);
	if (pair_register_hook)
		pair_register_hook(p->srv, pair_register_ctx);
	struct grpc_server_conn_hooks hooks = {on_output, p};
	cr_assert_eq(grpc_server_conn_new(p->srv, &hooks, &p->sc), 0);
	cr_assert_eq(grpc_server_conn_set_peer(p->sc, "127.0.0.1:1234", NULL), 0);
	struct grpc_client_config cc = {0};
	if (ccfg)
		cc = *ccfg;
	if (!cc.authority)
		cc.authority = "test:1";
	cc.clock_ns = fake_clock_ns;
	cc.clock_ctx = &p->clock;
	cr_assert_eq(grpc_client_conn_new(&cc, &p->cc), 0);
	net_buf_init(&p->c2s);
	net_buf_init(&p->s2c);
}

void pair_deinit(struct pair *p)
{
	if (p->cc)
		grpc_client_conn_free(p->cc);
	if (p->sc)
		grpc_server_conn_free(p->sc);
	grpc_server_free(p->srv);
	net_buf_deinit(&p->c2s);
	net_buf_deinit(&p->s2c);
}

int pair_pump(struct pair *p)
{
	int rounds = 0;
	for (; rounds < 100000; rounds++) {
		int moved = 0;
		if (p->cc) {
			cr_assert_eq(grpc_client_conn_send(p->cc, &p->c2s, 1u << 20), 0);
		}
		if (net_buf_size(&p->c2s) && p->sc) {
			/* feed in odd-sized pieces to exercise frame reassembly */
			size_t n = net_buf_size(&p->c2s);
			int rc = grpc_server_conn_recv(p->sc, net_buf_head(&p->c2s), n);
			if (rc)
				p->server_err = rc;
			net_buf_consume(&p->c2s, n);
			moved = 1;
		}
		if (p->sc)
			cr_assert_eq(grpc_server_conn_send(p->sc, &p->s2c, 1u << 20), 0);
		if (net_buf_size(&p->s2c) && p->cc) {
			size_t n = net_buf_size(&p->s2c);
			int rc = grpc_client_conn_recv(p->cc, net_buf_head(&p->s2c), n);
			if (rc)
				p->client_err = rc;
			net_buf_consume(&p->s2c, n);
			moved = 1;
		}
		if (!moved)
			break;
	}
	cr_assert_lt(rounds, 100000, "pump did not settle");
	return rounds;
}

void pair_advance(struct pair *p, uint64_t ns)
{
	p->clock.now_ns += ns;
	if (p->sc)
		grpc_server_conn_tick(p->sc);
	if (p->cc)
		grpc_client_conn_tick(p->cc);
}

/* ---- client result ---- */

static void r_headers(struct grpc_client_call *call, void *ctx)
{
	(void)call;
	((struct result *)ctx)->headers++;
}

static void r_message(struct grpc_client_call *call, const uint8_t *msg, size_t len, void *ctx)
{
	(void)call;
	struct result *r = ctx;
	r->nmsgs++;
	r->bytes += len;
	r->last_len = len < sizeof r->last ? len : sizeof r->last;
	memcpy(r->last, msg, r->last_len);
}

static void r_done(struct grpc_client_call *call, int status, const char *message, void *ctx)
{
	struct result *r = ctx;
	cr_assert_eq(r->done, 0, "on_done twice");
	r->done = 1;
	r->status = status;
	snprintf(r->message, sizeof r->message, "%s", message);
	const char *x = grpc_client_call_header(call, "x-trl", NULL);
	if (x)
		snprintf(r->trailer_x, sizeof r->trailer_x, "%s", x);
}

const struct grpc_client_call_ops result_ops = {
	.on_headers = r_headers,
	.on_message = r_message,
	.on_done = r_done,
};
