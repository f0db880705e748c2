/* test_grpc_health.c — grpc.health.v1.Health Check and Watch over the in-memory pair. */
#include "helper_net.h"
#include "net/grpc_health.h"
#include "proto/grpc/health/v1/health.pb-c.h"

#include <criterion/criterion.h>
#include <string.h>

static struct svc svc;
static struct grpc_health *health;

static void add_health(struct grpc_server *s, void *ctx)
{
	(void)ctx;
	cr_assert_eq(grpc_health_new(s, &health), 0);
}

static size_t req(const char *service, uint8_t *buf)
{
	Grpc__Health__V1__HealthCheckRequest r;
	grpc__health__v1__health_check_request__init(&r);
	r.service = (char *)(uintptr_t)service;
	return grpc__health__v1__health_check_request__pack(&r, buf);
}

static int last_status(const struct result *r)
{
	Grpc__Health__V1__HealthCheckResponse *m =
		grpc__health__v1__health_check_response__unpack(NULL, r->last_len, r->last);
	cr_assert_not_null(m);
	int st = (int)m->status;
	grpc__health__v1__health_check_response__free_unpacked(m, NULL);
	return st;
}

Test(grpc_health, check_and_watch)
{
	pair_register_hook = add_health;
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	uint8_t b[256];
	size_t n = req("", b);
	struct result r;
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(p.cc, "/grpc.health.v1.Health/Check", NULL, b, n, &result_ops, &r, NULL), 0);
	pair_pump(&p);
	cr_assert_eq(r.status, GRPC_STATUS_OK);
	cr_assert_eq(last_status(&r), GRPC_HEALTH_SERVING);
	/* unknown service */
	n = req("regatta.v1.KV", b);
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(p.cc, "/grpc.health.v1.Health/Check", NULL, b, n, &result_ops, &r, NULL), 0);
	pair_pump(&p);
	cr_assert_eq(r.status, GRPC_STATUS_NOT_FOUND);
	/* watch it: SERVICE_UNKNOWN, then every change */
	struct result w;
	memset(&w, 0, sizeof w);
	cr_assert_eq(grpc_client_unary(p.cc, "/grpc.health.v1.Health/Watch", NULL, b, n, &result_ops, &w, NULL), 0);
	pair_pump(&p);
	cr_assert_eq(w.nmsgs, 1);
	cr_assert_eq(last_status(&w), GRPC_HEALTH_SERVICE_UNKNOWN);
	cr_assert_eq(grpc_health_set(health, "regatta.v1.KV", GRPC_HEALTH_SERVING), 0);
	pair_pump(&p);
	cr_assert_eq(w.nmsgs, 2);
	cr_assert_eq(last_status(&w), GRPC_HEALTH_SERVING);
	cr_assert_eq(grpc_health_set(health, "regatta.v1.KV", GRPC_HEALTH_SERVING), 0); /* no change */
	grpc_health_shutdown(health);
	pair_pump(&p);
	cr_assert_eq(w.nmsgs, 3);
	cr_assert_eq(last_status(&w), GRPC_HEALTH_NOT_SERVING);
	cr_assert_not(w.done);
	/* garbage request */
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(p.cc, "/grpc.health.v1.Health/Check", NULL, (const uint8_t *)"\xff\xff", 2,
				       &result_ops, &r, NULL), 0);
	pair_pump(&p);
	cr_assert_eq(r.status, GRPC_STATUS_INVALID_ARGUMENT);
	/* server going away ends the watch */
	grpc_health_free(health);
	pair_pump(&p);
	cr_assert(w.done);
	cr_assert_eq(w.status, GRPC_STATUS_UNAVAILABLE);
	pair_deinit(&p);
	pair_register_hook = NULL;
}

Test(grpc_health, watch_canceled_by_client)
{
	pair_register_hook = add_health;
	struct pair p;
	pair_init(&p, NULL, NULL, &svc);
	uint8_t b[64];
	size_t n = req("", b);
	struct result w;
	memset(&w, 0, sizeof w);
	struct grpc_client_call *call;
	cr_assert_eq(grpc_client_unary(p.cc, "/grpc.health.v1.Health/Watch", NULL, b, n, &result_ops, &w, &call), 0);
	pair_pump(&p);
	cr_assert_eq(w.nmsgs, 1);
	grpc_client_call_cancel(call);
	pair_pump(&p);
	cr_assert(w.done);
	cr_assert_eq(w.status, GRPC_STATUS_CANCELLED);
	cr_assert_eq(grpc_health_set(health, "", GRPC_HEALTH_NOT_SERVING), 0); /* no watcher left */
	pair_pump(&p);
	grpc_health_free(health);
	pair_deinit(&p);
	pair_register_hook = NULL;
}
