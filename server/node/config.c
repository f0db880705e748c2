/* config.c — see config.h. */
#include "server/node/config.h"
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((format(printf, 3, 4))) static int bad(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return ERR_INVAL;
}

int node_parse_url(const char *url, char *hostport, size_t cap, int *tls)
{
	*tls = 0;
	const char *p = url;
	if (!strncmp(p, "http://", 7)) {
		p += 7;
	} else if (!strncmp(p, "https://", 8)) {
		p += 8;
		*tls = 1;
	} else if (strstr(p, "://")) {
		return ERR_INVAL;
	}
	const char *colon = strrchr(p, ':');
	if (!colon || !colon[1])
		return ERR_INVAL;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535)
		return ERR_INVAL;
	size_t hl = (size_t)(colon - p);
	const char *host = hl ? p : "0.0.0.0";
	if (!hl)
		hl = strlen("0.0.0.0");
	if ((size_t)snprintf(hostport, cap, "%.*s:%ld", (int)hl, host, port) >= cap)
		return ERR_TOOBIG;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || end == s)
		return ERR_INVAL;
	*out = (uint64_t)v;
	return 0;
}

/* "64MiB", "1GiB", "512KiB", "64MB", or a bare number of bytes. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return ERR_INVAL;
	uint64_t mult = 1;
	if (!*end || !strcmp(end, "B"))
		mult = 1;
	else if (!strcmp(end, "KiB") || !strcmp(end, "KB") || !strcmp(end, "K"))
		mult = 1ull << 10;
	else if (!strcmp(end, "MiB") || !strcmp(end, "MB") || !strcmp(end, "M"))
		mult = 1ull << 20;
	else if (!strcmp(end, "GiB") || !strcmp(end, "GB") || !strcmp(end, "G"))
		mult = 1ull << 30;
	else
		return ERR_INVAL;
	if (v > UINT64_MAX / mult)
		return ERR_INVAL;
	*out = (uint64_t)v * mult;
	return 0;
}

/* "10ms", "1s", "500us", or a bare number of milliseconds. */
static int parse_duration_ms(const char *s, uint32_t *ms)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || v <= 0)
		return ERR_INVAL;
	double mult = 1;
	if (!strcmp(end, "ms") || !*end)
		mult = 1;
	else if (!strcmp(end, "s"))
		mult = 1000;
	else if (!strcmp(end, "us"))
		mult = 0.001;
	else
		return ERR_INVAL;
	double r = v * mult;
	if (r < 1 || r > 60000)
		return ERR_INVAL;
	*ms = (uint32_t)r;
	return 0;
}

static int parse_members(struct node_config *c, const char *s, char *err, size_t len)
{
	c->n_members = 0;
	char buf[4096];
	if (strlen(s) >= sizeof buf)
		return bad(err, len, "--raft.initial-members is too long");
	strcpy(buf, s);
	char *save;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq)
			return bad(err, len, "--raft.initial-members: '%s' is not id=host:port", tok);
		*eq = 0;
		uint64_t id;
		if (parse_u64(tok, &id) || id == 0)
			return bad(err, len, "--raft.initial-members: node id '%s' must be an integer >= 1", tok);
		if (c->n_members == LIMIT_RAFT_NODES_MAX)
			return bad(err, len, "--raft.initial-members: at most %d members", LIMIT_RAFT_NODES_MAX);
		for (uint32_t i = 0; i < c->n_members; i++)
			if (c->members[i].id == id)
				return bad(err, len, "--raft.initial-members: node id %s appears twice", tok);
		if (!strrchr(eq + 1, ':'))
			return bad(err, len, "--raft.initial-members: address '%s' needs host:port", eq + 1);
		c->members[c->n_members].id = id;
		snprintf(c->members[c->n_members].raft_addr, NODE_ADDR_BYTES, "%s", eq + 1);
		c->n_members++;
	}
	return 0;
}

int node_config_parse(struct node_config *c, int argc, char **argv, char *err, size_t len)
{
	memset(c, 0, sizeof *c);
	snprintf(c->data_dir, sizeof c->data_dir, "./regatta-data");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	c->cores = ncpu > 0 ? (int)(ncpu < LIMIT_CORES_MAX ? ncpu : LIMIT_CORES_MAX) : 1;
	c->node_id = 1;
	snprintf(c->raft_addr, sizeof c->raft_addr, "127.0.0.1:5012");
	c->tick_ms = 10;
	c->heartbeat_ticks = 5;
	c->election_ticks = 30;
	c->snapshot_bytes = 64u << 20;
	c->block_cache_bytes = 64u << 20;
	c->memtable_budget_bytes = 64u << 20;
	snprintf(c->api_url, sizeof c->api_url, "http://:8443");
	snprintf(c->rest_url, sizeof c->rest_url, "http://:8079");
	snprintf(c->cluster_name, sizeof c->cluster_name, "regatta");
	const char *members = NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = NULL;
		char name[64];
		const char *eq = strchr(a, '=');
		if (strncmp(a, "--", 2))
			return bad(err, len, "unexpected argument '%s' (flags start with --)", a);
		if (eq && (size_t)(eq - a) < sizeof name) {
			memcpy(name, a, (size_t)(eq - a));
			name[eq - a] = 0;
			v = eq + 1;
			a = name;
		}
#define VAL()                                                                   \
	do {                                                                    \
		if (!v) {                                                       \
			if (i + 1 >= argc)                                      \
				return bad(err, len, "%s needs a value", a);    \
			v = argv[++i];                                          \
		}                                                               \
	} while (0)
		if (!strcmp(a, "--data-dir")) {
			VAL();
			snprintf(c->data_dir, sizeof c->data_dir, "%s", v);
		} else if (!strcmp(a, "--cores")) {
			VAL();
			uint64_t n;
			if (parse_u64(v, &n) || n < 1 || n > LIMIT_CORES_MAX)
				return bad(err, len, "--cores must be 1..%d", LIMIT_CORES_MAX);
			c->cores = (int)n;
		} else if (!strcmp(a, "--raft.node-id")) {
			VAL();
			if (parse_u64(v, &c->node_id) || c->node_id == 0)
				return bad(err, len, "--raft.node-id must be an integer >= 1");
		} else if (!strcmp(a, "--raft.address")) {
			VAL();
			snprintf(c->raft_addr, sizeof c->raft_addr, "%s", v);
		} else if (!strcmp(a, "--raft.listen-address")) {
			VAL();
			snprintf(c->raft_listen, sizeof c->raft_listen, "%s", v);
		} else if (!strcmp(a, "--raft.initial-members")) {
			VAL();
			members = v;
		} else if (!strcmp(a, "--raft.rtt")) {
			VAL();
			if (parse_duration_ms(v, &c->tick_ms))
				return bad(err, len, "--raft.rtt must be a duration like 10ms");
		} else if (!strcmp(a, "--raft.heartbeat-rtt") || !strcmp(a, "--raft.election-rtt")) {
			VAL();
			uint64_t n;
			if (parse_u64(v, &n) || n < 1 || n > 10000)
				return bad(err, len, "%s must be a number of ticks", a);
			if (!strcmp(a, "--raft.heartbeat-rtt"))
				c->heartbeat_ticks = (uint32_t)n;
			else
				c->election_ticks = (uint32_t)n;
		} else if (!strcmp(a, "--raft.snapshot-bytes")) {
			VAL();
			if (parse_u64(v, &c->snapshot_bytes) || c->snapshot_bytes < 4096)
				return bad(err, len, "--raft.snapshot-bytes must be >= 4096");
		} else if (!strcmp(a, "--storage.block-cache-size") || !strcmp(a, "--storage.memtable-budget")) {
			VAL();
			uint64_t n;
			if (parse_size(v, &n) || n < (1u << 20))
				return bad(err, len, "%s must be a size of at least 1MiB (e.g. 64MiB)", a);
			if (!strcmp(a, "--storage.block-cache-size"))
				c->block_cache_bytes = n;
			else
				c->memtable_budget_bytes = n;
		} else if (!strcmp(a, "--raft.cert-filename")) {
			VAL();
			c->raft_cert = v;
		} else if (!strcmp(a, "--raft.key-filename")) {
			VAL();
			c->raft_key = v;
		} else if (!strcmp(a, "--raft.ca-filename")) {
			VAL();
			c->raft_ca = v;
		} else if (!strcmp(a, "--api.address")) {
			VAL();
			snprintf(c->api_url, sizeof c->api_url, "%s", v);
		} else if (!strcmp(a, "--api.cert-filename")) {
			VAL();
			c->api_cert = v;
		} else if (!strcmp(a, "--api.key-filename")) {
			VAL();
			c->api_key = v;
		} else if (!strcmp(a, "--api.ca-filename")) {
			VAL();
			c->api_ca = v;
		} else if (!strcmp(a, "--api.client-cert-auth")) {
			c->api_client_cert_auth = 1;
		} else if (!strcmp(a, "--rest.address")) {
			VAL();
			snprintf(c->rest_url, sizeof c->rest_url, "%s", v);
		} else if (!strcmp(a, "--tables.token")) {
			VAL();
			c->tables_token = v;
		} else if (!strcmp(a, "--maintenance.token")) {
			VAL();
			c->maintenance_token = v;
		} else if (!strcmp(a, "--log-level")) {
			VAL();
			char lower[16];
			size_t k = 0;
			for (; v[k] && k + 1 < sizeof lower; k++)
				lower[k] = (char)(v[k] >= 'A' && v[k] <= 'Z' ? v[k] + 32 : v[k]);
			lower[k] = 0;
			enum log_level lvl;
			if (log_parse_level(lower, &lvl))
				return bad(err, len, "--log-level must be debug, info, warn or error");
			log_set_level(lvl);
		} else if (!strcmp(a, "--dev-mode")) {
			c->dev_mode = 1;
		} else if (!strcmp(a, "--io-backend")) {
			VAL();
			if (reactor_backend_parse(v, &c->backend))
				return bad(err, len, "--io-backend must be auto, uring or epoll");
		} else {
			return bad(err, len, "unknown flag %s (see 'regatta leader --help')", a);
		}
#undef VAL
	}
	if (members) {
		int rc = parse_members(c, members, err, len);
		if (rc)
			return rc;
	} else {
		c->n_members = 1;
		c->members[0].id = c->node_id;
		snprintf(c->members[0].raft_addr, NODE_ADDR_BYTES, "%s", c->raft_addr);
	}
	int self = 0;
	for (uint32_t i = 0; i < c->n_members; i++)
		if (c->members[i].id == c->node_id)
			self = 1;
	if (!self)
		return bad(err, len, "--raft.node-id %llu is not among --raft.initial-members",
			   (unsigned long long)c->node_id);
	if (!c->raft_listen[0])
		snprintf(c->raft_listen, sizeof c->raft_listen, "%s", c->raft_addr);
	if (node_parse_url(c->api_url, c->api_listen, sizeof c->api_listen, &c->api_tls))
		return bad(err, len, "--api.address '%s' must be http://host:port or https://host:port", c->api_url);
	if (c->rest_url[0]) {
		int rest_tls = 0;
		if (node_parse_url(c->rest_url, c->rest_listen, sizeof c->rest_listen, &rest_tls))
			return bad(err, len, "--rest.address '%s' must be http://host:port (or empty to turn it off)",
				   c->rest_url);
		if (rest_tls)
			return bad(err, len, "--rest.address '%s': the REST port speaks plain http only (put TLS in "
				   "front of it, or use http://)", c->rest_url);
	}
	if (c->api_tls && (!c->api_cert || !c->api_key))
		return bad(err, len, "https --api.address needs --api.cert-filename and --api.key-filename");
	if (c->api_client_cert_auth && !c->api_ca)
		return bad(err, len, "--api.client-cert-auth needs --api.ca-filename");
	if ((c->raft_cert != NULL) != (c->raft_key != NULL))
		return bad(err, len, "--raft.cert-filename and --raft.key-filename go together");
	if (c->heartbeat_ticks * 2 >= c->election_ticks)
		return bad(err, len, "--raft.election-rtt must be more than twice --raft.heartbeat-rtt");
	return 0;
}
