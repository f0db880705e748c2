/*
 * rangedel.c — range tombstones cut into non-overlapping fragments.
 *
 * A set of tombstones [start, end) @ seq, in any order and overlapping, becomes a sorted list of
 * disjoint fragments, each with the descending list of seqs of the tombstones covering it. Then
 * "the newest tombstone covering key k visible at snapshot s" is a binary search plus a short
 * scan. Building is a sweep over the sorted boundaries: O(T log T) plus the output size (nested
 * tombstones make fragments with many seqs; that is inherent to the representation). Fragment sets are immutable and refcounted, so readers on any thread share them.
 *
 * Encoded form (rangedel block body, FORMAT.md): u32 fragment count, then per fragment
 * varint slen | start | varint elen | end | varint nseq | nseq x varint seq (descending).
 */
#include "storage/lsm/lsm_parts.h"
#include "core/limits.h"

#include <stdlib.h>

void lsm_frags_ref(struct lsm_frags *f) { __atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED); }

void lsm_frags_unref(struct lsm_frags *f)
{
	if (!f)
		return;
	int left = __atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL);
	ASSERT(left >= 0);
	if (left)
		return;
	free(f->v);
	free(f->bytes);
	free(f->seqs);
	free(f);
}

struct bound {
	const unsigned char *p;
	size_t n;
};

static int bound_cmp(const void *a, const void *b)
{
	const struct bound *x = a, *y = b;
	return lsm_ukey_cmp(x->p, x->n, y->p, y->n);
}

/* qsort has no context argument: the array being sorted, per thread */
static __thread const struct lsm_tomb *tls_sort_tombs;

static int by_start(const void *a, const void *b)
{
	const struct lsm_tomb *t = tls_sort_tombs;
	const struct lsm_tomb *x = &t[*(const size_t *)a], *y = &t[*(const size_t *)b];
	return lsm_ukey_cmp(x->start.p, x->start.n, y->start.p, y->start.n);
}

static int u64_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x > y ? -1 : x < y ? 1 : 0;
}

int lsm_frags_build(const struct lsm_tomb *t, size_t n, struct lsm_frags **out)
{
	int rc = ERR_NOMEM;
	struct lsm_frags *f = calloc(1, sizeof *f);
	struct bound *b = NULL;
	uint64_t *tmp = NULL;
	if (!f)
		return ERR_NOMEM;
	f->refs = 1;
	if (n == 0) {
		*out = f;
		return 0;
	}
	/* Boundaries: every start and end, sorted and unique. */
	b = malloc(2 * n * sizeof *b);
	tmp = malloc(n * sizeof *tmp);
	if (!b || !tmp)
		goto err;
	for (size_t i = 0; i < n; i++) {
		b[2 * i] = (struct bound){t[i].start.p, t[i].start.n};
		b[2 * i + 1] = (struct bound){t[i].end.p, t[i].end.n};
	}
	qsort(b, 2 * n, sizeof *b, bound_cmp);
	size_t nb = 0;
	for (size_t i = 0; i < 2 * n; i++)
		if (nb == 0 || bound_cmp(&b[nb - 1], &b[i]) != 0)
			b[nb++] = b[i];
	/* Sweep the elementary intervals left to right, keeping the tombstones that cover the
	 * current one in `act` (added at their start, dropped at their end): O(T log T) plus the
	 * size of the output. */
	size_t *order = malloc(n * sizeof *order);
	size_t *act = malloc(n * sizeof *act);
	if (!order || !act) {
		free(order);
		free(act);
		goto err;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	tls_sort_tombs = t;
	qsort(order, n, sizeof *order, by_start);
	size_t nact = 0, next_t = 0;
	size_t cap_frag = nb, cap_seq = 16, nseq_total = 0, nfrag = 0, bytes = 0;
	f->v = malloc(cap_frag * sizeof *f->v);
	uint64_t *seqs = malloc(cap_seq * sizeof *seqs);
	size_t *seq_off = malloc(cap_frag * sizeof *seq_off);
	if (!f->v || !seqs || !seq_off) {
		free(seqs);
		free(seq_off);
		free(order);
		free(act);
		goto err;
	}
	for (size_t i = 0; i + 1 < nb; i++) {
		while (next_t < n && lsm_ukey_cmp(t[order[next_t]].start.p, t[order[next_t]].start.n, b[i].p, b[i].n) <= 0)
			act[nact++] = order[next_t++];
		size_t w = 0;
		for (size_t a = 0; a < nact; a++)
			if (lsm_ukey_cmp(t[act[a]].end.p, t[act[a]].end.n, b[i].p, b[i].n) > 0)
				act[w++] = act[a];
		nact = w;
		size_t k = 0;
		for (size_t a = 0; a < nact; a++)
			tmp[k++] = t[act[a]].seq;
		if (k == 0)
			continue;
		qsort(tmp, k, sizeof *tmp, u64_desc);
		size_t u = 0;
		for (size_t j = 0; j < k; j++)
			if (u == 0 || tmp[u - 1] != tmp[j])
				tmp[u++] = tmp[j];
		if (nseq_total + u > cap_seq) {
			while (nseq_total + u > cap_seq)
				cap_seq *= 2;
			uint64_t *ns = realloc(seqs, cap_seq * sizeof *seqs);
			if (!ns) {
				free(seqs);
				free(seq_off);
				free(order);
				free(act);
				goto err;
			}
			seqs = ns;
		}
		memcpy(seqs + nseq_total, tmp, u * sizeof *tmp);
		seq_off[nfrag] = nseq_total;
		f->v[nfrag].start = (struct lsm_slice){b[i].p, b[i].n};
		f->v[nfrag].end = (struct lsm_slice){b[i + 1].p, b[i + 1].n};
		f->v[nfrag].nseq = u;
		nseq_total += u;
		bytes += b[i].n + b[i + 1].n;
		nfrag++;
	}
	free(order);
	free(act);
	/* Copy the key bytes so the set owns them. */
	f->bytes = malloc(bytes ? bytes : 1);
	if (!f->bytes) {
		free(seqs);
		free(seq_off);
		goto err;
	}
	unsigned char *w = f->bytes;
	for (size_t i = 0; i < nfrag; i++) {
		memcpy(w, f->v[i].start.p, f->v[i].start.n);
		f->v[i].start.p = w;
		w += f->v[i].start.n;
		memcpy(w, f->v[i].end.p, f->v[i].end.n);
		f->v[i].end.p = w;
		w += f->v[i].end.n;
		f->v[i].seqs = seqs + seq_off[i];
	}
	free(seq_off);
	f->seqs = seqs;
	f->n = nfrag;
	f->ntombs = nseq_total;
	free(b);
	free(tmp);
	*out = f;
	return 0;
err:
	free(b);
	free(tmp);
	free(f->v);
	free(f);
	return rc;
}

size_t lsm_frags_find(const struct lsm_frags *f, const void *ukey, size_t n)
{
	size_t lo = 0, hi = f->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (lsm_ukey_cmp(f->v[mid].end.p, f->v[mid].end.n, ukey, n) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t lsm_frags_max_seq(const struct lsm_frags *f, const void *ukey, size_t n, uint64_t snap)
{
	if (!f || f->n == 0)
		return 0;
	size_t i = lsm_frags_find(f, ukey, n);
	if (i == f->n || lsm_ukey_cmp(f->v[i].start.p, f->v[i].start.n, ukey, n) > 0)
		return 0;
	for (size_t j = 0; j < f->v[i].nseq; j++)
		if (f->v[i].seqs[j] <= snap)
			return f->v[i].seqs[j];
	return 0;
}

int lsm_frags_collect(const struct lsm_frags *f, struct lsm_tomb **arr, size_t *n, size_t *cap)
{
	for (size_t i = 0; i < f->n; i++) {
		for (size_t j = 0; j < f->v[i].nseq; j++) {
			if (*n == *cap) {
				size_t nc = *cap ? *cap * 2 : 16;
				struct lsm_tomb *a = realloc(*arr, nc * sizeof *a);
				if (!a)
					return ERR_NOMEM;
				*arr = a;
				*cap = nc;
			}
			(*arr)[(*n)++] = (struct lsm_tomb){f->v[i].start, f->v[i].end, f->v[i].seqs[j]};
		}
	}
	return 0;
}

int lsm_frags_encode(const struct lsm_frags *f, struct lsm_bytes *out)
{
	unsigned char tmp[10];
	unsigned char cnt[4];
	lsm_put_u32(cnt, (uint32_t)f->n);
	int rc = lsm_bytes_append(out, cnt, 4);
	for (size_t i = 0; rc == 0 && i < f->n; i++) {
		const struct lsm_frag *g = &f->v[i];
		rc = lsm_bytes_append(out, tmp, lsm_put_varint(tmp, g->start.n));
		if (!rc)
			rc = lsm_bytes_append(out, g->start.p, g->start.n);
		if (!rc)
			rc = lsm_bytes_append(out, tmp, lsm_put_varint(tmp, g->end.n));
		if (!rc)
			rc = lsm_bytes_append(out, g->end.p, g->end.n);
		if (!rc)
			rc = lsm_bytes_append(out, tmp, lsm_put_varint(tmp, g->nseq));
		for (size_t j = 0; rc == 0 && j < g->nseq; j++)
			rc = lsm_bytes_append(out, tmp, lsm_put_varint(tmp, g->seqs[j]));
	}
	return rc;
}

int lsm_frags_decode(const unsigned char *p, size_t n, struct lsm_frags **out)
{
	if (n < 4)
		return ERR_CORRUPT;
	const unsigned char *end = p + n;
	uint32_t cnt = lsm_get_u32(p);
	p += 4;
	if (cnt > LIMIT_LSM_RANGE_TOMBSTONES_PER_TABLE || cnt > n)
		return ERR_CORRUPT;
	struct lsm_tomb *t = NULL;
	size_t nt = 0, cap = 0;
	int rc = 0;
	const unsigned char *prev_end = NULL;
	size_t prev_end_n = 0;
	for (uint32_t i = 0; i < cnt; i++) {
		uint64_t sn, en, ns;
		if (lsm_get_varint(&p, end, &sn) || sn > (uint64_t)(end - p)) {
			rc = ERR_CORRUPT;
			goto out;
		}
		struct lsm_slice s = {p, (size_t)sn};
		p += sn;
		if (lsm_get_varint(&p, end, &en) || en > (uint64_t)(end - p)) {
			rc = ERR_CORRUPT;
			goto out;
		}
		struct lsm_slice e = {p, (size_t)en};
		p += en;
		/* Fragments must be non-empty, sorted and disjoint. */
		if (lsm_ukey_cmp(s.p, s.n, e.p, e.n) >= 0 ||
		    (prev_end && lsm_ukey_cmp(prev_end, prev_end_n, s.p, s.n) > 0)) {
			rc = ERR_CORRUPT;
			goto out;
		}
		prev_end = e.p;
		prev_end_n = e.n;
		if (lsm_get_varint(&p, end, &ns) || ns == 0 || ns > (uint64_t)(end - p)) {
			rc = ERR_CORRUPT;
			goto out;
		}
		uint64_t last = UINT64_MAX;
		for (uint64_t j = 0; j < ns; j++) {
			uint64_t seq;
			if (lsm_get_varint(&p, end, &seq) || seq >= last || seq > LSM_SEQ_MAX) {
				rc = ERR_CORRUPT;
				goto out;
			}
			last = seq;
			if (nt == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct lsm_tomb *a = realloc(t, nc * sizeof *a);
				if (!a) {
					rc = ERR_NOMEM;
					goto out;
				}
				t = a;
				cap = nc;
			}
			t[nt++] = (struct lsm_tomb){s, e, seq};
		}
	}
	if (p != end) {
		rc = ERR_CORRUPT;
		goto out;
	}
	rc = lsm_frags_build(t, nt, out);
out:
	free(t);
	return rc;
}
