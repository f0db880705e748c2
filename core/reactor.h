/*
 * reactor.h — one event loop per core: sockets, timers and file I/O through one interface.
 *
 * Backends: io_uring (liburing) and a fallback (epoll for sockets and timers + a small pool of
 * threads for blocking file I/O), chosen automatically when io_uring_setup is refused (Docker's
 * default seccomp profile refuses it), or forced with REACTOR_BACKEND_* / the REGATTA_IO_BACKEND
 * environment variable ("uring" | "epoll"). Both give the same semantics below.
 *
 * Model (TigerBeetle's io/linux.zig, Redis ae.c): a caller owns a struct io_op, fills cb/ctx,
 * and submits it with one of the reactor_* calls. Completions are reaped into a queue and the
 * callbacks run afterwards, in a bounded loop (LIMIT_COMPLETIONS_PER_TURN per turn). A
 * callback may submit new ops (including re-submitting the same op). After the completions of a
 * turn, the turn-end hooks run (group commit, flushing HTTP/2 output), then the loop blocks for
 * I/O. Every call here must be made on the reactor's own thread, except reactor_stop(),
 * reactor_wake() and the runtime mailbox calls (core/runtime.h).
 *
 * Results: op->result >= 0 is success (bytes transferred, a new fd for accept, 0 for
 * timeouts/fsync), a negative ERR_* code is failure. ERR_CANCELED when reactor_cancel() hit.
 * A send may complete short; the caller resubmits the rest. A recv of 0 means the peer closed.
 *
 * Rules for callers (both backends rely on them):
 *   - Zero a struct io_op before its first use (state 0 = idle). An op is in flight from the
 *     submit call until its callback starts; submitting it again while in flight is a bug
 *     (asserted). The callback may resubmit or free it.
 *   - Callbacks never run inside a submit call: even an op that finishes at once (epoll's eager
 *     send, a full timer heap) completes through the queue, on a later pass of the loop.
 *   - Ops in flight are unordered with respect to each other: a pwrite and a later fdatasync
 *     may run in either order. Wait for the write's completion, or use reactor_pwrite_fdatasync.
 *   - Do not close an fd that still has ops in flight: cancel them, wait for their callbacks,
 *     then close. (io_uring would keep the socket alive; epoll would silently forget the op.)
 *     Likewise free an op (or the buffer it points at) only once its callback has started.
 *   - REACTOR_BACKEND_AUTO honours REGATTA_IO_BACKEND=uring|epoll when it is set, so a whole
 *     process can be moved to the fallback from the environment.
 *   - A failed fdatasync (alone or linked) is fatal: the callback gets the error, and
 *     reactor_run()/reactor_run_once() return it from then on (the page cache no longer says
 *     what is on disk, so the caller must stop and recover from the log).
 */
#ifndef CORE_REACTOR_H
#define CORE_REACTOR_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct reactor;
struct io_op;

typedef void (*io_op_cb)(struct io_op *op);
typedef void (*reactor_hook_fn)(void *ctx);

enum io_op_kind {
	IO_OP_NONE = 0,
	IO_OP_ACCEPT,
	IO_OP_CONNECT,
	IO_OP_RECV,
	IO_OP_SEND,
	IO_OP_TIMEOUT,
	IO_OP_PREAD,
	IO_OP_PWRITE,
	IO_OP_FDATASYNC,
	IO_OP_PWRITE_FDATASYNC, /* linked write + fdatasync: one completion, after both */
	IO_OP_WAKE,             /* internal: mailbox doorbell */
};

struct io_op {
	/* Filled by the caller. */
	io_op_cb cb;
	void *ctx;
	/* Set by the reactor before cb runs. */
	int64_t result;
	/* Private to the reactor. */
	enum io_op_kind kind;
	int64_t aux; /* backend scratch: timer sequence, first half of a linked pair */
	int fd;
	void *buf;
	size_t len;
	uint64_t off;
	uint64_t deadline_ns;
	struct io_op *next;
	int state;
	int index; /* timer heap slot or backend slot */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

enum reactor_backend {
	REACTOR_BACKEND_AUTO = 0,
	REACTOR_BACKEND_URING,
	REACTOR_BACKEND_EPOLL,
};

struct reactor_config {
	enum reactor_backend backend;
	unsigned ring_entries; /* 0 = LIMIT_RING_ENTRIES */
	int cpu;               /* CPU to pin the calling thread to, or -1 */
	int core_id;           /* for logs */
};

/* Create a reactor for the calling thread. AUTO tries io_uring and falls back (logged). */
int reactor_new(const struct reactor_config *cfg, struct reactor **out) WUR;
enum reactor_backend reactor_backend(const struct reactor *r);
const char *reactor_backend_name(enum reactor_backend b);
/* Parse "auto|uring|epoll" (also reads REGATTA_IO_BACKEND when s is NULL). */
int reactor_backend_parse(const char *s, enum reactor_backend *out) WUR;

/* Free a reactor whose loop is not running. Ops still in flight are dropped without their
 * callbacks (their memory stays the caller's). May be called from another thread than the
 * reactor's once that thread stopped using it (the runtime frees in runtime_join). */
void reactor_free(struct reactor *r);

/* Run until reactor_stop(). Returns 0, or a fatal error (an fsync failure is fatal). The stop
 * request is consumed: a later reactor_run() runs again. */
int reactor_run(struct reactor *r) WUR;
/* One turn: reap completions (waiting at most timeout_ns if none; UINT64_MAX = no limit),
 * run at most LIMIT_COMPLETIONS_PER_TURN callbacks, then the hooks. Returns 0 or the fatal
 * error. */
int reactor_run_once(struct reactor *r, uint64_t timeout_ns) WUR;
/* Thread-safe: ask the loop to return from reactor_run(). */
void reactor_stop(struct reactor *r);
/* Thread-safe: make the loop turn (its wait returns) and run the wake handler on the
 * reactor's thread, as a completion. Wakes coalesce: many calls before the handler runs give
 * one handler call. The runtime's mailboxes are built on this. */
void reactor_wake(struct reactor *r);
/* The function run (on the reactor's thread) after reactor_wake(); NULL for none. */
void reactor_set_wake_handler(struct reactor *r, reactor_hook_fn fn, void *ctx);
int reactor_core_id(const struct reactor *r);

/* Counters, for benchmarks and tests (read on the reactor's thread). */
struct reactor_stats {
	uint64_t turns;            /* calls of reactor_run_once that got past the wait */
	uint64_t callbacks;        /* completion callbacks run */
	uint64_t max_callbacks_in_turn;
	uint64_t inflight;         /* ops submitted whose callback has not started yet */
};
void reactor_get_stats(const struct reactor *r, struct reactor_stats *out);

/* Monotonic time cached at the start of the current turn. */
uint64_t reactor_now_ns(const struct reactor *r);

/* Sockets. fds must be non-blocking for the epoll backend; reactor_socket_* helpers make them. */
void reactor_accept(struct reactor *r, struct io_op *op, int listen_fd);
void reactor_connect(struct reactor *r, struct io_op *op, int fd, const struct sockaddr *addr,
		     socklen_t addrlen);
void reactor_recv(struct reactor *r, struct io_op *op, int fd, void *buf, size_t len);
void reactor_send(struct reactor *r, struct io_op *op, int fd, const void *buf, size_t len);

/* Timers: complete with result 0 after `after_ns`, or ERR_CANCELED. */
void reactor_timeout(struct reactor *r, struct io_op *op, uint64_t after_ns);

/* Files (descriptors from io_file_fd()). */
void reactor_pread(struct reactor *r, struct io_op *op, int fd, void *buf, size_t len, uint64_t off);
void reactor_pwrite(struct reactor *r, struct io_op *op, int fd, const void *buf, size_t len,
		    uint64_t off);
void reactor_fdatasync(struct reactor *r, struct io_op *op, int fd);
/* Write then fdatasync, linked: result is bytes written when both succeeded; a short write gives
 * ERR_IO (the linked fsync is canceled by the kernel); an fsync error is returned as is. */
void reactor_pwrite_fdatasync(struct reactor *r, struct io_op *op, int fd, const void *buf,
			      size_t len, uint64_t off);

/* Best effort: the target op completes with ERR_CANCELED unless it already completed (or, for
 * file I/O and a running fsync, unless the kernel/worker already started it: it then completes
 * normally). The target's callback still runs exactly once. Canceling an idle op does nothing.
 * Timers are canceled at once (the ERR_CANCELED callback runs on the next pass of the loop). */
void reactor_cancel(struct reactor *r, struct io_op *target);

/* Run `fn(ctx)` at the end of every turn, after completions (group commit, output flushing).
 * At most LIMIT_TURN_HOOKS hooks per reactor. Returns ERR_NOMEM when full. */
int reactor_add_turn_hook(struct reactor *r, reactor_hook_fn fn, void *ctx) WUR;
void reactor_remove_turn_hook(struct reactor *r, reactor_hook_fn fn, void *ctx);

/* Socket helpers: listening socket with SO_REUSEADDR|SO_REUSEPORT, non-blocking, TCP_NODELAY.
 * addr is "host:port" (IPv4/IPv6 literal or "localhost"). Returns the fd or an ERR_*. */
int reactor_socket_listen(const char *addr, int backlog) WUR;
/* Non-blocking TCP socket (TCP_NODELAY) for reactor_connect, with the resolved address. */
int reactor_socket_for(const char *addr, struct sockaddr_storage *sa, socklen_t *salen) WUR;
/* The local port a socket is bound to (after binding port 0), or an ERR_*. */
int reactor_socket_port(int fd) WUR;
/* Resolve "host:port" ("[v6]:port", "localhost:port", a name) to an address. Names go through
 * getaddrinfo and may block: call at setup, not on a core's hot path. */
int reactor_socket_resolve(const char *addr, struct sockaddr_storage *sa, socklen_t *salen) WUR;

#endif
