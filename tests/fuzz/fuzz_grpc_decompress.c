/*
 * fuzz_grpc_decompress.c — the gRPC message decompressors (net/grpc_compress.h: gzip, deflate,
 * snappy framing) fed arbitrary bytes, and the compress -> decompress round trip.
 *
 * Input: byte 0 picks the encoding (b % 3: gzip, deflate, snappy) and the output cap (bit 2:
 * 1 KiB, else 1 MiB: exercises the bomb guard ERR_TOOBIG); the rest is the compressed message.
 * Checks: decompression never writes more than the cap and fails only with ERR_TOOBIG,
 * ERR_CORRUPT or ERR_NOMEM; compressing the same bytes and decompressing gives them back.
 */
#include "core/assert.h"
#include "core/err.h"
#include "net/buf.h"
#include "net/grpc_compress.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	static const enum grpc_encoding encs[] = {GRPC_ENCODING_GZIP, GRPC_ENCODING_DEFLATE,
						  GRPC_ENCODING_SNAPPY};
	enum grpc_encoding e = encs[data[0] % 3];
	size_t cap = (data[0] & 4) ? 1024 : (1u << 20);
	const uint8_t *in = data + 1;
	size_t len = size - 1;

	struct net_buf out;
	net_buf_init(&out);
	int err = grpc_decompress(e, in, len, cap, &out);
	ASSERT(err == 0 || err == ERR_TOOBIG || err == ERR_CORRUPT || err == ERR_NOMEM);
	if (err == 0)
		ASSERT(net_buf_size(&out) <= cap);
	net_buf_deinit(&out);

	/* Round trip of the raw bytes. */
	struct net_buf z, back;
	net_buf_init(&z);
	net_buf_init(&back);
	err = grpc_compress(e, in, len, &z);
	ASSERT(err == 0);
	err = grpc_decompress(e, net_buf_head(&z), net_buf_size(&z), len, &back);
	ASSERT(err == 0);
	ASSERT(net_buf_size(&back) == len);
	ASSERT(len == 0 || memcmp(net_buf_head(&back), in, len) == 0);
	net_buf_deinit(&z);
	net_buf_deinit(&back);
	return 0;
}
