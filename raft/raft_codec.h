/*
 * raft_codec.h — the wire format of Raft traffic between two nodes: one frame carries messages
 * for any number of groups, coalesced heartbeats and the node-level heartbeat.
 *
 * Frame (all integers little-endian; "varint" = unsigned LEB128, at most 10 bytes):
 *   header, 32 bytes:
 *     u8  magic 0x52 ('R')      u8 version (1)     u16 reserved (0)
 *     u32 body_len              u32 n_records      u32 reserved (0)
 *     u64 from_node
 *     u64 checksum = XXH3_64bits over header bytes [0,24) with the checksum field absent,
 *                    then the body (XXH3 streaming)
 *   body: n_records records, each starting with a u8 record kind:
 *     1 NODE     varint incarnation, u8 flags (bit0: this is a reply)        (node liveness)
 *     2 HB       u8 msg type (HEARTBEAT|HEARTBEAT_RESP), u8 flags, varint group, varint term,
 *                varint commit, varint ctx, varint index                      (coalesced heartbeat)
 *     3 MSG      u8 type, u8 flags, varint group, term, index, log_term, commit, hint, ctx,
 *                then by type:
 *                  APP, PROP: varint n, n x { varint term, u8 entry type, varint len, bytes }
 *                             (APP entry i has index = index + 1 + i; PROP entries index 0)
 *                  SNAP:      varint size, conf (u8 n_voters, u8 n_learners, varint ids...),
 *                             varint offset, varint len, bytes   (snap index/term = index/log_term)
 *                  SNAP_RESP: varint offset
 * A message's from is the frame's from_node, its to is the receiving node.
 *
 * Decoding never trusts the bytes: magic, version, lengths, counts against caps and limits, and the
 * checksum are checked; any mismatch is ERR_CORRUPT (checksum) or ERR_PROTO (structure) and
 * nothing is returned. Decoded payloads point into the frame buffer (zero copy).
 */
#ifndef RAFT_RAFT_CODEC_H
#define RAFT_RAFT_CODEC_H

#include "raft/raft.h"

#include <stddef.h>
#include <stdint.h>

#define RAFT_FRAME_MAGIC 0x52
#define RAFT_FRAME_VERSION 1
#define RAFT_FRAME_HEADER_BYTES 32

enum raft_record_kind {
	RAFT_REC_NODE = 1,
	RAFT_REC_HB = 2,
	RAFT_REC_MSG = 3,
};

/* Worst-case encoded size of one message (header fields + payload). */
size_t raft_codec_msg_size_max(const struct raft_message *m);

/* Incremental writer into a caller-provided buffer. */
struct raft_frame_writer {
	uint8_t *buf;
	size_t cap;
	size_t len; /* bytes used, header included */
	uint32_t n_records;
	uint32_t n_entries; /* <= LIMIT_RAFT_FRAME_ENTRIES, so a receiver's arrays always suffice */
	uint64_t from_node;
};

void raft_frame_begin(struct raft_frame_writer *w, uint8_t *buf, size_t cap, uint64_t from_node);
/* Append a record; ERR_TOOBIG if it does not fit (nothing written: finish this frame, start
 * another). Heartbeats (and their replies) are written as compact HB records. */
int raft_frame_add_node(struct raft_frame_writer *w, uint64_t incarnation, int reply) WUR;
int raft_frame_add_msg(struct raft_frame_writer *w, const struct raft_message *m) WUR;
/* Seal the header and checksum; returns the frame length (0 if no records were added). */
size_t raft_frame_finish(struct raft_frame_writer *w);

/* The checksum a frame of len bytes must carry at [24, 32) (for fuzzers that mutate frames and
 * want the structural checks exercised, not just the checksum). */
uint64_t raft_frame_checksum(const uint8_t *buf, size_t len);

/* One decoded frame. The caller provides the arrays; pointers refer into the frame bytes. */
struct raft_frame {
	uint64_t from_node;
	int have_node;
	uint64_t incarnation;
	int node_reply;
	struct raft_message *msgs;
	uint32_t msgs_cap;
	uint32_t n_msgs;
	struct raft_entry *ents;
	uint32_t ents_cap;
	uint32_t n_ents;
};

/* Decode frame bytes addressed to to_node. Returns 0, ERR_CORRUPT (checksum), ERR_PROTO
 * (malformed) or ERR_TOOBIG (more messages/entries than the arrays hold). */
int raft_frame_decode(const uint8_t *buf, size_t len, uint64_t to_node, struct raft_frame *f) WUR;

#endif
