/*
 * segment.c — the Raft log's segment files: creating (header, preallocation, fsyncs), the
 * per-segment group summaries retention needs, deleting a prefix, and reading records back.
 *
 * Invariants: a segment file becomes the active one only after its header is durable and its
 * name is durable (directory fsync), so a record written to it is never lost with its name.
 * Deletion removes a prefix of the segments, oldest first, never the active one, and ends with
 * a directory fsync. Reads verify the record's checksum and that it is the record asked for.
 */
#define _GNU_SOURCE
#include "storage/raftlog/internal.h"
#include "core/assert.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rl_seg_path(const struct raftlog *log, uint64_t seq, char *out, size_t cap)
{
	char name[RL_SEG_NAME_BYTES];
	rl_seg_name(name, seq);
	int n = snprintf(out, cap, "%s/%s", log->dir, name);
	if (n < 0 || (size_t)n >= cap)
		return ERR_TOOBIG;
	return 0;
}

struct rl_seg *rl_seg_get(const struct raftlog *log, uint32_t seq)
{
	if (log->nsegs == 0 || seq < log->segs[0]->seq)
		return NULL;
	size_t i = seq - log->segs[0]->seq;
	if (i >= log->nsegs)
		return NULL;
	ASSERT(log->segs[i]->seq == seq);
	return log->segs[i];
}

int rl_seg_push(struct raftlog *log, uint32_t seq, struct rl_seg **out)
{
	ASSERT(log->nsegs == 0 || rl_seg_active(log)->seq + 1 == seq);
	if (log->nsegs >= LIMIT_RAFTLOG_SEGMENTS_MAX)
		return ERR_NOSPC;
	if (log->nsegs == log->segs_cap) {
		size_t cap = log->segs_cap ? log->segs_cap * 2 : 16;
		struct rl_seg **v = realloc(log->segs, cap * sizeof *v);
		if (!v)
			return ERR_NOMEM;
		log->segs = v;
		log->segs_cap = cap;
	}
	struct rl_seg *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	s->seq = seq;
	s->end = RL_SEG_HEADER_BYTES;
	log->segs[log->nsegs++] = s;
	*out = s;
	return 0;
}

int rl_preallocate(struct raftlog *log, struct io_file *f, uint64_t bytes)
{
	int fd = io_file_fd(f);
	if (log->cfg.no_preallocate || fd < 0)
		return 0;
	if (fallocate(fd, 0, 0, (off_t)bytes) == 0)
		return 0;
	if (errno == EOPNOTSUPP || errno == ENOSYS)
		return 0; /* a file system without fallocate: the log works, only slower */
	return err_from_errno(errno);
}

int rl_seg_reserve(struct rl_seg *s, uint32_t more)
{
	if (s->ngroups + more <= s->cap)
		return 0;
	uint32_t cap = s->cap ? s->cap : 8;
	while (cap < s->ngroups + more)
		cap *= 2;
	struct rl_seg_group *v = realloc(s->groups, cap * sizeof *v);
	if (!v)
		return ERR_NOMEM;
	s->groups = v;
	s->cap = cap;
	return 0;
}

int rl_seg_note(struct raftlog *log, struct rl_seg *s, struct rl_group *g, uint64_t entry_index)
{
	(void)log;
	if (g->has_slot && g->slot_seq == s->seq) {
		ASSERT(g->slot_idx < s->ngroups && s->groups[g->slot_idx].group == g->id);
		if (entry_index > s->groups[g->slot_idx].max_index)
			s->groups[g->slot_idx].max_index = entry_index;
		return 0;
	}
	ASSERT(!g->has_slot || g->slot_seq < s->seq);
	int rc = rl_seg_reserve(s, 1);
	if (rc)
		return rc;
	s->groups[s->ngroups] = (struct rl_seg_group){.group = g->id, .max_index = entry_index};
	g->slot_seq = s->seq;
	g->slot_idx = s->ngroups++;
	g->has_slot = 1;
	return 0;
}

/* Create segment file seq, durable with its name, not yet part of the log. */
static int seg_file_make(struct raftlog *log, uint32_t seq, struct io_file **out)
{
	char path[LIMIT_PATH_BYTES];
	int rc = rl_seg_path(log, seq, path, sizeof path);
	if (rc)
		return rc;
	/* seq is past every live segment: a file with that name can only be the remains of an
	 * earlier failed attempt (its removal may have failed too), so it is overwritten. */
	struct io_file *f;
	rc = io_file_open(log->fs, path, IO_OPEN_CREATE | IO_OPEN_TRUNC, &f);
	if (rc) {
		LOG_ERROR("raftlog: create %s: %s", path, err_str(rc));
		return rc;
	}
	/* Nothing in the new file is acknowledged yet, so failures up to the fsync are not fatal:
	 * remove the file and report (ENOSPC from fallocate is the usual one). */
	rc = rl_preallocate(log, f, log->segment_bytes);
	unsigned char hdr[RL_SEG_HEADER_BYTES];
	rl_seg_header_encode(hdr, &(struct rl_seg_header){.version = RL_FORMAT_VERSION, .seq = seq,
							  .core_id = (uint32_t)log->cfg.core_id});
	if (rc == 0)
		rc = io_file_pwrite(f, hdr, sizeof hdr, 0);
	if (rc) {
		LOG_ERROR("raftlog: prepare %s: %s", path, err_str(rc));
		io_file_close(f);
		if (io_fs_unlink(log->fs, path) != 0)
			LOG_WARN("raftlog: could not remove %s", path);
		return rc;
	}
	rc = io_file_sync(f);
	if (rc) {
		io_file_close(f);
		return rl_fatal(log, rc, "fdatasync of new segment %s", path);
	}
	rc = io_fs_sync_dir(log->fs, log->dir);
	if (rc) {
		io_file_close(f);
		return rl_fatal(log, rc, "directory fsync of %s after creating %s", log->dir, path);
	}
	*out = f;
	return 0;
}

void rl_seg_prepare_spare(struct raftlog *log)
{
	struct rl_seg *act = rl_seg_active(log);
	if (log->spare || log->failed || act->end < log->segment_bytes / 4 * 3)
		return;
	if (log->nsegs >= LIMIT_RAFTLOG_SEGMENTS_MAX)
		return; /* the roll will say ERR_NOSPC */
	struct io_file *f;
	if (seg_file_make(log, act->seq + 1, &f) != 0)
		return;
	log->spare = f;
	log->spare_seq = act->seq + 1;
	ASSERT(log->spare_seq == rl_seg_active(log)->seq + 1);
}

int rl_seg_create(struct raftlog *log, uint32_t seq)
{
	ASSERT(log->nsegs == 0 || seq == rl_seg_active(log)->seq + 1);
	if (log->nsegs >= LIMIT_RAFTLOG_SEGMENTS_MAX)
		return ERR_NOSPC;
	struct io_file *f;
	int rc = 0;
	if (log->spare && log->spare_seq == seq) {
		f = log->spare; /* made ahead of time, while a batch was in flight */
	} else {
		ASSERT(log->spare == NULL);
		rc = seg_file_make(log, seq, &f);
		if (rc)
			return rc;
	}
	log->spare = NULL;
	struct rl_seg *s;
	rc = rl_seg_push(log, seq, &s);
	if (rc) {
		log->spare = f; /* durable and empty: usable at the next attempt */
		log->spare_seq = seq;
		return rc;
	}
	if (log->active) {
		/* The batch in flight (if any) may still target the old active file. */
		if (log->inflight >= 0 && log->inflight_file == log->active) {
			ASSERT(log->retired == NULL);
			log->retired = log->active;
		} else {
			io_file_close(log->active);
		}
	}
	log->active = f;
	log->written_end = RL_SEG_HEADER_BYTES;
	log->retention_dirty = 1;
	LOG_DEBUG("raftlog: core %d rolled to segment %u", log->cfg.core_id, seq);
	return 0;
}

static void rfile_drop(struct raftlog *log, uint32_t seq)
{
	for (int i = 0; i < LIMIT_RAFTLOG_READ_FILES; i++) {
		struct rl_rfile *r = &log->rfiles[i];
		if (r->f && r->seq == seq) {
			io_file_close(r->f);
			r->f = NULL;
		}
	}
	if (log->win_valid && log->win_seq == seq)
		log->win_valid = 0;
}

int rl_seg_delete_prefix(struct raftlog *log, uint32_t upto)
{
	ASSERT(log->inflight < 0);
	size_t k = 0;
	while (k + 1 < log->nsegs && log->segs[k]->seq <= upto) {
		struct rl_seg *s = log->segs[k];
		char path[LIMIT_PATH_BYTES];
		int rc = rl_seg_path(log, s->seq, path, sizeof path);
		ASSERT(rc == 0); /* it was created with the same path */
		rfile_drop(log, s->seq);
		for (int b = 0; b < LIMIT_RAFTLOG_CACHE_BATCHES; b++) {
			struct rl_batch *bt = &log->batches[b];
			if (bt->bound && bt->seq == s->seq) {
				ASSERT(b != log->cur);
				bt->bound = 0;
				bt->len = 0;
			}
		}
		rc = io_fs_unlink(log->fs, path);
		if (rc && rc != ERR_NOTFOUND) {
			LOG_WARN("raftlog: unlink %s: %s (will retry)", path, err_str(rc));
			break;
		}
		k++;
	}
	if (k == 0)
		return 0;
	int rc = io_fs_sync_dir(log->fs, log->dir);
	if (rc)
		return rl_fatal(log, rc, "directory fsync of %s after deleting segments", log->dir);
	for (size_t i = 0; i < k; i++) {
		free(log->segs[i]->groups);
		free(log->segs[i]);
	}
	memmove(log->segs, log->segs + k, (log->nsegs - k) * sizeof *log->segs);
	log->nsegs -= k;
	log->stats.segments_deleted += k;
	ASSERT(log->nsegs >= 1);
	return 0;
}

int rl_seg_file(struct raftlog *log, uint32_t seq, struct io_file **out)
{
	struct rl_seg *act = rl_seg_active(log);
	ASSERT(act != NULL);
	if (seq == act->seq) {
		*out = log->active;
		return 0;
	}
	int victim = 0;
	for (int i = 0; i < LIMIT_RAFTLOG_READ_FILES; i++) {
		struct rl_rfile *r = &log->rfiles[i];
		if (r->f && r->seq == seq) {
			r->used = ++log->rfile_clock;
			*out = r->f;
			return 0;
		}
		if (!r->f || (log->rfiles[victim].f && r->used < log->rfiles[victim].used))
			victim = i;
	}
	char path[LIMIT_PATH_BYTES];
	int rc = rl_seg_path(log, seq, path, sizeof path);
	if (rc)
		return rc;
	struct rl_rfile *r = &log->rfiles[victim];
	if (r->f) {
		io_file_close(r->f);
		r->f = NULL;
	}
	rc = io_file_open(log->fs, path, IO_OPEN_READ, &r->f);
	if (rc) {
		r->f = NULL;
		LOG_ERROR("raftlog: open %s for reading: %s", path, err_str(rc));
		return rc;
	}
	r->seq = seq;
	r->used = ++log->rfile_clock;
	*out = r->f;
	return 0;
}

void rl_seg_close_all(struct raftlog *log)
{
	for (int i = 0; i < LIMIT_RAFTLOG_READ_FILES; i++) {
		if (log->rfiles[i].f)
			io_file_close(log->rfiles[i].f);
		log->rfiles[i].f = NULL;
	}
	if (log->retired)
		io_file_close(log->retired);
	if (log->active)
		io_file_close(log->active);
	if (log->spare)
		io_file_close(log->spare); /* an empty durable segment: recovery accepts it */
	log->retired = log->active = log->spare = NULL;
	log->win_valid = 0;
}

/* Bytes of segment seq that are on disk (written by completed batches). */
static uint64_t seg_disk_end(const struct raftlog *log, const struct rl_seg *s)
{
	return s == rl_seg_active(log) ? log->written_end : s->end;
}

static int win_load(struct raftlog *log, uint32_t seq, uint64_t off, uint64_t need)
{
	struct rl_seg *s = rl_seg_get(log, seq);
	if (!s)
		return ERR_CORRUPT;
	uint64_t end = seg_disk_end(log, s);
	if (off + need > end)
		return ERR_CORRUPT; /* the index points past the data: a bug or a damaged file */
	uint64_t want = need > LIMIT_RAFTLOG_READ_WINDOW_BYTES ? need : LIMIT_RAFTLOG_READ_WINDOW_BYTES;
	if (off + want > end)
		want = end - off;
	if (want > log->win_cap) {
		unsigned char *w = realloc(log->win, (size_t)want);
		if (!w)
			return ERR_NOMEM;
		log->win = w;
		log->win_cap = (size_t)want;
	}
	struct io_file *f;
	int rc = rl_seg_file(log, seq, &f);
	if (rc)
		return rc;
	log->win_valid = 0;
	int64_t n = io_file_pread(f, log->win, (size_t)want, off);
	if (n < 0)
		return (int)n;
	if ((uint64_t)n < need)
		return ERR_CORRUPT;
	log->win_seq = seq;
	log->win_off = off;
	log->win_len = (size_t)n;
	log->win_valid = 1;
	log->stats.disk_reads++;
	return 0;
}

int rl_read_record(struct raftlog *log, struct rl_loc loc, struct rl_rec *out)
{
	for (int b = 0; b < LIMIT_RAFTLOG_CACHE_BATCHES; b++) {
		const struct rl_batch *bt = &log->batches[b];
		if (!bt->bound || bt->seq != loc.seq || loc.off < bt->off || loc.off >= bt->off + bt->len)
			continue;
		size_t at = loc.off - bt->off;
		enum rl_dec d = rl_record_decode(bt->data + at, bt->len - at, loc.seq, loc.off, out);
		ASSERT(d == RL_DEC_OK); /* our own memory: anything else is a bug */
		return 0;
	}
	/* Bounded: load the window if it misses, decode, and if the record runs past the window
	 * load exactly the record and decode again. */
	for (int step = 0; step < 4; step++) {
		int rc = 0;
		if (!log->win_valid || log->win_seq != loc.seq || loc.off < log->win_off ||
		    loc.off + RL_REC_HEADER_BYTES > log->win_off + log->win_len) {
			rc = win_load(log, loc.seq, loc.off, RL_REC_HEADER_BYTES);
		} else {
			size_t at = (size_t)(loc.off - log->win_off);
			enum rl_dec d = rl_record_decode(log->win + at, log->win_len - at, loc.seq, loc.off, out);
			if (d == RL_DEC_OK)
				return 0;
			if (d == RL_DEC_BAD)
				break;
			uint64_t need = rl_record_size(rl_get_u32(log->win + at + 16)); /* SHORT */
			rc = win_load(log, loc.seq, loc.off, need);
		}
		if (rc == ERR_CORRUPT)
			break;
		if (rc)
			return rc;
	}
	char path[LIMIT_PATH_BYTES];
	if (rl_seg_path(log, loc.seq, path, sizeof path) != 0)
		path[0] = 0;
	LOG_ERROR("raftlog: corrupt record in %s at offset %u", path, loc.off);
	return ERR_CORRUPT;
}
