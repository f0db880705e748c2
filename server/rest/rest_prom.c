/*
 * rest_prom.c — the Prometheus text format writer (see rest_prom.h).
 *
 * Invariants: a sample whose labels overflowed the label buffer is not written (ERR_TOOBIG),
 * never a cut, half-escaped value; after any error the buffer may end mid-line and must not be
 * served (the caller answers 500 instead).
 */
#include "server/rest/rest_prom.h"

#include "core/assert.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void prom_init(struct prom *p, struct net_buf *out, size_t max_bytes)
{
	ASSERT(p != NULL && out != NULL);
	ASSERT(max_bytes > 0);
	p->out = out;
	p->max_bytes = max_bytes;
	p->err = 0;
}

int prom_error(const struct prom *p)
{
	return p->err;
}

int prom_name_valid(const char *name, int label)
{
	if (!name || !*name)
		return 0;
	for (const char *c = name; *c; c++) {
		int alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
			    (!label && *c == ':');
		int digit = *c >= '0' && *c <= '9';
		if (!alpha && !(digit && c != name))
			return 0;
	}
	return 1;
}

static void put(struct prom *p, const char *s, size_t n)
{
	if (p->err)
		return;
	if (n > p->max_bytes - net_buf_size(p->out)) {
		p->err = ERR_TOOBIG;
		return;
	}
	if (net_buf_append(p->out, s, n))
		p->err = ERR_NOMEM;
}

static void puts_(struct prom *p, const char *s)
{
	put(p, s, strlen(s));
}

/* HELP text: backslash and newline are escaped (quotes are not, per the format). */
static void put_help(struct prom *p, const char *s)
{
	for (const char *c = s; *c; c++) {
		if (*c == '\\')
			puts_(p, "\\\\");
		else if (*c == '\n')
			puts_(p, "\\n");
		else
			put(p, c, 1);
	}
}

void prom_family(struct prom *p, const char *name, const char *type, const char *help)
{
	ASSERT(prom_name_valid(name, 0));
	ASSERT(!strcmp(type, "counter") || !strcmp(type, "gauge"));
	puts_(p, "# HELP ");
	puts_(p, name);
	puts_(p, " ");
	put_help(p, help);
	puts_(p, "\n# TYPE ");
	puts_(p, name);
	puts_(p, " ");
	puts_(p, type);
	puts_(p, "\n");
}

void prom_labels_init(struct prom_labels *l)
{
	l->len = 0;
	l->overflow = 0;
	l->buf[0] = 0;
}

static void lab_put(struct prom_labels *l, const char *s, size_t n)
{
	if (l->overflow || n >= sizeof l->buf - l->len) {
		l->overflow = 1;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = 0;
}

void prom_labels_add(struct prom_labels *l, const char *name, const char *value)
{
	ASSERT(prom_name_valid(name, 1));
	ASSERT(value != NULL);
	if (l->len)
		lab_put(l, ",", 1);
	lab_put(l, name, strlen(name));
	lab_put(l, "=\"", 2);
	for (const char *c = value; *c; c++) {
		if (*c == '\\')
			lab_put(l, "\\\\", 2);
		else if (*c == '"')
			lab_put(l, "\\\"", 2);
		else if (*c == '\n')
			lab_put(l, "\\n", 2);
		else
			lab_put(l, c, 1);
	}
	lab_put(l, "\"", 1);
}

void prom_labels_add_u64(struct prom_labels *l, const char *name, uint64_t value)
{
	char v[24];
	snprintf(v, sizeof v, "%llu", (unsigned long long)value);
	prom_labels_add(l, name, v);
}

static void sample_start(struct prom *p, const char *name, const struct prom_labels *labels)
{
	ASSERT(prom_name_valid(name, 0));
	if (labels && labels->overflow) {
		if (!p->err)
			p->err = ERR_TOOBIG;
		return;
	}
	puts_(p, name);
	if (labels && labels->len) {
		puts_(p, "{");
		put(p, labels->buf, labels->len);
		puts_(p, "}");
	}
	puts_(p, " ");
}

void prom_u64(struct prom *p, const char *name, const struct prom_labels *labels, uint64_t value)
{
	char v[32];
	int n = snprintf(v, sizeof v, "%llu\n", (unsigned long long)value);
	ASSERT(n > 0 && (size_t)n < sizeof v);
	sample_start(p, name, labels);
	put(p, v, (size_t)n);
}

void prom_f64(struct prom *p, const char *name, const struct prom_labels *labels, double value)
{
	char v[48];
	int n;
	if (isnan(value))
		n = snprintf(v, sizeof v, "NaN\n");
	else if (isinf(value))
		n = snprintf(v, sizeof v, value > 0 ? "+Inf\n" : "-Inf\n");
	else
		n = snprintf(v, sizeof v, "%.17g\n", value);
	ASSERT(n > 0 && (size_t)n < sizeof v);
	sample_start(p, name, labels);
	put(p, v, (size_t)n);
}
