/*
 * text.c — see text.h. Walks a protobuf-c message through its descriptor: each field's storage
 * is found at descriptor->offset (the value or the repeated array) and quantifier_offset (the
 * repeated count, the proto2 has_ flag, or the oneof case), exactly as protobuf-c lays it out.
 */
#include "proto/text.h"

#include "core/assert.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define TEXT_LINE_BYTES (160u << 10) /* a 64 KiB bytes value in hex plus its path */
#define TEXT_PATH_BYTES 4096u

struct dump {
	proto_text_emit_fn *emit;
	void *ctx;
	char line[TEXT_LINE_BYTES];
	char path[TEXT_PATH_BYTES];
};

static size_t type_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	UNREACHABLE();
}

/* Appends printf output to buf[*n..cap); -1 when it does not fit. */
static int append(char *buf, size_t cap, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(buf + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= cap - *n)
		return -1;
	*n += (size_t)w;
	return 0;
}

static int append_hex(char *buf, size_t cap, size_t *n, const uint8_t *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	if (cap - *n < 2 * len + 4)
		return -1;
	buf[(*n)++] = 'x';
	buf[(*n)++] = '"';
	for (size_t i = 0; i < len; i++) {
		buf[(*n)++] = hex[p[i] >> 4];
		buf[(*n)++] = hex[p[i] & 15];
	}
	buf[(*n)++] = '"';
	buf[*n] = 0;
	return 0;
}

/* True when an implicit-presence (proto3) scalar holds its zero value. */
static int is_zero(const ProtobufCFieldDescriptor *f, const void *v)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;
		return s == NULL || s[0] == 0;
	}
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)v)->len == 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(ProtobufCMessage *const *)v == NULL;
	default: {
		static const uint8_t zeros[8];
		return memcmp(v, zeros, type_size(f->type)) == 0;
	}
	}
}

/* Formats one scalar value (not a message) into buf at *n. */
static int format_value(char *buf, size_t cap, size_t *n, const ProtobufCFieldDescriptor *f,
			const void *v)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t x;
		memcpy(&x, v, 4);
		return append(buf, cap, n, "%" PRId32, x);
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t x;
		memcpy(&x, v, 4);
		return append(buf, cap, n, "%" PRIu32, x);
	}
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: {
		int64_t x;
		memcpy(&x, v, 8);
		return append(buf, cap, n, "%" PRId64, x);
	}
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t x;
		memcpy(&x, v, 8);
		return append(buf, cap, n, "%" PRIu64, x);
	}
	case PROTOBUF_C_TYPE_FLOAT: {
		uint32_t bits;
		memcpy(&bits, v, 4);
		return append(buf, cap, n, "0x%08" PRIx32, bits);
	}
	case PROTOBUF_C_TYPE_DOUBLE: {
		uint64_t bits;
		memcpy(&bits, v, 8);
		return append(buf, cap, n, "0x%016" PRIx64, bits);
	}
	case PROTOBUF_C_TYPE_BOOL:
		return append(buf, cap, n, "%s", *(const protobuf_c_boolean *)v ? "true" : "false");
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)v;
		return append_hex(buf, cap, n, (const uint8_t *)(s ? s : ""), s ? strlen(s) : 0);
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = v;
		return append_hex(buf, cap, n, b->data, b->len);
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		break;
	}
	UNREACHABLE();
}

static int dump_message(struct dump *d, const ProtobufCMessage *m, char *path, size_t path_len,
			size_t path_cap);

/* Emits "<path> = <value>" for a scalar, or "<path> = {}" plus the fields of a message. */
static int dump_value(struct dump *d, const ProtobufCFieldDescriptor *f, const void *v, char *path,
		      size_t path_len, size_t path_cap)
{
	size_t n = 0;
	if (append(d->line, sizeof d->line, &n, "%s = ", path) != 0)
		return ERR_TOOBIG;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;
		if (append(d->line, sizeof d->line, &n, "{}") != 0)
			return ERR_TOOBIG;
		d->emit(d->ctx, d->line);
		return sub ? dump_message(d, sub, path, path_len, path_cap) : 0;
	}
	if (format_value(d->line, sizeof d->line, &n, f, v) != 0)
		return ERR_TOOBIG;
	d->emit(d->ctx, d->line);
	return 0;
}

/* A map field is a repeated message whose type is a two-field "...Entry" with key 1, value 2. */
static int is_map_entry(const ProtobufCMessageDescriptor *md)
{
	size_t nl = strlen(md->name);
	return md->n_fields == 2 && md->fields[0].id == 1 && md->fields[1].id == 2 &&
	       strcmp(md->fields[0].name, "key") == 0 && strcmp(md->fields[1].name, "value") == 0 &&
	       nl > 5 && strcmp(md->name + nl - 5, "Entry") == 0;
}

static int dump_field(struct dump *d, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
		      char *path, size_t path_len, size_t path_cap)
{
	const char *base = (const char *)m;
	const void *member = base + f->offset;
	size_t n = path_len;
	if (append(path, path_cap, &n, "%s%s", path_len ? "." : "", f->name) != 0)
		return ERR_TOOBIG;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t count = *(const size_t *)(base + f->quantifier_offset);
		const char *arr = *(const char *const *)member;
		const ProtobufCMessageDescriptor *md =
			f->type == PROTOBUF_C_TYPE_MESSAGE ? f->descriptor : NULL;
		for (size_t i = 0; i < count; i++) {
			const void *elem = arr + i * type_size(f->type);
			size_t k = n;
			if (md && is_map_entry(md)) {
				const ProtobufCMessage *entry = *(ProtobufCMessage *const *)elem;
				const ProtobufCFieldDescriptor *kf = &md->fields[0], *vf = &md->fields[1];
				if (append(path, path_cap, &k, "{") != 0 ||
				    format_value(path, path_cap, &k, kf, (const char *)entry + kf->offset) != 0 ||
				    append(path, path_cap, &k, "}") != 0)
					return ERR_TOOBIG;
				int rc = dump_value(d, vf, (const char *)entry + vf->offset, path, k, path_cap);
				if (rc != 0)
					return rc;
				continue;
			}
			if (append(path, path_cap, &k, "[%zu]", i) != 0)
				return ERR_TOOBIG;
			int rc = dump_value(d, f, elem, path, k, path_cap);
			if (rc != 0)
				return rc;
		}
		path[path_len] = 0;
		return 0;
	}

	int present;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		present = *(const uint32_t *)(base + f->quantifier_offset) == f->id;
	else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
		 f->type != PROTOBUF_C_TYPE_STRING)
		present = *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
	else if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		present = 1;
	else
		present = !is_zero(f, member);
	int rc = present ? dump_value(d, f, member, path, n, path_cap) : 0;
	path[path_len] = 0;
	return rc;
}

static int dump_message(struct dump *d, const ProtobufCMessage *m, char *path, size_t path_len,
			size_t path_cap)
{
	const ProtobufCMessageDescriptor *md = m->descriptor;
	ASSERT(md && md->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
	for (unsigned i = 0; i < md->n_fields; i++) {
		int rc = dump_field(d, m, &md->fields[i], path, path_len, path_cap);
		if (rc != 0)
			return rc;
	}
	if (m->n_unknown_fields > 0) {
		size_t n = 0;
		if (append(d->line, sizeof d->line, &n, "%s?unknown = %u", path, m->n_unknown_fields) != 0)
			return ERR_TOOBIG;
		d->emit(d->ctx, d->line);
	}
	ASSERT(path[path_len] == 0);
	return 0;
}

int proto_text_dump(const ProtobufCMessage *msg, proto_text_emit_fn *emit, void *ctx)
{
	ASSERT(msg && emit);
	struct dump *d = malloc(sizeof *d); /* debugging and test aid: not on any hot path */
	if (!d)
		return ERR_NOMEM;
	d->emit = emit;
	d->ctx = ctx;
	d->path[0] = 0;
	int rc = dump_message(d, msg, d->path, 0, sizeof d->path);
	free(d);
	return rc;
}
