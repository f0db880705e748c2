/*
 * replica.c — a replica's files and state machine: the REPLICA metadata file, opening the
 * kv_store / catalogue in the live data directory, applying entries, taking and installing
 * snapshots (see replica.h for the layout and its crash rules).
 */
#include "server/engine/replica.h"

#include "core/assert.h"
#include "core/log.h"
#include "proto/decode.h"
#include "server/engine/snapshot.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- REPLICA file --------------------------------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

size_t replica_meta_encode(const struct replica_meta *m, uint8_t *buf)
{
	ASSERT(m->group_id != 0);
	memset(buf, 0, 56);
	put_u32(buf, REPLICA_META_MAGIC);
	put_u16(buf + 4, REPLICA_META_VERSION);
	put_u16(buf + 6, (uint16_t)m->flags);
	put_u32(buf + 8, m->core_id);
	put_u32(buf + 12, m->data_gen);
	put_u64(buf + 16, m->group_id);
	put_u64(buf + 24, m->snap.index);
	put_u64(buf + 32, m->snap.term);
	put_u64(buf + 40, m->snap.size_bytes);
	uint32_t conf_len = raft_conf_encode(&m->snap.conf, buf + 56);
	put_u32(buf + 48, conf_len);
	size_t len = 56 + conf_len;
	put_u64(buf + len, XXH3_64bits(buf, len));
	ASSERT(len + 8 <= REPLICA_META_BYTES_MAX);
	return len + 8;
}

int replica_meta_decode(const uint8_t *buf, size_t len, struct replica_meta *out)
{
	if (len < 64 || len > REPLICA_META_BYTES_MAX)
		return ERR_CORRUPT;
	if (get_u32(buf) != REPLICA_META_MAGIC || get_u16(buf + 4) != REPLICA_META_VERSION)
		return ERR_CORRUPT;
	uint32_t conf_len = get_u32(buf + 48);
	if (conf_len > RAFT_CONF_ENCODED_MAX || 56 + (size_t)conf_len + 8 != len)
		return ERR_CORRUPT;
	if (get_u64(buf + len - 8) != XXH3_64bits(buf, len - 8))
		return ERR_CORRUPT;
	struct replica_meta m;
	memset(&m, 0, sizeof m);
	m.flags = get_u16(buf + 6);
	m.core_id = get_u32(buf + 8);
	m.data_gen = get_u32(buf + 12);
	m.group_id = get_u64(buf + 16);
	m.snap.index = get_u64(buf + 24);
	m.snap.term = get_u64(buf + 32);
	m.snap.size_bytes = get_u64(buf + 40);
	if (raft_conf_decode(buf + 56, conf_len, &m.snap.conf) != 0)
		return ERR_CORRUPT;
	if (m.group_id == 0 || m.snap.conf.n_voters == 0 || (m.snap.index == 0) != (m.snap.term == 0))
		return ERR_CORRUPT;
	*out = m;
	return 0;
}

static int meta_path(const char *dir, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/REPLICA", dir);
	return n < 0 || (size_t)n >= cap ? ERR_TOOBIG : 0;
}

int replica_meta_read(struct io_fs *fs, const char *dir, struct replica_meta *out)
{
	char path[LIMIT_PATH_BYTES];
	int rc = meta_path(dir, path, sizeof path);
	if (rc)
		return rc;
	void *buf = NULL;
	size_t len = 0;
	rc = io_fs_read_all(fs, path, REPLICA_META_BYTES_MAX, &buf, &len);
	if (rc == ERR_TOOBIG)
		rc = ERR_CORRUPT;
	if (rc)
		return rc;
	rc = replica_meta_decode(buf, len, out);
	free(buf);
	if (rc)
		LOG_ERROR("replica metadata %s is damaged (%zu bytes)", path, len);
	return rc;
}

int replica_meta_write(struct io_fs *fs, const char *dir, const struct replica_meta *m)
{
	char path[LIMIT_PATH_BYTES];
	int rc = meta_path(dir, path, sizeof path);
	if (rc)
		return rc;
	uint8_t buf[REPLICA_META_BYTES_MAX];
	size_t len = replica_meta_encode(m, buf);
	return io_fs_write_atomic(fs, path, buf, len);
}

int replica_path(const struct replica *rep, char *out, size_t cap, const char *fmt, ...)
{
	char name[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	int n = snprintf(out, cap, "%s/%s", rep->dir, name);
	return n < 0 || (size_t)n >= cap ? ERR_TOOBIG : 0;
}

/* ---- leftovers ----------------------------------------------------------------------------- */

struct name_vec {
	char **v;
	size_t n, cap;
	int err;
};

static int name_collect(void *ctx, const char *name)
{
	struct name_vec *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			l->err = ERR_NOMEM;
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(name);
	if (!l->v[l->n]) {
		l->err = ERR_NOMEM;
		return 1;
	}
	l->n++;
	return 0;
}

static void name_vec_free(struct name_vec *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

static int list_names(struct io_fs *fs, const char *dir, struct name_vec *out)
{
	memset(out, 0, sizeof *out);
	int rc = io_fs_list(fs, dir, name_collect, out);
	if (rc == 0)
		rc = out->err;
	if (rc)
		name_vec_free(out);
	return rc;
}

int replica_cleanup(struct replica *rep)
{
	char keep_data[64], keep_snap[64];
	snprintf(keep_data, sizeof keep_data, "data-%" PRIu32, rep->meta.data_gen);
	snprintf(keep_snap, sizeof keep_snap, "snap-%" PRIu64, rep->meta.snap.index);
	struct name_vec names;
	int rc = list_names(rep->fs, rep->dir, &names);
	if (rc)
		return rc;
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		const char *n = names.v[i];
		if (strcmp(n, "REPLICA") == 0 || strcmp(n, keep_data) == 0 ||
		    (rep->meta.snap.index > 0 && strcmp(n, keep_snap) == 0))
			continue;
		char path[LIMIT_PATH_BYTES];
		if (snprintf(path, sizeof path, "%s/%s", rep->dir, n) >= (int)sizeof path)
			continue;
		LOG_INFO("replica %" PRIu64 ": removing leftover %s", rep->id, path);
		rc = io_fs_remove_all(rep->fs, path);
		if (rc == ERR_NOTFOUND)
			rc = 0;
	}
	name_vec_free(&names);
	return rc;
}

/* ---- state machine ------------------------------------------------------------------------ */

int replica_sm_open(struct replica *rep, const struct lsm_options *o)
{
	ASSERT(rep->kv == NULL && rep->cat == NULL);
	char path[LIMIT_PATH_BYTES];
	int rc = replica_path(rep, path, sizeof path, "data-%" PRIu32, rep->meta.data_gen);
	if (rc)
		return rc;
	if (rep->is_meta)
		rc = catalog_open(path, o, &rep->cat);
	else
		rc = kv_store_open(path, o, &rep->kv);
	if (rc) {
		rep->kv = NULL;
		rep->cat = NULL;
		return rc;
	}
	rep->applied = replica_sm_applied(rep);
	return 0;
}

int replica_sm_close(struct replica *rep, int flush)
{
	int rc = 0;
	if (rep->kv) {
		if (flush)
			rc = kv_store_close(rep->kv);
		else
			kv_store_close_noflush(rep->kv);
	}
	if (rep->cat) {
		if (flush)
			rc = catalog_close(rep->cat);
		else
			catalog_close_noflush(rep->cat);
	}
	rep->kv = NULL;
	rep->cat = NULL;
	return rc;
}

struct lsm_tree *replica_sm_tree(struct replica *rep)
{
	ASSERT(rep->kv != NULL || rep->cat != NULL);
	return rep->kv ? kv_store_tree(rep->kv) : catalog_tree(rep->cat);
}

uint64_t replica_sm_applied(const struct replica *rep)
{
	if (rep->kv)
		return kv_store_applied_index(rep->kv);
	return rep->cat ? catalog_applied_index(rep->cat) : 0;
}

int64_t replica_sm_revision(const struct replica *rep)
{
	if (rep->kv)
		return kv_store_revision(rep->kv);
	return (int64_t)replica_sm_applied(rep);
}

int replica_apply_noop(struct replica *rep, uint64_t index)
{
	ASSERT(index == rep->applied + 1);
	int rc = rep->kv ? kv_store_apply_noop(rep->kv, index) : catalog_apply_noop(rep->cat, index);
	if (rc == 0)
		rep->applied = index;
	return rc;
}

int replica_apply_normal(struct replica *rep, uint64_t index, const uint8_t *body, size_t len,
			 struct arena *decode_arena, struct arena *answer_arena,
			 struct replica_applied *res)
{
	ASSERT(index == rep->applied + 1);
	ASSERT(res != NULL);
	memset(res, 0, sizeof *res);
	int rc;
	if (rep->cat) {
		rc = catalog_apply(rep->cat, index, body, len, &res->change);
		if (rc == 0) {
			rep->applied = index;
			res->revision = (int64_t)index;
		}
		return rc;
	}
	ProtobufCMessage *msg = NULL;
	struct proto_error perr;
	rc = proto_decode(&mvcc__v1__command__descriptor, body, len, decode_arena, NULL, &msg, &perr);
	if (rc) {
		/* bytes no replica can decode: skipped identically everywhere */
		res->status = rc == ERR_TOOBIG ? ERR_TOOBIG : ERR_INVAL;
		goto skip;
	}
	const Mvcc__V1__Command *cmd = (const Mvcc__V1__Command *)msg;
	int64_t revision = (int64_t)index;
	if (cmd->_leader_index_case == MVCC__V1__COMMAND___LEADER_INDEX_LEADER_INDEX) {
		if (cmd->leader_index > (uint64_t)INT64_MAX) {
			res->status = ERR_INVAL;
			goto skip;
		}
		revision = (int64_t)cmd->leader_index;
	}
	if (revision <= kv_store_revision(rep->kv)) {
		res->status = ERR_INVAL; /* revisions only move forward */
		goto skip;
	}
	rc = kv_store_apply(rep->kv, index, revision, cmd, answer_arena, &res->out);
	if (rc == ERR_INVAL || rc == ERR_TOOBIG) {
		res->status = rc; /* skipped identically on every replica; the index advanced */
		rc = 0;
	}
	if (rc == 0) {
		rep->applied = index;
		res->revision = kv_store_revision(rep->kv);
	}
	return rc;
skip:
	rc = kv_store_apply_noop(rep->kv, index);
	if (rc == 0) {
		rep->applied = index;
		res->revision = kv_store_revision(rep->kv);
	}
	return rc;
}

/* ---- snapshots ---------------------------------------------------------------------------- */

int replica_snapshot_serve(struct replica *rep)
{
	if (rep->src) {
		snap_source_close(rep->src);
		rep->src = NULL;
	}
	if (rep->meta.snap.index == 0)
		return 0;
	char path[LIMIT_PATH_BYTES];
	int rc = replica_path(rep, path, sizeof path, "snap-%" PRIu64, rep->meta.snap.index);
	if (rc)
		return rc;
	rc = snap_source_open(rep->fs, path, rep->meta.snap.index, rep->meta.snap.term, &rep->src);
	if (rc) {
		rep->src = NULL;
		LOG_ERROR("replica %" PRIu64 ": cannot serve snapshot %s: %s", rep->id, path, err_str(rc));
		return rc;
	}
	if (snap_source_size(rep->src) != rep->meta.snap.size_bytes) {
		LOG_ERROR("replica %" PRIu64 ": snapshot %s is %" PRIu64 " bytes, metadata says %" PRIu64,
			  rep->id, path, snap_source_size(rep->src), rep->meta.snap.size_bytes);
		snap_source_close(rep->src);
		rep->src = NULL;
		return ERR_CORRUPT;
	}
	return 0;
}

/* Remove a directory if present (a leftover of an interrupted attempt). */
static int remove_if_present(struct io_fs *fs, const char *path)
{
	int rc = io_fs_remove_all(fs, path);
	return rc == ERR_NOTFOUND ? 0 : rc;
}

static int switch_snapshot(struct replica *rep, const struct replica_meta *m, uint64_t old_index,
			   uint32_t old_gen)
{
	int rc = replica_meta_write(rep->fs, rep->dir, m); /* the commit point */
	if (rc)
		return rc;
	rep->meta = *m;
	rc = replica_snapshot_serve(rep);
	if (rc)
		return rc;
	char path[LIMIT_PATH_BYTES];
	if (old_index != 0 && old_index != m->snap.index &&
	    replica_path(rep, path, sizeof path, "snap-%" PRIu64, old_index) == 0)
		(void)remove_if_present(rep->fs, path);
	if (old_gen != m->data_gen && replica_path(rep, path, sizeof path, "data-%" PRIu32, old_gen) == 0)
		(void)remove_if_present(rep->fs, path);
	rep->log_bytes = 0;
	return 0;
}

int replica_snapshot_take(struct replica *rep, uint64_t term, const struct raft_conf *conf)
{
	uint64_t index = rep->applied;
	ASSERT(term != 0 && conf->n_voters > 0);
	if (index == 0 || index <= rep->meta.snap.index)
		return 0;
	char path[LIMIT_PATH_BYTES];
	int rc = replica_path(rep, path, sizeof path, "snap-%" PRIu64, index);
	if (rc)
		return rc;
	rc = remove_if_present(rep->fs, path);
	if (rc)
		return rc;
	uint64_t got = 0;
	rc = lsm_tree_checkpoint(replica_sm_tree(rep), path, &got);
	if (rc)
		return rc;
	ASSERT(got == index); /* applies are synchronous on this core: the checkpoint holds them all */
	struct snap_source *src;
	rc = snap_source_open(rep->fs, path, index, term, &src);
	if (rc)
		return rc;
	struct replica_meta m = rep->meta;
	m.snap.index = index;
	m.snap.term = term;
	m.snap.size_bytes = snap_source_size(src);
	m.snap.conf = *conf;
	snap_source_close(src);
	return switch_snapshot(rep, &m, rep->meta.snap.index, rep->meta.data_gen);
}

/* Copy directory src into dst for serving: immutable tables (*.sst) are hard-linked, every other file
 * (the manifest, which a live tree appends to) is copied, so the result stays byte-identical to
 * what was received. */
static int clone_dir(struct io_fs *fs, const char *src, const char *dst)
{
	struct name_vec names;
	int rc = list_names(fs, src, &names);
	if (rc)
		return rc;
	rc = io_fs_mkdir_all(fs, dst);
	uint8_t *buf = NULL;
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		char from[LIMIT_PATH_BYTES], to[LIMIT_PATH_BYTES];
		if (snprintf(from, sizeof from, "%s/%s", src, names.v[i]) >= (int)sizeof from ||
		    snprintf(to, sizeof to, "%s/%s", dst, names.v[i]) >= (int)sizeof to) {
			rc = ERR_TOOBIG;
			break;
		}
		size_t nl = strlen(names.v[i]);
		if (nl > 4 && strcmp(names.v[i] + nl - 4, ".sst") == 0) {
			rc = io_fs_link(fs, from, to);
			continue;
		}
		if (!buf && !(buf = malloc(1u << 20))) {
			rc = ERR_NOMEM;
			break;
		}
		struct io_file *in = NULL, *out = NULL;
		rc = io_file_open(fs, from, IO_OPEN_READ, &in);
		if (rc == 0)
			rc = io_file_open(fs, to, IO_OPEN_CREATE | IO_OPEN_EXCL, &out);
		for (uint64_t off = 0; rc == 0;) {
			int64_t got = io_file_pread(in, buf, 1u << 20, off);
			if (got < 0)
				rc = (int)got;
			if (got <= 0)
				break;
			rc = io_file_pwrite(out, buf, (size_t)got, off);
			off += (uint64_t)got;
		}
		if (rc == 0)
			rc = io_file_sync(out);
		if (in)
			io_file_close(in);
		if (out)
			io_file_close(out);
	}
	free(buf);
	name_vec_free(&names);
	if (rc == 0)
		rc = io_fs_sync_dir(fs, dst);
	return rc;
}

int replica_snapshot_install(struct replica *rep, const struct raft_snapshot_meta *snap,
			     const struct lsm_options *o)
{
	ASSERT(snap->index > rep->meta.snap.index);
	snap_stage_close(&rep->stage);
	char recv[LIMIT_PATH_BYTES], snapdir[LIMIT_PATH_BYTES], data[LIMIT_PATH_BYTES];
	uint32_t old_gen = rep->meta.data_gen, new_gen = old_gen + 1;
	int rc = replica_path(rep, recv, sizeof recv, "recv.tmp");
	if (rc == 0)
		rc = replica_path(rep, snapdir, sizeof snapdir, "snap-%" PRIu64, snap->index);
	if (rc == 0)
		rc = replica_path(rep, data, sizeof data, "data-%" PRIu32, new_gen);
	/* Both directories are garbage until REPLICA names them (replica_cleanup removes them
	 * after a crash), so they are filled in place: no directory rename is needed. */
	if (rc == 0)
		rc = remove_if_present(rep->fs, snapdir);
	if (rc == 0)
		rc = remove_if_present(rep->fs, data);
	if (rc)
		return rc;
	uint64_t index = 0, term = 0;
	rc = snap_unpack(rep->fs, recv, data, &index, &term);
	if (rc)
		return rc;
	if (index != snap->index || term != snap->term) {
		LOG_ERROR("replica %" PRIu64 ": snapshot archive holds %" PRIu64 "/%" PRIu64
			  ", Raft installs %" PRIu64 "/%" PRIu64,
			  rep->id, index, term, snap->index, snap->term);
		return ERR_CORRUPT;
	}
	rc = clone_dir(rep->fs, data, snapdir); /* before the tree opens and changes data/ */
	if (rc)
		return rc;
	struct snap_source *src;
	rc = snap_source_open(rep->fs, snapdir, index, term, &src);
	if (rc)
		return rc;
	uint64_t size = snap_source_size(src);
	snap_source_close(src);
	if (size != snap->size_bytes) { /* we serve what we received, so peers get the same bytes */
		LOG_ERROR("replica %" PRIu64 ": unpacked snapshot repacks to %" PRIu64 " bytes, not %" PRIu64,
			  rep->id, size, snap->size_bytes);
		return ERR_CORRUPT;
	}
	/* swap the state machine: from here on failure leaves the replica without one (fatal) */
	(void)replica_sm_close(rep, 0);
	struct replica_meta m = rep->meta;
	m.data_gen = new_gen;
	m.snap = *snap;
	rep->meta.data_gen = new_gen;
	rc = replica_sm_open(rep, o);
	if (rc)
		return rc;
	if (replica_sm_applied(rep) != snap->index) {
		LOG_ERROR("replica %" PRIu64 ": installed state is at %" PRIu64 ", expected %" PRIu64,
			  rep->id, replica_sm_applied(rep), snap->index);
		return ERR_CORRUPT;
	}
	rep->meta.data_gen = old_gen;
	rc = switch_snapshot(rep, &m, rep->meta.snap.index, old_gen);
	if (rc)
		return rc;
	(void)remove_if_present(rep->fs, recv);
	rep->applied = snap->index;
	return 0;
}
