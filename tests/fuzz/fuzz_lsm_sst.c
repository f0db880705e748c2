/* fuzz_lsm_sst.c — open arbitrary bytes as a table file (footer, index, filter, range
 * tombstones, props), then iterate it and look keys up: corruption must come back as an error
 * naming the file, never as a crash or an out-of-bounds read. */
#include "storage/lsm/lsm_parts.h"
#include "core/io_fs_sim.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct io_fs *fs = io_fs_sim_new(1);
	struct io_file *f;
	if (io_file_open(fs, "/t.sst", IO_OPEN_CREATE, &f) != 0)
		abort();
	if (size && io_file_pwrite(f, data, size, 0) != 0)
		abort();
	struct lsm_cache *cache = NULL;
	if (lsm_cache_new(1 << 20, &cache) != 0)
		abort();
	struct lsm_sst *s;
	if (lsm_sst_open(f, "t.sst", size, cache, 1, &s) == 0) {
		lsm_ignore(lsm_sst_verify(s));
		struct lsm_iiter *it;
		if (lsm_sst_iter(s, 1, &it) == 0) {
			size_t steps = 0;
			for (it->ops->seek_last(it); it->ops->valid(it) && steps < 10000; it->ops->prev(it), steps++)
				(void)it->ops->key(it);
			it->ops->free(it);
		}
		struct lsm_buf val;
		lsm_buf_init(&val);
		for (size_t off = 0; off + 8 <= size && off < 512; off += 8) {
			unsigned type;
			uint64_t seq;
			(void)lsm_sst_get(s, data + off, 8, LSM_SEQ_MAX - 1, 1, &type, &seq, &val, NULL, NULL);
		}
		lsm_buf_deinit(&val);
		(void)lsm_frags_max_seq(s->frags, "k", 1, LSM_SEQ_MAX - 1);
		lsm_sst_unref(s); /* closes f */
	} else {
		io_file_close(f);
	}
	lsm_cache_free(cache);
	io_fs_sim_free(fs);
	return 0;
}
