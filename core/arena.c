/* arena.c — see arena.h. */
#include "core/arena.h"
#include "core/assert.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap;
	size_t used;
	_Alignas(16) unsigned char data[];
};

void arena_init(struct arena *a, size_t chunk_bytes, size_t max_bytes)
{
	ASSERT(chunk_bytes > 0);
	ASSERT(max_bytes >= chunk_bytes);
	memset(a, 0, sizeof *a);
	a->chunk_bytes = chunk_bytes;
	a->max_bytes = max_bytes;
}

void arena_deinit(struct arena *a)
{
	struct arena_chunk *c = a->head;
	while (c) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	memset(a, 0, sizeof *a);
}

void *arena_alloc(struct arena *a, size_t size)
{
	size_t need = (size + 15) & ~(size_t)15;
	if (need < size)
		return NULL; /* overflow */
	if (size == 0)
		need = 16;
	if (a->used_bytes + need > a->max_bytes || a->used_bytes + need < a->used_bytes)
		return NULL;
	struct arena_chunk *c = a->head;
	if (!c || c->cap - c->used < need) {
		size_t cap = need > a->chunk_bytes ? need : a->chunk_bytes;
		c = malloc(sizeof *c + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->held_bytes += cap;
	}
	void *p = c->data + c->used;
	c->used += need;
	a->used_bytes += need;
	ASSERT(c->used <= c->cap);
	return p;
}

void *arena_calloc(struct arena *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = arena_alloc(a, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

void *arena_memdup(struct arena *a, const void *src, size_t size)
{
	void *p = arena_alloc(a, size);
	if (p && size)
		memcpy(p, src, size);
	return p;
}

void arena_reset(struct arena *a)
{
	/* Keep the oldest chunk (the tail of the list) if it is the default size; free the rest. */
	struct arena_chunk *c = a->head, *keep = NULL;
	while (c) {
		struct arena_chunk *next = c->next;
		if (!next && c->cap == a->chunk_bytes)
			keep = c;
		else
			free(c);
		c = next;
	}
	a->head = keep;
	a->held_bytes = keep ? keep->cap : 0;
	if (keep) {
		keep->used = 0;
		keep->next = NULL;
	}
	a->used_bytes = 0;
}
