/*
 * io_fs_sim.h — a simulated disk behind struct io_fs, for crash and fault injection.
 *
 * Everything lives in memory. The simulator tracks, per file, the content as of the last
 * io_file_sync() and the writes since; and, per directory, the names as of the last
 * io_fs_sync_dir() and the name operations since. io_fs_sim_crash() models a power loss: each
 * file keeps its synced content plus a random prefix of its later writes, the last of which may
 * be torn (partly written, optionally with garbage); the namespace keeps its synced names plus a
 * random prefix of later name operations. Handles opened before a crash fail with ERR_IO.
 *
 * Deterministic for a given seed; thread-safe (one mutex), so a compaction thread may share it.
 */
#ifndef CORE_IO_FS_SIM_H
#define CORE_IO_FS_SIM_H

#include "core/io_fs.h"

#include <stdint.h>

struct io_fs *io_fs_sim_new(uint64_t seed);
void io_fs_sim_free(struct io_fs *fs);

/* Power loss now (see above). Returns the number of unsynced bytes that were lost or torn. */
uint64_t io_fs_sim_crash(struct io_fs *fs);

/* Like a crash, but keep everything: all pending writes and names survive. */
void io_fs_sim_sync_all(struct io_fs *fs);

/* Fault injection: after `ops` more operations succeed, operations fail with `err`
 * (ERR_IO, ERR_NOSPC, ...). If sticky, every later operation fails too until cleared with
 * io_fs_sim_fault_clear(); otherwise only one operation fails. Counted operations: open,
 * pwrite, sync, truncate, rename, unlink, link, mkdir, rmdir, sync_dir (reads never fail). */
void io_fs_sim_fault_after(struct io_fs *fs, uint64_t ops, int err, int sticky);
void io_fs_sim_fault_clear(struct io_fs *fs);

/* Probability (in 1/1000) that a torn write also gets random garbage instead of a clean prefix. */
void io_fs_sim_set_garbage_permille(struct io_fs *fs, unsigned permille);

/* Counters, for tests. */
uint64_t io_fs_sim_ops(struct io_fs *fs);
uint64_t io_fs_sim_syncs(struct io_fs *fs);

/* Flip one byte of a file's content (synced and current), to test corruption detection. */
int io_fs_sim_corrupt(struct io_fs *fs, const char *path, uint64_t off) WUR;

#endif
