/*
 * buf.h — a growable byte buffer with a read cursor, used for protocol output and TLS records.
 *
 * Invariants: off <= len <= cap; the unread bytes are data[off, len). net_buf_consume() advances
 * off and compacts lazily (when the buffer drains, or when the dead prefix exceeds half the
 * capacity on the next reserve), so appends stay amortised O(1). Growth is capped by the caller
 * (max_bytes arguments); nothing here grows without bound on its own.
 */
#ifndef NET_BUF_H
#define NET_BUF_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

struct net_buf {
	uint8_t *data;
	size_t off; /* start of unread bytes */
	size_t len; /* end of unread bytes */
	size_t cap;
};

void net_buf_init(struct net_buf *b);
void net_buf_deinit(struct net_buf *b);
/* Unread bytes. */
static inline size_t net_buf_size(const struct net_buf *b) { return b->len - b->off; }
static inline uint8_t *net_buf_head(const struct net_buf *b) { return b->data + b->off; }
/* Make room for `n` more bytes; returns a pointer to the free space (ERR_NOMEM -> NULL). */
uint8_t *net_buf_reserve(struct net_buf *b, size_t n);
/* Mark `n` reserved bytes as written. */
void net_buf_commit(struct net_buf *b, size_t n);
int net_buf_append(struct net_buf *b, const void *p, size_t n) WUR;
/* Drop `n` unread bytes from the front (n <= net_buf_size). */
void net_buf_consume(struct net_buf *b, size_t n);
/* Forget all bytes (keeps the allocation). */
void net_buf_clear(struct net_buf *b);
/* Free the allocation if it is larger than `keep_bytes` and empty (idle connections). */
void net_buf_shrink(struct net_buf *b, size_t keep_bytes);

#endif
