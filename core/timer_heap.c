/*
 * timer_heap.c — binary min-heap of timers; see timer_heap.h for the invariants.
 *
 * Why a heap in user space and not one IORING_OP_TIMEOUT per timer: a Raft core arms
 * thousands of election/heartbeat timers that are almost always re-armed or canceled before
 * they fire. Here that is O(log n) with no syscall, no SQE and no kernel allocation, a cancel
 * completes at once and exactly once, and both backends share the very code the model test
 * checks. The nearest deadline becomes the wait timeout of io_uring_submit_and_wait_timeout
 * (or epoll_pwait2), so no ring timeout op is ever needed.
 */
#include "core/timer_heap.h"
#include "core/assert.h"

#include <stdlib.h>

#define TIMER_HEAP_CAP_MIN 64u

static int timer_before(const struct io_op *a, const struct io_op *b)
{
	if (a->deadline_ns != b->deadline_ns)
		return a->deadline_ns < b->deadline_ns;
	return a->aux < b->aux;
}

static void timer_set(struct timer_heap *h, uint32_t i, struct io_op *op)
{
	h->items[i] = op;
	op->index = (int)i;
}

static void timer_sift_up(struct timer_heap *h, uint32_t i)
{
	struct io_op *op = h->items[i];
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!timer_before(op, h->items[parent]))
			break;
		timer_set(h, i, h->items[parent]);
		i = parent;
	}
	timer_set(h, i, op);
}

static void timer_sift_down(struct timer_heap *h, uint32_t i)
{
	struct io_op *op = h->items[i];
	for (;;) {
		uint32_t child = 2 * i + 1;
		if (child >= h->count)
			break;
		if (child + 1 < h->count && timer_before(h->items[child + 1], h->items[child]))
			child++;
		if (!timer_before(h->items[child], op))
			break;
		timer_set(h, i, h->items[child]);
		i = child;
	}
	timer_set(h, i, op);
}

void timer_heap_init(struct timer_heap *h, uint32_t cap_max)
{
	ASSERT(cap_max > 0);
	h->items = NULL;
	h->count = 0;
	h->cap = 0;
	h->cap_max = cap_max;
	h->seq = 0;
}

void timer_heap_deinit(struct timer_heap *h)
{
	free(h->items);
	h->items = NULL;
	h->count = h->cap = 0;
}

int timer_heap_push(struct timer_heap *h, struct io_op *op)
{
	ASSERT(op != NULL);
	ASSERT(h->count <= h->cap);
	if (h->count == h->cap) {
		if (h->cap >= h->cap_max)
			return ERR_NOMEM;
		uint32_t cap = h->cap ? h->cap * 2 : TIMER_HEAP_CAP_MIN;
		if (cap > h->cap_max)
			cap = h->cap_max;
		struct io_op **items = realloc(h->items, (size_t)cap * sizeof *items);
		if (!items)
			return ERR_NOMEM;
		h->items = items;
		h->cap = cap;
	}
	op->aux = (int64_t)h->seq++;
	h->items[h->count] = op;
	op->index = (int)h->count;
	h->count++;
	timer_sift_up(h, h->count - 1);
	return 0;
}

void timer_heap_remove(struct timer_heap *h, struct io_op *op)
{
	ASSERT(op->index >= 0 && (uint32_t)op->index < h->count);
	uint32_t i = (uint32_t)op->index;
	ASSERT(h->items[i] == op);
	h->count--;
	op->index = -1;
	if (i == h->count)
		return;
	timer_set(h, i, h->items[h->count]);
	/* The moved element may belong above or below its new slot. */
	if (i > 0 && timer_before(h->items[i], h->items[(i - 1) / 2]))
		timer_sift_up(h, i);
	else
		timer_sift_down(h, i);
}

struct io_op *timer_heap_peek(const struct timer_heap *h)
{
	return h->count ? h->items[0] : NULL;
}

struct io_op *timer_heap_pop(struct timer_heap *h)
{
	if (!h->count)
		return NULL;
	struct io_op *op = h->items[0];
	timer_heap_remove(h, op);
	ASSERT(op->index == -1);
	return op;
}

int timer_heap_check(const struct timer_heap *h)
{
	for (uint32_t i = 0; i < h->count; i++) {
		if (h->items[i]->index != (int)i)
			return 0;
		if (i > 0 && timer_before(h->items[i], h->items[(i - 1) / 2]))
			return 0;
	}
	return 1;
}
