/*
 * proto_roundtrip.c — our decoder and encoder as a command-line filter, for the wire test.
 *
 *   proto_roundtrip list              full names of every message type we know
 *   proto_roundtrip methods           "<path> <input> <output> <client_stream> <server_stream>"
 *   proto_roundtrip encode <Message>  stdin = wire bytes; decode, re-encode, write to stdout
 *   proto_roundtrip dump <Message>    stdin = wire bytes; decode, print proto_text_dump lines
 *
 * A decode failure exits 2 and prints "ERR <err code> <grpc status> <message>" on stderr.
 * Input is capped at LIMIT_MESSAGE_BYTES; memory at LIMIT_REQUEST_ARENA_BYTES, like a server.
 */
#include "core/arena.h"
#include "core/limits.h"
#include "proto/decode.h"
#include "proto/registry.h"
#include "proto/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr, "usage: proto_roundtrip list | methods | encode <Message> | dump <Message>\n");
	return 1;
}

static void emit_line(void *ctx, const char *line)
{
	fprintf(ctx, "%s\n", line);
}

/* Reads stdin fully, up to cap+1 bytes (one more than allowed, so the decoder sees "too big"). */
static uint8_t *read_stdin(size_t cap, size_t *len)
{
	uint8_t *buf = malloc(cap + 1);
	if (!buf)
		return NULL;
	*len = fread(buf, 1, cap + 1, stdin);
	return buf;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "list") == 0) {
		for (size_t i = 0; i < proto_message_count(); i++)
			printf("%s\n", proto_message_at(i)->name);
		return 0;
	}
	if (strcmp(argv[1], "methods") == 0) {
		for (size_t i = 0; i < proto_method_count(); i++) {
			const struct proto_method *m = proto_method_at(i);
			printf("%s %s %s %d %d\n", m->path, m->input->name, m->output->name,
			       m->client_streaming, m->server_streaming);
		}
		return 0;
	}
	if (argc != 3 || (strcmp(argv[1], "encode") != 0 && strcmp(argv[1], "dump") != 0))
		return usage();
	const ProtobufCMessageDescriptor *desc = proto_message_find(argv[2]);
	if (!desc) {
		fprintf(stderr, "unknown message type %s\n", argv[2]);
		return 1;
	}
	size_t len;
	uint8_t *in = read_stdin(LIMIT_MESSAGE_BYTES, &len);
	if (!in)
		return 1;
	struct arena arena;
	arena_init(&arena, 64u << 10, LIMIT_REQUEST_ARENA_BYTES);
	ProtobufCMessage *msg;
	struct proto_error err;
	int rc = proto_decode(desc, in, len, &arena, NULL, &msg, &err);
	int status = 0;
	if (rc != 0) {
		fprintf(stderr, "ERR %d %d %s\n", rc, proto_error_grpc_status(rc), err.msg);
		status = 2;
	} else if (strcmp(argv[1], "encode") == 0) {
		uint8_t *out;
		size_t out_len;
		rc = proto_encode(msg, &arena, &out, &out_len);
		if (rc != 0 || fwrite(out, 1, out_len, stdout) != out_len) {
			fprintf(stderr, "encode failed: %d\n", rc);
			status = 1;
		}
	} else if (proto_text_dump(msg, emit_line, stdout) != 0) {
		fprintf(stderr, "dump failed\n");
		status = 1;
	}
	arena_deinit(&arena);
	free(in);
	return status;
}
