/*
 * config.h — `regatta leader` flags, as Regatta spells them where Regatta has them.
 *
 *   --data-dir DIR               all state of this node (default ./regatta-data)
 *   --cores N                    reactor threads (default: online CPUs, at most LIMIT_CORES_MAX)
 *   --raft.node-id ID            this node (default 1)
 *   --raft.address H:P           Raft port others reach (default 127.0.0.1:5012)
 *   --raft.listen-address H:P    where to listen (default: --raft.address)
 *   --raft.initial-members ...   "1=127.0.0.1:5012,2=127.0.0.1:5022,..." (default: this node alone)
 *   --raft.rtt DUR               tick length (default 10ms); --raft.heartbeat-rtt N (5),
 *                                --raft.election-rtt N (30) in ticks
 *   --raft.snapshot-bytes N      take a table snapshot after N log bytes (default 64 MiB)
 *   --raft.cert-filename/--raft.key-filename/--raft.ca-filename   TLS on the Raft port (mTLS
 *                                when a CA is given)
 *   --api.address URL            client API (default http://:8443; https:// needs cert and key)
 *   --api.cert-filename F --api.key-filename F  server certificate for https
 *   --api.ca-filename F --api.client-cert-auth  require client certificates (mTLS)
 *   --rest.address URL           REST port: /healthz, /readyz, /metrics (default http://:8079;
 *                                an empty value turns it off; plain http only)
 *   --tables.token T             bearer token required by Tables.Create/Delete
 *   --maintenance.token T        bearer token for the maintenance API
 *   --storage.block-cache-size N  LSM block cache for the whole node, split across cores (64 MiB)
 *   --storage.memtable-budget N   memtables of the whole node, split across cores (64 MiB)
 *   --log-level L                debug|info|warn|error (default info); --dev-mode: human logs
 *                                (JSON lines otherwise)
 *   --io-backend B               auto|uring|epoll (default auto; REGATTA_IO_BACKEND also works)
 */
#ifndef SERVER_NODE_CONFIG_H
#define SERVER_NODE_CONFIG_H

#include "core/err.h"
#include "core/limits.h"
#include "core/reactor.h"

#include <stdint.h>

#define NODE_ADDR_BYTES 256

struct node_member {
	uint64_t id;
	char raft_addr[NODE_ADDR_BYTES]; /* host:port */
};

struct node_config {
	char data_dir[LIMIT_PATH_BYTES];
	int cores;
	uint64_t node_id;
	char raft_addr[NODE_ADDR_BYTES];
	char raft_listen[NODE_ADDR_BYTES];
	struct node_member members[LIMIT_RAFT_NODES_MAX];
	uint32_t n_members;
	uint32_t tick_ms;
	uint32_t heartbeat_ticks, election_ticks;
	uint64_t snapshot_bytes;
	uint64_t block_cache_bytes;     /* node total */
	uint64_t memtable_budget_bytes; /* node total */
	char api_url[NODE_ADDR_BYTES];     /* as given */
	char api_listen[NODE_ADDR_BYTES];  /* host:port to bind */
	int api_tls;
	const char *api_cert, *api_key, *api_ca;
	int api_client_cert_auth;
	char rest_url[NODE_ADDR_BYTES];    /* as given; "" = no REST port */
	char rest_listen[NODE_ADDR_BYTES]; /* host:port to bind, "" when off */
	const char *raft_cert, *raft_key, *raft_ca;
	const char *tables_token;
	const char *maintenance_token;
	int dev_mode;
	enum reactor_backend backend;
	char cluster_name[64];
};

/* Parse argv (after the subcommand). Fills defaults first. On a bad flag writes a message to
 * err and returns ERR_INVAL. */
int node_config_parse(struct node_config *c, int argc, char **argv, char *err, size_t err_len) WUR;

/* Split a URL or host:port ("http://:8443", "https://0.0.0.0:8443", "127.0.0.1:8443") into a
 * bindable host:port and whether TLS is asked for. */
int node_parse_url(const char *url, char *hostport, size_t cap, int *tls) WUR;

#endif
