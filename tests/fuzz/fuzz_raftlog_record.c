/* fuzz_raftlog_record.c — Raft log record and segment decoding, and recovery, on hostile bytes.
 *
 * Input: byte 0 is flags, the rest a segment image. Bit 0: "re-seal" — recompute the header
 * and record checksums (where the magic is in place) so mutations reach the field checks and
 * recovery's handling of odd but checksummed records. Bit 1: split the image into two segment
 * files at an aligned offset given by byte 1.
 * Checks: decoding never reads out of bounds or asserts; a decoded record re-encodes to the same
 * bytes; opening a log over the image either fails cleanly (ERR_CORRUPT, ...) or yields a log
 * whose every entry reads back, that accepts an append and reopens with it.
 */
#include "core/io_fs_sim.h"
#include "core/log.h"
#include "storage/raftlog.h"
#include "storage/raftlog/format.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_DIR "/rl"

static void reseal(unsigned char *img, size_t len, uint64_t seq)
{
	if (len >= RL_SEG_HEADER_BYTES && memcmp(img, RL_SEG_MAGIC, 8) == 0) {
		rl_put_u64(img + 16, seq);
		rl_put_u64(img + 56, XXH3_64bits(img, 56));
	}
	for (size_t off = RL_SEG_HEADER_BYTES; off + RL_REC_HEADER_BYTES <= len; off += RL_REC_ALIGN) {
		if (rl_get_u32(img + off + 8) != RL_REC_MAGIC)
			continue;
		uint32_t plen = rl_get_u32(img + off + 16);
		if (plen > len - off - RL_REC_HEADER_BYTES)
			continue;
		uint64_t sum = XXH3_64bits_withSeed(img + off + 8, RL_REC_HEADER_BYTES - 8 + plen,
						    (seq << 32) ^ (uint32_t)off);
		rl_put_u64(img + off, sum);
	}
}

static void decode_all(const unsigned char *img, size_t len, uint64_t seq)
{
	struct rl_seg_header h;
	(void)rl_seg_header_decode(img, len, &h);
	for (size_t off = RL_SEG_HEADER_BYTES; off < len; off += RL_REC_ALIGN) {
		struct rl_rec r;
		if (rl_record_decode(img + off, len - off, seq, (uint32_t)off, &r) != RL_DEC_OK)
			continue;
		/* A decoded record re-encodes to exactly the bytes it came from (its zero padding
		 * may be cut off by the end of the file). */
		unsigned char *re = malloc(rl_record_size(r.len));
		if (!re)
			abort();
		(void)rl_record_encode(re, &r, seq, (uint32_t)off);
		if (memcmp(re, img + off, RL_REC_HEADER_BYTES + r.len) != 0)
			abort();
		free(re);
	}
}

static int read_all(void *ctx, const struct raftlog_entry *e)
{
	(void)e;
	(*(uint64_t *)ctx)++;
	return 0;
}

struct walk {
	struct raftlog *log;
	int bad;
	uint64_t any_group;
	int have_group;
};

static int walk_group(void *ctx, uint64_t group)
{
	struct walk *w = ctx;
	struct raftlog_group_info gi;
	if (raftlog_group_info(w->log, group, &gi) != 0 || gi.last_index < gi.base_index) {
		w->bad = 1;
		return 1;
	}
	w->any_group = group;
	w->have_group = 1;
	uint64_t n = 0, lo = gi.first_index, hi = gi.last_index + 1;
	if (hi - lo > 100000) /* a huge sparse-looking range would be a bug: entries are real */
		lo = hi - 100000;
	while (lo < hi) {
		int rc = raftlog_read(w->log, group, lo, hi, 1 << 20, read_all, &n);
		if (rc <= 0) {
			/* checksummed data that decoded once must read back the same */
			w->bad = 1;
			return 1;
		}
		lo += (uint64_t)rc;
	}
	return 0;
}

static void noop_durable(void *ctx, const struct raftlog_durable *d)
{
	(void)ctx;
	(void)d;
}

static int open_log(struct io_fs *fs, struct raftlog **out)
{
	struct raftlog_config cfg = {.fs = fs, .dir = FZ_DIR, .segment_bytes = 1u << 20, .on_durable = noop_durable};
	return raftlog_open(&cfg, out);
}

static void write_file(struct io_fs *fs, const char *path, const unsigned char *p, size_t len)
{
	struct io_file *f;
	if (io_file_open(fs, path, IO_OPEN_CREATE | IO_OPEN_TRUNC, &f) != 0)
		abort();
	if (io_file_pwrite(f, p, len, 0) != 0 || io_file_sync(f) != 0)
		abort();
	io_file_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet) {
		log_set_level(LOG_LEVEL_OFF);
		quiet = 1;
	}
	if (size < 2)
		return 0;
	uint8_t flags = data[0];
	size_t split = (size_t)data[1] * 64;
	size_t len = size - 2;
	unsigned char *img = malloc(len ? len : 1);
	if (!img)
		abort();
	memcpy(img, data + 2, len);
	int two = (flags & 2) && split >= RL_SEG_HEADER_BYTES && split < len;
	size_t len1 = two ? split : len;
	if (flags & 1) {
		reseal(img, len1, 1);
		if (two)
			reseal(img + len1, len - len1, 2);
	}
	decode_all(img, len1, 1);
	if (two)
		decode_all(img + len1, len - len1, 2);

	struct io_fs *fs = io_fs_sim_new(size);
	if (io_fs_mkdir_all(fs, FZ_DIR) != 0)
		abort();
	write_file(fs, FZ_DIR "/0000000000000001.rlog", img, len1);
	if (two)
		write_file(fs, FZ_DIR "/0000000000000002.rlog", img + len1, len - len1);
	if (io_fs_sync_dir(fs, FZ_DIR) != 0)
		abort();
	struct raftlog *log = NULL;
	int rc = open_log(fs, &log);
	if (rc == 0) {
		struct walk w = {.log = log};
		if (raftlog_groups(log, walk_group, &w) != 0 || w.bad)
			abort();
		/* The recovered log takes new writes and keeps them across a reopen. */
		uint64_t g = w.have_group ? w.any_group : 1;
		struct raftlog_group_info gi = {0};
		if (raftlog_group_info(log, g, &gi) != 0)
			gi = (struct raftlog_group_info){0}; /* no group yet: start one */
		static const uint8_t payload[3] = {1, 2, 3};
		struct raftlog_entry e = {.term = gi.last_term + 1, .index = gi.last_index + 1, .len = 3,
					  .data = payload};
		int arc = raftlog_append(log, g, &e, 1);
		if (arc == 0 && raftlog_flush(log) != 0)
			abort();
		raftlog_close(log);
		log = NULL;
		if (open_log(fs, &log) != 0)
			abort(); /* what we wrote ourselves must reopen */
		if (arc == 0) {
			struct raftlog_group_info gj;
			if (raftlog_group_info(log, g, &gj) != 0 || gj.last_index != e.index)
				abort();
		}
		raftlog_close(log);
	} else if (rc != ERR_CORRUPT && rc != ERR_UNSUPPORTED && rc != ERR_NOMEM) {
		abort(); /* the simulated disk never fails here: only the bytes can be wrong */
	}
	io_fs_sim_free(fs);
	free(img);
	return 0;
}
