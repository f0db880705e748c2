/* fuzz_lsm_manifest.c — parse arbitrary bytes as a manifest (record framing, version edits,
 * applying edits to versions) and as a WAL (framing, batch records): every input either
 * decodes or is rejected with ERR_CORRUPT; torn tails are cut, nothing crashes. */
#include "storage/lsm/lsm_log.h"
#include "storage/lsm/lsm_batch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
	struct lsm_version *v;
};

static int on_edit(void *arg, const unsigned char *p, size_t n, uint64_t off)
{
	struct ctx *c = arg;
	struct lsm_edit e;
	(void)off;
	if (lsm_edit_decode(p, n, &e) != 0)
		return ERR_CORRUPT;
	struct lsm_bytes enc = {0};
	if (lsm_edit_encode(&e, &enc) != 0)
		abort();
	lsm_bytes_free(&enc);
	struct lsm_version *nv;
	int rc = lsm_version_apply(c->v, &e, &nv);
	lsm_edit_free(&e);
	if (rc)
		return rc;
	lsm_version_free(c->v);
	c->v = nv;
	for (int l = 0; l < LSM_LEVELS; l++)
		if (c->v->nfiles[l])
			(void)lsm_version_find(c->v, l, c->v->files[l][0]->smallest.p, c->v->files[l][0]->smallest.n);
	return 0;
}

static int on_wal(void *arg, const unsigned char *p, size_t n, uint64_t off)
{
	(void)arg;
	(void)off;
	uint64_t seq, applied;
	uint32_t count;
	size_t body;
	if (lsm_wal_header_decode(p, n, &seq, &applied, &count, &body))
		return ERR_CORRUPT;
	struct lsm_batch_iter bi = {p + body, p + n};
	struct lsm_batch_rec r;
	int got;
	while ((got = lsm_batch_iter_next(&bi, &r)) == 1)
		if (r.key.n > n || r.val.n > n)
			abort();
	return got < 0 ? ERR_CORRUPT : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	struct ctx c;
	if (lsm_version_new(&c.v) != 0)
		abort();
	uint64_t end = 0;
	lsm_ignore(lsm_log_parse(copy, size, "MANIFEST-fuzz", on_edit, &c, &end));
	if (end > size)
		abort();
	lsm_version_free(c.v);
	lsm_ignore(lsm_log_parse(copy, size, "fuzz.wal", on_wal, NULL, &end));
	/* The payload alone, as one edit. */
	struct lsm_edit e;
	if (lsm_edit_decode(copy, size, &e) == 0)
		lsm_edit_free(&e);
	free(copy);
	return 0;
}
