/*
 * pool.h — fixed-size object pool with an explicit maximum: per-connection and per-request
 * objects come from here, and a full pool is the backpressure signal (the caller answers
 * RESOURCE_EXHAUSTED / UNAVAILABLE or closes the new socket), never unbounded growth.
 *
 * Memory is taken from malloc in chunks as the pool grows (so a pool sized for 16384
 * connections costs nothing until they come) and is kept until pool_deinit; freed objects go
 * on an intrusive free list and are reused first. Objects are 16-byte aligned. Under ASan,
 * free objects are poisoned: a use after pool_free, or a double free, is caught.
 * One pool belongs to one core (no locking).
 */
#ifndef CORE_POOL_H
#define CORE_POOL_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>

struct pool_chunk;

struct pool {
	size_t obj_bytes;          /* rounded up to 16 */
	uint32_t max_objects;      /* hard cap */
	uint32_t in_use;           /* handed out, not yet freed */
	uint32_t allocated;        /* objects in chunks (free + in use) */
	uint32_t chunk_objects;    /* objects per new chunk */
	void *free_list;
	struct pool_chunk *chunks;
};

/* obj_bytes > 0, max_objects > 0. Allocates nothing yet. */
int pool_init(struct pool *p, size_t obj_bytes, uint32_t max_objects) WUR;
/* Frees every chunk. Objects still in use are a bug (asserted). */
void pool_deinit(struct pool *p);
/* An object (contents undefined), or NULL when max_objects are in use or malloc failed. */
void *pool_alloc(struct pool *p);
/* Return an object that came from this pool. */
void pool_free(struct pool *p, void *obj);
static inline uint32_t pool_in_use(const struct pool *p) { return p->in_use; }
static inline uint32_t pool_max(const struct pool *p) { return p->max_objects; }

#endif
