/* assert.c — report a failed assertion with enough context to reproduce it, then abort. */
#include "core/assert.h"
#include "core/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t assert_seed;
static int assert_have_seed;

void assert_set_seed(uint64_t seed, int have_seed)
{
	assert_seed = seed;
	assert_have_seed = have_seed;
}

void assert_fail(const char *expr, const char *file, int line)
{
	if (assert_have_seed)
		fprintf(stderr, "ASSERTION FAILED: %s at %s:%d (core %d, seed %" PRIu64 ")\n", expr, file,
			line, log_core_id(), assert_seed);
	else
		fprintf(stderr, "ASSERTION FAILED: %s at %s:%d (core %d)\n", expr, file, line,
			log_core_id());
	fflush(stderr);
	abort();
}
