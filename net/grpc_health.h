/*
 * grpc_health.h — the standard grpc.health.v1.Health service (Check + Watch), as load balancers,
 * Kubernetes probes and grpc_health_probe expect it.
 *
 * PUBLIC API (stable; extend, do not change).
 *
 * One struct grpc_health per grpc_server (services keep per-core state, so give each core its
 * own server + health object). Statuses are per service name; "" is the whole server. Check on
 * an unknown name answers NOT_FOUND; Watch on an unknown name streams SERVICE_UNKNOWN and keeps
 * watching (as the spec says), sending every change. All calls on the owning core.
 */
#ifndef NET_GRPC_HEALTH_H
#define NET_GRPC_HEALTH_H

#include "core/err.h"
#include "net/grpc_server.h"

struct grpc_health;

enum grpc_health_status {
	GRPC_HEALTH_UNKNOWN = 0,
	GRPC_HEALTH_SERVING = 1,
	GRPC_HEALTH_NOT_SERVING = 2,
	GRPC_HEALTH_SERVICE_UNKNOWN = 3, /* only ever sent by Watch */
};

#define GRPC_HEALTH_SERVICES_MAX 64

/* Create and register /grpc.health.v1.Health/Check and /Watch on s. The server ("") starts as
 * SERVING. */
int grpc_health_new(struct grpc_server *s, struct grpc_health **out) WUR;
/* Ends every Watch with UNAVAILABLE (server going down). Free before the server. */
void grpc_health_free(struct grpc_health *h);
/* Set a service's status (creating the name); watchers get the change. ERR_TOOBIG past
 * GRPC_HEALTH_SERVICES_MAX names, ERR_INVAL for a bad status or a name over 200 bytes. */
int grpc_health_set(struct grpc_health *h, const char *service, enum grpc_health_status st) WUR;
/* Mark every service NOT_SERVING (shutdown begins) and tell the watchers. */
void grpc_health_shutdown(struct grpc_health *h);

#endif
