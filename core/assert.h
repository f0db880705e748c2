/*
 * assert.h — assertions that stay on in release builds.
 *
 * ASSERT(e)   always checked; on failure prints the expression, file:line, the core id and,
 *             in simulation, the seed, then aborts.
 * DASSERT(e)  debug-only variant for checks that cost O(n).
 * Include as "core/assert.h" (never <assert.h>-style) to avoid the libc header.
 */
#ifndef CORE_ASSERT_H
#define CORE_ASSERT_H

#include <stdint.h>

_Noreturn void assert_fail(const char *expr, const char *file, int line);

/* The simulator sets this so an assertion failure prints the seed that reproduces it. */
void assert_set_seed(uint64_t seed, int have_seed);

#define ASSERT(e) (__builtin_expect(!!(e), 1) ? (void)0 : assert_fail(#e, __FILE__, __LINE__))
#define UNREACHABLE() assert_fail("unreachable", __FILE__, __LINE__)
/* A failure that is a broken invariant with a reason in words (no expression to show). */
#define PANIC(why) assert_fail(why, __FILE__, __LINE__)
#define STATIC_ASSERT(e, msg) _Static_assert(e, msg)

#ifdef NDEBUG
#define DASSERT(e) ((void)0)
#else
#define DASSERT(e) ASSERT(e)
#endif

#endif
