/*
 * fuzz_grpc_metadata.c — the gRPC header-value parsers that see peer input (net/grpc_status.h,
 * net/grpc_compress.h): grpc-timeout, grpc-status, grpc-message percent-decoding,
 * grpc-encoding and grpc-accept-encoding.
 *
 * Checks, beyond no crash: decoding never writes past the cap and always NUL-terminates;
 * encode -> decode gives the original bytes back (when nothing was cut); a parsed timeout
 * formats and parses again to a value no shorter; parsed encodings round-trip through their
 * names; an accepted-encoding set always contains identity.
 */
#include "core/assert.h"
#include "core/err.h"
#include "net/grpc_compress.h"
#include "net/grpc_status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	uint64_t ns = 0;
	if (grpc_timeout_parse(s, size, &ns) == 0) {
		char t[GRPC_TIMEOUT_STR_MAX];
		size_t tl = grpc_timeout_format(ns, t);
		ASSERT(tl > 0 && tl < GRPC_TIMEOUT_STR_MAX);
		uint64_t again = 0;
		ASSERT(grpc_timeout_parse(t, tl, &again) == 0);
		ASSERT(again >= ns); /* formatting rounds up, never shortens a deadline */
	}

	int code = -1;
	if (grpc_status_parse(s, size, &code) == 0)
		ASSERT(code >= 0 && code < GRPC_STATUS_COUNT);

	/* Decode with a small cap and a big one. */
	char small[8];
	size_t n = grpc_message_decode(s, size, small, sizeof small);
	ASSERT(n < sizeof small && small[n] == '\0');
	size_t cap = size + 1;
	char *dec = malloc(cap);
	ASSERT(dec != NULL);
	n = grpc_message_decode(s, size, dec, cap);
	ASSERT(n <= size && dec[n] == '\0');
	free(dec);

	/* Encode -> decode is the identity, binary input (NUL bytes included) too. */
	size_t ecap = size * 3 + 1;
	char *enc = malloc(ecap);
	ASSERT(enc != NULL);
	size_t el = grpc_message_encode(s, size, enc, ecap);
	ASSERT(el < ecap && enc[el] == '\0');
	for (size_t i = 0; i < el; i++)
		ASSERT(enc[i] >= 0x20 && enc[i] <= 0x7e);
	char *back = malloc(size + 1);
	ASSERT(back != NULL);
	size_t bl = grpc_message_decode(enc, el, back, size + 1);
	ASSERT(bl == size && (size == 0 || memcmp(back, s, size) == 0));
	free(back);
	free(enc);

	enum grpc_encoding e;
	if (grpc_encoding_parse(s, size, &e) == 0) {
		ASSERT((int)e >= 0 && e < GRPC_ENCODING_COUNT);
		const char *name = grpc_encoding_name(e);
		ASSERT(strlen(name) == size && memcmp(name, s, size) == 0);
	}
	unsigned set = grpc_accept_encoding_parse(s, size);
	ASSERT(set & (1u << GRPC_ENCODING_IDENTITY));
	ASSERT((set & ~GRPC_ENCODINGS_ALL) == 0);
	return 0;
}
