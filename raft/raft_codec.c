/*
 * raft_codec.c — encode and decode Raft frames (format in raft_codec.h).
 *
 * The writer checks room before writing anything, so a record is either whole or absent. The
 * reader bounds every read by the body length, every count by the caller's arrays and the raft
 * limits, and only then hands out pointers into the buffer.
 */
#include "raft/raft_codec.h"

#include "core/assert.h"

#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack: no allocation */
#include <xxhash.h>

/* ---- primitives ------------------------------------------------------------------------------ */

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

struct reader {
	const uint8_t *p;
	const uint8_t *end;
	int bad;
};

static uint64_t rd_varint(struct reader *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 70; shift += 7) {
		if (r->p >= r->end) {
			r->bad = 1;
			return 0;
		}
		uint8_t b = *r->p++;
		if (shift == 63 && b > 1) {
			r->bad = 1;
			return 0;
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	r->bad = 1;
	return 0;
}

static uint8_t rd_u8(struct reader *r)
{
	if (r->p >= r->end) {
		r->bad = 1;
		return 0;
	}
	return *r->p++;
}

static const uint8_t *rd_bytes(struct reader *r, uint64_t n)
{
	if ((uint64_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	const uint8_t *b = r->p;
	r->p += n;
	return b;
}

/* ---- writer ---------------------------------------------------------------------------------- */

size_t raft_codec_msg_size_max(const struct raft_message *m)
{
	size_t n = 1 + 1 + 1 + 7 * 10; /* kind, type, flags, 7 varints */
	n += 10;
	for (uint32_t i = 0; i < m->n_entries; i++)
		n += 10 + 1 + 10 + m->entries[i].len;
	if (m->type == RAFT_MSG_SNAP)
		n += 10 + 2 + 10 * (m->snap.conf.n_voters + m->snap.conf.n_learners) + 10 + 10 +
		     m->len;
	if (m->type == RAFT_MSG_SNAP_RESP)
		n += 10;
	return n;
}

void raft_frame_begin(struct raft_frame_writer *w, uint8_t *buf, size_t cap, uint64_t from_node)
{
	ASSERT(buf != NULL && cap >= RAFT_FRAME_HEADER_BYTES);
	w->buf = buf;
	w->cap = cap;
	w->len = RAFT_FRAME_HEADER_BYTES;
	w->n_records = 0;
	w->n_entries = 0;
	w->from_node = from_node;
}

int raft_frame_add_node(struct raft_frame_writer *w, uint64_t incarnation, int reply)
{
	if (w->cap - w->len < 1 + 10 + 1 || w->n_records == LIMIT_RAFT_FRAME_MSGS)
		return ERR_TOOBIG;
	uint8_t *p = w->buf + w->len;
	*p++ = RAFT_REC_NODE;
	p = put_varint(p, incarnation);
	*p++ = reply ? 1 : 0;
	w->len = (size_t)(p - w->buf);
	w->n_records++;
	return 0;
}

static uint8_t *put_conf(uint8_t *p, const struct raft_conf *c)
{
	*p++ = (uint8_t)c->n_voters;
	*p++ = (uint8_t)c->n_learners;
	for (uint32_t i = 0; i < c->n_voters; i++)
		p = put_varint(p, c->voters[i]);
	for (uint32_t i = 0; i < c->n_learners; i++)
		p = put_varint(p, c->learners[i]);
	return p;
}

int raft_frame_add_msg(struct raft_frame_writer *w, const struct raft_message *m)
{
	ASSERT(m->type >= 1 && m->type <= RAFT_MSG_TYPE_MAX);
	if (w->n_records == LIMIT_RAFT_FRAME_MSGS ||
	    m->n_entries > LIMIT_RAFT_FRAME_ENTRIES - w->n_entries)
		return ERR_TOOBIG;
	int hb = m->type == RAFT_MSG_HEARTBEAT || m->type == RAFT_MSG_HEARTBEAT_RESP;
	size_t need = hb ? 3 + 5 * 10 : raft_codec_msg_size_max(m);
	if (w->cap - w->len < need)
		return ERR_TOOBIG;
	uint8_t *p = w->buf + w->len;
	if (hb) {
		*p++ = RAFT_REC_HB;
		*p++ = m->type;
		*p++ = m->flags;
		p = put_varint(p, m->group_id);
		p = put_varint(p, m->term);
		p = put_varint(p, m->commit);
		p = put_varint(p, m->ctx);
		p = put_varint(p, m->index);
	} else {
		*p++ = RAFT_REC_MSG;
		*p++ = m->type;
		*p++ = m->flags;
		p = put_varint(p, m->group_id);
		p = put_varint(p, m->term);
		p = put_varint(p, m->index);
		p = put_varint(p, m->log_term);
		p = put_varint(p, m->commit);
		p = put_varint(p, m->hint);
		p = put_varint(p, m->ctx);
		if (m->type == RAFT_MSG_APP || m->type == RAFT_MSG_PROP) {
			p = put_varint(p, m->n_entries);
			for (uint32_t i = 0; i < m->n_entries; i++) {
				const struct raft_entry *e = &m->entries[i];
				p = put_varint(p, e->term);
				*p++ = e->type;
				p = put_varint(p, e->len);
				if (e->len) {
					memcpy(p, e->data, e->len);
					p += e->len;
				}
			}
		} else if (m->type == RAFT_MSG_SNAP) {
			p = put_varint(p, m->snap.size_bytes);
			p = put_conf(p, &m->snap.conf);
			p = put_varint(p, m->offset);
			p = put_varint(p, m->len);
			if (m->len) {
				memcpy(p, m->data, m->len);
				p += m->len;
			}
		} else if (m->type == RAFT_MSG_SNAP_RESP) {
			p = put_varint(p, m->offset);
		}
	}
	ASSERT((size_t)(p - (w->buf + w->len)) <= need);
	w->len = (size_t)(p - w->buf);
	w->n_records++;
	w->n_entries += m->n_entries;
	return 0;
}

uint64_t raft_frame_checksum(const uint8_t *buf, size_t len)
{
	ASSERT(len >= RAFT_FRAME_HEADER_BYTES);
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, buf, 24);
	XXH3_64bits_update(&st, buf + RAFT_FRAME_HEADER_BYTES, len - RAFT_FRAME_HEADER_BYTES);
	return XXH3_64bits_digest(&st);
}

size_t raft_frame_finish(struct raft_frame_writer *w)
{
	if (w->n_records == 0)
		return 0;
	uint8_t *h = w->buf;
	size_t body = w->len - RAFT_FRAME_HEADER_BYTES;
	ASSERT(body <= UINT32_MAX);
	h[0] = RAFT_FRAME_MAGIC;
	h[1] = RAFT_FRAME_VERSION;
	put_u16(h + 2, 0);
	put_u32(h + 4, (uint32_t)body);
	put_u32(h + 8, w->n_records);
	put_u32(h + 12, 0);
	put_u64(h + 16, w->from_node);
	put_u64(h + 24, raft_frame_checksum(w->buf, w->len));
	return w->len;
}

/* ---- reader ---------------------------------------------------------------------------------- */

static int rd_conf(struct reader *r, struct raft_conf *c)
{
	memset(c, 0, sizeof(*c));
	uint8_t nv = rd_u8(r), nl = rd_u8(r);
	if (r->bad || nv > LIMIT_RAFT_VOTERS_MAX || nl > LIMIT_RAFT_LEARNERS_MAX)
		return ERR_PROTO;
	c->n_voters = nv;
	c->n_learners = nl;
	for (uint32_t i = 0; i < nv; i++)
		c->voters[i] = rd_varint(r);
	for (uint32_t i = 0; i < nl; i++)
		c->learners[i] = rd_varint(r);
	return r->bad ? ERR_PROTO : 0;
}

static int rd_msg(struct reader *r, struct raft_frame *f, struct raft_message *m, int hb)
{
	m->type = rd_u8(r);
	m->flags = rd_u8(r);
	if (r->bad || m->type < 1 || m->type > RAFT_MSG_TYPE_MAX)
		return ERR_PROTO;
	if (hb != (m->type == RAFT_MSG_HEARTBEAT || m->type == RAFT_MSG_HEARTBEAT_RESP))
		return ERR_PROTO;
	m->group_id = rd_varint(r);
	m->term = rd_varint(r);
	if (hb) {
		m->commit = rd_varint(r);
		m->ctx = rd_varint(r);
		m->index = rd_varint(r);
		return r->bad ? ERR_PROTO : 0;
	}
	m->index = rd_varint(r);
	m->log_term = rd_varint(r);
	m->commit = rd_varint(r);
	m->hint = rd_varint(r);
	m->ctx = rd_varint(r);
	if (r->bad)
		return ERR_PROTO;
	if (m->type == RAFT_MSG_APP || m->type == RAFT_MSG_PROP) {
		uint64_t n = rd_varint(r);
		if (r->bad || n > LIMIT_RAFT_MSG_ENTRIES_MAX)
			return ERR_PROTO;
		if (n > f->ents_cap - f->n_ents)
			return ERR_TOOBIG;
		struct raft_entry *ents = f->ents + f->n_ents;
		for (uint32_t i = 0; i < n; i++) {
			struct raft_entry *e = &ents[i];
			e->term = rd_varint(r);
			e->type = rd_u8(r);
			uint64_t len = rd_varint(r);
			if (r->bad || len > LIMIT_RAFT_ENTRY_BYTES)
				return ERR_PROTO;
			e->len = (uint32_t)len;
			e->data = len ? rd_bytes(r, len) : NULL;
			if (r->bad)
				return ERR_PROTO;
			e->index = m->type == RAFT_MSG_APP ? m->index + 1 + i : 0;
		}
		f->n_ents += (uint32_t)n;
		m->entries = n ? ents : NULL;
		m->n_entries = (uint32_t)n;
	} else if (m->type == RAFT_MSG_SNAP) {
		m->snap.index = m->index;
		m->snap.term = m->log_term;
		m->snap.size_bytes = rd_varint(r);
		if (rd_conf(r, &m->snap.conf))
			return ERR_PROTO;
		m->offset = rd_varint(r);
		uint64_t len = rd_varint(r);
		if (r->bad || len > LIMIT_RAFT_SNAPSHOT_CHUNK_BYTES)
			return ERR_PROTO;
		m->len = (uint32_t)len;
		m->data = len ? rd_bytes(r, len) : NULL;
	} else if (m->type == RAFT_MSG_SNAP_RESP) {
		m->offset = rd_varint(r);
	}
	return r->bad ? ERR_PROTO : 0;
}

int raft_frame_decode(const uint8_t *buf, size_t len, uint64_t to_node, struct raft_frame *f)
{
	ASSERT(f->msgs && f->ents);
	f->n_msgs = 0;
	f->n_ents = 0;
	f->have_node = 0;
	if (len < RAFT_FRAME_HEADER_BYTES || buf[0] != RAFT_FRAME_MAGIC ||
	    buf[1] != RAFT_FRAME_VERSION)
		return ERR_PROTO;
	uint32_t body = get_u32(buf + 4);
	uint32_t n_rec = get_u32(buf + 8);
	if ((size_t)body != len - RAFT_FRAME_HEADER_BYTES || n_rec > LIMIT_RAFT_FRAME_MSGS)
		return ERR_PROTO;
	if (get_u64(buf + 24) != raft_frame_checksum(buf, len))
		return ERR_CORRUPT;
	f->from_node = get_u64(buf + 16);
	if (f->from_node == 0 || f->from_node == to_node)
		return ERR_PROTO;
	struct reader r = {.p = buf + RAFT_FRAME_HEADER_BYTES, .end = buf + len, .bad = 0};
	int rc = 0;
	for (uint32_t i = 0; i < n_rec; i++) {
		uint8_t kind = rd_u8(&r);
		if (kind == RAFT_REC_NODE) {
			f->incarnation = rd_varint(&r);
			f->node_reply = rd_u8(&r) & 1;
			f->have_node = 1;
			if (r.bad)
				goto err_proto;
			continue;
		}
		if (kind != RAFT_REC_HB && kind != RAFT_REC_MSG)
			goto err_proto;
		if (f->n_msgs == f->msgs_cap) {
			rc = ERR_TOOBIG;
			goto err;
		}
		struct raft_message *m = &f->msgs[f->n_msgs];
		memset(m, 0, sizeof(*m));
		rc = rd_msg(&r, f, m, kind == RAFT_REC_HB);
		if (rc)
			goto err;
		m->from = f->from_node;
		m->to = to_node;
		f->n_msgs++;
	}
	if (r.bad || r.p != r.end)
		goto err_proto;
	return 0;

err_proto:
	rc = ERR_PROTO;
err:
	f->n_msgs = 0;
	f->n_ents = 0;
	f->have_node = 0;
	return rc;
}
