/*
 * grpc_health.c — grpc.health.v1.Health (see grpc_health.h).
 *
 * Watchers are kept on a list; each remembers the last status it was sent so only changes go
 * out. A watcher leaves the list when its call is canceled (client gone, deadline) or the health
 * object is freed; in both cases the handler finishes the call (ownership rule of grpc_server.h).
 */
#include "net/grpc_health.h"

#include "core/assert.h"
#include "proto/grpc/health/v1/health.pb-c.h"

#include <stdlib.h>
#include <string.h>

#define HEALTH_NAME_MAX 200

struct health_entry {
	char name[HEALTH_NAME_MAX + 1];
	enum grpc_health_status st;
};

struct watcher {
	struct watcher *prev, *next;
	struct grpc_call *call;
	char name[HEALTH_NAME_MAX + 1];
	int last_sent; /* -1: nothing sent yet */
};

struct grpc_health {
	struct health_entry entries[GRPC_HEALTH_SERVICES_MAX];
	size_t n;
	struct watcher *watchers;
};

static void *arena_pb_alloc(void *ctx, size_t size)
{
	return arena_alloc(ctx, size);
}

static void arena_pb_free(void *ctx, void *p)
{
	(void)ctx;
	(void)p; /* the arena is freed with the call */
}

static struct health_entry *find(struct grpc_health *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->entries[i].name, name) == 0)
			return &h->entries[i];
	return NULL;
}

/* Decode the request's service name; NULL (after finishing the call) on bad input. */
static const char *decode_service(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	ProtobufCAllocator alloc = {arena_pb_alloc, arena_pb_free, grpc_call_arena(call)};
	Grpc__Health__V1__HealthCheckRequest *req =
		grpc__health__v1__health_check_request__unpack(&alloc, len, msg);
	if (!req) {
		(void)grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode HealthCheckRequest");
		return NULL;
	}
	const char *name = req->service ? req->service : "";
	if (strlen(name) > HEALTH_NAME_MAX) {
		(void)grpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "service name too long");
		return NULL;
	}
	return name;
}

static int send_status(struct grpc_call *call, enum grpc_health_status st)
{
	Grpc__Health__V1__HealthCheckResponse resp;
	grpc__health__v1__health_check_response__init(&resp);
	resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
	uint8_t buf[16];
	size_t n = grpc__health__v1__health_check_response__get_packed_size(&resp);
	ASSERT(n <= sizeof buf);
	n = grpc__health__v1__health_check_response__pack(&resp, buf);
	return grpc_call_send_msg(call, buf, n);
}

static void check_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct grpc_health *h = grpc_call_method_ctx(call);
	const char *name = decode_service(call, msg, len);
	if (!name)
		return;
	const struct health_entry *e = find(h, name);
	if (!e) {
		(void)grpc_call_finish(call, GRPC_STATUS_NOT_FOUND, "unknown service");
		return;
	}
	int rc = send_status(call, e->st);
	(void)grpc_call_finish(call, rc ? grpc_status_from_err(rc) : GRPC_STATUS_OK, NULL);
}

static void watcher_update(struct watcher *w, struct grpc_health *h)
{
	const struct health_entry *e = find(h, w->name);
	int st = e ? (int)e->st : GRPC_HEALTH_SERVICE_UNKNOWN;
	if (st == w->last_sent)
		return;
	/* A watcher far behind (queue full) skips to the newest status later: fine for health. */
	if (send_status(w->call, (enum grpc_health_status)st) == 0)
		w->last_sent = st;
}

static void watcher_unlink(struct grpc_health *h, struct watcher *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		h->watchers = w->next;
	if (w->next)
		w->next->prev = w->prev;
}

static void watch_msg(struct grpc_call *call, const uint8_t *msg, size_t len)
{
	struct grpc_health *h = grpc_call_method_ctx(call);
	const char *name = decode_service(call, msg, len);
	if (!name)
		return;
	struct watcher *w = calloc(1, sizeof *w);
	if (!w) {
		(void)grpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	w->call = call;
	memcpy(w->name, name, strlen(name) + 1);
	w->last_sent = -1;
	w->next = h->watchers;
	if (h->watchers)
		h->watchers->prev = w;
	h->watchers = w;
	grpc_call_set_user(call, w);
	watcher_update(w, h);
}

static void watch_cancel(struct grpc_call *call, int status)
{
	(void)status;
	struct grpc_health *h = grpc_call_method_ctx(call);
	struct watcher *w = grpc_call_user(call);
	if (!w)
		return;
	watcher_unlink(h, w);
	free(w);
	(void)grpc_call_finish(call, GRPC_STATUS_CANCELLED, NULL);
}

static void watch_writable(struct grpc_call *call)
{
	struct watcher *w = grpc_call_user(call);
	if (w)
		watcher_update(w, grpc_call_method_ctx(call));
}

int grpc_health_new(struct grpc_server *s, struct grpc_health **out)
{
	ASSERT(s != NULL && out != NULL);
	struct grpc_health *h = calloc(1, sizeof *h);
	if (!h)
		return ERR_NOMEM;
	h->entries[0].name[0] = '\0';
	h->entries[0].st = GRPC_HEALTH_SERVING;
	h->n = 1;
	struct grpc_method check = {.path = "/grpc.health.v1.Health/Check", .kind = GRPC_METHOD_UNARY,
				    .on_message = check_msg, .ctx = h};
	struct grpc_method watch = {.path = "/grpc.health.v1.Health/Watch",
				    .kind = GRPC_METHOD_SERVER_STREAMING, .on_message = watch_msg,
				    .on_cancel = watch_cancel, .on_writable = watch_writable, .ctx = h};
	int rc = grpc_server_register(s, &check);
	if (!rc)
		rc = grpc_server_register(s, &watch);
	if (rc) {
		free(h);
		return rc;
	}
	*out = h;
	return 0;
}

void grpc_health_free(struct grpc_health *h)
{
	if (!h)
		return;
	/* Bounded: every round removes the head watcher. */
	while (h->watchers) {
		struct watcher *w = h->watchers;
		watcher_unlink(h, w);
		grpc_call_set_user(w->call, NULL);
		(void)grpc_call_finish(w->call, GRPC_STATUS_UNAVAILABLE, "server shutting down");
		free(w);
	}
	free(h);
}

int grpc_health_set(struct grpc_health *h, const char *service, enum grpc_health_status st)
{
	ASSERT(h != NULL && service != NULL);
	if (st != GRPC_HEALTH_UNKNOWN && st != GRPC_HEALTH_SERVING && st != GRPC_HEALTH_NOT_SERVING)
		return ERR_INVAL;
	if (strlen(service) > HEALTH_NAME_MAX)
		return ERR_INVAL;
	struct health_entry *e = find(h, service);
	if (!e) {
		if (h->n == GRPC_HEALTH_SERVICES_MAX)
			return ERR_TOOBIG;
		e = &h->entries[h->n++];
		memcpy(e->name, service, strlen(service) + 1);
	}
	e->st = st;
	for (struct watcher *w = h->watchers; w; w = w->next)
		if (strcmp(w->name, service) == 0)
			watcher_update(w, h);
	return 0;
}

void grpc_health_shutdown(struct grpc_health *h)
{
	for (size_t i = 0; i < h->n; i++)
		h->entries[i].st = GRPC_HEALTH_NOT_SERVING;
	for (struct watcher *w = h->watchers; w; w = w->next)
		watcher_update(w, h);
}
