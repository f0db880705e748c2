/*
 * grpc_status.c — status names, grpc-message escaping, grpc-timeout, ERR_* mapping
 * (see grpc_status.h). No allocation; every output is bounded by the caller's capacity.
 */
#include "net/grpc_status.h"

#include "core/assert.h"

#include <string.h>

static const char *const status_names[GRPC_STATUS_COUNT] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *grpc_status_name(int code)
{
	if (code < 0 || code >= GRPC_STATUS_COUNT)
		return "UNKNOWN_CODE";
	return status_names[code];
}

int grpc_status_parse(const char *s, size_t len, int *code)
{
	ASSERT(code != NULL);
	if (len == 0 || len > 10)
		return ERR_PROTO;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ERR_PROTO;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*code = v < GRPC_STATUS_COUNT ? (int)v : GRPC_STATUS_UNKNOWN;
	return 0;
}

int grpc_status_from_err(int err)
{
	ASSERT(err <= 0);
	switch (err) {
	case ERR_OK: return GRPC_STATUS_OK;
	case ERR_NOTFOUND: return GRPC_STATUS_NOT_FOUND;
	case ERR_INVAL: return GRPC_STATUS_INVALID_ARGUMENT;
	case ERR_AGAIN:
	case ERR_BUSY:
	case ERR_NOTLEADER:
	case ERR_CLOSED:
	case ERR_CONN:
	case ERR_STOPPED: return GRPC_STATUS_UNAVAILABLE;
	case ERR_TIMEOUT: return GRPC_STATUS_DEADLINE_EXCEEDED;
	case ERR_CANCELED: return GRPC_STATUS_CANCELLED;
	case ERR_TOOBIG:
	case ERR_NOMEM: return GRPC_STATUS_RESOURCE_EXHAUSTED;
	case ERR_PERM: return GRPC_STATUS_PERMISSION_DENIED;
	case ERR_UNSUPPORTED: return GRPC_STATUS_UNIMPLEMENTED;
	case ERR_RANGE: return GRPC_STATUS_OUT_OF_RANGE;
	case ERR_EXISTS: return GRPC_STATUS_ALREADY_EXISTS;
	case ERR_CORRUPT: return GRPC_STATUS_DATA_LOSS;
	default: return GRPC_STATUS_INTERNAL;
	}
}

int grpc_status_to_err(int code)
{
	switch (code) {
	case GRPC_STATUS_OK: return 0;
	case GRPC_STATUS_CANCELLED: return ERR_CANCELED;
	case GRPC_STATUS_INVALID_ARGUMENT: return ERR_INVAL;
	case GRPC_STATUS_DEADLINE_EXCEEDED: return ERR_TIMEOUT;
	case GRPC_STATUS_NOT_FOUND: return ERR_NOTFOUND;
	case GRPC_STATUS_ALREADY_EXISTS: return ERR_EXISTS;
	case GRPC_STATUS_PERMISSION_DENIED:
	case GRPC_STATUS_UNAUTHENTICATED: return ERR_PERM;
	case GRPC_STATUS_RESOURCE_EXHAUSTED: return ERR_TOOBIG;
	case GRPC_STATUS_OUT_OF_RANGE: return ERR_RANGE;
	case GRPC_STATUS_UNIMPLEMENTED: return ERR_UNSUPPORTED;
	case GRPC_STATUS_UNAVAILABLE: return ERR_CLOSED;
	case GRPC_STATUS_DATA_LOSS: return ERR_CORRUPT;
	default: return ERR_PROTO;
	}
}

static const char hexdig[] = "0123456789ABCDEF";

size_t grpc_message_encode(const char *msg, size_t len, char *out, size_t cap)
{
	ASSERT(cap >= 1);
	ASSERT(msg != NULL || len == 0);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)msg[i];
		if (ch >= 0x20 && ch <= 0x7e && ch != '%') {
			if (o + 1 >= cap)
				break;
			out[o++] = (char)ch;
		} else {
			if (o + 3 >= cap)
				break;
			out[o++] = '%';
			out[o++] = hexdig[ch >> 4];
			out[o++] = hexdig[ch & 15];
		}
	}
	out[o] = '\0';
	return o;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t grpc_message_decode(const char *s, size_t len, char *out, size_t cap)
{
	ASSERT(cap >= 1);
	ASSERT(s != NULL || len == 0);
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < cap; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return o;
}

int grpc_timeout_parse(const char *s, size_t len, uint64_t *out_ns)
{
	ASSERT(out_ns != NULL);
	if (len < 2 || len > 9)
		return ERR_PROTO;
	uint64_t v = 0;
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ERR_PROTO;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	uint64_t mult;
	switch (s[len - 1]) {
	case 'H': mult = 3600ull * 1000000000ull; break;
	case 'M': mult = 60ull * 1000000000ull; break;
	case 'S': mult = 1000000000ull; break;
	case 'm': mult = 1000000ull; break;
	case 'u': mult = 1000ull; break;
	case 'n': mult = 1; break;
	default: return ERR_PROTO;
	}
	/* v < 10^8 and mult <= 3.6e12: hours beyond ~5000 overflow 64-bit ns; saturate. */
	if (v > UINT64_MAX / mult)
		*out_ns = UINT64_MAX;
	else
		*out_ns = v * mult;
	return 0;
}

size_t grpc_timeout_format(uint64_t ns, char out[GRPC_TIMEOUT_STR_MAX])
{
	static const struct {
		uint64_t ns;
		char unit;
	} units[] = {
		{1, 'n'}, {1000ull, 'u'}, {1000000ull, 'm'}, {1000000000ull, 'S'},
		{60ull * 1000000000ull, 'M'}, {3600ull * 1000000000ull, 'H'},
	};
	const uint64_t max8 = 99999999ull;
	uint64_t v = max8;
	char unit = 'H';
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		/* Round up: a deadline must never come earlier than asked. */
		uint64_t q = ns / units[i].ns + (ns % units[i].ns ? 1 : 0);
		if (q <= max8) {
			v = q;
			unit = units[i].unit;
			break;
		}
	}
	char tmp[GRPC_TIMEOUT_STR_MAX];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < 8);
	size_t o = 0;
	while (n)
		out[o++] = tmp[--n];
	out[o++] = unit;
	out[o] = '\0';
	ASSERT(o < GRPC_TIMEOUT_STR_MAX);
	return o;
}
