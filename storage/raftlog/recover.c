/*
 * recover.c — opening a core's Raft log: list the segments, scan every record in order to
 * rebuild the in-memory index, cut a torn tail, refuse corruption before it; and closing.
 *
 * What counts as a torn tail (docs/raftlog.md explains why this is sound): batches are written
 * one at a time, each after the previous one is durable, so a valid record of a LATER batch
 * proves every earlier batch was durable. Scanning stops at the first offset X that does not
 * hold a valid record. Then:
 *   - a valid record after X in the same segment whose batch started after X, or any valid
 *     record in a later segment, while the bytes at X are not a clean end (zeros / end of
 *     file), means a durable record was damaged: ERR_CORRUPT naming the file and X;
 *   - a valid later-batch record after a clean end is a lost write: also ERR_CORRUPT;
 *   - otherwise X is the end of the log there; non-zero bytes after X are the remains of the
 *     last, unacknowledged batch and are cut off (truncate + fdatasync) before open returns.
 * Everything recovery keeps is made durable before open returns (every segment fdatasync'ed,
 * the directory fsync'ed): after a process crash, written but unsynced records and names sit in
 * the page cache, and recovery reports every entry it found as durable.
 * A segment whose header is not valid is accepted only as the newest one and only if it holds
 * no valid record (a crash while creating it); it is removed.
 */
#include "storage/raftlog/internal.h"
#include "core/assert.h"
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READER_CHUNK_BYTES (1u << 20)

static __thread char open_error[512];

void rl_set_open_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(open_error, sizeof open_error, fmt, ap);
	va_end(ap);
	LOG_ERROR("raftlog: %s", open_error);
}

const char *raftlog_open_error(void) { return open_error; }

/* ---- a buffered reader over one file ----------------------------------------------------- */

struct reader {
	struct io_file *f;
	uint64_t size;
	unsigned char *buf;
	size_t cap;
	uint64_t boff;
	size_t blen;
};

/* Make [off, off + need) readable (less at end of file). *avail: bytes readable from off. */
static int reader_at(struct reader *r, uint64_t off, size_t need, const unsigned char **p, size_t *avail)
{
	ASSERT(r->f != NULL && need > 0);
	if (off >= r->boff && off + need <= r->boff + r->blen) {
		*p = r->buf + (off - r->boff);
		*avail = (size_t)(r->boff + r->blen - off);
		return 0;
	}
	size_t want = need > READER_CHUNK_BYTES ? need : READER_CHUNK_BYTES;
	if (off >= r->size)
		want = 0;
	else if (off + want > r->size)
		want = (size_t)(r->size - off);
	if (want > r->cap) {
		unsigned char *b = realloc(r->buf, want);
		if (!b)
			return ERR_NOMEM;
		r->buf = b;
		r->cap = want;
	}
	int64_t n = want ? io_file_pread(r->f, r->buf, want, off) : 0;
	if (n < 0)
		return (int)n;
	r->boff = off;
	r->blen = (size_t)n;
	*p = r->buf;
	*avail = (size_t)n;
	return 0;
}

/* Decode the record at off, reading as much as it needs. RL_DEC_SHORT becomes BAD (the file
 * ends inside it). */
static int read_record(struct reader *r, uint64_t seq, uint64_t off, struct rl_rec *out, enum rl_dec *d)
{
	ASSERT(off % RL_REC_ALIGN == 0 && off >= RL_SEG_HEADER_BYTES);
	const unsigned char *p;
	size_t avail;
	int rc = reader_at(r, off, RL_REC_HEADER_BYTES, &p, &avail);
	if (rc)
		return rc;
	*d = rl_record_decode(p, avail, seq, (uint32_t)off, out);
	if (*d == RL_DEC_SHORT && avail >= RL_REC_HEADER_BYTES) {
		size_t need = (size_t)rl_record_size(rl_get_u32(p + 16));
		rc = reader_at(r, off, need, &p, &avail);
		if (rc)
			return rc;
		*d = rl_record_decode(p, avail, seq, (uint32_t)off, out);
	}
	if (*d == RL_DEC_SHORT)
		*d = RL_DEC_BAD;
	return 0;
}

static const unsigned char zeros[4096];

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += sizeof zeros) {
		size_t k = n - i < sizeof zeros ? n - i : sizeof zeros;
		if (memcmp(p + i, zeros, k) != 0)
			return 0;
	}
	return 1;
}

/* Look for a valid record at an aligned offset in [from, size) whose batch started after
 * `after` (pass 0 for "any record"). Also says whether any byte in [from, size) is not zero.
 * Reads the range once, a chunk at a time; only offsets holding the record magic are decoded. */
static int find_record(struct reader *r, uint64_t seq, uint64_t from, uint64_t after, int *found,
		       uint64_t *found_off, int *dirty)
{
	ASSERT(from >= RL_SEG_HEADER_BYTES);
	*found = 0;
	if (dirty)
		*dirty = 0;
	uint64_t off = (from + RL_REC_ALIGN - 1) & ~(uint64_t)(RL_REC_ALIGN - 1);
	while (off < r->size) {
		size_t want = r->size - off < READER_CHUNK_BYTES ? (size_t)(r->size - off) : READER_CHUNK_BYTES;
		const unsigned char *p;
		size_t n;
		int rc = reader_at(r, off, want, &p, &n);
		if (rc)
			return rc;
		if (n > want)
			n = want;
		if (n == 0)
			break;
		if (dirty && !*dirty && !all_zero(p, n))
			*dirty = 1;
		for (size_t k = 0; k + 12 <= n; k += RL_REC_ALIGN) {
			if (rl_get_u32(p + k + 8) != RL_REC_MAGIC)
				continue;
			struct rl_rec rec;
			enum rl_dec d;
			rc = read_record(r, seq, off + k, &rec, &d);
			if (rc)
				return rc;
			if (d == RL_DEC_OK && (after == 0 || rec.batch_start > after)) {
				*found = 1;
				*found_off = off + k;
				return 0;
			}
			rc = reader_at(r, off, n, &p, &n); /* read_record may have moved the buffer */
			if (rc)
				return rc;
		}
		uint64_t step = n & ~(size_t)(RL_REC_ALIGN - 1);
		if (step == 0)
			break; /* fewer than 8 bytes left: nothing can start there */
		off += step;
	}
	return 0;
}

/* ---- listing ------------------------------------------------------------------------------ */

struct seg_list {
	uint64_t *v;
	size_t n, cap;
	int rc;
};

static int list_one(void *ctx, const char *name)
{
	struct seg_list *l = ctx;
	uint64_t seq;
	if (rl_seg_name_parse(name, &seq) != 0) {
		LOG_WARN("raftlog: ignoring unexpected file %s in the log directory", name);
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint64_t *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return ERR_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = seq;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* ---- recovery ----------------------------------------------------------------------------- */

struct scan {
	struct raftlog *log;
	uint64_t *seqs;
	size_t n;
	struct reader rd;  /* the segment being scanned */
	struct reader rd2; /* a later segment being probed */
	char path[LIMIT_PATH_BYTES];
};

static int open_reader(struct scan *sc, struct reader *r, uint64_t seq, char *path, size_t cap)
{
	int rc = rl_seg_path(sc->log, seq, path, cap);
	if (rc)
		return rc;
	rc = io_file_open(sc->log->fs, path, IO_OPEN_READ, &r->f);
	if (rc) {
		r->f = NULL;
		rl_set_open_error("open %s: %s", path, err_str(rc));
		return rc;
	}
	r->boff = r->blen = 0;
	rc = io_file_size(r->f, &r->size);
	if (rc)
		rl_set_open_error("size of %s: %s", path, err_str(rc));
	return rc;
}

static void close_reader(struct reader *r)
{
	if (r->f)
		io_file_close(r->f);
	r->f = NULL;
}

/* Whether segment seqs[i] (i < n) holds any valid record at all. */
static int seg_has_record(struct scan *sc, size_t i, int *found)
{
	char path[LIMIT_PATH_BYTES];
	int rc = open_reader(sc, &sc->rd2, sc->seqs[i], path, sizeof path);
	if (rc == 0) {
		uint64_t at;
		rc = find_record(&sc->rd2, sc->seqs[i], RL_SEG_HEADER_BYTES, 0, found, &at, NULL);
	}
	close_reader(&sc->rd2);
	return rc;
}

/* The newest segment's header is bad: accept (and remove) it only if it holds no record. */
static int drop_bad_newest(struct scan *sc, size_t i)
{
	int found = 0;
	int rc = seg_has_record(sc, i, &found);
	char path[LIMIT_PATH_BYTES];
	if (rc == 0)
		rc = rl_seg_path(sc->log, sc->seqs[i], path, sizeof path);
	if (rc)
		return rc;
	if (found) {
		rl_set_open_error("corrupt segment header in %s at offset 0 (records follow)", path);
		return ERR_CORRUPT;
	}
	LOG_WARN("raftlog: removing %s: its creation was interrupted (no valid header)", path);
	rc = io_fs_unlink(sc->log->fs, path);
	if (rc == 0)
		rc = io_fs_sync_dir(sc->log->fs, sc->log->dir);
	if (rc)
		rl_set_open_error("remove %s: %s", path, err_str(rc));
	return rc;
}

static int check_header(struct scan *sc, size_t i, int *bad)
{
	*bad = 0;
	char path[LIMIT_PATH_BYTES];
	struct reader r = {0};
	int rc = open_reader(sc, &r, sc->seqs[i], path, sizeof path);
	if (rc == 0) {
		const unsigned char *p;
		size_t avail;
		rc = reader_at(&r, 0, RL_SEG_HEADER_BYTES, &p, &avail);
		struct rl_seg_header h;
		int hrc = rc ? 0 : rl_seg_header_decode(p, avail, &h);
		if (rc == 0 && hrc == ERR_UNSUPPORTED) {
			rl_set_open_error("%s: unsupported raft log format version %u (this build reads %u)",
					  path, rl_get_u32(p + 8), RL_FORMAT_VERSION);
			rc = ERR_UNSUPPORTED;
		} else if (rc == 0 && (hrc || h.seq != sc->seqs[i])) {
			*bad = 1;
		}
	}
	close_reader(&r);
	free(r.buf);
	return rc;
}

static int scan_one(struct scan *sc, size_t i)
{
	struct raftlog *log = sc->log;
	uint64_t seq = sc->seqs[i];
	struct rl_seg *s = rl_seg_get(log, (uint32_t)seq);
	ASSERT(s != NULL);
	int rc = open_reader(sc, &sc->rd, seq, sc->path, sizeof sc->path);
	if (rc)
		return rc;
	uint64_t off = RL_SEG_HEADER_BYTES;
	while (off + RL_REC_HEADER_BYTES <= sc->rd.size) {
		struct rl_rec rec;
		enum rl_dec d;
		rc = read_record(&sc->rd, seq, off, &rec, &d);
		if (rc) {
			rl_set_open_error("read %s at offset %llu: %s", sc->path, (unsigned long long)off,
					  err_str(rc));
			return rc;
		}
		if (d != RL_DEC_OK)
			break;
		rc = rl_apply_recovered(log, &rec, (struct rl_loc){.seq = (uint32_t)seq, .off = (uint32_t)off});
		if (rc) {
			rl_set_open_error("%s record in %s at offset %llu (group %llu index %llu)",
					  rc == ERR_CORRUPT ? "inconsistent" : "cannot index", sc->path,
					  (unsigned long long)off, (unsigned long long)rec.group,
					  (unsigned long long)rec.index);
			return rc;
		}
		off += rl_record_size(rec.len);
	}
	ASSERT(off >= RL_SEG_HEADER_BYTES && off % RL_REC_ALIGN == 0);
	s->end = off;
	/* What follows the last valid record? */
	int later = 0, dirty = 0;
	uint64_t later_off = 0;
	rc = find_record(&sc->rd, seq, off, off, &later, &later_off, &dirty);
	if (rc) {
		rl_set_open_error("read %s: %s", sc->path, err_str(rc));
		return rc;
	}
	if (later) {
		rl_set_open_error("corrupt record in %s at offset %llu (a later write batch follows at "
				  "offset %llu)", sc->path, (unsigned long long)off,
				  (unsigned long long)later_off);
		return ERR_CORRUPT;
	}
	if (!dirty) {
		/* A clean end. What we read may still be only in the page cache (the previous run
		 * may have crashed between a write and its fdatasync): make it durable before
		 * anything recovered is reported durable. */
		rc = io_file_sync(sc->rd.f);
		if (rc)
			rl_set_open_error("fdatasync of %s: %s", sc->path, err_str(rc));
		return rc;
	}
	for (size_t j = i + 1; j < sc->n; j++) {
		int found = 0;
		rc = seg_has_record(sc, j, &found);
		if (rc)
			return rc;
		if (found) {
			rl_set_open_error("corrupt record in %s at offset %llu (records follow in later "
					  "segments)", sc->path, (unsigned long long)off);
			return ERR_CORRUPT;
		}
	}
	/* The torn tail: the remains of the last batch, never acknowledged. Cut it off. */
	LOG_WARN("raftlog: truncating torn tail of %s at offset %llu (%llu bytes)", sc->path,
		 (unsigned long long)off, (unsigned long long)(sc->rd.size - off));
	close_reader(&sc->rd);
	struct io_file *w;
	rc = io_file_open(log->fs, sc->path, IO_OPEN_WRITE, &w);
	if (rc == 0) {
		rc = io_file_truncate(w, off);
		if (rc == 0)
			rc = io_file_sync(w);
		io_file_close(w);
	}
	if (rc)
		rl_set_open_error("truncate torn tail of %s at offset %llu: %s", sc->path,
				  (unsigned long long)off, err_str(rc));
	return rc;
}

static int recover_segments(struct scan *sc)
{
	struct raftlog *log = sc->log;
	for (size_t i = 0; i < sc->n; i++) {
		if (sc->seqs[i] != sc->seqs[0] + i) {
			rl_set_open_error("segment %016llx is missing from %s (found %016llx after it)",
					  (unsigned long long)(sc->seqs[0] + i), log->dir,
					  (unsigned long long)sc->seqs[i]);
			return ERR_CORRUPT;
		}
		if (sc->seqs[i] == 0 || sc->seqs[i] >= UINT32_MAX) {
			rl_set_open_error("segment number %016llx out of range in %s",
					  (unsigned long long)sc->seqs[i], log->dir);
			return ERR_CORRUPT;
		}
	}
	for (size_t i = 0; i < sc->n; i++) {
		int bad;
		int rc = check_header(sc, i, &bad);
		if (rc)
			return rc;
		if (!bad)
			continue;
		if (i + 1 < sc->n) {
			char path[LIMIT_PATH_BYTES];
			if (rl_seg_path(log, sc->seqs[i], path, sizeof path) != 0)
				path[0] = 0;
			rl_set_open_error("corrupt segment header in %s at offset 0", path);
			return ERR_CORRUPT;
		}
		rc = drop_bad_newest(sc, i);
		if (rc)
			return rc;
		sc->n--;
	}
	for (size_t i = 0; i < sc->n; i++) {
		struct rl_seg *s;
		int rc = rl_seg_push(log, (uint32_t)sc->seqs[i], &s);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < sc->n; i++) {
		int rc = scan_one(sc, i);
		close_reader(&sc->rd);
		if (rc)
			return rc;
	}
	/* The names we found may not be durable either (a file created just before a crash). */
	int rc = io_fs_sync_dir(log->fs, log->dir);
	if (rc)
		rl_set_open_error("directory fsync of %s: %s", log->dir, err_str(rc));
	return rc;
}

static int open_active(struct raftlog *log)
{
	if (log->nsegs == 0)
		return rl_seg_create(log, 1);
	struct rl_seg *s = rl_seg_active(log);
	char path[LIMIT_PATH_BYTES];
	int rc = rl_seg_path(log, s->seq, path, sizeof path);
	if (rc == 0)
		rc = io_file_open(log->fs, path, IO_OPEN_WRITE, &log->active);
	if (rc) {
		log->active = NULL;
		rl_set_open_error("open %s for writing: %s", path, err_str(rc));
		return rc;
	}
	log->written_end = s->end;
	if (s->end < log->segment_bytes) {
		rc = rl_preallocate(log, log->active, log->segment_bytes);
		if (rc)
			LOG_WARN("raftlog: preallocating %s: %s", path, err_str(rc));
	}
	return 0;
}

int raftlog_open(const struct raftlog_config *cfg, struct raftlog **out)
{
	open_error[0] = 0;
	if (!cfg || !cfg->fs || !cfg->dir || !out) {
		rl_set_open_error("bad config");
		return ERR_INVAL;
	}
	uint64_t seg_bytes = cfg->segment_bytes ? cfg->segment_bytes : LIMIT_RAFTLOG_SEGMENT_BYTES;
	if (seg_bytes < 4096 || seg_bytes > ((uint64_t)1 << 31) ||
	    strlen(cfg->dir) + RL_SEG_NAME_BYTES + 1 >= LIMIT_PATH_BYTES) {
		rl_set_open_error("bad config (segment_bytes %llu, dir %s)", (unsigned long long)seg_bytes,
				  cfg->dir);
		return ERR_INVAL;
	}
	struct raftlog *log = calloc(1, sizeof *log);
	if (!log)
		return ERR_NOMEM;
	log->cfg = *cfg;
	snprintf(log->dir, sizeof log->dir, "%s", cfg->dir);
	log->cfg.dir = log->dir;
	log->fs = cfg->fs;
	log->segment_bytes = seg_bytes;
	log->inflight = -1;
	log->cur = 0;
	log->batches[0].gen = ++log->batch_gen;
	struct scan sc = {.log = log};
	struct seg_list list = {0};
	int rc = io_fs_mkdir_all(log->fs, log->dir);
	if (rc) {
		rl_set_open_error("create directory %s: %s", log->dir, err_str(rc));
		goto err;
	}
	rc = io_fs_list(log->fs, log->dir, list_one, &list);
	if (rc) {
		rl_set_open_error("list %s: %s", log->dir, err_str(rc));
		goto err;
	}
	if (list.n > 1)
		qsort(list.v, list.n, sizeof *list.v, cmp_u64);
	sc.seqs = list.v;
	sc.n = list.n;
	rc = recover_segments(&sc);
	if (rc)
		goto err;
	rc = open_active(log);
	if (rc)
		goto err;
	free(sc.rd.buf);
	free(sc.rd2.buf);
	free(list.v);
	log->retention_dirty = 1;
	LOG_INFO("raftlog: core %d opened %s: %zu segments, %zu groups", cfg->core_id, log->dir,
		 log->nsegs, log->groups.n);
	ASSERT(log->active != NULL && log->nsegs >= 1);
	*out = log;
	return 0;
err:
	close_reader(&sc.rd);
	close_reader(&sc.rd2);
	free(sc.rd.buf);
	free(sc.rd2.buf);
	free(list.v);
	if (rc == ERR_NOMEM && !open_error[0])
		rl_set_open_error("out of memory while recovering %s", cfg->dir);
	raftlog_close(log);
	return rc;
}

void raftlog_close(struct raftlog *log)
{
	if (!log)
		return;
	ASSERT(log->inflight < 0);
	if (log->detach)
		log->detach(log);
	rl_seg_close_all(log);
	for (size_t i = 0; i < log->nsegs; i++) {
		free(log->segs[i]->groups);
		free(log->segs[i]);
	}
	free(log->segs);
	for (int b = 0; b < LIMIT_RAFTLOG_CACHE_BATCHES; b++)
		free(log->batches[b].data);
	free(log->dirty);
	free(log->cycle);
	free(log->win);
	rl_map_free(&log->groups);
	free(log);
}
