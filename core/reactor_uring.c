/*
 * reactor_uring.c — the io_uring backend: one ring per core (liburing 2.3).
 *
 * Every op is one SQE whose user_data is the op's address; the linked write + fdatasync is two
 * SQEs (IOSQE_IO_LINK), the write tagged with the low bit (ops are 8-aligned). A short or
 * failed write makes the kernel cancel the fsync. The write carries IOSQE_CQE_SKIP_SUCCESS
 * (kernel 5.17+): then a pair posts exactly one CQE — the fsync's when the write was whole,
 * or the write's when it failed (the canceled fsync's CQE is skipped with it) — so a group
 * commit wakes the loop once, not twice. Without that feature both CQEs come, in either
 * order, and op->index counts them (op->aux keeps the write's result). A cancel targets only
 * the write: a write already done lets its fsync finish, so the one-CQE rule holds.
 * Cancel SQEs carry user_data 0 and their CQEs are ignored.
 *
 * Setup: SINGLE_ISSUER + COOP_TASKRUN when the kernel has them (one thread submits, and it
 * enters the kernel every turn anyway, so completion work needs no IPI), a CQ four times the
 * SQ, no SQPOLL (two cores: a polling thread would eat one). Blocking work (fsync, buffered
 * writes the fs cannot do without waiting) runs on io-wq: at most LIMIT_IOWQ_WORKERS workers
 * per kind, pinned to the core's CPU.
 *
 * Waiting: io_uring_submit_and_wait_timeout with the nearest timer as timeout (EXT_ARG, no
 * timeout SQE); timers themselves live in the shared heap (see timer_heap.c for why).
 */
#define _GNU_SOURCE
#include "core/reactor_impl.h"
#include "core/assert.h"
#include "core/log.h"

#include <errno.h>
#include <liburing.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define URING_TAG_WRITE 1ull /* low bit of user_data: the write half of a linked pair */

struct uring_be {
	struct io_uring ring;
	int skip_cqe; /* IORING_FEAT_CQE_SKIP: linked pairs post one CQE */
};

static struct io_uring *uring_ring(struct reactor *r)
{
	return &((struct uring_be *)r->be)->ring;
}

static void uring_handle_cqe(struct reactor *r, uint64_t ud, int res)
{
	if (ud == 0)
		return; /* a cancel request's own result */
	struct io_op *op = (struct io_op *)(uintptr_t)(ud & ~URING_TAG_WRITE);
	ASSERT(op->state == OP_INFLIGHT);
	if (op->kind != IO_OP_PWRITE_FDATASYNC) {
		ASSERT((ud & URING_TAG_WRITE) == 0);
		reactor_op_complete_raw(r, op, res);
		return;
	}
	if (((struct uring_be *)r->be)->skip_cqe) {
		/* One CQE: the write's means it failed and the fsync never ran. */
		if (ud & URING_TAG_WRITE) {
			ASSERT(res < 0 || (uint64_t)res != op->len);
			reactor_op_complete_pair(r, op, res, -ECANCELED);
		} else {
			reactor_op_complete_pair(r, op, (int64_t)op->len, res);
		}
		return;
	}
	ASSERT(op->index == 1 || op->index == 2);
	if (ud & URING_TAG_WRITE)
		op->aux = res;
	else
		op->result = res;
	if (--op->index == 0)
		reactor_op_complete_pair(r, op, op->aux, op->result);
}

/* Move every available CQE to the completion queue (no callbacks run here). */
static unsigned uring_reap(struct reactor *r)
{
	struct io_uring *ring = uring_ring(r);
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(ring, head, cqe) {
		uring_handle_cqe(r, cqe->user_data, cqe->res);
		n++;
	}
	io_uring_cq_advance(ring, n);
	return n;
}

/* An SQE with room for `need` consecutive ones (a linked pair must go in one submit). */
static struct io_uring_sqe *uring_sqe(struct reactor *r, unsigned need)
{
	struct io_uring *ring = uring_ring(r);
	for (int attempt = 0; attempt < 64; attempt++) {
		if (io_uring_sq_space_left(ring) >= need) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			ASSERT(sqe != NULL);
			return sqe;
		}
		int rc = io_uring_submit(ring);
		if (rc == -EBUSY || rc == -EAGAIN) {
			/* The CQ is backed up: move CQEs to our queue (callbacks wait), retry. */
			uring_reap(r);
			(void)io_uring_get_events(ring);
			uring_reap(r);
		} else if (rc < 0 && rc != -EINTR) {
			LOG_ERROR("io_uring_submit: %s", strerror(-rc));
			PANIC("io_uring_submit failed");
		}
	}
	PANIC("no SQE after 64 submits");
	return NULL;
}

static void uring_prep(struct io_uring_sqe *sqe, struct io_op *op)
{
	switch (op->kind) {
	case IO_OP_ACCEPT:
		io_uring_prep_accept(sqe, op->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		break;
	case IO_OP_CONNECT:
		io_uring_prep_connect(sqe, op->fd, (struct sockaddr *)&op->addr, op->addrlen);
		break;
	case IO_OP_RECV:
		io_uring_prep_recv(sqe, op->fd, op->buf, op->len, 0);
		break;
	case IO_OP_SEND:
		io_uring_prep_send(sqe, op->fd, op->buf, op->len, MSG_NOSIGNAL);
		break;
	case IO_OP_PREAD:
		io_uring_prep_read(sqe, op->fd, op->buf, (unsigned)op->len, op->off);
		break;
	case IO_OP_PWRITE:
		io_uring_prep_write(sqe, op->fd, op->buf, (unsigned)op->len, op->off);
		break;
	case IO_OP_FDATASYNC:
		io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
		break;
	case IO_OP_WAKE:
		io_uring_prep_read(sqe, op->fd, op->buf, 8, 0);
		break;
	default:
		UNREACHABLE();
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)op);
}

static void uring_submit(struct reactor *r, struct io_op *op)
{
	ASSERT(((uintptr_t)op & URING_TAG_WRITE) == 0);
	ASSERT(op->kind != IO_OP_TIMEOUT);
	if (op->kind == IO_OP_PWRITE_FDATASYNC) {
		struct io_uring_sqe *w = uring_sqe(r, 2);
		io_uring_prep_write(w, op->fd, op->buf, (unsigned)op->len, op->off);
		io_uring_sqe_set_data64(w, (uint64_t)(uintptr_t)op | URING_TAG_WRITE);
		struct uring_be *u = r->be;
		io_uring_sqe_set_flags(w, IOSQE_IO_LINK | (u->skip_cqe ? IOSQE_CQE_SKIP_SUCCESS : 0));
		struct io_uring_sqe *s = io_uring_get_sqe(uring_ring(r));
		ASSERT(s != NULL);
		io_uring_prep_fsync(s, op->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data64(s, (uint64_t)(uintptr_t)op);
		op->index = 2;
		return;
	}
	uring_prep(uring_sqe(r, 1), op);
}

static void uring_cancel(struct reactor *r, struct io_op *op)
{
	uint64_t target = (uint64_t)(uintptr_t)op;
	if (op->kind == IO_OP_PWRITE_FDATASYNC)
		target |= URING_TAG_WRITE; /* the write only: its failure cancels the fsync */
	struct io_uring_sqe *sqe = uring_sqe(r, 1);
	io_uring_prep_cancel64(sqe, target, 0);
	io_uring_sqe_set_data64(sqe, 0);
}

static int uring_wait(struct reactor *r, uint64_t timeout_ns)
{
	struct io_uring *ring = uring_ring(r);
	struct io_uring_cqe *cqe = NULL;
	int rc;
	if (timeout_ns == 0) {
		rc = io_uring_submit_and_get_events(ring);
	} else if (timeout_ns == UINT64_MAX) {
		rc = io_uring_submit_and_wait(ring, 1);
	} else {
		struct __kernel_timespec ts = {
			.tv_sec = (long long)(timeout_ns / 1000000000u),
			.tv_nsec = (long long)(timeout_ns % 1000000000u),
		};
		rc = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
	}
	if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
		LOG_ERROR("io_uring wait: %s", strerror(-rc));
		return err_from_errno(-rc);
	}
	uring_reap(r);
	return 0;
}

static void uring_wake_arm(struct reactor *r)
{
	ASSERT(r->wake_op.state == OP_INFLIGHT);
	r->wake_op.buf = &r->wake_buf;
	uring_prep(uring_sqe(r, 1), &r->wake_op);
}

static int uring_init(struct reactor *r, const struct reactor_config *cfg)
{
	struct uring_be *u = calloc(1, sizeof *u);
	if (!u)
		return ERR_NOMEM;
	unsigned entries = cfg->ring_entries ? cfg->ring_entries : LIMIT_RING_ENTRIES;
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	p.cq_entries = entries * 4;
	int rc = io_uring_queue_init_params(entries, &u->ring, &p);
	if (rc == -EINVAL) { /* a kernel older than 6.0: no SINGLE_ISSUER */
		memset(&p, 0, sizeof p);
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 4;
		rc = io_uring_queue_init_params(entries, &u->ring, &p);
	}
	if (rc < 0) {
		free(u);
		if (rc == -EPERM || rc == -ENOSYS || rc == -EACCES)
			return ERR_UNSUPPORTED;
		LOG_ERROR("io_uring_queue_init: %s", strerror(-rc));
		return err_from_errno(-rc);
	}
	if (!(p.features & IORING_FEAT_EXT_ARG) || !(p.features & IORING_FEAT_NODROP))
		LOG_WARN("io_uring lacks EXT_ARG/NODROP (kernel < 5.11): timers cost an SQE each");
	u->skip_cqe = (p.features & IORING_FEAT_CQE_SKIP) != 0;

	unsigned workers[2] = {LIMIT_IOWQ_WORKERS, LIMIT_IOWQ_WORKERS};
	rc = io_uring_register_iowq_max_workers(&u->ring, workers);
	if (rc < 0)
		LOG_WARN("io_uring_register_iowq_max_workers: %s", strerror(-rc));
	if (cfg->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((size_t)cfg->cpu, &set);
		rc = io_uring_register_iowq_aff(&u->ring, sizeof set, &set);
		if (rc < 0)
			LOG_WARN("io_uring_register_iowq_aff(cpu %d): %s", cfg->cpu, strerror(-rc));
	}
	r->be = u;
	return 0;
}

static void uring_deinit(struct reactor *r)
{
	struct uring_be *u = r->be;
	io_uring_queue_exit(&u->ring);
	free(u);
	r->be = NULL;
}

const struct reactor_backend_ops reactor_uring_ops = {
	.kind = REACTOR_BACKEND_URING,
	.init = uring_init,
	.deinit = uring_deinit,
	.submit = uring_submit,
	.cancel = uring_cancel,
	.wait = uring_wait,
	.wake_arm = uring_wake_arm,
};
