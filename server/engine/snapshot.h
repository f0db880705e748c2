/*
 * snapshot.h — a Raft snapshot as a byte stream: an LSM checkpoint directory packed into a
 * simple archive (storage/FORMAT.md, "Snapshot archive"), and the receiving side that stages
 * the stream in a file and unpacks it into a fresh directory.
 *
 * Sending (struct snap_source): the archive is never written out. Its layout (file names and
 * sizes) is fixed when the source is opened, so its length is known up front (Raft needs it in
 * the snapshot metadata); bytes at any offset are produced on demand from the checkpoint's
 * files, which are immutable hard links. Each file's xxh3 is computed while its data is streamed
 * in order, or by reading the file once more if a reader skips ahead.
 *
 * Receiving: snap_stage_write() puts each chunk at its offset in a staging file and fsyncs it
 * (Raft acknowledges a chunk only once it is durable); snap_unpack() verifies the whole archive
 * (magic, version, every header and data checksum, the trailer) while writing the files into a
 * new directory, fsyncs each file and the directory, and refuses anything malformed with
 * ERR_CORRUPT (the reason goes to the log) — the bytes came from a peer.
 *
 * Threads: one core; synchronous I/O through io_fs.
 */
#ifndef SERVER_ENGINE_SNAPSHOT_H
#define SERVER_ENGINE_SNAPSHOT_H

#include "core/err.h"
#include "core/io_fs.h"

#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "RGTSNAP1"
#define SNAP_TRAILER_MAGIC "RGTSEND1"
#define SNAP_VERSION 1
#define SNAP_HEADER_BYTES 40
#define SNAP_FILE_HEADER_BYTES 24 /* u32 name_len, u32 reserved, u64 data_len, u64 xxh3 */
#define SNAP_TRAILER_BYTES 16
#define SNAP_NAME_MAX 255
#define SNAP_FILES_MAX 100000 /* files in one checkpoint: tens of TB of 64 MiB tables */

struct snap_source;

/* Serve checkpoint directory `dir` (flat: regular files only) as the archive of the state at
 * (index, term). ERR_NOTFOUND if the directory is gone, ERR_TOOBIG over SNAP_FILES_MAX. */
int snap_source_open(struct io_fs *fs, const char *dir, uint64_t index, uint64_t term,
		     struct snap_source **out) WUR;
void snap_source_close(struct snap_source *s);
uint64_t snap_source_size(const struct snap_source *s);
uint64_t snap_source_index(const struct snap_source *s);

/* Copy archive bytes [off, off + len) into buf (len clipped at the end); *n = bytes copied. */
int snap_source_read(struct snap_source *s, uint64_t off, uint8_t *buf, size_t len, size_t *n) WUR;

/* Write one received chunk at `off` of the staging file at `path` (off 0 starts a new file),
 * then fsync it. *f caches the open handle between chunks (NULL initially; closed by
 * snap_stage_close). */
int snap_stage_write(struct io_fs *fs, const char *path, struct io_file **f, uint64_t off,
		     const uint8_t *data, size_t len) WUR;
void snap_stage_close(struct io_file **f);

/* Verify the archive in file `path` and unpack it into directory `dir` (must not exist; created
 * and made durable). index and term: what the archive says it holds. ERR_CORRUPT if malformed. */
int snap_unpack(struct io_fs *fs, const char *path, const char *dir, uint64_t *index,
		uint64_t *term) WUR;

/* Pack a directory into an archive file in one go (tests and tools; same bytes as a source). */
int snap_pack_file(struct io_fs *fs, const char *dir, uint64_t index, uint64_t term, const char *path) WUR;

#endif
