/*
 * io_fs_sim.c — see io_fs_sim.h.
 *
 * Model. An inode holds `data` (what reads see now), `synced` (content at the last sync) and
 * `pending` (writes and truncates since, in order). Names live in two tables: `cur` (what the
 * program sees) and `dur` (what survives a crash); name operations since the last directory
 * sync sit in `mops` in order. sync_dir(d) moves every pending operation touching d into `dur`.
 * A crash rebuilds every inode as synced + a random prefix of pending (last one maybe torn),
 * and the namespace as dur + a random prefix of mops.
 */
#include "core/io_fs_sim.h"
#include "core/assert.h"
#include "core/limits.h"
#include "core/prng.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct wop {
	uint64_t off;
	uint64_t len; /* for a truncate: the new size */
	int is_truncate;
	unsigned char *bytes;
};

struct inode {
	int refs;  /* names in cur + names in dur + open handles + references from mops */
	unsigned char *data;
	uint64_t len, cap;
	unsigned char *synced;
	uint64_t synced_len;
	struct wop *pending;
	size_t npending, cappending;
};

struct name {
	char *path;
	int is_dir;
	struct inode *ino; /* NULL for directories */
};

struct names {
	struct name *v;
	size_t n, cap;
};

enum mop_kind { MOP_ADD, MOP_DEL };

/* A name operation: add path (file -> ino, or dir) or delete path. A rename is DEL+ADD, linked
 * so that a crash keeps both or neither (rename is atomic). */
struct mop {
	enum mop_kind kind;
	char *path;
	int is_dir;
	struct inode *ino;
	int joined_with_next; /* this and the next op survive together */
};

struct sim_fs {
	struct io_fs base;
	pthread_mutex_t mu;
	struct prng rng;
	struct names cur, dur;
	struct mop *mops;
	size_t nmops, capmops;
	uint64_t generation; /* bumped by each crash; older handles are dead */
	uint64_t ops, syncs;
	uint64_t fault_countdown;
	int fault_err, fault_sticky, fault_armed;
	unsigned garbage_permille;
};

struct sim_file {
	struct io_file base;
	struct inode *ino;
	uint64_t generation;
	int writable;
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	ASSERT(q); /* the simulator is test-only: running out of memory there is fatal */
	return q;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = xrealloc(NULL, n);
	memcpy(d, s, n);
	return d;
}

static void ino_ref(struct inode *ino) { if (ino) ino->refs++; }

static void ino_unref(struct inode *ino)
{
	if (!ino)
		return;
	ASSERT(ino->refs > 0);
	if (--ino->refs > 0)
		return;
	for (size_t i = 0; i < ino->npending; i++)
		free(ino->pending[i].bytes);
	free(ino->pending);
	free(ino->data);
	free(ino->synced);
	free(ino);
}

/* Normalise: drop trailing slashes and repeated slashes. */
static void norm(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = in; *p && n + 1 < cap; p++) {
		if (*p == '/' && n > 0 && out[n - 1] == '/')
			continue;
		out[n++] = *p;
	}
	while (n > 1 && out[n - 1] == '/')
		n--;
	out[n] = 0;
}

static void parent(const char *path, char *out, size_t cap)
{
	size_t n = strlen(path);
	ASSERT(n < cap);
	memcpy(out, path, n + 1);
	char *s = strrchr(out, '/');
	if (!s)
		strcpy(out, ".");
	else if (s == out)
		out[1] = 0;
	else
		*s = 0;
}

static int is_root(const char *p) { return strcmp(p, "/") == 0 || strcmp(p, ".") == 0; }

static struct name *names_find(struct names *ns, const char *path)
{
	for (size_t i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i].path, path) == 0)
			return &ns->v[i];
	return NULL;
}

static void names_del(struct names *ns, const char *path)
{
	struct name *e = names_find(ns, path);
	if (!e)
		return;
	free(e->path);
	ino_unref(e->ino);
	*e = ns->v[--ns->n];
}

static void names_add(struct names *ns, const char *path, int is_dir, struct inode *ino)
{
	names_del(ns, path);
	if (ns->n == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 16;
		ns->v = xrealloc(ns->v, ns->cap * sizeof *ns->v);
	}
	ns->v[ns->n++] = (struct name){.path = xstrdup(path), .is_dir = is_dir, .ino = ino};
	ino_ref(ino);
}

static void names_clear(struct names *ns)
{
	while (ns->n)
		names_del(ns, ns->v[0].path);
}

static void mop_push(struct sim_fs *s, enum mop_kind kind, const char *path, int is_dir,
		     struct inode *ino, int joined)
{
	if (s->nmops == s->capmops) {
		s->capmops = s->capmops ? s->capmops * 2 : 16;
		s->mops = xrealloc(s->mops, s->capmops * sizeof *s->mops);
	}
	s->mops[s->nmops++] = (struct mop){.kind = kind, .path = xstrdup(path), .is_dir = is_dir,
					   .ino = ino, .joined_with_next = joined};
	ino_ref(ino);
}

static void mop_apply(struct names *ns, const struct mop *m)
{
	if (m->kind == MOP_ADD)
		names_add(ns, m->path, m->is_dir, m->ino);
	else
		names_del(ns, m->path);
}

static void mop_free(struct mop *m)
{
	free(m->path);
	ino_unref(m->ino);
}

/* Record a name change: apply to cur now, and remember it for dur. */
static void name_change(struct sim_fs *s, enum mop_kind kind, const char *path, int is_dir,
			struct inode *ino, int joined)
{
	mop_push(s, kind, path, is_dir, ino, joined);
	mop_apply(&s->cur, &s->mops[s->nmops - 1]);
}

static int fault_check(struct sim_fs *s)
{
	s->ops++;
	if (!s->fault_armed)
		return 0;
	if (s->fault_countdown > 0) {
		s->fault_countdown--;
		return 0;
	}
	int err = s->fault_err;
	if (!s->fault_sticky)
		s->fault_armed = 0;
	return err;
}

static void ino_reserve(struct inode *ino, uint64_t len)
{
	if (len <= ino->cap)
		return;
	uint64_t cap = ino->cap ? ino->cap : 256;
	while (cap < len)
		cap *= 2;
	ino->data = xrealloc(ino->data, (size_t)cap);
	ino->cap = cap;
}

static void ino_write(struct inode *ino, const void *buf, uint64_t len, uint64_t off)
{
	if (len == 0)
		return;
	ino_reserve(ino, off + len);
	if (off > ino->len)
		memset(ino->data + ino->len, 0, (size_t)(off - ino->len));
	memcpy(ino->data + off, buf, (size_t)len);
	if (off + len > ino->len)
		ino->len = off + len;
}

static void ino_truncate(struct inode *ino, uint64_t size)
{
	ino_reserve(ino, size);
	if (size > ino->len)
		memset(ino->data + ino->len, 0, (size_t)(size - ino->len));
	ino->len = size;
}

static void ino_sync(struct inode *ino)
{
	ino->synced = xrealloc(ino->synced, (size_t)ino->len);
	if (ino->len)
		memcpy(ino->synced, ino->data, (size_t)ino->len);
	ino->synced_len = ino->len;
	for (size_t i = 0; i < ino->npending; i++)
		free(ino->pending[i].bytes);
	ino->npending = 0;
}

/* Crash one inode: synced content + a random prefix of pending writes, the last maybe torn. */
static uint64_t ino_crash(struct sim_fs *s, struct inode *ino)
{
	uint64_t lost = 0;
	size_t keep = ino->npending ? (size_t)prng_below(&s->rng, ino->npending + 1) : 0;
	ino->len = 0;
	ino_write(ino, ino->synced, ino->synced_len, 0);
	ino->len = ino->synced_len;
	for (size_t i = 0; i < ino->npending; i++) {
		struct wop *w = &ino->pending[i];
		if (i < keep) {
			if (w->is_truncate)
				ino_truncate(ino, w->len);
			else
				ino_write(ino, w->bytes, w->len, w->off);
		} else if (i == keep && !w->is_truncate && w->len > 0 && prng_chance(&s->rng, 1, 2)) {
			/* Torn: a prefix of this write reaches the disk. */
			uint64_t part = prng_below(&s->rng, w->len);
			unsigned char *tmp = xrealloc(NULL, (size_t)(part ? part : 1));
			memcpy(tmp, w->bytes, (size_t)part);
			if (part && prng_below(&s->rng, 1000) < s->garbage_permille)
				prng_fill(&s->rng, tmp, part);
			ino_write(ino, tmp, part, w->off);
			free(tmp);
			lost += w->len - part;
		} else {
			lost += w->is_truncate ? 0 : w->len;
		}
	}
	ino_sync(ino);
	return lost;
}

/* ---- io_fs ops -------------------------------------------------------------------------- */

static struct sim_fs *S(struct io_fs *fs) { return (struct sim_fs *)fs; }

static int parent_exists(struct sim_fs *s, const char *path)
{
	char p[LIMIT_PATH_BYTES];
	parent(path, p, sizeof p);
	if (is_root(p))
		return 1;
	struct name *e = names_find(&s->cur, p);
	return e && e->is_dir;
}

static int sim_open(struct io_fs *fs, const char *path_in, int flags, struct io_file **out)
{
	struct sim_fs *s = S(fs);
	char path[LIMIT_PATH_BYTES];
	norm(path_in, path, sizeof path);
	pthread_mutex_lock(&s->mu);
	int rc = 0;
	if (flags & (IO_OPEN_CREATE | IO_OPEN_TRUNC | IO_OPEN_WRITE)) {
		rc = fault_check(s);
		if (rc)
			goto out;
	}
	struct name *e = names_find(&s->cur, path);
	if (e && e->is_dir) {
		rc = ERR_INVAL;
		goto out;
	}
	if (e && (flags & IO_OPEN_CREATE) && (flags & IO_OPEN_EXCL)) {
		rc = ERR_EXISTS;
		goto out;
	}
	struct inode *ino;
	if (!e) {
		if (!(flags & IO_OPEN_CREATE)) {
			rc = ERR_NOTFOUND;
			goto out;
		}
		if (!parent_exists(s, path)) {
			rc = ERR_NOTFOUND;
			goto out;
		}
		ino = xrealloc(NULL, sizeof *ino);
		memset(ino, 0, sizeof *ino);
		name_change(s, MOP_ADD, path, 0, ino, 0);
	} else {
		ino = e->ino;
	}
	if (flags & IO_OPEN_TRUNC && ino->len) {
		ino_truncate(ino, 0);
		struct wop w = {.len = 0, .is_truncate = 1};
		if (ino->npending == ino->cappending) {
			ino->cappending = ino->cappending ? ino->cappending * 2 : 8;
			ino->pending = xrealloc(ino->pending, ino->cappending * sizeof *ino->pending);
		}
		ino->pending[ino->npending++] = w;
	}
	struct sim_file *f = xrealloc(NULL, sizeof *f);
	f->base.fs = fs;
	f->ino = ino;
	f->generation = s->generation;
	f->writable = (flags & (IO_OPEN_CREATE | IO_OPEN_WRITE)) != 0;
	ino_ref(ino);
	*out = &f->base;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sim_close(struct io_file *file)
{
	struct sim_file *f = (struct sim_file *)file;
	struct sim_fs *s = S(file->fs);
	pthread_mutex_lock(&s->mu);
	ino_unref(f->ino);
	pthread_mutex_unlock(&s->mu);
	free(f);
	return 0;
}

static int64_t sim_pread(struct io_file *file, void *buf, size_t len, uint64_t off)
{
	struct sim_file *f = (struct sim_file *)file;
	struct sim_fs *s = S(file->fs);
	pthread_mutex_lock(&s->mu);
	int64_t rc;
	if (f->generation != s->generation) {
		rc = ERR_IO;
	} else if (off >= f->ino->len) {
		rc = 0;
	} else {
		uint64_t n = f->ino->len - off < len ? f->ino->len - off : len;
		memcpy(buf, f->ino->data + off, (size_t)n);
		rc = (int64_t)n;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sim_pwrite(struct io_file *file, const void *buf, size_t len, uint64_t off)
{
	struct sim_file *f = (struct sim_file *)file;
	struct sim_fs *s = S(file->fs);
	pthread_mutex_lock(&s->mu);
	int rc = f->generation != s->generation ? ERR_IO : !f->writable ? ERR_PERM : fault_check(s);
	if (rc == 0 && len > 0) {
		struct inode *ino = f->ino;
		ino_write(ino, buf, len, off);
		if (ino->npending == ino->cappending) {
			ino->cappending = ino->cappending ? ino->cappending * 2 : 8;
			ino->pending = xrealloc(ino->pending, ino->cappending * sizeof *ino->pending);
		}
		unsigned char *copy = xrealloc(NULL, len);
		memcpy(copy, buf, len);
		ino->pending[ino->npending++] = (struct wop){.off = off, .len = len, .bytes = copy};
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sim_sync(struct io_file *file)
{
	struct sim_file *f = (struct sim_file *)file;
	struct sim_fs *s = S(file->fs);
	pthread_mutex_lock(&s->mu);
	int rc = f->generation != s->generation ? ERR_IO : fault_check(s);
	if (rc == 0) {
		ino_sync(f->ino);
		s->syncs++;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sim_size(struct io_file *file, uint64_t *out)
{
	struct sim_file *f = (struct sim_file *)file;
	struct sim_fs *s = S(file->fs);
	pthread_mutex_lock(&s->mu);
	int rc = f->generation != s->generation ? ERR_IO : 0;
	*out = f->ino->len;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sim_truncate(struct io_file *file, uint64_t size)
{
	struct sim_file *f = (struct sim_file *)file;
	struct sim_fs *s = S(file->fs);
	pthread_mutex_lock(&s->mu);
	int rc = f->generation != s->generation ? ERR_IO : fault_check(s);
	if (rc == 0) {
		struct inode *ino = f->ino;
		ino_truncate(ino, size);
		if (ino->npending == ino->cappending) {
			ino->cappending = ino->cappending ? ino->cappending * 2 : 8;
			ino->pending = xrealloc(ino->pending, ino->cappending * sizeof *ino->pending);
		}
		ino->pending[ino->npending++] = (struct wop){.len = size, .is_truncate = 1};
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sim_fd(struct io_file *file) { return -1; }

static int sim_rename(struct io_fs *fs, const char *from_in, const char *to_in)
{
	struct sim_fs *s = S(fs);
	char from[LIMIT_PATH_BYTES], to[LIMIT_PATH_BYTES];
	norm(from_in, from, sizeof from);
	norm(to_in, to, sizeof to);
	pthread_mutex_lock(&s->mu);
	int rc = fault_check(s);
	if (rc)
		goto out;
	struct name *e = names_find(&s->cur, from);
	if (!e || !parent_exists(s, to)) {
		rc = ERR_NOTFOUND;
		goto out;
	}
	if (e->is_dir) {
		rc = ERR_UNSUPPORTED; /* storage never renames directories */
		goto out;
	}
	if (strcmp(from, to) == 0)
		goto out;
	struct inode *ino = e->ino;
	ino_ref(ino); /* keep alive across the delete */
	name_change(s, MOP_DEL, from, 0, NULL, 1);
	name_change(s, MOP_ADD, to, 0, ino, 0);
	ino_unref(ino);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sim_unlink(struct io_fs *fs, const char *path_in)
{
	struct sim_fs *s = S(fs);
	char path[LIMIT_PATH_BYTES];
	norm(path_in, path, sizeof path);
	pthread_mutex_lock(&s->mu);
	int rc = fault_check(s);
	if (rc == 0) {
		struct name *e = names_find(&s->cur, path);
		if (!e)
			rc = ERR_NOTFOUND;
		else if (e->is_dir)
			rc = ERR_INVAL;
		else
			name_change(s, MOP_DEL, path, 0, NULL, 0);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sim_link(struct io_fs *fs, const char *from_in, const char *to_in)
{
	struct sim_fs *s = S(fs);
	char from[LIMIT_PATH_BYTES], to[LIMIT_PATH_BYTES];
	norm(from_in, from, sizeof from);
	norm(to_in, to, sizeof to);
	pthread_mutex_lock(&s->mu);
	int rc = fault_check(s);
	if (rc == 0) {
		struct name *e = names_find(&s->cur, from);
		if (!e || !parent_exists(s, to))
			rc = ERR_NOTFOUND;
		else if (e->is_dir)
			rc = ERR_INVAL;
		else if (names_find(&s->cur, to))
			rc = ERR_EXISTS;
		else
			name_change(s, MOP_ADD, to, 0, e->ino, 0);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sim_mkdir(struct io_fs *fs, const char *path_in)
{
	struct sim_fs *s = S(fs);
	char path[LIMIT_PATH_BYTES];
	norm(path_in, path, sizeof path);
	pthread_mutex_lock(&s->mu);
	int rc = fault_check(s);
	if (rc == 0) {
		if (is_root(path) || names_find(&s->cur, path))
			rc = ERR_EXISTS;
		else if (!parent_exists(s, path))
			rc = ERR_NOTFOUND;
		else
			name_change(s, MOP_ADD, path, 1, NULL, 0);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int has_children(struct names *ns, const char *dir)
{
	char p[LIMIT_PATH_BYTES];
	for (size_t i = 0; i < ns->n; i++) {
		parent(ns->v[i].path, p, sizeof p);
		if (strcmp(p, dir) == 0)
			return 1;
	}
	return 0;
}

static int sim_rmdir(struct io_fs *fs, const char *path_in)
{
	struct sim_fs *s = S(fs);
	char path[LIMIT_PATH_BYTES];
	norm(path_in, path, sizeof path);
	pthread_mutex_lock(&s->mu);
	int rc = fault_check(s);
	if (rc == 0) {
		struct name *e = names_find(&s->cur, path);
		if (!e)
			rc = ERR_NOTFOUND;
		else if (!e->is_dir)
			rc = ERR_INVAL;
		else if (has_children(&s->cur, path))
			rc = ERR_BUSY;
		else
			name_change(s, MOP_DEL, path, 1, NULL, 0);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int mop_touches(const struct mop *m, const char *dir)
{
	char p[LIMIT_PATH_BYTES];
	parent(m->path, p, sizeof p);
	return strcmp(p, dir) == 0;
}

static int sim_sync_dir(struct io_fs *fs, const char *path_in)
{
	struct sim_fs *s = S(fs);
	char dir[LIMIT_PATH_BYTES];
	norm(path_in, dir, sizeof dir);
	pthread_mutex_lock(&s->mu);
	int rc = fault_check(s);
	if (rc == 0 && !is_root(dir)) {
		struct name *e = names_find(&s->cur, dir);
		if (!e || !e->is_dir)
			rc = ERR_NOTFOUND;
	}
	if (rc == 0) {
		/* Move every pending name op in this directory (and its rename partner) to dur.
		 * Decide first, then move, so partners are judged before either is freed. */
		unsigned char *take = xrealloc(NULL, s->nmops ? s->nmops : 1);
		for (size_t i = 0; i < s->nmops; i++)
			take[i] = (unsigned char)mop_touches(&s->mops[i], dir);
		for (size_t i = 0; i + 1 < s->nmops; i++) {
			if (s->mops[i].joined_with_next && (take[i] || take[i + 1]))
				take[i] = take[i + 1] = 1;
		}
		size_t w = 0;
		for (size_t i = 0; i < s->nmops; i++) {
			struct mop *m = &s->mops[i];
			if (take[i]) {
				mop_apply(&s->dur, m);
				mop_free(m);
			} else {
				s->mops[w++] = *m;
			}
		}
		free(take);
		s->nmops = w;
		s->syncs++;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sim_list(struct io_fs *fs, const char *dir_in, io_fs_list_cb cb, void *ctx)
{
	struct sim_fs *s = S(fs);
	char dir[LIMIT_PATH_BYTES];
	norm(dir_in, dir, sizeof dir);
	/* Snapshot the names first so the callback may change the namespace. */
	pthread_mutex_lock(&s->mu);
	if (!is_root(dir)) {
		struct name *e = names_find(&s->cur, dir);
		if (!e || !e->is_dir) {
			pthread_mutex_unlock(&s->mu);
			return ERR_NOTFOUND;
		}
	}
	char **list = NULL;
	size_t n = 0;
	char p[LIMIT_PATH_BYTES];
	for (size_t i = 0; i < s->cur.n; i++) {
		parent(s->cur.v[i].path, p, sizeof p);
		if (strcmp(p, dir) != 0)
			continue;
		const char *base = strrchr(s->cur.v[i].path, '/');
		base = base ? base + 1 : s->cur.v[i].path;
		list = xrealloc(list, (n + 1) * sizeof *list);
		list[n++] = xstrdup(base);
	}
	pthread_mutex_unlock(&s->mu);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = cb(ctx, list[i]);
		free(list[i]);
	}
	free(list);
	return rc;
}

static int sim_exists(struct io_fs *fs, const char *path_in, int *is_dir)
{
	struct sim_fs *s = S(fs);
	char path[LIMIT_PATH_BYTES];
	norm(path_in, path, sizeof path);
	pthread_mutex_lock(&s->mu);
	int rc = 0;
	if (is_root(path)) {
		if (is_dir)
			*is_dir = 1;
	} else {
		struct name *e = names_find(&s->cur, path);
		if (!e)
			rc = ERR_NOTFOUND;
		else if (is_dir)
			*is_dir = e->is_dir;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int sim_du(struct io_fs *fs, const char *dir_in, uint64_t *bytes)
{
	struct sim_fs *s = S(fs);
	char dir[LIMIT_PATH_BYTES];
	norm(dir_in, dir, sizeof dir);
	size_t dl = strlen(dir);
	pthread_mutex_lock(&s->mu);
	uint64_t total = 0;
	for (size_t i = 0; i < s->cur.n; i++) {
		const struct name *e = &s->cur.v[i];
		if (!e->is_dir && strncmp(e->path, dir, dl) == 0 && e->path[dl] == '/')
			total += e->ino->len;
	}
	pthread_mutex_unlock(&s->mu);
	*bytes = total;
	return 0;
}

static const struct io_fs_ops sim_ops = {
	.open = sim_open,
	.close = sim_close,
	.pread = sim_pread,
	.pwrite = sim_pwrite,
	.sync = sim_sync,
	.size = sim_size,
	.truncate = sim_truncate,
	.fd = sim_fd,
	.rename = sim_rename,
	.unlink = sim_unlink,
	.link = sim_link,
	.mkdir = sim_mkdir,
	.rmdir = sim_rmdir,
	.sync_dir = sim_sync_dir,
	.list = sim_list,
	.exists = sim_exists,
	.du = sim_du,
};

struct io_fs *io_fs_sim_new(uint64_t seed)
{
	struct sim_fs *s = xrealloc(NULL, sizeof *s);
	memset(s, 0, sizeof *s);
	s->base.ops = &sim_ops;
	pthread_mutex_init(&s->mu, NULL);
	prng_init(&s->rng, seed);
	s->garbage_permille = 100;
	return &s->base;
}

void io_fs_sim_free(struct io_fs *fs)
{
	struct sim_fs *s = S(fs);
	for (size_t i = 0; i < s->nmops; i++)
		mop_free(&s->mops[i]);
	free(s->mops);
	names_clear(&s->cur);
	names_clear(&s->dur);
	free(s->cur.v);
	free(s->dur.v);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Collect the distinct inodes reachable from a namespace plus pending ops. */
static void collect_inodes(struct sim_fs *s, struct inode ***out, size_t *n)
{
	struct inode **v = NULL;
	size_t cnt = 0;
	struct names *tabs[2] = {&s->cur, &s->dur};
	for (int t = 0; t < 2; t++) {
		for (size_t i = 0; i < tabs[t]->n; i++) {
			struct inode *ino = tabs[t]->v[i].ino;
			if (!ino)
				continue;
			size_t j;
			for (j = 0; j < cnt; j++)
				if (v[j] == ino)
					break;
			if (j == cnt) {
				v = xrealloc(v, (cnt + 1) * sizeof *v);
				v[cnt++] = ino;
			}
		}
	}
	for (size_t i = 0; i < s->nmops; i++) {
		struct inode *ino = s->mops[i].ino;
		if (!ino)
			continue;
		size_t j;
		for (j = 0; j < cnt; j++)
			if (v[j] == ino)
				break;
		if (j == cnt) {
			v = xrealloc(v, (cnt + 1) * sizeof *v);
			v[cnt++] = ino;
		}
	}
	*out = v;
	*n = cnt;
}

uint64_t io_fs_sim_crash(struct io_fs *fs)
{
	struct sim_fs *s = S(fs);
	pthread_mutex_lock(&s->mu);
	uint64_t lost = 0;
	struct inode **inos;
	size_t n;
	collect_inodes(s, &inos, &n);
	for (size_t i = 0; i < n; i++)
		lost += ino_crash(s, inos[i]);
	free(inos);
	/* Namespace: durable names + a random prefix of pending name ops (renames whole). */
	size_t keep = s->nmops ? (size_t)prng_below(&s->rng, s->nmops + 1) : 0;
	while (keep > 0 && keep < s->nmops && s->mops[keep - 1].joined_with_next)
		keep++;
	for (size_t i = 0; i < s->nmops; i++) {
		if (i < keep)
			mop_apply(&s->dur, &s->mops[i]);
		mop_free(&s->mops[i]);
	}
	s->nmops = 0;
	names_clear(&s->cur);
	for (size_t i = 0; i < s->dur.n; i++)
		names_add(&s->cur, s->dur.v[i].path, s->dur.v[i].is_dir, s->dur.v[i].ino);
	s->generation++;
	pthread_mutex_unlock(&s->mu);
	return lost;
}

void io_fs_sim_sync_all(struct io_fs *fs)
{
	struct sim_fs *s = S(fs);
	pthread_mutex_lock(&s->mu);
	struct inode **inos;
	size_t n;
	collect_inodes(s, &inos, &n);
	for (size_t i = 0; i < n; i++)
		ino_sync(inos[i]);
	free(inos);
	for (size_t i = 0; i < s->nmops; i++) {
		mop_apply(&s->dur, &s->mops[i]);
		mop_free(&s->mops[i]);
	}
	s->nmops = 0;
	pthread_mutex_unlock(&s->mu);
}

void io_fs_sim_fault_after(struct io_fs *fs, uint64_t ops, int err, int sticky)
{
	struct sim_fs *s = S(fs);
	ASSERT(err < 0);
	pthread_mutex_lock(&s->mu);
	s->fault_countdown = ops;
	s->fault_err = err;
	s->fault_sticky = sticky;
	s->fault_armed = 1;
	pthread_mutex_unlock(&s->mu);
}

void io_fs_sim_fault_clear(struct io_fs *fs)
{
	struct sim_fs *s = S(fs);
	pthread_mutex_lock(&s->mu);
	s->fault_armed = 0;
	pthread_mutex_unlock(&s->mu);
}

void io_fs_sim_set_garbage_permille(struct io_fs *fs, unsigned permille)
{
	struct sim_fs *s = S(fs);
	pthread_mutex_lock(&s->mu);
	s->garbage_permille = permille > 1000 ? 1000 : permille;
	pthread_mutex_unlock(&s->mu);
}

uint64_t io_fs_sim_ops(struct io_fs *fs) { return S(fs)->ops; }
uint64_t io_fs_sim_syncs(struct io_fs *fs) { return S(fs)->syncs; }

int io_fs_sim_corrupt(struct io_fs *fs, const char *path_in, uint64_t off)
{
	struct sim_fs *s = S(fs);
	char path[LIMIT_PATH_BYTES];
	norm(path_in, path, sizeof path);
	pthread_mutex_lock(&s->mu);
	int rc = 0;
	struct name *e = names_find(&s->cur, path);
	if (!e || e->is_dir) {
		rc = ERR_NOTFOUND;
	} else if (off >= e->ino->len) {
		rc = ERR_RANGE;
	} else {
		e->ino->data[off] ^= 0x5a;
		if (off < e->ino->synced_len)
			e->ino->synced[off] ^= 0x5a;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}
