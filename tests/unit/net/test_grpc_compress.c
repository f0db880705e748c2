/* test_grpc_compress.c — round trips, the snappy framing format byte by byte, corrupt inputs
 * (bad CRC, truncated chunk, missing stream identifier), and decompression bombs. */
#include "core/prng.h"
#include "net/grpc_compress.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const enum grpc_encoding codecs[] = {GRPC_ENCODING_GZIP, GRPC_ENCODING_DEFLATE,
					    GRPC_ENCODING_SNAPPY};

Test(grpc_compress, names_and_accept)
{
	enum grpc_encoding e;
	cr_assert_eq(grpc_encoding_parse("snappy", 6, &e), 0);
	cr_assert_eq(e, GRPC_ENCODING_SNAPPY);
	cr_assert_eq(grpc_encoding_parse("gzip", 4, &e), 0);
	cr_assert_eq(grpc_encoding_parse("identity", 8, &e), 0);
	cr_assert_eq(e, GRPC_ENCODING_IDENTITY);
	cr_assert_eq(grpc_encoding_parse("br", 2, &e), ERR_UNSUPPORTED);
	cr_assert_eq(grpc_encoding_parse("GZIP", 4, &e), ERR_UNSUPPORTED);
	unsigned set = grpc_accept_encoding_parse("gzip, br ,snappy", 16);
	cr_assert_eq(set, (1u << GRPC_ENCODING_IDENTITY) | (1u << GRPC_ENCODING_GZIP) |
				  (1u << GRPC_ENCODING_SNAPPY));
	cr_assert_eq(grpc_accept_encoding_parse("", 0), 1u);
}

Test(grpc_compress, crc32c_check_value)
{
	cr_assert_eq(grpc_crc32c(0, (const uint8_t *)"123456789", 9), 0xe3069283u);
	/* incremental == one shot */
	uint32_t a = grpc_crc32c(0, (const uint8_t *)"12345", 5);
	cr_assert_eq(grpc_crc32c(a, (const uint8_t *)"6789", 4), 0xe3069283u);
}

Test(grpc_compress, round_trips)
{
	uint64_t seed = prng_seed_from_time();
	printf("grpc_compress round_trips seed=%llu\n", (unsigned long long)seed);
	struct prng r;
	prng_init(&r, seed);
	const size_t sizes[] = {0, 1, 100, 65535, 65536, 65537, 200000, 1u << 20};
	uint8_t *in = malloc(1u << 20);
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		size_t n = sizes[s];
		/* half compressible text, half random */
		for (size_t i = 0; i < n; i++)
			in[i] = i < n / 2 ? (uint8_t)("abcabcabd"[i % 9]) : (uint8_t)prng_next(&r);
		for (size_t c = 0; c < 3; c++) {
			struct net_buf z, back;
			net_buf_init(&z);
			net_buf_init(&back);
			cr_assert_eq(grpc_compress(codecs[c], in, n, &z), 0);
			cr_assert_eq(grpc_decompress(codecs[c], net_buf_head(&z), net_buf_size(&z), n, &back), 0,
				     "codec %d size %zu", codecs[c], n);
			cr_assert_eq(net_buf_size(&back), n);
			cr_assert(n == 0 || memcmp(net_buf_head(&back), in, n) == 0);
			/* one byte less of budget fails with TOOBIG (except empty) */
			if (n > 0) {
				net_buf_clear(&back);
				cr_assert_eq(grpc_decompress(codecs[c], net_buf_head(&z), net_buf_size(&z), n - 1,
							     &back),
					     ERR_TOOBIG);
				cr_assert_eq(net_buf_size(&back), 0);
			}
			net_buf_deinit(&z);
			net_buf_deinit(&back);
		}
	}
	free(in);
}

Test(grpc_compress, snappy_framing_bytes)
{
	/* "hello" does not compress: stream identifier + one uncompressed chunk with the masked
	 * CRC-32C, exactly as golang/snappy's writer emits. */
	struct net_buf z;
	net_buf_init(&z);
	cr_assert_eq(grpc_compress(GRPC_ENCODING_SNAPPY, (const uint8_t *)"hello", 5, &z), 0);
	const uint8_t *p = net_buf_head(&z);
	cr_assert_eq(net_buf_size(&z), 10 + 4 + 4 + 5);
	const uint8_t id[10] = {0xff, 6, 0, 0, 's', 'N', 'a', 'P', 'p', 'Y'};
	cr_assert_eq(memcmp(p, id, 10), 0);
	cr_assert_eq(p[10], 0x01);
	cr_assert_eq(p[11], 9);
	cr_assert_eq(p[12], 0);
	cr_assert_eq(p[13], 0);
	uint32_t crc = grpc_snappy_mask_crc(grpc_crc32c(0, (const uint8_t *)"hello", 5));
	cr_assert_eq((uint32_t)p[14] | (uint32_t)p[15] << 8 | (uint32_t)p[16] << 16 | (uint32_t)p[17] << 24, crc);
	cr_assert_eq(memcmp(p + 18, "hello", 5), 0);
	/* Empty input: golang/snappy writes nothing, and nothing decodes to empty. */
	struct net_buf e, back;
	net_buf_init(&e);
	net_buf_init(&back);
	cr_assert_eq(grpc_compress(GRPC_ENCODING_SNAPPY, NULL, 0, &e), 0);
	cr_assert_eq(net_buf_size(&e), 0);
	cr_assert_eq(grpc_decompress(GRPC_ENCODING_SNAPPY, NULL, 0, 10, &back), 0);
	cr_assert_eq(net_buf_size(&back), 0);
	/* padding and skippable chunks are skipped; a repeated stream identifier is fine */
	uint8_t s[64];
	size_t n = 0;
	memcpy(s, id, 10);
	n = 10;
	s[n++] = 0xfe; s[n++] = 2; s[n++] = 0; s[n++] = 0; s[n++] = 0; s[n++] = 0;
	s[n++] = 0x80; s[n++] = 1; s[n++] = 0; s[n++] = 0; s[n++] = 7;
	memcpy(s + n, id, 10);
	n += 10;
	memcpy(s + n, p + 10, 13);
	n += 13;
	cr_assert_eq(grpc_decompress(GRPC_ENCODING_SNAPPY, s, n, 100, &back), 0);
	cr_assert_eq(net_buf_size(&back), 5);
	cr_assert_eq(memcmp(net_buf_head(&back), "hello", 5), 0);
	net_buf_deinit(&z);
	net_buf_deinit(&e);
	net_buf_deinit(&back);
}

static int snappy_dec(const uint8_t *p, size_t n)
{
	struct net_buf out;
	net_buf_init(&out);
	int rc = grpc_decompress(GRPC_ENCODING_SNAPPY, p, n, 1u << 20, &out);
	net_buf_deinit(&out);
	return rc;
}

Test(grpc_compress, snappy_corrupt_inputs)
{
	uint8_t text[3000];
	for (size_t i = 0; i < sizeof text; i++)
		text[i] = (uint8_t)"the quick brown fox "[i % 20];
	struct net_buf z;
	net_buf_init(&z);
	cr_assert_eq(grpc_compress(GRPC_ENCODING_SNAPPY, text, sizeof text, &z), 0);
	uint8_t *p = net_buf_head(&z);
	size_t n = net_buf_size(&z);
	cr_assert_eq(p[10], 0x00, "text should compress");
	cr_assert_eq(snappy_dec(p, n), 0);
	/* bad CRC */
	p[14] ^= 1;
	cr_assert_eq(snappy_dec(p, n), ERR_CORRUPT);
	p[14] ^= 1;
	/* truncated at every point after the identifier */
	for (size_t k = 11; k < n; k++)
		cr_assert_eq(snappy_dec(p, k), ERR_CORRUPT, "cut at %zu", k);
	/* no stream identifier */
	cr_assert_eq(snappy_dec(p + 10, n - 10), ERR_CORRUPT);
	/* reserved unskippable chunk type */
	uint8_t bad[14];
	memcpy(bad, p, 10);
	bad[10] = 0x02; bad[11] = 0; bad[12] = 0; bad[13] = 0;
	cr_assert_eq(snappy_dec(bad, 14), ERR_CORRUPT);
	/* damaged compressed body */
	p[20] ^= 0xff;
	cr_assert_eq(snappy_dec(p, n), ERR_CORRUPT);
	net_buf_deinit(&z);
}

Test(grpc_compress, bombs_are_capped)
{
	/* 64 MiB of zeros compresses to a few KiB; with a 4 MiB budget decoding must stop. */
	size_t big = 64u << 20;
	uint8_t *zeros = calloc(1, big);
	cr_assert_not_null(zeros);
	for (size_t c = 0; c < 3; c++) {
		struct net_buf z, out;
		net_buf_init(&z);
		net_buf_init(&out);
		cr_assert_eq(grpc_compress(codecs[c], zeros, big, &z), 0);
		cr_assert_lt(net_buf_size(&z), big / 8);
		cr_assert_eq(grpc_decompress(codecs[c], net_buf_head(&z), net_buf_size(&z), 4u << 20, &out),
			     ERR_TOOBIG);
		cr_assert_leq(out.cap, (4u << 20) * 2 + 65536 * 2);
		net_buf_deinit(&z);
		net_buf_deinit(&out);
	}
	free(zeros);
}

Test(grpc_compress, zlib_corrupt)
{
	const char *msg = "some message that is long enough to compress a little bit bit bit";
	for (size_t c = 0; c < 2; c++) {
		struct net_buf z, out;
		net_buf_init(&z);
		net_buf_init(&out);
		cr_assert_eq(grpc_compress(codecs[c], (const uint8_t *)msg, strlen(msg), &z), 0);
		size_t n = net_buf_size(&z);
		for (size_t k = 0; k < n; k++) {
			net_buf_clear(&out);
			cr_assert_neq(grpc_decompress(codecs[c], net_buf_head(&z), k, 1024, &out), 0);
		}
		net_buf_head(&z)[n - 1] ^= 0x55; /* checksum trailer */
		cr_assert_eq(grpc_decompress(codecs[c], net_buf_head(&z), n, 1024, &out), ERR_CORRUPT);
		net_buf_deinit(&z);
		net_buf_deinit(&out);
	}
}
