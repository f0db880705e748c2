/*
 * snapshot.c — see snapshot.h; the byte format is in storage/FORMAT.md ("Snapshot archive").
 *
 * Layout of a source: header, then per file (sorted by name) a 24-byte file header, the name,
 * the data and its u64 xxh3, then the trailer. rec_off[i] is where file i's header starts, so
 * any archive offset maps to one piece by binary search. Invariants: the layout never changes
 * after open (sizes come from the immutable checkpoint files); a file's data hash is final once
 * hashed_upto == size; only data streamed in order (or a full re-read) feeds the hash.
 */
#include "server/engine/snapshot.h"

#include "core/assert.h"
#include "core/limits.h"
#include "core/log.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY_BUF_BYTES (1u << 20)

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

/* ---- names ------------------------------------------------------------------------------- */

struct name_list {
	char **v;
	size_t n, cap;
	int err;
};

static int name_ok(const char *name, size_t len)
{
	if (len == 0 || len > SNAP_NAME_MAX)
		return 0;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == 0)
			return 0;
	return 1;
}

static int collect_name(void *ctx, const char *name)
{
	struct name_list *l = ctx;
	if (l->n == SNAP_FILES_MAX) {
		l->err = ERR_TOOBIG;
		return 1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			l->err = ERR_NOMEM;
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(name);
	if (!l->v[l->n]) {
		l->err = ERR_NOMEM;
		return 1;
	}
	l->n++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* ---- source ------------------------------------------------------------------------------ */

struct snap_file {
	char *name;
	uint32_t name_len;
	uint64_t size;
	uint64_t rec_off;     /* archive offset of this file's header */
	uint64_t data_off;    /* archive offset of its data */
	uint64_t hashed_upto; /* data bytes fed into hs, in order */
	int hash_done;
	uint64_t hash;
	XXH3_state_t hs;
};

struct snap_source {
	struct io_fs *fs;
	char dir[LIMIT_PATH_BYTES];
	uint64_t index, term;
	struct snap_file *files;
	size_t n;
	uint64_t size;
	uint64_t trailer_off;
	uint8_t header[SNAP_HEADER_BYTES];
	uint8_t trailer[SNAP_TRAILER_BYTES];
	/* one open data file at a time (reads are sequential) */
	size_t open_idx;
	struct io_file *open_f;
	uint8_t *buf; /* COPY_BUF_BYTES, for re-reading a file to finish its hash */
};

static int path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= cap ? ERR_TOOBIG : 0;
}

static void header_encode(uint8_t *h, uint32_t n_files, uint64_t index, uint64_t term)
{
	memcpy(h, SNAP_MAGIC, 8);
	put_u32(h + 8, SNAP_VERSION);
	put_u32(h + 12, n_files);
	put_u64(h + 16, index);
	put_u64(h + 24, term);
	put_u64(h + 32, XXH3_64bits(h, 32));
}

static void file_header_encode(uint8_t *fh, const char *name, uint32_t name_len, uint64_t size)
{
	put_u32(fh, name_len);
	put_u32(fh + 4, 0);
	put_u64(fh + 8, size);
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, fh, 16);
	XXH3_64bits_update(&st, name, name_len);
	put_u64(fh + 16, XXH3_64bits_digest(&st));
}

static void source_close_file(struct snap_source *s)
{
	if (s->open_f) {
		io_file_close(s->open_f);
		s->open_f = NULL;
	}
}

static int source_file(struct snap_source *s, size_t i, struct io_file **out)
{
	if (s->open_f && s->open_idx == i) {
		*out = s->open_f;
		return 0;
	}
	source_close_file(s);
	char path[LIMIT_PATH_BYTES];
	int rc = path_join(path, sizeof path, s->dir, s->files[i].name);
	if (rc)
		return rc;
	rc = io_file_open(s->fs, path, IO_OPEN_READ, &s->open_f);
	if (rc) {
		s->open_f = NULL;
		return rc == ERR_NOTFOUND ? ERR_NOTFOUND : rc;
	}
	s->open_idx = i;
	*out = s->open_f;
	return 0;
}

int snap_source_open(struct io_fs *fs, const char *dir, uint64_t index, uint64_t term,
		     struct snap_source **out)
{
	ASSERT(fs != NULL && dir != NULL && out != NULL);
	struct name_list names = {0};
	struct snap_source *s = calloc(1, sizeof *s);
	int rc = ERR_NOMEM;
	if (!s)
		goto err;
	s->fs = fs;
	s->index = index;
	s->term = term;
	if (snprintf(s->dir, sizeof s->dir, "%s", dir) >= (int)sizeof s->dir) {
		rc = ERR_TOOBIG;
		goto err;
	}
	s->buf = malloc(COPY_BUF_BYTES);
	if (!s->buf)
		goto err;
	rc = io_fs_list(fs, dir, collect_name, &names);
	if (rc == 0)
		rc = names.err;
	if (rc)
		goto err;
	qsort(names.v, names.n, sizeof names.v[0], cmp_names);
	s->files = calloc(names.n ? names.n : 1, sizeof *s->files);
	if (!s->files) {
		rc = ERR_NOMEM;
		goto err;
	}
	uint64_t off = SNAP_HEADER_BYTES;
	for (size_t i = 0; i < names.n; i++) {
		struct snap_file *f = &s->files[i];
		size_t nl = strlen(names.v[i]);
		if (!name_ok(names.v[i], nl)) {
			rc = ERR_INVAL;
			goto err;
		}
		char path[LIMIT_PATH_BYTES];
		rc = path_join(path, sizeof path, dir, names.v[i]);
		if (rc)
			goto err;
		int is_dir = 0;
		rc = io_fs_exists(fs, path, &is_dir);
		if (rc == 0 && is_dir)
			rc = ERR_INVAL; /* a checkpoint is flat */
		struct io_file *fh = NULL;
		if (rc == 0)
			rc = io_file_open(fs, path, IO_OPEN_READ, &fh);
		if (rc == 0) {
			rc = io_file_size(fh, &f->size);
			io_file_close(fh);
		}
		if (rc)
			goto err;
		f->name = names.v[i];
		names.v[i] = NULL;
		f->name_len = (uint32_t)nl;
		f->rec_off = off;
		f->data_off = off + SNAP_FILE_HEADER_BYTES + nl;
		off = f->data_off + f->size + 8;
		XXH3_64bits_reset(&f->hs);
		s->n++;
	}
	s->trailer_off = off;
	s->size = off + SNAP_TRAILER_BYTES;
	header_encode(s->header, (uint32_t)s->n, index, term);
	memcpy(s->trailer, SNAP_TRAILER_MAGIC, 8);
	put_u64(s->trailer + 8, s->trailer_off);
	names_free(&names);
	*out = s;
	return 0;

err:
	names_free(&names);
	if (s)
		snap_source_close(s);
	return rc;
}

void snap_source_close(struct snap_source *s)
{
	if (!s)
		return;
	source_close_file(s);
	for (size_t i = 0; i < s->n; i++)
		free(s->files[i].name);
	free(s->files);
	free(s->buf);
	free(s);
}

uint64_t snap_source_size(const struct snap_source *s) { return s->size; }
uint64_t snap_source_index(const struct snap_source *s) { return s->index; }

/* Finish file i's hash by reading whatever was not streamed in order. */
static int finish_hash(struct snap_source *s, size_t i)
{
	struct snap_file *f = &s->files[i];
	if (f->hash_done)
		return 0;
	struct io_file *fh;
	int rc = source_file(s, i, &fh);
	if (rc)
		return rc;
	while (f->hashed_upto < f->size) {
		uint64_t left = f->size - f->hashed_upto;
		size_t want = left < COPY_BUF_BYTES ? (size_t)left : COPY_BUF_BYTES;
		int64_t got = io_file_pread(fh, s->buf, want, f->hashed_upto);
		if (got < 0)
			return (int)got;
		if ((size_t)got != want)
			return ERR_CORRUPT; /* a checkpoint file shrank: it is immutable */
		XXH3_64bits_update(&f->hs, s->buf, want);
		f->hashed_upto += want;
	}
	f->hash = XXH3_64bits_digest(&f->hs);
	f->hash_done = 1;
	return 0;
}

/* The file whose record contains archive offset off (off in [header end, trailer_off)). */
static size_t file_at(const struct snap_source *s, uint64_t off)
{
	size_t lo = 0, hi = s->n;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (s->files[mid].rec_off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Copy up to len bytes at off from one piece; returns bytes copied (> 0) or an error. */
static int64_t read_piece(struct snap_source *s, uint64_t off, uint8_t *buf, size_t len)
{
	if (off < SNAP_HEADER_BYTES) {
		size_t n = (size_t)(SNAP_HEADER_BYTES - off);
		n = n < len ? n : len;
		memcpy(buf, s->header + off, n);
		return (int64_t)n;
	}
	if (off >= s->trailer_off) {
		size_t n = (size_t)(s->size - off);
		n = n < len ? n : len;
		memcpy(buf, s->trailer + (off - s->trailer_off), n);
		return (int64_t)n;
	}
	size_t i = file_at(s, off);
	struct snap_file *f = &s->files[i];
	ASSERT(off >= f->rec_off);
	if (off < f->data_off) { /* file header + name */
		uint8_t tmp[SNAP_FILE_HEADER_BYTES + SNAP_NAME_MAX];
		file_header_encode(tmp, f->name, f->name_len, f->size);
		memcpy(tmp + SNAP_FILE_HEADER_BYTES, f->name, f->name_len);
		size_t start = (size_t)(off - f->rec_off);
		size_t n = SNAP_FILE_HEADER_BYTES + f->name_len - start;
		n = n < len ? n : len;
		memcpy(buf, tmp + start, n);
		return (int64_t)n;
	}
	uint64_t doff = off - f->data_off;
	if (doff < f->size) { /* data */
		uint64_t left = f->size - doff;
		size_t want = left < len ? (size_t)left : len;
		struct io_file *fh;
		int rc = source_file(s, i, &fh);
		if (rc)
			return rc;
		int64_t got = io_file_pread(fh, buf, want, doff);
		if (got < 0)
			return got;
		if ((size_t)got != want)
			return ERR_CORRUPT;
		if (doff == f->hashed_upto && !f->hash_done) {
			XXH3_64bits_update(&f->hs, buf, want);
			f->hashed_upto += want;
		}
		return (int64_t)want;
	}
	/* the data checksum */
	int rc = finish_hash(s, i);
	if (rc)
		return rc;
	uint8_t h[8];
	put_u64(h, f->hash);
	size_t start = (size_t)(doff - f->size);
	size_t n = 8 - start;
	n = n < len ? n : len;
	memcpy(buf, h + start, n);
	return (int64_t)n;
}

int snap_source_read(struct snap_source *s, uint64_t off, uint8_t *buf, size_t len, size_t *n)
{
	ASSERT(s != NULL && n != NULL);
	*n = 0;
	if (off > s->size)
		return ERR_RANGE;
	if (len > s->size - off)
		len = (size_t)(s->size - off);
	while (*n < len) {
		int64_t got = read_piece(s, off + *n, buf + *n, len - *n);
		if (got < 0)
			return (int)got;
		ASSERT(got > 0);
		*n += (size_t)got;
	}
	return 0;
}

int snap_pack_file(struct io_fs *fs, const char *dir, uint64_t index, uint64_t term, const char *path)
{
	struct snap_source *s;
	int rc = snap_source_open(fs, dir, index, term, &s);
	if (rc)
		return rc;
	struct io_file *f = NULL;
	rc = io_file_open(fs, path, IO_OPEN_CREATE | IO_OPEN_TRUNC, &f);
	uint8_t *buf = malloc(COPY_BUF_BYTES);
	if (!rc && !buf)
		rc = ERR_NOMEM;
	for (uint64_t off = 0; rc == 0 && off < s->size;) {
		size_t n;
		rc = snap_source_read(s, off, buf, COPY_BUF_BYTES, &n);
		if (rc == 0)
			rc = io_file_pwrite(f, buf, n, off);
		off += n;
	}
	if (rc == 0)
		rc = io_file_sync(f);
	if (f)
		io_file_close(f);
	free(buf);
	snap_source_close(s);
	return rc;
}

/* ---- receiving --------------------------------------------------------------------------- */

void snap_stage_close(struct io_file **f)
{
	if (*f) {
		io_file_close(*f);
		*f = NULL;
	}
}

int snap_stage_write(struct io_fs *fs, const char *path, struct io_file **f, uint64_t off,
		     const uint8_t *data, size_t len)
{
	ASSERT(f != NULL && (len == 0 || data != NULL));
	int rc;
	if (off == 0) {
		snap_stage_close(f);
		char dir[LIMIT_PATH_BYTES];
		snprintf(dir, sizeof dir, "%s", path);
		char *slash = strrchr(dir, '/');
		rc = io_file_open(fs, path, IO_OPEN_CREATE | IO_OPEN_TRUNC, f);
		if (rc) {
			*f = NULL;
			return rc;
		}
		if (slash) { /* the name must survive a crash before the install */
			slash[slash == dir ? 1 : 0] = 0;
			rc = io_fs_sync_dir(fs, dir);
			if (rc)
				return rc;
		}
	} else if (!*f) {
		rc = io_file_open(fs, path, IO_OPEN_WRITE, f);
		if (rc) {
			*f = NULL;
			return rc;
		}
	}
	if (len > 0) {
		rc = io_file_pwrite(*f, data, len, off);
		if (rc)
			return rc;
	}
	return io_file_sync(*f);
}

struct unpack {
	struct io_fs *fs;
	struct io_file *in;
	uint64_t in_size;
	uint64_t off;
	uint8_t *buf;
	const char *path;
};

static int corrupt(const struct unpack *u, const char *what)
{
	LOG_ERROR("snapshot archive %s: %s at offset %llu", u->path, what, (unsigned long long)u->off);
	return ERR_CORRUPT;
}

static int in_read(struct unpack *u, void *buf, size_t len)
{
	if (len > u->in_size - u->off)
		return corrupt(u, "truncated");
	int64_t got = io_file_pread(u->in, buf, len, u->off);
	if (got < 0)
		return (int)got;
	if ((size_t)got != len)
		return corrupt(u, "short read");
	u->off += len;
	return 0;
}

static int unpack_file(struct unpack *u, const char *dir)
{
	uint8_t fh[SNAP_FILE_HEADER_BYTES];
	char name[SNAP_NAME_MAX + 1];
	int rc = in_read(u, fh, sizeof fh);
	if (rc)
		return rc;
	uint32_t nl = get_u32(fh);
	uint64_t size = get_u64(fh + 8);
	if (nl == 0 || nl > SNAP_NAME_MAX || get_u32(fh + 4) != 0)
		return corrupt(u, "bad file header");
	rc = in_read(u, name, nl);
	if (rc)
		return rc;
	name[nl] = 0;
	uint8_t check[SNAP_FILE_HEADER_BYTES];
	file_header_encode(check, name, nl, size);
	if (memcmp(check + 16, fh + 16, 8) != 0)
		return corrupt(u, "file header checksum mismatch");
	if (!name_ok(name, nl) || strlen(name) != nl)
		return corrupt(u, "bad file name");
	if (size > u->in_size - u->off)
		return corrupt(u, "file longer than the archive");
	char path[LIMIT_PATH_BYTES];
	rc = path_join(path, sizeof path, dir, name);
	if (rc)
		return rc;
	struct io_file *out;
	rc = io_file_open(u->fs, path, IO_OPEN_CREATE | IO_OPEN_EXCL, &out);
	if (rc == ERR_EXISTS)
		return corrupt(u, "duplicate file name");
	if (rc)
		return rc;
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	for (uint64_t done = 0; done < size && rc == 0;) {
		uint64_t left = size - done;
		size_t want = left < COPY_BUF_BYTES ? (size_t)left : COPY_BUF_BYTES;
		rc = in_read(u, u->buf, want);
		if (rc == 0) {
			XXH3_64bits_update(&st, u->buf, want);
			rc = io_file_pwrite(out, u->buf, want, done);
		}
		done += want;
	}
	uint8_t h[8];
	if (rc == 0)
		rc = in_read(u, h, 8);
	if (rc == 0 && get_u64(h) != XXH3_64bits_digest(&st))
		rc = corrupt(u, "file data checksum mismatch");
	if (rc == 0)
		rc = io_file_sync(out);
	io_file_close(out);
	return rc;
}

int snap_unpack(struct io_fs *fs, const char *path, const char *dir, uint64_t *index, uint64_t *term)
{
	ASSERT(fs != NULL && path != NULL && dir != NULL);
	struct unpack u = {.fs = fs, .path = path};
	int rc = io_file_open(fs, path, IO_OPEN_READ, &u.in);
	if (rc)
		return rc;
	rc = io_file_size(u.in, &u.in_size);
	if (rc)
		goto out;
	u.buf = malloc(COPY_BUF_BYTES);
	if (!u.buf) {
		rc = ERR_NOMEM;
		goto out;
	}
	uint8_t h[SNAP_HEADER_BYTES];
	rc = in_read(&u, h, sizeof h);
	if (rc)
		goto out;
	if (memcmp(h, SNAP_MAGIC, 8) != 0 || get_u32(h + 8) != SNAP_VERSION ||
	    get_u64(h + 32) != XXH3_64bits(h, 32)) {
		rc = corrupt(&u, "bad archive header");
		goto out;
	}
	uint32_t n_files = get_u32(h + 12);
	if (n_files > SNAP_FILES_MAX) {
		rc = corrupt(&u, "too many files");
		goto out;
	}
	if (io_fs_exists(fs, dir, NULL) == 0) {
		rc = ERR_EXISTS;
		goto out;
	}
	rc = io_fs_mkdir_all(fs, dir);
	for (uint32_t i = 0; rc == 0 && i < n_files; i++)
		rc = unpack_file(&u, dir);
	if (rc)
		goto out;
	uint8_t t[SNAP_TRAILER_BYTES];
	uint64_t trailer_off = u.off;
	rc = in_read(&u, t, sizeof t);
	if (rc)
		goto out;
	if (memcmp(t, SNAP_TRAILER_MAGIC, 8) != 0 || get_u64(t + 8) != trailer_off ||
	    u.off != u.in_size) {
		rc = corrupt(&u, "bad archive trailer");
		goto out;
	}
	rc = io_fs_sync_dir(fs, dir);
	if (rc == 0) {
		*index = get_u64(h + 16);
		*term = get_u64(h + 24);
	}
out:
	free(u.buf);
	io_file_close(u.in);
	return rc;
}
