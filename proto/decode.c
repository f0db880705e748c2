/*
 * decode.c — see decode.h. The structural walk (pass 1) mirrors the protobuf wire format:
 *
 *   field   := tag payload            tag = varint(number << 3 | wire_type)
 *   payload := varint                 (wire type 0, at most 10 bytes)
 *            | 8 bytes                (wire type 1)
 *            | varint(len) len bytes  (wire type 2: bytes, string, message, packed repeated)
 *            | 4 bytes                (wire type 5)
 *
 * Invariants after a successful walk, which protobuf-c's unpacker relies on without checking
 * them as strictly: every length lies inside its parent; nesting is at most max_depth; every
 * known field's wire type is one its declared type accepts; packed payloads hold whole
 * elements; strings are valid UTF-8 without NUL bytes (protobuf-c's strings are C strings). Unknown fields are only skipped (protobuf-c keeps them and
 * re-encodes them), so newer clients' fields pass through.
 */
#include "proto/decode.h"

#include "core/assert.h"
#include "core/limits.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define WIRE_VARINT 0u
#define WIRE_FIXED64 1u
#define WIRE_LEN 2u
#define WIRE_SGROUP 3u
#define WIRE_EGROUP 4u
#define WIRE_FIXED32 5u
#define FIELD_NUMBER_MAX 536870911u /* 2^29 - 1 */

struct walk {
	const uint8_t *base;
	uint32_t max_depth;
	struct proto_error *err;
};

static void error_set(struct proto_error *err, int code, size_t offset, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void error_set(struct proto_error *err, int code, size_t offset, const char *fmt, ...)
{
	if (!err)
		return;
	err->code = code;
	err->offset = offset;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
}

/*
 * Reads one varint of at most max_bytes bytes; 0 on success, -1 when truncated, longer, or
 * (at 10 bytes) carrying bits beyond 64. Values use 10 bytes; tags and lengths 5, because
 * protobuf-c reads those as 32-bit numbers and refuses longer (even zero-padded) encodings.
 */
static int varint_read_n(const uint8_t **pp, const uint8_t *end, unsigned max_bytes, uint64_t *out)
{
	ASSERT(max_bytes == 5 || max_bytes == 10);
	const uint8_t *p = *pp;
	uint64_t v = 0;
	for (unsigned i = 0; i < max_bytes; i++) {
		if (p == end)
			return -1;
		uint8_t b = *p++;
		if (i == 9 && b > 1)
			return -1; /* bits beyond 64 */
		if (i == 4 && max_bytes == 5 && b > 0x0f)
			return -1; /* bits beyond 32 */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*pp = p;
			*out = v;
			return 0;
		}
	}
	return -1;
}

static int varint_read(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	return varint_read_n(pp, end, 10, out);
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1fu;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0fu;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07u;
		} else {
			return 0;
		}
		if (n - i - 1 < need)
			return 0;
		for (size_t k = 1; k <= need; k++) {
			uint8_t cc = s[i + k];
			if ((cc & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (cc & 0x3fu);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* The wire type a scalar of this type uses when not packed. */
static unsigned type_wire(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return WIRE_FIXED32;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return WIRE_FIXED64;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return WIRE_LEN;
	default:
		return WIRE_VARINT;
	}
}

static const char *wire_name(unsigned wt)
{
	static const char *names[8] = {"varint", "fixed64", "length-delimited", "start-group",
				       "end-group", "fixed32", "invalid(6)", "invalid(7)"};
	return names[wt & 7u];
}

/* Every element of a packed repeated scalar payload must be whole. */
static int packed_valid(ProtobufCType t, const uint8_t *p, const uint8_t *end)
{
	unsigned wt = type_wire(t);
	size_t n = (size_t)(end - p);
	if (wt == WIRE_FIXED32)
		return n % 4 == 0;
	if (wt == WIRE_FIXED64)
		return n % 8 == 0;
	while (p < end) {
		uint64_t v;
		if (varint_read(&p, end, &v) != 0)
			return 0;
	}
	return 1;
}

#define SEEN_WORDS 4 /* fields per message the walk tracks (ours have far fewer) */

static int walk_message(struct walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *p,
			const uint8_t *end, uint32_t depth)
{
	ASSERT(d->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
	ASSERT(depth >= 1 && depth <= w->max_depth);
	ASSERT(d->n_fields <= 64 * SEEN_WORDS);
	uint64_t seen[SEEN_WORDS] = {0}; /* singular message fields met so far */
	while (p < end) {
		const size_t at = (size_t)(p - w->base);
		uint64_t tag;
		if (varint_read_n(&p, end, 5, &tag) != 0) {
			error_set(w->err, ERR_INVAL, at,
				  "%s: malformed field tag (truncated or over 5 bytes) at byte %zu",
				  d->name, at);
			return ERR_INVAL;
		}
		const uint64_t num = tag >> 3;
		const unsigned wt = (unsigned)(tag & 7u);
		if (num == 0 || num > FIELD_NUMBER_MAX) {
			error_set(w->err, ERR_INVAL, at, "%s: field number %llu out of range at byte %zu",
				  d->name, (unsigned long long)num, at);
			return ERR_INVAL;
		}
		if (wt == WIRE_SGROUP || wt == WIRE_EGROUP) {
			error_set(w->err, ERR_INVAL, at,
				  "%s: field %llu uses groups (wire type %u), which are not supported",
				  d->name, (unsigned long long)num, wt);
			return ERR_INVAL;
		}
		if (wt > WIRE_FIXED32) {
			error_set(w->err, ERR_INVAL, at, "%s: invalid wire type %u at byte %zu", d->name,
				  wt, at);
			return ERR_INVAL;
		}
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(d, (unsigned)num);
		const char *fname = f ? f->name : "(unknown)";
		if (f) {
			unsigned want = type_wire(f->type);
			int packed_ok = f->label == PROTOBUF_C_LABEL_REPEATED && want != WIRE_LEN &&
					wt == WIRE_LEN;
			if (wt != want && !packed_ok) {
				error_set(w->err, ERR_INVAL, at,
					  "%s.%s (%llu): wire type %s where %s is required, at byte %zu",
					  d->name, fname, (unsigned long long)num, wire_name(wt),
					  wire_name(want), at);
				return ERR_INVAL;
			}
		}
		switch (wt) {
		case WIRE_VARINT: {
			uint64_t v;
			if (varint_read(&p, end, &v) != 0) {
				error_set(w->err, ERR_INVAL, at, "%s.%s: malformed varint at byte %zu",
					  d->name, fname, at);
				return ERR_INVAL;
			}
			break;
		}
		case WIRE_FIXED64:
		case WIRE_FIXED32: {
			size_t n = wt == WIRE_FIXED64 ? 8 : 4;
			if ((size_t)(end - p) < n) {
				error_set(w->err, ERR_INVAL, at, "%s.%s: truncated %s value at byte %zu",
					  d->name, fname, wire_name(wt), at);
				return ERR_INVAL;
			}
			p += n;
			break;
		}
		case WIRE_LEN: {
			uint64_t len;
			if (varint_read_n(&p, end, 5, &len) != 0) {
				error_set(w->err, ERR_INVAL, at,
					  "%s.%s: malformed length (truncated or over 5 bytes) at byte %zu",
					  d->name, fname, at);
				return ERR_INVAL;
			}
			if (len > (uint64_t)(end - p)) {
				error_set(w->err, ERR_INVAL, at,
					  "%s.%s: length %llu runs past the end of its message at byte %zu",
					  d->name, fname, (unsigned long long)len, at);
				return ERR_INVAL;
			}
			const uint8_t *sub = p, *sub_end = p + len;
			p = sub_end;
			if (!f)
				break;
			if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				size_t fi = (size_t)(f - d->fields);
				uint64_t bit = 1ull << (fi % 64);
				if (f->label != PROTOBUF_C_LABEL_REPEATED && (seen[fi / 64] & bit)) {
					/* the spec merges the two; protobuf-c cannot merge some (oneofs
					 * inside), and no real encoder writes a message field twice */
					error_set(w->err, ERR_INVAL, at,
						  "%s.%s (%llu): message field appears twice at byte %zu",
						  d->name, fname, (unsigned long long)num, at);
					return ERR_INVAL;
				}
				seen[fi / 64] |= bit;
				if (depth >= w->max_depth) {
					error_set(w->err, ERR_TOOBIG, at,
						  "%s.%s: messages nested deeper than %u levels at byte %zu",
						  d->name, fname, w->max_depth, at);
					return ERR_TOOBIG;
				}
				int rc = walk_message(w, f->descriptor, sub, sub_end, depth + 1);
				if (rc != 0)
					return rc;
			} else if (f->type == PROTOBUF_C_TYPE_STRING) {
				/* protobuf-c hands strings out NUL-terminated: an embedded NUL would
				 * silently cut the string (a different table name!), so refuse it. */
				if (memchr(sub, 0, (size_t)len) != NULL) {
					error_set(w->err, ERR_INVAL, at,
						  "%s.%s: string contains a NUL byte at byte %zu", d->name,
						  fname, at);
					return ERR_INVAL;
				}
				if (!utf8_valid(sub, (size_t)len)) {
					error_set(w->err, ERR_INVAL, at,
						  "%s.%s: string is not valid UTF-8 at byte %zu", d->name,
						  fname, at);
					return ERR_INVAL;
				}
			} else if (f->type != PROTOBUF_C_TYPE_BYTES && !packed_valid(f->type, sub, sub_end)) {
				error_set(w->err, ERR_INVAL, at,
					  "%s.%s: packed repeated payload holds a partial element at byte %zu",
					  d->name, fname, at);
				return ERR_INVAL;
			}
			break;
		}
		default:
			UNREACHABLE(); /* refused above */
		}
	}
	ASSERT(p == end);
	return 0;
}

static void opts_resolve(const struct proto_decode_opts *opts, struct proto_decode_opts *out)
{
	out->max_input_bytes = opts ? opts->max_input_bytes : LIMIT_MESSAGE_BYTES;
	out->max_depth = opts ? opts->max_depth : LIMIT_PROTO_DEPTH;
	/* the walk recurses once per level: a caller asking for more than this is a bug */
	ASSERT(out->max_depth >= 1 && out->max_depth <= PROTO_DEPTH_MAX);
}

int proto_check(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		const struct proto_decode_opts *opts, struct proto_error *err)
{
	ASSERT(desc && desc->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
	ASSERT(buf || len == 0);
	struct proto_decode_opts o;
	opts_resolve(opts, &o);
	if (err)
		memset(err, 0, sizeof *err);
	if (len > o.max_input_bytes) {
		error_set(err, ERR_TOOBIG, 0, "%s: message of %zu bytes exceeds the limit of %zu",
			  desc->name, len, o.max_input_bytes);
		return ERR_TOOBIG;
	}
	static const uint8_t empty[1];
	const uint8_t *p = len ? buf : empty;
	struct walk w = {.base = p, .max_depth = o.max_depth, .err = err};
	return walk_message(&w, desc, p, p + len, 1);
}

struct arena_allocator {
	ProtobufCAllocator pa;
	struct arena *arena;
	int failed;
};

static void *arena_pc_alloc(void *data, size_t size)
{
	struct arena_allocator *aa = data;
	void *p = arena_alloc(aa->arena, size);
	if (!p)
		aa->failed = 1;
	return p;
}

static void arena_pc_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr; /* arena memory goes back on arena_reset() */
}

static void *arena_direct_alloc(void *data, size_t size)
{
	return arena_alloc(data, size);
}

void proto_allocator_init(ProtobufCAllocator *pa, struct arena *arena)
{
	ASSERT(pa && arena);
	pa->alloc = arena_direct_alloc;
	pa->free = arena_pc_free;
	pa->allocator_data = arena;
}

int proto_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
		 struct arena *arena, const struct proto_decode_opts *opts, ProtobufCMessage **out,
		 struct proto_error *err)
{
	ASSERT(arena && out);
	*out = NULL;
	int rc = proto_check(desc, buf, len, opts, err);
	if (rc != 0)
		return rc;
	struct arena_allocator aa = {.arena = arena, .failed = 0};
	aa.pa.alloc = arena_pc_alloc;
	aa.pa.free = arena_pc_free;
	aa.pa.allocator_data = &aa;
	static const uint8_t empty[1];
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, &aa.pa, len, len ? buf : empty);
	if (!m) {
		if (aa.failed) {
			error_set(err, ERR_TOOBIG, 0,
				  "%s: decoding %zu bytes needs more than the %zu-byte memory limit",
				  desc->name, len, arena->max_bytes);
			return ERR_TOOBIG;
		}
		/* The walk accepted what protobuf-c refused: report it, never trust it. */
		error_set(err, ERR_INVAL, 0, "%s: message rejected by the decoder", desc->name);
		return ERR_INVAL;
	}
	ASSERT(m->descriptor == desc);
	*out = m;
	return 0;
}

int proto_encode(const ProtobufCMessage *msg, struct arena *arena, uint8_t **out, size_t *out_len)
{
	ASSERT(msg && msg->descriptor && msg->descriptor->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
	ASSERT(arena && out && out_len);
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = arena_direct_alloc(arena, n);
	if (!buf)
		return ERR_TOOBIG;
	size_t w = protobuf_c_message_pack(msg, buf);
	ASSERT(w == n);
	*out = buf;
	*out_len = n;
	return 0;
}

int proto_encode_into(const ProtobufCMessage *msg, uint8_t *buf, size_t cap, size_t *out_len)
{
	ASSERT(msg && msg->descriptor && msg->descriptor->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
	ASSERT(out_len && (buf || cap == 0));
	size_t n = protobuf_c_message_get_packed_size(msg);
	*out_len = n;
	if (n > cap)
		return ERR_TOOBIG;
	size_t w = protobuf_c_message_pack(msg, buf);
	ASSERT(w == n);
	return 0;
}

int proto_error_grpc_status(int code)
{
	switch (code) {
	case 0: return 0;            /* OK */
	case ERR_INVAL: return 3;    /* INVALID_ARGUMENT */
	case ERR_TOOBIG: return 8;   /* RESOURCE_EXHAUSTED */
	default: return 13;          /* INTERNAL */
	}
}
