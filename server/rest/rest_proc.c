/*
 * rest_proc.c — this process's CPU, memory, descriptors and start time from /proc, the numbers
 * Prometheus client libraries export as process_*.
 *
 * /proc/self/stat fields (proc(5)): 14 utime, 15 stime, 22 starttime (clock ticks after boot),
 * 23 vsize (bytes), 24 rss (pages); the command name (field 2) may hold spaces and parentheses,
 * so parsing starts after the LAST ')'. Boot time is /proc/stat's "btime". Reads are bounded
 * (one small buffer each; the fd directory walk stops at max_fds + 1 entries).
 */
#include "server/rest/rest_metrics.h"

#include "core/assert.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Read a small /proc file into buf (NUL-terminated). */
static int read_small(const char *path, char *buf, size_t cap)
{
	ASSERT(cap > 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ERR_IO;
	size_t len = 0;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	return len ? 0 : ERR_IO;
}

static int boot_time(uint64_t *out)
{
	char buf[8192];
	if (read_small("/proc/stat", buf, sizeof buf))
		return ERR_IO;
	const char *b = strstr(buf, "\nbtime ");
	if (!b)
		return ERR_IO;
	*out = strtoull(b + 7, NULL, 10);
	return *out ? 0 : ERR_IO;
}

static uint64_t count_fds(uint64_t max)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return 0;
	uint64_t n = 0;
	struct dirent *e;
	while (n <= max && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0; /* the directory stream's own descriptor */
}

int rest_proc_sample(struct rest_proc *out)
{
	ASSERT(out != NULL);
	memset(out, 0, sizeof *out);
	char buf[1024];
	if (read_small("/proc/self/stat", buf, sizeof buf))
		return ERR_IO;
	char *p = strrchr(buf, ')');
	if (!p)
		return ERR_IO;
	/* after ")": field 3 (state) is the first token */
	unsigned long long v[24] = {0};
	int field = 3;
	char *save = NULL;
	for (char *tok = strtok_r(p + 1, " ", &save); tok && field <= 24; tok = strtok_r(NULL, " ", &save)) {
		v[field - 1] = strtoull(tok, NULL, 10);
		field++;
	}
	if (field <= 24)
		return ERR_IO;
	long tck = sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	uint64_t btime;
	if (tck <= 0 || page <= 0 || boot_time(&btime))
		return ERR_IO;
	out->cpu_seconds = (double)(v[13] + v[14]) / (double)tck;
	out->start_time_seconds = (double)btime + (double)v[21] / (double)tck;
	out->virtual_bytes = v[22];
	out->resident_bytes = v[23] * (uint64_t)page;
	struct rlimit rl;
	out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (uint64_t)rl.rlim_cur : 0;
	out->open_fds = count_fds(out->max_fds ? out->max_fds : 1u << 20);
	out->ok = 1;
	ASSERT(out->resident_bytes > 0);
	return 0;
}
