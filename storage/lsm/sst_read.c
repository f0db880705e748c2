/*
 * sst_read.c — reading a table: open (footer + metadata blocks), point lookups and iterators.
 *
 * Open reads only the footer and the four metadata blocks (index, filter, rangedel, props) and
 * validates each checksum; data blocks are read on demand through the block cache, and every
 * block read from disk is checked against its xxh3 before use. A mismatch is ERR_CORRUPT with
 * the table's name and the block's offset recorded (lsm_err). Readers are immutable after open
 * and shared by threads through their refcount.
 */
#include "storage/lsm/lsm_parts.h"
#include "storage/lsm/lsm_batch.h"
#include "core/limits.h"

#include <stdio.h>
#include <stdlib.h>

void lsm_sst_ref(struct lsm_sst *s) { __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED); }

void lsm_sst_unref(struct lsm_sst *s)
{
	if (!s)
		return;
	int left = __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	ASSERT(left >= 0);
	if (left)
		return;
	io_file_close(s->f);
	free(s->index);
	free(s->filter);
	lsm_frags_unref(s->frags);
	free(s);
}

/* Read a stored block [off, off+size) and verify its trailer; *out is malloc'd. */
static int read_raw(struct io_file *f, const char *name, uint64_t fsize, uint64_t off, uint64_t size,
		    unsigned char **out)
{
	if (size < LSM_BLOCK_TRAILER || size > LIMIT_LSM_BLOCK_BYTES || off > fsize || size > fsize - off)
		return lsm_err(ERR_CORRUPT, name, off, "block handle out of range (size %llu)",
			       (unsigned long long)size);
	unsigned char *p = malloc((size_t)size);
	if (!p)
		return ERR_NOMEM;
	int64_t n = io_file_pread(f, p, (size_t)size, off);
	if (n < 0 || (uint64_t)n != size) {
		free(p);
		return lsm_err(n < 0 ? (int)n : ERR_CORRUPT, name, off, "short block read");
	}
	if (lsm_block_check(p, (size_t)size)) {
		free(p);
		return lsm_err(ERR_CORRUPT, name, off, "block checksum mismatch");
	}
	*out = p;
	return 0;
}

int lsm_sst_open(struct io_file *f, const char *name, uint64_t size, struct lsm_cache *cache, int paranoid,
		 struct lsm_sst **out)
{
	unsigned char foot[LSM_FOOTER_BYTES];
	unsigned char *blk = NULL;
	struct lsm_sst *s = NULL;
	int rc;
	if (size < LSM_FOOTER_BYTES)
		return lsm_err(ERR_CORRUPT, name, 0, "table too short for a footer (%llu bytes)",
			       (unsigned long long)size);
	uint64_t foff = size - LSM_FOOTER_BYTES;
	int64_t n = io_file_pread(f, foot, sizeof foot, foff);
	if (n != (int64_t)sizeof foot)
		return lsm_err(n < 0 ? (int)n : ERR_CORRUPT, name, foff, "short footer read");
	if (lsm_get_u64(foot + 88) != LSM_SST_MAGIC)
		return lsm_err(ERR_CORRUPT, name, foff + 88, "bad table magic");
	if (lsm_hash64(foot, 80) != lsm_get_u64(foot + 80))
		return lsm_err(ERR_CORRUPT, name, foff, "footer checksum mismatch");
	if (lsm_get_u32(foot + 64) != LSM_SST_VERSION)
		return lsm_err(ERR_CORRUPT, name, foff + 64, "unknown table format version %u",
			       lsm_get_u32(foot + 64));
	uint64_t h[8];
	for (int i = 0; i < 8; i++)
		h[i] = lsm_get_u64(foot + 8 * i);
	s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	s->refs = 1;
	snprintf(s->name, sizeof s->name, "%s", name);
	s->size = size;
	s->cache = cache;
	s->cache_id = lsm_cache_new_id();
	s->paranoid = paranoid;
	/* filter */
	rc = read_raw(f, name, foff, h[0], h[1], &blk);
	if (rc)
		goto err;
	s->filter = blk;
	s->filter_len = (size_t)h[1] - LSM_BLOCK_TRAILER;
	/* rangedel */
	rc = read_raw(f, name, foff, h[2], h[3], &blk);
	if (rc)
		goto err;
	rc = lsm_frags_decode(blk, (size_t)h[3] - LSM_BLOCK_TRAILER, &s->frags);
	free(blk);
	if (rc) {
		rc = lsm_err(rc, name, h[2], "bad range tombstone block");
		goto err;
	}
	/* props */
	rc = read_raw(f, name, foff, h[4], h[5], &blk);
	if (rc)
		goto err;
	if (h[5] - LSM_BLOCK_TRAILER < 64) {
		free(blk);
		rc = lsm_err(ERR_CORRUPT, name, h[4], "props block too short");
		goto err;
	}
	uint64_t *pv[8] = {&s->props.entries, &s->props.deletions, &s->props.range_dels,
			   &s->props.smallest_seq, &s->props.largest_seq, &s->props.raw_key_bytes,
			   &s->props.raw_value_bytes, &s->props.data_blocks};
	for (int i = 0; i < 8; i++)
		*pv[i] = lsm_get_u64(blk + 8 * i);
	free(blk);
	/* index */
	rc = read_raw(f, name, foff, h[6], h[7], &blk);
	if (rc)
		goto err;
	s->index = blk;
	s->index_len = (size_t)h[7] - LSM_BLOCK_TRAILER;
	if (lsm_block_body_check(s->index, s->index_len)) {
		rc = lsm_err(ERR_CORRUPT, name, h[6], "bad index block layout");
		goto err;
	}
	s->f = f;
	*out = s;
	return 0;
err:
	if (s) {
		free(s->index);
		free(s->filter);
		lsm_frags_unref(s->frags);
		free(s);
	}
	return rc;
}

/* A data block's body, pinned: through the cache (handle) or owned (malloc'd). */
struct pinned {
	const unsigned char *body;
	size_t len;
	struct lsm_cache_handle *h;
	unsigned char *owned;
};

static int block_get(struct lsm_sst *s, uint64_t off, uint64_t size, int fill_cache, struct pinned *pb,
		     uint64_t *hits, uint64_t *misses)
{
	memset(pb, 0, sizeof *pb);
	if (s->cache) {
		struct lsm_cache_handle *h = lsm_cache_lookup(s->cache, s->cache_id, off);
		if (h) {
			size_t n;
			pb->body = lsm_cache_data(h, &n);
			pb->len = n;
			pb->h = h;
			if (hits)
				(*hits)++;
			return 0;
		}
	}
	if (misses)
		(*misses)++;
	unsigned char *p;
	int rc = read_raw(s->f, s->name, s->size - LSM_FOOTER_BYTES, off, size, &p);
	if (rc)
		return rc;
	size_t len = (size_t)size - LSM_BLOCK_TRAILER;
	if (lsm_block_body_check(p, len)) {
		free(p);
		return lsm_err(ERR_CORRUPT, s->name, off, "bad block layout");
	}
	if (s->cache && fill_cache) {
		struct lsm_cache_handle *h = lsm_cache_insert(s->cache, s->cache_id, off, p, len);
		if (!h)
			return ERR_NOMEM;
		size_t n;
		pb->body = lsm_cache_data(h, &n);
		pb->len = n;
		pb->h = h;
		return 0;
	}
	pb->body = p;
	pb->len = len;
	pb->owned = p;
	return 0;
}

static void block_put(struct lsm_sst *s, struct pinned *pb)
{
	if (pb->h)
		lsm_cache_release(s->cache, pb->h);
	free(pb->owned);
}

int lsm_sst_get(struct lsm_sst *s, const void *ukey, size_t kn, uint64_t snap, int fill_cache, unsigned *type,
		uint64_t *seq, struct lsm_buf *val, uint64_t *hits, uint64_t *misses)
{
	if (s->filter_len && !lsm_bloom_may_contain(s->filter, s->filter_len, lsm_hash64(ukey, kn)))
		return 0;
	unsigned char kbuf[LIMIT_KEY_BYTES + 8];
	ASSERT(kn <= LIMIT_KEY_BYTES);
	memcpy(kbuf, ukey, kn);
	lsm_put_u64(kbuf + kn, lsm_trailer(snap, LSM_TYPE_SEEK));
	size_t ikn = kn + 8;
	static _Thread_local struct lsm_bytes kb; /* reused key buffer of this thread's lookups */
	struct lsm_slice hv;
	int rc = lsm_block_seek_once(s->index, s->index_len, kbuf, ikn, &kb, &hv);
	if (rc <= 0)
		return rc < 0 ? lsm_err(rc, s->name, 0, "corrupt index block") : 0;
	uint64_t off, size;
	if (lsm_handle_decode(hv, &off, &size))
		return lsm_err(ERR_CORRUPT, s->name, 0, "bad block handle in index");
	struct pinned pb;
	rc = block_get(s, off, size, fill_cache, &pb, hits, misses);
	if (rc)
		return rc;
	struct lsm_slice v;
	rc = lsm_block_seek_once(pb.body, pb.len, kbuf, ikn, &kb, &v);
	if (rc < 0) {
		rc = lsm_err(rc, s->name, off, "corrupt data block");
	} else if (rc == 1) {
		if (lsm_ukey_cmp(kb.p, kb.n - 8, ukey, kn) != 0) {
			rc = 0;
		} else {
			*type = lsm_ikey_type(kb.p, kb.n);
			*seq = lsm_ikey_seq(kb.p, kb.n);
			if (*type == LSM_TYPE_PUT && val && lsm_buf_set(val, v.p, v.n))
				rc = ERR_NOMEM;
		}
	}
	block_put(s, &pb);
	return rc;
}

/* ---- two-level iterator: index block -> data blocks ---------------------------------------------- */

struct sst_iter {
	struct lsm_iiter base;
	struct lsm_sst *s;
	int fill_cache;
	struct lsm_iiter *index;
	struct lsm_iiter *data; /* NULL when no block is loaded */
	struct lsm_iiter *spare; /* an unloaded block iterator kept for reuse */
	uint64_t data_off;
	int status;
	/* readahead for sequential scans (and compaction inputs) */
	unsigned char *ra;
	size_t ra_cap, ra_len;
	uint64_t ra_off;
	uint64_t next_off;  /* end of the last block read from disk */
	int seq_reads;      /* consecutive sequential block reads */
	size_t ra_want;
};

#define RA_MIN (64u << 10)
#define RA_MAX (512u << 10)

/* Like block_get, but a scan that reads blocks in file order reads ahead in large chunks: one
 * pread for many blocks. Blocks served from the readahead buffer are checked like any other;
 * without fill_cache they point into the buffer (valid until the next readahead). */
static int block_get_ra(struct sst_iter *t, uint64_t off, uint64_t size, struct pinned *pb)
{
	struct lsm_sst *s = t->s;
	if (s->cache) {
		struct lsm_cache_handle *h = lsm_cache_lookup(s->cache, s->cache_id, off);
		if (h) {
			memset(pb, 0, sizeof *pb);
			size_t n;
			pb->body = lsm_cache_data(h, &n);
			pb->len = n;
			pb->h = h;
			t->next_off = off + size;
			return 0;
		}
	}
	uint64_t fend = s->size - LSM_FOOTER_BYTES;
	int in_ra = t->ra_len && off >= t->ra_off && off + size <= t->ra_off + t->ra_len;
	if (!in_ra) {
		t->seq_reads = off == t->next_off ? t->seq_reads + 1 : 0;
		if (t->seq_reads < 2 || size > RA_MAX || off > fend || size > fend - off) {
			t->next_off = off + size;
			return block_get(s, off, size, t->fill_cache, pb, NULL, NULL);
		}
		t->ra_want = t->ra_want ? (t->ra_want * 2 > RA_MAX ? RA_MAX : t->ra_want * 2) : RA_MIN;
		size_t want = t->ra_want > size ? t->ra_want : (size_t)size;
		if (want > fend - off)
			want = (size_t)(fend - off);
		if (want > t->ra_cap) {
			unsigned char *p = realloc(t->ra, want);
			if (!p)
				return ERR_NOMEM;
			t->ra = p;
			t->ra_cap = want;
		}
		int64_t n = io_file_pread(s->f, t->ra, want, off);
		if (n < 0 || (uint64_t)n < size) {
			t->ra_len = 0;
			return lsm_err(n < 0 ? (int)n : ERR_CORRUPT, s->name, off, "short block read");
		}
		t->ra_off = off;
		t->ra_len = (size_t)n;
	}
	t->next_off = off + size;
	const unsigned char *p = t->ra + (off - t->ra_off);
	if (lsm_block_check(p, (size_t)size))
		return lsm_err(ERR_CORRUPT, s->name, off, "block checksum mismatch");
	size_t len = (size_t)size - LSM_BLOCK_TRAILER;
	if (lsm_block_body_check(p, len))
		return lsm_err(ERR_CORRUPT, s->name, off, "bad block layout");
	memset(pb, 0, sizeof *pb);
	if (s->cache && t->fill_cache) {
		unsigned char *copy = malloc(len ? len : 1);
		if (!copy)
			return ERR_NOMEM;
		memcpy(copy, p, len);
		struct lsm_cache_handle *h = lsm_cache_insert(s->cache, s->cache_id, off, copy, len);
		if (!h)
			return ERR_NOMEM;
		size_t n;
		pb->body = lsm_cache_data(h, &n);
		pb->len = n;
		pb->h = h;
		return 0;
	}
	pb->body = p;
	pb->len = len;
	return 0;
}

/* Unload the current block (its iterator is kept as `spare` for the next block). */
static void set_data(struct sst_iter *t, struct lsm_iiter *d, uint64_t off)
{
	if (t->data) {
		if (t->spare) {
			t->data->ops->free(t->data);
		} else {
			lsm_block_iter_release(t->data);
			t->spare = t->data;
		}
	}
	t->data = d;
	t->data_off = off;
}

/* Load the block the index iterator points at (or clear). */
static void load_block(struct sst_iter *t)
{
	if (!II_VALID(t->index)) {
		set_data(t, NULL, 0);
		if (t->index->ops->status(t->index) && !t->status)
			t->status = lsm_err(ERR_CORRUPT, t->s->name, 0, "corrupt index block");
		return;
	}
	uint64_t off, size;
	if (lsm_handle_decode(II_VALUE(t->index), &off, &size)) {
		t->status = lsm_err(ERR_CORRUPT, t->s->name, 0, "bad block handle in index");
		set_data(t, NULL, 0);
		return;
	}
	if (t->data && t->data_off == off)
		return;
	struct pinned pb;
	set_data(t, NULL, 0); /* the old block may point into the readahead buffer */
	int rc = block_get_ra(t, off, size, &pb);
	if (rc) {
		t->status = rc;
		return;
	}
	struct lsm_iiter *d = t->spare;
	if (d) {
		rc = lsm_block_iter_reset(d, pb.body, pb.len, t->s->cache, pb.h, pb.owned);
		if (!rc)
			t->spare = NULL;
	} else {
		rc = lsm_block_iter_new(pb.body, pb.len, t->s->cache, pb.h, pb.owned, &d);
	}
	if (rc) {
		block_put(t->s, &pb);
		t->status = lsm_err(rc, t->s->name, off, "corrupt data block");
		set_data(t, NULL, 0);
		return;
	}
	set_data(t, d, off);
}

static void check_data(struct sst_iter *t)
{
	if (t->data && !II_VALID(t->data) && t->data->ops->status(t->data) && !t->status)
		t->status = lsm_err(ERR_CORRUPT, t->s->name, t->data_off, "corrupt data block");
}

static void skip_forward(struct sst_iter *t)
{
	while (!t->status && t->data && !II_VALID(t->data)) {
		check_data(t);
		if (t->status)
			break;
		t->index->ops->next(t->index);
		load_block(t);
		if (t->data)
			t->data->ops->seek_first(t->data);
	}
}

static void skip_backward(struct sst_iter *t)
{
	while (!t->status && t->data && !II_VALID(t->data)) {
		check_data(t);
		if (t->status)
			break;
		t->index->ops->prev(t->index);
		load_block(t);
		if (t->data)
			t->data->ops->seek_last(t->data);
	}
}

static int si_valid(struct lsm_iiter *it)
{
	struct sst_iter *t = (struct sst_iter *)it;
	return !t->status && t->data && II_VALID(t->data);
}

static void si_first(struct lsm_iiter *it)
{
	struct sst_iter *t = (struct sst_iter *)it;
	t->index->ops->seek_first(t->index);
	load_block(t);
	if (t->data)
		t->data->ops->seek_first(t->data);
	skip_forward(t);
}

static void si_last(struct lsm_iiter *it)
{
	struct sst_iter *t = (struct sst_iter *)it;
	t->index->ops->seek_last(t->index);
	load_block(t);
	if (t->data)
		t->data->ops->seek_last(t->data);
	skip_backward(t);
}

static void si_seek(struct lsm_iiter *it, const unsigned char *k, size_t kn)
{
	struct sst_iter *t = (struct sst_iter *)it;
	t->index->ops->seek(t->index, k, kn);
	load_block(t);
	if (t->data)
		t->data->ops->seek(t->data, k, kn);
	skip_forward(t);
}

static void si_next(struct lsm_iiter *it)
{
	struct sst_iter *t = (struct sst_iter *)it;
	t->data->ops->next(t->data);
	skip_forward(t);
}

static void si_prev(struct lsm_iiter *it)
{
	struct sst_iter *t = (struct sst_iter *)it;
	t->data->ops->prev(t->data);
	skip_backward(t);
}

static struct lsm_slice si_key(struct lsm_iiter *it) { return II_KEY(((struct sst_iter *)it)->data); }
static struct lsm_slice si_value(struct lsm_iiter *it) { return II_VALUE(((struct sst_iter *)it)->data); }
static int si_status(struct lsm_iiter *it) { return ((struct sst_iter *)it)->status; }

static void si_free(struct lsm_iiter *it)
{
	struct sst_iter *t = (struct sst_iter *)it;
	set_data(t, NULL, 0);
	if (t->spare)
		t->spare->ops->free(t->spare);
	t->index->ops->free(t->index);
	lsm_sst_unref(t->s);
	free(t->ra);
	free(t);
}

static const struct lsm_iiter_ops sst_iter_ops = {si_valid, si_first, si_last, si_seek, si_next,
						  si_prev, si_key, si_value, si_status, si_free};

int lsm_sst_iter(struct lsm_sst *s, int fill_cache, struct lsm_iiter **out)
{
	struct sst_iter *t = calloc(1, sizeof *t);
	if (!t)
		return ERR_NOMEM;
	int rc = lsm_block_iter_new(s->index, s->index_len, NULL, NULL, NULL, &t->index);
	if (rc) {
		free(t);
		return lsm_err(rc, s->name, 0, "corrupt index block");
	}
	t->base.ops = &sst_iter_ops;
	t->s = s;
	t->fill_cache = fill_cache;
	lsm_sst_ref(s);
	*out = &t->base;
	return 0;
}

int lsm_sst_verify(struct lsm_sst *s)
{
	struct lsm_iiter *it;
	int rc = lsm_sst_iter(s, 0, &it);
	if (rc)
		return rc;
	struct lsm_bytes prev = {0};
	for (it->ops->seek_first(it); II_VALID(it); it->ops->next(it)) {
		struct lsm_slice k = II_KEY(it);
		if (prev.n && lsm_ikey_cmp(prev.p, prev.n, k.p, k.n) >= 0) {
			rc = lsm_err(ERR_CORRUPT, s->name, 0, "keys out of order");
			break;
		}
		if ((rc = lsm_bytes_set(&prev, k.p, k.n)) != 0)
			break;
	}
	if (!rc)
		rc = it->ops->status(it);
	lsm_bytes_free(&prev);
	it->ops->free(it);
	return rc;
}
