/*
 * rest_prom.h — writing the Prometheus text exposition format (version 0.0.4) into a buffer.
 *
 *   # HELP <name> <text>
 *   # TYPE <name> counter|gauge
 *   <name>{<label>="<value>",...} <number>
 *
 * A family's HELP and TYPE come once, before all of its samples (the format requires the
 * samples of one family to be together). Label values are escaped (\\, \", \n), so any table
 * name is safe; metric and label names are our own constants (asserted to be valid names).
 * Errors are sticky: after a failed append every call does nothing and prom_error() says so.
 */
#ifndef SERVER_REST_REST_PROM_H
#define SERVER_REST_REST_PROM_H

#include "core/err.h"
#include "net/buf.h"

#include <stddef.h>
#include <stdint.h>

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct prom {
	struct net_buf *out;
	size_t max_bytes; /* the whole exposition may not grow past this (ERR_TOOBIG) */
	int err;
};

void prom_init(struct prom *p, struct net_buf *out, size_t max_bytes);
int prom_error(const struct prom *p);

/* Start a family. type is "counter" or "gauge". */
void prom_family(struct prom *p, const char *name, const char *type, const char *help);

/* Labels for one sample, built in a small buffer: prom_labels_add escapes the value. */
struct prom_labels {
	char buf[768];
	size_t len;
	int overflow;
};
void prom_labels_init(struct prom_labels *l);
void prom_labels_add(struct prom_labels *l, const char *name, const char *value);
void prom_labels_add_u64(struct prom_labels *l, const char *name, uint64_t value);

/* One sample; labels may be NULL. */
void prom_u64(struct prom *p, const char *name, const struct prom_labels *labels, uint64_t value);
void prom_f64(struct prom *p, const char *name, const struct prom_labels *labels, double value);

/* A metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]* (label names without ':'). */
int prom_name_valid(const char *name, int label);

#endif
