/* helper_core.c — see helper_core.h. */
#include "unit/core/helper_core.h"
#include "core/clock.h"
#include "core/prng.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define HELPER_GUARD_NS (60ull * 1000000000ull)

struct reactor *helper_reactor_new(void)
{
	enum reactor_backend b;
	cr_assert_eq(reactor_backend_parse(NULL, &b), 0, "REGATTA_IO_BACKEND must be uring|epoll|auto");
	struct reactor_config cfg = {.backend = b, .ring_entries = 0, .cpu = -1, .core_id = 0};
	struct reactor *r = NULL;
	int rc = reactor_new(&cfg, &r);
	cr_assert_eq(rc, 0, "reactor_new(%s): %s", reactor_backend_name(b), err_str(rc));
	if (b != REACTOR_BACKEND_AUTO)
		cr_assert_eq(reactor_backend(r), b);
	return r;
}

uint64_t helper_run_until_count(struct reactor *r, const uint64_t *count, uint64_t target,
				uint64_t max_turns)
{
	uint64_t start = clock_mono_ns();
	uint64_t turns = 0;
	while (*count < target) {
		cr_assert_lt(turns, max_turns, "no progress after %" PRIu64 " turns (%" PRIu64 "/%" PRIu64 ")",
			     turns, *count, target);
		cr_assert_lt(clock_mono_ns() - start, HELPER_GUARD_NS, "hang guard: 60 s passed");
		int rc = reactor_run_once(r, 100 * 1000000ull);
		cr_assert_eq(rc, 0, "reactor_run_once: %s", err_str(rc));
		turns++;
	}
	return turns;
}

uint64_t helper_run_until(struct reactor *r, const int *flag, uint64_t max_turns)
{
	uint64_t start = clock_mono_ns();
	uint64_t turns = 0;
	while (!*flag) {
		cr_assert_lt(turns, max_turns, "no progress after %" PRIu64 " turns", turns);
		cr_assert_lt(clock_mono_ns() - start, HELPER_GUARD_NS, "hang guard: 60 s passed");
		int rc = reactor_run_once(r, 100 * 1000000ull);
		cr_assert_eq(rc, 0, "reactor_run_once: %s", err_str(rc));
		turns++;
	}
	return turns;
}

uint64_t helper_seed(const char *test_name)
{
	const char *s = getenv("REGATTA_SEED");
	uint64_t seed = s && *s ? strtoull(s, NULL, 0) : prng_seed_from_time();
	printf("%s: seed %" PRIu64 " (replay with REGATTA_SEED=%" PRIu64 ")\n", test_name, seed, seed);
	fflush(stdout);
	return seed;
}

int helper_tmpfile(void)
{
	/* In the working directory (the build tree): a real disk, so fdatasync does real work. */
	char path[] = "regatta-core-test-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp");
	unlink(path);
	return fd;
}
