/*
 * driver.c — runs a fuzz target without libFuzzer (gcc builds, ASan builds), bounded.
 *
 * usage: fuzz_<name> [--seed S] [--runs N] [--seconds T] [corpus files or dirs...]
 * Every corpus input is run as is, then N mutated inputs (bit flips, byte sets, truncation,
 * duplication, splices of two corpus entries, random bytes) from a seeded PRNG, stopping after
 * T seconds. Prints the seed; a crash reproduces with the same seed. With clang and
 * -DREGATTA_FUZZ=ON the same targets link against libFuzzer instead (coverage-guided).
 */
#include "core/prng.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_INPUT_MAX (1u << 20)
#define FUZZ_CORPUS_MAX 4096

struct input {
	uint8_t *data;
	size_t len;
};

static struct input corpus[FUZZ_CORPUS_MAX];
static size_t ncorpus;

static void add_file(const char *path)
{
	if (ncorpus == FUZZ_CORPUS_MAX)
		return;
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	uint8_t *buf = malloc(FUZZ_INPUT_MAX);
	size_t n = fread(buf, 1, FUZZ_INPUT_MAX, f);
	fclose(f);
	corpus[ncorpus].data = buf;
	corpus[ncorpus].len = n;
	ncorpus++;
}

static void add_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		add_file(path);
		return;
	}
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char sub[4096];
		snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
		add_path(sub);
	}
	closedir(d);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t mutate(struct prng *p, uint8_t *buf, size_t len, size_t cap)
{
	int rounds = 1 + (int)prng_below(p, 8);
	for (int r = 0; r < rounds; r++) {
		switch (prng_below(p, 7)) {
		case 0: /* flip a bit */
			if (len)
				buf[prng_below(p, len)] ^= (uint8_t)(1u << prng_below(p, 8));
			break;
		case 1: /* set an interesting byte */
			if (len) {
				static const uint8_t v[] = {0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x40};
				buf[prng_below(p, len)] = v[prng_below(p, sizeof v)];
			}
			break;
		case 2: /* truncate */
			if (len)
				len = (size_t)prng_below(p, len + 1);
			break;
		case 3: /* duplicate a chunk */
			if (len && len * 2 <= cap) {
				size_t off = (size_t)prng_below(p, len), n = (size_t)prng_below(p, len - off) + 1;
				memmove(buf + off + n, buf + off, len - off);
				len += n;
			}
			break;
		case 4: /* splice with another corpus entry */
			if (ncorpus) {
				struct input *o = &corpus[prng_below(p, ncorpus)];
				size_t at = len ? (size_t)prng_below(p, len + 1) : 0;
				size_t n = o->len < cap - at ? o->len : cap - at;
				memcpy(buf + at, o->data, n);
				if (at + n > len)
					len = at + n;
			}
			break;
		case 5: /* random bytes appended */
			{
				size_t n = (size_t)prng_below(p, 64);
				if (len + n <= cap) {
					prng_fill(p, buf + len, n);
					len += n;
				}
			}
			break;
		default: /* overwrite a random 32-bit word */
			if (len >= 4) {
				uint32_t w = (uint32_t)prng_next(p);
				memcpy(buf + prng_below(p, len - 3), &w, 4);
			}
			break;
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	uint64_t seed = prng_seed_from_time();
	uint64_t runs = 20000;
	double seconds = 20;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = strtod(argv[++i], NULL);
		else
			add_path(argv[i]);
	}
	printf("fuzz driver: seed %" PRIu64 ", %zu corpus inputs, up to %" PRIu64 " runs / %.0f s\n",
	       seed, ncorpus, runs, seconds);
	fflush(stdout);
	for (size_t i = 0; i < ncorpus; i++)
		LLVMFuzzerTestOneInput(corpus[i].data, corpus[i].len);
	struct prng p;
	prng_init(&p, seed);
	uint8_t *buf = malloc(FUZZ_INPUT_MAX);
	double start = now_s();
	uint64_t done = 0;
	for (; done < runs; done++) {
		if ((done & 63) == 0 && now_s() - start > seconds)
			break;
		size_t len;
		if (ncorpus && prng_below(&p, 10) != 0) {
			struct input *in = &corpus[prng_below(&p, ncorpus)];
			len = in->len < FUZZ_INPUT_MAX / 2 ? in->len : FUZZ_INPUT_MAX / 2;
			memcpy(buf, in->data, len);
		} else {
			len = (size_t)prng_below(&p, 256);
			prng_fill(&p, buf, len);
		}
		len = mutate(&p, buf, len, FUZZ_INPUT_MAX);
		/* Exact-size heap copy so ASan sees reads past the end. */
		uint8_t *exact = malloc(len ? len : 1);
		memcpy(exact, buf, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	printf("fuzz driver: %" PRIu64 " mutated runs in %.1f s, no crash (seed %" PRIu64 ")\n", done,
	       now_s() - start, seed);
	free(buf);
	for (size_t i = 0; i < ncorpus; i++)
		free(corpus[i].data);
	return 0;
}
