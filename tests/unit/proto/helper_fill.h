/*
 * helper_fill.h — builds protobuf-c messages with every field set, driven by the descriptor,
 * so that tests can round-trip every message type without hand-writing each one.
 */
#ifndef TESTS_UNIT_PROTO_HELPER_FILL_H
#define TESTS_UNIT_PROTO_HELPER_FILL_H

#include "core/arena.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#define FILL_DEPTH_MAX 4 /* recursive types (Struct, Command.sequence) stop here */

/*
 * A message of type `d` in `a`: implicit-presence scalars non-zero, repeated fields two
 * elements, messages present down to FILL_DEPTH_MAX levels, and for each oneof the member
 * number (variant % members) set. Values differ from field to field. NULL when `a` is full.
 */
ProtobufCMessage *fill_message(const ProtobufCMessageDescriptor *d, struct arena *a,
			       unsigned variant);

/* Variants 0..FILL_VARIANTS-1 together set every member of every oneof at least once: the
 * largest oneof we have is google.protobuf.Value.kind with 6 members. */
#define FILL_VARIANTS 6u

/* All lines of proto_text_dump(m) joined with '\n', in malloc'd memory (caller frees). */
char *fill_dump(const ProtobufCMessage *m);

#endif
