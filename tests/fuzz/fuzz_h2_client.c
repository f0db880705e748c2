/*
 * fuzz_h2_client.c — a gRPC client connection (net/grpc_client.h, sans-I/O over nghttp2) with
 * four calls in flight (Unary, ServerStream, BidiStream, ClientStream on streams 1, 3, 5, 7),
 * fed arbitrary server bytes.
 *
 * Input: byte 0 is a control byte (low 4 bits: chunk size 1 << n, 0 = all at once; high 4 bits:
 * fake-clock step per chunk in 50 ms units, so deadlines and keepalive expire); the rest is what
 * the server sends (SETTINGS, HEADERS, DATA, trailers, RST_STREAM, GOAWAY, PING...). Seeds are
 * real servers' answers to those four calls captured on loopback
 * (tests/integration/capture_seeds.py: python3-grpcio's server, and ours), control byte 0
 * prepended. Checks (fuzz_h2_common.h): every call gets exactly one on_done with a valid status
 * and no callback after it; nothing leaks.
 */
#include "tests/fuzz/fuzz_h2_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct h2fuzz_client f;
	h2fuzz_client_open(&f);
	h2fuzz_client_feed_chunked(&f, data[0], data + 1, size - 1);
	h2fuzz_client_close(&f);
	return 0;
}
