/*
 * arena.h — per-request bump allocator with an explicit byte maximum.
 *
 * Memory comes from a chain of chunks; nothing is freed individually; arena_reset() keeps the
 * first chunk and frees the rest, so a steady request size allocates nothing after warm-up.
 * An allocation past max_bytes fails (returns NULL) instead of growing: the caller turns that
 * into RESOURCE_EXHAUSTED. One arena belongs to one core/thread.
 */
#ifndef CORE_ARENA_H
#define CORE_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head; /* current chunk (newest) */
	size_t chunk_bytes;       /* default chunk size */
	size_t max_bytes;         /* total cap over all chunks */
	size_t used_bytes;        /* bytes handed out since the last reset */
	size_t held_bytes;        /* bytes held in chunks */
};

void arena_init(struct arena *a, size_t chunk_bytes, size_t max_bytes);
void arena_deinit(struct arena *a);
/* Aligned to 16 bytes. Returns NULL when the cap would be exceeded or malloc fails. */
void *arena_alloc(struct arena *a, size_t size);
void *arena_calloc(struct arena *a, size_t n, size_t size);
void *arena_memdup(struct arena *a, const void *src, size_t size);
void arena_reset(struct arena *a);

#endif
