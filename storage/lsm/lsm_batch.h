/*
 * lsm_batch.h — decoding write batches (util.c) and the value buffer setter.
 */
#ifndef STORAGE_LSM_BATCH_H
#define STORAGE_LSM_BATCH_H

#include "storage/lsm/lsm_int.h"

struct lsm_batch_iter {
	const unsigned char *p, *end;
};

struct lsm_batch_rec {
	unsigned type; /* LSM_TYPE_DEL / PUT / RANGEDEL */
	struct lsm_slice key, val; /* for RANGEDEL, val is the exclusive end key */
};

/* Returns 1 with the next record, 0 at the end, ERR_CORRUPT on bad encoding. */
int lsm_batch_iter_next(struct lsm_batch_iter *it, struct lsm_batch_rec *r);

int lsm_buf_set(struct lsm_buf *b, const void *p, size_t n) WUR;

#endif
