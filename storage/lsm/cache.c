/*
 * cache.c — the block cache: (table id, block offset) -> block bytes, LRU with a byte limit,
 * shared by the trees of a core and their background thread.
 *
 * 16 shards, each a mutex, a chained hash table and an LRU list of entries nobody holds. An
 * entry's refs count the cache's own reference (while it is in the table) plus one per pinned
 * handle; only entries with refs == 1 are on the LRU list and can be evicted. Pinned entries
 * may make a shard exceed its share briefly (iterators hold at most one block per source).
 */
#include "storage/lsm/lsm_int.h"

#include <pthread.h>
#include <stdlib.h>

#define CACHE_SHARDS 16

struct lsm_cache_handle {
	uint64_t id, off;
	void *data;
	size_t size;
	int refs;
	int in_table;
	struct lsm_cache_handle *hnext;      /* hash chain */
	struct lsm_cache_handle *prev, *next; /* LRU (only when refs == 1 && in_table) */
};

struct shard {
	pthread_mutex_t mu;
	struct lsm_cache_handle **buckets;
	size_t nbuckets, count;
	uint64_t used, cap;
	struct lsm_cache_handle lru; /* sentinel: lru.next is the oldest */
};

struct lsm_cache {
	struct shard s[CACHE_SHARDS];
	uint64_t capacity;
};

static uint64_t next_id = 1;
uint64_t lsm_cache_new_id(void) { return __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED); }

static inline uint64_t hkey(uint64_t id, uint64_t off)
{
	uint64_t h = id * 0x9e3779b97f4a7c15ull ^ (off + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 29);
}

int lsm_cache_new(uint64_t capacity_bytes, struct lsm_cache **out)
{
	struct lsm_cache *c = calloc(1, sizeof *c);
	if (!c)
		return ERR_NOMEM;
	c->capacity = capacity_bytes;
	for (int i = 0; i < CACHE_SHARDS; i++) {
		struct shard *s = &c->s[i];
		pthread_mutex_init(&s->mu, NULL);
		s->nbuckets = 256;
		s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
		if (!s->buckets) {
			lsm_cache_free(c);
			return ERR_NOMEM;
		}
		s->cap = capacity_bytes / CACHE_SHARDS;
		s->lru.next = s->lru.prev = &s->lru;
	}
	*out = c;
	return 0;
}

static void entry_free(struct lsm_cache_handle *e)
{
	free(e->data);
	free(e);
}

void lsm_cache_free(struct lsm_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < CACHE_SHARDS; i++) {
		struct shard *s = &c->s[i];
		for (size_t b = 0; s->buckets && b < s->nbuckets; b++) {
			struct lsm_cache_handle *e = s->buckets[b];
			while (e) {
				struct lsm_cache_handle *n = e->hnext;
				ASSERT(e->refs == 1); /* every handle was released */
				entry_free(e);
				e = n;
			}
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->mu);
	}
	free(c);
}

uint64_t lsm_cache_used_bytes(struct lsm_cache *c)
{
	uint64_t u = 0;
	for (int i = 0; i < CACHE_SHARDS; i++) {
		pthread_mutex_lock(&c->s[i].mu);
		u += c->s[i].used;
		pthread_mutex_unlock(&c->s[i].mu);
	}
	return u;
}

static void lru_remove(struct lsm_cache_handle *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

static void lru_append(struct shard *s, struct lsm_cache_handle *e)
{
	e->next = &s->lru;
	e->prev = s->lru.prev;
	e->prev->next = e;
	s->lru.prev = e;
}

static struct lsm_cache_handle **find_slot(struct shard *s, uint64_t id, uint64_t off, uint64_t h)
{
	struct lsm_cache_handle **pp = &s->buckets[(h >> 4) & (s->nbuckets - 1)];
	while (*pp && ((*pp)->id != id || (*pp)->off != off))
		pp = &(*pp)->hnext;
	return pp;
}

static void unref_locked(struct shard *s, struct lsm_cache_handle *e)
{
	ASSERT(e->refs > 0);
	e->refs--;
	if (e->refs == 0) {
		ASSERT(!e->in_table);
		entry_free(e);
	} else if (e->refs == 1 && e->in_table) {
		lru_append(s, e);
	}
}

/* Remove from the table (caller holds the lock); the entry dies when its last pin goes. */
static void table_remove(struct shard *s, struct lsm_cache_handle *e, uint64_t h)
{
	struct lsm_cache_handle **pp = find_slot(s, e->id, e->off, h);
	ASSERT(*pp == e);
	*pp = e->hnext;
	e->in_table = 0;
	s->count--;
	s->used -= e->size;
	if (e->next)
		lru_remove(e);
	unref_locked(s, e);
}

static void evict(struct shard *s)
{
	while (s->used > s->cap && s->lru.next != &s->lru) {
		struct lsm_cache_handle *e = s->lru.next;
		table_remove(s, e, hkey(e->id, e->off));
	}
}

static void grow(struct shard *s)
{
	size_t nb = s->nbuckets * 2;
	struct lsm_cache_handle **b = calloc(nb, sizeof *b);
	if (!b)
		return; /* stay at the old size: chains get longer, nothing breaks */
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct lsm_cache_handle *e = s->buckets[i];
		while (e) {
			struct lsm_cache_handle *n = e->hnext;
			size_t j = (size_t)(hkey(e->id, e->off) >> 4) & (nb - 1);
			e->hnext = b[j];
			b[j] = e;
			e = n;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = nb;
}

struct lsm_cache_handle *lsm_cache_lookup(struct lsm_cache *c, uint64_t id, uint64_t off)
{
	uint64_t h = hkey(id, off);
	struct shard *s = &c->s[h % CACHE_SHARDS];
	pthread_mutex_lock(&s->mu);
	struct lsm_cache_handle *e = *find_slot(s, id, off, h);
	if (e) {
		if (e->refs == 1)
			lru_remove(e);
		e->refs++;
	}
	pthread_mutex_unlock(&s->mu);
	return e;
}

struct lsm_cache_handle *lsm_cache_insert(struct lsm_cache *c, uint64_t id, uint64_t off, void *data, size_t size)
{
	struct lsm_cache_handle *e = calloc(1, sizeof *e);
	if (!e) {
		free(data);
		return NULL;
	}
	e->id = id;
	e->off = off;
	e->data = data;
	e->size = size;
	e->refs = 2; /* the table's and the caller's */
	e->in_table = 1;
	uint64_t h = hkey(id, off);
	struct shard *s = &c->s[h % CACHE_SHARDS];
	pthread_mutex_lock(&s->mu);
	struct lsm_cache_handle **pp = find_slot(s, id, off, h);
	if (*pp)
		table_remove(s, *pp, h); /* a racing insert of the same block: the newer wins */
	pp = find_slot(s, id, off, h);
	e->hnext = *pp;
	*pp = e;
	s->count++;
	s->used += size;
	if (s->count > s->nbuckets)
		grow(s);
	evict(s);
	pthread_mutex_unlock(&s->mu);
	return e;
}

void lsm_cache_release(struct lsm_cache *c, struct lsm_cache_handle *e)
{
	uint64_t h = hkey(e->id, e->off);
	struct shard *s = &c->s[h % CACHE_SHARDS];
	pthread_mutex_lock(&s->mu);
	unref_locked(s, e);
	evict(s);
	pthread_mutex_unlock(&s->mu);
}

const void *lsm_cache_data(const struct lsm_cache_handle *h, size_t *size)
{
	*size = h->size;
	return h->data;
}
