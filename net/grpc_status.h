/*
 * grpc_status.h — gRPC status codes, the grpc-message percent-encoding, grpc-timeout, and the
 * mapping from the project's ERR_* codes to gRPC codes.
 *
 * Pure functions, no allocation; safe from any thread.
 *
 * grpc-message (gRPC over HTTP/2 spec): bytes outside 0x20..0x7E and '%' itself are sent as
 * "%XX" (upper-case hex); the decoder turns "%XX" back into the byte and keeps malformed escapes
 * as they are (the spec says a receiver must not fail on them).
 *
 * grpc-timeout: 1..8 ASCII digits followed by one unit: H (hours), M (minutes), S (seconds),
 * m (milliseconds), u (microseconds), n (nanoseconds).
 */
#ifndef NET_GRPC_STATUS_H
#define NET_GRPC_STATUS_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

enum grpc_status_code {
	GRPC_STATUS_OK = 0,
	GRPC_STATUS_CANCELLED = 1,
	GRPC_STATUS_UNKNOWN = 2,
	GRPC_STATUS_INVALID_ARGUMENT = 3,
	GRPC_STATUS_DEADLINE_EXCEEDED = 4,
	GRPC_STATUS_NOT_FOUND = 5,
	GRPC_STATUS_ALREADY_EXISTS = 6,
	GRPC_STATUS_PERMISSION_DENIED = 7,
	GRPC_STATUS_RESOURCE_EXHAUSTED = 8,
	GRPC_STATUS_FAILED_PRECONDITION = 9,
	GRPC_STATUS_ABORTED = 10,
	GRPC_STATUS_OUT_OF_RANGE = 11,
	GRPC_STATUS_UNIMPLEMENTED = 12,
	GRPC_STATUS_INTERNAL = 13,
	GRPC_STATUS_UNAVAILABLE = 14,
	GRPC_STATUS_DATA_LOSS = 15,
	GRPC_STATUS_UNAUTHENTICATED = 16,
	GRPC_STATUS_COUNT = 17,
};

/* "OK", "CANCELLED", ... ; "UNKNOWN_CODE" for out-of-range values. Never NULL. */
const char *grpc_status_name(int code);

/* Parse the decimal grpc-status header value. Out-of-range numbers map to UNKNOWN (as the spec
 * asks of clients). Returns ERR_PROTO when the value is not a decimal number. */
int grpc_status_parse(const char *s, size_t len, int *code) WUR;

/* The gRPC code for an ERR_* code (0 -> OK). Used when a handler answers with an internal error:
 * ERR_NOTFOUND -> NOT_FOUND, ERR_INVAL -> INVALID_ARGUMENT, ERR_AGAIN/ERR_BUSY/ERR_NOTLEADER/
 * ERR_CLOSED/ERR_CONN/ERR_STOPPED -> UNAVAILABLE, ERR_TIMEOUT -> DEADLINE_EXCEEDED,
 * ERR_CANCELED -> CANCELLED, ERR_TOOBIG/ERR_NOMEM -> RESOURCE_EXHAUSTED, ERR_PERM ->
 * PERMISSION_DENIED, ERR_UNSUPPORTED -> UNIMPLEMENTED, ERR_RANGE -> OUT_OF_RANGE,
 * ERR_EXISTS -> ALREADY_EXISTS, ERR_CORRUPT -> DATA_LOSS, others -> INTERNAL. */
int grpc_status_from_err(int err);

/* The ERR_* code a client-side caller sees for a gRPC status (OK -> 0). */
int grpc_status_to_err(int code);

/* Percent-encode `msg` for the grpc-message header into out (NUL-terminated). Returns the
 * encoded length (without NUL). If out is too small the message is cut at an escape boundary
 * (never mid-escape). cap must be >= 1. */
size_t grpc_message_encode(const char *msg, size_t len, char *out, size_t cap);

/* Percent-decode a grpc-message value into out (NUL-terminated, cut to cap-1 bytes).
 * Returns the decoded length. cap must be >= 1. */
size_t grpc_message_decode(const char *s, size_t len, char *out, size_t cap);

/* Longest grpc-timeout text plus NUL ("99999999H"). */
#define GRPC_TIMEOUT_STR_MAX 10

/* Parse a grpc-timeout value into nanoseconds (saturating at UINT64_MAX). ERR_PROTO when
 * malformed (empty, more than 8 digits, non-digit, unknown unit). */
int grpc_timeout_parse(const char *s, size_t len, uint64_t *out_ns) WUR;

/* Format a timeout in the finest unit whose value fits in 8 digits (rounding up so a deadline
 * is never shortened). Returns the length written (without NUL). */
size_t grpc_timeout_format(uint64_t ns, char out[GRPC_TIMEOUT_STR_MAX]);

#endif
