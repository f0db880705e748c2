/* helper_core.h — shared helpers for the core tests: a reactor on the backend the suite asks
 * for (REGATTA_IO_BACKEND), bounded loop runners, and seeds that are printed and replayable
 * (REGATTA_SEED). */
#ifndef TESTS_UNIT_CORE_HELPER_CORE_H
#define TESTS_UNIT_CORE_HELPER_CORE_H

#include "core/reactor.h"

#include <stdint.h>

/* A reactor for this thread on the backend named by REGATTA_IO_BACKEND (auto if unset). */
struct reactor *helper_reactor_new(void);
/* Run turns until *flag becomes nonzero; fails the test after max_turns turns or 60 s (a hang
 * guard, not a timing assertion). Returns the number of turns run. */
uint64_t helper_run_until(struct reactor *r, const int *flag, uint64_t max_turns);
/* Run turns until `count` reaches `target` (same guards). */
uint64_t helper_run_until_count(struct reactor *r, const uint64_t *count, uint64_t target,
				uint64_t max_turns);
/* REGATTA_SEED if set, else a fresh one; printed either way with the test's name. */
uint64_t helper_seed(const char *test_name);
/* An empty temporary file (unlinked at once); returns the fd. */
int helper_tmpfile(void);

#endif
