/*
 * opts.c — regatta-bench's command line: parse, check every bound, fill struct rb_config.
 *
 * Every number has a range (rb.h); a run always ends: --total and/or --duration, and
 * --max-seconds caps each phase whatever else was asked.
 */
#include "rb.h"

#include "core/assert.h"
#include "core/limits.h"
#include "core/prng.h"
#include "core/reactor.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[RB_OP_COUNT] = {"put", "range", "range-lin", "txn"};

const char *rb_op_name(enum rb_op op)
{
	ASSERT(op < RB_OP_COUNT);
	return op_names[op];
}

int rb_mix_needs_keys(const struct rb_config *cfg)
{
	return cfg->mix[RB_OP_RANGE] || cfg->mix[RB_OP_RANGE_LIN] || cfg->mix[RB_OP_TXN];
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: regatta-bench [options]\n"
	    "Load generator for Regatta (regatta.v1.KV) and etcd 3.x (etcdserverpb.KV) over gRPC.\n"
	    "\n"
	    "Target:\n"
	    "  --target regatta|etcd     API to drive (default regatta)\n"
	    "  --endpoints H:P[,H:P...]  servers; connections go round-robin over them\n"
	    "                            (default 127.0.0.1:8443, etcd 127.0.0.1:2379)\n"
	    "  --table NAME              regatta table (default bench)\n"
	    "  --create-table            regatta: Tables/Create the table first (exists = fine)\n"
	    "  --token TOKEN             bearer token for Tables/Create\n"
	    "Load:\n"
	    "  --threads T               worker threads, one reactor each (default 1)\n"
	    "  --conns M                 HTTP/2 connections in total, spread over threads (default "
	    "1)\n"
	    "  --clients N               clients in total, spread over connections; each keeps "
	    "one\n"
	    "                            request in flight (default 1)\n"
	    "  --cpus LIST               pin worker i to CPU LIST[i %% len] (default: no pinning)\n"
	    "  --rate R                  open loop: R requests/s in total; latency counts from the "
	    "time\n"
	    "                            a request was due (default 0 = closed loop)\n"
	    "  --timeout SEC             per-call deadline (default 10)\n"
	    "Workload:\n"
	    "  --workload put|range|range-lin|txn|mixed\n"
	    "                            range = serializable, range-lin = linearizable single-key "
	    "reads;\n"
	    "                            txn = compare (see --txn-compare) then put; mixed =\n"
	    "                            put=20,range=70,range-lin=5,txn=5 (default put)\n"
	    "  --mix put=W,range=W,range-lin=W,txn=W   explicit weights (overrides --workload)\n"
	    "  --keys K                  key space size (default 10000)\n"
	    "  --key-bytes B             key length, prefix + zero-padded index (default 16)\n"
	    "  --key-prefix P            (default \"k\")\n"
	    "  --value-bytes B           (default 100)\n"
	    "  --key-order random|sequential   (default random)\n"
	    "  --txn-compare version|value     VERSION > 0, or VALUE == the value puts write\n"
	    "                            (default version)\n"
	    "  --preload / --no-preload  put every key once before a workload that reads or "
	    "compares\n"
	    "                            (default: preload when it does; not measured)\n"
	    "Length (a run always ends):\n"
	    "  --total N                 requests in total (default 10000 when no --duration)\n"
	    "  --duration SEC            run this long\n"
	    "  --max-seconds SEC         hard cap per phase (default duration+30, or 600)\n"
	    "Output:\n"
	    "  --json                    one JSON document on stdout instead of text\n"
	    "  --quiet                   text: results only\n"
	    "  --label TEXT              copied into the output\n"
	    "  --seed S                  PRNG seed (default: from the clock; always printed)\n"
	    "  --backend auto|uring|epoll  reactor backend (default auto / REGATTA_IO_BACKEND)\n"
	    "  --self-test               check the histogram and key/wire helpers, then exit\n"
"  --version                 print the commit regatta-bench was built from\n");
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out, const char *what)
{
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !end || *end || s[0] == '-' || s[0] == '\0' || v < lo || v > hi) {
		fprintf(stderr,
		        "regatta-bench: %s must be an integer in [%" PRIu64 ", %" PRIu64
		        "], got '%s'\n",
		        what, lo, hi, s);
		return ERR_INVAL;
	}
	*out = v;
	return 0;
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out, const char *what)
{
	uint64_t v = 0;
	int rc = parse_u64(s, lo, hi, &v, what);
	if (!rc)
		*out = (uint32_t)v;
	return rc;
}

static int parse_double(const char *s, double lo, double hi, double *out, const char *what)
{
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || !end || *end || s[0] == '\0' || !isfinite(v) || v < lo || v > hi) {
		fprintf(stderr, "regatta-bench: %s must be a number in [%g, %g], got '%s'\n", what,
		        lo, hi, s);
		return ERR_INVAL;
	}
	*out = v;
	return 0;
}

static int parse_endpoints(struct rb_config *cfg, const char *list)
{
	for (uint32_t i = 0; i < cfg->n_endpoints; i++)
		free(cfg->endpoints[i]);
	cfg->n_endpoints = 0;
	const char *p = list;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (strncmp(p, "http://", 7) == 0) {
			p += 7;
			n -= 7;
		} else if (strncmp(p, "https://", 8) == 0) {
			fprintf(stderr,
			        "regatta-bench: TLS endpoints are not supported yet: %.*s\n",
			        (int)n, p);
			return ERR_INVAL;
		}
		if (n == 0 || n > 255 || !memchr(p, ':', n)) {
			fprintf(stderr, "regatta-bench: bad endpoint '%.*s' (want host:port)\n",
			        (int)n, p);
			return ERR_INVAL;
		}
		if (cfg->n_endpoints == RB_ENDPOINTS_MAX) {
			fprintf(stderr, "regatta-bench: at most %d endpoints\n", RB_ENDPOINTS_MAX);
			return ERR_INVAL;
		}
		cfg->endpoints[cfg->n_endpoints] = strndup(p, n);
		if (!cfg->endpoints[cfg->n_endpoints])
			return ERR_NOMEM;
		cfg->n_endpoints++;
		p += n;
		if (*p == ',')
			p++;
	}
	if (!cfg->n_endpoints) {
		fprintf(stderr, "regatta-bench: --endpoints is empty\n");
		return ERR_INVAL;
	}
	return 0;
}

static int parse_cpus(struct rb_config *cfg, const char *list)
{
	cfg->n_cpus = 0;
	char buf[512];
	snprintf(buf, sizeof buf, "%s", list);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint32_t cpu = 0;
		if (cfg->n_cpus == RB_THREADS_MAX || parse_u32(t, 0, 1023, &cpu, "--cpus entry"))
			return ERR_INVAL;
		cfg->cpus[cfg->n_cpus++] = (int)cpu;
	}
	return cfg->n_cpus ? 0 : ERR_INVAL;
}

static int parse_mix(struct rb_config *cfg, const char *s)
{
	memset(cfg->mix, 0, sizeof cfg->mix);
	char buf[256];
	snprintf(buf, sizeof buf, "%s", s);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		if (!eq) {
			fprintf(stderr, "regatta-bench: --mix entry '%s' is not op=weight\n", t);
			return ERR_INVAL;
		}
		*eq = '\0';
		int op = -1;
		for (int i = 0; i < RB_OP_COUNT; i++)
			if (strcmp(t, op_names[i]) == 0)
				op = i;
		if (op < 0) {
			fprintf(
			    stderr,
			    "regatta-bench: --mix: unknown op '%s' (put, range, range-lin, txn)\n",
			    t);
			return ERR_INVAL;
		}
		if (parse_u32(eq + 1, 0, 1000000, &cfg->mix[op], "--mix weight"))
			return ERR_INVAL;
	}
	uint64_t sum = 0;
	for (int i = 0; i < RB_OP_COUNT; i++)
		sum += cfg->mix[i];
	if (sum == 0) {
		fprintf(stderr, "regatta-bench: --mix has no positive weight\n");
		return ERR_INVAL;
	}
	return 0;
}

static int parse_workload(struct rb_config *cfg, const char *s)
{
	static const struct {
		const char *name;
		const char *mix;
	} w[] = {{"put", "put=1"},
	         {"range", "range=1"},
	         {"range-lin", "range-lin=1"},
	         {"txn", "txn=1"},
	         {"mixed", "put=20,range=70,range-lin=5,txn=5"}};
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		if (strcmp(s, w[i].name) == 0)
			return parse_mix(cfg, w[i].mix);
	fprintf(stderr, "regatta-bench: unknown --workload '%s'\n", s);
	return ERR_INVAL;
}

enum {
	O_TARGET = 256,
	O_ENDPOINTS,
	O_TABLE,
	O_CREATE_TABLE,
	O_TOKEN,
	O_THREADS,
	O_CONNS,
	O_CLIENTS,
	O_CPUS,
	O_RATE,
	O_TIMEOUT,
	O_WORKLOAD,
	O_MIX,
	O_KEYS,
	O_KEY_BYTES,
	O_KEY_PREFIX,
	O_VALUE_BYTES,
	O_KEY_ORDER,
	O_TXN_COMPARE,
	O_PRELOAD,
	O_NO_PRELOAD,
	O_TOTAL,
	O_DURATION,
	O_MAX_SECONDS,
	O_JSON,
	O_QUIET,
	O_LABEL,
	O_SEED,
	O_BACKEND,
	O_HELP,
};

static const struct option long_opts[] = {
    {"target", required_argument, NULL, O_TARGET},
    {"endpoints", required_argument, NULL, O_ENDPOINTS},
    {"table", required_argument, NULL, O_TABLE},
    {"create-table", no_argument, NULL, O_CREATE_TABLE},
    {"token", required_argument, NULL, O_TOKEN},
    {"threads", required_argument, NULL, O_THREADS},
    {"conns", required_argument, NULL, O_CONNS},
    {"clients", required_argument, NULL, O_CLIENTS},
    {"cpus", required_argument, NULL, O_CPUS},
    {"rate", required_argument, NULL, O_RATE},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"workload", required_argument, NULL, O_WORKLOAD},
    {"mix", required_argument, NULL, O_MIX},
    {"keys", required_argument, NULL, O_KEYS},
    {"key-bytes", required_argument, NULL, O_KEY_BYTES},
    {"key-prefix", required_argument, NULL, O_KEY_PREFIX},
    {"value-bytes", required_argument, NULL, O_VALUE_BYTES},
    {"key-order", required_argument, NULL, O_KEY_ORDER},
    {"txn-compare", required_argument, NULL, O_TXN_COMPARE},
    {"preload", no_argument, NULL, O_PRELOAD},
    {"no-preload", no_argument, NULL, O_NO_PRELOAD},
    {"total", required_argument, NULL, O_TOTAL},
    {"duration", required_argument, NULL, O_DURATION},
    {"max-seconds", required_argument, NULL, O_MAX_SECONDS},
    {"json", no_argument, NULL, O_JSON},
    {"quiet", no_argument, NULL, O_QUIET},
    {"label", required_argument, NULL, O_LABEL},
    {"seed", required_argument, NULL, O_SEED},
    {"backend", required_argument, NULL, O_BACKEND},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static int parse_one(struct rb_config *cfg, int o, const char *a, int *endpoints_set, int *seed_set)
{
	switch (o) {
	case O_TARGET:
		if (strcmp(a, "regatta") == 0)
			cfg->target = RB_TARGET_REGATTA;
		else if (strcmp(a, "etcd") == 0)
			cfg->target = RB_TARGET_ETCD;
		else {
			fprintf(stderr, "regatta-bench: --target must be regatta or etcd\n");
			return ERR_INVAL;
		}
		return 0;
	case O_ENDPOINTS:
		*endpoints_set = 1;
		return parse_endpoints(cfg, a);
	case O_TABLE:
		if (!*a || strlen(a) > RB_TABLE_BYTES_MAX) {
			fprintf(stderr, "regatta-bench: --table must be 1..%d bytes\n",
			        RB_TABLE_BYTES_MAX);
			return ERR_INVAL;
		}
		cfg->table = a;
		return 0;
	case O_CREATE_TABLE:
		cfg->create_table = 1;
		return 0;
	case O_TOKEN:
		cfg->token = a;
		return 0;
	case O_THREADS:
		return parse_u32(a, 1, RB_THREADS_MAX, &cfg->threads, "--threads");
	case O_CONNS:
		return parse_u32(a, 1, RB_CONNS_MAX, &cfg->conns, "--conns");
	case O_CLIENTS:
		return parse_u32(a, 1, RB_CLIENTS_MAX, &cfg->clients, "--clients");
	case O_CPUS:
		return parse_cpus(cfg, a);
	case O_RATE:
		return parse_double(a, 0, 1e8, &cfg->rate, "--rate");
	case O_TIMEOUT: {
		double s = 0;
		if (parse_double(a, 0.001, 3600, &s, "--timeout"))
			return ERR_INVAL;
		cfg->timeout_ns = (uint64_t)(s * 1e9);
		return 0;
	}
	case O_WORKLOAD:
		return parse_workload(cfg, a);
	case O_MIX:
		return parse_mix(cfg, a);
	case O_KEYS:
		return parse_u64(a, 1, 1000000000000ull, &cfg->keys, "--keys");
	case O_KEY_BYTES:
		return parse_u32(a, 1, RB_KEY_BYTES_MAX, &cfg->key_bytes, "--key-bytes");
	case O_KEY_PREFIX:
		cfg->key_prefix = a;
		return 0;
	case O_VALUE_BYTES:
		return parse_u32(a, 0, RB_VALUE_BYTES_MAX, &cfg->value_bytes, "--value-bytes");
	case O_KEY_ORDER:
		if (strcmp(a, "random") && strcmp(a, "sequential")) {
			fprintf(stderr,
			        "regatta-bench: --key-order must be random or sequential\n");
			return ERR_INVAL;
		}
		cfg->sequential = strcmp(a, "sequential") == 0;
		return 0;
	case O_TXN_COMPARE:
		if (strcmp(a, "version") && strcmp(a, "value")) {
			fprintf(stderr, "regatta-bench: --txn-compare must be version or value\n");
			return ERR_INVAL;
		}
		cfg->txn_compare = strcmp(a, "value") == 0 ? RB_TXN_VALUE : RB_TXN_VERSION;
		return 0;
	case O_PRELOAD:
		cfg->preload = 1;
		return 0;
	case O_NO_PRELOAD:
		cfg->preload = 0;
		return 0;
	case O_TOTAL:
		return parse_u64(a, 1, RB_TOTAL_MAX, &cfg->total, "--total");
	case O_DURATION:
		return parse_double(a, 0.001, RB_DURATION_S_MAX, &cfg->duration_s, "--duration");
	case O_MAX_SECONDS:
		return parse_double(a, 0.001, RB_DURATION_S_MAX, &cfg->max_seconds,
		                    "--max-seconds");
	case O_JSON:
		cfg->json = 1;
		return 0;
	case O_QUIET:
		cfg->quiet = 1;
		return 0;
	case O_LABEL:
		cfg->label = a;
		return 0;
	case O_SEED:
		*seed_set = 1;
		return parse_u64(a, 0, UINT64_MAX, &cfg->seed, "--seed");
	case O_BACKEND: {
		enum reactor_backend b;
		if (reactor_backend_parse(a, &b)) {
			fprintf(stderr, "regatta-bench: --backend must be auto, uring or epoll\n");
			return ERR_INVAL;
		}
		cfg->backend = a;
		return 0;
	}
	default:
		return ERR_INVAL;
	}
}

/* Cross-field checks once everything is parsed. */
static int check(struct rb_config *cfg)
{
	if (cfg->conns < cfg->threads) {
		fprintf(stderr,
		        "regatta-bench: --conns (%u) must be >= --threads (%u): each thread "
		        "owns its own connections\n",
		        cfg->conns, cfg->threads);
		return ERR_INVAL;
	}
	if (cfg->clients < cfg->conns) {
		fprintf(stderr, "regatta-bench: --clients (%u) must be >= --conns (%u)\n",
		        cfg->clients, cfg->conns);
		return ERR_INVAL;
	}
	uint32_t per_conn = (cfg->clients + cfg->conns - 1) / cfg->conns;
	if (per_conn >= LIMIT_GRPC_CLIENT_CALLS) {
		fprintf(stderr,
		        "regatta-bench: %u clients per connection is over the client's %d calls "
		        "per connection: add --conns\n",
		        per_conn, LIMIT_GRPC_CLIENT_CALLS);
		return ERR_INVAL;
	}
	uint8_t key[RB_KEY_BYTES_MAX];
	size_t len;
	if (strlen(cfg->key_prefix) > RB_KEY_BYTES_MAX ||
	    rb_key_format(cfg, cfg->keys - 1, key, &len)) {
		fprintf(stderr,
		        "regatta-bench: --key-bytes %u cannot hold prefix '%s' and index %" PRIu64
		        "\n",
		        cfg->key_bytes, cfg->key_prefix, cfg->keys - 1);
		return ERR_INVAL;
	}
	if (!cfg->total && cfg->duration_s <= 0)
		cfg->total = 10000;
	if (cfg->max_seconds <= 0)
		cfg->max_seconds = cfg->duration_s > 0 ? cfg->duration_s + 30.0 : 600.0;
	if (cfg->preload < 0)
		cfg->preload = rb_mix_needs_keys(cfg);
	if (cfg->create_table && cfg->target == RB_TARGET_ETCD) {
		fprintf(stderr,
		        "regatta-bench: --create-table ignored for --target etcd (one keyspace)\n");
		cfg->create_table = 0;
	}
	return 0;
}

int rb_opts_parse(int argc, char **argv, struct rb_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->target = RB_TARGET_REGATTA;
	cfg->table = "bench";
	cfg->threads = 1;
	cfg->conns = 1;
	cfg->clients = 1;
	cfg->keys = 10000;
	cfg->key_bytes = 16;
	cfg->value_bytes = 100;
	cfg->key_prefix = "k";
	cfg->preload = -1;
	cfg->timeout_ns = 10ull * 1000000000ull;
	cfg->mix[RB_OP_PUT] = 1;
	int endpoints_set = 0, seed_set = 0;
	optind = 1;
	for (;;) {
		int o = getopt_long(argc, argv, "", long_opts, NULL);
		if (o == -1)
			break;
		if (o == O_HELP) {
			usage(stdout);
			return 1;
		}
		if (o == '?') {
			usage(stderr);
			return ERR_INVAL;
		}
		int rc = parse_one(cfg, o, optarg, &endpoints_set, &seed_set);
		if (rc)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "regatta-bench: unexpected argument '%s'\n", argv[optind]);
		return ERR_INVAL;
	}
	if (!endpoints_set) {
		int rc = parse_endpoints(cfg, cfg->target == RB_TARGET_ETCD ? "127.0.0.1:2379"
		                                                            : "127.0.0.1:8443");
		if (rc)
			return rc;
	}
	if (!seed_set)
		cfg->seed = prng_seed_from_time();
	return check(cfg);
}

void rb_opts_free(struct rb_config *cfg)
{
	for (uint32_t i = 0; i < cfg->n_endpoints; i++)
		free(cfg->endpoints[i]);
	cfg->n_endpoints = 0;
}
