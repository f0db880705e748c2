/*
 * sst_write.c — writing one table (SSTable) file, front to back.
 *
 * File: data blocks | filter block | rangedel block | props block | index block | footer.
 * Every block carries the 9-byte trailer (compression type, xxh3). The footer (96 bytes, fixed)
 * holds the four metadata block handles, the format version, its own xxh3 and the magic. The
 * builder buffers output and writes it in large pwrites; finish() fdatasyncs the file. Entries
 * must arrive in strictly increasing internal-key order (asserted). See FORMAT.md.
 */
#include "storage/lsm/lsm_parts.h"
#include "core/limits.h"

#include <stdio.h>
#include <stdlib.h>

#define WBUF_BYTES (256u << 10)

struct lsm_sst_builder {
	struct io_file *f;
	char name[64];
	struct lsm_sst_builder_opts o;
	struct lsm_block_builder data, index;
	struct lsm_bytes wbuf;   /* pending output */
	uint64_t off;            /* file offset of wbuf[0] */
	struct lsm_bytes last;   /* last internal key added */
	struct lsm_bytes first;  /* first internal key added */
	uint64_t *hashes;
	size_t nhashes, caphashes;
	struct lsm_frags *frags;
	struct lsm_sst_props props;
	int pending_index;       /* a data block was flushed; its index entry waits for `last` */
	uint64_t pending_off, pending_size;
};

int lsm_sst_builder_new(struct io_file *f, const char *name, const struct lsm_sst_builder_opts *o,
			struct lsm_sst_builder **out)
{
	struct lsm_sst_builder *b = calloc(1, sizeof *b);
	if (!b)
		return ERR_NOMEM;
	b->f = f;
	snprintf(b->name, sizeof b->name, "%s", name);
	b->o = *o;
	if (b->o.block_bytes < 256)
		b->o.block_bytes = 256;
	lsm_block_builder_init(&b->data, 16);
	lsm_block_builder_init(&b->index, 1);
	b->props.smallest_seq = LSM_SEQ_MAX;
	*out = b;
	return 0;
}

void lsm_sst_builder_free(struct lsm_sst_builder *b)
{
	if (!b)
		return;
	lsm_block_builder_deinit(&b->data);
	lsm_block_builder_deinit(&b->index);
	lsm_bytes_free(&b->wbuf);
	lsm_bytes_free(&b->last);
	lsm_bytes_free(&b->first);
	free(b->hashes);
	lsm_frags_unref(b->frags);
	free(b);
}

static int out_flush(struct lsm_sst_builder *b)
{
	if (b->wbuf.n == 0)
		return 0;
	int rc = io_file_pwrite(b->f, b->wbuf.p, b->wbuf.n, b->off);
	if (rc)
		return lsm_err(rc, b->name, b->off, "table write failed");
	b->off += b->wbuf.n;
	b->wbuf.n = 0;
	return 0;
}

/* Append a stored block; returns its handle. */
static int out_block(struct lsm_sst_builder *b, struct lsm_slice blk, uint64_t *off, uint64_t *size)
{
	*off = b->off + b->wbuf.n;
	*size = blk.n;
	int rc;
	if (blk.n >= WBUF_BYTES) {
		rc = out_flush(b);
		if (rc)
			return rc;
		rc = io_file_pwrite(b->f, blk.p, blk.n, b->off);
		if (rc)
			return lsm_err(rc, b->name, b->off, "table write failed");
		b->off += blk.n;
		return 0;
	}
	rc = lsm_bytes_append(&b->wbuf, blk.p, blk.n);
	if (rc)
		return rc;
	return b->wbuf.n >= WBUF_BYTES ? out_flush(b) : 0;
}

static int add_index_entry(struct lsm_sst_builder *b)
{
	unsigned char h[20];
	size_t hn = lsm_put_varint(h, b->pending_off);
	hn += lsm_put_varint(h + hn, b->pending_size);
	b->pending_index = 0;
	return lsm_block_builder_add(&b->index, b->last.p, b->last.n, h, hn);
}

static int flush_data_block(struct lsm_sst_builder *b)
{
	if (b->data.entries == 0)
		return 0;
	struct lsm_slice blk;
	int rc = lsm_block_builder_finish(&b->data, &blk);
	if (rc)
		return rc;
	rc = out_block(b, blk, &b->pending_off, &b->pending_size);
	if (rc)
		return rc;
	lsm_block_builder_reset(&b->data);
	b->props.data_blocks++;
	b->pending_index = 1;
	return add_index_entry(b);
}

int lsm_sst_builder_add(struct lsm_sst_builder *b, const unsigned char *ikey, size_t kn, const void *v, size_t vn)
{
	ASSERT(kn >= 8);
	ASSERT(b->last.n == 0 || lsm_ikey_cmp(b->last.p, b->last.n, ikey, kn) < 0);
	int rc;
	if (b->first.n == 0 && (rc = lsm_bytes_set(&b->first, ikey, kn)) != 0)
		return rc;
	/* One hash per distinct user key. */
	if (b->o.bloom_bits_per_key &&
	    (b->last.n == 0 || lsm_ukey_cmp(b->last.p, b->last.n - 8, ikey, kn - 8) != 0)) {
		if (b->nhashes == b->caphashes) {
			size_t nc = b->caphashes ? b->caphashes * 2 : 1024;
			uint64_t *h = realloc(b->hashes, nc * sizeof *h);
			if (!h)
				return ERR_NOMEM;
			b->hashes = h;
			b->caphashes = nc;
		}
		b->hashes[b->nhashes++] = lsm_hash64(ikey, kn - 8);
	}
	rc = lsm_block_builder_add(&b->data, ikey, kn, v, vn);
	if (rc)
		return rc;
	rc = lsm_bytes_set(&b->last, ikey, kn);
	if (rc)
		return rc;
	uint64_t seq = lsm_ikey_seq(ikey, kn);
	unsigned type = lsm_ikey_type(ikey, kn);
	b->props.entries++;
	b->props.deletions += type == LSM_TYPE_DEL;
	b->props.raw_key_bytes += kn;
	b->props.raw_value_bytes += vn;
	if (seq < b->props.smallest_seq)
		b->props.smallest_seq = seq;
	if (seq > b->props.largest_seq)
		b->props.largest_seq = seq;
	if (lsm_block_builder_size(&b->data) >= b->o.block_bytes)
		return flush_data_block(b);
	return 0;
}

int lsm_sst_builder_set_frags(struct lsm_sst_builder *b, struct lsm_frags *f)
{
	lsm_frags_ref(f);
	lsm_frags_unref(b->frags);
	b->frags = f;
	b->props.range_dels = f->ntombs;
	for (size_t i = 0; i < f->n; i++) {
		for (size_t j = 0; j < f->v[i].nseq; j++) {
			uint64_t s = f->v[i].seqs[j];
			if (s < b->props.smallest_seq)
				b->props.smallest_seq = s;
			if (s > b->props.largest_seq)
				b->props.largest_seq = s;
		}
	}
	return 0;
}

uint64_t lsm_sst_builder_size(const struct lsm_sst_builder *b)
{
	return b->off + b->wbuf.n + b->data.buf.n;
}

uint64_t lsm_sst_builder_entries(const struct lsm_sst_builder *b) { return b->props.entries; }

void lsm_sst_builder_bounds(const struct lsm_sst_builder *b, struct lsm_slice *smallest, struct lsm_slice *largest)
{
	smallest->p = b->first.p;
	smallest->n = b->first.n;
	largest->p = b->last.p;
	largest->n = b->last.n;
}

void lsm_sst_builder_seqs(const struct lsm_sst_builder *b, uint64_t *lo, uint64_t *hi)
{
	*lo = b->props.smallest_seq == LSM_SEQ_MAX ? 0 : b->props.smallest_seq;
	*hi = b->props.largest_seq;
}

/* A metadata block: body + trailer. */
static int meta_block(struct lsm_sst_builder *b, struct lsm_bytes *body, uint64_t *off, uint64_t *size)
{
	int rc = lsm_bytes_reserve(body, body->n + LSM_BLOCK_TRAILER);
	if (rc)
		return rc;
	body->p[body->n++] = 0;
	lsm_put_u64(body->p + body->n, lsm_hash64(body->p, body->n));
	body->n += 8;
	return out_block(b, (struct lsm_slice){body->p, body->n}, off, size);
}

int lsm_sst_builder_finish(struct lsm_sst_builder *b, uint64_t *size)
{
	struct lsm_bytes tmp = {0};
	uint64_t h[8] = {0};
	int rc = flush_data_block(b);
	if (rc)
		goto out;
	/* filter */
	if (b->o.bloom_bits_per_key && b->nhashes)
		rc = lsm_bloom_build(b->hashes, b->nhashes, b->o.bloom_bits_per_key, &tmp);
	if (!rc)
		rc = meta_block(b, &tmp, &h[0], &h[1]);
	/* range tombstones */
	tmp.n = 0;
	if (!rc && b->frags)
		rc = lsm_frags_encode(b->frags, &tmp);
	else if (!rc)
		rc = lsm_bytes_append(&tmp, "\0\0\0\0", 4);
	if (!rc)
		rc = meta_block(b, &tmp, &h[2], &h[3]);
	/* props: fixed u64 fields */
	tmp.n = 0;
	if (!rc) {
		if (b->props.smallest_seq == LSM_SEQ_MAX)
			b->props.smallest_seq = 0;
		uint64_t pv[8] = {b->props.entries, b->props.deletions, b->props.range_dels,
				  b->props.smallest_seq, b->props.largest_seq, b->props.raw_key_bytes,
				  b->props.raw_value_bytes, b->props.data_blocks};
		rc = lsm_bytes_reserve(&tmp, sizeof pv);
		if (!rc) {
			for (int i = 0; i < 8; i++)
				lsm_put_u64(tmp.p + 8 * i, pv[i]);
			tmp.n = sizeof pv;
			rc = meta_block(b, &tmp, &h[4], &h[5]);
		}
	}
	/* index */
	if (!rc) {
		struct lsm_slice blk;
		rc = lsm_block_builder_finish(&b->index, &blk);
		if (!rc)
			rc = out_block(b, blk, &h[6], &h[7]);
	}
	if (rc)
		goto out;
	unsigned char foot[LSM_FOOTER_BYTES];
	memset(foot, 0, sizeof foot);
	for (int i = 0; i < 8; i++)
		lsm_put_u64(foot + 8 * i, h[i]);
	lsm_put_u32(foot + 64, LSM_SST_VERSION);
	lsm_put_u64(foot + 80, lsm_hash64(foot, 80));
	lsm_put_u64(foot + 88, LSM_SST_MAGIC);
	rc = out_block(b, (struct lsm_slice){foot, sizeof foot}, &h[0], &h[1]);
	if (!rc)
		rc = out_flush(b);
	if (!rc) {
		rc = io_file_sync(b->f);
		if (rc)
			rc = lsm_err(rc, b->name, 0, "table sync failed");
	}
	*size = b->off;
out:
	lsm_bytes_free(&tmp);
	return rc;
}
