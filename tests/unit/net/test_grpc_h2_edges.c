/* test_grpc_h2_edges.c — a raw nghttp2 client against the gRPC server: request validation
 * (method, content-type, grpc-timeout, grpc-encoding), ping floods vs keepalive pings, and
 * garbage instead of a preface. */
#include "helper_net.h"

#include <criterion/criterion.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>

static struct svc svc;

struct raw {
	nghttp2_session *s;
	struct pair p; /* only the server half is used */
	char status[8], grpc_status[8], grpc_message[256];
	int closed;
	uint32_t goaway_code;
	char goaway_data[64];
	int goaway;
	int ping_acks;
};

static int raw_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
		      const uint8_t *v, size_t vl, uint8_t flags, void *ud)
{
	(void)s;
	(void)f;
	(void)flags;
	struct raw *r = ud;
	char *dst = NULL;
	size_t cap = 0;
	if (nl == 7 && !memcmp(n, ":status", 7)) {
		dst = r->status;
		cap = sizeof r->status;
	} else if (nl == 11 && !memcmp(n, "grpc-status", 11)) {
		dst = r->grpc_status;
		cap = sizeof r->grpc_status;
	} else if (nl == 12 && !memcmp(n, "grpc-message", 12)) {
		dst = r->grpc_message;
		cap = sizeof r->grpc_message;
	}
	if (dst)
		snprintf(dst, cap, "%.*s", (int)vl, (const char *)v);
	return 0;
}

static int raw_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	(void)s;
	(void)id;
	(void)code;
	((struct raw *)ud)->closed++;
	return 0;
}

static int raw_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	(void)s;
	struct raw *r = ud;
	if (f->hd.type == NGHTTP2_GOAWAY) {
		r->goaway = 1;
		r->goaway_code = f->goaway.error_code;
		snprintf(r->goaway_data, sizeof r->goaway_data, "%.*s", (int)f->goaway.opaque_data_len,
			 (const char *)f->goaway.opaque_data);
	}
	if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK))
		r->ping_acks++;
	return 0;
}

static void raw_init(struct raw *r)
{
	memset(r, 0, sizeof *r);
	pair_init(&r->p, NULL, NULL, &svc);
	nghttp2_session_callbacks *cb;
	cr_assert_eq(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_on_header_callback(cb, raw_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, raw_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, raw_frame);
	cr_assert_eq(nghttp2_session_client_new(&r->s, cb, r), 0);
	nghttp2_session_callbacks_del(cb);
	cr_assert_eq(nghttp2_submit_settings(r->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static void raw_pump(struct raw *r)
{
	for (int i = 0; i < 1000; i++) {
		int moved = 0;
		const uint8_t *d;
		ssize_t n;
		while ((n = nghttp2_session_mem_send(r->s, &d)) > 0) {
			if (grpc_server_conn_recv(r->p.sc, d, (size_t)n))
				r->p.server_err = 1;
			moved = 1;
		}
		struct net_buf out;
		net_buf_init(&out);
		cr_assert_eq(grpc_server_conn_send(r->p.sc, &out, 1u << 20), 0);
		if (net_buf_size(&out)) {
			cr_assert_geq(nghttp2_session_mem_recv(r->s, net_buf_head(&out), net_buf_size(&out)), 0);
			moved = 1;
		}
		net_buf_deinit(&out);
		if (!moved)
			return;
	}
	cr_assert_fail("raw pump did not settle");
}

static void raw_deinit(struct raw *r)
{
	nghttp2_session_del(r->s);
	pair_deinit(&r->p);
}

#define NV(n, v) {(uint8_t *)(uintptr_t)(n), (uint8_t *)(uintptr_t)(v), sizeof(n) - 1, sizeof(v) - 1, 0}

static void request(struct raw *r, const nghttp2_nv *nv, size_t n)
{
	r->status[0] = r->grpc_status[0] = r->grpc_message[0] = 0;
	cr_assert_gt(nghttp2_submit_request(r->s, NULL, nv, n, NULL, NULL), 0);
	raw_pump(r);
}

Test(grpc_h2_edges, request_validation)
{
	struct raw r;
	raw_init(&r);
	nghttp2_nv bad_ct[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/test.Echo/Unary"),
			       NV(":authority", "x"), NV("content-type", "application/json")};
	request(&r, bad_ct, 5);
	cr_assert_str_eq(r.status, "415");
	cr_assert_str_eq(r.grpc_status, "13");
	nghttp2_nv no_ct[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/test.Echo/Unary"),
			      NV(":authority", "x")};
	request(&r, no_ct, 4);
	cr_assert_str_eq(r.status, "415");
	nghttp2_nv get[] = {NV(":method", "GET"), NV(":scheme", "http"), NV(":path", "/test.Echo/Unary"),
			    NV(":authority", "x"), NV("content-type", "application/grpc")};
	request(&r, get, 5);
	cr_assert_str_eq(r.status, "405");
	nghttp2_nv tmo[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/test.Echo/Unary"),
			    NV(":authority", "x"), NV("content-type", "application/grpc+proto"),
			    NV("grpc-timeout", "12345678901S")};
	request(&r, tmo, 6);
	cr_assert_str_eq(r.status, "400");
	cr_assert_str_eq(r.grpc_status, "13");
	nghttp2_nv enc[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/test.Echo/Unary"),
			    NV(":authority", "x"), NV("content-type", "application/grpc"),
			    NV("grpc-encoding", "br")};
	request(&r, enc, 6);
	cr_assert_str_eq(r.status, "200");
	cr_assert_str_eq(r.grpc_status, "12");
	cr_assert(strstr(r.grpc_message, "br") != NULL, "%s", r.grpc_message);
	nghttp2_nv malformed[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/nopath"),
				  NV(":authority", "x"), NV("content-type", "application/grpc")};
	request(&r, malformed, 5);
	cr_assert_str_eq(r.grpc_status, "12");
	/* headers-only request with END_STREAM on a unary method: cardinality */
	nghttp2_nv ok[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/test.Echo/Unary"),
			   NV(":authority", "x"), NV("content-type", "application/grpc"), NV("te", "trailers")};
	request(&r, ok, 6);
	cr_assert_str_eq(r.grpc_status, "12");
	cr_assert_eq(r.closed, 7);
	cr_assert_eq(r.goaway, 0);
	raw_deinit(&r);
}

Test(grpc_h2_edges, keepalive_pings_are_fine_floods_are_not)
{
	struct raw r;
	raw_init(&r);
	/* a Go follower's keepalive: one ping every 10 s, for a long time */
	for (int i = 0; i < 2000; i++) {
		cr_assert_eq(nghttp2_submit_ping(r.s, NGHTTP2_FLAG_NONE, NULL), 0);
		raw_pump(&r);
		r.p.clock.now_ns += 10ull * 1000000000ull;
	}
	cr_assert_eq(r.goaway, 0);
	cr_assert_eq(r.ping_acks, 2000);
	/* a flood: thousands of pings at once */
	for (int i = 0; i < 5000 && !r.goaway; i++) {
		cr_assert_eq(nghttp2_submit_ping(r.s, NGHTTP2_FLAG_NONE, NULL), 0);
		if (i % 50 == 0)
			raw_pump(&r);
	}
	raw_pump(&r);
	cr_assert(r.goaway);
	cr_assert_eq(r.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	cr_assert_str_eq(r.goaway_data, "too_many_pings");
	cr_assert(grpc_server_conn_done(r.p.sc));
	raw_deinit(&r);
}

Test(grpc_h2_edges, garbage_preface_is_fatal)
{
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	const char *junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	cr_assert_eq(grpc_server_conn_recv(p.sc, (const uint8_t *)junk, strlen(junk)), ERR_PROTO);
	struct net_buf out;
	net_buf_init(&out);
	cr_assert_eq(grpc_server_conn_send(p.sc, &out, 1u << 20), 0);
	cr_assert(grpc_server_conn_done(p.sc));
	net_buf_deinit(&out);
	pair_deinit(&p);
}

Test(grpc_h2_edges, rapid_reset_gets_goaway)
{
	struct raw r;
	raw_init(&r);
	nghttp2_nv ok[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/test.Echo/Hang"),
			   NV(":authority", "x"), NV("content-type", "application/grpc")};
	/* open and reset streams as fast as possible: nghttp2's token bucket (1000, 33/s) trips */
	for (int batch = 0; batch < 30 && !r.goaway; batch++) {
		int32_t ids[100];
		for (int i = 0; i < 100; i++) {
			ids[i] = nghttp2_submit_request(r.s, NULL, ok, 5, NULL, NULL);
			cr_assert_gt(ids[i], 0);
		}
		raw_pump(&r); /* the HEADERS go out: the streams exist on the server */
		for (int i = 0; i < 100; i++)
			cr_assert_eq(nghttp2_submit_rst_stream(r.s, NGHTTP2_FLAG_NONE, ids[i], NGHTTP2_CANCEL), 0);
		raw_pump(&r);
	}
	raw_pump(&r);
	cr_assert(r.goaway);
	cr_assert_eq(svc.nheld, 0); /* no request ever reached the handler with a message */
	raw_deinit(&r);
}

Test(grpc_h2_edges, oversized_header_list)
{
	struct raw r;
	raw_init(&r);
	static char big[20000];
	memset(big, 'a', sizeof big - 1);
	nghttp2_nv nv[] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", "/test.Echo/Unary"),
			   NV(":authority", "x"), NV("content-type", "application/grpc"),
			   {(uint8_t *)(uintptr_t)"x-big", (uint8_t *)big, 5, sizeof big - 1, 0}};
	request(&r, nv, 6);
	/* either our RESOURCE_EXHAUSTED answer or nghttp2's stream reset: never a handler call */
	cr_assert(r.closed >= 1);
	if (r.grpc_status[0])
		cr_assert_str_eq(r.grpc_status, "8");
	raw_deinit(&r);
}
