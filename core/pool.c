/*
 * pool.c — see pool.h. Invariants: in_use <= allocated <= max_objects; the free list holds
 * exactly allocated - in_use objects; every object lies inside one chunk of this pool.
 */
#include "core/pool.h"
#include "core/assert.h"

#include <stdlib.h>

#if defined(REGATTA_SANITIZE) || defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define POOL_IS_POISONED(p) __asan_address_is_poisoned(p)
#else
#define POOL_POISON(p, n) ((void)(p), (void)(n))
#define POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#define POOL_IS_POISONED(p) ((void)(p), 0)
#endif

#define POOL_ALIGN 16u
#define POOL_CHUNK_OBJECTS_MAX 256u

struct pool_chunk {
	struct pool_chunk *next;
	uint32_t count;
	uint32_t pad_;
	_Alignas(16) unsigned char data[];
};

int pool_init(struct pool *p, size_t obj_bytes, uint32_t max_objects)
{
	ASSERT(p != NULL);
	if (obj_bytes == 0 || max_objects == 0 || obj_bytes > (SIZE_MAX / 2) / max_objects)
		return ERR_INVAL;
	if (obj_bytes < sizeof(void *))
		obj_bytes = sizeof(void *);
	p->obj_bytes = (obj_bytes + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
	p->max_objects = max_objects;
	p->in_use = 0;
	p->allocated = 0;
	p->chunk_objects = 8;
	p->free_list = NULL;
	p->chunks = NULL;
	ASSERT(p->obj_bytes % POOL_ALIGN == 0);
	return 0;
}

void pool_deinit(struct pool *p)
{
	ASSERT(p->in_use == 0); /* objects outlive their pool */
	struct pool_chunk *c = p->chunks;
	while (c) {
		struct pool_chunk *next = c->next;
		POOL_UNPOISON(c->data, (size_t)c->count * p->obj_bytes);
		free(c);
		c = next;
	}
	p->chunks = NULL;
	p->free_list = NULL;
	p->allocated = 0;
}

static void pool_push_free(struct pool *p, void *obj)
{
	*(void **)obj = p->free_list;
	p->free_list = obj;
	POOL_POISON(obj, p->obj_bytes);
}

/* Add a chunk: sizes double (8, 16, ... 256 objects) and stop at max_objects. */
static int pool_grow(struct pool *p)
{
	uint32_t n = p->chunk_objects;
	if (n > p->max_objects - p->allocated)
		n = p->max_objects - p->allocated;
	ASSERT(n > 0);
	struct pool_chunk *c = malloc(sizeof *c + (size_t)n * p->obj_bytes);
	if (!c)
		return ERR_NOMEM;
	c->count = n;
	c->next = p->chunks;
	p->chunks = c;
	p->allocated += n;
	/* Push in reverse so objects come out in address order. */
	for (uint32_t i = n; i-- > 0;)
		pool_push_free(p, c->data + (size_t)i * p->obj_bytes);
	if (p->chunk_objects < POOL_CHUNK_OBJECTS_MAX)
		p->chunk_objects *= 2;
	return 0;
}

void *pool_alloc(struct pool *p)
{
	ASSERT(p->in_use <= p->allocated && p->allocated <= p->max_objects);
	if (!p->free_list) {
		if (p->allocated == p->max_objects || pool_grow(p) != 0)
			return NULL;
	}
	void *obj = p->free_list;
	POOL_UNPOISON(obj, p->obj_bytes);
	p->free_list = *(void **)obj;
	p->in_use++;
	return obj;
}

#ifndef NDEBUG
static int pool_owns(const struct pool *p, const void *obj)
{
	const unsigned char *o = obj;
	for (const struct pool_chunk *c = p->chunks; c; c = c->next) {
		const unsigned char *end = c->data + (size_t)c->count * p->obj_bytes;
		if (o >= c->data && o < end)
			return (size_t)(o - c->data) % p->obj_bytes == 0;
	}
	return 0;
}
#endif

void pool_free(struct pool *p, void *obj)
{
	ASSERT(obj != NULL && p->in_use > 0);
	ASSERT(!POOL_IS_POISONED(obj)); /* double free */
	DASSERT(pool_owns(p, obj));
	p->in_use--;
	pool_push_free(p, obj);
}
