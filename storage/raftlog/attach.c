/*
 * attach.c — the Raft log's group commit on a reactor (core/reactor.h).
 *
 * A turn-end hook gathers everything appended during the turn — every group on the core — and
 * issues ONE linked write+fdatasync for it (reactor_pwrite_fdatasync); while it is in flight,
 * new appends collect in the next batch. The completion runs on_durable for the batch's groups
 * and at once issues the batch that collected meanwhile, so the disk works while the turn
 * applies and answers what just became durable (under load the disk never waits for the CPU);
 * what the turn appends after that goes with the next completion or the turn-end hook.
 *
 * Errors: a failed fdatasync is fatal (rl_cycle_end -> rl_fatal; the reactor also stops). A
 * short write cancels the linked fsync in the kernel (-ECANCELED): the reactor reports it as
 * ERR_CANCELED (we never cancel this op ourselves), the fsync never ran, so no error was
 * consumed — we rewrite the batch with plain pwrites (resubmitting short remainders), then a
 * plain fdatasync, a bounded number of times. Any other error is fatal. The reactor reports a
 * short linked write as ERR_IO in its current contract — the same code as a failed fsync —
 * so until it says ERR_CANCELED, a short write is (safely) fatal too.
 */
#include "storage/raftlog/internal.h"
#include "core/assert.h"
#include "core/log.h"

#define REWRITE_ATTEMPTS_MAX 3
#define REWRITE_STEPS_MAX 64 /* short plain writes resubmitted per attempt */

static void issue(struct raftlog *log);

static void on_rewrite_sync(struct io_op *op)
{
	struct raftlog *log = op->ctx;
	ASSERT(log->inflight >= 0);
	rl_cycle_end(log, op->result < 0 ? (int)op->result : 0);
	issue(log);
}

static void on_rewrite_write(struct io_op *op)
{
	struct raftlog *log = op->ctx;
	struct rl_batch *b = &log->batches[log->inflight];
	if (op->result < 0) {
		rl_cycle_end(log, (int)op->result);
		return;
	}
	log->op_done += (uint64_t)op->result;
	ASSERT(log->op_done <= b->len);
	if (log->op_done < b->len) {
		if (op->result == 0 || ++log->op_steps > REWRITE_STEPS_MAX) {
			rl_cycle_end(log, ERR_IO);
			return;
		}
		*op = (struct io_op){.cb = on_rewrite_write, .ctx = log};
		reactor_pwrite(log->reactor, op, io_file_fd(log->inflight_file), b->data + log->op_done,
			       b->len - log->op_done, b->off + log->op_done);
		return;
	}
	*op = (struct io_op){.cb = on_rewrite_sync, .ctx = log};
	log->stats.syncs++;
	reactor_fdatasync(log->reactor, op, io_file_fd(log->inflight_file));
}

static void on_linked(struct io_op *op)
{
	struct raftlog *log = op->ctx;
	ASSERT(log->inflight >= 0);
	struct rl_batch *b = &log->batches[log->inflight];
	if (op->result == ERR_CANCELED && ++log->op_attempts <= REWRITE_ATTEMPTS_MAX) {
		LOG_WARN("raftlog: short linked write of %zu bytes on core %d; rewriting (attempt %u)",
			 b->len, log->cfg.core_id, log->op_attempts);
		log->op_done = 0;
		log->op_steps = 0;
		*op = (struct io_op){.cb = on_rewrite_write, .ctx = log};
		reactor_pwrite(log->reactor, op, io_file_fd(log->inflight_file), b->data, b->len, b->off);
		return;
	}
	int rc = 0;
	if (op->result < 0)
		rc = (int)op->result;
	else if ((uint64_t)op->result != b->len)
		rc = ERR_IO; /* the contract says full length on success: anything else is a bug */
	rl_cycle_end(log, rc);
	issue(log);
}

/* Start a group commit if there is something to write and nothing in flight. */
static void issue(struct raftlog *log)
{
	if (log->inflight >= 0 || log->failed)
		return;
	struct rl_batch *b;
	struct io_file *f;
	if (!rl_cycle_begin(log, &b, &f)) {
		rl_retention_run(log); /* floors may have moved without any write */
		if (!rl_cycle_begin(log, &b, &f))
			return;
	}
	int fd = io_file_fd(f);
	ASSERT(fd >= 0);
	log->op = (struct io_op){.cb = on_linked, .ctx = log};
	log->op_attempts = 0;
	log->stats.syncs++;
	reactor_pwrite_fdatasync(log->reactor, &log->op, fd, b->data, b->len, b->off);
	/* While the disk works on that, make the next segment if the active one is filling up
	 * (its failures surface at the roll; a failed fsync is fatal inside). */
	rl_seg_prepare_spare(log);
}

static void turn_hook(void *ctx) { issue(ctx); }

static void detach(struct raftlog *log)
{
	ASSERT(log->inflight < 0); /* wait for the write in flight before detaching */
	reactor_remove_turn_hook(log->reactor, turn_hook, log);
	log->reactor = NULL;
	log->detach = NULL;
}

int raftlog_attach(struct raftlog *log, struct reactor *r)
{
	ASSERT(log->reactor == NULL && r != NULL);
	if (io_file_fd(log->active) < 0)
		return ERR_UNSUPPORTED; /* a simulated disk: use raftlog_flush() */
	int rc = reactor_add_turn_hook(r, turn_hook, log);
	if (rc)
		return rc;
	log->reactor = r;
	log->detach = detach;
	return 0;
}

void raftlog_detach(struct raftlog *log)
{
	if (log->reactor)
		detach(log);
}
