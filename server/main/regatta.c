/*
 * regatta — the server. Subcommands: leader, follower, version.
 */
#include "core/log.h"
#include "server/node/config.h"
#include "server/node/node.h"
#include "server/version.h"

#include <stdio.h>
#include <string.h>

static const char USAGE[] =
	"usage: regatta <command> [flags]\n"
	"\n"
	"commands:\n"
	"  leader     run a node of the leader cluster\n"
	"  follower   run a node of a follower cluster (not available in this build yet)\n"
	"  version    print the version\n"
	"\n"
	"regatta leader flags:\n"
	"  --data-dir DIR                 all state of this node (default ./regatta-data)\n"
	"  --cores N                      reactor threads, one per CPU (default: online CPUs)\n"
	"  --raft.node-id ID              this node's id (default 1)\n"
	"  --raft.address H:P             Raft address peers use (default 127.0.0.1:5012)\n"
	"  --raft.listen-address H:P      where to listen for Raft (default: --raft.address)\n"
	"  --raft.initial-members LIST    1=h:p,2=h:p,... (default: this node alone)\n"
	"  --raft.rtt DUR                 tick (default 10ms); --raft.heartbeat-rtt N (5 ticks),\n"
	"                                 --raft.election-rtt N (30 ticks)\n"
	"  --raft.snapshot-bytes N        snapshot a table after N log bytes (default 64 MiB)\n"
	"  --raft.cert-filename F --raft.key-filename F [--raft.ca-filename F]  TLS (mTLS) between nodes\n"
	"  --api.address URL              client API (default http://:8443)\n"
	"  --api.cert-filename F --api.key-filename F   certificate for an https API address\n"
	"  --api.ca-filename F --api.client-cert-auth   require client certificates\n"
	"  --rest.address URL             REST port: /healthz, /readyz, /metrics (default http://:8079;\n"
	"                                 empty turns it off; plain http only)\n"
	"  --tables.token T               bearer token required by Tables.Create/Delete\n"
	"  --maintenance.token T          bearer token for the maintenance API\n"
	"  --storage.block-cache-size N   LSM block cache of the node, split across cores (64MiB)\n"
	"  --storage.memtable-budget N    memtables of the node, split across cores (64MiB)\n"
	"  --log-level L                  debug|info|warn|error (default info)\n"
	"  --dev-mode                     human-readable logs (JSON lines otherwise)\n"
	"  --io-backend B                 auto|uring|epoll (default auto)\n";

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(USAGE, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("regatta %s (%s)\n", regatta_version(), regatta_build_info());
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		fputs(USAGE, stdout);
		return 0;
	}
	if (!strcmp(cmd, "leader")) {
		for (int i = 2; i < argc; i++) {
			if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
				fputs(USAGE, stdout);
				return 0;
			}
		}
		static struct node_config cfg;
		char err[512];
		if (node_config_parse(&cfg, argc - 2, argv + 2, err, sizeof err)) {
			fprintf(stderr, "regatta leader: %s\n", err);
			return 2;
		}
		return node_run(&cfg);
	}
	if (!strcmp(cmd, "follower")) {
		fprintf(stderr, "regatta follower: follower clusters (cross-data-centre pull replication) are "
				"not implemented in this build yet; run 'regatta leader'\n");
		return 2;
	}
	fprintf(stderr, "regatta: unknown command '%s'\n", cmd);
	fputs(USAGE, stderr);
	return 2;
}
