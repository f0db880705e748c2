/*
 * format.c — encode/decode of Raft log segment headers and records (see format.h and
 * storage/FORMAT.md). Decoding trusts nothing: every length is bounded before use, reserved
 * bytes must be zero, and the checksum covers every header byte after itself plus the payload.
 */
#include "storage/raftlog/format.h"
#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"

#include <stdio.h>
#include <string.h>
#include <xxhash.h>

/* Record header layout (offsets). */
#define R_CSUM 0
#define R_MAGIC 8
#define R_KIND 12
#define R_ETYPE 13
#define R_RSVD 14
#define R_LEN 16
#define R_BATCH 20
#define R_GROUP 24
#define R_TERM 32
#define R_INDEX 40

/* Segment header layout. */
#define S_MAGIC 0
#define S_VERSION 8
#define S_HDRLEN 12
#define S_SEQ 16
#define S_CORE 24
#define S_CSUM 56

static uint64_t rec_seed(uint64_t seq, uint32_t off) { return (seq << 32) ^ off; }

size_t rl_record_encode(unsigned char *p, const struct rl_rec *r, uint64_t seq, uint32_t off)
{
	ASSERT(r->kind >= RL_KIND_ENTRY && r->kind <= RL_KIND_MAX);
	ASSERT(r->len <= LIMIT_RAFTLOG_ENTRY_BYTES && r->batch_start <= off);
	ASSERT(off % RL_REC_ALIGN == 0);
	size_t size = (size_t)rl_record_size(r->len);
	rl_put_u32(p + R_MAGIC, RL_REC_MAGIC);
	p[R_KIND] = (unsigned char)r->kind;
	p[R_ETYPE] = r->entry_type;
	p[R_RSVD] = 0;
	p[R_RSVD + 1] = 0;
	rl_put_u32(p + R_LEN, r->len);
	rl_put_u32(p + R_BATCH, r->batch_start);
	rl_put_u64(p + R_GROUP, r->group);
	rl_put_u64(p + R_TERM, r->term);
	rl_put_u64(p + R_INDEX, r->index);
	if (r->len)
		memcpy(p + RL_REC_HEADER_BYTES, r->payload, r->len);
	memset(p + RL_REC_HEADER_BYTES + r->len, 0, size - RL_REC_HEADER_BYTES - r->len);
	uint64_t sum = XXH3_64bits_withSeed(p + R_MAGIC, RL_REC_HEADER_BYTES - R_MAGIC + r->len,
					    rec_seed(seq, off));
	rl_put_u64(p + R_CSUM, sum);
	return size;
}

enum rl_dec rl_record_decode(const unsigned char *p, size_t avail, uint64_t seq, uint32_t off,
			     struct rl_rec *out)
{
	if (avail < RL_REC_HEADER_BYTES || off % RL_REC_ALIGN != 0 || off < RL_SEG_HEADER_BYTES)
		return avail < RL_REC_HEADER_BYTES ? RL_DEC_SHORT : RL_DEC_BAD;
	if (rl_get_u32(p + R_MAGIC) != RL_REC_MAGIC)
		return RL_DEC_BAD;
	unsigned kind = p[R_KIND];
	uint32_t len = rl_get_u32(p + R_LEN);
	uint32_t batch = rl_get_u32(p + R_BATCH);
	if (kind < RL_KIND_ENTRY || kind > RL_KIND_MAX || p[R_RSVD] || p[R_RSVD + 1])
		return RL_DEC_BAD;
	if (len > LIMIT_RAFTLOG_ENTRY_BYTES || batch > off || batch < RL_SEG_HEADER_BYTES ||
	    batch % RL_REC_ALIGN != 0)
		return RL_DEC_BAD;
	if (kind != RL_KIND_ENTRY && p[R_ETYPE] != 0)
		return RL_DEC_BAD;
	if (kind == RL_KIND_HARD_STATE ? len != RL_HS_PAYLOAD_BYTES : kind != RL_KIND_ENTRY && len != 0)
		return RL_DEC_BAD;
	if ((uint64_t)RL_REC_HEADER_BYTES + len > avail)
		return RL_DEC_SHORT;
	uint64_t sum = XXH3_64bits_withSeed(p + R_MAGIC, RL_REC_HEADER_BYTES - R_MAGIC + len,
					    rec_seed(seq, off));
	if (sum != rl_get_u64(p + R_CSUM))
		return RL_DEC_BAD;
	out->kind = (enum rl_kind)kind;
	out->entry_type = p[R_ETYPE];
	out->len = len;
	out->batch_start = batch;
	out->group = rl_get_u64(p + R_GROUP);
	out->term = rl_get_u64(p + R_TERM);
	out->index = rl_get_u64(p + R_INDEX);
	out->payload = p + RL_REC_HEADER_BYTES;
	/* Checksummed, so a bad value here was written by us: still refuse nonsense. */
	if ((kind == RL_KIND_ENTRY || kind == RL_KIND_TRUNCATE || kind == RL_KIND_RESET) && out->index == 0)
		return RL_DEC_BAD;
	if (out->index > RL_INDEX_MAX || out->term > RL_INDEX_MAX)
		return RL_DEC_BAD;
	return RL_DEC_OK;
}

void rl_seg_header_encode(unsigned char p[RL_SEG_HEADER_BYTES], const struct rl_seg_header *h)
{
	ASSERT(h->version == RL_FORMAT_VERSION);
	memset(p, 0, RL_SEG_HEADER_BYTES);
	memcpy(p + S_MAGIC, RL_SEG_MAGIC, 8);
	rl_put_u32(p + S_VERSION, h->version);
	rl_put_u32(p + S_HDRLEN, RL_SEG_HEADER_BYTES);
	rl_put_u64(p + S_SEQ, h->seq);
	rl_put_u32(p + S_CORE, h->core_id);
	rl_put_u64(p + S_CSUM, XXH3_64bits(p, S_CSUM));
}

int rl_seg_header_decode(const unsigned char *p, size_t avail, struct rl_seg_header *out)
{
	if (avail < RL_SEG_HEADER_BYTES || memcmp(p + S_MAGIC, RL_SEG_MAGIC, 8) != 0)
		return ERR_CORRUPT;
	if (XXH3_64bits(p, S_CSUM) != rl_get_u64(p + S_CSUM))
		return ERR_CORRUPT;
	if (rl_get_u32(p + S_HDRLEN) != RL_SEG_HEADER_BYTES)
		return ERR_CORRUPT;
	uint32_t version = rl_get_u32(p + S_VERSION);
	if (version != RL_FORMAT_VERSION)
		return ERR_UNSUPPORTED;
	out->version = version;
	out->seq = rl_get_u64(p + S_SEQ);
	out->core_id = rl_get_u32(p + S_CORE);
	return 0;
}

void rl_seg_name(char out[RL_SEG_NAME_BYTES], uint64_t seq)
{
	int n = snprintf(out, RL_SEG_NAME_BYTES, "%016llx" RL_SEG_NAME_SUFFIX, (unsigned long long)seq);
	ASSERT(n == RL_SEG_NAME_BYTES - 1);
}

int rl_seg_name_parse(const char *name, uint64_t *seq)
{
	if (strlen(name) != RL_SEG_NAME_BYTES - 1 || strcmp(name + 16, RL_SEG_NAME_SUFFIX) != 0)
		return ERR_INVAL;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = name[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return ERR_INVAL;
		v = (v << 4) | d;
	}
	*seq = v;
	return 0;
}
