/* test_grpc_frame.c — the length-prefixed message parser: every split point, limits, bad flags. */
#include "core/prng.h"
#include "net/grpc_frame.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct got {
	int n;
	uint8_t data[8][64];
	size_t len[8];
	int comp[8];
};

static int on_msg(void *ctx, int compressed, const uint8_t *data, size_t len)
{
	struct got *g = ctx;
	cr_assert_lt(g->n, 8);
	cr_assert_leq(len, 64);
	memcpy(g->data[g->n], data, len);
	g->len[g->n] = len;
	g->comp[g->n] = compressed;
	g->n++;
	return 0;
}

static size_t build(uint8_t *out)
{
	/* three messages: "hello" (plain), "" (empty, compressed flag), 40 bytes */
	size_t o = 0;
	grpc_frame_header_write(out + o, 0, 5);
	o += 5;
	memcpy(out + o, "hello", 5);
	o += 5;
	grpc_frame_header_write(out + o, 1, 0);
	o += 5;
	grpc_frame_header_write(out + o, 0, 40);
	o += 5;
	for (int i = 0; i < 40; i++)
		out[o++] = (uint8_t)i;
	return o;
}

static void check(const struct got *g)
{
	cr_assert_eq(g->n, 3);
	cr_assert_eq(g->len[0], 5);
	cr_assert_eq(memcmp(g->data[0], "hello", 5), 0);
	cr_assert_eq(g->comp[0], 0);
	cr_assert_eq(g->len[1], 0);
	cr_assert_eq(g->comp[1], 1);
	cr_assert_eq(g->len[2], 40);
	for (int i = 0; i < 40; i++)
		cr_assert_eq(g->data[2][i], i);
}

Test(grpc_frame, split_at_every_boundary)
{
	uint8_t buf[128];
	size_t n = build(buf);
	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b++) {
			struct grpc_frame_parser p;
			struct got g;
			memset(&g, 0, sizeof g);
			grpc_frame_parser_init(&p, 1024);
			cr_assert_eq(grpc_frame_parser_feed(&p, buf, a, on_msg, &g), 0);
			cr_assert_eq(grpc_frame_parser_feed(&p, buf + a, b - a, on_msg, &g), 0);
			cr_assert_eq(grpc_frame_parser_feed(&p, buf + b, n - b, on_msg, &g), 0);
			check(&g);
			cr_assert(grpc_frame_parser_idle(&p));
			grpc_frame_parser_deinit(&p);
		}
	}
}

Test(grpc_frame, byte_at_a_time_and_random_chunks)
{
	uint8_t buf[128];
	size_t n = build(buf);
	uint64_t seed = prng_seed_from_time();
	printf("grpc_frame random chunks seed=%llu\n", (unsigned long long)seed);
	struct prng r;
	prng_init(&r, seed);
	for (int iter = 0; iter < 200; iter++) {
		struct grpc_frame_parser p;
		struct got g;
		memset(&g, 0, sizeof g);
		grpc_frame_parser_init(&p, 1024);
		size_t off = 0;
		while (off < n) {
			size_t k = iter == 0 ? 1 : (size_t)prng_range(&r, 0, n - off);
			cr_assert_eq(grpc_frame_parser_feed(&p, buf + off, k, on_msg, &g), 0);
			off += k;
		}
		check(&g);
		grpc_frame_parser_deinit(&p);
	}
}

Test(grpc_frame, partial_is_not_idle)
{
	uint8_t buf[128];
	size_t n = build(buf);
	struct grpc_frame_parser p;
	struct got g;
	memset(&g, 0, sizeof g);
	grpc_frame_parser_init(&p, 1024);
	cr_assert_eq(grpc_frame_parser_feed(&p, buf, n - 1, on_msg, &g), 0);
	cr_assert_not(grpc_frame_parser_idle(&p));
	cr_assert_eq(grpc_frame_parser_feed(&p, buf + n - 1, 1, on_msg, &g), 0);
	cr_assert(grpc_frame_parser_idle(&p));
	grpc_frame_parser_deinit(&p);
}

Test(grpc_frame, too_big_declared_is_rejected_before_buffering)
{
	uint8_t hdr[5];
	grpc_frame_header_write(hdr, 0, 1025);
	struct grpc_frame_parser p;
	struct got g;
	memset(&g, 0, sizeof g);
	grpc_frame_parser_init(&p, 1024);
	cr_assert_eq(grpc_frame_parser_feed(&p, hdr, 4, on_msg, &g), 0);
	cr_assert_eq(grpc_frame_parser_feed(&p, hdr + 4, 1, on_msg, &g), ERR_TOOBIG);
	cr_assert_eq(p.body_cap, 0);
	grpc_frame_parser_deinit(&p);
	/* exactly the maximum is fine */
	grpc_frame_parser_init(&p, 5);
	uint8_t m[10];
	grpc_frame_header_write(m, 0, 5);
	memcpy(m + 5, "abcde", 5);
	cr_assert_eq(grpc_frame_parser_feed(&p, m, 10, on_msg, &g), 0);
	cr_assert_eq(g.n, 1);
	grpc_frame_parser_deinit(&p);
}

Test(grpc_frame, bad_flag_and_callback_error)
{
	uint8_t m[6] = {2, 0, 0, 0, 1, 'x'};
	struct grpc_frame_parser p;
	struct got g;
	memset(&g, 0, sizeof g);
	grpc_frame_parser_init(&p, 64);
	cr_assert_eq(grpc_frame_parser_feed(&p, m, 6, on_msg, &g), ERR_PROTO);
	grpc_frame_parser_deinit(&p);
}

static int stop_cb(void *ctx, int compressed, const uint8_t *data, size_t len)
{
	(void)compressed;
	(void)data;
	(void)len;
	int *n = ctx;
	(*n)++;
	return ERR_CANCELED;
}

Test(grpc_frame, callback_error_stops)
{
	uint8_t buf[128];
	size_t n = build(buf);
	struct grpc_frame_parser p;
	int calls = 0;
	grpc_frame_parser_init(&p, 1024);
	cr_assert_eq(grpc_frame_parser_feed(&p, buf, n, stop_cb, &calls), ERR_CANCELED);
	cr_assert_eq(calls, 1);
	grpc_frame_parser_deinit(&p);
}
