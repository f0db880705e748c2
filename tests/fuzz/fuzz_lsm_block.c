/* fuzz_lsm_block.c — decode arbitrary bytes as a stored block (trailer check) and as a block
 * body (iterate both ways, seek to keys taken from the input): never crash, never read out of
 * bounds; a bad block gives ERR_CORRUPT. */
#include "storage/lsm/lsm_parts.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)lsm_block_check(data, size);
	int full = lsm_block_body_check(data, size);
	/* The body lives in its own allocation so ASan sees any overrun. */
	unsigned char *body = malloc(size ? size : 1);
	if (!body)
		return 0;
	memcpy(body, data, size);
	struct lsm_iiter *it;
	if (lsm_block_iter_new(body, size, NULL, NULL, NULL, &it) != 0) {
		free(body);
		return 0;
	}
	size_t steps = 0;
	for (it->ops->seek_first(it); it->ops->valid(it) && steps < 10000; it->ops->next(it), steps++) {
		struct lsm_slice k = it->ops->key(it), v = it->ops->value(it);
		if (k.n < 8 || (v.n && !v.p))
			abort();
	}
	steps = 0;
	for (it->ops->seek_last(it); it->ops->valid(it) && steps < 10000; it->ops->prev(it), steps++)
		(void)it->ops->key(it);
	unsigned char key[40];
	for (size_t off = 0; off + 16 <= size && off < 256; off += 16) {
		memcpy(key, data + off, 16);
		it->ops->seek(it, key, 16);
		if (it->ops->valid(it))
			(void)it->ops->value(it);
	}
	struct lsm_bytes kb = {0};
	struct lsm_slice v;
	if (size >= 12)
		(void)lsm_block_seek_once(body, size, data, 12, &kb, &v);
	lsm_bytes_free(&kb);
	(void)full;
	it->ops->free(it);
	free(body);
	return 0;
}
