/*
 * test_rest_metrics.c — what the REST port reports, from hand-made snapshots: the Prometheus
 * writer (escaping, names, limits), the /metrics rendering checked line by line against the
 * text format 0.0.4 by a small validator here, the /healthz and /readyz verdicts, and the
 * process numbers read from /proc.
 */
#include "raft/raft.h"
#include "server/rest/rest_metrics.h"
#include "server/rest/rest_prom.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a validator for the text exposition format ------------------------------------------- */

struct family {
	char name[128];
	char type[16];
};

struct expo {
	struct family fam[256];
	int n_fam;
	int cur;          /* family whose samples are being read, -1 none */
	char seen[4096][256]; /* name{labels} of every sample, for duplicates */
	int n_seen;
	int samples;
};

static int is_name_char(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
	       (!first && c >= '0' && c <= '9');
}

/* Parse one sample line: name, labels (checked), value. Returns 0 or a message. */
static const char *parse_sample(const char *line, char *name, size_t cap, char *key, size_t key_cap, double *value)
{
	const char *p = line;
	size_t n = 0;
	while (is_name_char(*p, p == line)) {
		if (n + 1 >= cap)
			return "name too long";
		name[n++] = *p++;
	}
	name[n] = 0;
	if (!n)
		return "no metric name";
	const char *kstart = line;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			if (!is_name_char(*p, 1) || *p == ':')
				return "bad label name";
			while (is_name_char(*p, 0) && *p != ':')
				p++;
			if (*p++ != '=' || *p++ != '"')
				return "label without =\"";
			while (*p != '"') {
				if (!*p || *p == '\n')
					return "unterminated label value";
				if (*p == '\\') {
					p++;
					if (*p != '\\' && *p != '"' && *p != 'n')
						return "bad escape";
				}
				p++;
			}
			p++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				return "labels not separated by ,";
		}
		p++;
	}
	size_t klen = (size_t)(p - kstart);
	if (klen + 1 > key_cap)
		return "key too long";
	memcpy(key, kstart, klen);
	key[klen] = 0;
	if (*p++ != ' ')
		return "no space before the value";
	char *end;
	*value = strtod(p, &end);
	if (end == p || (*end && *end != ' '))
		return "bad value";
	return NULL;
}

/* Validate a whole exposition; returns NULL or a message naming the line. */
static const char *expo_check(struct expo *e, const char *text, size_t len)
{
	static char msg[2304];
	memset(e, 0, sizeof *e);
	e->cur = -1;
	const char *p = text, *endp = text + len;
	if (len == 0 || text[len - 1] != '\n')
		return "does not end with a newline";
	while (p < endp) {
		const char *nl = memchr(p, '\n', (size_t)(endp - p));
		char line[2048];
		size_t ll = (size_t)(nl - p);
		if (ll >= sizeof line)
			return "line too long";
		memcpy(line, p, ll);
		line[ll] = 0;
		p = nl + 1;
		char name[128], type[16];
		if (!strncmp(line, "# HELP ", 7)) {
			if (sscanf(line + 7, "%127s", name) != 1)
				return "HELP without a name";
			for (int i = 0; i < e->n_fam; i++)
				if (!strcmp(e->fam[i].name, name)) {
					snprintf(msg, sizeof msg, "family %s described twice", name);
					return msg;
				}
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			if (sscanf(line + 7, "%127s %15s", name, type) != 2)
				return "TYPE without name and type";
			if (strcmp(type, "counter") && strcmp(type, "gauge"))
				return "unknown type";
			for (int i = 0; i < e->n_fam; i++)
				if (!strcmp(e->fam[i].name, name)) {
					snprintf(msg, sizeof msg, "family %s typed twice", name);
					return msg;
				}
			cr_assert(e->n_fam < 256);
			snprintf(e->fam[e->n_fam].name, sizeof e->fam[0].name, "%s", name);
			snprintf(e->fam[e->n_fam].type, sizeof e->fam[0].type, "%s", type);
			e->cur = e->n_fam++;
			continue;
		}
		if (line[0] == '#')
			continue;
		char key[256];
		double v;
		const char *err = parse_sample(line, name, sizeof name, key, sizeof key, &v);
		if (err) {
			snprintf(msg, sizeof msg, "%s: %s", err, line);
			return msg;
		}
		if (e->cur < 0 || strcmp(e->fam[e->cur].name, name)) {
			snprintf(msg, sizeof msg, "sample outside its family's block: %s", line);
			return msg;
		}
		if (!strcmp(e->fam[e->cur].type, "counter") && v < 0)
			return "negative counter";
		for (int i = 0; i < e->n_seen; i++)
			if (!strcmp(e->seen[i], key)) {
				snprintf(msg, sizeof msg, "duplicate sample %s", key);
				return msg;
			}
		cr_assert(e->n_seen < 4096);
		snprintf(e->seen[e->n_seen++], sizeof e->seen[0], "%s", key);
		e->samples++;
	}
	return NULL;
}

static int has_line(const struct net_buf *b, const char *line)
{
	size_t n = strlen(line);
	const char *t = (const char *)net_buf_head(b);
	size_t len = net_buf_size(b);
	for (size_t i = 0; i + n <= len; i++)
		if ((i == 0 || t[i - 1] == '\n') && !memcmp(t + i, line, n) && (i + n == len || t[i + n] == '\n'))
			return 1;
	return 0;
}

/* ---- snapshots ---------------------------------------------------------------------------- */

static struct rest_snapshot *snap_new(int cores, size_t cap)
{
	struct rest_snapshot *s = calloc(1, sizeof *s);
	cr_assert(s);
	s->node_id = 2;
	s->cores = cores;
	for (int c = 0; c < cores; c++) {
		s->core[c].answered = 1;
		s->core[c].engine = 1;
		s->core[c].backend = "io_uring";
		s->core[c].host.proposals = 10u + (unsigned)c;
		s->core[c].host.proposals_ok = 9;
		s->core[c].host.groups = 3;
		s->core[c].log.syncs = 7;
	}
	s->meta_seen = 1;
	s->meta.table_id = HOST_META_GROUP_ID;
	s->meta.leader = 1;
	s->tables = calloc(cap ? cap : 1, sizeof *s->tables);
	cr_assert(s->tables);
	s->cap_tables = cap;
	return s;
}

static void snap_free(struct rest_snapshot *s)
{
	free(s->tables);
	free(s);
}

static void add_table(struct rest_snapshot *s, uint64_t id, uint64_t leader, int role, int core)
{
	cr_assert(s->n_tables < s->cap_tables);
	struct rest_table_sample *t = &s->tables[s->n_tables++];
	memset(t, 0, sizeof *t);
	t->st.table_id = id;
	t->st.leader = leader;
	t->st.role = (uint8_t)role;
	t->st.term = 4;
	t->st.commit = 100 + id;
	t->st.applied = 99 + id;
	t->st.lsm_bytes = 4096;
	t->core = core;
}

/* ---- tests -------------------------------------------------------------------------------- */

Test(rest_prom, escaping_and_names)
{
	struct net_buf b;
	net_buf_init(&b);
	struct prom p;
	prom_init(&p, &b, 1 << 20);
	prom_family(&p, "x_total", "counter", "help with \\ and\nnewline");
	struct prom_labels l;
	prom_labels_init(&l);
	prom_labels_add(&l, "table", "we\"ird\\na\nme");
	prom_labels_add_u64(&l, "id", 42);
	prom_u64(&p, "x_total", &l, 7);
	prom_f64(&p, "x_total", NULL, 1.5);
	cr_assert_eq(prom_error(&p), 0);
	cr_assert(has_line(&b, "# HELP x_total help with \\\\ and\\nnewline"));
	cr_assert(has_line(&b, "x_total{table=\"we\\\"ird\\\\na\\nme\",id=\"42\"} 7"));
	cr_assert(has_line(&b, "x_total 1.5"));
	struct expo *e = malloc(sizeof *e);
	cr_assert(e);
	const char *err = expo_check(e, (const char *)net_buf_head(&b), net_buf_size(&b));
	cr_assert_null(err, "%s", err);
	free(e);
	cr_assert(prom_name_valid("a:b_c9", 0));
	cr_assert_not(prom_name_valid("a:b", 1));
	cr_assert_not(prom_name_valid("9a", 0));
	cr_assert_not(prom_name_valid("", 0));
	cr_assert_not(prom_name_valid("a-b", 0));
	net_buf_deinit(&b);
}

Test(rest_prom, limits_are_errors_not_cut_lines)
{
	struct net_buf b;
	net_buf_init(&b);
	struct prom p;
	prom_init(&p, &b, 64);
	prom_family(&p, "a_long_metric_name_total", "counter", "a help text that does not fit in 64 bytes at all");
	cr_assert_eq(prom_error(&p), ERR_TOOBIG);
	net_buf_clear(&b);
	prom_init(&p, &b, 1 << 20);
	struct prom_labels l;
	prom_labels_init(&l);
	char big[1000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	prom_labels_add(&l, "table", big);
	cr_assert(l.overflow);
	prom_u64(&p, "m", &l, 1);
	cr_assert_eq(prom_error(&p), ERR_TOOBIG);
	cr_assert_eq(net_buf_size(&b), 0, "nothing of the sample was written");
	net_buf_deinit(&b);
}

Test(rest_metrics, render_is_valid_prometheus_text)
{
	struct rest_snapshot *s = snap_new(3, 8);
	add_table(s, HOST_META_GROUP_ID, 1, RAFT_FOLLOWER, 0);
	add_table(s, 9, 2, RAFT_LEADER, 0);
	add_table(s, 7, 3, RAFT_FOLLOWER, 1);
	add_table(s, 11, 0, RAFT_FOLLOWER, 2); /* no name: being created, left out */
	s->tables[2].st.quiesced = 1;
	s->self.requests[rest_code_slot(200)] = 5;
	s->self.requests[rest_code_slot(404)] = 1;
	s->self.requests[rest_code_slot(302)] = 1;
	cr_assert_eq(rest_proc_sample(&s->proc), 0);
	struct rest_name names[] = {{9, "nine \"q\""}, {7, "seven"}};
	rest_names_sort(names, 2);
	rest_snapshot_sort(s);
	cr_assert_eq(s->tables[0].st.table_id, 1);
	struct net_buf b;
	net_buf_init(&b);
	cr_assert_eq(rest_metrics_render(s, names, 2, "1.2.3", &b), 0);
	struct expo *e = malloc(sizeof *e);
	cr_assert(e);
	const char *err = expo_check(e, (const char *)net_buf_head(&b), net_buf_size(&b));
	cr_assert_null(err, "%s\n---\n%.*s", err, (int)net_buf_size(&b), (const char *)net_buf_head(&b));
	cr_assert_gt(e->samples, 100);
	free(e);
	cr_assert(has_line(&b, "regatta_node_info{node_id=\"2\",version=\"1.2.3\",cores=\"3\"} 1"));
	cr_assert(has_line(&b, "regatta_proposals_total{core=\"2\"} 12"));
	cr_assert(has_line(&b, "regatta_raftlog_fdatasyncs_total{core=\"1\"} 7"));
	cr_assert(has_line(&b, "regatta_table_leader_id{table=\"nine \\\"q\\\"\",id=\"9\",core=\"0\"} 2"));
	cr_assert(has_line(&b, "regatta_table_is_leader{table=\"nine \\\"q\\\"\",id=\"9\",core=\"0\"} 1"));
	cr_assert(has_line(&b, "regatta_table_is_leader{table=\"seven\",id=\"7\",core=\"1\"} 0"));
	cr_assert(has_line(&b, "regatta_table_quiesced{table=\"seven\",id=\"7\",core=\"1\"} 1"));
	cr_assert(has_line(&b, "regatta_table_commit_index{table=\"_meta\",id=\"1\",core=\"0\"} 101"));
	cr_assert(has_line(&b, "regatta_rest_requests_total{code=\"404\"} 1"));
	cr_assert(has_line(&b, "regatta_rest_requests_total{code=\"other\"} 1"));
	cr_assert(has_line(&b, "regatta_reactor_backend_info{core=\"0\",backend=\"io_uring\"} 1"));
	cr_assert_null(strstr((const char *)net_buf_head(&b), "id=\"11\""), "unnamed replicas are left out");
	cr_assert_not_null(strstr((const char *)net_buf_head(&b), "\nprocess_resident_memory_bytes "));
	cr_assert_not_null(strstr((const char *)net_buf_head(&b), "\nprocess_cpu_seconds_total "));
	net_buf_deinit(&b);
	snap_free(s);
}

Test(rest_metrics, cores_that_did_not_answer_have_no_samples)
{
	struct rest_snapshot *s = snap_new(2, 1);
	s->core[1].answered = 0;
	struct net_buf b;
	net_buf_init(&b);
	cr_assert_eq(rest_metrics_render(s, NULL, 0, "v", &b), 0);
	cr_assert(has_line(&b, "regatta_core_up{core=\"1\"} 0"));
	cr_assert_not(has_line(&b, "regatta_proposals_total{core=\"1\"} 0"));
	cr_assert(has_line(&b, "regatta_proposals_total{core=\"0\"} 10"));
	net_buf_deinit(&b);
	snap_free(s);
}

Test(rest_metrics, health_verdicts)
{
	char why[256];
	struct rest_snapshot *s = snap_new(2, 1);
	cr_assert_eq(rest_health(s, why, sizeof why), 200);
	cr_assert_str_eq(why, "ok");

	s->meta.leader = 0;
	cr_assert_eq(rest_health(s, why, sizeof why), 503);
	cr_assert_str_eq(why, "the metadata group has no leader");
	s->meta.leader = 3;

	s->core[1].answered = 0;
	cr_assert_eq(rest_health(s, why, sizeof why), 503);
	cr_assert_str_eq(why, "core 1 did not answer");
	s->core[1].answered = 1;

	s->core[0].host.fatal = 1;
	cr_assert_eq(rest_health(s, why, sizeof why), 503);
	cr_assert_not_null(strstr(why, "Raft log failed"));
	s->core[0].host.fatal = 0;

	s->core[1].stopping = 1;
	cr_assert_eq(rest_health(s, why, sizeof why), 503);
	s->core[1].stopping = 0;

	s->node_stopping = 1;
	cr_assert_eq(rest_health(s, why, sizeof why), 503);
	cr_assert_str_eq(why, "shutting down");
	s->node_stopping = 0;

	s->meta_seen = 0;
	cr_assert_eq(rest_health(s, why, sizeof why), 503);
	s->meta_seen = 1;
	s->meta.error = ERR_IO;
	cr_assert_eq(rest_health(s, why, sizeof why), 503);
	s->meta.error = 0;
	cr_assert_eq(rest_health(s, why, sizeof why), 200);

	/* a 3-node cluster: core 0 must reach one peer for a majority */
	s->voters = 3;
	s->core[0].peers = 2;
	s->core[0].peers_connected = 0;
	cr_assert_eq(rest_health(s, why, sizeof why), 503);
	cr_assert_str_eq(why, "this node reaches 0 of its 2 peers: no majority");
	s->core[0].peers_connected = 1;
	cr_assert_eq(rest_health(s, why, sizeof why), 200);
	s->voters = 5;
	s->core[0].peers = 4;
	cr_assert_eq(rest_health(s, why, sizeof why), 503, "5 nodes: 2 peers needed");
	s->core[0].peers_connected = 2;
	cr_assert_eq(rest_health(s, why, sizeof why), 200);
	s->voters = 1; /* alone by design */
	s->core[0].peers = s->core[0].peers_connected = 0;
	cr_assert_eq(rest_health(s, why, sizeof why), 200);
	snap_free(s);
}

Test(rest_metrics, ready_verdicts)
{
	char why[256];
	struct rest_snapshot *s = snap_new(1, 4);
	struct rest_name names[] = {{5, "a"}, {8, "b"}};
	add_table(s, HOST_META_GROUP_ID, 1, RAFT_LEADER, 0);
	add_table(s, 8, 1, RAFT_LEADER, 0);
	rest_snapshot_sort(s);
	cr_assert_eq(rest_ready(s, names, 2, why, sizeof why), 503);
	cr_assert_str_eq(why, "table a has no replica on this node yet");
	add_table(s, 5, 0, RAFT_FOLLOWER, 0);
	rest_snapshot_sort(s);
	cr_assert_eq(rest_ready(s, names, 2, why, sizeof why), 503);
	cr_assert_str_eq(why, "table a has no leader");
	s->tables[1].st.leader = 2; /* sorted: 1, 5, 8 */
	cr_assert_eq(rest_ready(s, names, 2, why, sizeof why), 200, "%s", why);
	s->tables[2].st.error = ERR_CORRUPT;
	cr_assert_eq(rest_ready(s, names, 2, why, sizeof why), 503);
	cr_assert_not_null(strstr(why, "table b: its replica failed"));
	s->tables[2].st.error = 0;
	s->tables_missed = 1;
	cr_assert_eq(rest_ready(s, names, 2, why, sizeof why), 503);
	s->tables_missed = 0;
	s->meta.leader = 0; /* not healthy: not ready either */
	cr_assert_eq(rest_ready(s, names, 2, why, sizeof why), 503);
	cr_assert_str_eq(why, "the metadata group has no leader");
	snap_free(s);
}

Test(rest_metrics, names_and_codes)
{
	struct rest_name names[] = {{30, "c"}, {10, "a"}, {20, "b"}};
	rest_names_sort(names, 3);
	cr_assert_str_eq(rest_name_find(names, 3, 20), "b");
	cr_assert_str_eq(rest_name_find(names, 3, 30), "c");
	cr_assert_null(rest_name_find(names, 3, 25));
	cr_assert_str_eq(rest_name_find(names, 0, HOST_META_GROUP_ID), "_meta");
	cr_assert_eq(rest_code_of_slot(rest_code_slot(431)), 431);
	cr_assert_eq(rest_code_slot(418), REST_CODE_OTHER);
}

Test(rest_metrics, process_numbers)
{
	struct rest_proc p;
	cr_assert_eq(rest_proc_sample(&p), 0);
	cr_assert(p.ok);
	cr_assert_gt(p.resident_bytes, 0);
	cr_assert_geq(p.virtual_bytes, p.resident_bytes);
	cr_assert_geq(p.open_fds, 3, "stdin, stdout, stderr at least: %llu", (unsigned long long)p.open_fds);
	cr_assert_geq(p.max_fds, p.open_fds);
	cr_assert_gt(p.start_time_seconds, 1.5e9);
	cr_assert_geq(p.cpu_seconds, 0.0);
}
