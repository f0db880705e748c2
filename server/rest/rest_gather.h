/*
 * rest_gather.h — collect a node snapshot (rest_metrics.h) from every core through the node's
 * mailboxes: the gather visits core 0, 1, ..., N-1 in turn (each fills its own sample and, if
 * asked, its replicas' status) and then returns to the origin core, where done() runs. Cores
 * share nothing: the gather is the message, and only the core it is on touches it.
 *
 * A core whose loop is stuck keeps the gather: the origin cannot take it back, so it answers on
 * its own deadline (rest_gather_at() names the core the walk was last posted to) and frees the
 * gather when, or if, it comes home. A full mailbox delays a hop (retried every millisecond
 * from the core holding the gather), it never loses the gather while the runtime runs.
 */
#ifndef SERVER_REST_REST_GATHER_H
#define SERVER_REST_REST_GATHER_H

#include "server/node/node_impl.h"
#include "server/rest/rest_metrics.h"

#include <stdatomic.h>

struct rest_gather;
typedef void (*rest_gather_done_fn)(struct rest_gather *g);

struct rest_gather {
	struct node *node;
	int origin;       /* the core that started it and gets done() */
	int next;         /* the next core to sample; == cores once all were */
	_Atomic int at;   /* the core the gather was last sent to (read by the origin on timeout) */
	int want_tables;
	rest_gather_done_fn done;
	void *ctx;        /* the origin's (never read elsewhere): the REST server */
	void *req;        /* the origin's: the request waiting for it, NULL once abandoned */
	struct io_op retry_op; /* on the core holding the gather: a full mailbox, retry the hop */
	int retry_to;
	uint32_t retries;
	struct rest_snapshot snap;
};

/* Allocate a gather with room for cap_tables replicas when want_tables (on the origin core). */
struct rest_gather *rest_gather_new(struct node *n, int origin, int want_tables, size_t cap_tables);
void rest_gather_free(struct rest_gather *g);

/* Start the walk (on the origin core). done(g) runs on the origin once every core was sampled,
 * possibly before this returns (one core). It does not run if the runtime stops first. */
void rest_gather_start(struct rest_gather *g);

/* The core the walk is at (any thread). */
int rest_gather_at(struct rest_gather *g);

#endif
