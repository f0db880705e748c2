/*
 * grpc_test_server.c — serves regatta.test.v1.Echo and grpc.health.v1.Health on our gRPC server
 * (net/transport.h + net/grpc_server.h) for the interop tests and the gRPC benchmark.
 *
 * usage: grpc_test_server [--listen HOST:PORT] [--tls-listen HOST:PORT --cert F --key F
 *                         [--client-ca F]] [--cores N] [--max-recv BYTES]
 *                         [--mirror-compression] [--log-level L]
 *
 * Port 0 picks a free port; once every core listens it prints "port=<n>" (plaintext) and/or
 * "tls_port=<n>" (TLS), then "ready". Every core accepts on the same ports (SO_REUSEPORT; the
 * port is reserved first by a placeholder socket that is closed before "ready").
 * The I/O backend comes from REGATTA_IO_BACKEND (uring|epoll|auto). Cores are not pinned: run
 * it under taskset to choose CPUs (the benchmark does).
 *
 * Signals (taken by a dedicated thread with sigwait, so the cores only ever see mailbox
 * messages): SIGUSR1 flips the health status SERVING <-> NOT_SERVING on every core (Watch
 * streams see it); SIGTERM/SIGINT drain: watchers end, listeners GOAWAY, in-flight calls finish
 * within the transport's grace time, then exit 0. Bounded: after 10 minutes without a signal the
 * server drains by itself, and a drain that has not finished in 15 s exits 1.
 */
#include "tests/integration/echo_service.h"

#include "core/assert.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/log.h"
#include "core/reactor.h"
#include "core/runtime.h"
#include "net/grpc_health.h"
#include "net/grpc_server.h"
#include "net/tls.h"
#include "net/transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SERVER_LIFETIME_S 600       /* a forgotten server drains by itself */
#define SERVER_DRAIN_MAX_MS 15000   /* transport grace (5 s) + margin, then give up */
#define SERVER_POLL_MS 10           /* drain progress check */

struct options {
	const char *listen;
	const char *tls_listen;
	const char *cert;
	const char *key;
	const char *client_ca;
	int cores;
	size_t max_recv;
	int mirror;
};

struct core_ctx {
	struct echo_core echo;
	struct grpc_server *grpc;     /* per core: grpc_health keeps per-core state */
	struct grpc_health *health;
	struct transport_server *plain;
	struct transport_server *tls;
	struct io_op drain_timer;
	int drain_timer_armed;
	uint64_t drain_started_ns;
	int drained;
};

static struct options opt = {.cores = 1};
static struct grpc_server_config g_scfg;
static struct tls_ctx *g_tls;
static struct core_ctx g_cores[LIMIT_CORES_MAX];
static char g_plain_addr[128];
static char g_tls_addr[128];
static atomic_int g_started;  /* cores listening */
static atomic_int g_failed;   /* a core could not start */
static atomic_int g_drained;  /* cores done draining */
static atomic_int g_exit_code;
static struct runtime *g_rt;

static const char ECHO_SERVICE[] = "regatta.test.v1.Echo";

/* The core's own grpc_server with Echo + Health. */
static int core_services(struct core_ctx *cc)
{
	int err = grpc_server_new(&g_scfg, &cc->grpc);
	if (err)
		return err;
	err = echo_service_register(cc->grpc, &cc->echo);
	if (!err)
		err = grpc_health_new(cc->grpc, &cc->health);
	if (!err)
		err = grpc_health_set(cc->health, ECHO_SERVICE, GRPC_HEALTH_SERVING);
	return err;
}

/* ---- per-core lifecycle ---------------------------------------------------------------------- */

static void core_init(struct runtime *rt, int core, struct reactor *r, void *arg)
{
	(void)rt;
	(void)arg;
	struct core_ctx *cc = &g_cores[core];
	echo_core_init(&cc->echo, r);
	int serr = core_services(cc);
	if (serr) {
		LOG_ERROR("core %d: services: %s", core, err_str(serr));
		atomic_fetch_add(&g_failed, 1);
		return;
	}
	if (g_plain_addr[0]) {
		struct transport_server_config cfg = {.addr = g_plain_addr, .grpc = cc->grpc};
		int err = transport_server_start(r, &cfg, &cc->plain);
		if (err) {
			LOG_ERROR("core %d: listen %s: %s", core, g_plain_addr, err_str(err));
			atomic_fetch_add(&g_failed, 1);
			return;
		}
	}
	if (g_tls_addr[0]) {
		struct transport_server_config cfg = {.addr = g_tls_addr, .grpc = cc->grpc,
						      .tls = g_tls};
		int err = transport_server_start(r, &cfg, &cc->tls);
		if (err) {
			LOG_ERROR("core %d: listen %s: %s", core, g_tls_addr, err_str(err));
			atomic_fetch_add(&g_failed, 1);
			return;
		}
	}
	atomic_fetch_add(&g_started, 1);
}

static void core_fini(struct runtime *rt, int core, struct reactor *r, void *arg)
{
	(void)rt;
	(void)r;
	(void)arg;
	struct core_ctx *cc = &g_cores[core];
	/* Connections first (their calls get on_cancel), then the services, then the server. */
	if (cc->plain)
		transport_server_free(cc->plain);
	if (cc->tls)
		transport_server_free(cc->tls);
	cc->plain = cc->tls = NULL;
	grpc_health_free(cc->health);
	cc->health = NULL;
	ASSERT(cc->echo.live_calls == 0);
	if (cc->grpc)
		grpc_server_free(cc->grpc);
	cc->grpc = NULL;
}

static int core_idle(struct core_ctx *cc)
{
	return (!cc->plain || transport_server_idle(cc->plain)) &&
	       (!cc->tls || transport_server_idle(cc->tls)) && cc->echo.live_calls == 0;
}

/* Drain, polled every SERVER_POLL_MS: wait until no connection and no call is left (bounded),
 * then free the listeners while the loop still runs (transport_server_free releases its memory
 * only once the reactor returned the canceled accept and grace-timer ops), give that one more
 * poll interval, then count this core as drained; the last one stops the runtime. */
static void drain_poll(struct io_op *op)
{
	struct core_ctx *cc = op->ctx;
	ASSERT(cc->drain_timer_armed);
	cc->drain_timer_armed = 0;
	if (cc->drained) { /* the listeners were freed one interval ago */
		if (atomic_fetch_add(&g_drained, 1) + 1 == opt.cores)
			runtime_stop(g_rt);
		return;
	}
	uint64_t now = reactor_now_ns(cc->echo.r);
	int late = now - cc->drain_started_ns > (uint64_t)SERVER_DRAIN_MAX_MS * 1000000u;
	if (core_idle(cc) || late) {
		if (late) {
			LOG_ERROR("drain did not finish in %d ms (live calls %zu)", SERVER_DRAIN_MAX_MS,
				  cc->echo.live_calls);
			atomic_store(&g_exit_code, 1);
		}
		if (cc->plain)
			transport_server_free(cc->plain);
		if (cc->tls)
			transport_server_free(cc->tls);
		cc->plain = cc->tls = NULL;
		cc->drained = 1;
	}
	cc->drain_timer_armed = 1;
	reactor_timeout(cc->echo.r, &cc->drain_timer, SERVER_POLL_MS * 1000000ull);
}

static void core_drain(struct runtime *rt, int core, void *arg)
{
	(void)rt;
	(void)arg;
	struct core_ctx *cc = &g_cores[core];
	if (cc->drain_started_ns)
		return;
	cc->drain_started_ns = reactor_now_ns(cc->echo.r);
	/* Watchers hear NOT_SERVING; the transport's grace then ends what is still open. */
	grpc_health_shutdown(cc->health);
	if (cc->plain)
		transport_server_shutdown(cc->plain);
	if (cc->tls)
		transport_server_shutdown(cc->tls);
	cc->drain_timer.cb = drain_poll;
	cc->drain_timer.ctx = cc;
	cc->drain_timer_armed = 1;
	reactor_timeout(cc->echo.r, &cc->drain_timer, 0);
}

static void core_flip_health(struct runtime *rt, int core, void *arg)
{
	(void)rt;
	struct core_ctx *cc = &g_cores[core];
	enum grpc_health_status st = (enum grpc_health_status)(intptr_t)arg;
	if (cc->drain_started_ns)
		return;
	if (grpc_health_set(cc->health, "", st) || grpc_health_set(cc->health, ECHO_SERVICE, st))
		LOG_ERROR("core %d: health_set failed", core);
}

/* Post fn to every core, retrying while a mailbox is full (bounded). */
static void post_all(runtime_msg_fn fn, void *arg)
{
	for (int c = 0; c < opt.cores; c++) {
		for (int tries = 0; tries < 1000; tries++) {
			int err = runtime_post(g_rt, c, fn, arg);
			if (err != ERR_AGAIN) {
				if (err)
					LOG_ERROR("post to core %d: %s", c, err_str(err));
				break;
			}
			usleep(1000);
		}
	}
}

/* ---- signals -------------------------------------------------------------------------------- */

static void *signal_thread(void *arg)
{
	sigset_t *set = arg;
	int serving = 1;
	struct timespec left = {.tv_sec = SERVER_LIFETIME_S};
	for (;;) {
		int sig = sigtimedwait(set, NULL, &left);
		if (sig == SIGUSR1) {
			serving = !serving;
			post_all(core_flip_health, (void *)(intptr_t)(serving ? 1 : 2));
			printf("health=%d\n", serving ? 1 : 2);
			fflush(stdout);
			continue;
		}
		if (sig < 0 && errno == EINTR)
			continue;
		if (sig < 0)
			LOG_WARN("no signal in %d s: draining", SERVER_LIFETIME_S);
		post_all(core_drain, NULL);
		return NULL;
	}
}

/* ---- main ----------------------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: grpc_test_server [--listen H:P] [--tls-listen H:P --cert F --key F "
		"[--client-ca F]] [--cores N] [--max-recv BYTES] "
		"[--mirror-compression] [--log-level L]\n");
	exit(2);
}

static void parse(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--mirror-compression") == 0) {
			opt.mirror = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (strcmp(a, "--listen") == 0)
			opt.listen = v;
		else if (strcmp(a, "--tls-listen") == 0)
			opt.tls_listen = v;
		else if (strcmp(a, "--cert") == 0)
			opt.cert = v;
		else if (strcmp(a, "--key") == 0)
			opt.key = v;
		else if (strcmp(a, "--client-ca") == 0)
			opt.client_ca = v;
		else if (strcmp(a, "--cores") == 0)
			opt.cores = atoi(v);
		else if (strcmp(a, "--max-recv") == 0)
			opt.max_recv = (size_t)strtoull(v, NULL, 10);
		else if (strcmp(a, "--log-level") == 0) {
			enum log_level l;
			if (log_parse_level(v, &l))
				usage();
			log_set_level(l);
		} else
			usage();
	}
	if (opt.cores < 1 || opt.cores > LIMIT_CORES_MAX || (!opt.listen && !opt.tls_listen) ||
	    (opt.tls_listen && (!opt.cert || !opt.key)))
		usage();
}

/* Reserve the port of `addr` with a placeholder socket; writes "host:port" into out. */
static int reserve_port(const char *addr, char *out, size_t cap, int *fd_out)
{
	int fd = reactor_socket_listen(addr, 16);
	if (fd < 0)
		return fd;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		close(fd);
		return err_from_errno(errno);
	}
	uint16_t port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
						 : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	const char *colon = strrchr(addr, ':');
	ASSERT(colon != NULL);
	snprintf(out, cap, "%.*s:%u", (int)(colon - addr), addr, port);
	*fd_out = fd;
	return port;
}

int main(int argc, char **argv)
{
	parse(argc, argv);
	int rc = 1;
	int plain_fd = -1, tls_fd = -1;
	pthread_t sig_tid;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	/* Blocked before any thread starts, so only the signal thread takes them. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	enum reactor_backend backend;
	if (reactor_backend_parse(NULL, &backend)) {
		fprintf(stderr, "bad REGATTA_IO_BACKEND\n");
		return 2;
	}
	g_scfg.max_recv_msg_bytes = opt.max_recv;
	g_scfg.mirror_compression = opt.mirror;
	int err = 0;
	if (opt.tls_listen) {
		struct tls_config tcfg = {.cert_file = opt.cert, .key_file = opt.key,
					  .ca_file = opt.client_ca,
					  .verify_peer = opt.client_ca != NULL};
		err = tls_ctx_new_server(&tcfg, &g_tls);
		if (err) {
			fprintf(stderr, "tls: %s\n", err_str(err));
			return 1;
		}
	}
	int plain_port = -1, tls_port = -1;
	if (opt.listen) {
		plain_port = reserve_port(opt.listen, g_plain_addr, sizeof g_plain_addr, &plain_fd);
		if (plain_port < 0) {
			fprintf(stderr, "listen %s: %s\n", opt.listen, err_str(plain_port));
			goto err_tls;
		}
	}
	if (opt.tls_listen) {
		tls_port = reserve_port(opt.tls_listen, g_tls_addr, sizeof g_tls_addr, &tls_fd);
		if (tls_port < 0) {
			fprintf(stderr, "listen %s: %s\n", opt.tls_listen, err_str(tls_port));
			goto err_fds;
		}
	}

	struct runtime_config rcfg = {.cores = opt.cores, .backend = backend,
				      .pin = 0, .init = core_init,
				      .fini = core_fini};
	err = runtime_start(&rcfg, &g_rt);
	if (err) {
		fprintf(stderr, "runtime_start: %s\n", err_str(err));
		goto err_fds;
	}
	/* Wait (bounded) for every core to listen. */
	for (int i = 0; i < 10000 && atomic_load(&g_started) + atomic_load(&g_failed) < opt.cores;
	     i++)
		usleep(1000);
	if (atomic_load(&g_started) != opt.cores) {
		fprintf(stderr, "not every core could listen\n");
		runtime_stop(g_rt);
		(void)runtime_join(g_rt);
		goto err_fds;
	}
	if (plain_fd >= 0)
		close(plain_fd);
	if (tls_fd >= 0)
		close(tls_fd);
	plain_fd = tls_fd = -1;
	if (pthread_create(&sig_tid, NULL, signal_thread, &set) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		runtime_stop(g_rt);
		(void)runtime_join(g_rt);
		goto err_fds;
	}
	if (plain_port >= 0)
		printf("port=%d\n", plain_port);
	if (tls_port >= 0)
		printf("tls_port=%d\n", tls_port);
	printf("cores=%d\nready\n", opt.cores);
	fflush(stdout);

	err = runtime_join(g_rt);
	if (err)
		LOG_ERROR("runtime: %s", err_str(err));
	/* Normally the signal thread already returned after posting the drain; if the runtime
	 * ended by itself (fatal error), stop it in sigtimedwait. */
	pthread_cancel(sig_tid);
	pthread_join(sig_tid, NULL);
	rc = err ? 1 : atomic_load(&g_exit_code);
err_fds:
	if (plain_fd >= 0)
		close(plain_fd);
	if (tls_fd >= 0)
		close(tls_fd);
err_tls:
	if (g_tls)
		tls_ctx_free(g_tls);
	return rc;
}
