/*
 * node.c — start a leader-cluster node: data directory checks, the runtime's cores, each core's
 * engine + API + Raft transport, the tick, the catalogue's distribution to the cores, shutdown.
 */
#include "server/node/node.h"
#include "server/node/node_impl.h"
#include "core/assert.h"
#include "core/clock.h"
#include "core/io_fs.h"
#include "core/log.h"
#include "core/prng.h"
#include "proto/internal/v1/internal.pb-c.h"
#include "server/rest/rest.h"
#include "server/version.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- table maps ------------------------------------------------------------------------------ */

const struct table_ref *table_map_find(const struct table_map *m, const uint8_t *name, size_t len)
{
	for (size_t i = 0; i < m->n; i++)
		if (strlen(m->v[i].name) == len && memcmp(m->v[i].name, name, len) == 0)
			return &m->v[i];
	return NULL;
}

int table_map_put(struct table_map *m, const char *name, uint64_t id)
{
	size_t nl = strlen(name);
	ASSERT(nl <= LIMIT_TABLE_NAME_BYTES);
	for (size_t i = 0; i < m->n; i++) {
		if (!strcmp(m->v[i].name, name)) {
			m->v[i].id = id;
			return 0;
		}
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct table_ref *v = realloc(m->v, cap * sizeof *v);
		if (!v)
			return ERR_NOMEM;
		m->v = v;
		m->cap = cap;
	}
	memcpy(m->v[m->n].name, name, nl + 1);
	m->v[m->n].id = id;
	m->n++;
	return 0;
}

void table_map_del(struct table_map *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++) {
		if (!strcmp(m->v[i].name, name)) {
			m->v[i] = m->v[--m->n];
			return;
		}
	}
}

/* ---- cores and mailboxes --------------------------------------------------------------------- */

struct core_ctx *node_core_self(struct node *n)
{
	int c = runtime_current_core();
	ASSERT(c >= 0 && c < n->cores);
	return n->core[c];
}

int node_owner_core(const struct node *n, uint64_t table_id)
{
	if (table_id == HOST_META_GROUP_ID)
		return 0;
	return (int)(table_id % (uint64_t)n->cores);
}

struct post {
	struct node *n;
	node_msg_fn fn;
	void *arg;
};

static void post_run(struct runtime *rt, int core, void *arg)
{
	struct post *p = arg;
	struct core_ctx *cc = p->n->core[core];
	node_msg_fn fn = p->fn;
	void *a = p->arg;
	free(p);
	fn(cc, a);
}

int node_post(struct node *n, int core, node_msg_fn fn, void *arg)
{
	ASSERT(core >= 0 && core < n->cores);
	if (runtime_current_core() == core) {
		fn(n->core[core], arg);
		return 0;
	}
	struct post *p = malloc(sizeof *p);
	if (!p)
		return ERR_NOMEM;
	*p = (struct post){.n = n, .fn = fn, .arg = arg};
	int rc = runtime_post(n->rt, core, post_run, p);
	if (rc)
		free(p);
	return rc;
}

/* Post, retrying briefly when the destination's mailbox is full (catalogue changes must not
 * be lost: they are rare, so a short spin is acceptable). */
static void node_post_must(struct node *n, int core, node_msg_fn fn, void *arg)
{
	for (int attempt = 0;; attempt++) {
		int rc = node_post(n, core, fn, arg);
		if (rc == 0)
			return;
		if (rc == ERR_STOPPED) {
			free(arg);
			return;
		}
		if (attempt > 100000) {
			LOG_ERROR("core %d mailbox stays full; dropping a catalogue update", core);
			free(arg);
			return;
		}
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
}

/* ---- catalogue distribution ------------------------------------------------------------------ */

struct table_msg {
	uint64_t id;
	char name[LIMIT_TABLE_NAME_BYTES + 1];
	int created;
};

static void table_msg_run(struct core_ctx *cc, void *arg)
{
	struct table_msg *m = arg;
	struct node *n = cc->node;
	int owner = node_owner_core(n, m->id);
	if (m->created) {
		if (table_map_put(&cc->tables, m->name, m->id))
			LOG_ERROR("table %s: out of memory in the table map", m->name);
		if (owner == cc->core && !host_table_find(cc->host, m->id)) {
			int rc = host_table_create(cc->host, m->id, n->voters, n->n_voters);
			if (rc && rc != ERR_EXISTS)
				LOG_ERROR("table %s (id %llu): cannot create its replica: %s", m->name,
					  (unsigned long long)m->id, err_str(rc));
			else if (n->voters[0] == n->cfg.node_id && host_campaign(cc->host, m->id) != 0)
				LOG_DEBUG("table %s: campaign refused", m->name);
		}
	} else {
		const struct table_ref *t = table_map_find(&cc->tables, (const uint8_t *)m->name, strlen(m->name));
		if (t && t->id == m->id)
			table_map_del(&cc->tables, m->name);
		if (owner == cc->core && host_table_find(cc->host, m->id)) {
			api_table_removed(cc, m->id);
			int rc = host_table_remove(cc->host, m->id);
			if (rc)
				LOG_ERROR("table %s (id %llu): cannot remove its replica: %s", m->name,
					  (unsigned long long)m->id, err_str(rc));
		}
	}
	free(m);
}

static void broadcast_table(struct node *n, const char *name, uint64_t id, int created)
{
	for (int c = 0; c < n->cores; c++) {
		struct table_msg *m = calloc(1, sizeof *m);
		if (!m)
			continue;
		m->id = id;
		m->created = created;
		snprintf(m->name, sizeof m->name, "%s", name);
		node_post_must(n, c, table_msg_run, m);
	}
}

void node_on_catalog_change(void *ctx, const struct catalog_change *ch)
{
	struct core_ctx *cc = ctx;
	if (ch->status != 0)
		return; /* a refused command changed nothing */
	if (ch->kind == CATALOG_CREATED) {
		LOG_INFO("table %s created (id %llu)", ch->table.name, (unsigned long long)ch->table.id);
		broadcast_table(cc->node, ch->table.name, ch->table.id, 1);
	} else if (ch->kind == CATALOG_DELETED) {
		LOG_INFO("table %s deleted (id %llu)", ch->table.name, (unsigned long long)ch->table.id);
		broadcast_table(cc->node, ch->table.name, ch->table.id, 0);
	} else if (ch->kind == CATALOG_NODE && ch->node.node_id == cc->node->cfg.node_id) {
		cc->registered = 1;
	}
}

/* Startup: remove replicas of tables the catalogue deleted (a crash between the catalogue
 * change and the replica removal). A table's id is the index of the entry that created it, so a
 * replica whose id is above the catalogue's applied index is one the catalogue has not replayed
 * yet (its state machine has no WAL: the Raft log brings it up to date) — never a stray. */
struct reconcile_msg {
	size_t n;
	uint64_t applied; /* the catalogue's applied index when the list was taken */
	uint64_t stray;   /* out: the first replica not in ids[] */
	uint64_t ids[];
};

static int find_stray(void *arg, uint64_t id)
{
	struct reconcile_msg *m = arg;
	if (id == HOST_META_GROUP_ID || id > m->applied)
		return 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->ids[i] == id)
			return 0;
	m->stray = id;
	return 1;
}

static void reconcile_run(struct core_ctx *cc, void *arg)
{
	struct reconcile_msg *m = arg;
	for (int guard = 0; guard < LIMIT_TABLES_MAX; guard++) {
		m->stray = 0;
		if (host_table_foreach(cc->host, find_stray, m) != 1)
			break;
		LOG_INFO("removing the replica of table id %llu: the catalogue no longer has it",
			 (unsigned long long)m->stray);
		api_table_removed(cc, m->stray);
		if (host_table_remove(cc->host, m->stray))
			break;
	}
	free(m);
}

static void distribute_catalog(struct core_ctx *cc)
{
	struct node *n = cc->node;
	struct replica *meta = host_table_find(cc->host, HOST_META_GROUP_ID);
	ASSERT(meta);
	struct catalog *cat = replica_catalog(meta);
	size_t nt = catalog_tables(cat);
	for (size_t i = 0; i < nt; i++) {
		const struct catalog_table *t = catalog_table_at(cat, i);
		broadcast_table(n, t->name, t->id, 1);
	}
	for (int c = 0; c < n->cores; c++) {
		struct reconcile_msg *m = malloc(sizeof *m + (nt ? nt : 1) * sizeof m->ids[0]);
		if (!m)
			continue;
		m->n = nt;
		m->applied = catalog_applied_index(cat);
		for (size_t i = 0; i < nt; i++)
			m->ids[i] = catalog_table_at(cat, i)->id;
		node_post_must(n, c, reconcile_run, m);
	}
}

/* Record this node's addresses in the catalogue (for MemberList), retried until committed. */
static void register_done(void *ctx, const struct host_propose_result *res)
{
	struct core_ctx *cc = ctx;
	if (res->status == 0)
		cc->registered = 1;
}

static void register_node(struct core_ctx *cc, uint64_t now_ns)
{
	if (cc->registered || now_ns < cc->register_retry_ns)
		return;
	cc->register_retry_ns = now_ns + 1000000000ull;
	struct node *n = cc->node;
	Regatta__Internal__V1__MetaCommand cmd;
	Regatta__Internal__V1__MetaCommand__NodeAddress na;
	regatta__internal__v1__meta_command__init(&cmd);
	regatta__internal__v1__meta_command__node_address__init(&na);
	char name[32];
	snprintf(name, sizeof name, "node-%llu", (unsigned long long)n->cfg.node_id);
	na.node_id = n->cfg.node_id;
	na.api_url = n->cfg.api_url;
	na.raft_url = n->cfg.raft_addr;
	na.name = name;
	cmd.command_case = REGATTA__INTERNAL__V1__META_COMMAND__COMMAND_NODE_ADDRESS;
	cmd.node_address = &na;
	uint8_t buf[1024];
	size_t len = regatta__internal__v1__meta_command__get_packed_size(&cmd);
	if (len > sizeof buf)
		return;
	regatta__internal__v1__meta_command__pack(&cmd, buf);
	int rc = host_propose_meta(cc->host, buf, len, NULL, now_ns + 5000000000ull, register_done, cc);
	if (rc && rc != ERR_NOTLEADER)
		LOG_DEBUG("registering this node's address: %s", err_str(rc));
}

/* ---- tick ------------------------------------------------------------------------------------- */

static void tick_cb(struct io_op *op)
{
	struct core_ctx *cc = op->ctx;
	if (cc->stopping || op->result < 0)
		return;
	uint64_t now = reactor_now_ns(cc->r);
	host_tick(cc->host, now);
	peers_tick(cc, now);
	if (cc->core == 0)
		register_node(cc, now);
	memset(op, 0, sizeof *op);
	op->cb = tick_cb;
	op->ctx = cc;
	reactor_timeout(cc->r, op, (uint64_t)cc->node->cfg.tick_ms * 1000000ull);
}

/* ---- per-core start and stop ------------------------------------------------------------------ */

static void on_host_fatal(void *ctx, int err, const char *what)
{
	struct core_ctx *cc = ctx;
	LOG_ERROR("core %d: the Raft log failed for good (%s: %s); this node stops", cc->core, what, err_str(err));
	cc->node->fatal = 1;
	runtime_stop(cc->node->rt);
}

static int core_start(struct core_ctx *cc)
{
	struct node *n = cc->node;
	struct host_config hc;
	host_config_defaults(&hc);
	hc.node_id = n->cfg.node_id;
	hc.incarnation = n->incarnation;
	hc.core_id = cc->core;
	hc.data_dir = n->cfg.data_dir;
	hc.fs = io_fs_posix();
	hc.tick_ms = n->cfg.tick_ms;
	hc.election_ticks = n->cfg.election_ticks;
	hc.heartbeat_ticks = n->cfg.heartbeat_ticks;
	hc.snapshot_log_bytes = n->cfg.snapshot_bytes;
	hc.lsm_cache_bytes = n->cfg.block_cache_bytes / (uint64_t)n->cores;
	hc.memtable_budget_bytes = n->cfg.memtable_budget_bytes / (uint64_t)n->cores;
	if (hc.memtable_bytes > hc.memtable_budget_bytes)
		hc.memtable_bytes = hc.memtable_budget_bytes; /* one tree never exceeds the core's budget */
	hc.ctx = cc;
	hc.send_frame = peers_send_frame;
	hc.on_catalog_change = cc->core == 0 ? node_on_catalog_change : NULL;
	hc.on_fatal = on_host_fatal;
	int rc = host_open(&hc, &cc->host);
	atomic_fetch_add(&n->engines_opened, 1);
	if (rc) {
		LOG_ERROR("core %d: cannot open its engine in %s: %s", cc->core, n->cfg.data_dir, err_str(rc));
		return rc;
	}
	/* Every core's engine start has scanned the table directories before any core creates
	 * one (a start removes unfinished directories, and cannot tell whose they are). */
	for (int waited_ms = 0; atomic_load(&n->engines_opened) < n->cores; waited_ms++) {
		if (waited_ms > 600000 || n->fatal)
			return ERR_TIMEOUT;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	rc = host_attach(cc->host, cc->r);
	if (rc)
		return rc;
	if (cc->core == 0) {
		if (!host_table_find(cc->host, HOST_META_GROUP_ID)) {
			rc = host_table_create(cc->host, HOST_META_GROUP_ID, n->voters, n->n_voters);
			if (rc) {
				LOG_ERROR("cannot create the metadata group: %s", err_str(rc));
				return rc;
			}
		}
		distribute_catalog(cc);
	}
	struct grpc_server_config gc = {0};
	rc = grpc_server_new(&gc, &cc->api_grpc);
	if (rc)
		return rc;
	rc = grpc_health_new(cc->api_grpc, &cc->health);
	if (rc)
		return rc;
	rc = api_register(cc);
	if (rc)
		return rc;
	struct grpc_server_config rgc = {.max_recv_msg_bytes = LIMIT_RAFT_FRAME_BYTES,
					 .max_send_msg_bytes = LIMIT_RAFT_FRAME_BYTES};
	rc = grpc_server_new(&rgc, &cc->raft_grpc);
	if (rc)
		return rc;
	rc = peers_register(cc);
	if (rc)
		return rc;
	struct transport_server_config api = {.addr = n->cfg.api_listen, .grpc = cc->api_grpc, .tls = n->api_tls};
	rc = transport_server_start(cc->r, &api, &cc->api_srv);
	if (rc) {
		LOG_ERROR("cannot listen for the API on %s: %s", n->cfg.api_listen, err_str(rc));
		return rc;
	}
	struct transport_server_config raft = {.addr = n->cfg.raft_listen, .grpc = cc->raft_grpc,
					       .tls = n->raft_tls_server};
	rc = transport_server_start(cc->r, &raft, &cc->raft_srv);
	if (rc) {
		LOG_ERROR("cannot listen for Raft on %s: %s", n->cfg.raft_listen, err_str(rc));
		return rc;
	}
	/* The REST port (health, metrics): core 0 only, see server/rest/rest.h. */
	if (cc->core == 0 && n->cfg.rest_listen[0]) {
		rc = rest_server_start(cc, n->cfg.rest_listen, &cc->rest);
		if (rc) {
			LOG_ERROR("cannot listen for REST on %s: %s (--rest.address; empty turns it off)",
				  n->cfg.rest_listen, rc == ERR_EXISTS ? "the port is in use" : err_str(rc));
			return rc;
		}
	}
	peers_start(cc);
	memset(&cc->tick_op, 0, sizeof cc->tick_op);
	cc->tick_op.cb = tick_cb;
	cc->tick_op.ctx = cc;
	reactor_timeout(cc->r, &cc->tick_op, (uint64_t)n->cfg.tick_ms * 1000000ull);
	return 0;
}

static void core_init(struct runtime *rt, int core, struct reactor *r, void *arg)
{
	struct node *n = arg;
	struct core_ctx *cc = n->core[core];
	cc->r = r;
	log_set_core_id(core);
	/* runtime_start returns only after every init: the cores may post before it did */
	__atomic_store_n(&n->rt, rt, __ATOMIC_RELEASE);
	int rc = core_start(cc);
	if (rc) {
		n->fatal = 1;
		runtime_stop(rt);
	}
}

/* Close what a core owns, in the order the pieces need: connections first (their calls get
 * on_cancel and stay valid), then the engine (pending requests fail with ERR_STOPPED and finish
 * their calls), then the protocol objects. Runs while the loop still turns (shutdown), or from
 * fini after a failed start. */
static void core_close(struct core_ctx *cc)
{
	if (cc->closed)
		return;
	cc->closed = 1;
	cc->stopping = 1;
	peers_stop(cc);
	if (cc->health)
		grpc_health_shutdown(cc->health);
	if (cc->api_srv)
		transport_server_free(cc->api_srv);
	if (cc->raft_srv)
		transport_server_free(cc->raft_srv);
	cc->api_srv = cc->raft_srv = NULL;
	if (cc->rest)
		rest_server_free(cc->rest);
	cc->rest = NULL;
	api_core_stop(cc);
	if (cc->host) {
		host_detach(cc->host);
		host_close(cc->host);
		cc->host = NULL;
	}
	atomic_fetch_add(&cc->node->cores_closed, 1);
}

static void drain_cb(struct io_op *op)
{
	struct core_ctx *cc = op->ctx;
	int idle = (!cc->api_srv || transport_server_idle(cc->api_srv)) &&
		   (!cc->raft_srv || transport_server_idle(cc->raft_srv)) &&
		   (!cc->rest || rest_server_idle(cc->rest));
	if (idle || reactor_now_ns(cc->r) >= cc->drain_deadline_ns) {
		core_close(cc);
		return;
	}
	memset(op, 0, sizeof *op);
	op->cb = drain_cb;
	op->ctx = cc;
	reactor_timeout(cc->r, op, 20ull * 1000000ull);
}

void node_core_shutdown(struct core_ctx *cc, void *arg)
{
	(void)arg;
	if (cc->stopping)
		return;
	cc->stopping = 1;
	reactor_cancel(cc->r, &cc->tick_op);
	/* GOAWAY to clients and peers; in-flight calls get a short grace to finish */
	if (cc->health)
		grpc_health_shutdown(cc->health);
	if (cc->api_srv)
		transport_server_shutdown(cc->api_srv);
	if (cc->raft_srv)
		transport_server_shutdown(cc->raft_srv);
	if (cc->rest)
		rest_server_shutdown(cc->rest);
	cc->drain_deadline_ns = reactor_now_ns(cc->r) + 1000ull * 1000000ull;
	memset(&cc->drain_op, 0, sizeof cc->drain_op);
	cc->drain_op.cb = drain_cb;
	cc->drain_op.ctx = cc;
	reactor_timeout(cc->r, &cc->drain_op, 20ull * 1000000ull);
}

static void core_fini(struct runtime *rt, int core, struct reactor *r, void *arg)
{
	struct node *n = arg;
	struct core_ctx *cc = n->core[core];
	core_close(cc);
	if (cc->health)
		grpc_health_free(cc->health);
	if (cc->api_grpc)
		grpc_server_free(cc->api_grpc);
	if (cc->raft_grpc)
		grpc_server_free(cc->raft_grpc);
	free(cc->tables.v);
	arena_deinit(&cc->scratch);
}

/* ---- the data directory's identity ------------------------------------------------------------ */

/* Every core binds the API and Raft ports with SO_REUSEPORT so the kernel spreads connections
 * over them; a second process could then share those ports without an error. Before starting,
 * look for a socket already LISTENing on the port (/proc/net/tcp and tcp6): if there is one,
 * starting fails with a clear message. (A plain bind probe would not do: after a crash the dead
 * process's connections may linger in FIN_WAIT2 on the port, which only SO_REUSEPORT may share.) */
static int port_listening(const char *table, unsigned port)
{
	FILE *f = fopen(table, "r");
	if (!f)
		return 0;
	char line[512];
	int found = 0;
	if (!fgets(line, sizeof line, f)) { /* header */
		fclose(f);
		return 0;
	}
	while (!found && fgets(line, sizeof line, f)) {
		char local[128];
		unsigned st = 0;
		if (sscanf(line, "%*s %127s %*s %x", local, &st) != 2)
			continue;
		const char *colon = strrchr(local, ':');
		if (!colon)
			continue;
		unsigned p = (unsigned)strtoul(colon + 1, NULL, 16);
		found = p == port && st == 0x0A; /* TCP_LISTEN */
	}
	fclose(f);
	return found;
}

static int check_port_free(const char *what, const char *addr)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	int rc = reactor_socket_resolve(addr, &sa, &salen);
	if (rc) {
		LOG_ERROR("%s address %s: cannot resolve it: %s", what, addr, err_str(rc));
		return rc;
	}
	unsigned port = sa.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&sa)->sin6_port)
						 : ntohs(((struct sockaddr_in *)&sa)->sin_port);
	/* A process that just crashed may still hold its listening sockets for a moment: io_uring
	 * tears a dead process's ring down asynchronously, and pending accepts keep the socket
	 * open until then. So a port held by someone is looked at again for a few seconds. */
	for (int tries = 0; port != 0; tries++) {
		if (!port_listening("/proc/net/tcp", port) && !port_listening("/proc/net/tcp6", port))
			return 0;
		if (tries == 50) {
			LOG_ERROR("%s address %s is in use: a process listens on port %u (another regatta?)",
				  what, addr, port);
			return ERR_EXISTS;
		}
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* One process per data directory: an exclusive lock held for the process's lifetime. */
static int lock_data_dir(const struct node_config *cfg, int *fd_out)
{
	char path[LIMIT_PATH_BYTES + 8];
	snprintf(path, sizeof path, "%s/LOCK", cfg->data_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		LOG_ERROR("cannot open %s: %s", path, strerror(errno));
		return err_from_errno(errno);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		LOG_ERROR("%s is locked: another regatta process uses --data-dir %s", path, cfg->data_dir);
		close(fd);
		return ERR_BUSY;
	}
	*fd_out = fd;
	return 0;
}

static int check_node_file(const struct node_config *cfg)
{
	struct io_fs *fs = io_fs_posix();
	int rc = io_fs_mkdir_all(fs, cfg->data_dir);
	if (rc) {
		LOG_ERROR("cannot create --data-dir %s: %s", cfg->data_dir, err_str(rc));
		return rc;
	}
	char path[LIMIT_PATH_BYTES + 8], want[128];
	snprintf(path, sizeof path, "%s/NODE", cfg->data_dir);
	snprintf(want, sizeof want, "regatta-node v1\nnode-id %llu\ncores %d\n", (unsigned long long)cfg->node_id,
		 cfg->cores);
	void *buf;
	size_t len;
	rc = io_fs_read_all(fs, path, 4096, &buf, &len);
	if (rc == ERR_NOTFOUND)
		return io_fs_write_atomic(fs, path, want, strlen(want));
	if (rc)
		return rc;
	int same = len == strlen(want) && memcmp(buf, want, len) == 0;
	if (!same)
		LOG_ERROR("%s says this directory belongs to a node started as:\n%.*s"
			  "but this start asks for node-id %llu with --cores %d. Start with the same "
			  "--raft.node-id and --cores, or use another --data-dir.",
			  path, (int)len, (const char *)buf, (unsigned long long)cfg->node_id, cfg->cores);
	free(buf);
	return same ? 0 : ERR_INVAL;
}

static int make_tls(struct node *n)
{
	const struct node_config *c = &n->cfg;
	if (c->api_tls) {
		struct tls_config tc = {.cert_file = c->api_cert, .key_file = c->api_key, .ca_file = c->api_ca,
					.verify_peer = c->api_client_cert_auth};
		int rc = tls_ctx_new_server(&tc, &n->api_tls);
		if (rc) {
			LOG_ERROR("API TLS: cannot load %s / %s", c->api_cert, c->api_key);
			return rc;
		}
	}
	if (c->raft_cert) {
		struct tls_config sc = {.cert_file = c->raft_cert, .key_file = c->raft_key, .ca_file = c->raft_ca,
					.verify_peer = c->raft_ca != NULL};
		int rc = tls_ctx_new_server(&sc, &n->raft_tls_server);
		if (rc)
			return rc;
		struct tls_config cl = {.cert_file = c->raft_cert, .key_file = c->raft_key, .ca_file = c->raft_ca,
					.verify_peer = c->raft_ca != NULL};
		rc = tls_ctx_new_client(&cl, &n->raft_tls_client);
		if (rc)
			return rc;
	}
	return 0;
}

int node_run(const struct node_config *cfg)
{
	log_set_json(!cfg->dev_mode);
	struct node *n = calloc(1, sizeof *n);
	if (!n)
		return 1;
	n->cfg = *cfg;
	n->cores = cfg->cores;
	n->incarnation = prng_seed_from_time() | 1;
	for (uint32_t i = 0; i < cfg->n_members; i++)
		n->voters[n->n_voters++] = cfg->members[i].id;
	/* voters[0] is the smallest id: that node campaigns for new tables at once */
	for (uint32_t i = 1; i < n->n_voters; i++)
		for (uint32_t j = i; j > 0 && n->voters[j] < n->voters[j - 1]; j--) {
			uint64_t t = n->voters[j];
			n->voters[j] = n->voters[j - 1];
			n->voters[j - 1] = t;
		}
	int exit_code = 1;
	int lock_fd = -1;
	if (check_node_file(cfg) || lock_data_dir(cfg, &lock_fd) || make_tls(n))
		goto out;
	if (check_port_free("API", cfg->api_listen) || check_port_free("Raft", cfg->raft_listen))
		goto out;
	n->core = calloc((size_t)n->cores, sizeof *n->core);
	if (!n->core)
		goto out;
	for (int i = 0; i < n->cores; i++) {
		n->core[i] = calloc(1, sizeof *n->core[i]);
		if (!n->core[i])
			goto out;
		n->core[i]->node = n;
		n->core[i]->core = i;
		arena_init(&n->core[i]->scratch, 64u << 10, 64u << 20);
	}
	/* Signals go to the main thread only: it waits for them and stops the cores. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct runtime_config rc = {.cores = n->cores, .backend = cfg->backend, .pin = 1,
				    .init = core_init, .fini = core_fini, .arg = n};
	if (runtime_start(&rc, &n->rt)) {
		LOG_ERROR("cannot start %d cores", n->cores);
		goto out;
	}
	LOG_INFO("regatta %s leader node %llu: %d cores, API %s, Raft %s, REST %s, data %s", regatta_version(),
		 (unsigned long long)cfg->node_id, n->cores, cfg->api_url, cfg->raft_addr,
		 cfg->rest_listen[0] ? cfg->rest_url : "off", cfg->data_dir);
	/* Wait for a signal, or for a core to stop the runtime on a fatal error. */
	for (;;) {
		struct timespec ts = {0, 200000000};
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			LOG_INFO("signal %d: shutting down", sig);
			break;
		}
		if (n->fatal)
			break;
	}
	/* Clean shutdown: every core drains and closes while the loops still run (so canceled
	 * operations come back), then the loops stop. Bounded: a stuck core is stopped anyway. */
	if (!n->fatal) {
		for (int c = 0; c < n->cores; c++)
			if (node_post(n, c, node_core_shutdown, NULL))
				LOG_WARN("core %d did not get the shutdown request", c);
		for (int waited = 0; atomic_load(&n->cores_closed) < n->cores && waited < 1000; waited++) {
			struct timespec ts = {0, 10000000};
			nanosleep(&ts, NULL);
		}
		if (atomic_load(&n->cores_closed) < n->cores)
			LOG_WARN("%d of %d cores closed within 10 s; stopping anyway", atomic_load(&n->cores_closed), n->cores);
	}
	runtime_stop(n->rt);
	int jrc = runtime_join(n->rt);
	exit_code = (n->fatal || jrc) ? 1 : 0;
out:
	if (n->core) {
		for (int i = 0; i < n->cores; i++)
			free(n->core[i]);
		free(n->core);
	}
	if (lock_fd >= 0)
		close(lock_fd);
	if (n->api_tls)
		tls_ctx_free(n->api_tls);
	if (n->raft_tls_server)
		tls_ctx_free(n->raft_tls_server);
	if (n->raft_tls_client)
		tls_ctx_free(n->raft_tls_client);
	free(n);
	return exit_code;
}
