/*
 * node.h — one Regatta leader-cluster node: N cores, each with its engine (server/engine/host.h),
 * the client API and the Raft transport on our gRPC stack.
 */
#ifndef SERVER_NODE_NODE_H
#define SERVER_NODE_NODE_H

#include "server/node/config.h"

/* Run until SIGINT/SIGTERM (clean shutdown: flush, close). Returns a process exit code. */
int node_run(const struct node_config *cfg);

#endif
