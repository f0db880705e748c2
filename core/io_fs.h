/*
 * io_fs.h — the file-system half of the core I/O interface.
 *
 * Storage (LSM trees, Raft log segments, checkpoints) does every file operation through a
 * struct io_fs, so the same code runs on the real disk (io_fs_posix_*) or on a simulated disk
 * (io_fs_sim_*, core/io_fs_sim.h) that loses or tears unsynced writes at a simulated crash and
 * fails operations on schedule. These calls are synchronous: LSM reads mostly hit the page
 * cache, and flush/compaction run off the reactor thread. The Raft log's hot path (write +
 * fdatasync, group commit) goes through the reactor's asynchronous ops instead (core/reactor.h),
 * using io_file_fd() to reach the real descriptor.
 *
 * Durability contract (what the simulator enforces, and what POSIX promises):
 *   - file data is durable only after io_file_sync() on that file;
 *   - a created, renamed, linked or unlinked name is durable only after io_fs_sync_dir() on its
 *     parent directory.
 * All functions return 0 or a negative ERR_* code unless stated otherwise.
 */
#ifndef CORE_IO_FS_H
#define CORE_IO_FS_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

struct io_fs;
struct io_file;

enum io_open_flags {
	IO_OPEN_READ = 0,         /* read only */
	IO_OPEN_WRITE = 1 << 0,   /* read + write */
	IO_OPEN_CREATE = 1 << 1,  /* create if missing (implies WRITE) */
	IO_OPEN_EXCL = 1 << 2,    /* with CREATE: fail with ERR_EXISTS if present */
	IO_OPEN_TRUNC = 1 << 3,   /* truncate to 0 */
	IO_OPEN_DIRECT = 1 << 4,  /* hint: O_DIRECT where supported (ignored by the simulator) */
};

/* One entry of a directory listing; name is valid only during the callback. */
typedef int (*io_fs_list_cb)(void *ctx, const char *name);

struct io_fs_ops {
	int (*open)(struct io_fs *fs, const char *path, int flags, struct io_file **out);
	int (*close)(struct io_file *f);
	/* Returns bytes read (short only at end of file) or a negative ERR_*. */
	int64_t (*pread)(struct io_file *f, void *buf, size_t len, uint64_t off);
	/* Writes all len bytes or fails. */
	int (*pwrite)(struct io_file *f, const void *buf, size_t len, uint64_t off);
	int (*sync)(struct io_file *f); /* fdatasync */
	int (*size)(struct io_file *f, uint64_t *out);
	int (*truncate)(struct io_file *f, uint64_t size);
	int (*fd)(struct io_file *f); /* real descriptor, or -1 on the simulator */
	int (*rename)(struct io_fs *fs, const char *from, const char *to);
	int (*unlink)(struct io_fs *fs, const char *path);
	int (*link)(struct io_fs *fs, const char *from, const char *to);
	int (*mkdir)(struct io_fs *fs, const char *path);
	int (*rmdir)(struct io_fs *fs, const char *path);
	int (*sync_dir)(struct io_fs *fs, const char *path);
	int (*list)(struct io_fs *fs, const char *dir, io_fs_list_cb cb, void *ctx);
	/* 0 if the path exists (file or directory), ERR_NOTFOUND if not. */
	int (*exists)(struct io_fs *fs, const char *path, int *is_dir);
	/* Disk bytes used under a directory (recursive); for Status and benchmarks. */
	int (*du)(struct io_fs *fs, const char *dir, uint64_t *bytes);
};

struct io_fs {
	const struct io_fs_ops *ops;
};

struct io_file {
	struct io_fs *fs;
};

/* The real file system (POSIX syscalls). The returned object is static and shared. */
struct io_fs *io_fs_posix(void);

/* Thin wrappers, so callers read naturally and WUR is enforced. */
static inline WUR int io_file_open(struct io_fs *fs, const char *path, int flags, struct io_file **out)
{ return fs->ops->open(fs, path, flags, out); }
static inline int io_file_close(struct io_file *f) { return f->fs->ops->close(f); }
static inline WUR int64_t io_file_pread(struct io_file *f, void *buf, size_t len, uint64_t off)
{ return f->fs->ops->pread(f, buf, len, off); }
static inline WUR int io_file_pwrite(struct io_file *f, const void *buf, size_t len, uint64_t off)
{ return f->fs->ops->pwrite(f, buf, len, off); }
static inline WUR int io_file_sync(struct io_file *f) { return f->fs->ops->sync(f); }
static inline WUR int io_file_size(struct io_file *f, uint64_t *out) { return f->fs->ops->size(f, out); }
static inline WUR int io_file_truncate(struct io_file *f, uint64_t size) { return f->fs->ops->truncate(f, size); }
static inline int io_file_fd(struct io_file *f) { return f->fs->ops->fd(f); }
static inline WUR int io_fs_rename(struct io_fs *fs, const char *from, const char *to)
{ return fs->ops->rename(fs, from, to); }
static inline WUR int io_fs_unlink(struct io_fs *fs, const char *path) { return fs->ops->unlink(fs, path); }
static inline WUR int io_fs_link(struct io_fs *fs, const char *from, const char *to)
{ return fs->ops->link(fs, from, to); }
static inline WUR int io_fs_mkdir(struct io_fs *fs, const char *path) { return fs->ops->mkdir(fs, path); }
static inline WUR int io_fs_rmdir(struct io_fs *fs, const char *path) { return fs->ops->rmdir(fs, path); }
static inline WUR int io_fs_sync_dir(struct io_fs *fs, const char *path) { return fs->ops->sync_dir(fs, path); }
static inline WUR int io_fs_list(struct io_fs *fs, const char *dir, io_fs_list_cb cb, void *ctx)
{ return fs->ops->list(fs, dir, cb, ctx); }
static inline WUR int io_fs_exists(struct io_fs *fs, const char *path, int *is_dir)
{ return fs->ops->exists(fs, path, is_dir); }
static inline WUR int io_fs_du(struct io_fs *fs, const char *dir, uint64_t *bytes)
{ return fs->ops->du(fs, dir, bytes); }

/* Helpers built on the ops. */
/* mkdir -p (each created level's parent is synced). */
int io_fs_mkdir_all(struct io_fs *fs, const char *path) WUR;
/* rm -r: removes a directory tree (used when a table is deleted). */
int io_fs_remove_all(struct io_fs *fs, const char *path) WUR;
/* Read a whole small file (<= max bytes) into a malloc'd buffer. */
int io_fs_read_all(struct io_fs *fs, const char *path, size_t max, void **out, size_t *len) WUR;
/* Write a file atomically: write tmp, sync, rename over path, sync the directory. */
int io_fs_write_atomic(struct io_fs *fs, const char *path, const void *buf, size_t len) WUR;

#endif
