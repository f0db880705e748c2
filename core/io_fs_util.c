/* io_fs_util.c — helpers on top of struct io_fs that every storage component needs. */
#include "core/io_fs.h"
#include "core/assert.h"
#include "core/limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parent_of(const char *path, char *out, size_t cap)
{
	size_t n = strlen(path);
	if (n + 1 > cap)
		return ERR_TOOBIG;
	memcpy(out, path, n + 1);
	char *slash = strrchr(out, '/');
	if (!slash) {
		strcpy(out, ".");
	} else if (slash == out) {
		out[1] = 0;
	} else {
		*slash = 0;
	}
	return 0;
}

int io_fs_mkdir_all(struct io_fs *fs, const char *path)
{
	char buf[LIMIT_PATH_BYTES];
	size_t n = strlen(path);
	if (n == 0 || n + 1 > sizeof buf)
		return ERR_INVAL;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		char save = buf[i];
		buf[i] = 0;
		int is_dir = 0;
		int rc = io_fs_exists(fs, buf, &is_dir);
		if (rc == ERR_NOTFOUND) {
			rc = io_fs_mkdir(fs, buf);
			if (rc && rc != ERR_EXISTS)
				return rc;
			char parent[LIMIT_PATH_BYTES];
			rc = parent_of(buf, parent, sizeof parent);
			if (rc)
				return rc;
			rc = io_fs_sync_dir(fs, parent);
			if (rc)
				return rc;
		} else if (rc) {
			return rc;
		} else if (!is_dir) {
			return ERR_EXISTS;
		}
		buf[i] = save;
	}
	return 0;
}

struct rm_ctx {
	struct io_fs *fs;
	const char *dir;
	int rc;
};

static int rm_one(void *arg, const char *name)
{
	struct rm_ctx *c = arg;
	char path[LIMIT_PATH_BYTES];
	if (snprintf(path, sizeof path, "%s/%s", c->dir, name) >= (int)sizeof path)
		return ERR_TOOBIG;
	int rc = io_fs_remove_all(c->fs, path);
	if (rc && rc != ERR_NOTFOUND)
		return rc;
	return 0;
}

int io_fs_remove_all(struct io_fs *fs, const char *path)
{
	int is_dir = 0;
	int rc = io_fs_exists(fs, path, &is_dir);
	if (rc)
		return rc;
	if (!is_dir)
		return io_fs_unlink(fs, path);
	/* Listing while unlinking is fine on POSIX and the simulator (they tolerate it), but to be
	 * safe we repeat until the directory is empty. */
	for (int round = 0; round < 1000; round++) {
		struct rm_ctx c = {.fs = fs, .dir = path};
		rc = io_fs_list(fs, path, rm_one, &c);
		if (rc)
			return rc;
		rc = io_fs_rmdir(fs, path);
		if (rc == 0)
			return 0;
		if (rc == ERR_NOTFOUND)
			return 0;
	}
	return ERR_BUSY;
}

int io_fs_read_all(struct io_fs *fs, const char *path, size_t max, void **out, size_t *len)
{
	struct io_file *f;
	int rc = io_file_open(fs, path, IO_OPEN_READ, &f);
	if (rc)
		return rc;
	uint64_t size;
	rc = io_file_size(f, &size);
	if (rc)
		goto err_close;
	if (size > max) {
		rc = ERR_TOOBIG;
		goto err_close;
	}
	void *buf = malloc(size ? (size_t)size : 1);
	if (!buf) {
		rc = ERR_NOMEM;
		goto err_close;
	}
	int64_t n = io_file_pread(f, buf, (size_t)size, 0);
	if (n < 0 || (uint64_t)n != size) {
		free(buf);
		rc = n < 0 ? (int)n : ERR_IO;
		goto err_close;
	}
	io_file_close(f);
	*out = buf;
	*len = (size_t)size;
	return 0;
err_close:
	io_file_close(f);
	return rc;
}

int io_fs_write_atomic(struct io_fs *fs, const char *path, const void *buf, size_t len)
{
	char tmp[LIMIT_PATH_BYTES];
	char dir[LIMIT_PATH_BYTES];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return ERR_TOOBIG;
	int rc = parent_of(path, dir, sizeof dir);
	if (rc)
		return rc;
	struct io_file *f;
	rc = io_file_open(fs, tmp, IO_OPEN_CREATE | IO_OPEN_TRUNC, &f);
	if (rc)
		return rc;
	rc = io_file_pwrite(f, buf, len, 0);
	if (rc == 0)
		rc = io_file_sync(f);
	int crc = io_file_close(f);
	if (rc == 0)
		rc = crc;
	if (rc)
		return rc;
	rc = io_fs_rename(fs, tmp, path);
	if (rc)
		return rc;
	return io_fs_sync_dir(fs, dir);
}
