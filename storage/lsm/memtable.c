/*
 * memtable.c — the in-memory write buffer: an arena-allocated skiplist of internal keys, plus
 * the range tombstones written into it.
 *
 * One writer (the tree's owning thread) and any number of readers: readers on the same thread
 * interleave with writes, and after the memtable becomes immutable the background thread reads
 * it to flush. Next pointers are published with release stores and read with acquire loads, so
 * a reader sees either the old or the fully built node. Nodes are never removed; memory is freed
 * all at once when the last reference drops. Range tombstones sit in a side array; their
 * fragment set is rebuilt lazily after a change (the set handed out is immutable), and built
 * once more by lsm_mem_freeze() when the memtable becomes immutable, before any other thread
 * sees it — after that the cache is only read, so the flush thread and the owner may share it.
 */
#include "storage/lsm/lsm_parts.h"

#include <stdlib.h>
#include <sys/mman.h>

#define SKIP_HEIGHT_MAX 12
#define ARENA_FIRST_CHUNK (64u << 10)
#define ARENA_HUGE_CHUNK (2u << 20) /* one transparent huge page */
#define ARENA_BIG_ITEM (ARENA_HUGE_CHUNK / 4) /* larger items get a chunk of their own */

struct mnode {
	uint32_t klen; /* internal key */
	uint32_t vlen;
	unsigned char *kv;
	struct mnode *next[]; /* height entries */
};

struct achunk {
	struct achunk *prev;
	size_t used, cap;
	unsigned char data[];
};

struct lsm_mem_impl {
	struct achunk *chunks;
	size_t bytes; /* arena bytes handed out, plus tombstones */
	struct mnode *head;
	int height;
	uint64_t rnd;
	struct lsm_tomb *tombs;
	size_t ntombs, captombs;
	struct lsm_frags *frags; /* cached fragment set, NULL when stale */
	size_t chunk_next;       /* size of the next arena chunk (grows to ARENA_HUGE_CHUNK) */
};

/*
 * Arena chunks start small (a memtable per table, and most tables are small) and double up to
 * 2 MiB; those are 2 MiB-aligned and advised as transparent huge pages. A skiplist search in a
 * memtable of tens of MB touches ~30 nodes scattered over it: with 4 KiB pages nearly each one
 * also misses the TLB (in a VM, a two-level page walk), which made the search the largest
 * user-space cost of a Put.
 */
static struct achunk *chunk_new(struct lsm_mem_impl *m, size_t n)
{
	size_t hdr = sizeof(struct achunk);
	if (n > ARENA_BIG_ITEM) {
		struct achunk *c = malloc(hdr + n);
		if (c)
			c->cap = n;
		return c;
	}
	if (m->chunk_next < ARENA_HUGE_CHUNK) {
		size_t total = m->chunk_next;
		m->chunk_next *= 2;
		while (total - hdr < n)
			total *= 2;
		struct achunk *c = malloc(total);
		if (c)
			c->cap = total - hdr;
		return c;
	}
	void *p = NULL;
	if (posix_memalign(&p, ARENA_HUGE_CHUNK, ARENA_HUGE_CHUNK) != 0)
		return NULL;
	(void)madvise(p, ARENA_HUGE_CHUNK, MADV_HUGEPAGE); /* a hint: refused is fine */
	struct achunk *c = p;
	c->cap = ARENA_HUGE_CHUNK - hdr;
	return c;
}

static void *arena_get(struct lsm_mem_impl *m, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	struct achunk *c = m->chunks;
	if (!c || c->cap - c->used < n) {
		struct achunk *nc = chunk_new(m, n);
		if (!nc)
			return NULL;
		nc->used = 0;
		if (n > ARENA_BIG_ITEM && c) {
			/* A big item's chunk is kept behind the current one. */
			nc->prev = c->prev;
			c->prev = nc;
		} else {
			nc->prev = c;
			m->chunks = nc;
		}
		c = nc;
	}
	void *p = c->data + c->used;
	c->used += n;
	m->bytes += n;
	return p;
}

static int node_height(struct lsm_mem_impl *m)
{
	int h = 1;
	while (h < SKIP_HEIGHT_MAX) {
		m->rnd ^= m->rnd << 13;
		m->rnd ^= m->rnd >> 7;
		m->rnd ^= m->rnd << 17;
		if ((m->rnd & 3) != 0)
			break;
		h++;
	}
	return h;
}

static inline struct mnode *nx(struct mnode *n, int lvl) { return __atomic_load_n(&n->next[lvl], __ATOMIC_ACQUIRE); }

static inline int node_cmp(const struct mnode *n, const unsigned char *k, size_t kn)
{
	return lsm_ikey_cmp(n->kv, n->klen, k, kn);
}

/* First node >= key; fills prev[] when given. Each step is a likely cache miss in a big
 * memtable, so: the node after the next one is prefetched while the next one's key is compared,
 * and a node already found >= key on the level above is not compared again (RocksDB's
 * InlineSkipList does both). */
static struct mnode *find_ge(struct lsm_mem_impl *m, const unsigned char *k, size_t kn, struct mnode **prev)
{
	struct mnode *x = m->head, *bigger = NULL;
	int lvl = m->height - 1;
	for (;;) {
		struct mnode *n = nx(x, lvl);
		if (n && n != bigger)
			__builtin_prefetch(nx(n, lvl));
		if (n && n != bigger && node_cmp(n, k, kn) < 0) {
			x = n;
		} else {
			if (prev)
				prev[lvl] = x;
			if (lvl == 0)
				return n;
			bigger = n;
			lvl--;
		}
	}
}

static struct mnode *find_lt(struct lsm_mem_impl *m, const unsigned char *k, size_t kn)
{
	struct mnode *x = m->head;
	int lvl = m->height - 1;
	for (;;) {
		struct mnode *n = nx(x, lvl);
		if (n && node_cmp(n, k, kn) < 0) {
			x = n;
		} else {
			if (lvl == 0)
				return x == m->head ? NULL : x;
			lvl--;
		}
	}
}

static struct mnode *find_last(struct lsm_mem_impl *m)
{
	struct mnode *x = m->head;
	int lvl = m->height - 1;
	for (;;) {
		struct mnode *n = nx(x, lvl);
		if (n) {
			x = n;
		} else {
			if (lvl == 0)
				return x == m->head ? NULL : x;
			lvl--;
		}
	}
}

int lsm_mem_new(struct lsm_mem **out)
{
	struct lsm_mem *m = calloc(1, sizeof *m);
	struct lsm_mem_impl *im = calloc(1, sizeof *im);
	if (!m || !im)
		goto err;
	m->impl = im;
	m->refs = 1;
	im->rnd = 0x9e3779b97f4a7c15ull;
	im->chunk_next = ARENA_FIRST_CHUNK;
	im->height = 1;
	im->head = arena_get(im, sizeof(struct mnode) + SKIP_HEIGHT_MAX * sizeof(struct mnode *));
	if (!im->head)
		goto err;
	memset(im->head, 0, sizeof(struct mnode) + SKIP_HEIGHT_MAX * sizeof(struct mnode *));
	*out = m;
	return 0;
err:
	if (im && im->chunks)
		free(im->chunks);
	free(im);
	free(m);
	return ERR_NOMEM;
}

void lsm_mem_ref(struct lsm_mem *m) { __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED); }

void lsm_mem_unref(struct lsm_mem *m)
{
	if (!m)
		return;
	int left = __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL);
	ASSERT(left >= 0);
	if (left)
		return;
	struct lsm_mem_impl *im = m->impl;
	struct achunk *c = im->chunks;
	while (c) {
		struct achunk *p = c->prev;
		free(c);
		c = p;
	}
	lsm_frags_unref(im->frags);
	free(im->tombs);
	free(im);
	free(m);
}

int lsm_mem_add(struct lsm_mem *m, uint64_t seq, unsigned type, const void *key, size_t kn, const void *val, size_t vn)
{
	struct lsm_mem_impl *im = m->impl;
	ASSERT(seq > 0 && seq < LSM_SEQ_MAX);
	ASSERT(seq > m->last_seq);
	if (m->first_seq == 0)
		m->first_seq = seq;
	m->last_seq = seq;
	m->entries++;
	if (type == LSM_TYPE_RANGEDEL) {
		unsigned char *p = arena_get(im, kn + vn + 1);
		if (!p)
			return ERR_NOMEM;
		memcpy(p, key, kn);
		memcpy(p + kn, val, vn);
		if (im->ntombs == im->captombs) {
			size_t nc = im->captombs ? im->captombs * 2 : 8;
			struct lsm_tomb *t = realloc(im->tombs, nc * sizeof *t);
			if (!t)
				return ERR_NOMEM;
			im->tombs = t;
			im->captombs = nc;
		}
		im->tombs[im->ntombs++] = (struct lsm_tomb){{p, kn}, {p + kn, vn}, seq};
		lsm_frags_unref(im->frags);
		im->frags = NULL;
		return 0;
	}
	int h = node_height(im);
	size_t ptrs = (size_t)h * sizeof(struct mnode *);
	struct mnode *n = arena_get(im, sizeof *n + ptrs + kn + 8 + vn);
	if (!n)
		return ERR_NOMEM;
	n->klen = (uint32_t)(kn + 8);
	n->vlen = (uint32_t)vn;
	n->kv = (unsigned char *)n + sizeof *n + ptrs;
	memcpy(n->kv, key, kn);
	lsm_put_u64(n->kv + kn, lsm_trailer(seq, type));
	if (vn)
		memcpy(n->kv + kn + 8, val, vn);
	struct mnode *prev[SKIP_HEIGHT_MAX];
	struct mnode *ge = find_ge(im, n->kv, n->klen, prev);
	ASSERT(!ge || node_cmp(ge, n->kv, n->klen) != 0); /* seqs are unique */
	if (h > im->height) {
		for (int i = im->height; i < h; i++)
			prev[i] = im->head;
		im->height = h;
	}
	for (int i = 0; i < h; i++) {
		n->next[i] = nx(prev[i], i);
		__atomic_store_n(&prev[i]->next[i], n, __ATOMIC_RELEASE);
	}
	return 0;
}

int lsm_mem_get(struct lsm_mem *m, const void *ukey, size_t kn, uint64_t snap, unsigned *type, uint64_t *seq,
		struct lsm_slice *val)
{
	unsigned char buf[LSM_TRAILER_BYTES + 1024];
	unsigned char *k = kn <= 1024 ? buf : malloc(kn + 8);
	if (!k)
		return 0;
	memcpy(k, ukey, kn);
	lsm_put_u64(k + kn, lsm_trailer(snap, LSM_TYPE_SEEK));
	struct mnode *n = find_ge(m->impl, k, kn + 8, NULL);
	if (k != buf)
		free(k);
	if (!n || lsm_ukey_cmp(n->kv, n->klen - 8u, ukey, kn) != 0)
		return 0;
	*type = lsm_ikey_type(n->kv, n->klen);
	*seq = lsm_ikey_seq(n->kv, n->klen);
	val->p = n->kv + n->klen;
	val->n = n->vlen;
	return 1;
}

uint64_t lsm_mem_tomb_max_seq(struct lsm_mem *m, const void *ukey, size_t kn, uint64_t snap)
{
	struct lsm_mem_impl *im = m->impl;
	if (im->ntombs == 0)
		return 0;
	if (!im->frags && im->ntombs <= 64) {
		/* Few tombstones and the fragment set is stale: a scan beats a rebuild (a stream of
		 * DeleteRange + Get would otherwise rebuild on every read). */
		uint64_t best = 0;
		for (size_t i = 0; i < im->ntombs; i++) {
			const struct lsm_tomb *t = &im->tombs[i];
			if (t->seq <= snap && t->seq > best && lsm_ukey_cmp(t->start.p, t->start.n, ukey, kn) <= 0 &&
			    lsm_ukey_cmp(t->end.p, t->end.n, ukey, kn) > 0)
				best = t->seq;
		}
		return best;
	}
	if (!im->frags && lsm_frags_build(im->tombs, im->ntombs, &im->frags))
		return UINT64_MAX; /* out of memory: the caller reports it */
	return lsm_frags_max_seq(im->frags, ukey, kn, snap);
}

size_t lsm_mem_bytes(const struct lsm_mem *m) { return m->impl->bytes; }
size_t lsm_mem_tomb_count(const struct lsm_mem *m) { return m->impl->ntombs; }

int lsm_mem_freeze(struct lsm_mem *m)
{
	struct lsm_frags *f;
	int rc = lsm_mem_frags(m, &f);
	if (rc)
		return rc;
	lsm_frags_unref(f);
	ASSERT(m->impl->frags); /* from now on readers on any thread only read the cache */
	return 0;
}

int lsm_mem_frags(struct lsm_mem *m, struct lsm_frags **out)
{
	struct lsm_mem_impl *im = m->impl;
	if (!im->frags) {
		int rc = lsm_frags_build(im->tombs, im->ntombs, &im->frags);
		if (rc)
			return rc;
	}
	lsm_frags_ref(im->frags);
	*out = im->frags;
	return 0;
}

/* ---- iterator -------------------------------------------------------------------------------- */

struct mem_iter {
	struct lsm_iiter base;
	struct lsm_mem *m;
	struct mnode *cur;
};

static int mi_valid(struct lsm_iiter *it) { return ((struct mem_iter *)it)->cur != NULL; }
static void mi_first(struct lsm_iiter *it)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	mi->cur = nx(mi->m->impl->head, 0);
}
static void mi_last(struct lsm_iiter *it)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	mi->cur = find_last(mi->m->impl);
}
static void mi_seek(struct lsm_iiter *it, const unsigned char *k, size_t kn)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	mi->cur = find_ge(mi->m->impl, k, kn, NULL);
}
static void mi_next(struct lsm_iiter *it)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	ASSERT(mi->cur);
	mi->cur = nx(mi->cur, 0);
}
static void mi_prev(struct lsm_iiter *it)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	ASSERT(mi->cur);
	mi->cur = find_lt(mi->m->impl, mi->cur->kv, mi->cur->klen);
}
static struct lsm_slice mi_key(struct lsm_iiter *it)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	return (struct lsm_slice){mi->cur->kv, mi->cur->klen};
}
static struct lsm_slice mi_value(struct lsm_iiter *it)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	return (struct lsm_slice){mi->cur->kv + mi->cur->klen, mi->cur->vlen};
}
static int mi_status(struct lsm_iiter *it) { return 0; }
static void mi_free(struct lsm_iiter *it)
{
	struct mem_iter *mi = (struct mem_iter *)it;
	lsm_mem_unref(mi->m);
	free(mi);
}

static const struct lsm_iiter_ops mem_iter_ops = {mi_valid, mi_first, mi_last, mi_seek, mi_next,
						  mi_prev, mi_key, mi_value, mi_status, mi_free};

int lsm_mem_iter(struct lsm_mem *m, struct lsm_iiter **out)
{
	struct mem_iter *mi = calloc(1, sizeof *mi);
	if (!mi)
		return ERR_NOMEM;
	mi->base.ops = &mem_iter_ops;
	mi->m = m;
	lsm_mem_ref(m);
	*out = &mi->base;
	return 0;
}
