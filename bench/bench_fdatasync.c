/*
 * bench_fdatasync — how long this disk takes to make a small write durable; prints numbers,
 * asserts nothing. The yardstick for "1-client Put p50 within 1.5x of fdatasync latency"
 * (bench/etcd_vs_regatta.sh runs it in the directory where the servers keep their data).
 *
 * Two file cases, each `count` times (default 500) with `bytes` per write (default 4096):
 *   prealloc: pwrite over a region written and synced beforehand, then fdatasync — only the
 *             data must reach the disk (a write-ahead log that preallocates its segments);
 *   append:   pwrite past the end of the file, then fdatasync — the size changes too, so the
 *             file system also journals metadata (a log that grows its file).
 * each run twice:
 *   idle:  nothing else runs on our CPU, so it may go idle while the disk works;
 *   awake: a spinning thread keeps our CPU busy. On a VM the difference can be large: an idle
 *          vCPU is woken for the I/O completion only at the host's next tick (measured here:
 *          ~4 ms idle vs ~0.1 ms awake). A busy server sees the awake number; a lone request
 *          on an idle machine may see the idle one.
 * Output: one line per case, `case=<file>-<cpu> n=<count> bytes=<b> p50_us=.. p90_us=..
 * p99_us=.. mean_us=.. max_us=..`, easy to read by scripts. The test file is removed at the end.
 *
 * usage: bench_fdatasync DIR [count] [bytes]
 */
#define _GNU_SOURCE
#include "core/clock.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT_MAX 100000
#define BYTES_MAX (1u << 20)

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)n);
	if (i >= n)
		i = n - 1;
	return (double)v[i] / 1000.0;
}

static atomic_int spin_stop;

static void *spin_main(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
		;
	return NULL;
}

/* Pin the calling thread and a spinner to the CPU we are on; join with spin_end. */
static int spin_start(pthread_t *t)
{
	int cpu = sched_getcpu();
	if (cpu < 0)
		return -1;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET((size_t)cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof set, &set))
		return -1;
	atomic_store(&spin_stop, 0);
	if (pthread_create(t, NULL, spin_main, NULL))
		return -1;
	if (pthread_setaffinity_np(*t, sizeof set, &set)) {
		atomic_store(&spin_stop, 1);
		pthread_join(*t, NULL);
		return -1;
	}
	return 0;
}

static void spin_end(pthread_t t)
{
	atomic_store(&spin_stop, 1);
	pthread_join(t, NULL);
}

static int run_case(const char *name, int fd, int append, size_t count, size_t bytes,
		    const char *buf, uint64_t *lat)
{
	off_t base = append ? lseek(fd, 0, SEEK_END) : 0;
	if (base < 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		off_t off = base + (off_t)(i * bytes);
		uint64_t t0 = clock_mono_ns();
		if (pwrite(fd, buf, bytes, off) != (ssize_t)bytes || fdatasync(fd)) {
			perror("bench_fdatasync: write/fdatasync");
			return -1;
		}
		lat[i] = clock_mono_ns() - t0;
	}
	uint64_t sum = 0;
	for (size_t i = 0; i < count; i++)
		sum += lat[i];
	qsort(lat, count, sizeof *lat, cmp_u64);
	printf("case=%s n=%zu bytes=%zu p50_us=%.1f p90_us=%.1f p99_us=%.1f mean_us=%.1f max_us=%.1f\n",
	       name, count, bytes, pct_us(lat, count, 50), pct_us(lat, count, 90),
	       pct_us(lat, count, 99), (double)sum / (double)count / 1000.0,
	       (double)lat[count - 1] / 1000.0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: bench_fdatasync DIR [count (500)] [bytes (4096)]\n");
		return 2;
	}
	size_t count = argc > 2 ? strtoul(argv[2], NULL, 10) : 500;
	size_t bytes = argc > 3 ? strtoul(argv[3], NULL, 10) : 4096;
	if (count < 1 || count > COUNT_MAX || bytes < 1 || bytes > BYTES_MAX) {
		fprintf(stderr, "bench_fdatasync: count 1..%d, bytes 1..%u\n", COUNT_MAX, BYTES_MAX);
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/bench_fdatasync.%d", argv[1], (int)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	int rc = 1;
	char *buf = malloc(bytes);
	uint64_t *lat = calloc(count, sizeof *lat);
	if (!buf || !lat)
		goto out;
	memset(buf, 'x', bytes);
	/* Preallocate by writing the region once and syncing it (metadata settled). */
	for (size_t i = 0; i < count; i++)
		if (pwrite(fd, buf, bytes, (off_t)(i * bytes)) != (ssize_t)bytes)
			goto out;
	if (fsync(fd))
		goto out;
	if (run_case("prealloc-idle", fd, 0, count, bytes, buf, lat) ||
	    run_case("append-idle", fd, 1, count, bytes, buf, lat))
		goto out;
	pthread_t spinner;
	if (spin_start(&spinner)) {
		fprintf(stderr, "bench_fdatasync: cannot start the spinning thread\n");
		goto out;
	}
	int brc = run_case("prealloc-awake", fd, 0, count, bytes, buf, lat) ||
		  run_case("append-awake", fd, 1, count, bytes, buf, lat);
	spin_end(spinner);
	if (brc)
		goto out;
	rc = 0;
out:
	free(buf);
	free(lat);
	close(fd);
	unlink(path);
	return rc;
}
