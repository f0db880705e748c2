/*
 * buf.c — growable byte buffer with a read cursor (see buf.h).
 * Invariant kept by every function: off <= len <= cap, and data == NULL iff cap == 0.
 */
#include "net/buf.h"

#include "core/assert.h"

#include <stdlib.h>
#include <string.h>

void net_buf_init(struct net_buf *b)
{
	memset(b, 0, sizeof *b);
}

void net_buf_deinit(struct net_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

uint8_t *net_buf_reserve(struct net_buf *b, size_t n)
{
	ASSERT(b->off <= b->len && b->len <= b->cap);
	if (b->off == b->len) {
		b->off = 0;
		b->len = 0;
	}
	if (b->cap - b->len >= n)
		return b->data + b->len;
	/* Reclaim the consumed prefix before growing. */
	size_t live = b->len - b->off;
	if (b->off > 0 && b->cap - live >= n && b->off >= b->cap / 2) {
		memmove(b->data, b->data + b->off, live);
		b->off = 0;
		b->len = live;
		return b->data + b->len;
	}
	if (n > SIZE_MAX / 2 - b->len)
		return NULL;
	size_t want = b->len + n;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return NULL;
	b->data = p;
	b->cap = cap;
	ASSERT(b->cap - b->len >= n);
	return b->data + b->len;
}

void net_buf_commit(struct net_buf *b, size_t n)
{
	ASSERT(b->cap - b->len >= n);
	b->len += n;
}

int net_buf_append(struct net_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	uint8_t *dst = net_buf_reserve(b, n);
	if (!dst)
		return ERR_NOMEM;
	memcpy(dst, p, n);
	b->len += n;
	return 0;
}

void net_buf_consume(struct net_buf *b, size_t n)
{
	ASSERT(n <= b->len - b->off);
	b->off += n;
	if (b->off == b->len) {
		b->off = 0;
		b->len = 0;
	}
}

void net_buf_clear(struct net_buf *b)
{
	b->off = 0;
	b->len = 0;
}

void net_buf_shrink(struct net_buf *b, size_t keep_bytes)
{
	if (b->off == b->len && b->cap > keep_bytes) {
		free(b->data);
		memset(b, 0, sizeof *b);
	}
}
