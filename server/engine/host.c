/*
 * host.c — the per-core engine (see host.h): open and recovery, the replica map, table create
 * and remove, ticks, frames, the end-of-turn work, status.
 *
 * The end of a turn (host__turn_work) is where durability turns into progress: backlogged log
 * mutations are submitted, the Raft log is group-committed (sync mode), updates whose batch is
 * durable are reported PERSISTED (which commits, applies and releases held acknowledgements),
 * then due snapshots are taken, failed replicas leave Raft, and the frames gathered during the
 * turn go out — one per peer node.
 */
#include "server/engine/host_int.h"

#include "core/assert.h"
#include "core/log.h"
#include "server/engine/snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(HOST_ROLE_FOLLOWER == RAFT_FOLLOWER && HOST_ROLE_PRE_CANDIDATE == RAFT_PRE_CANDIDATE &&
		       HOST_ROLE_CANDIDATE == RAFT_CANDIDATE && HOST_ROLE_LEADER == RAFT_LEADER,
	       "host roles mirror raft/raft.h");

void host_config_defaults(struct host_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->tick_ms = 10;
	cfg->election_ticks = 30;
	cfg->heartbeat_ticks = 5;
	cfg->quiesce = 1;
	cfg->groups_max = 1024;
	cfg->raft_cache_entries = 256;
	cfg->raft_mem_bytes = 512ull << 20;
	cfg->snapshot_log_bytes = 64ull << 20;
	cfg->lsm_cache_bytes = 64ull << 20;
	cfg->memtable_bytes = 16ull << 20;
	cfg->memtable_budget_bytes = 64ull << 20;
}

/* ---- depth and callbacks ------------------------------------------------------------------ */

void host__enter(struct host *h) { h->depth++; }

void host__leave(struct host *h)
{
	ASSERT(h->depth > 0);
	if (--h->depth == 0)
		host__drain(h);
}

void host__fatal(struct host *h, int err, const char *what)
{
	if (h->fatal)
		return;
	h->fatal = err ? err : ERR_IO;
	h->stats.fatal = h->fatal;
	LOG_ERROR("engine core %d: %s failed: %s; the core stops serving", h->cfg.core_id, what,
		  err_str(h->fatal));
	host__fail_all(h, h->fatal);
	if (h->cfg.on_fatal)
		h->cfg.on_fatal(h->cfg.ctx, h->fatal, what);
}

void host__replica_fail(struct host *h, struct replica *rep, int err, const char *what)
{
	if (rep->error)
		return;
	rep->error = err ? err : ERR_IO;
	LOG_ERROR("engine: table %" PRIu64 " on core %d stopped: %s: %s", rep->id, h->cfg.core_id, what,
		  err_str(rep->error));
	host__fail_replica(h, rep, rep->error);
	host__activate(h, rep); /* leaves Raft at the end of the turn (not inside a step) */
}

/* ---- replica map -------------------------------------------------------------------------- */

static size_t map_lower(const struct host *h, uint64_t id)
{
	size_t lo = 0, hi = h->n_reps;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (h->reps[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct replica *host__find(const struct host *h, uint64_t id)
{
	size_t i = map_lower(h, id);
	return i < h->n_reps && h->reps[i]->id == id ? h->reps[i] : NULL;
}

static int map_insert(struct host *h, struct replica *rep)
{
	if (h->n_reps == h->cap_reps) {
		size_t cap = h->cap_reps ? h->cap_reps * 2 : 16;
		struct replica **v = realloc(h->reps, cap * sizeof *v);
		if (!v)
			return ERR_NOMEM;
		h->reps = v;
		h->cap_reps = cap;
	}
	size_t i = map_lower(h, rep->id);
	ASSERT(i == h->n_reps || h->reps[i]->id != rep->id);
	memmove(&h->reps[i + 1], &h->reps[i], (h->n_reps - i) * sizeof h->reps[0]);
	h->reps[i] = rep;
	h->n_reps++;
	return 0;
}

static void active_remove(struct host *h, struct replica *rep)
{
	for (size_t k = 0; rep->in_active && k < h->n_active; k++) {
		if (h->active[k] == rep) {
			h->active[k] = h->active[--h->n_active];
			break;
		}
	}
	rep->in_active = 0;
}

static void map_remove(struct host *h, struct replica *rep)
{
	size_t i = map_lower(h, rep->id);
	ASSERT(i < h->n_reps && h->reps[i] == rep);
	memmove(&h->reps[i], &h->reps[i + 1], (h->n_reps - i - 1) * sizeof h->reps[0]);
	h->n_reps--;
	active_remove(h, rep);
}

void host__activate(struct host *h, struct replica *rep)
{
	if (rep->in_active)
		return;
	if (h->n_active == h->cap_active) {
		size_t cap = h->cap_active ? h->cap_active * 2 : 16;
		struct replica **v = realloc(h->active, cap * sizeof *v);
		ASSERT(v != NULL); /* at most one slot per replica: tiny */
		h->active = v;
		h->cap_active = cap;
	}
	h->active[h->n_active++] = rep;
	rep->in_active = 1;
}

/* ---- replicas ------------------------------------------------------------------------------ */

static void active_remove(struct host *h, struct replica *rep);

static void replica_free(struct host *h, struct replica *rep, int flush)
{
	active_remove(h, rep); /* a replica that failed to open may have queued turn work */
	host__raft_stop(h, rep);
	int rc = replica_sm_close(rep, flush);
	if (rc)
		LOG_ERROR("engine: table %" PRIu64 ": closing its state: %s", rep->id, err_str(rc));
	if (rep->src)
		snap_source_close(rep->src);
	snap_stage_close(&rep->stage);
	host__backlog_free(rep);
	free(rep);
}

static struct replica *replica_new(struct host *h, uint64_t id)
{
	struct replica *rep = calloc(1, sizeof *rep);
	if (!rep)
		return NULL;
	rep->host = h;
	rep->fs = h->fs;
	rep->id = id;
	rep->is_meta = id == HOST_META_GROUP_ID;
	if (snprintf(rep->dir, sizeof rep->dir, "%s/%" PRIu64, h->tables_dir, id) >= (int)sizeof rep->dir) {
		free(rep);
		return NULL;
	}
	return rep;
}

static int replica_load(struct host *h, uint64_t id, const struct replica_meta *m)
{
	struct replica *rep = replica_new(h, id);
	if (!rep)
		return ERR_NOMEM;
	rep->meta = *m;
	int rc = replica_cleanup(rep);
	if (rc == 0)
		rc = replica_sm_open(rep, &h->lsm);
	if (rc == 0)
		rc = replica_snapshot_serve(rep);
	if (rc == 0)
		rc = host__raft_start(h, rep);
	if (rc == 0)
		rc = map_insert(h, rep);
	if (rc) {
		LOG_ERROR("engine: cannot open table %" PRIu64 " in %s: %s", id, rep->dir, err_str(rc));
		replica_free(h, rep, 0);
		return rc;
	}
	return 0;
}

/* ---- open / close ------------------------------------------------------------------------- */

struct scan_ctx {
	uint64_t *ids;
	size_t n, cap;
	int err;
};

static int scan_one(void *ctx, const char *name)
{
	struct scan_ctx *s = ctx;
	char *end = NULL;
	unsigned long long v = strtoull(name, &end, 10);
	if (!end || *end != 0 || v == 0 || name[0] == '0')
		return 0; /* not a table directory */
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint64_t *ids = realloc(s->ids, cap * sizeof *ids);
		if (!ids) {
			s->err = ERR_NOMEM;
			return 1;
		}
		s->ids = ids;
		s->cap = cap;
	}
	s->ids[s->n++] = v;
	return 0;
}

struct orphan_ctx {
	struct host *h;
	uint64_t ids[256];
	size_t n;
	int more;
};

static int orphan_one(void *ctx, uint64_t group)
{
	struct orphan_ctx *o = ctx;
	if (host__find(o->h, group))
		return 0;
	if (o->n == 256) {
		o->more = 1;
		return 1;
	}
	o->ids[o->n++] = group;
	return 0;
}

/* Groups in the log with no replica: their table was removed before the drop was durable. */
static int drop_orphans(struct host *h)
{
	for (int round = 0; round < 1000; round++) {
		struct orphan_ctx o = {.h = h};
		int rc = raftlog_groups(h->log, orphan_one, &o);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < o.n; i++) {
			LOG_INFO("engine core %d: dropping the log of removed table %" PRIu64, h->cfg.core_id,
				 o.ids[i]);
			rc = raftlog_drop_group(h->log, o.ids[i]);
			if (rc)
				return rc;
		}
		if (!o.more)
			return 0;
	}
	return ERR_BUSY;
}

static int open_replicas(struct host *h)
{
	struct scan_ctx s = {0};
	int rc = io_fs_list(h->fs, h->tables_dir, scan_one, &s);
	if (rc == 0)
		rc = s.err;
	for (size_t i = 0; rc == 0 && i < s.n; i++) {
		char dir[LIMIT_PATH_BYTES];
		if (snprintf(dir, sizeof dir, "%s/%" PRIu64, h->tables_dir, s.ids[i]) >= (int)sizeof dir) {
			rc = ERR_TOOBIG;
			break;
		}
		struct replica_meta m;
		int mrc = replica_meta_read(h->fs, dir, &m);
		if (mrc == ERR_NOTFOUND) {
			/* created or removed half-way: no REPLICA file means no replica */
			LOG_INFO("engine: removing unfinished table directory %s", dir);
			rc = io_fs_remove_all(h->fs, dir);
			continue;
		}
		if (mrc) {
			rc = mrc;
			break;
		}
		if ((int)m.core_id != h->cfg.core_id)
			continue; /* another core's */
		if (m.group_id != s.ids[i] || (m.group_id == HOST_META_GROUP_ID) != !!(m.flags & REPLICA_META_F_META_GROUP)) {
			LOG_ERROR("engine: %s/REPLICA names group %" PRIu64, dir, m.group_id);
			rc = ERR_CORRUPT;
			break;
		}
		rc = replica_load(h, s.ids[i], &m);
	}
	free(s.ids);
	if (rc == 0)
		rc = drop_orphans(h);
	return rc;
}

int host_open(const struct host_config *cfg, struct host **out)
{
	if (!cfg || cfg->node_id == 0 || !cfg->data_dir || !cfg->fs || !cfg->send_frame ||
	    cfg->heartbeat_ticks == 0 || cfg->election_ticks <= 2 * cfg->heartbeat_ticks ||
	    cfg->groups_max == 0 || cfg->raft_cache_entries == 0 || cfg->core_id < 0)
		return ERR_INVAL;
	struct host *h = calloc(1, sizeof *h);
	if (!h)
		return ERR_NOMEM;
	int rc;
	h->cfg = *cfg;
	h->fs = cfg->fs;
	if (snprintf(h->data_dir, sizeof h->data_dir, "%s", cfg->data_dir) >= (int)sizeof h->data_dir ||
	    snprintf(h->tables_dir, sizeof h->tables_dir, "%s/tables", cfg->data_dir) >= (int)sizeof h->tables_dir ||
	    snprintf(h->log_dir, sizeof h->log_dir, "%s/raftlog/core-%d", cfg->data_dir, cfg->core_id) >=
		    (int)sizeof h->log_dir) {
		rc = ERR_TOOBIG;
		goto err;
	}
	h->cfg.data_dir = h->data_dir;
	arena_init(&h->step_arena, 1u << 20, LIMIT_ENGINE_STEP_ARENA_BYTES);
	arena_init(&h->decode_arena, 64u << 10, LIMIT_REQUEST_ARENA_BYTES);
	rc = io_fs_mkdir_all(h->fs, h->tables_dir);
	if (rc == 0)
		rc = io_fs_mkdir_all(h->fs, h->log_dir);
	if (rc == 0)
		rc = lsm_cache_new(cfg->lsm_cache_bytes, &h->cache);
	if (rc == 0)
		rc = lsm_bg_new(&h->bg);
	if (rc)
		goto err;
	lsm_options_default(&h->lsm);
	h->lsm.fs = h->fs;
	h->lsm.cache = h->cache;
	h->lsm.bg = h->bg;
	h->lsm.durability = LSM_DURABILITY_APPLIED_INDEX;
	h->lsm.memtable_bytes = cfg->memtable_bytes;
	struct raftlog_config lc = {.fs = h->fs,
				    .dir = h->log_dir,
				    .core_id = cfg->core_id,
				    .on_durable = host__on_durable,
				    .on_fatal = host__on_fatal,
				    .ctx = h};
	rc = raftlog_open(&lc, &h->log);
	if (rc) {
		LOG_ERROR("engine core %d: cannot open the raft log in %s: %s (%s)", cfg->core_id, h->log_dir,
			  err_str(rc), raftlog_open_error());
		h->log = NULL;
		goto err;
	}
	struct raft_multi_config mc;
	host__raft_setup(h, &mc);
	rc = raft_multi_init(&h->multi, &mc);
	if (rc)
		goto err;
	h->multi_live = 1;
	rc = host__pending_init(h);
	if (rc == 0)
		rc = open_replicas(h);
	if (rc == 0 && raftlog_busy(h->log))
		rc = raftlog_flush(h->log); /* repairs and drops made at open */
	if (rc)
		goto err;
	*out = h;
	return 0;
err:
	host_crash(h);
	return rc;
}

static void host_free(struct host *h, int flush)
{
	for (size_t i = h->n_reps; i-- > 0;)
		replica_free(h, h->reps[i], flush);
	h->n_reps = 0;
	if (h->multi_live)
		raft_multi_deinit(&h->multi);
	if (h->log)
		raftlog_close(h->log);
	if (h->bg)
		lsm_bg_free(h->bg);
	if (h->cache)
		lsm_cache_free(h->cache);
	host__pending_deinit(h);
	arena_deinit(&h->step_arena);
	arena_deinit(&h->decode_arena);
	free(h->reps);
	free(h->active);
	free(h->scratch);
	free(h->conv);
	free(h);
}

void host_close(struct host *h)
{
	if (!h)
		return;
	ASSERT(h->depth == 0);
	host__drop_changes(h); /* a closing node creates no more replicas */
	host__enter(h);
	host__fail_all(h, ERR_STOPPED);
	host__leave(h); /* callbacks run */
	if (h->detach)
		h->detach(h);
	if (!h->fatal && raftlog_busy(h->log) && raftlog_flush(h->log) != 0)
		LOG_ERROR("engine core %d: final raft log flush failed", h->cfg.core_id);
	host_free(h, !h->fatal);
}

void host_crash(struct host *h)
{
	if (!h)
		return;
	host__drop_callbacks(h);
	if (h->detach)
		h->detach(h);
	host_free(h, 0);
}

/* ---- tables -------------------------------------------------------------------------------- */

int host_table_create(struct host *h, uint64_t table_id, const uint64_t *voters, uint32_t n_voters)
{
	if (h->fatal)
		return h->fatal;
	if (table_id == 0 || n_voters == 0 || n_voters > LIMIT_RAFT_VOTERS_MAX || !voters)
		return ERR_INVAL;
	struct raft_conf conf;
	memset(&conf, 0, sizeof conf);
	int self = 0;
	for (uint32_t i = 0; i < n_voters; i++) {
		if (voters[i] == 0 || raft_conf_is_voter(&conf, voters[i]))
			return ERR_INVAL;
		conf.voters[conf.n_voters++] = voters[i];
		self |= voters[i] == h->cfg.node_id;
	}
	if (!self)
		return ERR_INVAL;
	if (host__find(h, table_id))
		return ERR_EXISTS;
	if (h->n_reps >= h->cfg.groups_max)
		return ERR_NOMEM;
	struct replica *rep = replica_new(h, table_id);
	if (!rep)
		return ERR_NOMEM;
	struct replica_meta old;
	int rc = replica_meta_read(h->fs, rep->dir, &old);
	if (rc == 0) {
		free(rep); /* another core's replica of this id: a placement mistake above us */
		return ERR_EXISTS;
	}
	rc = io_fs_remove_all(h->fs, rep->dir); /* leftovers of an unfinished create */
	if (rc && rc != ERR_NOTFOUND)
		goto err;
	struct raftlog_group_info gi;
	if (raftlog_group_info(h->log, table_id, &gi) == 0 && (rc = raftlog_drop_group(h->log, table_id)) != 0)
		goto err;
	rc = io_fs_mkdir_all(h->fs, rep->dir);
	if (rc)
		goto err;
	rep->meta.core_id = (uint32_t)h->cfg.core_id;
	rep->meta.data_gen = 0;
	rep->meta.flags = rep->is_meta ? REPLICA_META_F_META_GROUP : 0;
	rep->meta.group_id = table_id;
	rep->meta.snap.conf = conf;
	rc = replica_sm_open(rep, &h->lsm);
	if (rc == 0)
		rc = replica_meta_write(h->fs, rep->dir, &rep->meta); /* the commit point */
	if (rc == 0) {
		host__enter(h); /* starting Raft steps the group: callbacks run on the way out */
		rc = host__raft_start(h, rep);
		if (rc == 0)
			rc = map_insert(h, rep);
		host__leave(h);
	}
	if (rc)
		goto err;
	return 0;
err:
	LOG_ERROR("engine: creating table %" PRIu64 " in %s: %s", table_id, rep->dir, err_str(rc));
	char dir[LIMIT_PATH_BYTES];
	snprintf(dir, sizeof dir, "%s", rep->dir);
	replica_free(h, rep, 0);
	if (io_fs_remove_all(h->fs, dir) != 0)
		LOG_WARN("engine: could not remove %s", dir);
	return rc;
}

int host_table_remove(struct host *h, uint64_t table_id)
{
	struct replica *rep = host__find(h, table_id);
	if (!rep)
		return ERR_NOTFOUND;
	host__enter(h);
	host__fail_replica(h, rep, ERR_STOPPED);
	map_remove(h, rep);
	char dir[LIMIT_PATH_BYTES], meta[LIMIT_PATH_BYTES];
	snprintf(dir, sizeof dir, "%s", rep->dir);
	replica_free(h, rep, 0);
	int rc = 0;
	if (snprintf(meta, sizeof meta, "%s/REPLICA", dir) < (int)sizeof meta) {
		/* the commit point: without REPLICA the directory is garbage after a crash */
		rc = io_fs_unlink(h->fs, meta);
		if (rc == 0 || rc == ERR_NOTFOUND)
			rc = io_fs_sync_dir(h->fs, dir);
	}
	if (!h->fatal) {
		int lrc = raftlog_drop_group(h->log, table_id);
		if (lrc && lrc != ERR_NOTFOUND && rc == 0)
			rc = lrc;
	}
	int drc = io_fs_remove_all(h->fs, dir);
	if (drc == 0)
		drc = io_fs_sync_dir(h->fs, h->tables_dir);
	if (drc && drc != ERR_NOTFOUND && rc == 0)
		rc = drc;
	host__leave(h);
	return rc;
}

struct replica *host_table_find(struct host *h, uint64_t table_id) { return host__find(h, table_id); }

int host_table_foreach(struct host *h, int (*fn)(void *ctx, uint64_t table_id), void *ctx)
{
	for (size_t i = 0; i < h->n_reps; i++) {
		int rc = fn(ctx, h->reps[i]->id);
		if (rc)
			return rc;
	}
	return 0;
}

struct kv_store *replica_store(struct replica *r) { return r->error ? NULL : r->kv; }
struct catalog *replica_catalog(struct replica *r) { return r->error ? NULL : r->cat; }

/* ---- management ----------------------------------------------------------------------------- */

static int step_simple(struct host *h, uint64_t table_id, const struct raft_event *ev)
{
	if (h->fatal)
		return h->fatal;
	struct replica *rep = host__find(h, table_id);
	if (!rep)
		return ERR_NOTFOUND;
	if (rep->error || !rep->raft_live)
		return ERR_STOPPED;
	host__enter(h);
	int rc = raft_multi_step(&h->multi, table_id, ev);
	host__leave(h);
	return rc;
}

int host_transfer_leader(struct host *h, uint64_t table_id, uint64_t to_node)
{
	struct raft_event ev = {.type = RAFT_EVENT_TRANSFER, .transfer_to = to_node};
	return step_simple(h, table_id, &ev);
}

int host_campaign(struct host *h, uint64_t table_id)
{
	struct raft_event ev = {.type = RAFT_EVENT_CAMPAIGN};
	return step_simple(h, table_id, &ev);
}

int host_set_external_floor(struct host *h, uint64_t table_id, uint64_t index)
{
	struct replica *rep = host__find(h, table_id);
	if (!rep)
		return ERR_NOTFOUND;
	rep->external_floor = index;
	host__enter(h);
	host__set_floor(h, rep);
	host__leave(h);
	return 0;
}

int host_table_status(struct host *h, uint64_t table_id, struct host_table_status *out)
{
	struct replica *rep = host__find(h, table_id);
	if (!rep)
		return ERR_NOTFOUND;
	memset(out, 0, sizeof *out);
	out->table_id = table_id;
	out->error = rep->error;
	out->applied = rep->applied;
	out->log_bytes = rep->log_bytes;
	out->snapshot_index = rep->meta.snap.index;
	if (rep->raft_live) {
		struct raft_status s;
		raft_status_get(&rep->raft, &s);
		out->role = s.role;
		out->leader = s.leader;
		out->term = s.term;
		out->commit = s.commit;
		out->first_index = s.first_index;
		out->last_index = s.last_index;
		out->quiesced = s.quiesced;
	}
	if (rep->kv || rep->cat) {
		struct lsm_stats ls;
		lsm_tree_stats(replica_sm_tree(rep), &ls);
		out->lsm_bytes = ls.table_bytes + ls.memtable_bytes;
		out->durable_applied = ls.durable_applied_index;
		out->revision = replica_sm_revision(rep);
	}
	return 0;
}

void host_stats(struct host *h, struct host_stats *out)
{
	*out = h->stats;
	out->frames_sent = h->multi.stats.frames_sent;
	out->frames_received = h->multi.stats.frames_received;
	out->msgs_sent = h->multi.stats.msgs_sent;
	out->msgs_received = h->multi.stats.msgs_received;
	out->groups = h->multi.n_groups;
	out->groups_quiesced = raft_multi_quiesced(&h->multi);
	out->raft_mem_bytes = h->mem_used;
	out->fatal = h->fatal;
}

void host_log_stats(struct host *h, struct raftlog_stats *out)
{
	ASSERT(h != NULL && out != NULL);
	if (h->log)
		raftlog_stats(h->log, out);
	else
		memset(out, 0, sizeof *out);
}

/* ---- time, frames, turns ------------------------------------------------------------------ */

/* The core's trees share one memtable budget (the idea of RocksDB's write-buffer manager):
 * memory grows with the data written recently, not with the number of tables. Every 10 ticks,
 * if the active memtables together exceed the budget, the largest one is flushed (in the
 * background; flushing it also lets the Raft log free what it covered). */
static void memtable_budget(struct host *h)
{
	if (!h->cfg.memtable_budget_bytes || ++h->budget_ticks < 10)
		return;
	h->budget_ticks = 0;
	uint64_t total = 0, biggest = 0;
	struct lsm_tree *victim = NULL;
	for (size_t i = 0; i < h->n_reps; i++) {
		struct replica *rep = h->reps[i];
		if (rep->error)
			continue;
		struct lsm_tree *t = rep->kv ? kv_store_tree(rep->kv) : rep->cat ? catalog_tree(rep->cat) : NULL;
		if (!t)
			continue;
		struct lsm_stats st;
		lsm_tree_stats(t, &st);
		total += st.memtable_bytes;
		if (st.memtable_bytes > biggest) {
			biggest = st.memtable_bytes;
			victim = t;
		}
	}
	if (total > h->cfg.memtable_budget_bytes && victim && lsm_tree_flush(victim, 0) != 0)
		LOG_WARN("engine: core %d: flushing a memtable over the budget failed", h->cfg.core_id);
}

void host_tick(struct host *h, uint64_t now_ns)
{
	if (now_ns > h->now_ns)
		h->now_ns = now_ns;
	if (h->fatal)
		return;
	host__enter(h);
	raft_multi_tick(&h->multi);
	host__expire(h);
	memtable_budget(h);
	host__leave(h);
}

int host_receive_frame(struct host *h, const uint8_t *frame, size_t len)
{
	if (h->fatal)
		return h->fatal;
	host__enter(h);
	int rc = raft_multi_receive(&h->multi, frame, len);
	host__leave(h);
	return rc;
}

void host__turn_work(struct host *h, int sync)
{
	for (uint32_t round = 0; round < LIMIT_ENGINE_TURN_ROUNDS && !h->fatal; round++) {
		int moved = 0;
		for (size_t i = 0; i < h->n_active && !h->fatal; i++)
			moved |= host__persist_progress(h, h->active[i]);
		if (sync && !h->fatal && raftlog_busy(h->log)) {
			int rc = raftlog_flush(h->log);
			if (rc) {
				host__fatal(h, rc, "raft log group commit");
				break;
			}
			moved = 1;
		}
		if (!moved || !sync)
			break;
	}
	int snapshots = 0;
	for (size_t i = 0; i < h->n_active && !h->fatal; i++) {
		struct replica *rep = h->active[i];
		if (rep->error) {
			host__raft_stop(h, rep);
			continue;
		}
		if (rep->need_flush && rep->raft_live) {
			rep->need_flush = 0;
			struct raft_event ev = {.type = RAFT_EVENT_FLUSH};
			int rc = raft_multi_step(&h->multi, rep->id, &ev);
			ASSERT(rc == 0);
			host__set_floor(h, rep);
		}
		if (rep->want_snapshot && snapshots == 0) {
			snapshots++; /* a checkpoint flushes a memtable: one per turn keeps turns short */
			host__snapshot_take(h, rep);
		}
	}
	/* keep only the replicas that still need a turn */
	size_t w = 0;
	for (size_t i = 0; i < h->n_active; i++) {
		struct replica *rep = h->active[i];
		if (host__needs_turn(rep))
			h->active[w++] = rep;
		else
			rep->in_active = 0;
	}
	h->n_active = w;
	if (h->multi_live)
		raft_multi_flush(&h->multi);
}

int host_log_busy(const struct host *h) { return h->log && raftlog_busy(h->log); }

int host_turn(struct host *h)
{
	if (h->fatal)
		return h->fatal;
	host__enter(h);
	host__turn_work(h, h->reactor == NULL);
	host__leave(h);
	return h->fatal;
}
