/*
 * rest_server.c — the REST port's sockets on core 0's reactor (see rest.h): accept, read,
 * parse (rest_http.h), route, walk the cores (rest_gather.h), answer, keep alive.
 *
 * A connection is in one of three states: READING (a recv in flight, the parser fed), WAITING
 * (a complete request; the walk over the cores is out) or SENDING (the response is being
 * written). Only READING reads: pipelined requests wait in rbuf or in the kernel until the
 * previous answer left, so answers go out in order and one connection holds at most one walk.
 *
 * Deadlines (one sweep timer per server, every SWEEP_NS): an idle keep-alive connection closes
 * after LIMIT_REST_IDLE_TIMEOUT_MS, a started request must be complete within
 * LIMIT_REST_REQUEST_TIMEOUT_MS (408 then close), a walk must come home within
 * LIMIT_REST_GATHER_TIMEOUT_MS (503 naming the core it is stuck at), a response must be taken
 * within LIMIT_REST_SEND_TIMEOUT_MS.
 *
 * Lifetime: the reactor's rule — an fd is closed and its connection freed only after every op
 * on it returned; in_cb keeps a connection alive while one of our callbacks runs on it. A walk
 * that is out when its connection closes is detached (g->ctx = NULL) and freed when it returns;
 * the server itself is freed only when no connection memory, op or walk is left.
 */
#include "server/rest/rest.h"

#include "core/assert.h"
#include "core/limits.h"
#include "core/log.h"
#include "server/node/node_impl.h"
#include "server/rest/rest_gather.h"
#include "server/rest/rest_http.h"
#include "server/rest/rest_metrics.h"
#include "server/rest/rest_prom.h"
#include "server/version.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SWEEP_NS (250ull * 1000000ull)
#define MS(x) ((uint64_t)(x) * 1000000ull)

enum conn_state { C_READING = 1, C_WAITING = 2, C_SENDING = 3 };
enum route { R_NONE = 0, R_HEALTHZ, R_READYZ, R_METRICS };

struct rest_conn {
	struct rest_server *srv;
	struct rest_conn *prev, *next;
	int fd;
	struct io_op recv_op, send_op;
	int recv_busy, send_busy;
	int dead;
	int in_cb;
	enum conn_state state;
	uint64_t deadline_ns;     /* of the current state (0: none) */
	uint64_t request_by_ns;   /* READING: a started request must be complete by then */
	int close_after;          /* close once the response left */
	/* the request being answered */
	enum route route;
	int head_only, keep_alive;
	unsigned http_minor;
	struct rest_gather *g;
	struct rest_http http;
	size_t roff, rlen; /* unparsed bytes: rbuf[roff, rlen) */
	struct net_buf out;
	uint8_t rbuf[LIMIT_REST_RECV_BYTES];
};

struct rest_server {
	struct core_ctx *cc;
	struct reactor *r;
	int lfd;
	uint16_t port;
	struct io_op accept_op, sweep_op;
	int accept_busy, sweep_busy;
	int stopping, freeing;
	struct rest_conn *conns;
	size_t nconns; /* live (on the list) */
	size_t nalloc; /* not yet freed (dead ones wait for their ops) */
	size_t gathers_out;
	struct rest_self_stats stats;
};

static void conn_process(struct rest_conn *c);
static void conn_close(struct rest_conn *c);
static void server_maybe_free(struct rest_server *s);
static void start_sweep(struct rest_server *s);

/* ---- connection lifetime ---------------------------------------------------------------------- */

static void conn_maybe_free(struct rest_conn *c)
{
	if (!c->dead || c->in_cb || c->recv_busy || c->send_busy)
		return;
	ASSERT(c->g == NULL);
	struct rest_server *s = c->srv;
	close(c->fd);
	net_buf_deinit(&c->out);
	free(c);
	ASSERT(s->nalloc > 0);
	s->nalloc--; /* the caller's entry point ends with server_maybe_free */
}

static void conn_close(struct rest_conn *c)
{
	if (c->dead)
		return;
	struct rest_server *s = c->srv;
	c->dead = 1;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ASSERT(s->nconns > 0);
	s->nconns--;
	if (c->g) { /* the walk comes home to a closed connection: it is just freed */
		c->g->req = NULL;
		c->g = NULL;
	}
	if (s->stopping && s->nconns == 0 && s->sweep_busy)
		reactor_cancel(s->r, &s->sweep_op); /* nothing left to time out */
	(void)shutdown(c->fd, SHUT_RDWR);
	if (c->recv_busy)
		reactor_cancel(s->r, &c->recv_op);
	if (c->send_busy)
		reactor_cancel(s->r, &c->send_op);
	conn_maybe_free(c);
}

/* ---- output ----------------------------------------------------------------------------------- */

static void send_cb(struct io_op *op);

static void send_done(struct rest_conn *c)
{
	net_buf_shrink(&c->out, 64u << 10);
	if (c->close_after || c->srv->stopping) {
		conn_close(c);
		return;
	}
	rest_http_next(&c->http);
	c->state = C_READING;
	c->request_by_ns = 0;
	conn_process(c);
}

static void start_send(struct rest_conn *c)
{
	if (c->send_busy || c->dead)
		return;
	if (net_buf_size(&c->out) == 0) {
		send_done(c);
		return;
	}
	size_t n = net_buf_size(&c->out);
	c->send_busy = 1;
	c->send_op.cb = send_cb;
	c->send_op.ctx = c;
	reactor_send(c->srv->r, &c->send_op, c->fd, net_buf_head(&c->out), n < (1u << 30) ? n : (1u << 30));
}

static void send_cb(struct io_op *op)
{
	struct rest_conn *c = op->ctx;
	struct rest_server *s = c->srv;
	c->send_busy = 0;
	c->in_cb++;
	if (!c->dead) {
		if (op->result <= 0) {
			conn_close(c);
		} else {
			ASSERT((size_t)op->result <= net_buf_size(&c->out));
			net_buf_consume(&c->out, (size_t)op->result);
			start_send(c);
		}
	}
	c->in_cb--;
	conn_maybe_free(c);
	server_maybe_free(s);
}

/* Queue a response and start sending it. close: the connection ends after it. */
static void respond(struct rest_conn *c, int status, const char *ctype, const void *body, size_t len,
		    const char *extra, int close_conn)
{
	ASSERT(!c->dead);
	ASSERT(c->state != C_SENDING);
	struct rest_server *s = c->srv;
	int keep = c->keep_alive && !close_conn && !s->stopping;
	s->stats.requests[rest_code_slot(status)]++;
	if (rest_http_respond(&c->out, status, ctype, body, len, c->head_only, keep, c->http_minor, extra)) {
		LOG_WARN("rest: out of memory for a response");
		conn_close(c);
		return;
	}
	c->close_after = !keep;
	c->state = C_SENDING;
	c->deadline_ns = reactor_now_ns(s->r) + MS(LIMIT_REST_SEND_TIMEOUT_MS);
	start_send(c);
}

/* A short text answer; close: the connection ends after it (bad input: the stream position is
 * unknown). */
__attribute__((format(printf, 4, 5))) static void respond_text(struct rest_conn *c, int status, int close_conn,
								 const char *fmt, ...)
{
	char body[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(body, sizeof body - 1, fmt, ap);
	va_end(ap);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof body - 1 ? (size_t)n : sizeof body - 2;
	body[len++] = '\n';
	respond(c, status, "text/plain; charset=utf-8", body, len, NULL, close_conn);
}

/* ---- answers ---------------------------------------------------------------------------------- */

/* The answering core's table names, sorted by id (freed by the caller). */
static struct rest_name *names_of(struct core_ctx *cc, size_t *n)
{
	*n = cc->tables.n;
	struct rest_name *v = malloc((*n ? *n : 1) * sizeof *v);
	if (!v)
		return NULL;
	for (size_t i = 0; i < *n; i++)
		v[i] = (struct rest_name){cc->tables.v[i].id, cc->tables.v[i].name};
	rest_names_sort(v, *n);
	return v;
}

static void answer(struct rest_conn *c, struct rest_gather *g)
{
	struct rest_server *s = c->srv;
	struct core_ctx *cc = s->cc;
	struct rest_snapshot *snap = &g->snap;
	snap->node_stopping = cc->stopping || cc->node->fatal;
	snap->self = s->stats;
	snap->self.conns = s->nconns;
	rest_snapshot_sort(snap);
	size_t n_names = 0;
	struct rest_name *names = names_of(cc, &n_names);
	if (!names) {
		respond_text(c, 500, 0, "out of memory");
		return;
	}
	char reason[256];
	if (c->route == R_HEALTHZ) {
		int code = rest_health(snap, reason, sizeof reason);
		respond_text(c, code, 0, "%s", reason);
	} else if (c->route == R_READYZ) {
		int code = rest_ready(snap, names, n_names, reason, sizeof reason);
		respond_text(c, code, 0, "%s", reason);
	} else {
		ASSERT(c->route == R_METRICS);
		if (rest_proc_sample(&snap->proc))
			LOG_DEBUG("rest: /proc could not be read; process metrics left out");
		struct net_buf body;
		net_buf_init(&body);
		int rc = rest_metrics_render(snap, names, n_names, regatta_version(), &body);
		if (rc) {
			LOG_WARN("rest: /metrics could not be rendered: %s", err_str(rc));
			respond_text(c, 500, 0, "metrics could not be rendered: %s", err_str(rc));
		} else {
			respond(c, 200, PROM_CONTENT_TYPE, net_buf_head(&body), net_buf_size(&body), NULL, 0);
		}
		net_buf_deinit(&body);
	}
	free(names);
}

/* The walk came home (on core 0). */
static void gather_done(struct rest_gather *g)
{
	struct rest_server *s = g->ctx;
	struct rest_conn *c = g->req;
	ASSERT(s != NULL && s->gathers_out > 0);
	if (c) {
		ASSERT(c->g == g && c->state == C_WAITING && !c->dead);
		c->g = NULL;
		c->in_cb++;
		answer(c, g);
		c->in_cb--;
	}
	rest_gather_free(g);
	s->gathers_out--;
	if (c)
		conn_maybe_free(c);
	server_maybe_free(s);
}

static enum route route_of(const char *path)
{
	if (!strcmp(path, "/healthz"))
		return R_HEALTHZ;
	if (!strcmp(path, "/readyz"))
		return R_READYZ;
	if (!strcmp(path, "/metrics"))
		return R_METRICS;
	return R_NONE;
}

static void handle_request(struct rest_conn *c)
{
	struct rest_server *s = c->srv;
	const struct rest_http_request *req = rest_http_request(&c->http);
	c->head_only = req->method == REST_METHOD_HEAD;
	c->keep_alive = req->keep_alive;
	c->http_minor = req->http_minor;
	c->route = route_of(req->path);
	if (c->route == R_NONE) {
		respond_text(c, 404, 0, "not found: the REST port serves /healthz, /readyz and /metrics");
		return;
	}
	if (req->method == REST_METHOD_OTHER) {
		static const char body[] = "method not allowed: use GET or HEAD\n";
		respond(c, 405, "text/plain; charset=utf-8", body, sizeof body - 1, "Allow: GET, HEAD\r\n", 0);
		return;
	}
	if (s->gathers_out >= LIMIT_REST_GATHERS_MAX) {
		static const char busy[] = "busy: too many requests in flight\n";
		respond(c, 503, "text/plain; charset=utf-8", busy, sizeof busy - 1, "Retry-After: 1\r\n", 0);
		return;
	}
	size_t cap = c->route == R_HEALTHZ ? 0 : s->cc->tables.n + 64; /* + the metadata group, + tables
									  * created during the walk */
	struct rest_gather *g = rest_gather_new(s->cc->node, s->cc->core, c->route != R_HEALTHZ, cap);
	if (!g) {
		respond_text(c, 503, 0, "out of memory");
		return;
	}
	g->done = gather_done;
	g->ctx = s;
	g->req = c;
	c->g = g;
	c->state = C_WAITING;
	c->deadline_ns = reactor_now_ns(s->r) + MS(LIMIT_REST_GATHER_TIMEOUT_MS);
	s->gathers_out++;
	rest_gather_start(g); /* may answer before it returns (one core) */
}

/* ---- input ------------------------------------------------------------------------------------ */

static void recv_cb(struct io_op *op);

static void start_recv(struct rest_conn *c)
{
	if (c->recv_busy || c->dead || c->state != C_READING)
		return;
	ASSERT(c->roff == 0 && c->rlen == 0); /* READING consumes every byte it has */
	c->recv_busy = 1;
	c->recv_op.cb = recv_cb;
	c->recv_op.ctx = c;
	reactor_recv(c->srv->r, &c->recv_op, c->fd, c->rbuf, sizeof c->rbuf);
}

/* Feed what is buffered while reading; answer complete requests and bad input. */
static void conn_process(struct rest_conn *c)
{
	struct rest_server *s = c->srv;
	for (int guard = 0; !c->dead && c->state == C_READING && c->roff < c->rlen; guard++) {
		ASSERT(guard <= (int)LIMIT_REST_RECV_BYTES); /* every pass consumes or changes state */
		enum rest_http_event ev;
		size_t n = rest_http_feed(&c->http, c->rbuf + c->roff, c->rlen - c->roff, &ev);
		c->roff += n;
		if (ev == REST_HTTP_REQUEST) {
			handle_request(c);
		} else if (ev == REST_HTTP_ERROR) {
			c->head_only = 0;
			c->keep_alive = 0;
			c->http_minor = 1;
			int st = rest_http_error_status(&c->http);
			respond_text(c, st, 1, "%s", rest_http_error_reason(&c->http));
		} else {
			ASSERT(c->roff == c->rlen);
		}
	}
	if (c->dead || c->state != C_READING)
		return;
	c->roff = c->rlen = 0;
	uint64_t now = reactor_now_ns(s->r);
	if (rest_http_started(&c->http)) {
		if (!c->request_by_ns)
			c->request_by_ns = now + MS(LIMIT_REST_REQUEST_TIMEOUT_MS);
		c->deadline_ns = c->request_by_ns;
	} else {
		if (s->stopping) { /* idle at shutdown: nothing to finish */
			conn_close(c);
			return;
		}
		c->deadline_ns = now + MS(LIMIT_REST_IDLE_TIMEOUT_MS);
	}
	start_recv(c);
}

static void recv_cb(struct io_op *op)
{
	struct rest_conn *c = op->ctx;
	struct rest_server *s = c->srv;
	c->recv_busy = 0;
	c->in_cb++;
	if (!c->dead) {
		if (op->result <= 0) {
			conn_close(c); /* the peer closed, or the socket failed */
		} else if (c->state != C_READING) {
			/* a 408 is going out: later bytes are dropped, the connection ends after it */
		} else {
			ASSERT((size_t)op->result <= sizeof c->rbuf);
			c->roff = 0;
			c->rlen = (size_t)op->result;
			conn_process(c);
		}
	}
	c->in_cb--;
	conn_maybe_free(c);
	server_maybe_free(s);
}

/* ---- deadlines -------------------------------------------------------------------------------- */

static void conn_expire(struct rest_conn *c, uint64_t now)
{
	if (c->dead || !c->deadline_ns || now < c->deadline_ns)
		return;
	c->in_cb++;
	if (c->state == C_WAITING) {
		struct rest_gather *g = c->g;
		ASSERT(g != NULL);
		int at = rest_gather_at(g);
		g->req = NULL; /* it frees itself when it comes home */
		c->g = NULL;
		c->state = C_READING; /* answer as for any request read */
		LOG_WARN("rest: core %d did not answer a %s walk within %d ms", at,
			 c->route == R_HEALTHZ ? "health" : "metrics", LIMIT_REST_GATHER_TIMEOUT_MS);
		respond_text(c, 503, 0, "core %d did not answer within %d ms", at, LIMIT_REST_GATHER_TIMEOUT_MS);
	} else if (c->state == C_READING && rest_http_started(&c->http)) {
		c->keep_alive = 0;
		c->head_only = 0;
		respond_text(c, 408, 1, "the request did not arrive in time"); /* the recv stays out */
	} else {
		conn_close(c); /* idle too long, or the reader does not take the response */
	}
	c->in_cb--;
	conn_maybe_free(c);
}

static void sweep_cb(struct io_op *op)
{
	struct rest_server *s = op->ctx;
	s->sweep_busy = 0;
	if (!s->freeing) {
		uint64_t now = reactor_now_ns(s->r);
		struct rest_conn *c = s->conns;
		while (c) {
			struct rest_conn *next = c->next; /* c may close (and leave the list) */
			conn_expire(c, now);
			c = next;
		}
		start_sweep(s);
	}
	server_maybe_free(s);
}

static void start_sweep(struct rest_server *s)
{
	if (s->sweep_busy || s->freeing || (s->stopping && s->nconns == 0))
		return;
	s->sweep_busy = 1;
	memset(&s->sweep_op, 0, sizeof s->sweep_op);
	s->sweep_op.cb = sweep_cb;
	s->sweep_op.ctx = s;
	reactor_timeout(s->r, &s->sweep_op, SWEEP_NS);
}

/* ---- accepting -------------------------------------------------------------------------------- */

static void accept_cb(struct io_op *op);

static void start_accept(struct rest_server *s)
{
	if (s->accept_busy || s->stopping || s->freeing)
		return;
	s->accept_busy = 1;
	memset(&s->accept_op, 0, sizeof s->accept_op);
	s->accept_op.cb = accept_cb;
	s->accept_op.ctx = s;
	reactor_accept(s->r, &s->accept_op, s->lfd);
}

static void accept_cb(struct io_op *op)
{
	struct rest_server *s = op->ctx;
	s->accept_busy = 0;
	if (s->stopping || s->freeing) {
		if (op->result >= 0)
			close((int)op->result);
		server_maybe_free(s);
		return;
	}
	if (op->result < 0) {
		if (op->result != ERR_CANCELED)
			LOG_WARN("rest: accept failed: %s", err_str((int)op->result));
		start_accept(s);
		return;
	}
	int fd = (int)op->result;
	start_accept(s);
	if (s->nconns >= LIMIT_REST_CONNECTIONS) {
		if (s->stats.conns_refused++ == 0)
			LOG_WARN("rest: %d connections open: refusing more (counted in "
				 "regatta_rest_connections_refused_total)", LIMIT_REST_CONNECTIONS);
		close(fd);
		return;
	}
	struct rest_conn *c = calloc(1, sizeof *c);
	if (!c) {
		LOG_WARN("rest: out of memory for a connection");
		close(fd);
		return;
	}
	c->srv = s;
	c->fd = fd;
	c->state = C_READING;
	net_buf_init(&c->out);
	rest_http_init(&c->http);
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	s->nalloc++;
	s->stats.conns_accepted++;
	c->in_cb++;
	conn_process(c); /* nothing buffered: sets the idle deadline and starts reading */
	c->in_cb--;
	conn_maybe_free(c);
}

/* A listening socket of our own: SO_REUSEADDR (restarts) but not SO_REUSEPORT, so a port in use
 * by another process is an error here rather than a silent share. */
static int listen_exclusive(const char *addr)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd = reactor_socket_for(addr, &sa, &salen); /* non-blocking, TCP_NODELAY */
	if (fd < 0)
		return fd;
	int one = 1, rc;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, 128) < 0) {
		rc = errno == EADDRINUSE ? ERR_EXISTS : err_from_errno(errno);
		close(fd);
		return rc;
	}
	return fd;
}

int rest_server_start(struct core_ctx *cc, const char *addr, struct rest_server **out)
{
	ASSERT(cc != NULL && addr != NULL && out != NULL);
	ASSERT(cc->r != NULL);
	struct rest_server *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	s->cc = cc;
	s->r = cc->r;
	int fd = listen_exclusive(addr);
	if (fd < 0) {
		free(s);
		return fd;
	}
	s->lfd = fd;
	int port = reactor_socket_port(fd);
	s->port = port > 0 ? (uint16_t)port : 0;
	start_accept(s);
	start_sweep(s);
	*out = s;
	return 0;
}

uint16_t rest_server_port(const struct rest_server *s)
{
	return s->port;
}

/* ---- stopping --------------------------------------------------------------------------------- */

void rest_server_shutdown(struct rest_server *s)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	if (s->accept_busy)
		reactor_cancel(s->r, &s->accept_op);
	struct rest_conn *c = s->conns;
	while (c) {
		struct rest_conn *next = c->next;
		if (c->state == C_READING) { /* between requests (or in one): nothing to finish */
			c->in_cb++;
			conn_close(c);
			c->in_cb--;
			conn_maybe_free(c);
		}
		/* WAITING / SENDING: the answer goes out with Connection: close */
		c = next;
	}
	if (s->nconns == 0 && s->sweep_busy)
		reactor_cancel(s->r, &s->sweep_op);
}

int rest_server_idle(const struct rest_server *s)
{
	return s->nconns == 0 && s->nalloc == 0 && s->gathers_out == 0 && !s->accept_busy && !s->sweep_busy;
}

static void server_maybe_free(struct rest_server *s)
{
	if (!s->freeing || s->accept_busy || s->sweep_busy || s->nalloc || s->gathers_out)
		return;
	ASSERT(s->conns == NULL && s->nconns == 0);
	close(s->lfd);
	free(s);
}

void rest_server_free(struct rest_server *s)
{
	if (!s)
		return;
	if (s->gathers_out)
		LOG_WARN("rest: %zu walks over the cores still out at close; freed when they return", s->gathers_out);
	s->stopping = 1;
	while (s->conns)
		conn_close(s->conns);
	s->freeing = 1; /* only now: closing a connection must not free the server under the loop */
	if (s->accept_busy)
		reactor_cancel(s->r, &s->accept_op);
	if (s->sweep_busy)
		reactor_cancel(s->r, &s->sweep_op);
	server_maybe_free(s);
}
