/*
 * fuzz_h2_server.c — a gRPC server connection (net/grpc_server.h, sans-I/O over nghttp2) fed
 * arbitrary client bytes after a valid connection preface.
 *
 * Input: byte 0 is a control byte (low 4 bits: chunk size 1 << n, 0 = all at once; high 4 bits:
 * fake-clock step per chunk, in 50 ms units, so deadlines and rate limits expire); the rest is
 * what a client sends after the 24-byte preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (which this
 * target prepends): SETTINGS, HEADERS, DATA, ... Seeds are real client byte streams captured on
 * loopback (tests/integration/capture_seeds.py), preface removed, control byte 0 prepended.
 *
 * Handlers registered on the seeds' paths (regatta.test.v1.Echo, grpc.health.v1.Health) cover
 * every ownership pattern of grpc_server.h: answer inside the callback, answer later (parked
 * calls finished on later chunks, so output appears outside recv: the on_output hook), stream
 * several messages, never answer (left to the connection's free -> on_cancel), and finish from
 * inside on_cancel. Invariants checked: on_cancel and every other callback never come after
 * grpc_call_finish, every owned call is finished exactly once, the connection never writes
 * more than it was asked between send calls by more than one frame, and nothing leaks (ASan).
 * With fuzz_h2_server_raw.c (no preface) it covers the whole server input path.
 */
#include "core/assert.h"
#include "core/err.h"
#include "net/buf.h"
#include "net/grpc_server.h"
#include "tests/fuzz/fuzz_h2_common.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct h2fuzz_server f;
	h2fuzz_server_open(&f);
	if (h2fuzz_server_feed(&f, (const uint8_t *)PREFACE, sizeof PREFACE - 1) == 0)
		(void)h2fuzz_server_feed_chunked(&f, data[0], data + 1, size - 1);
	h2fuzz_server_close(&f);
	return 0;
}
