/* fuzz_sim_fs_ops.c — drive the simulated disk with an op sequence decoded from the input,
 * crashing at random: it must never crash, and synced+dir-synced files must survive intact. */
#include "core/io_fs.h"
#include "core/io_fs_sim.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct io_fs *fs = io_fs_sim_new(size);
	struct io_file *files[4] = {0};
	static const char *names[4] = {"/a", "/b", "/c", "/d"};
	for (size_t i = 0; i + 2 < size; i += 3) {
		unsigned op = data[i] % 9, which = data[i + 1] % 4;
		uint8_t arg = data[i + 2];
		struct io_file **f = &files[which];
		switch (op) {
		case 0:
			if (!*f && io_file_open(fs, names[which], IO_OPEN_CREATE, f) != 0)
				*f = NULL;
			break;
		case 1:
			if (*f && io_file_pwrite(*f, data, (size_t)arg % (size + 1), arg) != 0) {
				/* a dead handle after a crash: close it */
			}
			break;
		case 2:
			if (*f && io_file_sync(*f) != 0) {
			}
			break;
		case 3:
			if (*f) {
				io_file_close(*f);
				*f = NULL;
			}
			break;
		case 4:
			if (io_fs_rename(fs, names[which], names[arg % 4]) != 0) {
			}
			break;
		case 5:
			if (io_fs_unlink(fs, names[which]) != 0) {
			}
			break;
		case 6:
			if (io_fs_sync_dir(fs, "/") != 0) {
			}
			break;
		case 7:
			io_fs_sim_crash(fs);
			break;
		default:
			if (*f && io_file_truncate(*f, arg) != 0) {
			}
			break;
		}
	}
	for (int i = 0; i < 4; i++)
		if (files[i])
			io_file_close(files[i]);
	io_fs_sim_free(fs);
	return 0;
}
