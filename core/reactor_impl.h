/*
 * reactor_impl.h — private: the parts of a reactor shared by its backends (reactor.c) and the
 * interface each backend (reactor_uring.c, reactor_epoll.c) implements. Not for other layers.
 *
 * Op life cycle (op->state):
 *   OP_IDLE ──submit──▶ OP_INFLIGHT ──backend/timer/cancel──▶ OP_DONE (in r->done) ──▶ OP_IDLE,
 *   then the callback runs (and may submit the op again).
 * Invariants: an op is in at most one list at a time (a backend queue, the timer heap or
 * r->done, all linked through op->next or op->index); r->inflight counts caller ops between
 * submit and callback (the internal doorbell op is not counted); callbacks run only from
 * reactor_run_once, never from a submit or cancel call.
 */
#ifndef CORE_REACTOR_IMPL_H
#define CORE_REACTOR_IMPL_H

#include "core/limits.h"
#include "core/reactor.h"
#include "core/timer_heap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* Unusual values, so an op that was never zeroed is unlikely to pass for in flight. */
enum {
	OP_IDLE = 0,
	OP_INFLIGHT = 0x1f11,
	OP_DONE = 0xd0e5,
};

struct reactor_backend_ops {
	enum reactor_backend kind;
	/* Set up r->be. ERR_UNSUPPORTED when the kernel refuses the backend. */
	int (*init)(struct reactor *r, const struct reactor_config *cfg);
	void (*deinit)(struct reactor *r);
	/* Start a non-timer op (fields filled, state OP_INFLIGHT). Completes it through
	 * reactor_op_complete*() now or later. */
	void (*submit)(struct reactor *r, struct io_op *op);
	/* Best-effort cancel of an op of this backend that is in flight. */
	void (*cancel)(struct reactor *r, struct io_op *op);
	/* Push submissions, wait up to timeout_ns (0: poll, UINT64_MAX: forever) and move every
	 * finished op to r->done. Returns 0 or an ERR_* the loop cannot survive. */
	int (*wait)(struct reactor *r, uint64_t timeout_ns);
	/* Arm the doorbell: r->wake_op must complete once r->wake_fd is readable. */
	void (*wake_arm)(struct reactor *r);
};

extern const struct reactor_backend_ops reactor_uring_ops;
extern const struct reactor_backend_ops reactor_epoll_ops;

struct reactor_hook {
	reactor_hook_fn fn; /* NULL: removed during a hook pass, compacted after it */
	void *ctx;
};

struct reactor {
	const struct reactor_backend_ops *ops;
	void *be; /* backend state */
	int core_id;
	int cpu;
	pthread_t owner;
	uint64_t now_ns;

	/* Finished ops waiting for their callback, FIFO. */
	struct io_op *done_head;
	struct io_op *done_tail;
	uint64_t done_count;

	struct timer_heap timers;
	struct reactor_hook hooks[LIMIT_TURN_HOOKS];
	uint32_t nhooks;
	int hooks_running;

	/* Doorbell: an eventfd that other threads write; wake_op reads it on this thread. */
	int wake_fd;
	_Atomic int wake_pending; /* 1 from the first reactor_wake until the handler starts */
	_Atomic int stop;
	struct io_op wake_op;
	uint64_t wake_buf;
	reactor_hook_fn wake_fn;
	void *wake_ctx;

	int in_turn; /* reactor_run_once is not re-entrant (a callback must not call it) */
	int fatal;   /* sticky ERR_* after a failed fsync */
	uint64_t inflight;
	struct reactor_stats stats;
};

/* For backends: finish op with an ERR_*-or-value result and queue its callback. */
void reactor_op_complete(struct reactor *r, struct io_op *op, int64_t result);
/* Same, from a kernel-style result (-errno or value): maps errors, notes fsync failures. */
void reactor_op_complete_raw(struct reactor *r, struct io_op *op, int64_t raw);
/* Finish a linked write + fdatasync from both kernel-style results. */
void reactor_op_complete_pair(struct reactor *r, struct io_op *op, int64_t write_raw,
			      int64_t sync_raw);
/* Kind of op that goes to file I/O workers (io-wq or the blocking pool). */
static inline int reactor_op_is_file(const struct io_op *op)
{
	return op->kind == IO_OP_PREAD || op->kind == IO_OP_PWRITE || op->kind == IO_OP_FDATASYNC ||
	       op->kind == IO_OP_PWRITE_FDATASYNC;
}

#endif
