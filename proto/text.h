/*
 * text.h — a field-by-field text form of a decoded message, driven by its descriptor.
 *
 * One line per present field, "<path> = <value>", for debugging output and for comparing our
 * decoder against an independent protobuf implementation (the wire test builds the same
 * lines from Python's descriptors). Paths: "kvs[0].key", map entries "tables{<key>}.raftIndex".
 * Values: integers and enums in decimal, bools true/false, strings and bytes as x"<hex>",
 * float/double as the hex of their IEEE bits, a present message as "{}" followed by its own
 * fields. Presence follows proto3: implicit-presence scalars only when not zero/empty, oneof
 * members and messages whenever set. Unknown fields print as "<path>?unknown = <count>".
 */
#ifndef PROTO_TEXT_H
#define PROTO_TEXT_H

#include "core/err.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Receives one NUL-terminated line (no newline). */
typedef void proto_text_emit_fn(void *ctx, const char *line);

/*
 * Emit the lines of `msg` in descriptor order. Returns 0, ERR_NOMEM, or ERR_TOOBIG when a line would not
 * fit the internal buffer (paths nested absurdly deep or values larger than 64 KiB).
 */
int proto_text_dump(const ProtobufCMessage *msg, proto_text_emit_fn *emit, void *ctx) WUR;

#endif
