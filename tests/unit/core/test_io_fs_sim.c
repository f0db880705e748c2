/* test_io_fs_sim.c — the simulated disk keeps synced data and names, and loses the rest. */
#include "core/io_fs.h"
#include "core/io_fs_sim.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_file(struct io_fs *fs, const char *path, const char *text, int sync)
{
	struct io_file *f;
	cr_assert_eq(io_file_open(fs, path, IO_OPEN_CREATE, &f), 0);
	cr_assert_eq(io_file_pwrite(f, text, strlen(text), 0), 0);
	if (sync)
		cr_assert_eq(io_file_sync(f), 0);
	io_file_close(f);
}

static int read_file(struct io_fs *fs, const char *path, char *buf, size_t cap)
{
	struct io_file *f;
	int rc = io_file_open(fs, path, IO_OPEN_READ, &f);
	if (rc)
		return rc;
	int64_t n = io_file_pread(f, buf, cap - 1, 0);
	io_file_close(f);
	cr_assert_geq(n, 0);
	buf[n] = 0;
	return 0;
}

Test(io_fs_sim, synced_file_and_dir_survive_crash)
{
	for (uint64_t seed = 1; seed <= 50; seed++) {
		struct io_fs *fs = io_fs_sim_new(seed);
		cr_assert_eq(io_fs_mkdir_all(fs, "/db/t1"), 0);
		write_file(fs, "/db/t1/a", "hello", 1);
		cr_assert_eq(io_fs_sync_dir(fs, "/db/t1"), 0);
		io_fs_sim_crash(fs);
		char buf[64];
		cr_assert_eq(read_file(fs, "/db/t1/a", buf, sizeof buf), 0, "seed %lu", (unsigned long)seed);
		cr_assert_str_eq(buf, "hello");
		io_fs_sim_free(fs);
	}
}

Test(io_fs_sim, unsynced_name_may_vanish_synced_never)
{
	int vanished = 0, kept = 0;
	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct io_fs *fs = io_fs_sim_new(seed);
		cr_assert_eq(io_fs_mkdir(fs, "/d"), 0);
		cr_assert_eq(io_fs_sync_dir(fs, "/"), 0);
		write_file(fs, "/d/x", "data", 1); /* data synced, name not */
		io_fs_sim_crash(fs);
		char buf[16];
		int rc = read_file(fs, "/d/x", buf, sizeof buf);
		if (rc == ERR_NOTFOUND) {
			vanished++;
		} else {
			cr_assert_eq(rc, 0);
			cr_assert_str_eq(buf, "data");
			kept++;
		}
		io_fs_sim_free(fs);
	}
	cr_assert_gt(vanished, 0);
	cr_assert_gt(kept, 0);
}

Test(io_fs_sim, unsynced_tail_is_prefix_or_torn)
{
	int full = 0, partial = 0;
	for (uint64_t seed = 1; seed <= 300; seed++) {
		struct io_fs *fs = io_fs_sim_new(seed);
		io_fs_sim_set_garbage_permille(fs, 0);
		write_file(fs, "/f", "AAAA", 1);
		struct io_file *f;
		cr_assert_eq(io_file_open(fs, "/f", IO_OPEN_WRITE, &f), 0);
		cr_assert_eq(io_file_pwrite(f, "BBBBBBBB", 8, 4), 0);
		io_fs_sim_sync_all(fs); /* make name durable; data too */
		cr_assert_eq(io_file_pwrite(f, "CCCCCCCC", 8, 12), 0);
		io_fs_sim_crash(fs);
		cr_assert_eq(io_file_pwrite(f, "x", 1, 0), ERR_IO, "handles die at a crash");
		io_file_close(f);
		char buf[64];
		cr_assert_eq(read_file(fs, "/f", buf, sizeof buf), 0);
		size_t n = strlen(buf);
		cr_assert_geq(n, 12);
		cr_assert_leq(n, 20);
		cr_assert_eq(strncmp(buf, "AAAABBBBBBBB", 12), 0);
		for (size_t i = 12; i < n; i++)
			cr_assert_eq(buf[i], 'C');
		if (n == 20)
			full++;
		else if (n > 12)
			partial++;
		io_fs_sim_free(fs);
	}
	cr_assert_gt(full, 0);
	cr_assert_gt(partial, 0);
}

Test(io_fs_sim, rename_is_atomic_across_crash)
{
	for (uint64_t seed = 1; seed <= 200; seed++) {
		struct io_fs *fs = io_fs_sim_new(seed);
		write_file(fs, "/old", "v1", 1);
		cr_assert_eq(io_fs_sync_dir(fs, "/"), 0);
		cr_assert_eq(io_fs_write_atomic(fs, "/cur", "v2", 2), 0);
		write_file(fs, "/tmp2", "v3", 1);
		cr_assert_eq(io_fs_rename(fs, "/tmp2", "/cur"), 0);
		io_fs_sim_crash(fs);
		char buf[16];
		cr_assert_eq(read_file(fs, "/cur", buf, sizeof buf), 0, "seed %lu", (unsigned long)seed);
		cr_assert(strcmp(buf, "v2") == 0 || strcmp(buf, "v3") == 0);
		io_fs_sim_free(fs);
	}
}

Test(io_fs_sim, faults_on_schedule)
{
	struct io_fs *fs = io_fs_sim_new(7);
	io_fs_sim_fault_after(fs, 2, ERR_NOSPC, 0);
	struct io_file *f;
	cr_assert_eq(io_file_open(fs, "/f", IO_OPEN_CREATE, &f), 0); /* op 1 */
	cr_assert_eq(io_file_pwrite(f, "a", 1, 0), 0);               /* op 2 */
	cr_assert_eq(io_file_pwrite(f, "b", 1, 1), ERR_NOSPC);       /* op 3 fails */
	cr_assert_eq(io_file_pwrite(f, "b", 1, 1), 0);               /* one-shot */
	io_file_close(f);
	io_fs_sim_free(fs);
}

Test(io_fs_posix, write_atomic_and_list)
{
	char dir[] = "/tmp/regatta-iofs-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	struct io_fs *fs = io_fs_posix();
	char path[256];
	snprintf(path, sizeof path, "%s/a/b", dir);
	cr_assert_eq(io_fs_mkdir_all(fs, path), 0);
	snprintf(path, sizeof path, "%s/a/b/file", dir);
	cr_assert_eq(io_fs_write_atomic(fs, path, "xyz", 3), 0);
	void *buf;
	size_t len;
	cr_assert_eq(io_fs_read_all(fs, path, 100, &buf, &len), 0);
	cr_assert_eq(len, 3);
	cr_assert_eq(memcmp(buf, "xyz", 3), 0);
	free(buf);
	cr_assert_eq(io_fs_read_all(fs, path, 2, &buf, &len), ERR_TOOBIG);
	cr_assert_eq(io_fs_remove_all(fs, dir), 0);
	cr_assert_eq(io_fs_exists(fs, dir, NULL), ERR_NOTFOUND);
}
