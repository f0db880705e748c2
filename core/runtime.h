/*
 * runtime.h — N cores: one thread per core, pinned to a CPU, each with its own reactor, and
 * bounded mailboxes between every pair of cores (woken through the destination's ring).
 *
 * Cores share nothing: data crosses only as mailbox messages, and memory is freed by the core
 * that allocated it (send it back in a reply message).
 */
#ifndef CORE_RUNTIME_H
#define CORE_RUNTIME_H

#include "core/err.h"
#include "core/reactor.h"

struct runtime;

/* Runs on core `core` inside its thread, before the loop starts: set up listeners, tables... */
typedef void (*runtime_core_init_fn)(struct runtime *rt, int core, struct reactor *r, void *arg);
/* Runs on core `core` after its loop stopped: tear down. */
typedef void (*runtime_core_fini_fn)(struct runtime *rt, int core, struct reactor *r, void *arg);

struct runtime_config {
	int cores;                     /* 1..LIMIT_CORES_MAX */
	enum reactor_backend backend;  /* AUTO by default */
	int pin;                       /* pin core i to CPU (i % online CPUs) */
	runtime_core_init_fn init;
	runtime_core_fini_fn fini;
	void *arg;
};

/* Start the cores: every reactor is created first (so an init may post to any core), then
 * init runs on every core; returns once all inits ran. ERR_INVAL for a bad core count, or the
 * error of a reactor that could not be created (nothing is left running then). */
int runtime_start(const struct runtime_config *cfg, struct runtime **out) WUR;
/* Thread-safe, also from a core: refuse new posts (ERR_STOPPED) and stop every core's loop;
 * each core then runs fini on its own thread. Idempotent. */
void runtime_stop(struct runtime *rt);
/* Not from a core thread, and only once foreign threads stopped posting: wait for the cores,
 * free the reactors and mailboxes. Messages still queued when a loop stopped are dropped
 * (counted in a log line): quiesce first if they own memory. Returns 0, or the first fatal
 * error a core stopped on (a failed fsync); a core that hits one stops the whole runtime. */
int runtime_join(struct runtime *rt);
int runtime_cores(const struct runtime *rt);
/* The core id of the calling thread, or -1 off the runtime's threads. */
int runtime_current_core(void);

/* Post fn(arg) to run on core `to`. From a core thread (any core, including itself) or from a
 * non-runtime thread. Bounded: returns ERR_AGAIN when the mailbox is full (backpressure),
 * ERR_STOPPED after runtime_stop. Messages from one core (or one foreign thread) to one core
 * run in posting order; a core runs at most LIMIT_MAILBOX_DRAIN_PER_TURN per turn. */
typedef void (*runtime_msg_fn)(struct runtime *rt, int core, void *arg);
int runtime_post(struct runtime *rt, int to, runtime_msg_fn fn, void *arg) WUR;

#endif
