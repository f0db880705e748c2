/*
 * main.c — regatta-bench: the load generator (see rb.h for the model, docs/regatta-bench.md
 * for usage and how the numbers are measured).
 *
 * Steps: parse options; print the config (seed, commit); for --target regatta with
 * --create-table, create the table; when the workload reads or compares keys, preload the key
 * space (every key put once, sequentially, not measured); run the measured phase; print text
 * or JSON. Exit codes: 0 the run completed (errors are counted in the output, not here),
 * 2 bad usage, 3 could not connect / set up, 4 table creation failed, 5 self-test failed.
 */
#include "rb.h"

#include "core/assert.h"
#include "core/log.h"
#include "core/prng.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int self_test(void)
{
	int bad = 0;
	/* Histogram: indexes grow with values, every value lies inside its bucket, buckets are
	 * narrow (< 1/128 of their values), small values are exact. */
	uint32_t prev = 0;
	for (uint64_t v = 0; v < (1ull << 41); v = v < 4096 ? v + 1 : v + v / 97 + 1) {
		uint32_t i = hist_index(v);
		if (i < prev)
			bad |= 1;
		prev = i;
		uint64_t lo = hist_bucket_low(i), hi = hist_bucket_high(i);
		if (v < (1ull << HIST_MAX_BITS) && (v < lo || v > hi))
			bad |= 2;
		if (lo >= 256 && (hi - lo + 1) * 128 > lo)
			bad |= 4;
		if (v < 256 && (lo != v || hi != v))
			bad |= 8;
	}
	/* Percentiles over 1..100000 us: p50 = 50 ms within 0.8 %, p100 = max exactly. */
	static struct hist h;
	hist_init(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(&h, v * 1000);
	uint64_t p50 = hist_percentile(&h, 50.0), p999 = hist_percentile(&h, 99.9);
	if (p50 < 50000000ull || p50 > 50400000ull || p999 < 99900000ull || p999 > 100000000ull)
		bad |= 16;
	if (hist_percentile(&h, 100.0) != 100000000ull || h.count != 100000)
		bad |= 32;
	/* Keys: fixed width, zero-padded, too long refused. */
	struct rb_config cfg = {.key_bytes = 8, .key_prefix = "k"};
	uint8_t key[RB_KEY_BYTES_MAX];
	size_t len = 0;
	if (rb_key_format(&cfg, 42, key, &len) || len != 8 || memcmp(key, "k0000042", 8))
		bad |= 64;
	if (rb_key_format(&cfg, 100000000ull, key, &len) != ERR_TOOBIG)
		bad |= 128;
	/* Responses: a RangeResponse with one kv is found; garbage is refused. */
	const uint8_t rr_regatta[] = {0x0a, 0x00, 0x1a, 0x03, 0x0a, 0x01, 'k'};
	const uint8_t rr_etcd[] = {0x0a, 0x00, 0x12, 0x03, 0x0a, 0x01, 'k'};
	const uint8_t txn_ok[] = {0x10, 0x01};
	const uint8_t junk[] = {0x0a, 0x05, 0x00};
	int found = 0, succ = 0;
	if (rb_wire_check_response(RB_TARGET_REGATTA, RB_OP_RANGE, rr_regatta, sizeof rr_regatta,
	                           &found, &succ) ||
	    !found)
		bad |= 256;
	if (rb_wire_check_response(RB_TARGET_ETCD, RB_OP_RANGE, rr_etcd, sizeof rr_etcd, &found,
	                           &succ) ||
	    !found)
		bad |= 512;
	if (rb_wire_check_response(RB_TARGET_REGATTA, RB_OP_RANGE, rr_etcd, sizeof rr_etcd, &found,
	                           &succ) ||
	    found)
		bad |= 1024;
	if (rb_wire_check_response(RB_TARGET_ETCD, RB_OP_TXN, txn_ok, sizeof txn_ok, &found,
	                           &succ) ||
	    !succ)
		bad |= 2048;
	if (rb_wire_check_response(RB_TARGET_ETCD, RB_OP_PUT, junk, sizeof junk, &found, &succ) !=
	    ERR_PROTO)
		bad |= 4096;
	printf("regatta-bench self-test: %s (mask %d)\n", bad ? "FAILED" : "ok", bad);
	return bad ? 5 : 0;
}

/* The preload phase: every key once, in order, closed loop, same connections layout. */
static void preload_config(const struct rb_config *cfg, struct rb_config *p)
{
	*p = *cfg;
	memset(p->mix, 0, sizeof p->mix);
	p->mix[RB_OP_PUT] = 1;
	p->sequential = 1;
	p->total = cfg->keys;
	p->duration_s = 0;
	p->rate = 0;
	if (p->max_seconds < 600)
		p->max_seconds = 600;
	if (p->clients > p->keys)
		p->clients = (uint32_t)p->keys;
	if (p->conns > p->clients)
		p->conns = p->clients;
	if (p->threads > p->conns)
		p->threads = p->conns;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--self-test") == 0)
		return self_test();
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("regatta-bench %s\n", rb_commit());
		return 0;
	}
	log_set_level(LOG_LEVEL_WARN);
	struct rb_config cfg;
	int rc = rb_opts_parse(argc, argv, &cfg);
	if (rc == 1)
		return 0;
	if (rc) {
		rb_opts_free(&cfg);
		return 2;
	}
	int code = 0;
	struct rb_result *pre = NULL, *res = calloc(1, sizeof *res);
	if (!res) {
		code = 3;
		goto out;
	}
	if (!cfg.json && !cfg.quiet) {
		rb_report_config(&cfg);
		fflush(stdout);
	}
	if (cfg.create_table && rb_wire_create_table(&cfg)) {
		code = 4;
		goto out;
	}
	if (cfg.preload) {
		struct rb_config pc;
		preload_config(&cfg, &pc);
		pre = calloc(1, sizeof *pre);
		if (!pre) {
			code = 3;
			goto out;
		}
		rc = rb_run_phase(&pc, pre);
		if (rc) {
			if (pre->connect_failed)
				fprintf(stderr, "regatta-bench: preload: cannot connect: %s\n",
				        pre->connect_error);
			else
				fprintf(stderr, "regatta-bench: preload failed: %s\n", err_str(rc));
			code = 3;
			goto out;
		}
		uint64_t ok = 0, issued = 0;
		for (int op = 0; op < RB_OP_COUNT; op++) {
			ok += pre->ops[op].ok;
			issued += pre->ops[op].issued;
		}
		if (ok != cfg.keys)
			fprintf(stderr,
			        "regatta-bench: warning: preload wrote %" PRIu64 " of %" PRIu64
			        " keys (%" PRIu64 " failed): reads will miss\n",
			        ok, cfg.keys, issued - ok);
		if (!cfg.json && !cfg.quiet) {
			rb_report_text(&cfg, pre, NULL);
			fflush(stdout);
		}
	}
	rc = rb_run_phase(&cfg, res);
	if (rc) {
		if (res->connect_failed)
			fprintf(stderr, "regatta-bench: run: cannot connect: %s\n",
			        res->connect_error);
		else
			fprintf(stderr, "regatta-bench: run failed: %s\n", err_str(rc));
		code = 3;
		goto out;
	}
	if (cfg.json) {
		if (rb_report_json(&cfg, pre, res))
			code = 3;
	} else {
		/* The config and the preload were printed before the run. */
		rb_report_text(&cfg, NULL, res);
	}
out:
	free(pre);
	free(res);
	rb_opts_free(&cfg);
	return code;
}
