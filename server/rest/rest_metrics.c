/*
 * rest_metrics.c — health verdicts and the Prometheus rendering of a node snapshot (see
 * rest_metrics.h).
 *
 * Families: per core (label core="i"): engine, Raft, Raft log, reactor and transport counters;
 * per replica (labels table, id, core): Raft position, sizes, leadership; per node: info, the
 * REST server's own counters; per process: the usual process_* names Prometheus clients use.
 * Counters end in _total; every family is written once with all its samples together.
 */
#include "server/rest/rest_metrics.h"

#include "core/assert.h"
#include "raft/raft.h"
#include "server/rest/rest_prom.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names and codes ---------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	const struct rest_name *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int table_cmp(const void *a, const void *b)
{
	const struct rest_table_sample *x = a, *y = b;
	return x->st.table_id < y->st.table_id ? -1 : x->st.table_id > y->st.table_id;
}

void rest_snapshot_sort(struct rest_snapshot *s)
{
	ASSERT(s->n_tables <= s->cap_tables);
	if (s->n_tables > 1)
		qsort(s->tables, s->n_tables, sizeof *s->tables, table_cmp);
}

void rest_names_sort(struct rest_name *names, size_t n)
{
	if (n > 1)
		qsort(names, n, sizeof *names, name_cmp);
}

const char *rest_name_find(const struct rest_name *names, size_t n, uint64_t id)
{
	if (id == HOST_META_GROUP_ID)
		return "_meta";
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (names[mid].id == id)
			return names[mid].name;
		if (names[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const int code_of_slot[REST_CODES] = {200, 400, 404, 405, 413, 414, 431, 500, 503, 505, 0};

int rest_code_slot(int status)
{
	for (int i = 0; i < REST_CODE_OTHER; i++)
		if (code_of_slot[i] == status)
			return i;
	return REST_CODE_OTHER;
}

int rest_code_of_slot(int slot)
{
	ASSERT(slot >= 0 && slot < REST_CODES);
	return code_of_slot[slot];
}

/* ---- health ------------------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static int unhealthy(char *reason, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, cap, fmt, ap);
	va_end(ap);
	return 503;
}

int rest_health(const struct rest_snapshot *s, char *reason, size_t cap)
{
	ASSERT(s != NULL && reason != NULL && cap > 0);
	ASSERT(s->cores >= 1 && s->cores <= LIMIT_CORES_MAX);
	if (s->node_stopping)
		return unhealthy(reason, cap, "shutting down");
	for (int c = 0; c < s->cores; c++) {
		const struct rest_core_sample *cs = &s->core[c];
		if (!cs->answered)
			return unhealthy(reason, cap, "core %d did not answer", c);
		if (cs->stopping)
			return unhealthy(reason, cap, "core %d is shutting down", c);
		if (!cs->engine)
			return unhealthy(reason, cap, "core %d has no engine", c);
		if (cs->host.fatal)
			return unhealthy(reason, cap, "core %d: its Raft log failed", c);
	}
	if (!s->meta_seen)
		return unhealthy(reason, cap, "the metadata group is not hosted on core 0");
	if (s->meta.error)
		return unhealthy(reason, cap, "the metadata replica failed: %s", err_str(s->meta.error));
	if (s->meta.leader == 0)
		return unhealthy(reason, cap, "the metadata group has no leader");
	const struct rest_core_sample *meta_core = &s->core[0];
	uint32_t need = s->voters / 2; /* peers that make a majority with this node */
	if (s->voters > 1 && meta_core->peers_connected < need)
		return unhealthy(reason, cap, "this node reaches %u of its %u peers: no majority", meta_core->peers_connected,
				 s->voters - 1);
	snprintf(reason, cap, "ok");
	return 200;
}

int rest_ready(const struct rest_snapshot *s, const struct rest_name *names, size_t n_names, char *reason,
	       size_t cap)
{
	int code = rest_health(s, reason, cap);
	if (code != 200)
		return code;
	if (s->tables_missed)
		return unhealthy(reason, cap, "%llu replicas could not be checked", (unsigned long long)s->tables_missed);
	for (size_t i = 0; i < s->n_tables; i++) {
		const struct host_table_status *st = &s->tables[i].st;
		const char *name = rest_name_find(names, n_names, st->table_id);
		if (!name)
			continue; /* being created or removed */
		if (st->error)
			return unhealthy(reason, cap, "table %s: its replica failed: %s", name, err_str(st->error));
		if (st->leader == 0)
			return unhealthy(reason, cap, "table %s has no leader", name);
	}
	/* Every table of the catalogue has a replica here (a new node or table catches up). Both
	 * lists are sorted by id: one merge pass. */
	size_t i = 0;
	for (size_t k = 0; k < n_names; k++) {
		while (i < s->n_tables && s->tables[i].st.table_id < names[k].id)
			i++;
		if (i == s->n_tables || s->tables[i].st.table_id != names[k].id)
			return unhealthy(reason, cap, "table %s has no replica on this node yet", names[k].name);
	}
	snprintf(reason, cap, "ok");
	return 200;
}

/* ---- rendering ---------------------------------------------------------------------------- */

enum field_kind { F_U64, F_U32, F_INT };

struct core_field {
	const char *name, *type, *help;
	size_t off;
	enum field_kind kind;
	int needs_engine; /* host/log stats: only from cores with an engine */
};

#define CF(n, t, h, member, k, e) {n, t, h, offsetof(struct rest_core_sample, member), k, e}

static const struct core_field core_fields[] = {
	CF("regatta_proposals_total", "counter", "Proposals accepted by the engine on this core.", host.proposals, F_U64, 1),
	CF("regatta_proposals_ok_total", "counter", "Proposals committed and applied.", host.proposals_ok, F_U64, 1),
	CF("regatta_proposals_failed_total", "counter", "Proposals that failed (leader change, deadline, invalid).",
	   host.proposals_failed, F_U64, 1),
	CF("regatta_reads_total", "counter", "Reads accepted by the engine on this core.", host.reads, F_U64, 1),
	CF("regatta_reads_ok_total", "counter", "Reads served.", host.reads_ok, F_U64, 1),
	CF("regatta_reads_failed_total", "counter", "Reads that failed.", host.reads_failed, F_U64, 1),
	CF("regatta_raft_entries_applied_total", "counter", "Raft entries applied to state machines.",
	   host.entries_applied, F_U64, 1),
	CF("regatta_raft_snapshots_taken_total", "counter", "Snapshots taken.", host.snapshots_taken, F_U64, 1),
	CF("regatta_raft_snapshots_installed_total", "counter", "Snapshots received and installed.",
	   host.snapshots_installed, F_U64, 1),
	CF("regatta_raft_snapshot_sent_bytes_total", "counter", "Snapshot bytes sent to peers.",
	   host.snapshot_bytes_sent, F_U64, 1),
	CF("regatta_raft_persist_backlogged_total", "counter", "Raft updates that waited for room in the log batch.",
	   host.persist_backlogged, F_U64, 1),
	CF("regatta_raft_frames_sent_total", "counter", "Raft frames (batched messages) sent to peer nodes.",
	   host.frames_sent, F_U64, 1),
	CF("regatta_raft_frames_received_total", "counter", "Raft frames received from peer nodes.",
	   host.frames_received, F_U64, 1),
	CF("regatta_raft_messages_sent_total", "counter", "Raft messages sent (inside frames).", host.msgs_sent, F_U64, 1),
	CF("regatta_raft_messages_received_total", "counter", "Raft messages received.", host.msgs_received, F_U64, 1),
	CF("regatta_raft_groups", "gauge", "Raft groups (replicas) on this core.", host.groups, F_U32, 1),
	CF("regatta_raft_groups_quiesced", "gauge", "Idle Raft groups that stopped heartbeating.", host.groups_quiesced,
	   F_U32, 1),
	CF("regatta_raft_memory_bytes", "gauge", "Bytes in the core's Raft payload pool.", host.raft_mem_bytes, F_U64, 1),
	CF("regatta_engine_failed", "gauge", "1 when the core's Raft log failed for good.", host.fatal, F_INT, 1),
	CF("regatta_raftlog_fdatasyncs_total", "counter", "fdatasync calls of the core's Raft log (one per group commit).",
	   log.syncs, F_U64, 1),
	CF("regatta_raftlog_batches_total", "counter", "Raft log write batches made durable.", log.batches, F_U64, 1),
	CF("regatta_raftlog_entries_written_total", "counter", "Raft log entry records made durable.",
	   log.entries_written, F_U64, 1),
	CF("regatta_raftlog_bytes_written_total", "counter", "Raft log record bytes made durable.", log.bytes_written,
	   F_U64, 1),
	CF("regatta_raftlog_segments", "gauge", "Live Raft log segment files.", log.segments, F_U64, 1),
	CF("regatta_raftlog_segments_deleted_total", "counter", "Raft log segments deleted by retention.",
	   log.segments_deleted, F_U64, 1),
	CF("regatta_raftlog_disk_reads_total", "counter", "Raft log entry reads served from segment files.",
	   log.disk_reads, F_U64, 1),
	CF("regatta_reactor_turns_total", "counter", "Event loop turns.", reactor.turns, F_U64, 0),
	CF("regatta_reactor_callbacks_total", "counter", "Completion callbacks run.", reactor.callbacks, F_U64, 0),
	CF("regatta_reactor_max_callbacks_per_turn", "gauge", "Most callbacks run in one turn.",
	   reactor.max_callbacks_in_turn, F_U64, 0),
	CF("regatta_reactor_inflight_ops", "gauge", "I/O operations submitted and not completed.", reactor.inflight,
	   F_U64, 0),
	CF("regatta_raft_peer_streams", "gauge", "Raft transport streams to other nodes.", peers, F_U32, 0),
	CF("regatta_raft_peer_streams_connected", "gauge", "Raft transport streams currently connected.",
	   peers_connected, F_U32, 0),
	CF("regatta_raft_peer_frames_sent_total", "counter", "Raft frames handed to the transport.", peer_frames_sent,
	   F_U64, 0),
	CF("regatta_raft_peer_frames_dropped_total", "counter", "Raft frames dropped (peer unreachable or slow).",
	   peer_frames_dropped, F_U64, 0),
};

static uint64_t field_get(const struct rest_core_sample *cs, const struct core_field *f)
{
	const char *base = (const char *)cs + f->off;
	switch (f->kind) {
	case F_U64: {
		uint64_t v;
		memcpy(&v, base, sizeof v);
		return v;
	}
	case F_U32: {
		uint32_t v;
		memcpy(&v, base, sizeof v);
		return v;
	}
	case F_INT: {
		int v;
		memcpy(&v, base, sizeof v);
		return v != 0;
	}
	}
	UNREACHABLE();
	return 0;
}

static void core_label(struct prom_labels *l, int core)
{
	prom_labels_init(l);
	prom_labels_add_u64(l, "core", (uint64_t)core);
}

static void render_cores(struct prom *p, const struct rest_snapshot *s)
{
	struct prom_labels l;
	prom_family(p, "regatta_core_up", "gauge", "1 when the core answered and is not shutting down.");
	for (int c = 0; c < s->cores; c++) {
		core_label(&l, c);
		prom_u64(p, "regatta_core_up", &l, s->core[c].answered && !s->core[c].stopping);
	}
	for (size_t i = 0; i < sizeof core_fields / sizeof core_fields[0]; i++) {
		const struct core_field *f = &core_fields[i];
		prom_family(p, f->name, f->type, f->help);
		for (int c = 0; c < s->cores; c++) {
			const struct rest_core_sample *cs = &s->core[c];
			if (!cs->answered || (f->needs_engine && !cs->engine))
				continue;
			core_label(&l, c);
			prom_u64(p, f->name, &l, field_get(cs, f));
		}
	}
	prom_family(p, "regatta_reactor_backend_info", "gauge", "The I/O backend of the core's event loop.");
	for (int c = 0; c < s->cores; c++) {
		if (!s->core[c].answered || !s->core[c].backend)
			continue;
		core_label(&l, c);
		prom_labels_add(&l, "backend", s->core[c].backend);
		prom_u64(p, "regatta_reactor_backend_info", &l, 1);
	}
	prom_family(p, "regatta_grpc_connections", "gauge", "Open gRPC connections accepted on the core, per port.");
	for (int c = 0; c < s->cores; c++) {
		if (!s->core[c].answered)
			continue;
		core_label(&l, c);
		prom_labels_add(&l, "port", "api");
		prom_u64(p, "regatta_grpc_connections", &l, s->core[c].api_conns);
		core_label(&l, c);
		prom_labels_add(&l, "port", "raft");
		prom_u64(p, "regatta_grpc_connections", &l, s->core[c].raft_conns);
	}
}

enum table_field {
	T_LEADER_ID, T_IS_LEADER, T_TERM, T_COMMIT, T_APPLIED, T_LAST, T_SNAPSHOT, T_LOG_BYTES, T_LSM_BYTES,
	T_QUIESCED, T_FAILED, T_REVISION, T_FIELDS
};

static const struct {
	const char *name, *type, *help;
} table_fields[T_FIELDS] = {
	[T_LEADER_ID] = {"regatta_table_leader_id", "gauge", "Node id of the table's Raft leader as known here (0: none)."},
	[T_IS_LEADER] = {"regatta_table_is_leader", "gauge", "1 when this node leads the table's Raft group."},
	[T_TERM] = {"regatta_table_raft_term", "gauge", "Raft term of the table's group."},
	[T_COMMIT] = {"regatta_table_commit_index", "gauge", "Raft commit index known here."},
	[T_APPLIED] = {"regatta_table_applied_index", "gauge", "Raft index applied to the table's state here."},
	[T_LAST] = {"regatta_table_last_index", "gauge", "Last Raft log index of the replica."},
	[T_SNAPSHOT] = {"regatta_table_snapshot_index", "gauge", "Index of the replica's latest snapshot."},
	[T_LOG_BYTES] = {"regatta_table_log_bytes", "gauge", "Raft log entry bytes since the last snapshot."},
	[T_LSM_BYTES] = {"regatta_table_lsm_bytes", "gauge", "Bytes of the table's LSM tree (tables + memtable)."},
	[T_QUIESCED] = {"regatta_table_quiesced", "gauge", "1 when the table's Raft group is idle (quiesced)."},
	[T_FAILED] = {"regatta_table_failed", "gauge", "1 when the replica failed (its state machine stopped)."},
	[T_REVISION] = {"regatta_table_revision", "gauge", "Revision of the table's state here."},
};

static uint64_t table_value(const struct host_table_status *st, int f)
{
	switch (f) {
	case T_LEADER_ID: return st->leader;
	case T_IS_LEADER: return st->role == RAFT_LEADER;
	case T_TERM: return st->term;
	case T_COMMIT: return st->commit;
	case T_APPLIED: return st->applied;
	case T_LAST: return st->last_index;
	case T_SNAPSHOT: return st->snapshot_index;
	case T_LOG_BYTES: return st->log_bytes;
	case T_LSM_BYTES: return st->lsm_bytes;
	case T_QUIESCED: return st->quiesced != 0;
	case T_FAILED: return st->error != 0;
	case T_REVISION: return st->revision > 0 ? (uint64_t)st->revision : 0;
	}
	UNREACHABLE();
	return 0;
}

static void render_tables(struct prom *p, const struct rest_snapshot *s, const struct rest_name *names,
			  size_t n_names)
{
	struct prom_labels l;
	for (int f = 0; f < T_FIELDS; f++) {
		prom_family(p, table_fields[f].name, table_fields[f].type, table_fields[f].help);
		for (size_t i = 0; i < s->n_tables; i++) {
			const struct rest_table_sample *t = &s->tables[i];
			const char *name = rest_name_find(names, n_names, t->st.table_id);
			if (!name)
				continue;
			prom_labels_init(&l);
			prom_labels_add(&l, "table", name);
			prom_labels_add_u64(&l, "id", t->st.table_id);
			prom_labels_add_u64(&l, "core", (uint64_t)t->core);
			prom_u64(p, table_fields[f].name, &l, table_value(&t->st, f));
		}
	}
	prom_family(p, "regatta_tables", "gauge", "Tables in this node's catalogue.");
	prom_u64(p, "regatta_tables", NULL, n_names);
	prom_family(p, "regatta_metrics_replicas_missed", "gauge",
		    "Replicas left out of this scrape (more than the catalogue had when it began).");
	prom_u64(p, "regatta_metrics_replicas_missed", NULL, s->tables_missed);
}

static void render_node(struct prom *p, const struct rest_snapshot *s, const char *version)
{
	struct prom_labels l;
	prom_family(p, "regatta_node_info", "gauge", "This node: its id, version and core count.");
	prom_labels_init(&l);
	prom_labels_add_u64(&l, "node_id", s->node_id);
	prom_labels_add(&l, "version", version ? version : "");
	prom_labels_add_u64(&l, "cores", (uint64_t)s->cores);
	prom_u64(p, "regatta_node_info", &l, 1);
	prom_family(p, "regatta_rest_requests_total", "counter", "REST requests answered, by status code.");
	for (int i = 0; i < REST_CODES; i++) {
		prom_labels_init(&l);
		if (rest_code_of_slot(i))
			prom_labels_add_u64(&l, "code", (uint64_t)rest_code_of_slot(i));
		else
			prom_labels_add(&l, "code", "other");
		prom_u64(p, "regatta_rest_requests_total", &l, s->self.requests[i]);
	}
	prom_family(p, "regatta_rest_connections", "gauge", "Open REST connections.");
	prom_u64(p, "regatta_rest_connections", NULL, s->self.conns);
	prom_family(p, "regatta_rest_connections_accepted_total", "counter", "REST connections accepted.");
	prom_u64(p, "regatta_rest_connections_accepted_total", NULL, s->self.conns_accepted);
	prom_family(p, "regatta_rest_connections_refused_total", "counter",
		    "REST connections closed at once (connection limit).");
	prom_u64(p, "regatta_rest_connections_refused_total", NULL, s->self.conns_refused);
}

static void render_process(struct prom *p, const struct rest_proc *pr)
{
	if (!pr->ok)
		return;
	prom_family(p, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
	prom_f64(p, "process_cpu_seconds_total", NULL, pr->cpu_seconds);
	prom_family(p, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	prom_u64(p, "process_resident_memory_bytes", NULL, pr->resident_bytes);
	prom_family(p, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
	prom_u64(p, "process_virtual_memory_bytes", NULL, pr->virtual_bytes);
	prom_family(p, "process_open_fds", "gauge", "Number of open file descriptors.");
	prom_u64(p, "process_open_fds", NULL, pr->open_fds);
	prom_family(p, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
	prom_u64(p, "process_max_fds", NULL, pr->max_fds);
	prom_family(p, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
	prom_f64(p, "process_start_time_seconds", NULL, pr->start_time_seconds);
}

int rest_metrics_render(const struct rest_snapshot *s, const struct rest_name *names, size_t n_names,
			const char *version, struct net_buf *out)
{
	ASSERT(s != NULL && out != NULL);
	ASSERT(s->cores >= 1 && s->cores <= LIMIT_CORES_MAX);
	ASSERT(s->n_tables <= s->cap_tables);
	struct prom p;
	prom_init(&p, out, LIMIT_REST_RESPONSE_BYTES);
	render_node(&p, s, version);
	render_cores(&p, s);
	render_tables(&p, s, names, n_names);
	render_process(&p, &s->proc);
	return prom_error(&p);
}
