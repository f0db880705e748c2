/* test_pool.c — the bounded object pool: a full pool says no (backpressure) until an object
 * comes back; objects are distinct, aligned and reused; a random alloc/free sequence keeps the
 * counts right (seeded, REGATTA_SEED replays). */
#include "core/pool.h"
#include "core/prng.h"
#include "unit/core/helper_core.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

Test(pool, full_pool_is_backpressure)
{
	struct pool p;
	cr_assert_eq(pool_init(&p, 100, 1000), 0);
	void **objs = calloc(1000, sizeof *objs);
	cr_assert_not_null(objs);
	for (int i = 0; i < 1000; i++) {
		objs[i] = pool_alloc(&p);
		cr_assert_not_null(objs[i], "object %d", i);
		cr_assert_eq((uintptr_t)objs[i] % 16, 0);
		memset(objs[i], i & 0xff, 100);
	}
	cr_assert_eq(pool_in_use(&p), 1000);
	cr_assert_null(pool_alloc(&p), "the 1001st object is refused");
	for (int i = 0; i < 1000; i++) { /* nothing overlapped */
		unsigned char *b = objs[i];
		for (int k = 0; k < 100; k++)
			cr_assert_eq(b[k], (unsigned char)(i & 0xff));
	}
	pool_free(&p, objs[500]);
	void *again = pool_alloc(&p);
	cr_assert_eq(again, objs[500], "a freed object is reused first");
	cr_assert_null(pool_alloc(&p));
	for (int i = 0; i < 1000; i++)
		pool_free(&p, objs[i]);
	cr_assert_eq(pool_in_use(&p), 0);
	pool_deinit(&p);
	free(objs);
}

Test(pool, bad_sizes_are_refused)
{
	struct pool p;
	cr_assert_eq(pool_init(&p, 0, 10), ERR_INVAL);
	cr_assert_eq(pool_init(&p, 10, 0), ERR_INVAL);
	cr_assert_eq(pool_init(&p, SIZE_MAX / 2, 4), ERR_INVAL);
	cr_assert_eq(pool_init(&p, 1, 1), 0);
	void *o = pool_alloc(&p);
	cr_assert_not_null(o);
	cr_assert_null(pool_alloc(&p));
	pool_free(&p, o);
	pool_deinit(&p);
}

Test(pool, random_alloc_free_keeps_counts)
{
	uint64_t seed = helper_seed("pool.random_alloc_free_keeps_counts");
	struct prng rnd;
	prng_init(&rnd, seed);
	struct pool p;
	uint32_t max = 300;
	cr_assert_eq(pool_init(&p, 40, max), 0);
	void **live = calloc(max, sizeof *live);
	uint32_t *tags = calloc(max, sizeof *tags);
	cr_assert(live && tags);
	uint32_t n = 0;
	for (int step = 0; step < 100000; step++) {
		if (prng_chance(&rnd, 1, 2)) {
			void *o = pool_alloc(&p);
			if (n == max) {
				cr_assert_null(o, "seed %" PRIu64 " step %d", seed, step);
				continue;
			}
			cr_assert_not_null(o);
			tags[n] = (uint32_t)prng_next(&rnd);
			memcpy(o, &tags[n], sizeof tags[n]);
			live[n++] = o;
		} else if (n) {
			uint32_t k = (uint32_t)prng_below(&rnd, n);
			uint32_t tag;
			memcpy(&tag, live[k], sizeof tag);
			cr_assert_eq(tag, tags[k], "seed %" PRIu64 " step %d: object was overwritten", seed, step);
			pool_free(&p, live[k]);
			live[k] = live[n - 1];
			tags[k] = tags[n - 1];
			n--;
		}
		cr_assert_eq(pool_in_use(&p), n);
	}
	while (n)
		pool_free(&p, live[--n]);
	pool_deinit(&p);
	free(live);
	free(tags);
}
