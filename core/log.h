/*
 * log.h — levelled logging, human-readable or one JSON object per line, to stderr.
 *
 * Safe from any thread: each line is formatted into a stack buffer and written with one
 * write(2), so lines from different cores never interleave. Each thread may set its core id
 * (reactor threads do) so lines say where they came from.
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO = 1, LOG_LEVEL_WARN = 2, LOG_LEVEL_ERROR = 3, LOG_LEVEL_OFF = 4 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_json(int json);
/* Parse "debug|info|warn|error|off"; returns 0 or ERR_INVAL. */
int log_parse_level(const char *s, enum log_level *out);

void log_set_core_id(int core);
int log_core_id(void);

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define LOG_AT(lvl, ...) \
	do { \
		if ((lvl) >= log_get_level()) \
			log_write((lvl), __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)
#define LOG_DEBUG(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_WARN(...) LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_ERROR(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
