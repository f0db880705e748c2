/*
 * timer_heap.h — the per-core timer queue: a binary min-heap of io_ops ordered by
 * (deadline_ns, arm sequence), shared by both reactor backends.
 *
 * Invariants: every op in the heap has op->index equal to its slot; the parent of a slot is
 * never later than the slot (ties broken by the order in which the timers were armed, so
 * timers with one deadline fire in arming order). Capacity grows by doubling up to cap_max
 * (LIMIT_TIMERS_PER_CORE for a reactor); a push past that is refused with ERR_NOMEM. Push,
 * remove and pop are O(log n); nothing here reads a clock.
 */
#ifndef CORE_TIMER_HEAP_H
#define CORE_TIMER_HEAP_H

#include "core/err.h"
#include "core/reactor.h"

#include <stdint.h>

struct timer_heap {
	struct io_op **items;
	uint32_t count;
	uint32_t cap;
	uint32_t cap_max;
	uint64_t seq; /* arm counter: the tie-breaker, stored in op->aux */
};

void timer_heap_init(struct timer_heap *h, uint32_t cap_max);
void timer_heap_deinit(struct timer_heap *h);
/* Insert op (op->deadline_ns set by the caller). ERR_NOMEM when full or out of memory. */
int timer_heap_push(struct timer_heap *h, struct io_op *op) WUR;
/* Remove op, which must be in the heap. */
void timer_heap_remove(struct timer_heap *h, struct io_op *op);
/* The earliest op, or NULL when empty. */
struct io_op *timer_heap_peek(const struct timer_heap *h);
/* Remove and return the earliest op, or NULL when empty. */
struct io_op *timer_heap_pop(struct timer_heap *h);
static inline uint32_t timer_heap_count(const struct timer_heap *h) { return h->count; }
/* O(n) check of the heap invariants (tests and DASSERT). Returns 1 when they hold. */
int timer_heap_check(const struct timer_heap *h);

#endif
