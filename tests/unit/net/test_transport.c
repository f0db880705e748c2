/* test_transport.c — the transport over real loopback sockets with the reactor (run under both
 * backends by the suite): unary, streaming, many concurrent calls, TLS + mTLS, the blocking
 * client, connection refusal, graceful shutdown. */
#include "core/reactor.h"
#include "core/runtime.h"
#include "helper_net.h"
#include "helper_tls.h"
#include "net/transport.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

static struct svc svc;

struct env {
	struct reactor *r;
	struct grpc_server *gs;
	struct transport_server *ts;
	char addr[64];
};

static void env_init(struct env *e, struct tls_ctx *tls)
{
	memset(e, 0, sizeof *e);
	struct reactor_config rc = {.backend = REACTOR_BACKEND_AUTO, .cpu = -1, .core_id = 0};
	cr_assert_eq(reactor_backend_parse(NULL, &rc.backend), 0);
	cr_assert_eq(reactor_new(&rc, &e->r), 0);
	cr_assert_eq(grpc_server_new(NULL, &e->gs), 0);
	svc_register(e->gs, &svc);
	struct transport_server_config sc = {.addr = "127.0.0.1:0", .grpc = e->gs, .tls = tls};
	cr_assert_eq(transport_server_start(e->r, &sc, &e->ts), 0);
	cr_assert_gt(transport_server_port(e->ts), 0);
	snprintf(e->addr, sizeof e->addr, "127.0.0.1:%u", transport_server_port(e->ts));
}

static void env_run_until(struct env *e, const int *flag)
{
	for (int i = 0; i < 20000 && !*flag; i++)
		cr_assert_eq(reactor_run_once(e->r, 10000000ull), 0);
	cr_assert(*flag, "condition not reached");
}

static void env_deinit(struct env *e)
{
	transport_server_free(e->ts);
	for (int i = 0; i < 50; i++)
		cr_assert_eq(reactor_run_once(e->r, 1000000ull), 0);
	grpc_server_free(e->gs);
	reactor_free(e->r);
}

struct cstate {
	int ready, closed, closed_err;
};

static void c_ready(struct transport_client *c, void *ctx)
{
	(void)c;
	((struct cstate *)ctx)->ready = 1;
}

static void c_closed(struct transport_client *c, int err, void *ctx)
{
	(void)c;
	struct cstate *s = ctx;
	s->closed = 1;
	s->closed_err = err;
}

Test(transport, unary_stream_and_many_calls)
{
	struct env e;
	env_init(&e, NULL);
	struct cstate cs = {0};
	struct transport_client_config cc = {.addr = e.addr, .on_ready = c_ready, .on_closed = c_closed, .ctx = &cs};
	struct transport_client *cl;
	cr_assert_eq(transport_client_connect(e.r, &cc, &cl), 0);
	/* a call started before the connection is up waits for it */
	struct result r;
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(transport_client_grpc(cl), "/test.Echo/Unary", NULL, (const uint8_t *)"hi", 2,
				       &result_ops, &r, NULL), 0);
	env_run_until(&e, &r.done);
	cr_assert(cs.ready);
	cr_assert_eq(r.status, GRPC_STATUS_OK, "%s", r.message);
	cr_assert_eq(memcmp(r.last, "hi", 2), 0);
	cr_assert_eq(transport_server_conns(e.ts), 1);
	/* server streaming 20 MB */
	memset(&r, 0, sizeof r);
	const char *req = "80 250000";
	cr_assert_eq(grpc_client_unary(transport_client_grpc(cl), "/test.Echo/ServerStream", NULL, (const uint8_t *)req,
				       strlen(req), &result_ops, &r, NULL), 0);
	env_run_until(&e, &r.done);
	cr_assert_eq(r.status, GRPC_STATUS_OK);
	cr_assert_eq(r.bytes, 80ull * 250000);
	/* 1000 concurrent unary calls on one connection */
	enum { N = 1000 };
	struct result *rs = calloc(N, sizeof *rs);
	for (int i = 0; i < N; i++)
		cr_assert_eq(grpc_client_unary(transport_client_grpc(cl), "/test.Echo/Unary", NULL, (const uint8_t *)"x", 1,
					       &result_ops, &rs[i], NULL), 0);
	env_run_until(&e, &rs[N - 1].done);
	for (int i = 0; i < N; i++) {
		int done = rs[i].done;
		env_run_until(&e, &done);
		cr_assert_eq(rs[i].status, GRPC_STATUS_OK);
	}
	free(rs);
	transport_client_free(cl);
	for (int i = 0; i < 100 && transport_server_conns(e.ts); i++)
		cr_assert_eq(reactor_run_once(e.r, 10000000ull), 0);
	cr_assert_eq(transport_server_conns(e.ts), 0);
	env_deinit(&e);
}

Test(transport, refused_and_graceful_shutdown)
{
	struct env e;
	env_init(&e, NULL);
	/* nothing listens on the port we just closed */
	struct cstate cs = {0};
	struct transport_client_config bad = {.addr = "127.0.0.1:1", .on_closed = c_closed, .ctx = &cs};
	struct transport_client *cl;
	cr_assert_eq(transport_client_connect(e.r, &bad, &cl), 0);
	struct result r;
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(transport_client_grpc(cl), "/test.Echo/Unary", NULL, (const uint8_t *)"x", 1,
				       &result_ops, &r, NULL), 0);
	env_run_until(&e, &cs.closed);
	cr_assert_eq(cs.closed_err, ERR_CONN);
	cr_assert(r.done);
	cr_assert_eq(r.status, GRPC_STATUS_UNAVAILABLE);
	transport_client_free(cl);

	/* a held call survives shutdown's GOAWAY and completes */
	memset(&cs, 0, sizeof cs);
	struct transport_client_config cc = {.addr = e.addr, .on_closed = c_closed, .ctx = &cs};
	cr_assert_eq(transport_client_connect(e.r, &cc, &cl), 0);
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(transport_client_grpc(cl), "/test.Echo/Hang", NULL, (const uint8_t *)"x", 1,
				       &result_ops, &r, NULL), 0);
	int one = 0;
	for (int i = 0; i < 2000 && svc.nheld == 0; i++)
		cr_assert_eq(reactor_run_once(e.r, 10000000ull), 0);
	cr_assert_eq(svc.nheld, 1);
	transport_server_shutdown(e.ts);
	for (int i = 0; i < 20; i++)
		cr_assert_eq(reactor_run_once(e.r, 10000000ull), 0);
	cr_assert_not(grpc_client_conn_usable(transport_client_grpc(cl)));
	cr_assert_eq(grpc_call_reply(svc.held[0], (const uint8_t *)"bye", 3), 0);
	env_run_until(&e, &r.done);
	cr_assert_eq(r.status, GRPC_STATUS_OK);
	for (int i = 0; i < 200 && !transport_server_idle(e.ts); i++)
		cr_assert_eq(reactor_run_once(e.r, 10000000ull), 0);
	cr_assert(transport_server_idle(e.ts));
	env_run_until(&e, &cs.closed);
	(void)one;
	transport_client_free(cl);
	env_deinit(&e);
}

static struct test_certs certs;

Test(transport, tls_mtls_and_sync_client)
{
	cr_assert_eq(test_certs_make(&certs), 0);
	struct tls_config sc = {.cert_file = certs.server_cert, .key_file = certs.server_key,
				.ca_file = certs.ca, .verify_peer = 1};
	struct tls_ctx *sctx;
	cr_assert_eq(tls_ctx_new_server(&sc, &sctx), 0);
	struct env e;
	env_init(&e, sctx);
	struct tls_config cc = {.cert_file = certs.client_cert, .key_file = certs.client_key,
				.ca_file = certs.ca, .verify_peer = 1, .server_name = "localhost"};
	struct tls_ctx *cctx;
	cr_assert_eq(tls_ctx_new_client(&cc, &cctx), 0);
	struct cstate cs = {0};
	struct transport_client_config tc = {.addr = e.addr, .tls = cctx, .on_ready = c_ready, .on_closed = c_closed, .ctx = &cs};
	struct transport_client *cl;
	cr_assert_eq(transport_client_connect(e.r, &tc, &cl), 0);
	struct result r;
	memset(&r, 0, sizeof r);
	struct grpc_md md[] = {{"authorization", "Bearer t", 0}};
	struct grpc_client_call_opts o = {.md = md, .md_count = 1, .encoding = GRPC_ENCODING_SNAPPY};
	cr_assert_eq(grpc_client_unary(transport_client_grpc(cl), "/test.Echo/Unary", &o, (const uint8_t *)"tls!", 4,
				       &result_ops, &r, NULL), 0);
	env_run_until(&e, &r.done);
	cr_assert_eq(r.status, GRPC_STATUS_OK, "%s", r.message);
	cr_assert(cs.ready);
	transport_client_free(cl);
	/* no client certificate: refused */
	struct tls_config nocert = {.ca_file = certs.ca, .verify_peer = 1, .server_name = "localhost"};
	struct tls_ctx *nctx;
	cr_assert_eq(tls_ctx_new_client(&nocert, &nctx), 0);
	memset(&cs, 0, sizeof cs);
	struct transport_client_config tn = {.addr = e.addr, .tls = nctx, .on_closed = c_closed, .ctx = &cs};
	cr_assert_eq(transport_client_connect(e.r, &tn, &cl), 0);
	memset(&r, 0, sizeof r);
	cr_assert_eq(grpc_client_unary(transport_client_grpc(cl), "/test.Echo/Unary", NULL, (const uint8_t *)"x", 1,
				       &result_ops, &r, NULL), 0);
	env_run_until(&e, &r.done);
	cr_assert_eq(r.status, GRPC_STATUS_UNAVAILABLE);
	transport_client_free(cl);
	tls_ctx_free(nctx);
	tls_ctx_free(cctx);
	env_deinit(&e);
	tls_ctx_free(sctx);
	test_certs_remove(&certs);
}

/* The blocking client runs its own reactor, so the server runs on its own thread here. */
struct server_thread {
	struct env e;
	int ready;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *server_main(void *arg)
{
	struct server_thread *st = arg;
	env_init(&st->e, NULL);
	pthread_mutex_lock(&st->mu);
	st->ready = 1;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
	cr_assert_eq(reactor_run(st->e.r), 0);
	env_deinit(&st->e);
	return NULL;
}

static int count_msgs(void *ctx, const uint8_t *msg, size_t len)
{
	(void)msg;
	(void)len;
	(*(int *)ctx)++;
	return 0;
}

Test(transport, blocking_sync_client)
{
	struct server_thread st;
	memset(&st, 0, sizeof st);
	pthread_mutex_init(&st.mu, NULL);
	pthread_cond_init(&st.cv, NULL);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, server_main, &st), 0);
	pthread_mutex_lock(&st.mu);
	while (!st.ready)
		pthread_cond_wait(&st.cv, &st.mu);
	pthread_mutex_unlock(&st.mu);
	char url[80];
	snprintf(url, sizeof url, "http://%s", st.e.addr);
	struct grpc_client_sync *s;
	cr_assert_eq(grpc_client_sync_open(url, NULL, 5000000000ull, &s), 0);
	struct net_buf resp;
	net_buf_init(&resp);
	int status = -1;
	char msg[128];
	cr_assert_eq(grpc_client_sync_unary(s, "/test.Echo/Unary", NULL, (const uint8_t *)"sync", 4, &resp, &status,
					    msg, sizeof msg), 0);
	cr_assert_eq(status, GRPC_STATUS_OK);
	cr_assert_eq(net_buf_size(&resp), 4);
	cr_assert_eq(memcmp(net_buf_head(&resp), "sync", 4), 0);
	cr_assert_eq(grpc_client_sync_unary(s, "/test.Echo/Unary", NULL, (const uint8_t *)"err:nope", 8, &resp, &status,
					    msg, sizeof msg), 0);
	cr_assert_eq(status, GRPC_STATUS_INVALID_ARGUMENT);
	cr_assert_str_eq(msg, "nope");
	int n = 0;
	const char *req = "5 1000";
	cr_assert_eq(grpc_client_sync_stream(s, "/test.Echo/ServerStream", NULL, (const uint8_t *)req, strlen(req),
					     count_msgs, &n, &status, msg, sizeof msg), 0);
	cr_assert_eq(status, GRPC_STATUS_OK);
	cr_assert_eq(n, 5);
	/* a deadline on a call nobody answers */
	struct grpc_client_call_opts o = {.timeout_ns = 50000000ull};
	cr_assert_eq(grpc_client_sync_unary(s, "/test.Echo/Hang", &o, (const uint8_t *)"x", 1, &resp, &status, msg,
					    sizeof msg), 0);
	cr_assert_eq(status, GRPC_STATUS_DEADLINE_EXCEEDED);
	grpc_client_sync_close(s);
	net_buf_deinit(&resp);
	/* nothing listening */
	cr_assert_neq(grpc_client_sync_open("http://127.0.0.1:1", NULL, 2000000000ull, &s), 0);
	cr_assert_eq(grpc_client_sync_open("ftp://x", NULL, 0, &s), ERR_INVAL);
	reactor_stop(st.e.r);
	cr_assert_eq(pthread_join(th, NULL), 0);
	/* the held call was canceled when its connection went; release it */
	for (int i = 0; i < svc.nheld; i++)
		(void)grpc_call_finish(svc.held[i], GRPC_STATUS_OK, NULL);
}

struct self_free {
	struct transport_client *cl;
	int done;
};

static void sf_done(struct grpc_client_call *call, int status, const char *message, void *ctx)
{
	(void)call;
	(void)message;
	struct self_free *sf = ctx;
	cr_assert_eq(status, GRPC_STATUS_OK);
	sf->done = 1;
	transport_client_free(sf->cl); /* from inside the connection's own callback */
}

static const struct grpc_client_call_ops sf_ops = {.on_done = sf_done};

Test(transport, client_freed_inside_its_callback)
{
	struct env e;
	env_init(&e, NULL);
	struct self_free sf = {0};
	struct transport_client_config cc = {.addr = e.addr};
	cr_assert_eq(transport_client_connect(e.r, &cc, &sf.cl), 0);
	struct result other;
	memset(&other, 0, sizeof other);
	cr_assert_eq(grpc_client_unary(transport_client_grpc(sf.cl), "/test.Echo/Unary", NULL, (const uint8_t *)"a", 1,
				       &sf_ops, &sf, NULL), 0);
	cr_assert_eq(grpc_client_unary(transport_client_grpc(sf.cl), "/test.Echo/Hang", NULL, (const uint8_t *)"b", 1,
				       &result_ops, &other, NULL), 0);
	env_run_until(&e, &sf.done);
	env_run_until(&e, &other.done);
	cr_assert_eq(other.status, GRPC_STATUS_UNAVAILABLE);
	for (int i = 0; i < 100 && transport_server_conns(e.ts); i++)
		cr_assert_eq(reactor_run_once(e.r, 10000000ull), 0);
	for (int i = 0; i < svc.nheld; i++)
		(void)grpc_call_finish(svc.held[i], GRPC_STATUS_OK, NULL);
	env_deinit(&e);
}

/* Every core of a runtime listens on the same port (SO_REUSEPORT); clients reach all of them. */
struct mc {
	char addr[64];
	struct grpc_server *gs[2];
	struct transport_server *ts[2];
	struct svc svc[2];
	int ok[2];
};

static void mc_init(struct runtime *rt, int core, struct reactor *r, void *arg)
{
	(void)rt;
	struct mc *m = arg;
	struct grpc_server_config sc = {0};
	m->ok[core] = grpc_server_new(&sc, &m->gs[core]) == 0;
	if (!m->ok[core])
		return;
	svc_register(m->gs[core], &m->svc[core]);
	struct transport_server_config tc = {.addr = m->addr, .grpc = m->gs[core]};
	m->ok[core] = transport_server_start(r, &tc, &m->ts[core]) == 0;
}

static void mc_fini(struct runtime *rt, int core, struct reactor *r, void *arg)
{
	(void)rt;
	struct mc *m = arg;
	if (m->ts[core])
		transport_server_free(m->ts[core]);
	for (int i = 0; i < 20; i++)
		if (reactor_run_once(r, 1000000ull))
			break;
	grpc_server_free(m->gs[core]);
}

Test(transport, every_core_accepts_on_one_port)
{
	struct mc m;
	memset(&m, 0, sizeof m);
	int probe = reactor_socket_listen("127.0.0.1:0", 1);
	cr_assert_geq(probe, 0);
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	cr_assert_eq(getsockname(probe, (struct sockaddr *)&sa, &sl), 0);
	snprintf(m.addr, sizeof m.addr, "127.0.0.1:%u", ntohs(sa.sin_port));
	close(probe);
	struct runtime_config rc = {.cores = 2, .init = mc_init, .fini = mc_fini, .arg = &m};
	cr_assert_eq(reactor_backend_parse(NULL, &rc.backend), 0);
	struct runtime *rt;
	cr_assert_eq(runtime_start(&rc, &rt), 0);
	cr_assert(m.ok[0] && m.ok[1], "both cores bind the same port");
	char url[80];
	snprintf(url, sizeof url, "http://%s", m.addr);
	for (int i = 0; i < 16; i++) {
		struct grpc_client_sync *s;
		cr_assert_eq(grpc_client_sync_open(url, NULL, 5000000000ull, &s), 0);
		struct net_buf resp;
		net_buf_init(&resp);
		int status = -1;
		cr_assert_eq(grpc_client_sync_unary(s, "/test.Echo/Unary", NULL, (const uint8_t *)"mc", 2, &resp, &status,
						    NULL, 0), 0);
		cr_assert_eq(status, GRPC_STATUS_OK);
		net_buf_deinit(&resp);
		grpc_client_sync_close(s);
	}
	runtime_stop(rt);
	cr_assert_eq(runtime_join(rt), 0);
}
