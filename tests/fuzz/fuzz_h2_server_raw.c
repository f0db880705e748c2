/*
 * fuzz_h2_server_raw.c — a gRPC server connection (net/grpc_server.h) fed arbitrary bytes from
 * the very first byte: the connection preface check, then everything fuzz_h2_server.c covers.
 * The input is the raw client byte stream, fed at once (seeds: whole captured client streams,
 * preface included, from tests/integration/capture_seeds.py). Harness and invariants:
 * fuzz_h2_common.h.
 */
#include "tests/fuzz/fuzz_h2_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h2fuzz_server f;
	h2fuzz_server_open(&f);
	if (size > 0)
		(void)h2fuzz_server_feed(&f, data, size);
	h2fuzz_server_between(&f, H2FUZZ_STEP_NS);
	h2fuzz_server_close(&f);
	return 0;
}
