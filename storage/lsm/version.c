/*
 * version.c — table-file metadata, versions (the set of live tables per level) and version
 * edits (the manifest's records).
 *
 * A version is immutable once built; a new one is base + edit. Versions and file metadata are
 * refcounted so readers keep using the tables they started with while compactions replace
 * them. Invariant checked on every apply: levels >= 1 are sorted and disjoint in internal-key
 * order (a file's largest <= the next file's smallest; equality only at a range-tombstone
 * sentinel, see lsm_int.h).
 *
 * Edit encoding (FORMAT.md "manifest"): a sequence of tagged fields, tag varint then body:
 *   1 log_number | 2 next_file | 3 last_seq | 4 applied_index     (varint each)
 *   5 deleted file: level, number                                  (varints)
 *   6 added file: level, number, size, smallest (varint len + bytes), largest (same),
 *     smallest_seq, largest_seq, has_rangedel                      (varints)
 *   7 format version (varint, LSM_MANIFEST_VERSION; first record of a manifest)
 */
#include "storage/lsm/lsm_log.h"
#include "core/limits.h"

#include <stdlib.h>

void lsm_file_ref(struct lsm_file *f) { __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED); }


void lsm_file_unref(struct lsm_file *f)
{
	int left = __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL);
	ASSERT(left >= 0);
	if (left)
		return;
	if (f->owner)
		lsm_tree_file_forget(f);
	lsm_bytes_free(&f->smallest);
	lsm_bytes_free(&f->largest);
	free(f);
}

int lsm_file_new(uint64_t number, uint64_t size, struct lsm_slice smallest, struct lsm_slice largest,
		 uint64_t sseq, uint64_t lseq, int has_rangedel, struct lsm_file **out)
{
	if (smallest.n < 8 || largest.n < 8)
		return ERR_CORRUPT;
	struct lsm_file *f = calloc(1, sizeof *f);
	if (!f)
		return ERR_NOMEM;
	f->refs = 1;
	f->number = number;
	f->size = size;
	f->smallest_seq = sseq;
	f->largest_seq = lseq;
	f->has_rangedel = has_rangedel;
	if (lsm_bytes_set(&f->smallest, smallest.p, smallest.n) ||
	    lsm_bytes_set(&f->largest, largest.p, largest.n)) {
		lsm_bytes_free(&f->smallest);
		lsm_bytes_free(&f->largest);
		free(f);
		return ERR_NOMEM;
	}
	*out = f;
	return 0;
}

void lsm_edit_init(struct lsm_edit *e) { memset(e, 0, sizeof *e); }

void lsm_edit_free(struct lsm_edit *e)
{
	for (size_t i = 0; i < e->nadd; i++)
		lsm_file_unref(e->add[i].f);
	free(e->add);
	free(e->del);
	memset(e, 0, sizeof *e);
}

int lsm_edit_add(struct lsm_edit *e, int level, struct lsm_file *f)
{
	ASSERT(level >= 0 && level < LSM_LEVELS);
	if (e->nadd == e->capadd) {
		size_t nc = e->capadd ? e->capadd * 2 : 8;
		struct lsm_edit_file *a = realloc(e->add, nc * sizeof *a);
		if (!a)
			return ERR_NOMEM;
		e->add = a;
		e->capadd = nc;
	}
	lsm_file_ref(f);
	e->add[e->nadd++] = (struct lsm_edit_file){level, f->number, f};
	return 0;
}

int lsm_edit_del(struct lsm_edit *e, int level, uint64_t number)
{
	ASSERT(level >= 0 && level < LSM_LEVELS);
	if (e->ndel == e->capdel) {
		size_t nc = e->capdel ? e->capdel * 2 : 8;
		struct lsm_edit_file *a = realloc(e->del, nc * sizeof *a);
		if (!a)
			return ERR_NOMEM;
		e->del = a;
		e->capdel = nc;
	}
	e->del[e->ndel++] = (struct lsm_edit_file){level, number, NULL};
	return 0;
}

static int put_v(struct lsm_bytes *b, uint64_t v)
{
	unsigned char t[10];
	return lsm_bytes_append(b, t, lsm_put_varint(t, v));
}

static int put_s(struct lsm_bytes *b, const struct lsm_bytes *s)
{
	int rc = put_v(b, s->n);
	return rc ? rc : lsm_bytes_append(b, s->p, s->n);
}

int lsm_edit_encode(const struct lsm_edit *e, struct lsm_bytes *out)
{
	int rc = 0;
	if (!rc && e->has_log_number)
		rc = put_v(out, 1) || put_v(out, e->log_number) ? ERR_NOMEM : 0;
	if (!rc && e->has_next_file)
		rc = put_v(out, 2) || put_v(out, e->next_file) ? ERR_NOMEM : 0;
	if (!rc && e->has_last_seq)
		rc = put_v(out, 3) || put_v(out, e->last_seq) ? ERR_NOMEM : 0;
	if (!rc && e->has_applied)
		rc = put_v(out, 4) || put_v(out, e->applied_index) ? ERR_NOMEM : 0;
	for (size_t i = 0; !rc && i < e->ndel; i++)
		rc = put_v(out, 5) || put_v(out, (uint64_t)e->del[i].level) || put_v(out, e->del[i].number)
			     ? ERR_NOMEM : 0;
	for (size_t i = 0; !rc && i < e->nadd; i++) {
		const struct lsm_file *f = e->add[i].f;
		rc = put_v(out, 6) || put_v(out, (uint64_t)e->add[i].level) || put_v(out, f->number) ||
			     put_v(out, f->size) || put_s(out, &f->smallest) || put_s(out, &f->largest) ||
			     put_v(out, f->smallest_seq) || put_v(out, f->largest_seq) ||
			     put_v(out, (uint64_t)f->has_rangedel)
			     ? ERR_NOMEM : 0;
	}
	return rc;
}

int lsm_edit_decode(const unsigned char *p, size_t n, struct lsm_edit *e)
{
	const unsigned char *end = p + n;
	lsm_edit_init(e);
	int rc = 0;
	while (p < end && !rc) {
		uint64_t tag, a, b;
		if (lsm_get_varint(&p, end, &tag)) {
			rc = ERR_CORRUPT;
			break;
		}
		switch (tag) {
		case 1:
			rc = lsm_get_varint(&p, end, &e->log_number);
			e->has_log_number = 1;
			break;
		case 2:
			rc = lsm_get_varint(&p, end, &e->next_file);
			e->has_next_file = 1;
			break;
		case 3:
			rc = lsm_get_varint(&p, end, &e->last_seq);
			e->has_last_seq = 1;
			break;
		case 4:
			rc = lsm_get_varint(&p, end, &e->applied_index);
			e->has_applied = 1;
			break;
		case 5:
			if (lsm_get_varint(&p, end, &a) || lsm_get_varint(&p, end, &b) || a >= LSM_LEVELS)
				rc = ERR_CORRUPT;
			else
				rc = lsm_edit_del(e, (int)a, b);
			break;
		case 6: {
			uint64_t num, size, sn, ln, sseq, lseq, rd;
			struct lsm_slice s, l;
			if (lsm_get_varint(&p, end, &a) || a >= LSM_LEVELS || lsm_get_varint(&p, end, &num) ||
			    lsm_get_varint(&p, end, &size) || lsm_get_varint(&p, end, &sn) ||
			    sn > (uint64_t)(end - p)) {
				rc = ERR_CORRUPT;
				break;
			}
			s = (struct lsm_slice){p, (size_t)sn};
			p += sn;
			if (lsm_get_varint(&p, end, &ln) || ln > (uint64_t)(end - p)) {
				rc = ERR_CORRUPT;
				break;
			}
			l = (struct lsm_slice){p, (size_t)ln};
			p += ln;
			if (lsm_get_varint(&p, end, &sseq) || lsm_get_varint(&p, end, &lseq) ||
			    lsm_get_varint(&p, end, &rd) || rd > 1 || sn < 8 || ln < 8 ||
			    sn > LIMIT_KEY_BYTES + 8 || ln > LIMIT_KEY_BYTES + 8 ||
			    lsm_ikey_cmp(s.p, s.n, l.p, l.n) > 0) {
				rc = ERR_CORRUPT;
				break;
			}
			struct lsm_file *f;
			rc = lsm_file_new(num, size, s, l, sseq, lseq, (int)rd, &f);
			if (rc)
				break;
			rc = lsm_edit_add(e, (int)a, f);
			lsm_file_unref(f);
			break;
		}
		case 7:
			rc = lsm_get_varint(&p, end, &a);
			if (!rc && a != LSM_MANIFEST_VERSION)
				rc = ERR_CORRUPT;
			break;
		default:
			rc = ERR_CORRUPT;
		}
	}
	if (rc) {
		lsm_edit_free(e);
		return ERR_CORRUPT;
	}
	return 0;
}

int lsm_version_new(struct lsm_version **out)
{
	struct lsm_version *v = calloc(1, sizeof *v);
	if (!v)
		return ERR_NOMEM;
	v->refs = 1;
	*out = v;
	return 0;
}

void lsm_version_ref(struct lsm_version *v) { __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED); }

int lsm_version_unref_last(struct lsm_version *v)
{
	int left = __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL);
	ASSERT(left >= 0);
	return left == 0;
}

void lsm_version_free(struct lsm_version *v)
{
	for (int l = 0; l < LSM_LEVELS; l++) {
		for (size_t i = 0; i < v->nfiles[l]; i++)
			lsm_file_unref(v->files[l][i]);
		free(v->files[l]);
	}
	free(v);
}

static int cmp_l0(const void *a, const void *b)
{
	const struct lsm_file *x = *(struct lsm_file *const *)a, *y = *(struct lsm_file *const *)b;
	/* newest first: by largest seq, then by number */
	if (x->largest_seq != y->largest_seq)
		return x->largest_seq > y->largest_seq ? -1 : 1;
	return x->number > y->number ? -1 : x->number < y->number ? 1 : 0;
}

static int cmp_level(const void *a, const void *b)
{
	const struct lsm_file *x = *(struct lsm_file *const *)a, *y = *(struct lsm_file *const *)b;
	return lsm_ikey_cmp(x->smallest.p, x->smallest.n, y->smallest.p, y->smallest.n);
}

int lsm_version_apply(const struct lsm_version *base, const struct lsm_edit *e, struct lsm_version **out)
{
	struct lsm_version *v;
	int rc = lsm_version_new(&v);
	if (rc)
		return rc;
	for (int l = 0; l < LSM_LEVELS; l++) {
		size_t cap = (base ? base->nfiles[l] : 0);
		for (size_t i = 0; i < e->nadd; i++)
			cap += e->add[i].level == l;
		v->files[l] = malloc((cap ? cap : 1) * sizeof *v->files[l]);
		if (!v->files[l]) {
			rc = ERR_NOMEM;
			goto err;
		}
		size_t ndel_here = 0;
		for (size_t i = 0; i < e->ndel; i++)
			ndel_here += e->del[i].level == l;
		size_t found = 0;
		for (size_t i = 0; base && i < base->nfiles[l]; i++) {
			struct lsm_file *f = base->files[l][i];
			int deleted = 0;
			for (size_t j = 0; j < e->ndel && !deleted; j++)
				deleted = e->del[j].level == l && e->del[j].number == f->number;
			if (deleted) {
				found++;
				continue;
			}
			lsm_file_ref(f);
			v->files[l][v->nfiles[l]++] = f;
		}
		if (found != ndel_here) {
			rc = ERR_CORRUPT; /* deleting a file that is not there */
			goto err;
		}
		for (size_t i = 0; i < e->nadd; i++) {
			if (e->add[i].level != l)
				continue;
			lsm_file_ref(e->add[i].f);
			v->files[l][v->nfiles[l]++] = e->add[i].f;
		}
		if (l == 0) {
			qsort(v->files[l], v->nfiles[l], sizeof *v->files[l], cmp_l0);
		} else {
			qsort(v->files[l], v->nfiles[l], sizeof *v->files[l], cmp_level);
			for (size_t i = 1; i < v->nfiles[l]; i++) {
				const struct lsm_file *a = v->files[l][i - 1], *b = v->files[l][i];
				if (lsm_ikey_cmp(a->largest.p, a->largest.n, b->smallest.p, b->smallest.n) > 0) {
					rc = ERR_CORRUPT; /* overlapping files in a sorted level */
					goto err;
				}
			}
		}
	}
	*out = v;
	return 0;
err:
	lsm_version_free(v);
	return rc;
}

int lsm_version_snapshot(const struct lsm_version *v, struct lsm_edit *e)
{
	for (int l = 0; l < LSM_LEVELS; l++)
		for (size_t i = 0; i < v->nfiles[l]; i++) {
			int rc = lsm_edit_add(e, l, v->files[l][i]);
			if (rc)
				return rc;
		}
	return 0;
}

uint64_t lsm_version_level_bytes(const struct lsm_version *v, int level)
{
	uint64_t s = 0;
	for (size_t i = 0; i < v->nfiles[level]; i++)
		s += v->files[level][i]->size;
	return s;
}

int lsm_version_overlaps(const struct lsm_version *v, int level, const void *lo, size_t lon, const void *hi,
			 size_t hin, struct lsm_file ***out, size_t *n)
{
	struct lsm_file **a = malloc((v->nfiles[level] ? v->nfiles[level] : 1) * sizeof *a);
	if (!a)
		return ERR_NOMEM;
	size_t k = 0;
	for (size_t i = 0; i < v->nfiles[level]; i++) {
		struct lsm_file *f = v->files[level][i];
		if (hi && lsm_ukey_cmp(f->smallest.p, f->smallest.n - 8, hi, hin) > 0)
			continue;
		if (lo && lsm_ukey_cmp(f->largest.p, f->largest.n - 8, lo, lon) < 0)
			continue;
		a[k++] = f;
	}
	*out = a;
	*n = k;
	return 0;
}

size_t lsm_version_find(const struct lsm_version *v, int level, const unsigned char *ikey, size_t n)
{
	size_t lo = 0, hi = v->nfiles[level];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct lsm_file *f = v->files[level][mid];
		if (lsm_ikey_cmp(f->largest.p, f->largest.n, ikey, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
