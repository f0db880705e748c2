/* io_fs_posix.c — struct io_fs on real POSIX syscalls. Errors are mapped with err_from_errno. */
#define _GNU_SOURCE
#include "core/io_fs.h"
#include "core/assert.h"
#include "core/limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct posix_file {
	struct io_file base;
	int fd;
};

static int posix_open(struct io_fs *fs, const char *path, int flags, struct io_file **out)
{
	int of = O_CLOEXEC;
	if (flags & (IO_OPEN_WRITE | IO_OPEN_CREATE))
		of |= O_RDWR;
	else
		of |= O_RDONLY;
	if (flags & IO_OPEN_CREATE)
		of |= O_CREAT;
	if (flags & IO_OPEN_EXCL)
		of |= O_EXCL;
	if (flags & IO_OPEN_TRUNC)
		of |= O_TRUNC;
	int fd = open(path, of, 0644);
	if (fd < 0)
		return err_from_errno(errno);
	struct posix_file *f = calloc(1, sizeof *f);
	if (!f) {
		close(fd);
		return ERR_NOMEM;
	}
	f->base.fs = fs;
	f->fd = fd;
	*out = &f->base;
	return 0;
}

static int posix_close(struct io_file *file)
{
	struct posix_file *f = (struct posix_file *)file;
	int rc = close(f->fd) < 0 ? err_from_errno(errno) : 0;
	free(f);
	return rc;
}

static int64_t posix_pread(struct io_file *file, void *buf, size_t len, uint64_t off)
{
	struct posix_file *f = (struct posix_file *)file;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(f->fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_from_errno(errno);
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (int64_t)done;
}

static int posix_pwrite(struct io_file *file, const void *buf, size_t len, uint64_t off)
{
	struct posix_file *f = (struct posix_file *)file;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pwrite(f->fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_from_errno(errno);
		}
		done += (size_t)n;
	}
	return 0;
}

static int posix_sync(struct io_file *file)
{
	struct posix_file *f = (struct posix_file *)file;
	if (fdatasync(f->fd) < 0)
		return err_from_errno(errno);
	return 0;
}

static int posix_size(struct io_file *file, uint64_t *out)
{
	struct posix_file *f = (struct posix_file *)file;
	struct stat st;
	if (fstat(f->fd, &st) < 0)
		return err_from_errno(errno);
	*out = (uint64_t)st.st_size;
	return 0;
}

static int posix_truncate(struct io_file *file, uint64_t size)
{
	struct posix_file *f = (struct posix_file *)file;
	if (ftruncate(f->fd, (off_t)size) < 0)
		return err_from_errno(errno);
	return 0;
}

static int posix_fd(struct io_file *file) { return ((struct posix_file *)file)->fd; }

static int posix_rename(struct io_fs *fs, const char *from, const char *to)
{
	return rename(from, to) < 0 ? err_from_errno(errno) : 0;
}

static int posix_unlink(struct io_fs *fs, const char *path)
{
	return unlink(path) < 0 ? err_from_errno(errno) : 0;
}

static int posix_link(struct io_fs *fs, const char *from, const char *to)
{
	return link(from, to) < 0 ? err_from_errno(errno) : 0;
}

static int posix_mkdir(struct io_fs *fs, const char *path)
{
	return mkdir(path, 0755) < 0 ? err_from_errno(errno) : 0;
}

static int posix_rmdir(struct io_fs *fs, const char *path)
{
	return rmdir(path) < 0 ? err_from_errno(errno) : 0;
}

static int posix_sync_dir(struct io_fs *fs, const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_from_errno(errno);
	int rc = fsync(fd) < 0 ? err_from_errno(errno) : 0;
	close(fd);
	return rc;
}

static int posix_list(struct io_fs *fs, const char *dir, io_fs_list_cb cb, void *ctx)
{
	DIR *d = opendir(dir);
	if (!d)
		return err_from_errno(errno);
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		rc = cb(ctx, e->d_name);
		if (rc)
			break;
	}
	closedir(d);
	return rc;
}

static int posix_exists(struct io_fs *fs, const char *path, int *is_dir)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return err_from_errno(errno);
	if (is_dir)
		*is_dir = S_ISDIR(st.st_mode);
	return 0;
}

struct du_ctx {
	const char *dir;
	uint64_t bytes;
	int rc;
};

static int du_one(void *arg, const char *name);

static int posix_du(struct io_fs *fs, const char *dir, uint64_t *bytes)
{
	struct du_ctx c = {.dir = dir};
	int rc = posix_list(fs, dir, du_one, &c);
	*bytes = c.bytes;
	return rc ? rc : c.rc;
}

static int du_one(void *arg, const char *name)
{
	struct du_ctx *c = arg;
	char path[LIMIT_PATH_BYTES];
	if (snprintf(path, sizeof path, "%s/%s", c->dir, name) >= (int)sizeof path)
		return ERR_TOOBIG;
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0; /* vanished while listing: not an error for a size estimate */
	if (S_ISDIR(st.st_mode)) {
		uint64_t sub = 0;
		int rc = posix_du(io_fs_posix(), path, &sub);
		if (rc && rc != ERR_NOTFOUND)
			return rc;
		c->bytes += sub;
	} else {
		c->bytes += (uint64_t)st.st_blocks * 512u;
	}
	return 0;
}

static const struct io_fs_ops posix_ops = {
	.open = posix_open,
	.close = posix_close,
	.pread = posix_pread,
	.pwrite = posix_pwrite,
	.sync = posix_sync,
	.size = posix_size,
	.truncate = posix_truncate,
	.fd = posix_fd,
	.rename = posix_rename,
	.unlink = posix_unlink,
	.link = posix_link,
	.mkdir = posix_mkdir,
	.rmdir = posix_rmdir,
	.sync_dir = posix_sync_dir,
	.list = posix_list,
	.exists = posix_exists,
	.du = posix_du,
};

static struct io_fs posix_fs = {.ops = &posix_ops};

struct io_fs *io_fs_posix(void) { return &posix_fs; }
