/*
 * node_impl.h — what the node's files share: the process-wide node (read-only after start) and
 * each core's context (touched only by that core's thread; other cores reach it by mailbox).
 *
 * Placement: table t lives on core t % cores; the metadata group (HOST_META_GROUP_ID) on core 0.
 * Every node of a cluster runs the same number of cores (checked against <data>/NODE), so core i
 * of one node sends Raft frames to core i of the others.
 */
#ifndef SERVER_NODE_NODE_IMPL_H
#define SERVER_NODE_NODE_IMPL_H

#include "core/arena.h"
#include "core/runtime.h"
#include "net/grpc_health.h"
#include "net/transport.h"
#include "server/engine/host.h"
#include "server/node/config.h"

#include <stdatomic.h>
#include <stdint.h>

struct core_ctx;
struct rest_server;

/* One table as a core knows it (its copy of the catalogue). */
struct table_ref {
	char name[LIMIT_TABLE_NAME_BYTES + 1];
	uint64_t id;
};

struct table_map {
	struct table_ref *v;
	size_t n, cap;
};

/* A Raft transport stream to one peer node, from this core. */
struct peer {
	struct core_ctx *cc;
	uint64_t id;
	const char *addr;
	struct transport_client *client;
	struct grpc_client_call *call;
	int connected;
	uint64_t retry_at_ns;
	uint64_t frames_sent, frames_dropped;
};

struct node {
	struct node_config cfg;
	struct runtime *rt;
	int cores;
	struct core_ctx **core; /* [cores] — pointers only: never touch another core's fields */
	uint64_t incarnation;
	struct tls_ctx *api_tls, *raft_tls_server, *raft_tls_client;
	uint64_t voters[LIMIT_RAFT_NODES_MAX];
	uint32_t n_voters;
	int fatal;
	/* Engines opened so far (failed ones too): no core creates a table directory before every
	 * engine's start has scanned them (a start removes unfinished ones). */
	_Atomic int engines_opened;
	_Atomic int cores_closed; /* shutdown: cores that closed their engine and transports */
};

struct core_ctx {
	struct node *node;
	int core;
	struct reactor *r;
	struct host *host;
	struct grpc_server *api_grpc, *raft_grpc;
	struct grpc_health *health;
	struct transport_server *api_srv, *raft_srv;
	struct peer peers[LIMIT_RAFT_NODES_MAX];
	uint32_t n_peers;
	struct io_op tick_op;
	struct io_op drain_op;   /* shutdown: polls until connections drained or grace passed */
	uint64_t drain_deadline_ns;
	int stopping;            /* shutdown began: refuse new work */
	int closed;              /* engine closed, transports freed */
	struct table_map tables;
	struct arena scratch;
	/* core 0 only: node addresses recorded in the catalogue, for MemberList */
	int registered; /* this node's NodeAddress was committed */
	uint64_t register_retry_ns;
	struct api_iter *iters; /* active IterateRange streams on this core (their snapshots) */
	struct rest_server *rest; /* core 0 only: the REST port (server/rest/rest.h), or NULL */
};

/* The calling core's context (asserts it is a runtime thread). */
struct core_ctx *node_core_self(struct node *n);
int node_owner_core(const struct node *n, uint64_t table_id);

/* table maps */
const struct table_ref *table_map_find(const struct table_map *m, const uint8_t *name, size_t len);
int table_map_put(struct table_map *m, const char *name, uint64_t id) WUR;
void table_map_del(struct table_map *m, const char *name);

/* Post fn(arg) to a core (fn runs with that core's context). ERR_AGAIN when its mailbox is
 * full; ERR_STOPPED when shutting down. When core == the caller's, fn runs right away. */
typedef void (*node_msg_fn)(struct core_ctx *cc, void *arg);
int node_post(struct node *n, int core, node_msg_fn fn, void *arg) WUR;

/* Raft transport (peers.c). */
int peers_register(struct core_ctx *cc) WUR;    /* the Raft service on the raft grpc server */
void peers_start(struct core_ctx *cc);          /* connect to every other member */
void peers_tick(struct core_ctx *cc, uint64_t now_ns);
void peers_stop(struct core_ctx *cc);
void peers_send_frame(void *ctx, uint64_t to_node, const uint8_t *frame, size_t len);

/* Client API (server/api). */
int api_register(struct core_ctx *cc) WUR;
void api_core_stop(struct core_ctx *cc);
/* A table is going away on this core: end its IterateRange streams (they hold snapshots). */
void api_table_removed(struct core_ctx *cc, uint64_t table_id);

/* Shutdown (node.c): begin on every core while the loops still run. */
void node_core_shutdown(struct core_ctx *cc, void *arg);

/* Catalogue changes (node.c), run on core 0 of every node. */
void node_on_catalog_change(void *ctx, const struct catalog_change *ch);

#endif
