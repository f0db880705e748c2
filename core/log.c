/* log.c — see log.h. One write(2) per line; JSON strings escaped per RFC 8259. */
#include "core/log.h"
#include "core/err.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = LOG_LEVEL_INFO;
static _Atomic int log_json;
static _Thread_local int log_core = -1;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void log_set_level(enum log_level level) { atomic_store(&log_level, (int)level); }
enum log_level log_get_level(void) { return (enum log_level)atomic_load_explicit(&log_level, memory_order_relaxed); }
void log_set_json(int json) { atomic_store(&log_json, json ? 1 : 0); }
void log_set_core_id(int core) { log_core = core; }
int log_core_id(void) { return log_core; }

int log_parse_level(const char *s, enum log_level *out)
{
	for (int i = 0; i <= (int)LOG_LEVEL_OFF; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return ERR_INVAL;
}

static size_t json_escape(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)src; *p && n + 7 < cap; p++) {
		if (*p == '"' || *p == '\\') {
			dst[n++] = '\\';
			dst[n++] = (char)*p;
		} else if (*p < 0x20) {
			n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", *p);
		} else {
			dst[n++] = (char)*p;
		}
	}
	dst[n] = 0;
	return n;
}

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	char msg[2048];
	char out[4608];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char when[64];
	snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;

	int n;
	if (atomic_load_explicit(&log_json, memory_order_relaxed)) {
		char esc[4096];
		json_escape(esc, sizeof esc, msg);
		n = snprintf(out, sizeof out,
			     "{\"ts\":\"%s\",\"level\":\"%s\",\"core\":%d,\"src\":\"%s:%d\",\"msg\":\"%s\"}\n",
			     when, level_names[level], log_core, base, line, esc);
	} else {
		n = snprintf(out, sizeof out, "%s %-5s [core %d] %s (%s:%d)\n", when, level_names[level],
			     log_core, msg, base, line);
	}
	if (n < 0)
		return;
	size_t len = (size_t)n < sizeof out ? (size_t)n : sizeof out - 1;
	ssize_t w = write(STDERR_FILENO, out, len);
	(void)w;
}
