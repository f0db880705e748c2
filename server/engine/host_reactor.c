/*
 * host_reactor.c — reactor mode: the host's end-of-turn work runs in a reactor turn-end hook,
 * and the core's Raft log commits asynchronously (raftlog_attach: one linked write+fdatasync
 * per turn for every group of the core).
 *
 * The host's hook is registered before the log's, so log mutations made while reporting
 * PERSISTED in a turn (commits, new appends) go into the batch that turn writes. A batch's
 * completion runs in a later turn's completions; that turn's hook reports it.
 *
 * Kept in its own file so that programs and tests that never attach do not link the reactor.
 */
#include "server/engine/host_int.h"

#include "core/assert.h"
#include "core/clock.h"
#include "core/reactor.h"

static void turn_hook(void *ctx)
{
	struct host *h = ctx;
	if (h->fatal)
		return;
	host__enter(h);
	host__turn_work(h, 0);
	host__leave(h);
}

static void detach(struct host *h)
{
	ASSERT(h->reactor != NULL);
	/* Our hook goes first: no more Raft work or frames (the caller may be tearing down its
	 * transport). Then a write in flight cannot be abandoned (its buffer and file belong to the
	 * log): let the reactor finish what the log has queued. Bounded: a disk slower than this is
	 * failing, and the reactor reports that as fatal first. */
	reactor_remove_turn_hook(h->reactor, turn_hook, h);
	uint64_t give_up = clock_mono_ns() + 30000000000ull;
	while (raftlog_busy(h->log) && !raftlog_error(h->log) && clock_mono_ns() < give_up)
		if (reactor_run_once(h->reactor, 1000000) != 0)
			break;
	raftlog_detach(h->log); /* asserts no write is in flight */
	h->reactor = NULL;
	h->detach = NULL;
}

int host_attach(struct host *h, struct reactor *r)
{
	ASSERT(h->reactor == NULL && r != NULL);
	if (h->fatal)
		return h->fatal;
	if (raftlog_busy(h->log)) {
		int rc = raftlog_flush(h->log);
		if (rc)
			return rc;
	}
	int rc = reactor_add_turn_hook(r, turn_hook, h);
	if (rc)
		return rc;
	rc = raftlog_attach(h->log, r);
	if (rc) {
		reactor_remove_turn_hook(r, turn_hook, h);
		return rc;
	}
	h->reactor = r;
	h->detach = detach;
	return 0;
}

void host_detach(struct host *h)
{
	if (h->detach)
		h->detach(h);
}
