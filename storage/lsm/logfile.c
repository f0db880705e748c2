/*
 * logfile.c — append-only record files: the WAL and the manifest share this framing.
 *
 * Record: u32 len | u32 hcheck | u64 xxh3(payload) | payload, where hcheck is the low 32 bits of
 * xxh3 over the 4 len bytes xor'ed with LOG_HMAGIC (so a zeroed or torn header never passes).
 * Each record is one pwrite, so after a crash only the last record can be torn.
 *
 * Reading: records are returned in order. At the first bad record (bad header, checksum
 * mismatch, or running past the end of the file) the reader decides between
 *   - a torn tail (nothing valid follows): reading stops cleanly and reports the offset, the
 *     caller discards everything from there;
 *   - corruption (a valid record follows the bad one): ERR_CORRUPT with file and offset.
 */
#include "storage/lsm/lsm_log.h"
#include "core/limits.h"

#include <stdio.h>
#include <stdlib.h>

#define LOG_HMAGIC 0x5a17c0deu
#define LOG_HEADER 16

static uint32_t hcheck(uint32_t len)
{
	unsigned char b[4];
	lsm_put_u32(b, len);
	return (uint32_t)lsm_hash64(b, 4) ^ LOG_HMAGIC;
}

int lsm_log_create(struct io_fs *fs, const char *path, const char *name, struct lsm_log_writer *w)
{
	memset(w, 0, sizeof *w);
	snprintf(w->name, sizeof w->name, "%s", name);
	int rc = io_file_open(fs, path, IO_OPEN_CREATE | IO_OPEN_TRUNC, &w->f);
	if (rc)
		return lsm_err(rc, name, 0, "cannot create log file");
	return 0;
}

void lsm_log_close(struct lsm_log_writer *w)
{
	if (w->f)
		io_file_close(w->f);
	w->f = NULL;
	lsm_bytes_free(&w->buf);
}

int lsm_log_append2(struct lsm_log_writer *w, const void *a, size_t an, const void *b, size_t bn, int sync)
{
	ASSERT(w->f);
	size_t n = an + bn;
	ASSERT(n <= UINT32_MAX);
	int rc = lsm_bytes_reserve(&w->buf, n + LOG_HEADER);
	if (rc)
		return rc;
	if (an)
		memcpy(w->buf.p + LOG_HEADER, a, an);
	if (bn)
		memcpy(w->buf.p + LOG_HEADER + an, b, bn);
	lsm_put_u32(w->buf.p, (uint32_t)n);
	lsm_put_u32(w->buf.p + 4, hcheck((uint32_t)n));
	lsm_put_u64(w->buf.p + 8, lsm_hash64(w->buf.p + LOG_HEADER, n));
	rc = io_file_pwrite(w->f, w->buf.p, n + LOG_HEADER, w->off);
	if (rc)
		return lsm_err(rc, w->name, w->off, "log append failed");
	w->off += n + LOG_HEADER;
	if (sync) {
		rc = io_file_sync(w->f);
		if (rc)
			return lsm_err(rc, w->name, w->off, "log sync failed");
	}
	return 0;
}

int lsm_log_append(struct lsm_log_writer *w, const void *p, size_t n, int sync)
{
	return lsm_log_append2(w, p, n, NULL, 0, sync);
}

int lsm_log_sync(struct lsm_log_writer *w)
{
	int rc = io_file_sync(w->f);
	return rc ? lsm_err(rc, w->name, w->off, "log sync failed") : 0;
}

/* Is there a valid record at p[0..n)? Returns its total length or 0. */
static size_t valid_at(const unsigned char *p, size_t n)
{
	if (n < LOG_HEADER)
		return 0;
	uint32_t len = lsm_get_u32(p);
	if (lsm_get_u32(p + 4) != hcheck(len) || len > n - LOG_HEADER)
		return 0;
	if (lsm_hash64(p + LOG_HEADER, len) != lsm_get_u64(p + 8))
		return 0;
	return LOG_HEADER + (size_t)len;
}

int lsm_log_parse(const unsigned char *data, size_t n, const char *name, lsm_log_record_cb cb, void *ctx,
		  uint64_t *valid_end)
{
	size_t off = 0;
	while (off < n) {
		size_t len = valid_at(data + off, n - off);
		if (len == 0) {
			/* Torn tail or corruption? A valid record anywhere after means corruption. */
			for (size_t q = off + 1; q + LOG_HEADER <= n; q++) {
				if (valid_at(data + q, n - q))
					return lsm_err(ERR_CORRUPT, name, off, "bad log record (valid records follow)");
			}
			break;
		}
		int rc = cb(ctx, data + off + LOG_HEADER, len - LOG_HEADER, off);
		if (rc)
			return rc;
		off += len;
	}
	if (valid_end)
		*valid_end = off;
	return 0;
}

int lsm_log_read(struct io_fs *fs, const char *path, const char *name, size_t max_bytes, lsm_log_record_cb cb,
		 void *ctx, uint64_t *valid_end)
{
	void *data = NULL;
	size_t n = 0;
	int rc = io_fs_read_all(fs, path, max_bytes, &data, &n);
	if (rc)
		return lsm_err(rc, name, 0, "cannot read log file");
	rc = lsm_log_parse(data, n, name, cb, ctx, valid_end);
	free(data);
	return rc;
}
