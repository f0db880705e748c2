/*
 * rest.h — the REST port (--rest.address, default http://:8079): plain HTTP/1.1 next to the gRPC
 * API, for load balancers and Prometheus.
 *
 *   GET /healthz   200 "ok" when every core answers and runs and the metadata group has a
 *                  leader; 503 with a one-line reason otherwise (also while shutting down).
 *   GET /readyz    /healthz, and every table of the catalogue has a replica here that knows its
 *                  leader and has not failed: this node can serve every table now.
 *   GET /metrics   Prometheus text format 0.0.4 (rest_metrics.h lists the families).
 *   HEAD on each; other methods 405; other paths 404; bad requests 400/413/414/431/505 and
 *   the connection closes. Keep-alive and pipelining (answered in order, one at a time).
 *
 * The listener runs on core 0 only, bound without SO_REUSEPORT: the traffic is a few probes
 * and scrapes a second, every answer needs a walk over all cores anyway (rest_gather.h), and an
 * exclusive bind turns a second process on the same port into a clear start-up error instead
 * of probes silently spread over two processes. Core 0 also hosts the metadata group, so the
 * health verdict's main input is local.
 *
 * Every function runs on core 0's thread.
 */
#ifndef SERVER_REST_REST_H
#define SERVER_REST_REST_H

#include "core/err.h"

#include <stdint.h>

struct core_ctx;
struct rest_server;

/* Bind addr ("host:port"; port 0 picks one) and serve on cc's reactor. ERR_EXISTS when the
 * port is taken, other ERR_* from the socket calls, ERR_NOMEM. */
int rest_server_start(struct core_ctx *cc, const char *addr, struct rest_server **out) WUR;
uint16_t rest_server_port(const struct rest_server *s);

/* Stop accepting; idle connections close, a request being answered finishes (its response
 * says Connection: close). */
void rest_server_shutdown(struct rest_server *s);
/* Nothing left in flight: no connection, no walk over the cores, no pending operation. */
int rest_server_idle(const struct rest_server *s);
/* Close everything and free (at once when idle; otherwise once the reactor returned the
 * operations still out and the walks came home). */
void rest_server_free(struct rest_server *s);

#endif
