/*
 * tree.c — the tree: open/recovery, the write path with explicit stalls, point lookups,
 * snapshots, flushes, manifest edits, obsolete files and close (maintenance calls: maint.c).
 *
 * Files in the tree directory: NNNNNN.sst (tables), NNNNNN.wal (WAL mode), MANIFEST-NNNNNN
 * (edits), CURRENT (names the live manifest; replaced atomically). Every number comes from one
 * counter (next_file) persisted in the manifest.
 *
 * Crash safety, in order of writes:
 *   - a table is written, fdatasync'ed and its directory entry synced before any manifest edit
 *     names it; an edit is durable once its manifest record is synced;
 *   - in APPLIED_INDEX mode each flush edit records the flushed memtable's applied index and
 *     last sequence: a memtable holds whole batches, and memtables flush in order, so the
 *     durable state is always "all batches up to the recorded index";
 *   - in WAL mode a batch is appended to the WAL before it reaches the memtable; recovery
 *     replays WALs numbered >= the manifest's log_number (older ones were flushed);
 *   - a new manifest is written and synced before CURRENT points at it;
 *   - files no live version names are deleted after each background step and at open.
 * Recovery reads the manifest and the WALs only — never table data — so it costs O(files).
 */
#include "storage/lsm/lsm_tree_int.h"
#include "storage/lsm/lsm_batch.h"
#include "core/clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- names and the table cache ---------------------------------------------------------------- */

void lsm_tree_file_path(const struct lsm_tree *t, uint64_t number, const char *ext, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%06" PRIu64 ".%s", t->dir, number, ext);
	ASSERT(n > 0 && (size_t)n < cap);
}

static void file_name(uint64_t number, const char *ext, char *out, size_t cap)
{
	snprintf(out, cap, "%06" PRIu64 ".%s", number, ext);
}

static void tc_unlink(struct lsm_file *f)
{
	f->lru_prev->lru_next = f->lru_next;
	f->lru_next->lru_prev = f->lru_prev;
	f->lru_prev = f->lru_next = NULL;
}

static void tc_push_front(struct lsm_tree *t, struct lsm_file *f)
{
	f->lru_next = t->tc_lru.lru_next;
	f->lru_prev = &t->tc_lru;
	f->lru_next->lru_prev = f;
	t->tc_lru.lru_next = f;
}

void lsm_tree_file_forget(struct lsm_file *f)
{
	struct lsm_tree *t = f->owner;
	pthread_mutex_lock(&t->tc_mu);
	if (f->sst) {
		tc_unlink(f);
		lsm_sst_unref(f->sst);
		f->sst = NULL;
		t->tc_open--;
	}
	pthread_mutex_unlock(&t->tc_mu);
}

int lsm_tree_file_sst(struct lsm_tree *t, struct lsm_file *f, struct lsm_sst **out)
{
	pthread_mutex_lock(&t->tc_mu);
	if (f->sst) {
		lsm_sst_ref(f->sst);
		*out = f->sst;
		if (t->tc_lru.lru_next != f) {
			tc_unlink(f);
			tc_push_front(t, f);
		}
		pthread_mutex_unlock(&t->tc_mu);
		return 0;
	}
	pthread_mutex_unlock(&t->tc_mu);
	char path[LIMIT_LSM_PATH_BYTES], name[32];
	lsm_tree_file_path(t, f->number, "sst", path, sizeof path);
	file_name(f->number, "sst", name, sizeof name);
	struct io_file *io;
	int rc = io_file_open(t->fs, path, IO_OPEN_READ, &io);
	if (rc)
		return lsm_err(rc == ERR_NOTFOUND ? ERR_CORRUPT : rc, name, 0, "cannot open table file");
	uint64_t size;
	rc = io_file_size(io, &size);
	if (rc == 0 && size != f->size)
		rc = lsm_err(ERR_CORRUPT, name, size, "table size %" PRIu64 " != manifest's %" PRIu64, size, f->size);
	struct lsm_sst *s = NULL;
	if (rc == 0)
		rc = lsm_sst_open(io, name, size, t->cache, t->o.paranoid_checks, &s);
	if (rc) {
		io_file_close(io);
		return rc;
	}
	pthread_mutex_lock(&t->tc_mu);
	if (f->sst) { /* another thread opened it meanwhile */
		lsm_sst_unref(s);
		s = f->sst;
	} else {
		f->sst = s;
		f->owner = t;
		tc_push_front(t, f);
		t->tc_open++;
		while (t->tc_open > t->o.max_open_tables && t->tc_lru.lru_prev != f) {
			struct lsm_file *g = t->tc_lru.lru_prev;
			tc_unlink(g);
			lsm_sst_unref(g->sst);
			g->sst = NULL;
			t->tc_open--;
		}
	}
	lsm_sst_ref(s);
	pthread_mutex_unlock(&t->tc_mu);
	*out = s;
	return 0;
}

/* ---- versions and read state ----------------------------------------------------------------- */

void lsm_tree_version_unref(struct lsm_tree *t, struct lsm_version *v)
{
	if (!lsm_version_unref_last(v))
		return;
	pthread_mutex_lock(&t->mu);
	v->prev->next = v->next;
	v->next->prev = v->prev;
	pthread_mutex_unlock(&t->mu);
	lsm_version_free(v);
}

/* Install v as current (mu held); v's reference passes to the tree. */
static void install_version(struct lsm_tree *t, struct lsm_version *v)
{
	v->next = &t->versions;
	v->prev = t->versions.prev;
	v->prev->next = v;
	t->versions.prev = v;
	struct lsm_version *old = t->cur;
	t->cur = v;
	if (old && lsm_version_unref_last(old)) {
		old->prev->next = old->next;
		old->next->prev = old->prev;
		lsm_version_free(old);
	}
}

void lsm_tree_readstate_get(struct lsm_tree *t, struct lsm_readstate *rs)
{
	pthread_mutex_lock(&t->mu);
	rs->nmems = 0;
	lsm_mem_ref(t->mem);
	rs->mems[rs->nmems++] = t->mem;
	for (size_t i = t->nimm; i-- > 0;) {
		lsm_mem_ref(t->imm[i]);
		rs->mems[rs->nmems++] = t->imm[i];
	}
	lsm_version_ref(t->cur);
	rs->v = t->cur;
	pthread_mutex_unlock(&t->mu);
}

void lsm_tree_readstate_put(struct lsm_tree *t, struct lsm_readstate *rs)
{
	for (size_t i = 0; i < rs->nmems; i++)
		lsm_mem_unref(rs->mems[i]);
	rs->nmems = 0;
	if (rs->v)
		lsm_tree_version_unref(t, rs->v);
	rs->v = NULL;
}

void lsm_tree_wait_bg(struct lsm_tree *t)
{
	if (!lsm_bg_is_inline(t->bg)) {
		pthread_cond_wait(&t->cv, &t->mu);
		return;
	}
	pthread_mutex_unlock(&t->mu);
	int ran = lsm_bg_run(t->bg, 1);
	pthread_mutex_lock(&t->mu);
	ASSERT(ran == 1 || !t->bg_pending); /* a waiting tree is queued, so there is a step to run */
}

void lsm_tree_set_bg_error(struct lsm_tree *t, int rc)
{
	ASSERT(rc < 0);
	pthread_mutex_lock(&t->mu);
	if (!t->bg_error) {
		t->bg_error = rc;
		t->bg_err = *lsm_error_last();
		if (t->bg_err.code == 0)
			t->bg_err.code = rc;
	}
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* ---- manifest ---------------------------------------------------------------------------------- */

/* Write a new manifest holding v and the counters, then point CURRENT at it. */
int lsm_tree_write_manifest(struct lsm_tree *t, const struct lsm_version *v, uint64_t number,
			      uint64_t next_file, uint64_t log_number, uint64_t last_seq, uint64_t applied)
{
	char path[LIMIT_LSM_PATH_BYTES], name[32];
	snprintf(name, sizeof name, "MANIFEST-%06" PRIu64, number);
	int n = snprintf(path, sizeof path, "%s/%s", t->dir, name);
	ASSERT(n > 0 && (size_t)n < sizeof path);
	struct lsm_edit e;
	lsm_edit_init(&e);
	struct lsm_bytes rec = {0};
	struct lsm_log_writer w;
	int rc = lsm_log_create(t->fs, path, name, &w);
	if (rc)
		goto out;
	e.has_next_file = e.has_log_number = e.has_last_seq = e.has_applied = 1;
	e.next_file = next_file;
	e.log_number = log_number;
	e.last_seq = last_seq;
	e.applied_index = applied;
	unsigned char hdr[2] = {7, LSM_MANIFEST_VERSION};
	rc = lsm_bytes_append(&rec, hdr, 2);
	if (!rc)
		rc = lsm_version_snapshot(v, &e);
	if (!rc)
		rc = lsm_edit_encode(&e, &rec);
	if (!rc)
		rc = lsm_log_append(&w, rec.p, rec.n, 1);
	if (rc) {
		lsm_log_close(&w);
		goto out;
	}
	char cur[LIMIT_LSM_PATH_BYTES], body[48];
	snprintf(cur, sizeof cur, "%s/CURRENT", t->dir);
	int bn = snprintf(body, sizeof body, "%s\n", name);
	rc = io_fs_write_atomic(t->fs, cur, body, (size_t)bn);
	if (rc) {
		rc = lsm_err(rc, "CURRENT", 0, "cannot replace CURRENT");
		lsm_log_close(&w);
		goto out;
	}
	if (t->manifest.f) {
		char old[LIMIT_LSM_PATH_BYTES];
		snprintf(old, sizeof old, "%s/MANIFEST-%06" PRIu64, t->dir, t->manifest_number);
		lsm_log_close(&t->manifest);
		lsm_ignore(io_fs_unlink(t->fs, old)); /* best effort: purge removes it otherwise */
	}
	t->manifest = w;
	t->manifest_number = number;
out:
	lsm_bytes_free(&rec);
	lsm_edit_free(&e);
	return rc;
}

int lsm_tree_log_and_apply(struct lsm_tree *t, struct lsm_edit *e)
{
	struct lsm_version *v = NULL;
	struct lsm_bytes rec = {0};
	pthread_mutex_lock(&t->mu);
	e->has_next_file = 1;
	e->next_file = t->next_file;
	if (!e->has_last_seq || e->last_seq < t->manifest_last_seq) {
		e->has_last_seq = 1;
		e->last_seq = t->manifest_last_seq;
	}
	if (!e->has_applied || e->applied_index < t->manifest_applied) {
		e->has_applied = 1;
		e->applied_index = t->manifest_applied;
	}
	if (!e->has_log_number) {
		e->has_log_number = 1;
		e->log_number = t->log_number;
	}
	int rc = lsm_version_apply(t->cur, e, &v);
	uint64_t mnum = 0;
	int rewrite = t->manifest.off > LIMIT_LSM_MANIFEST_BYTES;
	if (rewrite)
		mnum = t->next_file++;
	pthread_mutex_unlock(&t->mu);
	ASSERT(rc != ERR_CORRUPT); /* our own edits always apply */
	if (rc)
		return rc;
	if (rewrite) {
		rc = lsm_tree_write_manifest(t, v, mnum, mnum + 1 > e->next_file ? mnum + 1 : e->next_file,
					e->log_number, e->last_seq, e->applied_index);
	} else {
		rc = lsm_edit_encode(e, &rec);
		if (!rc)
			rc = lsm_log_append(&t->manifest, rec.p, rec.n, 1);
	}
	lsm_bytes_free(&rec);
	if (rc) {
		lsm_version_free(v);
		return rc;
	}
	pthread_mutex_lock(&t->mu);
	install_version(t, v);
	t->manifest_last_seq = e->last_seq;
	t->manifest_applied = e->applied_index;
	t->log_number = e->log_number;
	if (e->applied_index > t->durable_applied) /* flushed data is durable in both modes */
		t->durable_applied = e->applied_index;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	return 0;
}

/* ---- building a table from a memtable ----------------------------------------------------------- */

static int sync_dir(struct lsm_tree *t)
{
	int rc = io_fs_sync_dir(t->fs, t->dir);
	return rc ? lsm_err(rc, t->dir, 0, "directory sync failed") : 0;
}

/* Bounds of a table including its range tombstones (sentinel keys for their extents). */
int lsm_table_bounds(struct lsm_sst_builder *b, const struct lsm_frags *fr, struct lsm_bytes *lo,
		     struct lsm_bytes *hi);
int lsm_table_bounds(struct lsm_sst_builder *b, const struct lsm_frags *fr, struct lsm_bytes *lo,
		     struct lsm_bytes *hi)
{
	struct lsm_slice s, l;
	lsm_sst_builder_bounds(b, &s, &l);
	int rc = 0;
	lo->n = hi->n = 0;
	if (s.n) {
		rc = lsm_bytes_set(lo, s.p, s.n);
		if (!rc)
			rc = lsm_bytes_set(hi, l.p, l.n);
	}
	if (!rc && fr && fr->n) {
		struct lsm_bytes k = {0};
		rc = lsm_bytes_set_ikey(&k, fr->v[0].start.p, fr->v[0].start.n, lsm_trailer(LSM_SEQ_MAX, LSM_TYPE_SEEK));
		if (!rc && (lo->n == 0 || lsm_ikey_cmp(k.p, k.n, lo->p, lo->n) < 0))
			rc = lsm_bytes_set(lo, k.p, k.n);
		const struct lsm_frag *last = &fr->v[fr->n - 1];
		if (!rc)
			rc = lsm_bytes_set_ikey(&k, last->end.p, last->end.n, lsm_trailer(LSM_SEQ_MAX, LSM_TYPE_SEEK));
		if (!rc && (hi->n == 0 || lsm_ikey_cmp(k.p, k.n, hi->p, hi->n) > 0))
			rc = lsm_bytes_set(hi, k.p, k.n);
		lsm_bytes_free(&k);
	}
	return rc;
}

static int build_from_mem(struct lsm_tree *t, struct lsm_mem *m, uint64_t number, struct lsm_file **out)
{
	char path[LIMIT_LSM_PATH_BYTES], name[32];
	lsm_tree_file_path(t, number, "sst", path, sizeof path);
	file_name(number, "sst", name, sizeof name);
	struct io_file *f = NULL;
	struct lsm_sst_builder *b = NULL;
	struct lsm_iiter *it = NULL;
	struct lsm_frags *fr = NULL;
	struct lsm_bytes lo = {0}, hi = {0};
	uint64_t size = 0;
	int rc = io_file_open(t->fs, path, IO_OPEN_CREATE | IO_OPEN_TRUNC, &f);
	if (rc) {
		rc = lsm_err(rc, name, 0, "cannot create table");
		goto out;
	}
	struct lsm_sst_builder_opts bo = {t->o.block_bytes, t->o.bloom_bits_per_key};
	rc = lsm_sst_builder_new(f, name, &bo, &b);
	if (!rc)
		rc = lsm_mem_iter(m, &it);
	if (rc)
		goto out;
	for (it->ops->seek_first(it); !rc && II_VALID(it); it->ops->next(it)) {
		struct lsm_slice k = II_KEY(it), v = II_VALUE(it);
		rc = lsm_sst_builder_add(b, k.p, k.n, v.p, v.n);
	}
	if (!rc)
		rc = lsm_mem_frags(m, &fr);
	if (!rc)
		rc = lsm_sst_builder_set_frags(b, fr);
	if (!rc)
		rc = lsm_sst_builder_finish(b, &size);
	if (!rc)
		rc = lsm_table_bounds(b, fr, &lo, &hi);
	if (!rc)
		rc = sync_dir(t);
	if (!rc)
		rc = lsm_file_new(number, size, (struct lsm_slice){lo.p, lo.n}, (struct lsm_slice){hi.p, hi.n},
				  m->first_seq, m->last_seq, fr->n > 0, out);
	if (!rc)
		__atomic_add_fetch(&t->st_flush_bytes, size, __ATOMIC_RELAXED);
out:
	if (it)
		it->ops->free(it);
	lsm_frags_unref(fr);
	lsm_sst_builder_free(b);
	if (f)
		io_file_close(f);
	lsm_bytes_free(&lo);
	lsm_bytes_free(&hi);
	return rc;
}

int lsm_tree_flush_one(struct lsm_tree *t)
{
	pthread_mutex_lock(&t->mu);
	ASSERT(t->nimm > 0);
	struct lsm_mem *m = t->imm[0];
	uint64_t next_log = t->nimm > 1 ? t->imm[1]->log_number : t->mem->log_number;
	uint64_t number = t->next_file++;
	pthread_mutex_unlock(&t->mu);

	struct lsm_edit e;
	lsm_edit_init(&e);
	struct lsm_file *f = NULL;
	int rc = 0;
	if (m->entries > 0) {
		rc = build_from_mem(t, m, number, &f);
		if (!rc)
			rc = lsm_edit_add(&e, 0, f);
	}
	if (!rc) {
		e.has_log_number = 1;
		e.log_number = next_log;
		e.has_last_seq = 1;
		e.last_seq = m->last_seq;
		e.has_applied = 1;
		e.applied_index = m->applied_index;
		rc = lsm_tree_log_and_apply(t, &e);
	}
	if (f)
		lsm_file_unref(f);
	lsm_edit_free(&e);
	if (rc)
		return rc;
	pthread_mutex_lock(&t->mu);
	ASSERT(t->imm[0] == m);
	memmove(t->imm, t->imm + 1, (t->nimm - 1) * sizeof *t->imm);
	t->nimm--;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	lsm_mem_unref(m);
	__atomic_add_fetch(&t->st_flushes, 1, __ATOMIC_RELAXED);
	return 0;
}

/* ---- obsolete files ---------------------------------------------------------------------------- */

struct purge_ctx {
	struct lsm_tree *t;
	uint64_t *live;
	size_t nlive;
	uint64_t log_number, manifest_number, next_file;
	uint64_t max_seen;
	int do_delete;
};

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int parse_name(const char *name, uint64_t *num, const char **ext)
{
	if (strncmp(name, "MANIFEST-", 9) == 0) {
		char *end;
		*num = strtoull(name + 9, &end, 10);
		*ext = "manifest";
		return *end == 0 && end != name + 9;
	}
	char *end;
	*num = strtoull(name, &end, 10);
	if (end == name || *end != '.')
		return 0;
	*ext = end + 1;
	return strcmp(*ext, "sst") == 0 || strcmp(*ext, "wal") == 0;
}

static int purge_one(void *arg, const char *name)
{
	struct purge_ctx *c = arg;
	uint64_t num;
	const char *ext;
	if (!parse_name(name, &num, &ext))
		return 0;
	if (num > c->max_seen)
		c->max_seen = num;
	if (!c->do_delete)
		return 0;
	int del = 0;
	if (strcmp(ext, "sst") == 0)
		del = num < c->next_file && !bsearch(&num, c->live, c->nlive, sizeof num, u64_cmp);
	else if (strcmp(ext, "wal") == 0)
		del = num < c->log_number;
	else
		del = num != c->manifest_number;
	if (del) {
		char path[LIMIT_LSM_PATH_BYTES];
		snprintf(path, sizeof path, "%s/%s", c->t->dir, name);
		lsm_ignore(io_fs_unlink(c->t->fs, path)); /* a failure leaves garbage for the next purge */
	}
	return 0;
}

/* Delete files no live version, WAL or manifest needs. Background thread (or open). */
static void purge_obsolete(struct lsm_tree *t)
{
	struct purge_ctx c = {.t = t, .do_delete = 1};
	pthread_mutex_lock(&t->mu);
	size_t n = 0;
	for (struct lsm_version *v = t->versions.next; v != &t->versions; v = v->next)
		for (int l = 0; l < LSM_LEVELS; l++)
			n += v->nfiles[l];
	c.live = malloc((n ? n : 1) * sizeof *c.live);
	if (!c.live) {
		pthread_mutex_unlock(&t->mu);
		return;
	}
	for (struct lsm_version *v = t->versions.next; v != &t->versions; v = v->next)
		for (int l = 0; l < LSM_LEVELS; l++)
			for (size_t i = 0; i < v->nfiles[l]; i++)
				c.live[c.nlive++] = v->files[l][i]->number;
	c.log_number = t->log_number;
	c.manifest_number = t->manifest_number;
	c.next_file = t->next_file;
	pthread_mutex_unlock(&t->mu);
	qsort(c.live, c.nlive, sizeof *c.live, u64_cmp);
	lsm_ignore(io_fs_list(t->fs, t->dir, purge_one, &c));
	free(c.live);
}

/* ---- background step --------------------------------------------------------------------------- */

int lsm_tree_bg_step(struct lsm_tree *t)
{
	pthread_mutex_lock(&t->mu);
	int err = t->bg_error;
	size_t nimm = t->nimm;
	pthread_mutex_unlock(&t->mu);
	if (err)
		return 0;
	int rc, did = 0;
	if (nimm > 0) {
		rc = lsm_tree_flush_one(t);
		did = 1;
	} else {
		rc = lsm_compact_step(t, &did);
	}
	if (rc)
		lsm_tree_set_bg_error(t, rc);
	else if (did)
		purge_obsolete(t);
	return did && !rc;
}

/* ---- open ---------------------------------------------------------------------------------------- */

struct recover_ctx {
	struct lsm_tree *t;
	struct lsm_version *v;
	const char *name;
	uint64_t log_number, next_file, last_seq, applied;
	int seen_version;
	int rc;
};

static int recover_edit(void *arg, const unsigned char *p, size_t n, uint64_t off)
{
	struct recover_ctx *c = arg;
	struct lsm_edit e;
	if (lsm_edit_decode(p, n, &e))
		return lsm_err(ERR_CORRUPT, c->name, off, "bad manifest edit");
	if (n >= 2 && p[0] == 7)
		c->seen_version = 1;
	if (!c->seen_version) {
		lsm_edit_free(&e);
		return lsm_err(ERR_CORRUPT, c->name, off, "manifest does not start with a format version");
	}
	struct lsm_version *nv;
	int rc = lsm_version_apply(c->v, &e, &nv);
	if (rc) {
		lsm_edit_free(&e);
		return lsm_err(rc, c->name, off, "manifest edit does not apply to the version");
	}
	if (e.has_log_number)
		c->log_number = e.log_number;
	if (e.has_next_file)
		c->next_file = e.next_file;
	if (e.has_last_seq && e.last_seq > c->last_seq)
		c->last_seq = e.last_seq;
	if (e.has_applied && e.applied_index > c->applied)
		c->applied = e.applied_index;
	lsm_edit_free(&e);
	lsm_version_free(c->v);
	c->v = nv;
	return 0;
}

struct wal_list {
	uint64_t *nums;
	size_t n, cap;
	uint64_t min;
};

static int wal_list_one(void *arg, const char *name)
{
	struct wal_list *w = arg;
	uint64_t num;
	const char *ext;
	if (!parse_name(name, &num, &ext) || strcmp(ext, "wal") != 0 || num < w->min)
		return 0;
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 8;
		uint64_t *a = realloc(w->nums, nc * sizeof *a);
		if (!a)
			return ERR_NOMEM;
		w->nums = a;
		w->cap = nc;
	}
	w->nums[w->n++] = num;
	return 0;
}

struct replay_ctx {
	struct lsm_tree *t;
	struct lsm_mem *m;
	const char *name;
};

static int replay_record(void *arg, const unsigned char *p, size_t n, uint64_t off)
{
	struct replay_ctx *c = arg;
	uint64_t seq, applied;
	uint32_t count;
	size_t body;
	if (lsm_wal_header_decode(p, n, &seq, &applied, &count, &body))
		return lsm_err(ERR_CORRUPT, c->name, off, "bad WAL record header");
	if (count && (seq == 0 || seq + count >= LSM_SEQ_MAX))
		return lsm_err(ERR_CORRUPT, c->name, off, "bad WAL sequence");
	struct lsm_batch_iter bi = {p + body, p + n};
	struct lsm_batch_rec r;
	int got;
	uint32_t k = 0;
	if (seq <= c->t->last_seq && count > 0)
		return lsm_err(ERR_CORRUPT, c->name, off, "WAL sequence goes backwards");
	while ((got = lsm_batch_iter_next(&bi, &r)) == 1) {
		int rc = lsm_mem_add(c->m, seq + k, r.type, r.key.p, r.key.n, r.val.p, r.val.n);
		if (rc)
			return rc;
		k++;
	}
	if (got < 0 || k != count)
		return lsm_err(ERR_CORRUPT, c->name, off, "bad batch in WAL record");
	if (count)
		c->t->last_seq = seq + count - 1;
	if (applied > c->m->applied_index)
		c->m->applied_index = applied;
	if (applied > c->t->applied_index)
		c->t->applied_index = applied;
	return 0;
}

static int open_wal(struct lsm_tree *t, uint64_t number)
{
	char path[LIMIT_LSM_PATH_BYTES], name[32];
	lsm_tree_file_path(t, number, "wal", path, sizeof path);
	file_name(number, "wal", name, sizeof name);
	int rc = lsm_log_create(t->fs, path, name, &t->wal);
	if (rc)
		return rc;
	t->wal_open = 1;
	return sync_dir(t);
}

static int recover(struct lsm_tree *t)
{
	char path[LIMIT_LSM_PATH_BYTES];
	void *cur = NULL;
	size_t curlen = 0;
	struct recover_ctx rc_ctx = {.t = t};
	struct wal_list wl = {0};
	int rc = lsm_version_new(&rc_ctx.v);
	if (rc)
		return rc;
	snprintf(path, sizeof path, "%s/CURRENT", t->dir);
	rc = io_fs_read_all(t->fs, path, 256, &cur, &curlen);
	int fresh = rc == ERR_NOTFOUND;
	if (rc && !fresh) {
		rc = lsm_err(rc, "CURRENT", 0, "cannot read CURRENT");
		goto out;
	}
	if (fresh && !t->o.create_if_missing) {
		rc = lsm_err(ERR_NOTFOUND, "CURRENT", 0, "no tree here");
		goto out;
	}
	if (!fresh && t->o.error_if_exists) {
		rc = ERR_EXISTS;
		goto out;
	}
	rc = 0;
	if (!fresh) {
		char name[64];
		if (curlen < 2 || curlen >= sizeof name || ((char *)cur)[curlen - 1] != '\n' ||
		    strncmp(cur, "MANIFEST-", 9) != 0) {
			rc = lsm_err(ERR_CORRUPT, "CURRENT", 0, "CURRENT does not name a manifest");
			goto out;
		}
		memcpy(name, cur, curlen - 1);
		name[curlen - 1] = 0;
		snprintf(path, sizeof path, "%s/%s", t->dir, name);
		rc_ctx.name = name;
		rc = lsm_log_read(t->fs, path, name, SIZE_MAX / 2, recover_edit, &rc_ctx, NULL);
		if (rc)
			goto out;
		if (!rc_ctx.seen_version) {
			rc = lsm_err(ERR_CORRUPT, name, 0, "empty manifest");
			goto out;
		}
		/* Every table the manifest names must exist with its size (cheap metadata). */
		for (int l = 0; l < LSM_LEVELS; l++) {
			for (size_t i = 0; i < rc_ctx.v->nfiles[l]; i++) {
				struct lsm_file *f = rc_ctx.v->files[l][i];
				char fp[LIMIT_LSM_PATH_BYTES], fn[32];
				lsm_tree_file_path(t, f->number, "sst", fp, sizeof fp);
				file_name(f->number, "sst", fn, sizeof fn);
				if (io_fs_exists(t->fs, fp, NULL) != 0) {
					rc = lsm_err(ERR_CORRUPT, fn, 0, "table named by the manifest is missing");
					goto out;
				}
			}
		}
	}
	/* Counters; never reuse a number present in the directory. */
	struct purge_ctx scan = {.t = t};
	rc = io_fs_list(t->fs, t->dir, purge_one, &scan);
	if (rc)
		goto out;
	t->next_file = rc_ctx.next_file > scan.max_seen + 1 ? rc_ctx.next_file : scan.max_seen + 1;
	t->last_seq = t->manifest_last_seq = rc_ctx.last_seq;
	t->applied_index = t->durable_applied = t->manifest_applied = rc_ctx.applied;
	t->log_number = rc_ctx.log_number;
	install_version(t, rc_ctx.v);
	rc_ctx.v = NULL;

	/* WAL mode: replay the WALs that were not flushed into one memtable, flush it below. */
	rc = lsm_mem_new(&t->mem);
	if (rc)
		goto out;
	if (t->o.durability == LSM_DURABILITY_WAL && !fresh) {
		wl.min = t->log_number;
		rc = io_fs_list(t->fs, t->dir, wal_list_one, &wl);
		if (rc)
			goto out;
		qsort(wl.nums, wl.n, sizeof *wl.nums, u64_cmp);
		for (size_t i = 0; i < wl.n; i++) {
			char wp[LIMIT_LSM_PATH_BYTES], wn[32];
			lsm_tree_file_path(t, wl.nums[i], "wal", wp, sizeof wp);
			file_name(wl.nums[i], "wal", wn, sizeof wn);
			struct replay_ctx rp = {t, t->mem, wn};
			uint64_t end = 0;
			rc = lsm_log_read(t->fs, wp, wn, SIZE_MAX / 2, replay_record, &rp, &end);
			if (rc)
				goto out;
		}
	}
	/* A fresh manifest with the recovered state (bounded size, torn tails gone). */
	uint64_t mnum = t->next_file++;
	rc = lsm_tree_write_manifest(t, t->cur, mnum, t->next_file, t->log_number, t->manifest_last_seq,
				t->manifest_applied);
	if (rc)
		goto out;
	t->durable_applied = t->manifest_applied;
	if (t->o.durability == LSM_DURABILITY_WAL) {
		/* A new WAL; flush what was replayed so the old WALs can go (the flush edit moves
		 * log_number to the new WAL). */
		uint64_t wnum = t->next_file++;
		rc = open_wal(t, wnum);
		if (rc)
			goto out;
		rc = lsm_mem_freeze(t->mem);
		if (rc)
			goto out;
		t->imm[t->nimm++] = t->mem;
		t->mem = NULL;
		rc = lsm_mem_new(&t->mem);
		if (rc)
			goto out;
		t->mem->log_number = wnum;
		rc = lsm_tree_flush_one(t);
		if (rc)
			goto out;
		t->durable_applied = t->applied_index;
	}
	purge_obsolete(t);
out:
	free(wl.nums);
	free(cur);
	if (rc_ctx.v)
		lsm_version_free(rc_ctx.v);
	return rc;
}

static void tree_free(struct lsm_tree *t)
{
	if (t->mem)
		lsm_mem_unref(t->mem);
	for (size_t i = 0; i < t->nimm; i++)
		lsm_mem_unref(t->imm[i]);
	if (t->cur && lsm_version_unref_last(t->cur)) {
		t->cur->prev->next = t->cur->next;
		t->cur->next->prev = t->cur->prev;
		lsm_version_free(t->cur);
	}
	ASSERT(t->versions.next == &t->versions); /* every iterator was freed */
	ASSERT(t->snaps.next == &t->snaps);       /* every snapshot was released */
	ASSERT(t->tc_open == 0);
	lsm_log_close(&t->manifest);
	if (t->wal_open)
		lsm_log_close(&t->wal);
	lsm_bytes_free(&t->manual.lo);
	lsm_bytes_free(&t->manual.hi);
	if (t->own_bg)
		lsm_bg_free(t->bg);
	if (t->own_cache)
		lsm_cache_free(t->cache);
	pthread_mutex_destroy(&t->mu);
	pthread_mutex_destroy(&t->tc_mu);
	pthread_cond_destroy(&t->cv);
	free(t);
}

int lsm_tree_open(const char *dir, const struct lsm_options *o, struct lsm_tree **out)
{
	if (!o || !o->fs || !dir || strlen(dir) + 32 >= LIMIT_PATH_BYTES || o->memtable_bytes < 4096 ||
	    o->memtables_max < 2 || o->memtables_max > LIMIT_LSM_MEMTABLES_MAX || o->l0_compaction_trigger < 1 ||
	    o->l0_stop_trigger <= o->l0_compaction_trigger || o->max_open_tables < 8 ||
	    (o->durability != LSM_DURABILITY_WAL && o->durability != LSM_DURABILITY_APPLIED_INDEX))
		return ERR_INVAL;
	struct lsm_tree *t = calloc(1, sizeof *t);
	if (!t)
		return ERR_NOMEM;
	snprintf(t->dir, sizeof t->dir, "%s", dir);
	t->o = *o;
	t->fs = o->fs;
	pthread_mutex_init(&t->mu, NULL);
	pthread_mutex_init(&t->tc_mu, NULL);
	pthread_cond_init(&t->cv, NULL);
	t->versions.next = t->versions.prev = &t->versions;
	t->snaps.next = t->snaps.prev = &t->snaps;
	t->tc_lru.lru_next = t->tc_lru.lru_prev = &t->tc_lru;
	int rc = 0;
	if (o->cache) {
		t->cache = o->cache;
	} else {
		rc = lsm_cache_new(o->cache_bytes, &t->cache);
		t->own_cache = rc == 0;
	}
	if (rc)
		goto err;
	int is_dir = 0;
	rc = io_fs_exists(t->fs, dir, &is_dir);
	if (rc == ERR_NOTFOUND && o->create_if_missing)
		rc = io_fs_mkdir_all(t->fs, dir);
	else if (rc == 0 && !is_dir)
		rc = ERR_EXISTS;
	if (rc) {
		rc = lsm_err(rc, dir, 0, "cannot use the tree directory");
		goto err;
	}
	rc = recover(t);
	if (rc)
		goto err;
	if (o->bg) {
		t->bg = o->bg;
	} else {
		rc = lsm_bg_new(&t->bg);
		if (rc)
			goto err;
		t->own_bg = 1;
	}
	pthread_mutex_lock(&t->mu);
	lsm_bg_schedule(t->bg, t); /* a compaction may be due */
	pthread_mutex_unlock(&t->mu);
	*out = t;
	return 0;
err:
	tree_free(t);
	return rc;
}

/* ---- writes ------------------------------------------------------------------------------------ */

static int rotate(struct lsm_tree *t)
{
	struct lsm_mem *m;
	int rc = lsm_mem_new(&m);
	if (rc)
		return rc;
	if (t->o.durability == LSM_DURABILITY_WAL) {
		pthread_mutex_lock(&t->mu);
		uint64_t num = t->next_file++;
		pthread_mutex_unlock(&t->mu);
		rc = lsm_log_sync(&t->wal);
		if (rc) {
			lsm_mem_unref(m);
			return rc;
		}
		lsm_log_close(&t->wal);
		t->wal_open = 0;
		rc = open_wal(t, num);
		if (rc) {
			lsm_mem_unref(m);
			return rc;
		}
		m->log_number = num;
	}
	m->applied_index = t->applied_index;
	rc = lsm_mem_freeze(t->mem);
	if (rc) {
		lsm_mem_unref(m);
		return rc;
	}
	pthread_mutex_lock(&t->mu);
	ASSERT(t->nimm < LIMIT_LSM_MEMTABLES_MAX);
	t->imm[t->nimm++] = t->mem;
	t->mem = m;
	lsm_bg_schedule(t->bg, t);
	pthread_mutex_unlock(&t->mu);
	return 0;
}

/* Make room for a write: rotate a full memtable, stall while the background is behind. */
int lsm_tree_make_room(struct lsm_tree *t, int force)
{
	uint64_t t0 = 0;
	int stalled = 0, rc = 0;
	for (;;) {
		pthread_mutex_lock(&t->mu);
		if (t->bg_error) {
			rc = t->bg_error;
			pthread_mutex_unlock(&t->mu);
			break;
		}
		int full = force || lsm_mem_bytes(t->mem) >= t->o.memtable_bytes;
		int mem_stall = full && t->nimm + 1 >= t->o.memtables_max;
		int l0_stall = !force && t->cur->nfiles[0] >= t->o.l0_stop_trigger;
		if (!mem_stall && !l0_stall) {
			pthread_mutex_unlock(&t->mu);
			if (full) {
				rc = rotate(t);
				if (rc) /* the WAL or memtable switch is half done: stop writes */
					lsm_tree_set_bg_error(t, rc);
			}
			break;
		}
		if (!stalled) {
			stalled = 1;
			t->st_stall_count++;
			if (mem_stall)
				t->st_stall_mem++;
			else
				t->st_stall_l0++;
			t0 = clock_mono_ns();
		}
		if (t->o.stall_nonblocking) {
			pthread_mutex_unlock(&t->mu);
			rc = ERR_AGAIN;
			break;
		}
		lsm_bg_schedule(t->bg, t);
		lsm_tree_wait_bg(t);
		pthread_mutex_unlock(&t->mu);
	}
	if (stalled && t0)
		t->st_stall_ns += clock_mono_ns() - t0;
	return rc;
}

int lsm_tree_write_would_stall(struct lsm_tree *t)
{
	pthread_mutex_lock(&t->mu);
	int full = lsm_mem_bytes(t->mem) >= t->o.memtable_bytes;
	int s = (full && t->nimm + 1 >= t->o.memtables_max) || t->cur->nfiles[0] >= t->o.l0_stop_trigger;
	pthread_mutex_unlock(&t->mu);
	return s;
}

int lsm_tree_write(struct lsm_tree *t, const struct lsm_batch *b, const struct lsm_write_options *wo)
{
	ASSERT(b);
	if (b->applied_index && b->applied_index < t->applied_index)
		return ERR_INVAL;
	int rc = lsm_tree_make_room(t, 0);
	if (rc)
		return rc;
	uint64_t seq = t->last_seq + 1;
	ASSERT(seq + b->count < LSM_SEQ_MAX);
	uint64_t applied = b->applied_index ? b->applied_index : t->applied_index;
	if (t->o.durability == LSM_DURABILITY_WAL) {
		unsigned char hdr[LSM_WAL_HEADER_MAX];
		size_t hn = lsm_wal_header_encode(hdr, seq, applied, b->count);
		int sync = wo && wo->sync;
		rc = lsm_log_append2(&t->wal, hdr, hn, b->buf, b->len, sync);
		if (rc) {
			lsm_tree_set_bg_error(t, rc); /* the WAL's state is unknown now */
			return rc;
		}
		t->st_wal_bytes += 16 + hn + b->len;
		if (sync) {
			pthread_mutex_lock(&t->mu);
			t->durable_applied = applied;
			pthread_mutex_unlock(&t->mu);
		}
	}
	struct lsm_batch_iter it = {b->buf, b->buf + b->len};
	struct lsm_batch_rec r;
	uint32_t k = 0;
	int got;
	while ((got = lsm_batch_iter_next(&it, &r)) == 1) {
		rc = lsm_mem_add(t->mem, seq + k, r.type, r.key.p, r.key.n, r.val.p, r.val.n);
		if (rc) {
			/* Out of memory half-way: the memtable has part of a batch. Stop writes. */
			lsm_tree_set_bg_error(t, rc);
			return rc;
		}
		t->st_user_bytes += r.key.n + r.val.n;
		k++;
	}
	ASSERT(got == 0 && k == b->count); /* batches are built by lsm_batch_* */
	t->mem->applied_index = applied;
	t->applied_index = applied;
	__atomic_store_n(&t->last_seq, seq + k - 1, __ATOMIC_RELEASE);
	return 0;
}

uint64_t lsm_tree_applied_index(struct lsm_tree *t) { return t->applied_index; }

uint64_t lsm_tree_durable_applied_index(struct lsm_tree *t)
{
	pthread_mutex_lock(&t->mu);
	uint64_t v = t->durable_applied;
	pthread_mutex_unlock(&t->mu);
	return v;
}

/* ---- point lookups ------------------------------------------------------------------------------ */

int lsm_tree_get(struct lsm_tree *t, const struct lsm_read_options *ro, const void *key, size_t klen,
		 struct lsm_buf *val)
{
	if (klen == 0 || klen > LIMIT_KEY_BYTES)
		return klen == 0 ? ERR_INVAL : ERR_TOOBIG;
	uint64_t snap = ro && ro->snap ? ro->snap->seq : t->last_seq;
	int fill = !(ro && ro->no_fill_cache);
	struct lsm_readstate rs;
	lsm_tree_readstate_get(t, &rs);
	uint64_t max_rt = 0, seq = 0;
	unsigned type = 0;
	int found = 0, rc = 0;
	/* Newest source first; a range tombstone seen in a newer source hides older points. */
	for (size_t i = 0; i < rs.nmems && !found; i++) {
		struct lsm_mem *m = rs.mems[i];
		if (lsm_mem_tomb_count(m)) {
			uint64_t s = lsm_mem_tomb_max_seq(m, key, klen, snap);
			if (s == UINT64_MAX) {
				rc = ERR_NOMEM;
				goto out;
			}
			if (s > max_rt)
				max_rt = s;
		}
		struct lsm_slice v;
		if (lsm_mem_get(m, key, klen, snap, &type, &seq, &v)) {
			found = 1;
			if (type == LSM_TYPE_PUT && seq > max_rt && lsm_buf_set(val, v.p, v.n))
				rc = ERR_NOMEM;
		}
	}
	unsigned char ik[LIMIT_KEY_BYTES + 8];
	memcpy(ik, key, klen);
	lsm_put_u64(ik + klen, lsm_trailer(snap, LSM_TYPE_SEEK));
	for (int l = 0; l < LSM_LEVELS && !found && !rc; l++) {
		struct lsm_version *v = rs.v;
		size_t i = 0, end = v->nfiles[l];
		if (l > 0) {
			i = lsm_version_find(v, l, ik, klen + 8);
			end = i < end ? i + 1 : i;
		}
		for (; i < end && !found && !rc; i++) {
			struct lsm_file *f = v->files[l][i];
			if (lsm_ukey_cmp(f->smallest.p, f->smallest.n - 8, key, klen) > 0 ||
			    lsm_ukey_cmp(f->largest.p, f->largest.n - 8, key, klen) < 0)
				continue;
			if (f->smallest_seq > snap && !f->has_rangedel && l == 0)
				continue; /* everything in it is newer than the snapshot */
			struct lsm_sst *s;
			rc = lsm_tree_file_sst(t, f, &s);
			if (rc)
				break;
			if (f->has_rangedel) {
				uint64_t rs_seq = lsm_frags_max_seq(s->frags, key, klen, snap);
				if (rs_seq > max_rt)
					max_rt = rs_seq;
			}
			rc = lsm_sst_get(s, key, klen, snap, fill, &type, &seq, val, &t->st_cache_hits,
					 &t->st_cache_misses);
			lsm_sst_unref(s);
			if (rc == 1) {
				found = 1;
				rc = 0;
			}
		}
	}
	if (!rc)
		rc = found && type == LSM_TYPE_PUT && seq > max_rt ? 0 : ERR_NOTFOUND;
out:
	lsm_tree_readstate_put(t, &rs);
	return rc;
}

/* ---- snapshots --------------------------------------------------------------------------------- */

int lsm_tree_snapshot(struct lsm_tree *t, struct lsm_snapshot **out)
{
	struct lsm_snapshot *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	s->seq = t->last_seq;
	s->applied_index = t->applied_index;
	pthread_mutex_lock(&t->mu);
	s->next = &t->snaps;
	s->prev = t->snaps.prev;
	s->prev->next = s;
	t->snaps.prev = s;
	t->nsnaps++;
	pthread_mutex_unlock(&t->mu);
	*out = s;
	return 0;
}

void lsm_tree_snapshot_release(struct lsm_tree *t, struct lsm_snapshot *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&t->mu);
	s->prev->next = s->next;
	s->next->prev = s->prev;
	t->nsnaps--;
	pthread_mutex_unlock(&t->mu);
	free(s);
}

uint64_t lsm_snapshot_seq(const struct lsm_snapshot *s) { return s->seq; }
uint64_t lsm_snapshot_applied_index(const struct lsm_snapshot *s) { return s->applied_index; }

/* ---- close ------------------------------------------------------------------------------------- */

static void wait_bg_done(struct lsm_tree *t)
{
	pthread_mutex_lock(&t->mu);
	t->closing = 1;
	while (t->bg_pending)
		lsm_tree_wait_bg(t);
	pthread_mutex_unlock(&t->mu);
}

int lsm_tree_close(struct lsm_tree *t)
{
	int rc = 0;
	if (t->o.durability == LSM_DURABILITY_APPLIED_INDEX)
		rc = lsm_tree_flush(t, 1);
	else if (t->wal_open)
		rc = lsm_log_sync(&t->wal);
	wait_bg_done(t);
	if (!rc)
		rc = t->bg_error;
	tree_free(t);
	return rc;
}

void lsm_tree_close_noflush(struct lsm_tree *t)
{
	wait_bg_done(t);
	tree_free(t);
}
