/* test_reactor_net.c — sockets through the reactor on the backend REGATTA_IO_BACKEND names:
 * a TCP echo over loopback with many connections and large transfers that force short sends,
 * a refused connect, and cancellation of socket ops. */
#include "core/prng.h"
#include "core/reactor.h"
#include "unit/core/helper_core.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- echo ------------------------------------------------------------------------------- */

#define ECHO_BUF 65536

struct echo_server_conn {
	struct echo_test *t;
	int fd;
	struct io_op rx, tx;
	uint8_t buf[ECHO_BUF];
	size_t have, sent;
};

struct echo_client {
	struct echo_test *t;
	int fd;
	struct io_op conn_op, tx, rx;
	uint8_t *data; /* what we send, and expect back */
	size_t total, sent, got;
	size_t want_send; /* size of the send in flight */
	uint8_t rbuf[ECHO_BUF];
	struct prng rnd;
	int done;
};

struct echo_test {
	struct reactor *r;
	int lfd;
	struct io_op acc;
	int accepting;
	struct echo_server_conn **srv;
	int nsrv;
	struct echo_client *cli;
	int ncli;
	uint64_t clients_done;
	uint64_t short_sends;
	uint64_t servers_closed;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int sndbuf;
};

static void srv_recv(struct echo_server_conn *c);

static void srv_on_send(struct io_op *op)
{
	struct echo_server_conn *c = op->ctx;
	cr_assert_gt(op->result, 0, "server send: %s", err_str((int)op->result));
	if ((size_t)op->result < c->have - c->sent)
		c->t->short_sends++;
	c->sent += (size_t)op->result;
	if (c->sent < c->have) {
		reactor_send(c->t->r, &c->tx, c->fd, c->buf + c->sent, c->have - c->sent);
		return;
	}
	srv_recv(c);
}

static void srv_on_recv(struct io_op *op)
{
	struct echo_server_conn *c = op->ctx;
	cr_assert_geq(op->result, 0, "server recv: %s", err_str((int)op->result));
	if (op->result == 0) {
		close(c->fd);
		c->fd = -1;
		c->t->servers_closed++;
		return;
	}
	c->have = (size_t)op->result;
	c->sent = 0;
	reactor_send(c->t->r, &c->tx, c->fd, c->buf, c->have);
}

static void srv_recv(struct echo_server_conn *c)
{
	reactor_recv(c->t->r, &c->rx, c->fd, c->buf, sizeof c->buf);
}

static void srv_on_accept(struct io_op *op)
{
	struct echo_test *t = op->ctx;
	cr_assert_geq(op->result, 0, "accept: %s", err_str((int)op->result));
	cr_assert_lt(t->nsrv, t->ncli);
	struct echo_server_conn *c = calloc(1, sizeof *c);
	cr_assert_not_null(c);
	c->t = t;
	c->fd = (int)op->result;
	c->rx.cb = srv_on_recv;
	c->rx.ctx = c;
	c->tx.cb = srv_on_send;
	c->tx.ctx = c;
	t->srv[t->nsrv++] = c;
	srv_recv(c);
	if (t->nsrv < t->ncli)
		reactor_accept(t->r, &t->acc, t->lfd);
}

static void cli_send_next(struct echo_client *c)
{
	size_t left = c->total - c->sent;
	size_t chunk = (size_t)prng_range(&c->rnd, 1, 256 * 1024);
	c->want_send = chunk < left ? chunk : left;
	reactor_send(c->t->r, &c->tx, c->fd, c->data + c->sent, c->want_send);
}

static void cli_on_send(struct io_op *op)
{
	struct echo_client *c = op->ctx;
	cr_assert_gt(op->result, 0, "client send: %s", err_str((int)op->result));
	if ((size_t)op->result < c->want_send)
		c->t->short_sends++;
	c->sent += (size_t)op->result;
	if (c->sent < c->total)
		cli_send_next(c);
	else
		cr_assert_eq(shutdown(c->fd, SHUT_WR), 0);
}

static void cli_on_recv(struct io_op *op)
{
	struct echo_client *c = op->ctx;
	cr_assert_geq(op->result, 0, "client recv: %s", err_str((int)op->result));
	size_t n = (size_t)op->result;
	if (n == 0) {
		cr_assert_eq(c->got, c->total, "peer closed early: %zu of %zu", c->got, c->total);
		close(c->fd);
		c->fd = -1;
		c->done = 1;
		c->t->clients_done++;
		return;
	}
	cr_assert_leq(c->got + n, c->total, "echoed more than was sent");
	cr_assert(memcmp(c->rbuf, c->data + c->got, n) == 0, "echo differs at byte %zu", c->got);
	c->got += n;
	reactor_recv(c->t->r, &c->rx, c->fd, c->rbuf, sizeof c->rbuf);
}

static void cli_on_connect(struct io_op *op)
{
	struct echo_client *c = op->ctx;
	cr_assert_eq(op->result, 0, "connect: %s", err_str((int)op->result));
	/* A send and a recv in flight on one socket at once. */
	cli_send_next(c);
	reactor_recv(c->t->r, &c->rx, c->fd, c->rbuf, sizeof c->rbuf);
}

static void echo_run(int nconns, size_t bytes_each, int sndbuf, const char *name)
{
	struct echo_test t;
	memset(&t, 0, sizeof t);
	uint64_t seed = helper_seed(name);
	t.r = helper_reactor_new();
	printf("%s: backend %s, %d connections x %zu bytes\n", name,
	       reactor_backend_name(reactor_backend(t.r)), nconns, bytes_each);
	t.lfd = reactor_socket_listen("127.0.0.1:0", 0);
	cr_assert_geq(t.lfd, 0, "listen: %s", err_str(t.lfd));
	int port = reactor_socket_port(t.lfd);
	cr_assert_gt(port, 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);

	t.ncli = nconns;
	t.srv = calloc((size_t)nconns, sizeof *t.srv);
	t.cli = calloc((size_t)nconns, sizeof *t.cli);
	cr_assert(t.srv && t.cli);
	t.acc.cb = srv_on_accept;
	t.acc.ctx = &t;
	reactor_accept(t.r, &t.acc, t.lfd);

	for (int i = 0; i < nconns; i++) {
		struct echo_client *c = &t.cli[i];
		c->t = &t;
		prng_init(&c->rnd, seed + (uint64_t)i);
		c->total = bytes_each;
		c->data = malloc(bytes_each);
		cr_assert_not_null(c->data);
		prng_fill(&c->rnd, c->data, bytes_each);
		struct sockaddr_storage sa;
		socklen_t salen;
		c->fd = reactor_socket_for(addr, &sa, &salen);
		cr_assert_geq(c->fd, 0);
		if (sndbuf) {
			cr_assert_eq(setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
			cr_assert_eq(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof sndbuf), 0);
		}
		c->conn_op.cb = cli_on_connect;
		c->conn_op.ctx = c;
		c->tx.cb = cli_on_send;
		c->tx.ctx = c;
		c->rx.cb = cli_on_recv;
		c->rx.ctx = c;
		reactor_connect(t.r, &c->conn_op, c->fd, (struct sockaddr *)&sa, salen);
	}

	helper_run_until_count(t.r, &t.clients_done, (uint64_t)nconns, 10000000);
	helper_run_until_count(t.r, &t.servers_closed, (uint64_t)nconns, 1000);
	printf("%s: %" PRIu64 " short sends\n", name, t.short_sends);
	if (sndbuf)
		cr_assert_gt(t.short_sends, 0, "small socket buffers must produce short sends");

	struct reactor_stats st;
	reactor_get_stats(t.r, &st);
	cr_assert_eq(st.inflight, 0, "nothing may remain in flight");
	cr_assert_leq(st.max_callbacks_in_turn, 4096);
	for (int i = 0; i < nconns; i++) {
		free(t.cli[i].data);
		free(t.srv[i]);
	}
	free(t.cli);
	free(t.srv);
	close(t.lfd);
	reactor_free(t.r);
}

Test(reactor_net, echo_many_connections, .timeout = 120)
{
	echo_run(64, 64 * 1024, 0, "echo_many_connections");
}

Test(reactor_net, echo_large_transfers_short_sends, .timeout = 120)
{
	echo_run(4, 4u << 20, 4096, "echo_large_transfers_short_sends");
}

/* ---- errors and cancellation ------------------------------------------------------------ */

struct one_shot {
	int calls;
	int64_t result;
};

static void one_shot_cb(struct io_op *op)
{
	struct one_shot *s = op->ctx;
	s->calls++;
	s->result = op->result;
}

Test(reactor_net, connect_refused)
{
	struct reactor *r = helper_reactor_new();
	/* A bound socket that never listens: the port is ours, and a SYN to it gets a RST. */
	int holder = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(holder, (struct sockaddr *)&sin, sizeof sin), 0);
	int port = reactor_socket_port(holder);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);

	struct sockaddr_storage sa;
	socklen_t salen;
	int fd = reactor_socket_for(addr, &sa, &salen);
	cr_assert_geq(fd, 0);
	struct one_shot s = {0};
	struct io_op op = {.cb = one_shot_cb, .ctx = &s};
	reactor_connect(r, &op, fd, (struct sockaddr *)&sa, salen);
	helper_run_until(r, &s.calls, 1000);
	cr_assert_eq(s.calls, 1);
	cr_assert_eq(s.result, ERR_CONN, "got %s", err_str((int)s.result));
	close(fd);
	close(holder);
	reactor_free(r);
}

Test(reactor_net, cancel_recv_and_accept_once)
{
	struct reactor *r = helper_reactor_new();
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	int lfd = reactor_socket_listen("127.0.0.1:0", 16);
	cr_assert_geq(lfd, 0);

	struct one_shot rs = {0}, as = {0}, ss = {0};
	char buf[16];
	struct io_op rx = {.cb = one_shot_cb, .ctx = &rs};
	struct io_op acc = {.cb = one_shot_cb, .ctx = &as};
	struct io_op tx = {.cb = one_shot_cb, .ctx = &ss};
	reactor_recv(r, &rx, sv[0], buf, sizeof buf);
	reactor_accept(r, &acc, lfd);
	/* Let both reach the kernel / the epoll set before canceling. */
	cr_assert_eq(reactor_run_once(r, 1000000), 0);
	cr_assert_eq(rs.calls + as.calls, 0, "nothing was ready");
	reactor_cancel(r, &rx);
	reactor_cancel(r, &rx); /* twice: still one callback */
	reactor_cancel(r, &acc);
	int both = 0;
	for (int i = 0; i < 1000 && !both; i++) {
		cr_assert_eq(reactor_run_once(r, 10000000), 0);
		both = rs.calls && as.calls;
	}
	cr_assert_eq(rs.calls, 1);
	cr_assert_eq(as.calls, 1);
	cr_assert_eq(rs.result, ERR_CANCELED, "recv: %s", err_str((int)rs.result));
	cr_assert_eq(as.result, ERR_CANCELED, "accept: %s", err_str((int)as.result));

	/* The socket still works after a canceled recv, and a completed op ignores cancel. */
	reactor_send(r, &tx, sv[1], "ping", 4);
	reactor_recv(r, &rx, sv[0], buf, sizeof buf);
	int got = 0;
	for (int i = 0; i < 1000 && !got; i++) {
		cr_assert_eq(reactor_run_once(r, 10000000), 0);
		got = rs.calls == 2 && ss.calls == 1;
	}
	cr_assert_eq(rs.calls, 2);
	cr_assert_eq(rs.result, 4);
	cr_assert(memcmp(buf, "ping", 4) == 0);
	reactor_cancel(r, &rx); /* idle op: nothing happens */
	cr_assert_eq(reactor_run_once(r, 0), 0);
	cr_assert_eq(rs.calls, 2);

	/* Peer close: recv gives 0. */
	close(sv[1]);
	reactor_recv(r, &rx, sv[0], buf, sizeof buf);
	for (int i = 0; i < 1000 && rs.calls < 3; i++)
		cr_assert_eq(reactor_run_once(r, 10000000), 0);
	cr_assert_eq(rs.calls, 3);
	cr_assert_eq(rs.result, 0);
	close(sv[0]);
	close(lfd);
	reactor_free(r);
}

Test(reactor_net, closed_fd_number_reused)
{
	/* An fd closed while idle and reused by a new socket must still get its events (the
	 * epoll backend must not trust a registration the kernel dropped at close). */
	struct reactor *r = helper_reactor_new();
	char buf[8];
	for (int round = 0; round < 20; round++) {
		int sv[2];
		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
		struct one_shot rs = {0}, ss = {0};
		struct io_op rx = {.cb = one_shot_cb, .ctx = &rs};
		struct io_op tx = {.cb = one_shot_cb, .ctx = &ss};
		reactor_recv(r, &rx, sv[0], buf, sizeof buf);
		cr_assert_eq(reactor_run_once(r, 0), 0);
		reactor_send(r, &tx, sv[1], "x", 1);
		for (int i = 0; i < 1000 && !(rs.calls && ss.calls); i++)
			cr_assert_eq(reactor_run_once(r, 10000000), 0);
		cr_assert_eq(rs.result, 1);
		close(sv[0]);
		close(sv[1]);
	}
	reactor_free(r);
}

Test(reactor_net, resolve_addresses)
{
	struct sockaddr_storage sa;
	socklen_t len;
	cr_assert_eq(reactor_socket_resolve("127.0.0.1:8443", &sa, &len), 0);
	cr_assert_eq(sa.ss_family, AF_INET);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&sa)->sin_port), 8443);
	cr_assert_eq(reactor_socket_resolve("[::1]:5012", &sa, &len), 0);
	cr_assert_eq(sa.ss_family, AF_INET6);
	cr_assert_eq(reactor_socket_resolve("localhost:1", &sa, &len), 0);
	cr_assert_eq(reactor_socket_resolve(":8079", &sa, &len), 0);
	cr_assert_eq(reactor_socket_resolve("127.0.0.1", &sa, &len), ERR_INVAL);
	cr_assert_eq(reactor_socket_resolve("127.0.0.1:70000", &sa, &len), ERR_INVAL);
	cr_assert_eq(reactor_socket_resolve("[::1:80", &sa, &len), ERR_INVAL);

	/* Two listeners on one port (SO_REUSEPORT), as every core does. */
	int a = reactor_socket_listen("127.0.0.1:0", 0);
	cr_assert_geq(a, 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", reactor_socket_port(a));
	int b = reactor_socket_listen(addr, 0);
	cr_assert_geq(b, 0, "second listener: %s", err_str(b));
	close(a);
	close(b);
}
