/*
 * report.c — regatta-bench's output: the config (with seed and commit) and the results, as
 * text for people or as one JSON document (cJSON) for scripts.
 *
 * Definitions used in both forms:
 *   elapsed     first worker start (after every connection is up) to last worker end;
 *   throughput  successful calls per second of elapsed (errors are not throughput);
 *   latency     of successful calls only, from send (closed loop) or due time (open loop) to
 *               the final status; percentiles from the histogram (hist.h: < 0.8 % error);
 *   errors      every call that did not end OK, by gRPC status, plus BAD_RESPONSE (OK without
 *               a well-formed response) and CLIENT (could not start); issued = ok + errors.
 */
#include "rb.h"

#include "core/assert.h"
#include "rb_commit.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const double pcts[] = {50.0, 90.0, 99.0, 99.9};
static const char *const pct_names[] = {"p50", "p90", "p99", "p99_9"};
#define N_PCTS (sizeof pcts / sizeof pcts[0])

const char *rb_commit(void)
{
	return RB_COMMIT;
}

const char *rb_err_slot_name(int slot)
{
	ASSERT(slot > 0 && slot < RB_ERR_SLOTS);
	if (slot == RB_ERR_BAD_RESPONSE)
		return "BAD_RESPONSE";
	if (slot == RB_ERR_CLIENT)
		return "CLIENT";
	return grpc_status_name(slot);
}

static uint64_t op_errors(const struct rb_op_stats *s)
{
	uint64_t n = 0;
	for (int e = 0; e < RB_ERR_SLOTS; e++)
		n += s->errors[e];
	return n;
}

/* All operation kinds folded into one (for the "all" line and the totals). */
static void fold(const struct rb_result *r, struct rb_op_stats *all)
{
	hist_init(&all->hist);
	for (int op = 0; op < RB_OP_COUNT; op++) {
		const struct rb_op_stats *s = &r->ops[op];
		all->issued += s->issued;
		all->ok += s->ok;
		all->misses += s->misses;
		all->txn_failed += s->txn_failed;
		for (int e = 0; e < RB_ERR_SLOTS; e++) {
			if (s->errors[e] && !all->errors[e])
				snprintf(all->first_error[e], sizeof all->first_error[e], "%s",
				         s->first_error[e]);
			all->errors[e] += s->errors[e];
		}
		hist_merge(&all->hist, &s->hist);
	}
}

static double elapsed_s(const struct rb_result *r)
{
	return r->end_ns > r->start_ns ? (double)(r->end_ns - r->start_ns) / 1e9 : 0.0;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void mix_text(const struct rb_config *cfg, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	for (int op = 0; op < RB_OP_COUNT && n < cap; op++)
		if (cfg->mix[op])
			n += (size_t)snprintf(out + n, cap - n, "%s%s=%u", n ? "," : "",
			                      rb_op_name((enum rb_op)op), cfg->mix[op]);
}

void rb_report_config(const struct rb_config *cfg)
{
	char mix[128];
	mix_text(cfg, mix, sizeof mix);
	printf("regatta-bench commit %s%s%s\n", rb_commit(), cfg->label ? "  label: " : "",
	       cfg->label ? cfg->label : "");
	printf("target %s  endpoints ", cfg->target == RB_TARGET_ETCD ? "etcd (etcdserverpb.KV)"
	                                                              : "regatta (regatta.v1.KV)");
	for (uint32_t i = 0; i < cfg->n_endpoints; i++)
		printf("%s%s", i ? "," : "", cfg->endpoints[i]);
	if (cfg->target == RB_TARGET_REGATTA)
		printf("  table %s", cfg->table);
	printf("\nload: %u threads, %u connections, %u clients (one request in flight each), %s",
	       cfg->threads, cfg->conns, cfg->clients, cfg->rate > 0 ? "open loop" : "closed loop");
	if (cfg->rate > 0)
		printf(" at %.0f req/s", cfg->rate);
	printf(", timeout %.3g s, backend %s", (double)cfg->timeout_ns / 1e9,
	       cfg->backend ? cfg->backend : "auto");
	if (cfg->n_cpus) {
		printf(", cpus ");
		for (uint32_t i = 0; i < cfg->n_cpus; i++)
			printf("%s%d", i ? "," : "", cfg->cpus[i]);
	}
	printf("\nworkload %s: %" PRIu64 " keys of %u bytes (prefix \"%s\", %s), values %u bytes, "
	       "txn compares %s, preload %s\n",
	       mix, cfg->keys, cfg->key_bytes, cfg->key_prefix,
	       cfg->sequential ? "sequential" : "random", cfg->value_bytes,
	       cfg->txn_compare == RB_TXN_VALUE ? "VALUE ==" : "VERSION > 0",
	       cfg->preload ? "yes" : "no");
	printf("length: ");
	if (cfg->total)
		printf("%" PRIu64 " requests", cfg->total);
	if (cfg->total && cfg->duration_s > 0)
		printf(" or ");
	if (cfg->duration_s > 0)
		printf("%.3g s", cfg->duration_s);
	printf(" (cap %.3g s)  seed %" PRIu64 "\n", cfg->max_seconds, cfg->seed);
}

static void lat_line(const char *name, const struct rb_op_stats *s)
{
	const struct hist *h = &s->hist;
	printf("  %-10s %10" PRIu64 " %9.1f", name, h->count, us((uint64_t)hist_mean(h)));
	for (size_t i = 0; i < N_PCTS; i++)
		printf(" %9.1f", us(hist_percentile(h, pcts[i])));
	printf(" %9.1f\n", us(h->count ? h->max_ns : 0));
}

static void phase_text(const char *title, const struct rb_result *r)
{
	struct rb_op_stats all = {0};
	fold(r, &all);
	double el = elapsed_s(r);
	uint64_t errs = op_errors(&all);
	printf("%s: %.3f s, issued %" PRIu64 ", ok %" PRIu64 ", errors %" PRIu64
	       ", throughput %.1f ok/s%s\n",
	       title, el, all.issued, all.ok, errs, el > 0 ? (double)all.ok / el : 0.0,
	       r->capped ? "  (stopped by --max-seconds)" : "");
	if (all.ok) {
		printf("  latency us %10s %9s %9s %9s %9s %9s %9s\n", "count", "mean", "p50", "p90",
		       "p99", "p99.9", "max");
		int kinds = 0;
		for (int op = 0; op < RB_OP_COUNT; op++)
			kinds += r->ops[op].issued > 0;
		for (int op = 0; op < RB_OP_COUNT; op++)
			if (r->ops[op].issued && (kinds > 1 || r->ops[op].ok))
				lat_line(rb_op_name((enum rb_op)op), &r->ops[op]);
		if (kinds > 1)
			lat_line("all", &all);
	}
	for (int e = 1; e < RB_ERR_SLOTS; e++)
		if (all.errors[e])
			printf("  error %s: %" PRIu64 " (first: %s)\n", rb_err_slot_name(e),
			       all.errors[e], all.first_error[e]);
	if (all.misses)
		printf("  range misses (OK, key absent): %" PRIu64 "\n", all.misses);
	if (r->ops[RB_OP_TXN].issued)
		printf("  txn: %" PRIu64 " succeeded, %" PRIu64 " compare failed\n",
		       r->ops[RB_OP_TXN].ok - r->ops[RB_OP_TXN].txn_failed,
		       r->ops[RB_OP_TXN].txn_failed);
	if (r->behind_schedule)
		printf("  open loop: %" PRIu64 " requests sent >= 1 ms behind schedule\n",
		       r->behind_schedule);
	if (r->reconnects)
		printf("  reconnects: %" PRIu64 "\n", r->reconnects);
	if (all.issued)
		printf("  client cpu %.3f s (%.1f us per request)\n",
		       (double)r->client_cpu_ns / 1e9, us(r->client_cpu_ns) / (double)all.issued);
}

void rb_report_text(const struct rb_config *cfg, const struct rb_result *preload,
                    const struct rb_result *res)
{
	if (preload && !cfg->quiet)
		phase_text("preload", preload);
	if (res)
		phase_text("result", res);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static cJSON *latency_json(const struct hist *h)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "count", (double)h->count);
	cJSON_AddNumberToObject(o, "min", us(h->count ? h->min_ns : 0));
	cJSON_AddNumberToObject(o, "mean", hist_mean(h) / 1000.0);
	for (size_t i = 0; i < N_PCTS; i++)
		cJSON_AddNumberToObject(o, pct_names[i], us(hist_percentile(h, pcts[i])));
	cJSON_AddNumberToObject(o, "max", us(h->count ? h->max_ns : 0));
	return o;
}

static cJSON *op_json(const struct rb_op_stats *s)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "issued", (double)s->issued);
	cJSON_AddNumberToObject(o, "ok", (double)s->ok);
	cJSON_AddNumberToObject(o, "errors", (double)op_errors(s));
	cJSON *by = cJSON_AddObjectToObject(o, "errors_by_status");
	cJSON *msgs = cJSON_AddObjectToObject(o, "first_error_message");
	for (int e = 1; e < RB_ERR_SLOTS && by && msgs; e++) {
		if (!s->errors[e])
			continue;
		cJSON_AddNumberToObject(by, rb_err_slot_name(e), (double)s->errors[e]);
		cJSON_AddStringToObject(msgs, rb_err_slot_name(e), s->first_error[e]);
	}
	cJSON_AddNumberToObject(o, "range_misses", (double)s->misses);
	cJSON_AddNumberToObject(o, "txn_compare_failed", (double)s->txn_failed);
	cJSON_AddItemToObject(o, "latency_us", latency_json(&s->hist));
	return o;
}

static cJSON *phase_json(const struct rb_result *r)
{
	struct rb_op_stats all = {0};
	fold(r, &all);
	double el = elapsed_s(r);
	cJSON *o = op_json(&all);
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "elapsed_s", el);
	cJSON_AddNumberToObject(o, "throughput", el > 0 ? (double)all.ok / el : 0.0);
	cJSON_AddNumberToObject(o, "behind_schedule", (double)r->behind_schedule);
	cJSON_AddNumberToObject(o, "reconnects", (double)r->reconnects);
	cJSON_AddBoolToObject(o, "capped", r->capped);
	cJSON_AddNumberToObject(o, "client_cpu_s", (double)r->client_cpu_ns / 1e9);
	cJSON_AddNumberToObject(o, "client_cpu_us_per_op",
	                        all.issued ? us(r->client_cpu_ns) / (double)all.issued : 0.0);
	if (r->connect_failed)
		cJSON_AddStringToObject(o, "connect_error", r->connect_error);
	cJSON *ops = cJSON_AddObjectToObject(o, "ops");
	for (int op = 0; op < RB_OP_COUNT && ops; op++)
		if (r->ops[op].issued)
			cJSON_AddItemToObject(ops, rb_op_name((enum rb_op)op),
			                      op_json(&r->ops[op]));
	return o;
}

static cJSON *config_json(const struct rb_config *cfg)
{
	cJSON *c = cJSON_CreateObject();
	if (!c)
		return NULL;
	cJSON_AddStringToObject(c, "target", cfg->target == RB_TARGET_ETCD ? "etcd" : "regatta");
	cJSON *eps = cJSON_AddArrayToObject(c, "endpoints");
	for (uint32_t i = 0; i < cfg->n_endpoints && eps; i++)
		cJSON_AddItemToArray(eps, cJSON_CreateString(cfg->endpoints[i]));
	if (cfg->target == RB_TARGET_REGATTA)
		cJSON_AddStringToObject(c, "table", cfg->table);
	cJSON_AddNumberToObject(c, "threads", cfg->threads);
	cJSON_AddNumberToObject(c, "conns", cfg->conns);
	cJSON_AddNumberToObject(c, "clients", cfg->clients);
	cJSON *mix = cJSON_AddObjectToObject(c, "mix");
	for (int op = 0; op < RB_OP_COUNT && mix; op++)
		if (cfg->mix[op])
			cJSON_AddNumberToObject(mix, rb_op_name((enum rb_op)op), cfg->mix[op]);
	cJSON_AddNumberToObject(c, "keys", (double)cfg->keys);
	cJSON_AddNumberToObject(c, "key_bytes", cfg->key_bytes);
	cJSON_AddStringToObject(c, "key_prefix", cfg->key_prefix);
	cJSON_AddNumberToObject(c, "value_bytes", cfg->value_bytes);
	cJSON_AddStringToObject(c, "key_order", cfg->sequential ? "sequential" : "random");
	cJSON_AddStringToObject(c, "txn_compare",
	                        cfg->txn_compare == RB_TXN_VALUE ? "value" : "version");
	cJSON_AddBoolToObject(c, "preload", cfg->preload);
	cJSON_AddNumberToObject(c, "total", (double)cfg->total);
	cJSON_AddNumberToObject(c, "duration_s", cfg->duration_s);
	cJSON_AddNumberToObject(c, "max_seconds", cfg->max_seconds);
	cJSON_AddNumberToObject(c, "rate", cfg->rate);
	cJSON_AddNumberToObject(c, "timeout_s", (double)cfg->timeout_ns / 1e9);
	/* The seed as a string: JSON numbers lose integers above 2^53. */
	char seed[24];
	snprintf(seed, sizeof seed, "%" PRIu64, cfg->seed);
	cJSON_AddStringToObject(c, "seed", seed);
	cJSON_AddStringToObject(c, "backend", cfg->backend ? cfg->backend : "auto");
	cJSON *cpus = cJSON_AddArrayToObject(c, "cpus");
	for (uint32_t i = 0; i < cfg->n_cpus && cpus; i++)
		cJSON_AddItemToArray(cpus, cJSON_CreateNumber(cfg->cpus[i]));
	return c;
}

int rb_report_json(const struct rb_config *cfg, const struct rb_result *preload,
                   const struct rb_result *res)
{
	cJSON *doc = cJSON_CreateObject();
	if (!doc)
		return ERR_NOMEM;
	cJSON_AddStringToObject(doc, "tool", "regatta-bench");
	cJSON_AddStringToObject(doc, "commit", rb_commit());
	if (cfg->label)
		cJSON_AddStringToObject(doc, "label", cfg->label);
	cJSON_AddItemToObject(doc, "config", config_json(cfg));
	if (preload)
		cJSON_AddItemToObject(doc, "preload", phase_json(preload));
	else
		cJSON_AddNullToObject(doc, "preload");
	if (res)
		cJSON_AddItemToObject(doc, "result", phase_json(res));
	else
		cJSON_AddNullToObject(doc, "result");
	char *text = cJSON_Print(doc);
	cJSON_Delete(doc);
	if (!text)
		return ERR_NOMEM;
	printf("%s\n", text);
	free(text);
	return 0;
}
