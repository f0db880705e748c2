/* test_grpc_inmem.c — gRPC server and client connected through in-memory buffers: unary, all
 * streaming kinds, compression, metadata and trailers, deadlines, cancellation, size limits,
 * unknown methods, asynchronous answers, GOAWAY draining, flow control with large messages. */
#include "helper_net.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct svc svc;

static void unary(struct pair *p, const char *path, const void *req, size_t len,
		  const struct grpc_client_call_opts *opts, struct result *r)
{
	memset(r, 0, sizeof *r);
	cr_assert_eq(grpc_client_unary(p->cc, path, opts, req, len, &result_ops, r, NULL), 0);
	pair_pump(p);
}

Test(grpc_inmem, unary_round_trip_and_metadata)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r;
	struct grpc_md md[] = {{"authorization", "Bearer secret", 0}};
	struct grpc_client_call_opts o = {.md = md, .md_count = 1};
	unary(&p, "/test.Echo/Unary", "hello", 5, &o, &r);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_OK, "%d %s", r.status, r.message);
	cr_assert_eq(r.nmsgs, 1);
	cr_assert_eq(r.last_len, 5);
	cr_assert_eq(memcmp(r.last, "hello", 5), 0);
	cr_assert_eq(r.headers, 1);
	cr_assert_str_eq(r.trailer_x, "t1");
	cr_assert_str_eq(svc.last_auth, "Bearer secret");
	/* empty message */
	unary(&p, "/test.Echo/Unary", "", 0, NULL, &r);
	cr_assert_eq(r.status, GRPC_STATUS_OK);
	cr_assert_eq(r.nmsgs, 1);
	cr_assert_eq(r.last_len, 0);
	cr_assert_eq(grpc_server_conn_active_calls(p.sc), 0);
	cr_assert_eq(grpc_client_conn_active_calls(p.cc), 0);
	pair_deinit(&p);
}

Test(grpc_inmem, error_status_message_escaped)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r;
	const char *req = "err:bad \xc3\xa9 100%\nline";
	unary(&p, "/test.Echo/Unary", req, strlen(req), NULL, &r);
	cr_assert_eq(r.status, GRPC_STATUS_INVALID_ARGUMENT);
	cr_assert_str_eq(r.message, "bad \xc3\xa9 100%\nline");
	cr_assert_eq(r.nmsgs, 0);
	pair_deinit(&p);
}

Test(grpc_inmem, compression_every_encoding_both_ways)
{
	for (int mirror = 0; mirror <= 1; mirror++) {
		struct grpc_server_config sc = {.mirror_compression = mirror};
		struct pair p;
		pair_init(&p, &sc, NULL, &svc);
		for (int e = 0; e < GRPC_ENCODING_COUNT; e++) {
			size_t n = 100000;
			uint8_t *buf = malloc(n);
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)(i % 251 < 100 ? 'x' : i % 251);
			struct grpc_client_call_opts o = {.encoding = (enum grpc_encoding)e};
			struct result r;
			unary(&p, "/test.Echo/Unary", buf, n, &o, &r);
			cr_assert_eq(r.status, GRPC_STATUS_OK, "enc %d: %s", e, r.message);
			cr_assert_eq(r.bytes, n);
			free(buf);
		}
		pair_deinit(&p);
	}
}

Test(grpc_inmem, unknown_service_and_method)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r;
	unary(&p, "/test.Nope/Unary", "x", 1, NULL, &r);
	cr_assert_eq(r.status, GRPC_STATUS_UNIMPLEMENTED);
	cr_assert_str_eq(r.message, "unknown service test.Nope");
	unary(&p, "/test.Echo/Nope", "x", 1, NULL, &r);
	cr_assert_eq(r.status, GRPC_STATUS_UNIMPLEMENTED);
	cr_assert_str_eq(r.message, "unknown method Nope for service test.Echo");
	/* the connection is still fine */
	unary(&p, "/test.Echo/Unary", "ok", 2, NULL, &r);
	cr_assert_eq(r.status, GRPC_STATUS_OK);
	pair_deinit(&p);
}

Test(grpc_inmem, server_streaming_large_messages_flow_control)
{
	/* small windows force many WINDOW_UPDATE rounds; the send queue limit forces on_writable */
	struct grpc_server_config sc = {.stream_window_bytes = 65535, .conn_window_bytes = 65535};
	struct grpc_client_config cc = {.stream_window_bytes = 65535, .conn_window_bytes = 65535};
	struct pair p;
	pair_init(&p, &sc, &cc, &svc);
	struct result r;
	const char *req = "40 300000"; /* 40 x 300 KB = 12 MB */
	unary(&p, "/test.Echo/ServerStream", req, strlen(req), NULL, &r);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_OK, "%s", r.message);
	cr_assert_eq(r.nmsgs, 40);
	cr_assert_eq(r.bytes, 40ull * 300000);
	cr_assert_gt(svc.writable_calls, 0, "backpressure never engaged");
	pair_deinit(&p);
}

Test(grpc_inmem, client_streaming_and_bidi)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r;
	memset(&r, 0, sizeof r);
	struct grpc_client_call *call;
	cr_assert_eq(grpc_client_call_start(p.cc, "/test.Echo/ClientStream", NULL, &result_ops, &r, &call), 0);
	uint8_t buf[1000];
	memset(buf, 7, sizeof buf);
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(grpc_client_call_send_msg(call, buf, (size_t)i * 10), 0);
		if (i % 7 == 0)
			pair_pump(&p);
	}
	cr_assert_eq(grpc_client_call_close_send(call), 0);
	pair_pump(&p);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_OK);
	char expect[64];
	snprintf(expect, sizeof expect, "50 %d", 10 * 49 * 50 / 2);
	cr_assert_eq(r.last_len, strlen(expect));
	cr_assert_eq(memcmp(r.last, expect, r.last_len), 0);

	/* bidi ping-pong: each message comes back before the next is sent */
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_call_start(p.cc, "/test.Echo/Bidi", NULL, &result_ops, &r, &call), 0);
	for (int i = 0; i < 20; i++) {
		char m[32];
		int n = snprintf(m, sizeof m, "ping %d", i);
		cr_assert_eq(grpc_client_call_send_msg(call, (const uint8_t *)m, (size_t)n), 0);
		pair_pump(&p);
		cr_assert_eq(r.nmsgs, i + 1);
		cr_assert_eq(memcmp(r.last, m, (size_t)n), 0);
	}
	cr_assert_eq(grpc_client_call_close_send(call), 0);
	pair_pump(&p);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_OK);
	pair_deinit(&p);
}

Test(grpc_inmem, async_answer_later)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r[3];
	for (int i = 0; i < 3; i++) {
		memset(&r[i], 0, sizeof r[i]);
		cr_assert_eq(grpc_client_unary(p.cc, "/test.Echo/Hang", NULL, (const uint8_t *)"q", 1,
					       &result_ops, &r[i], NULL), 0);
	}
	pair_pump(&p);
	cr_assert_eq(svc.nheld, 3);
	cr_assert_eq(svc.starts, 3);
	cr_assert_not(r[0].done);
	/* answer out of order, outside any callback: the owner is told to flush */
	int before = p.output_signals;
	cr_assert_eq(grpc_call_reply(svc.held[2], (const uint8_t *)"two", 3), 0);
	cr_assert_gt(p.output_signals, before);
	cr_assert_eq(grpc_call_finish(svc.held[0], GRPC_STATUS_NOT_FOUND, "no such table"), 0);
	pair_pump(&p);
	cr_assert_eq(r[0].status, GRPC_STATUS_NOT_FOUND);
	cr_assert_str_eq(r[0].message, "no such table");
	cr_assert_eq(r[2].status, GRPC_STATUS_OK);
	cr_assert_not(r[1].done);
	cr_assert_eq(grpc_call_reply(svc.held[1], (const uint8_t *)"one", 3), 0);
	pair_pump(&p);
	cr_assert_eq(r[1].status, GRPC_STATUS_OK);
	cr_assert_eq(memcmp(r[1].last, "one", 3), 0);
	pair_deinit(&p);
}

Test(grpc_inmem, deadline_enforced_by_server)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r;
	memset(&r, 0, sizeof r);
	struct grpc_client_call_opts o = {.timeout_ns = 100000000ull};
	cr_assert_eq(grpc_client_unary(p.cc, "/test.Echo/Hang", &o, (const uint8_t *)"q", 1, &result_ops, &r, NULL), 0);
	pair_pump(&p);
	cr_assert_eq(svc.nheld, 1);
	uint64_t dl = grpc_call_deadline_ns(svc.held[0]);
	cr_assert_eq(dl, p.clock.now_ns + 100000000ull);
	cr_assert_eq(grpc_server_conn_next_timer_ns(p.sc), dl);
	/* only the server ticks: it answers DEADLINE_EXCEEDED and resets */
	p.clock.now_ns = dl;
	grpc_server_conn_tick(p.sc);
	pair_pump(&p);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_DEADLINE_EXCEEDED, "%d %s", r.status, r.message);
	cr_assert_eq(svc.cancels, 1);
	cr_assert_eq(svc.last_cancel_status, GRPC_STATUS_DEADLINE_EXCEEDED);
	cr_assert(grpc_call_is_canceled(svc.held[0]));
	cr_assert_eq(grpc_call_send_msg(svc.held[0], (const uint8_t *)"x", 1), ERR_CANCELED);
	cr_assert_eq(grpc_call_finish(svc.held[0], GRPC_STATUS_OK, NULL), ERR_CANCELED);
	pair_pump(&p);
	cr_assert_eq(grpc_server_conn_active_calls(p.sc), 0);
	pair_deinit(&p);
}

Test(grpc_inmem, deadline_enforced_by_client)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r;
	memset(&r, 0, sizeof r);
	struct grpc_client_call_opts o = {.timeout_ns = 50000000ull};
	cr_assert_eq(grpc_client_unary(p.cc, "/test.Echo/Hang", &o, (const uint8_t *)"q", 1, &result_ops, &r, NULL), 0);
	pair_pump(&p);
	p.clock.now_ns += 60000000ull;
	grpc_client_conn_tick(p.cc);
	pair_pump(&p);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_DEADLINE_EXCEEDED);
	cr_assert_eq(svc.cancels, 1);
	cr_assert_eq(svc.last_cancel_status, GRPC_STATUS_CANCELLED);
	cr_assert_eq(grpc_call_finish(svc.held[0], GRPC_STATUS_OK, NULL), ERR_CANCELED);
	pair_deinit(&p);
}

Test(grpc_inmem, client_cancel_reaches_handler)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r;
	memset(&r, 0, sizeof r);
	struct grpc_client_call *call;
	cr_assert_eq(grpc_client_unary(p.cc, "/test.Echo/Hang", NULL, (const uint8_t *)"q", 1, &result_ops, &r, &call), 0);
	pair_pump(&p);
	cr_assert_eq(svc.nheld, 1);
	grpc_client_call_cancel(call);
	cr_assert_not(r.done); /* never inside cancel */
	pair_pump(&p);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_CANCELLED);
	cr_assert_eq(svc.cancels, 1);
	cr_assert_eq(svc.last_cancel_status, GRPC_STATUS_CANCELLED);
	cr_assert_eq(grpc_call_finish(svc.held[0], GRPC_STATUS_OK, NULL), ERR_CANCELED);

	/* canceled before its HEADERS ever left the client */
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(p.cc, "/test.Echo/Hang", NULL, (const uint8_t *)"q", 1, &result_ops, &r, &call), 0);
	grpc_client_call_cancel(call);
	pair_pump(&p);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_CANCELLED);
	cr_assert_eq(svc.nheld, 1);
	pair_deinit(&p);
}

Test(grpc_inmem, max_message_size_and_bomb)
{
	struct grpc_server_config sc = {.max_recv_msg_bytes = 1u << 20};
	struct grpc_client_config big = {.max_send_msg_bytes = 16u << 20};
	struct pair p;
	pair_init(&p, &sc, &big, &svc);
	size_t n = (1u << 20) + 1;
	uint8_t *buf = calloc(1, 8u << 20);
	struct result r;
	unary(&p, "/test.Echo/Unary", buf, n, NULL, &r);
	cr_assert_eq(r.status, GRPC_STATUS_RESOURCE_EXHAUSTED, "%d %s", r.status, r.message);
	/* 8 MiB of zeros compresses to little but inflates past the limit */
	for (int e = GRPC_ENCODING_GZIP; e < GRPC_ENCODING_COUNT; e++) {
		struct grpc_client_call_opts o = {.encoding = (enum grpc_encoding)e};
		unary(&p, "/test.Echo/Unary", buf, 8u << 20, &o, &r);
		cr_assert_eq(r.status, GRPC_STATUS_RESOURCE_EXHAUSTED, "enc %d: %d %s", e, r.status, r.message);
	}
	/* exactly the limit passes */
	unary(&p, "/test.Echo/Unary", buf, 1u << 20, NULL, &r);
	cr_assert_eq(r.status, GRPC_STATUS_OK);
	/* the client's own receive limit */
	free(buf);
	pair_deinit(&p);

	struct grpc_client_config cc = {.max_recv_msg_bytes = 1000};
	pair_init(&p, NULL, &cc, &svc);
	const char *req = "1 1001";
	unary(&p, "/test.Echo/ServerStream", req, strlen(req), NULL, &r);
	cr_assert_eq(r.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
	pair_deinit(&p);
}

Test(grpc_inmem, unary_cardinality)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r;
	memset(&r, 0, sizeof r);
	struct grpc_client_call *call;
	cr_assert_eq(grpc_client_call_start(p.cc, "/test.Echo/Unary", NULL, &result_ops, &r, &call), 0);
	cr_assert_eq(grpc_client_call_close_send(call), 0);
	pair_pump(&p);
	cr_assert_eq(r.status, GRPC_STATUS_UNIMPLEMENTED);
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_call_start(p.cc, "/test.Echo/Unary", NULL, &result_ops, &r, &call), 0);
	cr_assert_eq(grpc_client_call_send_msg(call, (const uint8_t *)"a", 1), 0);
	cr_assert_eq(grpc_client_call_send_msg(call, (const uint8_t *)"b", 1), 0);
	cr_assert_eq(grpc_client_call_close_send(call), 0);
	pair_pump(&p);
	cr_assert_eq(r.status, GRPC_STATUS_UNIMPLEMENTED);
	pair_deinit(&p);
}

Test(grpc_inmem, goaway_drains_in_flight_calls)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r, r2;
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(p.cc, "/test.Echo/Hang", NULL, (const uint8_t *)"q", 1, &result_ops, &r, NULL), 0);
	pair_pump(&p);
	cr_assert_eq(svc.nheld, 1);
	grpc_server_conn_shutdown(p.sc);
	pair_pump(&p);
	cr_assert_not(grpc_client_conn_usable(p.cc));
	memset(&r2, 0, sizeof r2);
	cr_assert_eq(grpc_client_unary(p.cc, "/test.Echo/Unary", NULL, (const uint8_t *)"x", 1, &result_ops, &r2, NULL),
		     ERR_CLOSED);
	cr_assert_not(grpc_server_conn_done(p.sc));
	/* the in-flight call still completes */
	cr_assert_eq(grpc_call_reply(svc.held[0], (const uint8_t *)"late", 4), 0);
	pair_pump(&p);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_OK);
	cr_assert(grpc_server_conn_done(p.sc));
	cr_assert(grpc_client_conn_done(p.cc));
	pair_deinit(&p);
}

Test(grpc_inmem, conn_free_cancels_owned_calls)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r;
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(p.cc, "/test.Echo/Hang", NULL, (const uint8_t *)"q", 1, &result_ops, &r, NULL), 0);
	pair_pump(&p);
	cr_assert_eq(svc.nheld, 1);
	grpc_server_conn_free(p.sc);
	p.sc = NULL;
	cr_assert_eq(svc.cancels, 1);
	cr_assert_eq(svc.last_cancel_status, GRPC_STATUS_UNAVAILABLE);
	cr_assert_str_eq(grpc_call_peer(svc.held[0]), "");
	cr_assert_eq(grpc_call_finish(svc.held[0], GRPC_STATUS_OK, NULL), ERR_CANCELED);
	/* the client side: freeing it fails the call with UNAVAILABLE */
	grpc_client_conn_free(p.cc);
	p.cc = NULL;
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_UNAVAILABLE);
	pair_deinit(&p);
}

Test(grpc_inmem, many_concurrent_calls_over_stream_limit)
{
	struct grpc_server_config sc = {.max_concurrent_streams = 16};
	struct pair p;
	pair_init(&p, &sc, NULL, &svc);
	pair_pump(&p); /* SETTINGS exchanged */
	enum { N = 2000 };
	struct result *r = calloc(N, sizeof *r);
	for (int i = 0; i < N; i++) {
		char m[16];
		int n = snprintf(m, sizeof m, "%d", i);
		cr_assert_eq(grpc_client_unary(p.cc, "/test.Echo/Unary", NULL, (const uint8_t *)m, (size_t)n,
					       &result_ops, &r[i], NULL), 0);
	}
	pair_pump(&p);
	for (int i = 0; i < N; i++) {
		char m[16];
		int n = snprintf(m, sizeof m, "%d", i);
		cr_assert(r[i].done);
		cr_assert_eq(r[i].status, GRPC_STATUS_OK, "%d: %s", i, r[i].message);
		cr_assert_eq(memcmp(r[i].last, m, (size_t)n), 0);
	}
	free(r);
	pair_deinit(&p);
}

Test(grpc_inmem, zero_copy_reserve_commit)
{
	for (int mirror = 0; mirror <= 1; mirror++) {
		struct grpc_server_config sc = {.mirror_compression = mirror};
		struct pair p;
		pair_init(&p, &sc, NULL, &svc);
		struct grpc_client_call_opts o = {.encoding = GRPC_ENCODING_GZIP};
		struct result r;
		unary(&p, "/test.Echo/Unary", "rsv:payload", 11, &o, &r);
		cr_assert_eq(r.status, GRPC_STATUS_OK, "%s", r.message);
		cr_assert_eq(r.last_len, 11);
		cr_assert_eq(memcmp(r.last, "rsv:payload", 11), 0);
		pair_deinit(&p);
	}
}

Test(grpc_inmem, client_keepalive)
{
	struct grpc_client_config cc = {.keepalive_ns = 1000000000ull, .keepalive_timeout_ns = 5000000000ull};
	struct pair p;
	pair_init(&p, NULL, &cc, &svc);
	pair_pump(&p);
	/* answered pings keep the connection */
	for (int i = 0; i < 5; i++) {
		pair_advance(&p, 1500000000ull);
		pair_pump(&p);
	}
	cr_assert(grpc_client_conn_usable(p.cc));
	struct result r;
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(p.cc, "/test.Echo/Hang", NULL, (const uint8_t *)"q", 1, &result_ops, &r, NULL), 0);
	pair_pump(&p);
	/* the server goes silent: nothing is delivered any more */
	pair_advance(&p, 1500000000ull);
	struct net_buf sink;
	net_buf_init(&sink);
	cr_assert_eq(grpc_client_conn_send(p.cc, &sink, 1u << 20), 0); /* the ping leaves, no ack */
	cr_assert_eq(grpc_client_conn_next_timer_ns(p.cc), p.clock.now_ns + 5000000000ull);
	pair_advance(&p, 5000000000ull);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_UNAVAILABLE);
	cr_assert_eq(grpc_client_conn_send(p.cc, &sink, 1u << 20), 0);
	cr_assert(grpc_client_conn_done(p.cc));
	net_buf_deinit(&sink);
	grpc_server_conn_free(p.sc);
	p.sc = NULL;
	cr_assert_eq(svc.nheld, 1);
	cr_assert_eq(grpc_call_finish(svc.held[0], GRPC_STATUS_OK, NULL), ERR_CANCELED);
	pair_deinit(&p);
}

Test(grpc_inmem, no_callback_after_finish_and_no_owner_before_first_callback)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	struct result r;
	/* finished in on_start; the request message and half-close that follow reach nobody */
	unary(&p, "/test.Echo/Reject", "x", 1, NULL, &r);
	cr_assert_eq(r.status, GRPC_STATUS_PERMISSION_DENIED);
	memset(&r, 0, sizeof r);
	struct grpc_client_call *call;
	cr_assert_eq(grpc_client_call_start(p.cc, "/test.Echo/RejectStream", NULL, &result_ops, &r, &call), 0);
	pair_pump(&p);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_PERMISSION_DENIED);
	/* HEADERS only, then a reset: the handler never owned it, the layer frees it (ASan) */
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_call_start(p.cc, "/test.Echo/Unary", NULL, &result_ops, &r, &call), 0);
	pair_pump(&p);
	cr_assert_eq(grpc_server_conn_active_calls(p.sc), 1);
	grpc_client_call_cancel(call);
	pair_pump(&p);
	cr_assert_eq(grpc_server_conn_active_calls(p.sc), 0);
	/* same, but the connection goes away */
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_call_start(p.cc, "/test.Echo/Unary", NULL, &result_ops, &r, &call), 0);
	pair_pump(&p);
	/* a BIDI call with no callback delivered before half-close is answered OK */
	struct result q;
	memset(&q, 0, sizeof q);
	struct grpc_client_call *bidi;
	cr_assert_eq(grpc_client_call_start(p.cc, "/test.Echo/BidiQuiet", NULL, &result_ops, &q, &bidi), 0);
	cr_assert_eq(grpc_client_call_close_send(bidi), 0);
	pair_pump(&p);
	cr_assert(q.done);
	cr_assert_eq(q.status, GRPC_STATUS_OK);
	cr_assert_eq(svc.cancels, 0);
	pair_deinit(&p);
	cr_assert(r.done);
	cr_assert_eq(svc.cancels, 0);
}
