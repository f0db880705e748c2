/* fuzz_raft_frame.c — the Raft frame decoder (raft/raft_codec.h) on hostile bytes.
 *
 * Each input is decoded as is (the checksum refuses almost everything) and again with its checksum
 * recomputed, so the structural checks see the mutations. A frame that decodes must re-encode to
 * a frame that decodes to the same messages (round trip), else we abort. */
#include "raft/raft_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct raft_message msgs[LIMIT_RAFT_FRAME_MSGS];
static struct raft_entry ents[LIMIT_RAFT_FRAME_ENTRIES];
static struct raft_message msgs2[LIMIT_RAFT_FRAME_MSGS];
static struct raft_entry ents2[LIMIT_RAFT_FRAME_ENTRIES];

static int decode(const uint8_t *b, size_t len, struct raft_frame *f, struct raft_message *m,
                  struct raft_entry *e)
{
	memset(f, 0, sizeof(*f));
	f->msgs = m;
	f->msgs_cap = LIMIT_RAFT_FRAME_MSGS;
	f->ents = e;
	f->ents_cap = LIMIT_RAFT_FRAME_ENTRIES;
	return raft_frame_decode(b, len, 2, f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct raft_frame f;
	(void)decode(data, size, &f, msgs, ents);
	if (size < RAFT_FRAME_HEADER_BYTES || size > (1u << 20))
		return 0;
	uint8_t *copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	uint64_t sum = raft_frame_checksum(copy, size);
	for (int i = 0; i < 8; i++)
		copy[24 + i] = (uint8_t)(sum >> (8 * i));
	if (decode(copy, size, &f, msgs, ents) == 0 && f.from_node != 0) {
		size_t cap = size * 2 + 1024;
		uint8_t *out = malloc(cap);
		struct raft_frame_writer w;
		raft_frame_begin(&w, out, cap, f.from_node);
		int ok = 1;
		for (uint32_t i = 0; i < f.n_msgs && ok; i++)
			ok = raft_frame_add_msg(&w, &msgs[i]) == 0;
		size_t len = raft_frame_finish(&w);
		if (ok && len > 0) {
			struct raft_frame g;
			if (decode(out, len, &g, msgs2, ents2) != 0 || g.n_msgs != f.n_msgs)
				abort();
			for (uint32_t i = 0; i < f.n_msgs; i++) {
				const struct raft_message *a = &msgs[i], *b = &msgs2[i];
				if (a->type != b->type || a->group_id != b->group_id ||
				    a->term != b->term || a->commit != b->commit ||
				    a->n_entries != b->n_entries || a->len != b->len)
					abort();
				for (uint32_t k = 0; k < a->n_entries; k++)
					if (a->entries[k].len != b->entries[k].len ||
					    (a->entries[k].len &&
					     memcmp(a->entries[k].data, b->entries[k].data,
					            a->entries[k].len) != 0))
						abort();
			}
		}
		free(out);
	}
	free(copy);
	return 0;
}
