/*
 * bench_engine — the per-core engine (server/engine) without networking: three hosts in one
 * thread, frames copied between them in memory, C clients each keeping one Put in flight
 * (the next is proposed from the previous one's callback) over T tables led by node 1.
 * Prints throughput, latency percentiles (propose -> answered after apply on the proposing
 * node), frames per Put, and process CPU per Put summed over the three hosts — the engine's
 * own cost (Raft, Raft log, LSM apply on three replicas, frame codec), without gRPC or sockets.
 * Asserts nothing.
 *
 *   --disk sim   simulated disk, sync group commit (host_turn): CPU only, no fsync cost
 *   --disk real  each host on a reactor (REGATTA_IO_BACKEND) over a temp dir under --dir:
 *                linked write+fdatasync per turn; the single thread polls all three reactors,
 *                so CPU per Put includes polling while waiting for fsyncs
 *
 * usage: bench_engine [--seconds S] [--tables T] [--clients C] [--value-bytes N]
 *                     [--disk sim|real] [--dir D] [--via-followers]
 */
#define _GNU_SOURCE
#include "core/clock.h"
#include "core/io_fs.h"
#include "core/io_fs_sim.h"
#include "core/log.h"
#include "core/reactor.h"
#include "server/engine/host.h"
#include "server/version.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define NODES 3
#define CLIENTS_MAX 4096
#define SAMPLES_MAX (1u << 22)
#define TICK_NS 10000000ull

struct frame {
	uint64_t to;
	size_t len;
	uint8_t *data;
};

struct node {
	uint64_t id;
	struct io_fs *fs;
	struct host *h;
	struct reactor *r;
	char dir[300];
};

struct client;

struct bench {
	struct node nodes[NODES];
	struct frame *q;
	size_t nq, capq;
	uint64_t frames, frame_bytes;
	int real;
	int via_followers;
	uint32_t tables;
	size_t value_bytes;
	uint8_t *value;
	int running;
	uint64_t done, failed;
	uint64_t *lat;
	size_t nlat;
	uint64_t now_ns;
};

struct client {
	struct bench *b;
	uint32_t idx;
	uint64_t seq;
	uint64_t start_ns;
	int busy;
};

static struct client clients[CLIENTS_MAX];

static void send_frame(void *ctx, uint64_t to, const uint8_t *frame, size_t len)
{
	struct bench *b = ctx;
	if (b->nq == b->capq) {
		b->capq = b->capq ? b->capq * 2 : 256;
		b->q = realloc(b->q, b->capq * sizeof *b->q);
		if (!b->q)
			abort();
	}
	uint8_t *copy = malloc(len);
	if (!copy)
		abort();
	memcpy(copy, frame, len);
	b->q[b->nq++] = (struct frame){.to = to, .len = len, .data = copy};
	b->frames++;
	b->frame_bytes += len;
}

static void issue(struct client *c);

static void on_done(void *ctx, const struct host_propose_result *res)
{
	struct client *c = ctx;
	struct bench *b = c->b;
	c->busy = 0;
	if (res->status == 0) {
		b->done++;
		if (b->nlat < SAMPLES_MAX)
			b->lat[b->nlat++] = clock_mono_ns() - c->start_ns;
	} else {
		b->failed++;
	}
	if (b->running)
		issue(c);
}

static void issue(struct client *c)
{
	struct bench *b = c->b;
	char key[32];
	snprintf(key, sizeof key, "c%04u-%010" PRIu64, c->idx, c->seq++);
	Mvcc__V1__KeyValue kv;
	mvcc__v1__key_value__init(&kv);
	kv.key.data = (uint8_t *)key;
	kv.key.len = strlen(key);
	kv.value.data = b->value;
	kv.value.len = b->value_bytes;
	Mvcc__V1__Command cmd;
	mvcc__v1__command__init(&cmd);
	cmd.type = MVCC__V1__COMMAND__COMMAND_TYPE__PUT;
	cmd.kv = &kv;
	uint32_t via = b->via_followers ? c->idx % NODES : 0;
	uint64_t table = 100 + c->idx % b->tables;
	c->start_ns = clock_mono_ns();
	int rc = host_propose(b->nodes[via].h, table, &cmd, NULL, b->now_ns + 5000000000ull, on_done, c);
	if (rc == 0)
		c->busy = 1;
	else
		b->failed++; /* retried on the next loop turn */
}

static void deliver(struct bench *b)
{
	size_t n = b->nq;
	struct frame *batch = b->q;
	b->q = NULL;
	b->nq = b->capq = 0;
	for (size_t i = 0; i < n; i++) {
		struct node *nd = &b->nodes[batch[i].to - 1];
		if (host_receive_frame(nd->h, batch[i].data, batch[i].len) != 0)
			fprintf(stderr, "bad frame\n");
		free(batch[i].data);
	}
	free(batch);
}

static void turn(struct bench *b)
{
	uint64_t now = clock_mono_ns();
	if (now - b->now_ns >= TICK_NS) {
		b->now_ns = now;
		for (int i = 0; i < NODES; i++)
			host_tick(b->nodes[i].h, now);
	}
	deliver(b);
	for (int i = 0; i < NODES; i++) {
		struct node *nd = &b->nodes[i];
		if (nd->r) {
			if (reactor_run_once(nd->r, 0) != 0) {
				fprintf(stderr, "reactor failed\n");
				exit(1);
			}
		} else if (host_turn(nd->h) != 0) {
			fprintf(stderr, "host failed\n");
			exit(1);
		}
	}
}

static int all_led(struct bench *b)
{
	for (uint32_t t = 0; t < b->tables; t++) {
		struct host_table_status st;
		if (host_table_status(b->nodes[0].h, 100 + t, &st) != 0 || st.role != HOST_ROLE_LEADER)
			return 0;
	}
	return 1;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *v, size_t n, double p)
{
	return n ? (double)v[(size_t)(p * (double)(n - 1))] / 1000.0 : 0;
}

int main(int argc, char **argv)
{
	double seconds = 5;
	uint32_t nclients = 64;
	const char *disk = "sim", *base = ".";
	static struct bench b;
	b.tables = 8;
	b.value_bytes = 100;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--tables") && i + 1 < argc)
			b.tables = (uint32_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--clients") && i + 1 < argc)
			nclients = (uint32_t)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--value-bytes") && i + 1 < argc)
			b.value_bytes = (size_t)atol(argv[++i]);
		else if (!strcmp(argv[i], "--disk") && i + 1 < argc)
			disk = argv[++i];
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			base = argv[++i];
		else if (!strcmp(argv[i], "--via-followers"))
			b.via_followers = 1;
		else {
			fprintf(stderr, "usage: %s [--seconds S] [--tables T] [--clients C] [--value-bytes N] "
					"[--disk sim|real] [--dir D] [--via-followers]\n", argv[0]);
			return 2;
		}
	}
	if (nclients == 0 || nclients > CLIENTS_MAX || b.tables == 0 || b.tables > 1000) {
		fprintf(stderr, "clients 1..%d, tables 1..1000\n", CLIENTS_MAX);
		return 2;
	}
	log_set_level(LOG_LEVEL_WARN);
	b.real = !strcmp(disk, "real");
	b.value = malloc(b.value_bytes ? b.value_bytes : 1);
	memset(b.value, 'v', b.value_bytes);
	b.lat = malloc(SAMPLES_MAX * sizeof *b.lat);
	char root[256] = "";
	if (b.real) {
		snprintf(root, sizeof root, "%s/bench-engine-XXXXXX", base);
		if (!mkdtemp(root)) {
			perror("mkdtemp");
			return 1;
		}
	}
	uint64_t voters[NODES] = {1, 2, 3};
	for (int i = 0; i < NODES; i++) {
		struct node *nd = &b.nodes[i];
		nd->id = (uint64_t)i + 1;
		nd->fs = b.real ? io_fs_posix() : io_fs_sim_new((uint64_t)i + 1);
		snprintf(nd->dir, sizeof nd->dir, "%s/node%d", b.real ? root : "", i + 1);
		struct host_config cfg;
		host_config_defaults(&cfg);
		cfg.node_id = nd->id;
		cfg.incarnation = clock_real_ns() + (uint64_t)i;
		cfg.data_dir = nd->dir;
		cfg.fs = nd->fs;
		cfg.ctx = &b;
		cfg.send_frame = send_frame;
		cfg.memtable_bytes = 8u << 20;
		int rc = host_open(&cfg, &nd->h);
		if (rc) {
			fprintf(stderr, "host_open: %s\n", err_str(rc));
			return 1;
		}
		if (b.real) {
			enum reactor_backend be;
			if (reactor_backend_parse(NULL, &be) != 0)
				be = REACTOR_BACKEND_AUTO;
			struct reactor_config rcfg = {.backend = be, .cpu = -1, .core_id = i};
			if (reactor_new(&rcfg, &nd->r) != 0 || host_attach(nd->h, nd->r) != 0) {
				fprintf(stderr, "reactor/attach failed\n");
				return 1;
			}
		}
		for (uint32_t t = 0; t < b.tables; t++)
			if (host_table_create(nd->h, 100 + t, voters, NODES) != 0)
				return 1;
	}
	b.now_ns = clock_mono_ns();
	for (uint32_t t = 0; t < b.tables; t++)
		if (host_campaign(b.nodes[0].h, 100 + t) != 0)
			fprintf(stderr, "campaign %u failed\n", t);
	uint64_t deadline = clock_mono_ns() + 30000000000ull;
	while (!all_led(&b) && clock_mono_ns() < deadline)
		turn(&b);
	if (!all_led(&b)) {
		fprintf(stderr, "no leaders\n");
		return 1;
	}
	printf("bench_engine %s: disk=%s backend=%s tables=%u clients=%u value=%zu via=%s seconds=%.1f\n",
	       regatta_version(), disk,
	       b.real ? reactor_backend_name(reactor_backend(b.nodes[0].r)) : "-", b.tables, nclients,
	       b.value_bytes, b.via_followers ? "all nodes" : "leader", seconds);
	for (uint32_t c = 0; c < nclients; c++)
		clients[c] = (struct client){.b = &b, .idx = c};
	b.running = 1;
	uint64_t frames0 = b.frames, bytes0 = b.frame_bytes;
	double cpu0 = cpu_s();
	uint64_t t0 = clock_mono_ns(), end = t0 + (uint64_t)(seconds * 1e9);
	for (uint32_t c = 0; c < nclients; c++)
		issue(&clients[c]);
	while (clock_mono_ns() < end) {
		turn(&b);
		for (uint32_t c = 0; c < nclients; c++)
			if (!clients[c].busy)
				issue(&clients[c]);
	}
	double elapsed = (double)(clock_mono_ns() - t0) / 1e9;
	double cpu = cpu_s() - cpu0;
	b.running = 0;
	qsort(b.lat, b.nlat, sizeof *b.lat, cmp_u64);
	double ops = (double)b.done;
	printf("puts %" PRIu64 " (%.0f/s), refused or failed %" PRIu64 "\n", b.done, ops / elapsed, b.failed);
	printf("latency us: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f\n", pct_us(b.lat, b.nlat, 0.5),
	       pct_us(b.lat, b.nlat, 0.9), pct_us(b.lat, b.nlat, 0.99), pct_us(b.lat, b.nlat, 0.999));
	printf("cpu: %.1f us per put (all three hosts, one thread), frames per put %.2f, frame bytes per put %.0f\n",
	       ops ? cpu * 1e6 / ops : 0, ops ? (double)(b.frames - frames0) / ops : 0,
	       ops ? (double)(b.frame_bytes - bytes0) / ops : 0);
	/* drain: let every write in flight land before closing */
	for (int k = 0; k < 100000; k++) {
		int busy = 0;
		for (int i = 0; i < NODES; i++)
			busy |= host_log_busy(b.nodes[i].h);
		if (!busy)
			break;
		turn(&b);
	}
	for (int i = 0; i < NODES; i++) {
		host_detach(b.nodes[i].h);
		host_close(b.nodes[i].h);
		if (b.nodes[i].r)
			reactor_free(b.nodes[i].r);
		if (!b.real)
			io_fs_sim_free(b.nodes[i].fs);
	}
	for (size_t i = 0; i < b.nq; i++)
		free(b.q[i].data);
	free(b.q);
	if (b.real && io_fs_remove_all(io_fs_posix(), root) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	free(b.value);
	free(b.lat);
	return 0;
}
