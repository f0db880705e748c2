/*
 * transport.c — sockets through the reactor, feeding TLS and the gRPC connections
 * (see transport.h).
 *
 * A struct tconn is one socket, server or client side. Ops: one recv, one send, one timer, each
 * embedded in the tconn and in flight at most once. Output path: the gRPC connection is drained
 * into `plain` (TLS) or straight into `wire`; bytes being sent live in `sending`, which is never
 * touched while the send op is in flight (a net_buf append could move it); when the send
 * completes, `wire` and `sending` swap. Flushing happens in a turn-end hook over the dirty list,
 * so many responses produced in one reactor turn leave in one send.
 *
 * Backpressure: when more than LIMIT_NET_SEND_BYTES_IN_FLIGHT bytes wait to be written, the
 * connection stops reading (the peer's own flow control then stops it) and stops draining gRPC
 * output (nghttp2 keeps it; handlers see ERR_AGAIN past their queue limit).
 *
 * Closing: the fd is shut down, in-flight ops are canceled, and the fd is closed and the tconn
 * freed only after every op's callback ran (the reactor's rule).
 */
#include "net/transport.h"

#include "core/assert.h"
#include "core/limits.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tconn {
	struct reactor *r;
	struct transport_server *srv;    /* server side */
	struct transport_client *client; /* client side */
	struct tconn *prev, *next;       /* server's connection list */
	struct tconn *dirty_next;
	int dirty;
	int fd;
	struct tls_conn *tls;
	struct grpc_server_conn *gs;
	struct grpc_client_conn *gc;
	struct io_op recv_op, send_op, timer_op;
	int recv_busy, send_busy, timer_busy;
	uint64_t timer_at;
	int recv_paused;
	int connected;  /* TCP up (client: after connect) */
	int ready;      /* TLS done (or none): h2 bytes may flow */
	int closing;    /* flush what is queued, then close */
	int dead;       /* closed: waiting for ops to return, then freed */
	int in_cb;      /* inside one of our op callbacks: do not free yet */
	uint64_t connect_deadline; /* client: ready by then or ERR_TIMEOUT */
	int close_err;
	struct net_buf plain;   /* h2 output before TLS */
	struct net_buf wire;    /* bytes to send next */
	struct net_buf sending; /* bytes owned by the in-flight send */
	struct net_buf tls_in;  /* decrypted input */
	uint8_t rbuf[LIMIT_NET_RECV_BYTES];
};

struct transport_server {
	struct reactor *r;
	struct transport_server_config cfg;
	int lfd;
	uint16_t port;
	struct io_op accept_op;
	int accept_busy;
	int stopping;       /* shutdown: no more accepts */
	int freeing;        /* free requested: release once ops are back */
	uint64_t shutdown_at;
	struct io_op grace_op;
	int grace_busy;
	struct tconn *conns;
	size_t nconns;
	size_t nalloc; /* connections not yet freed (dead ones wait for their ops) */
	struct tconn *dirty;
	int hook;
};

struct transport_client {
	struct reactor *r;
	struct transport_client_config cfg;
	char *addr;
	struct tconn *conn;
	struct tconn *dirty;
	int hook;
	int freeing;
	int closed_reported;
	int *freed_flag; /* sync client: set when the struct is finally freed */
};

static void conn_flush(struct tconn *c);
static void conn_close(struct tconn *c, int err);
static void conn_maybe_free(struct tconn *c);
static void client_maybe_free(struct transport_client *cl);
static void server_maybe_free(struct transport_server *s);

static size_t pending_out(const struct tconn *c)
{
	return net_buf_size(&c->wire) + net_buf_size(&c->sending) + net_buf_size(&c->plain);
}

/* Forget a dirty list (its owner is going away): unlink every entry so they can be freed.
 * Call before the owner is marked freeing, so freeing a connection cannot free the owner. */
static void drop_dirty(struct tconn **head)
{
	struct tconn *c = *head;
	*head = NULL;
	while (c) {
		struct tconn *next = c->dirty_next;
		c->dirty = 0;
		c->dirty_next = NULL;
		conn_maybe_free(c); /* a dead one may have waited only for this */
		c = next;
	}
}

static void mark_dirty(struct tconn *c)
{
	if (c->dirty || c->dead)
		return;
	c->dirty = 1;
	struct tconn **head = c->srv ? &c->srv->dirty : &c->client->dirty;
	c->dirty_next = *head;
	*head = c;
}

static void on_grpc_output(void *ctx)
{
	mark_dirty(ctx);
}

/* ---- ops ------------------------------------------------------------------------------------- */

static void recv_cb(struct io_op *op);
static void send_cb(struct io_op *op);
static void timer_cb(struct io_op *op);

static void start_recv(struct tconn *c)
{
	if (c->recv_busy || c->dead || c->closing)
		return;
	if (pending_out(c) > LIMIT_NET_SEND_BYTES_IN_FLIGHT) {
		c->recv_paused = 1;
		return;
	}
	c->recv_paused = 0;
	c->recv_busy = 1;
	c->recv_op.cb = recv_cb;
	c->recv_op.ctx = c;
	reactor_recv(c->r, &c->recv_op, c->fd, c->rbuf, sizeof c->rbuf);
}

static void start_send(struct tconn *c)
{
	if (c->send_busy || c->dead || !c->connected)
		return;
	if (net_buf_size(&c->sending) == 0) {
		if (net_buf_size(&c->wire) == 0)
			return;
		struct net_buf t = c->sending;
		c->sending = c->wire;
		c->wire = t;
	}
	c->send_busy = 1;
	c->send_op.cb = send_cb;
	c->send_op.ctx = c;
	reactor_send(c->r, &c->send_op, c->fd, net_buf_head(&c->sending), net_buf_size(&c->sending));
}

static uint64_t grpc_next_timer(const struct tconn *c)
{
	if (c->gs)
		return grpc_server_conn_next_timer_ns(c->gs);
	return c->gc ? grpc_client_conn_next_timer_ns(c->gc) : UINT64_MAX;
}

static void arm_timer(struct tconn *c)
{
	if (c->dead)
		return;
	uint64_t at = grpc_next_timer(c);
	if (!c->ready && c->connect_deadline && c->connect_deadline < at)
		at = c->connect_deadline;
	if (at == UINT64_MAX)
		return;
	if (c->timer_busy) {
		if (at >= c->timer_at)
			return;
		reactor_cancel(c->r, &c->timer_op); /* re-armed earlier from its callback */
		c->timer_at = at;
		return;
	}
	uint64_t now = reactor_now_ns(c->r);
	c->timer_busy = 1;
	c->timer_at = at;
	c->timer_op.cb = timer_cb;
	c->timer_op.ctx = c;
	reactor_timeout(c->r, &c->timer_op, at > now ? at - now : 0);
}

static void timer_cb(struct io_op *op)
{
	struct tconn *c = op->ctx;
	c->timer_busy = 0;
	if (c->dead) {
		conn_maybe_free(c);
		return;
	}
	if (!c->ready && c->connect_deadline && reactor_now_ns(c->r) >= c->connect_deadline) {
		LOG_WARN("transport: connect to %s timed out", c->client ? c->client->addr : "?");
		conn_close(c, ERR_TIMEOUT);
		return;
	}
	c->in_cb++;
	if (c->gs)
		grpc_server_conn_tick(c->gs);
	if (c->gc)
		grpc_client_conn_tick(c->gc);
	c->in_cb--;
	if (c->dead) {
		conn_maybe_free(c);
		return;
	}
	mark_dirty(c);
}

/* Feed decrypted or plain bytes to the gRPC connection. */
static int feed_grpc(struct tconn *c, const uint8_t *p, size_t n)
{
	if (n == 0)
		return 0;
	if (c->gs)
		return grpc_server_conn_recv(c->gs, p, n);
	return grpc_client_conn_recv(c->gc, p, n);
}

static void became_ready(struct tconn *c)
{
	c->ready = 1;
	if (c->gs && c->tls) {
		char addr[80] = "";
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0) {
			char host[64] = "";
			if (ss.ss_family == AF_INET) {
				struct sockaddr_in *a = (struct sockaddr_in *)&ss;
				inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
				snprintf(addr, sizeof addr, "%s:%u", host, ntohs(a->sin_port));
			} else if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
				inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
				snprintf(addr, sizeof addr, "[%s]:%u", host, ntohs(a->sin6_port));
			}
		}
		if (grpc_server_conn_set_peer(c->gs, addr, tls_conn_peer_identity(c->tls)))
			LOG_WARN("transport: cannot record peer identity");
	}
	if (c->client && c->client->cfg.on_ready)
		c->client->cfg.on_ready(c->client, c->client->cfg.ctx);
}

static void recv_cb(struct io_op *op)
{
	struct tconn *c = op->ctx;
	c->recv_busy = 0;
	if (c->dead) {
		conn_maybe_free(c);
		return;
	}
	int64_t n = op->result;
	if (n <= 0) {
		conn_close(c, n == 0 ? ERR_CLOSED : (int)n);
		return;
	}
	int rc;
	c->in_cb++;
	if (c->tls) {
		rc = tls_conn_recv(c->tls, c->rbuf, (size_t)n, &c->tls_in, &c->wire);
		if (!rc && !c->ready && tls_conn_handshake_done(c->tls))
			became_ready(c);
		if (!rc && c->ready && !c->dead) {
			rc = feed_grpc(c, net_buf_head(&c->tls_in), net_buf_size(&c->tls_in));
			net_buf_clear(&c->tls_in);
			net_buf_shrink(&c->tls_in, 64u << 10);
		}
	} else {
		rc = feed_grpc(c, c->rbuf, (size_t)n);
	}
	c->in_cb--;
	if (c->dead) {
		conn_maybe_free(c);
		return;
	}
	if (rc) {
		/* Flush what the protocol queued (GOAWAY, alert), then close. */
		c->closing = 1;
		c->close_err = rc;
	}
	mark_dirty(c);
	start_recv(c);
}

static void send_cb(struct io_op *op)
{
	struct tconn *c = op->ctx;
	c->send_busy = 0;
	if (c->dead) {
		conn_maybe_free(c);
		return;
	}
	if (op->result < 0) {
		conn_close(c, (int)op->result);
		return;
	}
	ASSERT((size_t)op->result <= net_buf_size(&c->sending));
	net_buf_consume(&c->sending, (size_t)op->result);
	if (net_buf_size(&c->sending) == 0)
		net_buf_shrink(&c->sending, 256u << 10);
	start_send(c);
	if (c->recv_paused)
		start_recv(c);
	mark_dirty(c); /* more gRPC output may have been held back */
}

/* Drain gRPC output (bounded), encrypt, send. Runs from the turn hook. */
static void conn_flush(struct tconn *c)
{
	if (c->dead)
		return;
	int rc = 0;
	if (c->ready && net_buf_size(&c->wire) + net_buf_size(&c->sending) < LIMIT_NET_SEND_BYTES_IN_FLIGHT) {
		struct net_buf *dst = c->tls ? &c->plain : &c->wire;
		size_t room = LIMIT_NET_SEND_BYTES_IN_FLIGHT;
		c->in_cb++; /* callbacks (on_done, on_writable) may run in there */
		if (c->gs)
			rc = grpc_server_conn_send(c->gs, dst, room);
		else if (c->gc)
			rc = grpc_client_conn_send(c->gc, dst, room);
		c->in_cb--;
		if (c->dead) {
			conn_maybe_free(c);
			return;
		}
		if (!rc && c->tls && net_buf_size(&c->plain)) {
			rc = tls_conn_send(c->tls, net_buf_head(&c->plain), net_buf_size(&c->plain), &c->wire);
			net_buf_clear(&c->plain);
			net_buf_shrink(&c->plain, 256u << 10);
		}
	}
	if (rc) {
		c->closing = 1;
		c->close_err = rc;
	}
	start_send(c);
	arm_timer(c);
	int proto_done = c->gs ? grpc_server_conn_done(c->gs) : (c->gc ? grpc_client_conn_done(c->gc) : 0);
	if ((c->closing || (c->ready && proto_done)) && pending_out(c) == 0)
		conn_close(c, c->close_err ? c->close_err : ERR_CLOSED);
}

static void flush_list(struct tconn **head)
{
	/* Bounded: each connection is on the list at most once; flushing may re-mark it, which
	 * puts it on the new list for the next turn. */
	struct tconn *c = *head;
	*head = NULL;
	while (c) {
		struct tconn *next = c->dirty_next;
		c->dirty = 0;
		c->dirty_next = NULL;
		if (c->dead)
			conn_maybe_free(c); /* kept while it was on this list */
		else
			conn_flush(c);
		c = next;
	}
}

/* ---- connection lifetime ---------------------------------------------------------------------- */

static struct tconn *conn_new(struct reactor *r, int fd)
{
	struct tconn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->r = r;
	c->fd = fd;
	net_buf_init(&c->plain);
	net_buf_init(&c->wire);
	net_buf_init(&c->sending);
	net_buf_init(&c->tls_in);
	return c;
}

/* Free the protocol objects of a dead connection, unless we are inside one of their calls
 * (a handler or on_done that closed the connection): then on the way out. */
static void conn_free_protocols(struct tconn *c)
{
	if (c->in_cb)
		return;
	if (c->gs) {
		grpc_server_conn_free(c->gs);
		c->gs = NULL;
	}
	if (c->gc) {
		grpc_client_conn_free(c->gc); /* calls get UNAVAILABLE */
		c->gc = NULL;
	}
}

static void conn_maybe_free(struct tconn *c)
{
	if (!c->dead || c->in_cb)
		return;
	conn_free_protocols(c);
	if (c->recv_busy || c->send_busy || c->timer_busy || c->dirty)
		return; /* ops still out, or still linked on a dirty list */
	close(c->fd);
	tls_conn_free(c->tls);
	net_buf_deinit(&c->plain);
	net_buf_deinit(&c->wire);
	net_buf_deinit(&c->sending);
	net_buf_deinit(&c->tls_in);
	struct transport_server *srv = c->srv;
	struct transport_client *cl = c->client;
	free(c);
	if (srv) {
		ASSERT(srv->nalloc > 0);
		srv->nalloc--;
		server_maybe_free(srv);
	}
	if (cl) {
		cl->conn = NULL;
		client_maybe_free(cl);
	}
}

/* Close now: protocol objects are freed (calls canceled), ops canceled, memory freed when the
 * ops are back. */
static void conn_close(struct tconn *c, int err)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (c->srv) {
		struct transport_server *s = c->srv;
		if (c->prev)
			c->prev->next = c->next;
		else
			s->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		s->nconns--;
	}
	conn_free_protocols(c);
	(void)shutdown(c->fd, SHUT_RDWR);
	if (c->recv_busy)
		reactor_cancel(c->r, &c->recv_op);
	if (c->send_busy)
		reactor_cancel(c->r, &c->send_op);
	if (c->timer_busy)
		reactor_cancel(c->r, &c->timer_op);
	struct transport_client *cl = c->client;
	if (cl && !cl->closed_reported) {
		cl->closed_reported = 1;
		if (cl->cfg.on_closed && !cl->freeing)
			cl->cfg.on_closed(cl, err, cl->cfg.ctx);
	}
	conn_maybe_free(c);
}

/* ---- server ---------------------------------------------------------------------------------- */

static void accept_cb(struct io_op *op);

static void server_hook(void *ctx)
{
	struct transport_server *s = ctx;
	flush_list(&s->dirty);
	if (s->stopping && s->nconns > 0 && reactor_now_ns(s->r) >= s->shutdown_at) {
		/* Grace time over: cut what is left. */
		while (s->conns)
			conn_close(s->conns, ERR_STOPPED);
	}
}

static void start_accept(struct transport_server *s)
{
	if (s->accept_busy || s->stopping || s->freeing)
		return;
	s->accept_busy = 1;
	s->accept_op.cb = accept_cb;
	s->accept_op.ctx = s;
	reactor_accept(s->r, &s->accept_op, s->lfd);
}

static void accept_cb(struct io_op *op)
{
	struct transport_server *s = op->ctx;
	s->accept_busy = 0;
	if (s->freeing || s->stopping) {
		if (op->result >= 0)
			close((int)op->result);
		server_maybe_free(s);
		return;
	}
	if (op->result < 0) {
		if (op->result != ERR_CANCELED)
			LOG_WARN("transport: accept failed: %s", err_str((int)op->result));
		start_accept(s);
		return;
	}
	int fd = (int)op->result;
	start_accept(s);
	if (s->nconns >= s->cfg.max_conns) {
		LOG_WARN("transport: connection limit %u reached: refusing", s->cfg.max_conns);
		close(fd);
		return;
	}
	struct tconn *c = conn_new(s->r, fd);
	struct grpc_server_conn_hooks hooks = {on_grpc_output, c};
	if (!c || grpc_server_conn_new(s->cfg.grpc, &hooks, &c->gs) ||
	    (s->cfg.tls && tls_conn_new(s->cfg.tls, &c->tls))) {
		LOG_WARN("transport: out of memory for a new connection");
		if (c) {
			if (c->gs)
				grpc_server_conn_free(c->gs);
			free(c);
		}
		close(fd);
		return;
	}
	c->srv = s;
	s->nalloc++;
	c->connected = 1;
	c->ready = c->tls == NULL;
	if (c->ready) {
		char addr[80] = "";
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			char host[32];
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
			snprintf(addr, sizeof addr, "%s:%u", host, ntohs(a->sin_port));
		}
		if (grpc_server_conn_set_peer(c->gs, addr, NULL))
			LOG_WARN("transport: cannot record peer address");
	}
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	start_recv(c);
	mark_dirty(c); /* our SETTINGS */
}

int transport_server_start(struct reactor *r, const struct transport_server_config *cfg,
			   struct transport_server **out)
{
	ASSERT(r != NULL && cfg != NULL && out != NULL);
	ASSERT(cfg->grpc != NULL && cfg->addr != NULL);
	struct transport_server *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	s->r = r;
	s->cfg = *cfg;
	if (!s->cfg.max_conns)
		s->cfg.max_conns = LIMIT_CONNECTIONS_PER_CORE;
	if (!s->cfg.shutdown_grace_ns)
		s->cfg.shutdown_grace_ns = (uint64_t)LIMIT_NET_SHUTDOWN_GRACE_MS * 1000000ull;
	s->cfg.addr = NULL;
	int fd = reactor_socket_listen(cfg->addr, 1024);
	if (fd < 0) {
		free(s);
		return fd;
	}
	s->lfd = fd;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	int rc = reactor_add_turn_hook(r, server_hook, s);
	if (rc) {
		close(fd);
		free(s);
		return rc;
	}
	s->hook = 1;
	start_accept(s);
	*out = s;
	return 0;
}

uint16_t transport_server_port(const struct transport_server *s)
{
	return s->port;
}

size_t transport_server_conns(const struct transport_server *s)
{
	return s->nconns;
}

static void grace_cb(struct io_op *op)
{
	struct transport_server *s = op->ctx;
	s->grace_busy = 0;
	if (!s->freeing)
		server_hook(s);
	server_maybe_free(s);
}

void transport_server_shutdown(struct transport_server *s)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	s->shutdown_at = reactor_now_ns(s->r) + s->cfg.shutdown_grace_ns;
	if (s->accept_busy)
		reactor_cancel(s->r, &s->accept_op);
	for (struct tconn *c = s->conns; c; c = c->next) {
		grpc_server_conn_shutdown(c->gs);
		mark_dirty(c);
	}
	s->grace_busy = 1;
	s->grace_op.cb = grace_cb;
	s->grace_op.ctx = s;
	reactor_timeout(s->r, &s->grace_op, s->cfg.shutdown_grace_ns);
}

int transport_server_idle(const struct transport_server *s)
{
	return s->nconns == 0;
}

static void server_maybe_free(struct transport_server *s)
{
	if (!s->freeing || s->accept_busy || s->grace_busy || s->nalloc)
		return;
	/* Connections are off the list once dead, but their memory may still wait for ops. */
	if (s->hook) {
		reactor_remove_turn_hook(s->r, server_hook, s);
		s->hook = 0;
	}
	if (s->lfd >= 0) {
		close(s->lfd);
		s->lfd = -1;
	}
	free(s);
}

void transport_server_free(struct transport_server *s)
{
	if (!s)
		return;
	drop_dirty(&s->dirty);
	s->freeing = 1;
	s->stopping = 1;
	if (s->hook) {
		reactor_remove_turn_hook(s->r, server_hook, s);
		s->hook = 0;
	}
	while (s->conns)
		conn_close(s->conns, ERR_STOPPED);
	if (s->accept_busy)
		reactor_cancel(s->r, &s->accept_op);
	if (s->grace_busy)
		reactor_cancel(s->r, &s->grace_op);
	server_maybe_free(s);
}

/* ---- client ---------------------------------------------------------------------------------- */

static void client_hook(void *ctx)
{
	struct transport_client *cl = ctx;
	flush_list(&cl->dirty);
}

static uint64_t reactor_clock(void *ctx)
{
	return reactor_now_ns(ctx);
}

static void client_output(void *ctx)
{
	struct transport_client *cl = ctx;
	if (cl->conn)
		mark_dirty(cl->conn);
}

static void connect_cb(struct io_op *op)
{
	struct tconn *c = op->ctx;
	c->send_busy = 0;
	if (c->dead) {
		conn_maybe_free(c);
		return;
	}
	if (op->result < 0) {
		conn_close(c, ERR_CONN);
		return;
	}
	c->connected = 1;
	if (c->tls) {
		if (tls_conn_start(c->tls, &c->wire)) {
			conn_close(c, ERR_PROTO);
			return;
		}
	} else {
		c->in_cb++;
		became_ready(c);
		c->in_cb--;
		if (c->dead) {
			conn_maybe_free(c);
			return;
		}
	}
	start_recv(c);
	mark_dirty(c);
}

int transport_client_connect(struct reactor *r, const struct transport_client_config *cfg,
			     struct transport_client **out)
{
	ASSERT(r != NULL && cfg != NULL && out != NULL && cfg->addr != NULL);
	struct transport_client *cl = calloc(1, sizeof *cl);
	if (!cl)
		return ERR_NOMEM;
	int rc = ERR_NOMEM;
	cl->r = r;
	cl->cfg = *cfg;
	cl->addr = strdup(cfg->addr);
	if (!cl->addr)
		goto err;
	cl->cfg.addr = cl->addr;
	struct sockaddr_storage sa;
	socklen_t salen = sizeof sa;
	int fd = reactor_socket_for(cfg->addr, &sa, &salen);
	if (fd < 0) {
		rc = fd;
		goto err;
	}
	struct tconn *c = conn_new(r, fd);
	if (!c) {
		close(fd);
		goto err;
	}
	c->client = cl;
	cl->conn = c;
	struct grpc_client_config g = cfg->grpc;
	if (!g.authority)
		g.authority = cl->addr;
	g.tls = cfg->tls != NULL;
	g.on_output = client_output;
	g.output_ctx = cl;
	if (!g.clock_ns) {
		g.clock_ns = reactor_clock;
		g.clock_ctx = r;
	}
	rc = grpc_client_conn_new(&g, &c->gc);
	if (rc)
		goto err_conn;
	if (cfg->tls && (rc = tls_conn_new(cfg->tls, &c->tls)) != 0)
		goto err_conn;
	rc = reactor_add_turn_hook(r, client_hook, cl);
	if (rc)
		goto err_conn;
	cl->hook = 1;
	c->send_busy = 1; /* the connect op uses the send slot */
	c->send_op.cb = connect_cb;
	c->send_op.ctx = c;
	reactor_connect(r, &c->send_op, fd, (struct sockaddr *)&sa, salen);
	uint64_t tmo = cfg->connect_timeout_ns ? cfg->connect_timeout_ns
					       : (uint64_t)LIMIT_NET_CONNECT_TIMEOUT_MS * 1000000ull;
	c->connect_deadline = reactor_now_ns(r) + tmo;
	arm_timer(c);
	*out = cl;
	return 0;
err_conn:
	if (c->gc)
		grpc_client_conn_free(c->gc);
	tls_conn_free(c->tls);
	close(c->fd);
	free(c);
err:
	free(cl->addr);
	free(cl);
	return rc;
}

struct grpc_client_conn *transport_client_grpc(struct transport_client *c)
{
	return c->conn && !c->conn->dead ? c->conn->gc : NULL;
}

int transport_client_ready(const struct transport_client *c)
{
	return c->conn && !c->conn->dead && c->conn->ready;
}

static void client_maybe_free(struct transport_client *cl)
{
	if (!cl->freeing || cl->conn)
		return;
	if (cl->hook) {
		reactor_remove_turn_hook(cl->r, client_hook, cl);
		cl->hook = 0;
	}
	if (cl->freed_flag)
		*cl->freed_flag = 1;
	free(cl->addr);
	free(cl);
}

void transport_client_free(struct transport_client *cl)
{
	if (!cl)
		return;
	drop_dirty(&cl->dirty);
	cl->freeing = 1;
	if (cl->hook) {
		reactor_remove_turn_hook(cl->r, client_hook, cl);
		cl->hook = 0;
	}
	if (cl->conn)
		conn_close(cl->conn, ERR_STOPPED);
	client_maybe_free(cl);
}

/* ---- blocking client ------------------------------------------------------------------------- */

struct grpc_client_sync {
	struct reactor *r;
	struct transport_client *cl;
	struct tls_ctx *tls;
	int closed;
	int closed_err;
};

static void sync_closed(struct transport_client *c, int err, void *ctx)
{
	(void)c;
	struct grpc_client_sync *s = ctx;
	s->closed = 1;
	s->closed_err = err;
}

int grpc_client_sync_open(const char *url, const struct tls_config *tls, uint64_t timeout_ns,
			  struct grpc_client_sync **out)
{
	ASSERT(url != NULL && out != NULL);
	int https;
	const char *hostport;
	if (strncmp(url, "https://", 8) == 0) {
		https = 1;
		hostport = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		https = 0;
		hostport = url + 7;
	} else {
		return ERR_INVAL;
	}
	char addr[256];
	snprintf(addr, sizeof addr, "%s", hostport);
	char *slash = strchr(addr, '/');
	if (slash)
		*slash = '\0';
	struct grpc_client_sync *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	struct reactor_config rc_cfg = {.backend = REACTOR_BACKEND_AUTO, .cpu = -1, .core_id = -1};
	int rc = reactor_backend_parse(NULL, &rc_cfg.backend);
	if (rc)
		rc_cfg.backend = REACTOR_BACKEND_AUTO;
	rc = reactor_new(&rc_cfg, &s->r);
	if (rc)
		goto err;
	if (https) {
		struct tls_config tc = {.verify_peer = 1};
		if (tls)
			tc = *tls;
		char host[256];
		snprintf(host, sizeof host, "%s", addr);
		char *colon = strrchr(host, ':');
		if (colon)
			*colon = '\0';
		if (!tc.server_name)
			tc.server_name = host;
		rc = tls_ctx_new_client(&tc, &s->tls);
		if (rc)
			goto err;
	}
	struct transport_client_config cc = {.addr = addr, .tls = s->tls, .on_closed = sync_closed, .ctx = s};
	rc = transport_client_connect(s->r, &cc, &s->cl);
	if (rc)
		goto err;
	uint64_t deadline = reactor_now_ns(s->r) + (timeout_ns ? timeout_ns : 10000000000ull);
	/* Bounded by the deadline. */
	while (!transport_client_ready(s->cl) && !s->closed) {
		uint64_t now = reactor_now_ns(s->r);
		if (now >= deadline) {
			rc = ERR_TIMEOUT;
			goto err;
		}
		rc = reactor_run_once(s->r, deadline - now);
		if (rc)
			goto err;
	}
	if (s->closed) {
		rc = s->closed_err ? s->closed_err : ERR_CONN;
		goto err;
	}
	*out = s;
	return 0;
err:
	grpc_client_sync_close(s);
	return rc;
}

void grpc_client_sync_close(struct grpc_client_sync *s)
{
	if (!s)
		return;
	if (s->cl) {
		int freed = 0;
		s->cl->freed_flag = &freed;
		transport_client_free(s->cl);
		/* Let canceled ops come back (bounded: a few turns). */
		for (int i = 0; i < 1000 && !freed; i++)
			if (reactor_run_once(s->r, 10000000ull))
				break;
	}
	if (s->r)
		reactor_free(s->r);
	tls_ctx_free(s->tls);
	free(s);
}

struct sync_call {
	int done;
	int status;
	char *message;
	size_t message_cap;
	struct net_buf *resp;
	grpc_client_sync_msg_fn on_msg;
	void *ctx;
	int err;
};

static void sync_msg(struct grpc_client_call *call, const uint8_t *msg, size_t len, void *ctx)
{
	struct sync_call *sc = ctx;
	if (sc->resp && net_buf_append(sc->resp, msg, len))
		sc->err = ERR_NOMEM;
	if (sc->on_msg && sc->on_msg(sc->ctx, msg, len))
		grpc_client_call_cancel(call);
}

static void sync_done(struct grpc_client_call *call, int status, const char *message, void *ctx)
{
	(void)call;
	struct sync_call *sc = ctx;
	sc->done = 1;
	sc->status = status;
	if (sc->message && sc->message_cap)
		snprintf(sc->message, sc->message_cap, "%s", message);
}

static const struct grpc_client_call_ops sync_ops = {.on_message = sync_msg, .on_done = sync_done};

static int sync_run(struct grpc_client_sync *s, const char *path, const struct grpc_client_call_opts *opts,
		    const uint8_t *req, size_t req_len, struct sync_call *sc)
{
	struct grpc_client_conn *gc = transport_client_grpc(s->cl);
	if (!gc)
		return ERR_CONN;
	int rc = grpc_client_unary(gc, path, opts, req, req_len, &sync_ops, sc, NULL);
	if (rc)
		return rc;
	/* The call's own deadline (or the connection failing) ends the loop; without a deadline
	 * the caller asked to wait as long as it takes. */
	while (!sc->done) {
		rc = reactor_run_once(s->r, 1000000000ull);
		if (rc)
			return rc;
	}
	return sc->err;
}

int grpc_client_sync_unary(struct grpc_client_sync *s, const char *path,
			   const struct grpc_client_call_opts *opts, const uint8_t *req,
			   size_t req_len, struct net_buf *resp, int *status, char *message,
			   size_t message_cap)
{
	struct sync_call sc = {.message = message, .message_cap = message_cap, .resp = resp};
	int rc = sync_run(s, path, opts, req, req_len, &sc);
	if (status)
		*status = sc.status;
	return rc;
}

int grpc_client_sync_stream(struct grpc_client_sync *s, const char *path,
			    const struct grpc_client_call_opts *opts, const uint8_t *req,
			    size_t req_len, grpc_client_sync_msg_fn on_msg, void *ctx, int *status,
			    char *message, size_t message_cap)
{
	struct sync_call sc = {.message = message, .message_cap = message_cap, .on_msg = on_msg, .ctx = ctx};
	int rc = sync_run(s, path, opts, req, req_len, &sc);
	if (status)
		*status = sc.status;
	return rc;
}
