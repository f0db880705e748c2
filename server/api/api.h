/*
 * api.h — the client API's request machinery, shared by the services in server/api/.
 *
 * A request arrives on the core that holds its connection (the origin) and runs on the core that
 * owns its table (node_owner_core). When they differ, the request bytes cross by mailbox, are
 * decoded again on the owner, and the encoded answer crosses back: cores share no objects, only
 * malloc'd messages. An api_req is allocated and freed on the origin; while it is away the
 * origin does not touch it (a cancellation only sets a flag the origin reads when it returns).
 */
#ifndef SERVER_API_API_H
#define SERVER_API_API_H

#include "server/node/node_impl.h"

#include "proto/regatta/v1/regatta.pb-c.h"

#include <protobuf-c/protobuf-c.h>

enum api_method {
	API_RANGE = 1,
	API_PUT,
	API_DELETE_RANGE,
	API_TXN,
	API_ITERATE_RANGE,
	API_TABLES_CREATE,
	API_TABLES_DELETE,
	API_TABLES_LIST,
	API_CLUSTER_MEMBERS,
	API_CLUSTER_STATUS,
};

struct api_req {
	/* origin side */
	struct core_ctx *origin;
	struct grpc_call *call;
	int canceled;
	/* the work */
	enum api_method method;
	uint64_t table_id;
	int owner;
	uint64_t deadline_ns;
	struct arena *a;           /* where the request and the answer live on the executing core */
	struct arena own_arena;    /* used when executing away from the origin */
	const ProtobufCMessage *req;
	uint8_t *bytes;            /* request bytes (remote execution, malloc) */
	size_t len;
	/* the answer */
	int status;                /* GRPC_STATUS_* */
	char msg[256];
	ProtobufCMessage *resp;    /* local execution */
	uint8_t *resp_bytes;       /* remote execution (malloc) */
	size_t resp_len;
	/* retries on the owner core (no leader yet, table being created, leader change) */
	struct io_op retry;
	uint32_t attempts;
	struct core_ctx *exec;     /* the executing core */
	/* per-method scratch */
	void *state;
};

/* Finish a request with an error (on the executing core). */
void api_fail(struct api_req *r, int grpc_status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Finish a request with a response message built in r->a (on the executing core). */
void api_reply(struct api_req *r, ProtobufCMessage *resp);
/* Run exec again in a few ms (no leader yet, ...); fails with UNAVAILABLE past the deadline. */
void api_retry_later(struct api_req *r, const char *why);

/* The descriptor of the request message of a method. */
const ProtobufCMessageDescriptor *api_request_desc(enum api_method m);

/* Executors (on the owner core). */
void api_kv_exec(struct api_req *r);
void api_admin_exec(struct api_req *r);

/* Route a decoded request: local execution or a trip to the owner core. */
void api_dispatch(struct api_req *r, const uint8_t *msg, size_t len);

/* Map an ERR_* from the engine to a gRPC status for the client (Regatta's codes). */
int api_status_of(int err);

/* Fill a regatta.v1.ResponseHeader in arena a. */
Regatta__V1__ResponseHeader *api_header(struct api_req *r, uint64_t revision, uint64_t term, uint64_t leader);

int api_kv_register(struct core_ctx *cc) WUR;
int api_admin_register(struct core_ctx *cc) WUR;

/* IterateRange (api_iter.c): a point-in-time view streamed in chunks of at most 4 MiB. */
void api_iter_start(struct core_ctx *cc, struct grpc_call *call, const uint8_t *msg, size_t len);
void api_iter_on_cancel(struct grpc_call *call, int status);
void api_iter_on_writable(struct grpc_call *call);

#endif
