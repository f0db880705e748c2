/*
 * format.h — the Raft log's bytes on disk: segment header and records (storage/FORMAT.md,
 * "Raft log", is the reference; keep the two in step).
 *
 * Pure encode/decode, no I/O, so the fuzz target and recovery share it. Invariants:
 *   - every record starts at an 8-byte aligned offset >= RL_SEG_HEADER_BYTES and occupies
 *     rl_record_size(payload_len) bytes (header + payload + zero padding);
 *   - a record's checksum is seeded with (segment seq, offset): a record is valid only where
 *     it was written, so stale or misplaced bytes never decode as a record;
 *   - batch_start <= offset: the offset of the first record of the write batch (one
 *     write+fdatasync) the record went out in. Recovery uses it to tell a torn last batch
 *     from corruption in an earlier, synced one.
 */
#ifndef STORAGE_RAFTLOG_FORMAT_H
#define STORAGE_RAFTLOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define RL_FORMAT_VERSION 1u
#define RL_SEG_MAGIC "RGTRLOG\x01"         /* 8 bytes at offset 0 of a segment */
#define RL_SEG_HEADER_BYTES 64u
#define RL_REC_MAGIC 0x43524c52u           /* "RLRC" little-endian, at record offset 8 */
#define RL_REC_HEADER_BYTES 48u
#define RL_REC_ALIGN 8u
#define RL_HS_PAYLOAD_BYTES 8u             /* hard state: vote (term and commit are in the header) */
#define RL_SEG_NAME_SUFFIX ".rlog"
#define RL_SEG_NAME_BYTES 22               /* 16 hex digits + ".rlog" + NUL */
#define RL_INDEX_MAX (1ull << 62)          /* indices and terms above are refused: no overflow */

enum rl_kind {
	RL_KIND_ENTRY = 1,      /* term, index, entry type, payload */
	RL_KIND_HARD_STATE = 2, /* term = hs.term, index = hs.commit, payload = vote (u64) */
	RL_KIND_TRUNCATE = 3,   /* index: entries >= index are dropped */
	RL_KIND_COMPACT = 4,    /* index, term: entries <= index are dropped; base = (index, term) */
	RL_KIND_RESET = 5,      /* index, term: every entry dropped; base = (index, term) */
	RL_KIND_DROP = 6,       /* the group is forgotten */
	RL_KIND_MAX = 6,
};

struct rl_seg_header {
	uint32_t version;
	uint64_t seq;
	uint32_t core_id;
};

struct rl_rec {
	enum rl_kind kind;
	uint8_t entry_type;
	uint32_t len;          /* payload bytes */
	uint32_t batch_start;
	uint64_t group;
	uint64_t term;
	uint64_t index;
	const unsigned char *payload; /* points into the decoded buffer */
};

enum rl_dec {
	RL_DEC_OK = 0,
	RL_DEC_SHORT = 1, /* a plausible header, but the record runs past the bytes given */
	RL_DEC_BAD = 2,   /* not a record here (zeros, garbage, checksum mismatch) */
};

static inline uint64_t rl_record_size(uint32_t payload_len)
{
	return ((uint64_t)RL_REC_HEADER_BYTES + payload_len + RL_REC_ALIGN - 1) & ~(uint64_t)(RL_REC_ALIGN - 1);
}

/* Encode a record at p (rl_record_size(r->len) bytes available), payload copied from
 * r->payload. seq/off are where it will be written. Returns the bytes used. */
size_t rl_record_encode(unsigned char *p, const struct rl_rec *r, uint64_t seq, uint32_t off);

/* Decode the record at p (avail bytes readable there) written at (seq, off). */
enum rl_dec rl_record_decode(const unsigned char *p, size_t avail, uint64_t seq, uint32_t off,
			     struct rl_rec *out);

void rl_seg_header_encode(unsigned char p[RL_SEG_HEADER_BYTES], const struct rl_seg_header *h);
/* 0, or ERR_CORRUPT (bad magic/checksum), ERR_UNSUPPORTED (unknown version). */
int rl_seg_header_decode(const unsigned char *p, size_t avail, struct rl_seg_header *out);

/* "%016llx.rlog"; parse returns 0 and the seq, or ERR_INVAL for other names. */
void rl_seg_name(char out[RL_SEG_NAME_BYTES], uint64_t seq);
int rl_seg_name_parse(const char *name, uint64_t *seq);

/* Little-endian helpers. */
static inline void rl_put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static inline void rl_put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint32_t rl_get_u32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}
static inline uint64_t rl_get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#endif
