/* helper_fill.c — see helper_fill.h. Writes protobuf-c message storage through the field
 * descriptors' offsets, the same layout proto/text.c reads. */
#include "helper_fill.h"

#include "proto/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct filler {
	struct arena *a;
	unsigned variant;
	unsigned counter; /* makes every value distinct */
};

static size_t elem_size(ProtobufCType t)
{
	switch (t) {
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
	default:
		return 4;
	}
}

static ProtobufCMessage *fill(struct filler *fl, const ProtobufCMessageDescriptor *d, unsigned depth);

/* Writes one non-default value of field f's type at dst; 0 on success, -1 when out of memory
 * or when a message field is cut off at FILL_DEPTH_MAX (dst stays NULL then). */
static int fill_value(struct filler *fl, const ProtobufCFieldDescriptor *f, void *dst,
		      unsigned depth)
{
	unsigned c = ++fl->counter;
	int neg = c % 2 == 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32: {
		int32_t v = neg ? -(int32_t)c : (int32_t)c;
		memcpy(dst, &v, 4);
		return 0;
	}
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32: {
		uint32_t v = 4000000000u - c;
		memcpy(dst, &v, 4);
		return 0;
	}
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64: {
		int64_t v = neg ? -(int64_t)c * 1000000007 : (int64_t)c << 33;
		memcpy(dst, &v, 8);
		return 0;
	}
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64: {
		uint64_t v = UINT64_MAX - c;
		memcpy(dst, &v, 8);
		return 0;
	}
	case PROTOBUF_C_TYPE_FLOAT: {
		float v = (float)c + 0.25f;
		memcpy(dst, &v, 4);
		return 0;
	}
	case PROTOBUF_C_TYPE_DOUBLE: {
		double v = neg ? -(double)c / 3.0 : (double)c + 0.5;
		memcpy(dst, &v, 8);
		return 0;
	}
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)dst = 1;
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		int32_t v = ed->n_values > 1 ? ed->values[1 + c % (ed->n_values - 1)].value
					     : ed->values[0].value;
		memcpy(dst, &v, 4);
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char tmp[48];
		int n = snprintf(tmp, sizeof tmp, "%s-%u-\xc3\xbc\xe2\x82\xac", f->name, c);
		char *s = arena_memdup(fl->a, tmp, (size_t)n + 1);
		if (!s)
			return -1;
		*(char **)dst = s;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		uint8_t tmp[48];
		int n = snprintf((char *)tmp, sizeof tmp, "%s/%u", f->name, c);
		tmp[n] = 0x00; /* bytes are not strings: embedded NUL and high bytes */
		tmp[n + 1] = 0xff;
		uint8_t *p = arena_memdup(fl->a, tmp, (size_t)n + 2);
		if (!p)
			return -1;
		ProtobufCBinaryData *b = dst;
		b->data = p;
		b->len = (size_t)n + 2;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		*(ProtobufCMessage **)dst = NULL;
		if (depth >= FILL_DEPTH_MAX)
			return -1;
		ProtobufCMessage *m = fill(fl, f->descriptor, depth + 1);
		if (!m)
			return -1;
		*(ProtobufCMessage **)dst = m;
		return 0;
	}
	}
	return -1;
}

/* Members of the oneof that field index i belongs to, and i's position among them. */
static unsigned oneof_members(const ProtobufCMessageDescriptor *d, unsigned i, unsigned *pos)
{
	unsigned n = 0;
	for (unsigned k = 0; k < d->n_fields; k++) {
		const ProtobufCFieldDescriptor *f = &d->fields[k];
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    f->quantifier_offset == d->fields[i].quantifier_offset) {
			if (k == i)
				*pos = n;
			n++;
		}
	}
	return n;
}

static ProtobufCMessage *fill(struct filler *fl, const ProtobufCMessageDescriptor *d, unsigned depth)
{
	ProtobufCMessage *m = arena_calloc(fl->a, 1, d->sizeof_message);
	if (!m)
		return NULL;
	d->message_init(m);
	char *base = (char *)m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		void *member = base + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t es = elem_size(f->type);
			char *arr = arena_calloc(fl->a, 2, es);
			if (!arr)
				return NULL;
			size_t n = 0;
			for (size_t k = 0; k < 2; k++)
				if (fill_value(fl, f, arr + n * es, depth) == 0)
					n++;
			*(void **)member = n ? arr : NULL;
			*(size_t *)(base + f->quantifier_offset) = n;
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			unsigned pos = 0, n = oneof_members(d, i, &pos);
			if (pos != fl->variant % n)
				continue;
			if (fill_value(fl, f, member, depth) == 0)
				*(uint32_t *)(base + f->quantifier_offset) = f->id;
			continue;
		}
		if (fill_value(fl, f, member, depth) == 0 && f->label == PROTOBUF_C_LABEL_OPTIONAL &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
			*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
	}
	return m;
}

ProtobufCMessage *fill_message(const ProtobufCMessageDescriptor *d, struct arena *a, unsigned variant)
{
	struct filler fl = {.a = a, .variant = variant, .counter = 0};
	return fill(&fl, d, 1);
}

struct text {
	char *buf;
	size_t len, cap;
};

static void collect(void *ctx, const char *line)
{
	struct text *t = ctx;
	size_t n = strlen(line);
	if (t->len + n + 2 > t->cap) {
		t->cap = (t->len + n + 2) * 2;
		t->buf = realloc(t->buf, t->cap);
		if (!t->buf)
			abort();
	}
	memcpy(t->buf + t->len, line, n);
	t->len += n;
	t->buf[t->len++] = '\n';
	t->buf[t->len] = 0;
}

char *fill_dump(const ProtobufCMessage *m)
{
	struct text t = {.buf = calloc(1, 1), .len = 0, .cap = 1};
	if (!t.buf || proto_text_dump(m, collect, &t) != 0)
		abort();
	return t.buf;
}
