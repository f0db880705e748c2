/* fuzz_proto_decode.c — proto_decode over the API's message types (first input byte picks
 * the type, the rest is the message). Must never crash, never exceed its arena, and every
 * accepted message must re-encode to bytes that decode to the same encoding again (a fixed
 * point). Input the structural walk accepts must never be refused by protobuf-c afterwards
 * except for memory (the walk must check everything the unpacker relies on). */
#include "core/arena.h"
#include "core/limits.h"
#include "proto/decode.h"
#include "proto/registry.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints the input in hex (up to 4 KiB) so a failure can be turned into a unit test. */
static _Noreturn void fail(const char *what, const char *name, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_proto_decode: %s: %s\ninput:", name, what);
	for (size_t i = 0; i < size && i < 4096; i++)
		fprintf(stderr, " %02x", data[i]);
	fprintf(stderr, "\n");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static struct arena arena;
	static int ready;
	if (!ready) {
		/* small cap so that memory blow-ups show up as ERR_TOOBIG quickly */
		arena_init(&arena, 16u << 10, 1u << 20);
		ready = 1;
	}
	arena_reset(&arena);
	const ProtobufCMessageDescriptor *d = proto_message_at(data[0] % proto_message_count());
	ProtobufCMessage *m;
	struct proto_error err;
	int rc = proto_decode(d, data + 1, size - 1, &arena, NULL, &m, &err);
	if (rc != 0) {
		if ((rc != ERR_INVAL && rc != ERR_TOOBIG) || err.code != rc || err.msg[0] == 0)
			fail("bad error report", d->name, data, size);
		if (strstr(err.msg, "rejected by the decoder"))
			fail("walk accepted what protobuf-c refused", d->name, data, size);
		return 0;
	}
	uint8_t *enc1, *enc2;
	size_t len1, len2;
	if (proto_encode(m, &arena, &enc1, &len1) != 0)
		return 0; /* arena full: fine */
	ProtobufCMessage *m2;
	rc = proto_decode(d, enc1, len1, &arena, NULL, &m2, &err);
	if (rc == ERR_TOOBIG)
		return 0;
	if (rc != 0)
		fail(err.msg, d->name, data, size);
	if (proto_encode(m2, &arena, &enc2, &len2) != 0)
		return 0;
	if (len1 != len2 || memcmp(enc1, enc2, len1) != 0)
		fail("re-encoding is not a fixed point", d->name, data, size);
	if (arena.used_bytes > arena.max_bytes)
		fail("arena over its cap", d->name, data, size);
	return 0;
}
