/*
 * bench_reactor — reactor micro benchmarks; prints numbers, asserts nothing.
 *
 *   echo:        round trips per second over loopback TCP on one core (client and server in
 *                the same reactor), 64-byte messages, for 1 and 16 connections.
 *   groupcommit: a turn hook appends N records per turn into one buffer and writes it with one
 *                linked pwrite+fdatasync (the Raft log's group commit); ops/s and fsyncs/s
 *                for N = 1 .. 1024. The file lives in the working directory.
 *
 * Runs each backend (io_uring, epoll), or the one REGATTA_IO_BACKEND names.
 * usage: bench_reactor [seconds per case, default 1]
 */
#define _GNU_SOURCE
#include "core/clock.h"
#include "core/reactor.h"
#include "server/version.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MSG 64
#define MAX_CONNS 16

struct echo_conn {
	struct echo_bench *b;
	int fd;
	struct io_op rx, tx;
	char buf[MSG];
	size_t have, sent;
	int server;
};

struct echo_bench {
	struct reactor *r;
	uint64_t round_trips;
	int running;
	struct echo_conn cli[MAX_CONNS], srv[MAX_CONNS];
};

static void conn_send(struct echo_conn *c);
static void conn_recv(struct echo_conn *c)
{
	reactor_recv(c->b->r, &c->rx, c->fd, c->buf + c->have, MSG - c->have);
}

static void on_recv(struct io_op *op)
{
	struct echo_conn *c = op->ctx;
	if (op->result <= 0)
		return; /* closed at the end */
	c->have += (size_t)op->result;
	if (c->have < MSG) {
		conn_recv(c);
		return;
	}
	c->have = 0;
	if (!c->server) {
		c->b->round_trips++;
		if (!c->b->running)
			return;
	}
	c->sent = 0;
	conn_send(c);
}

static void on_send(struct io_op *op)
{
	struct echo_conn *c = op->ctx;
	if (op->result <= 0)
		return;
	c->sent += (size_t)op->result;
	if (c->sent < MSG)
		conn_send(c);
	else
		conn_recv(c);
}

static void conn_send(struct echo_conn *c)
{
	reactor_send(c->b->r, &c->tx, c->fd, c->buf + c->sent, MSG - c->sent);
}

static int make_reactor(enum reactor_backend b, struct reactor **r)
{
	struct reactor_config cfg = {.backend = b, .cpu = -1, .core_id = 0};
	int rc = reactor_new(&cfg, r);
	if (rc)
		fprintf(stderr, "reactor_new(%s): %s\n", reactor_backend_name(b), err_str(rc));
	return rc;
}

static void bench_echo(enum reactor_backend backend, int conns, double seconds)
{
	struct echo_bench *b = calloc(1, sizeof *b);
	if (!b || make_reactor(backend, &b->r))
		exit(1);
	int lfd = reactor_socket_listen("127.0.0.1:0", 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", reactor_socket_port(lfd));
	for (int i = 0; i < conns; i++) {
		struct sockaddr_storage sa;
		socklen_t salen;
		int fd = reactor_socket_for(addr, &sa, &salen);
		int fl = fcntl(fd, F_GETFL);
		if (fd < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ||
		    connect(fd, (struct sockaddr *)&sa, salen) < 0 || fcntl(fd, F_SETFL, fl) < 0) {
			perror("connect");
			exit(1);
		}
		int sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (sfd < 0) {
			perror("accept");
			exit(1);
		}
		struct echo_conn *c = &b->cli[i], *s = &b->srv[i];
		*c = (struct echo_conn){.b = b, .fd = fd, .server = 0};
		*s = (struct echo_conn){.b = b, .fd = sfd, .server = 1};
		c->rx.cb = s->rx.cb = on_recv;
		c->tx.cb = s->tx.cb = on_send;
		c->rx.ctx = c->tx.ctx = c;
		s->rx.ctx = s->tx.ctx = s;
		memset(c->buf, 'p', MSG);
	}
	b->running = 1;
	for (int i = 0; i < conns; i++) {
		conn_recv(&b->srv[i]);
		conn_send(&b->cli[i]);
	}
	uint64_t start = clock_mono_ns(), end = start + (uint64_t)(seconds * 1e9);
	while (clock_mono_ns() < end) {
		if (reactor_run_once(b->r, 10000000))
			exit(1);
	}
	uint64_t elapsed = clock_mono_ns() - start;
	uint64_t rts = b->round_trips;
	b->running = 0;
	for (int i = 0; i < conns; i++) { /* unblock the recvs in flight, then let them finish */
		shutdown(b->cli[i].fd, SHUT_RDWR);
		shutdown(b->srv[i].fd, SHUT_RDWR);
	}
	struct reactor_stats st;
	for (int i = 0; i < 1000; i++) {
		reactor_get_stats(b->r, &st);
		if (!st.inflight)
			break;
		if (reactor_run_once(b->r, 10000000))
			exit(1);
	}
	printf("echo backend=%s conns=%d msg=%dB round_trips=%" PRIu64 " round_trips_per_s=%.0f\n",
	       reactor_backend_name(backend), conns, MSG, rts, (double)rts * 1e9 / (double)elapsed);
	for (int i = 0; i < conns; i++) {
		close(b->cli[i].fd);
		close(b->srv[i].fd);
	}
	close(lfd);
	reactor_free(b->r);
	free(b);
}

/* ---- group commit ------------------------------------------------------------------------- */

#define REC 128

struct gc_bench {
	struct reactor *r;
	int fd;
	unsigned per_turn;
	char *bufs[2];
	size_t fill;     /* bytes in the batch being built (bufs[cur]) */
	int cur;
	int sync_inflight;
	size_t inflight_ops;
	uint64_t off;
	uint64_t acked, syncs;
	int failed;
	struct io_op op;
};

static void gc_done(struct io_op *op)
{
	struct gc_bench *g = op->ctx;
	if (op->result < 0) {
		fprintf(stderr, "group commit write: %s\n", err_str((int)op->result));
		g->failed = 1;
	}
	g->acked += g->inflight_ops;
	g->syncs++;
	g->sync_inflight = 0;
}

/* Turn hook: the turn's proposals arrive (per_turn records), then one write+sync per turn if
 * the previous one finished; otherwise they wait for the next one (bigger batch). */
static void gc_hook(void *ctx)
{
	struct gc_bench *g = ctx;
	size_t cap = (size_t)4096 * REC;
	for (unsigned i = 0; i < g->per_turn && g->fill + REC <= cap; i++) {
		memset(g->bufs[g->cur] + g->fill, (int)(g->acked & 0xff), REC);
		g->fill += REC;
	}
	if (g->sync_inflight || !g->fill)
		return;
	g->inflight_ops = g->fill / REC;
	reactor_pwrite_fdatasync(g->r, &g->op, g->fd, g->bufs[g->cur], g->fill, g->off);
	g->off += g->fill;
	g->sync_inflight = 1;
	g->cur ^= 1;
	g->fill = 0;
}

static void bench_group_commit(enum reactor_backend backend, unsigned per_turn, double seconds)
{
	struct gc_bench g;
	memset(&g, 0, sizeof g);
	if (make_reactor(backend, &g.r))
		exit(1);
	char path[] = "bench-reactor-gc-XXXXXX";
	g.fd = mkstemp(path);
	if (g.fd < 0) {
		perror("mkstemp");
		exit(1);
	}
	unlink(path);
	g.per_turn = per_turn;
	g.bufs[0] = malloc((size_t)4096 * REC);
	g.bufs[1] = malloc((size_t)4096 * REC);
	g.op.cb = gc_done;
	g.op.ctx = &g;
	if (reactor_add_turn_hook(g.r, gc_hook, &g)) /* cannot fail on a fresh reactor */
		exit(1);
	uint64_t start = clock_mono_ns(), end = start + (uint64_t)(seconds * 1e9);
	while (clock_mono_ns() < end && !g.failed) {
		if (reactor_run_once(g.r, 10000000))
			exit(1);
	}
	uint64_t elapsed = clock_mono_ns() - start;
	uint64_t acked = g.acked, syncs = g.syncs;
	for (int i = 0; i < 10000 && g.sync_inflight; i++) /* let the last sync land */
		if (reactor_run_once(g.r, 10000000))
			exit(1);
	reactor_remove_turn_hook(g.r, gc_hook, &g);
	double s = (double)elapsed / 1e9;
	printf("groupcommit backend=%s ops_per_turn=%u record=%dB ops_per_s=%.0f fsyncs_per_s=%.0f "
	       "ops_per_fsync=%.1f\n",
	       reactor_backend_name(backend), per_turn, REC, (double)acked / s, (double)syncs / s,
	       syncs ? (double)acked / (double)syncs : 0.0);
	close(g.fd);
	free(g.bufs[0]);
	free(g.bufs[1]);
	reactor_free(g.r);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	if (seconds <= 0 || seconds > 60)
		seconds = 1.0;
	enum reactor_backend only;
	if (reactor_backend_parse(NULL, &only))
		only = REACTOR_BACKEND_AUTO;
	double load = 0;
	(void)getloadavg(&load, 1); /* a busy machine moves every timing: say how busy */
	printf("bench_reactor: %s, %.1f s per case, 1 core (load average %.2f at start)\n",
	       regatta_build_info(), seconds, load);
	enum reactor_backend all[2] = {REACTOR_BACKEND_URING, REACTOR_BACKEND_EPOLL};
	for (int i = 0; i < 2; i++) {
		if (only != REACTOR_BACKEND_AUTO && only != all[i])
			continue;
		struct reactor *probe;
		if (make_reactor(all[i], &probe))
			continue; /* io_uring refused here */
		reactor_free(probe);
		bench_echo(all[i], 1, seconds);
		bench_echo(all[i], 16, seconds);
		unsigned ns[] = {1, 8, 64, 512, 1024};
		for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
			bench_group_commit(all[i], ns[k], seconds);
	}
	return 0;
}
