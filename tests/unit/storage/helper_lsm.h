/* helper_lsm.h — helpers for the LSM tests. */
#ifndef TESTS_HELPER_LSM_H
#define TESTS_HELPER_LSM_H

#include "storage/lsm.h"

#include <stddef.h>
#include <stdint.h>

void hl_key(char *buf, size_t cap, uint64_t i);
int hl_put(struct lsm_tree *t, const char *k, const char *v, uint64_t index);
int hl_del(struct lsm_tree *t, const char *k, uint64_t index);
int hl_del_range(struct lsm_tree *t, const char *a, const char *z, uint64_t index);
/* 0 and the value (NUL-terminated, truncated to cap) or ERR_NOTFOUND / error. */
int hl_get(struct lsm_tree *t, const struct lsm_snapshot *snap, const char *k, char *out, size_t cap);
/* Tiny memtables, blocks and levels so a few thousand keys exercise flushes and compactions. */
void hl_small_options(struct lsm_options *o, struct io_fs *fs);

#endif
