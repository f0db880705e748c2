/*
 * test_codec.c — the Raft frame format: every message type survives a round trip, heartbeats are
 * compact, and damaged frames (any flipped byte, any truncation, wrong sender) are refused whole.
 */
#include "raft/raft_codec.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static uint8_t buf[1 << 16];

static struct raft_message msgs_out[RAFT_MSG_TYPE_MAX + 1];
static struct raft_entry ents_out[4];

static void build(void)
{
	memset(msgs_out, 0, sizeof(msgs_out));
	ents_out[0] = (struct raft_entry){.term = 7,
	                                  .index = 11,
	                                  .type = RAFT_ENTRY_NORMAL,
	                                  .len = 3,
	                                  .data = (const uint8_t *)"abc"};
	ents_out[1] = (struct raft_entry){.term = 8, .index = 12, .type = RAFT_ENTRY_NOOP};
	ents_out[2] = (struct raft_entry){.term = 8,
	                                  .index = 13,
	                                  .type = RAFT_ENTRY_CONF,
	                                  .len = 5,
	                                  .data = (const uint8_t *)"\x01\x02\x03\x04\x05"};
	for (uint8_t t = 1; t <= RAFT_MSG_TYPE_MAX; t++) {
		struct raft_message *m = &msgs_out[t];
		m->type = t;
		m->group_id = 1000u + t;
		m->from = 3;
		m->to = 4;
		m->term = 9;
		m->index = 10;
		m->log_term = 6;
		m->commit = 123456789012ULL;
		m->hint = 5;
		m->ctx = UINT64_MAX;
		m->flags = RAFT_MSG_F_REJECT;
	}
	msgs_out[RAFT_MSG_APP].entries = ents_out;
	msgs_out[RAFT_MSG_APP].n_entries = 3;
	msgs_out[RAFT_MSG_PROP].entries = ents_out;
	msgs_out[RAFT_MSG_PROP].n_entries = 1;
	struct raft_message *s = &msgs_out[RAFT_MSG_SNAP];
	s->snap.index = s->index;
	s->snap.term = s->log_term;
	s->snap.size_bytes = 100;
	s->snap.conf.n_voters = 2;
	s->snap.conf.voters[0] = 3;
	s->snap.conf.voters[1] = 4;
	s->snap.conf.n_learners = 1;
	s->snap.conf.learners[0] = 77;
	s->offset = 40;
	s->data = (const uint8_t *)"chunk";
	s->len = 5;
	s->flags = RAFT_MSG_F_LAST;
	msgs_out[RAFT_MSG_SNAP_RESP].offset = 64;
}

static size_t encode_all(void)
{
	build();
	struct raft_frame_writer w;
	raft_frame_begin(&w, buf, sizeof(buf), 3);
	cr_assert_eq(raft_frame_add_node(&w, 0xfeedfacecafeULL, 0), 0);
	for (uint8_t t = 1; t <= RAFT_MSG_TYPE_MAX; t++)
		cr_assert_eq(raft_frame_add_msg(&w, &msgs_out[t]), 0);
	size_t len = raft_frame_finish(&w);
	cr_assert_gt(len, RAFT_FRAME_HEADER_BYTES);
	return len;
}

static struct raft_message dmsgs[64];
static struct raft_entry dents[64];

static int decode(const uint8_t *b, size_t len, struct raft_frame *f, uint32_t msgs_cap)
{
	memset(f, 0, sizeof(*f));
	f->msgs = dmsgs;
	f->msgs_cap = msgs_cap;
	f->ents = dents;
	f->ents_cap = 64;
	return raft_frame_decode(b, len, 4, f);
}

Test(raft_codec, round_trip_every_type)
{
	size_t len = encode_all();
	struct raft_frame f;
	cr_assert_eq(decode(buf, len, &f, 64), 0);
	cr_assert(f.have_node);
	cr_assert_eq(f.incarnation, 0xfeedfacecafeULL);
	cr_assert_eq(f.from_node, 3);
	cr_assert_eq(f.n_msgs, RAFT_MSG_TYPE_MAX);
	for (uint8_t t = 1; t <= RAFT_MSG_TYPE_MAX; t++) {
		const struct raft_message *a = &msgs_out[t], *b = &dmsgs[t - 1];
		cr_assert_eq(b->type, t);
		cr_assert_eq(b->group_id, a->group_id);
		cr_assert_eq(b->from, 3);
		cr_assert_eq(b->to, 4);
		cr_assert_eq(b->term, a->term);
		cr_assert_eq(b->commit, a->commit);
		cr_assert_eq(b->ctx, a->ctx);
		cr_assert_eq(b->index, a->index);
		cr_assert_eq(b->flags, a->flags);
		if (t != RAFT_MSG_HEARTBEAT && t != RAFT_MSG_HEARTBEAT_RESP) {
			cr_assert_eq(b->log_term, a->log_term);
			cr_assert_eq(b->hint, a->hint);
		}
	}
	const struct raft_message *app = &dmsgs[RAFT_MSG_APP - 1];
	cr_assert_eq(app->n_entries, 3);
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert_eq(app->entries[i].index, 11 + i);
		cr_assert_eq(app->entries[i].term, ents_out[i].term);
		cr_assert_eq(app->entries[i].type, ents_out[i].type);
		cr_assert_eq(app->entries[i].len, ents_out[i].len);
		if (ents_out[i].len)
			cr_assert_eq(
			    memcmp(app->entries[i].data, ents_out[i].data, ents_out[i].len), 0);
	}
	cr_assert_eq(dmsgs[RAFT_MSG_PROP - 1].entries[0].index, 0, "proposals have no index yet");
	const struct raft_message *s = &dmsgs[RAFT_MSG_SNAP - 1];
	cr_assert_eq(s->snap.index, 10);
	cr_assert_eq(s->snap.term, 6);
	cr_assert_eq(s->snap.size_bytes, 100);
	cr_assert(raft_conf_equal(&s->snap.conf, &msgs_out[RAFT_MSG_SNAP].snap.conf));
	cr_assert_eq(s->offset, 40);
	cr_assert_eq(s->len, 5);
	cr_assert_eq(memcmp(s->data, "chunk", 5), 0);
	cr_assert_eq(dmsgs[RAFT_MSG_SNAP_RESP - 1].offset, 64);
}

Test(raft_codec, heartbeats_are_compact)
{
	struct raft_message hb = {.type = RAFT_MSG_HEARTBEAT,
	                          .group_id = 17,
	                          .from = 1,
	                          .to = 2,
	                          .term = 3,
	                          .commit = 200,
	                          .ctx = 4};
	struct raft_frame_writer w;
	raft_frame_begin(&w, buf, sizeof(buf), 1);
	for (int i = 0; i < 1000; i++) {
		hb.group_id = 1000u + (uint64_t)i;
		cr_assert_eq(raft_frame_add_msg(&w, &hb), 0);
	}
	size_t len = raft_frame_finish(&w);
	cr_assert_lt(len, RAFT_FRAME_HEADER_BYTES + 1000 * 12, "1,000 heartbeats in < 12 KB");
}

Test(raft_codec, every_flipped_byte_is_refused)
{
	size_t len = encode_all();
	uint8_t *copy = malloc(len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(copy, buf, len);
			copy[i] ^= (uint8_t)(1u << bit);
			struct raft_frame f;
			int rc = decode(copy, len, &f, 64);
			cr_assert(rc == ERR_CORRUPT || rc == ERR_PROTO, "byte %zu bit %d accepted",
			          i, bit);
			cr_assert_eq(f.n_msgs, 0, "nothing is handed out from a refused frame");
		}
	}
	free(copy);
}

Test(raft_codec, every_truncation_is_refused)
{
	size_t len = encode_all();
	for (size_t n = 0; n < len; n++) {
		struct raft_frame f;
		int rc = decode(buf, n, &f, 64);
		cr_assert(rc == ERR_PROTO || rc == ERR_CORRUPT, "prefix of %zu bytes accepted", n);
	}
}

Test(raft_codec, caps_and_senders)
{
	size_t len = encode_all();
	struct raft_frame f;
	cr_assert_eq(decode(buf, len, &f, 3), ERR_TOOBIG, "more messages than the arrays hold");
	memset(&f, 0, sizeof(f));
	f.msgs = dmsgs;
	f.msgs_cap = 64;
	f.ents = dents;
	f.ents_cap = 64;
	cr_assert_eq(raft_frame_decode(buf, len, 3, &f), ERR_PROTO, "a frame from ourselves");
	/* a writer that is full says so and leaves the frame intact */
	uint8_t small[200];
	struct raft_frame_writer w;
	raft_frame_begin(&w, small, sizeof(small), 3);
	int rc = 0, n = 0;
	while ((rc = raft_frame_add_msg(&w, &msgs_out[RAFT_MSG_APP_RESP])) == 0)
		n++;
	cr_assert_eq(rc, ERR_TOOBIG);
	size_t flen = raft_frame_finish(&w);
	cr_assert_eq(decode(small, flen, &f, 64), 0);
	cr_assert_eq(f.n_msgs, (uint32_t)n);
}

Test(raft_codec, random_garbage_never_crashes)
{
	uint64_t x = 88172645463325252ULL;
	size_t len = encode_all();
	uint8_t *copy = malloc(len);
	for (int round = 0; round < 2000; round++) {
		memcpy(copy, buf, len);
		for (int k = 0; k < 4; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			copy[RAFT_FRAME_HEADER_BYTES + x % (len - RAFT_FRAME_HEADER_BYTES)] =
			    (uint8_t)(x >> 24);
		}
		uint64_t sum =
		    raft_frame_checksum(copy, len); /* reseal: exercise the parser itself */
		for (int i = 0; i < 8; i++)
			copy[24 + i] = (uint8_t)(sum >> (8 * i));
		struct raft_frame f;
		int rc = decode(copy, len, &f, 64);
		cr_assert(rc == 0 || rc == ERR_PROTO || rc == ERR_TOOBIG);
	}
	free(copy);
}
