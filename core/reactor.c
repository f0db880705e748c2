/*
 * reactor.c — the parts of the per-core event loop that both backends share: backend choice,
 * the completion queue and the bounded callback pass, timers, turn hooks, the doorbell, and
 * the socket helpers. See reactor.h for the contract and reactor_impl.h for the op states.
 *
 * One turn (reactor_run_once):
 *   1. wait: the backend pushes submissions and blocks until an op finishes, the doorbell
 *      rings, or the nearest timer is due — not at all if callbacks are still queued;
 *   2. expired timers join the completion queue;
 *   3. run at most LIMIT_COMPLETIONS_PER_TURN callbacks, only of ops that were queued before
 *      the pass started (ops finished during the pass wait for the next turn, as with
 *      io_uring where a submission made in a callback is only sent at the next wait);
 *   4. run the turn hooks once each (group commit: one fdatasync for the turn's appends).
 * A callback storm therefore delays I/O by at most one bounded pass, and hooks see every turn.
 */
#define _GNU_SOURCE
#include "core/reactor_impl.h"
#include "core/assert.h"
#include "core/clock.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* ---- backend choice --------------------------------------------------------------------- */

const char *reactor_backend_name(enum reactor_backend b)
{
	switch (b) {
	case REACTOR_BACKEND_AUTO: return "auto";
	case REACTOR_BACKEND_URING: return "io_uring";
	case REACTOR_BACKEND_EPOLL: return "epoll";
	}
	return "unknown";
}

int reactor_backend_parse(const char *s, enum reactor_backend *out)
{
	ASSERT(out != NULL);
	if (!s)
		s = getenv("REGATTA_IO_BACKEND");
	if (!s || !*s || strcmp(s, "auto") == 0)
		*out = REACTOR_BACKEND_AUTO;
	else if (strcmp(s, "uring") == 0 || strcmp(s, "io_uring") == 0)
		*out = REACTOR_BACKEND_URING;
	else if (strcmp(s, "epoll") == 0)
		*out = REACTOR_BACKEND_EPOLL;
	else
		return ERR_INVAL;
	return 0;
}

enum reactor_backend reactor_backend(const struct reactor *r) { return r->ops->kind; }
int reactor_core_id(const struct reactor *r) { return r->core_id; }
uint64_t reactor_now_ns(const struct reactor *r) { return r->now_ns; }

void reactor_get_stats(const struct reactor *r, struct reactor_stats *out)
{
	*out = r->stats;
	out->inflight = r->inflight;
}

/* ---- completions ------------------------------------------------------------------------ */

void reactor_op_complete(struct reactor *r, struct io_op *op, int64_t result)
{
	ASSERT(op->state == OP_INFLIGHT);
	ASSERT(result >= 0 || result >= ERR_CODE_MIN);
	op->result = result;
	op->state = OP_DONE;
	op->next = NULL;
	if (r->done_tail)
		r->done_tail->next = op;
	else
		r->done_head = op;
	r->done_tail = op;
	r->done_count++;
}

static void reactor_note_fatal(struct reactor *r, const struct io_op *op, int err)
{
	LOG_ERROR("fdatasync on fd %d failed: %s; this core stops", op->fd, err_str(err));
	if (!r->fatal)
		r->fatal = err;
}

void reactor_op_complete_raw(struct reactor *r, struct io_op *op, int64_t raw)
{
	int64_t res = raw;
	if (raw < 0)
		res = err_from_errno((int)-raw);
	if (op->kind == IO_OP_FDATASYNC && raw < 0 && raw != -ECANCELED)
		reactor_note_fatal(r, op, (int)res);
	if (op->kind == IO_OP_ACCEPT && raw >= 0) {
		/* Linux copies TCP_NODELAY from the listener; say it anyway (AF_UNIX just says no). */
		int one = 1;
		(void)setsockopt((int)raw, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	reactor_op_complete(r, op, res);
}

void reactor_op_complete_pair(struct reactor *r, struct io_op *op, int64_t write_raw,
			      int64_t sync_raw)
{
	ASSERT(op->kind == IO_OP_PWRITE_FDATASYNC);
	int64_t res;
	if (write_raw < 0) {
		res = err_from_errno((int)-write_raw);
	} else if ((uint64_t)write_raw != op->len) {
		/* The kernel cancels the linked fsync (-ECANCELED); the caller rewrites. */
		LOG_DEBUG("short linked write on fd %d: %lld of %zu bytes", op->fd,
			  (long long)write_raw, op->len);
		res = ERR_IO;
	} else if (sync_raw < 0) {
		res = err_from_errno((int)-sync_raw);
		if (sync_raw != -ECANCELED)
			reactor_note_fatal(r, op, (int)res);
	} else {
		res = write_raw;
	}
	reactor_op_complete(r, op, res);
}

/* ---- the doorbell ----------------------------------------------------------------------- */

static void reactor_wake_cb(struct io_op *op)
{
	struct reactor *r = op->ctx;
	ASSERT(op == &r->wake_op);
	if (op->result < 0)
		LOG_WARN("doorbell read failed: %s", err_str((int)op->result));
	/* Clear before running the handler: a wake after this point rings again. */
	atomic_exchange(&r->wake_pending, 0);
	op->state = OP_INFLIGHT;
	r->ops->wake_arm(r);
	if (r->wake_fn)
		r->wake_fn(r->wake_ctx);
}

void reactor_wake(struct reactor *r)
{
	if (atomic_exchange(&r->wake_pending, 1))
		return;
	uint64_t one = 1;
	ssize_t n = write(r->wake_fd, &one, sizeof one);
	/* EAGAIN means the counter is saturated: a wake is pending anyway. */
	ASSERT(n == (ssize_t)sizeof one || errno == EAGAIN);
}

void reactor_set_wake_handler(struct reactor *r, reactor_hook_fn fn, void *ctx)
{
	ASSERT(pthread_equal(pthread_self(), r->owner));
	r->wake_fn = fn;
	r->wake_ctx = ctx;
}

void reactor_stop(struct reactor *r)
{
	atomic_store(&r->stop, 1);
	/* A wake already pending also ends the wait: the loop then sees the flag. */
	reactor_wake(r);
}

/* ---- life cycle ------------------------------------------------------------------------- */

static int reactor_pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET((size_t)cpu, &set);
	int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	return rc ? err_from_errno(rc) : 0;
}

int reactor_new(const struct reactor_config *cfg, struct reactor **out)
{
	ASSERT(cfg != NULL && out != NULL);
	ASSERT(cfg->cpu < CPU_SETSIZE);
	int rc;
	struct reactor *r = calloc(1, sizeof *r);
	if (!r)
		return ERR_NOMEM;
	r->core_id = cfg->core_id;
	r->owner = pthread_self();
	r->cpu = -1;
	if (cfg->cpu >= 0) {
		rc = reactor_pin(cfg->cpu);
		if (rc)
			LOG_WARN("core %d: cannot pin to CPU %d (%s); running unpinned", cfg->core_id,
				 cfg->cpu, err_str(rc));
		else
			r->cpu = cfg->cpu;
	}
	timer_heap_init(&r->timers, LIMIT_TIMERS_PER_CORE);
	r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->wake_fd < 0) {
		rc = err_from_errno(errno);
		goto err_free;
	}

	enum reactor_backend want = cfg->backend;
	if (want == REACTOR_BACKEND_AUTO) {
		rc = reactor_backend_parse(NULL, &want);
		if (rc) {
			LOG_WARN("REGATTA_IO_BACKEND=%s is not uring|epoll|auto; using auto",
				 getenv("REGATTA_IO_BACKEND"));
			want = REACTOR_BACKEND_AUTO;
		}
	}
	struct reactor_config bcfg = *cfg;
	bcfg.cpu = r->cpu;
	if (want != REACTOR_BACKEND_EPOLL) {
		r->ops = &reactor_uring_ops;
		rc = r->ops->init(r, &bcfg);
		if (rc == ERR_UNSUPPORTED && want == REACTOR_BACKEND_AUTO) {
			LOG_WARN("core %d: io_uring is refused here (seccomp or an old kernel); "
				 "using the epoll fallback",
				 cfg->core_id);
		} else if (rc) {
			goto err_close;
		}
		if (rc == 0)
			goto ready;
	}
	r->ops = &reactor_epoll_ops;
	rc = r->ops->init(r, &bcfg);
	if (rc)
		goto err_close;
ready:
	r->wake_op.kind = IO_OP_WAKE;
	r->wake_op.cb = reactor_wake_cb;
	r->wake_op.ctx = r;
	r->wake_op.fd = r->wake_fd;
	r->wake_op.state = OP_INFLIGHT;
	r->ops->wake_arm(r);
	r->now_ns = clock_mono_ns();
	LOG_DEBUG("core %d: reactor on %s (cpu %d)", r->core_id, reactor_backend_name(r->ops->kind),
		  r->cpu);
	*out = r;
	return 0;

err_close:
	close(r->wake_fd);
err_free:
	timer_heap_deinit(&r->timers);
	free(r);
	return rc;
}

void reactor_free(struct reactor *r)
{
	if (!r)
		return;
	r->ops->deinit(r);
	close(r->wake_fd);
	timer_heap_deinit(&r->timers);
	free(r);
}

/* ---- the loop --------------------------------------------------------------------------- */

static void reactor_run_hooks(struct reactor *r)
{
	uint32_t n = r->nhooks; /* hooks added during the pass run from the next turn */
	r->hooks_running = 1;
	for (uint32_t i = 0; i < n; i++) {
		if (r->hooks[i].fn)
			r->hooks[i].fn(r->hooks[i].ctx);
	}
	r->hooks_running = 0;
	uint32_t w = 0;
	for (uint32_t i = 0; i < r->nhooks; i++) {
		if (r->hooks[i].fn)
			r->hooks[w++] = r->hooks[i];
	}
	r->nhooks = w;
}

int reactor_run_once(struct reactor *r, uint64_t timeout_ns)
{
	ASSERT(pthread_equal(pthread_self(), r->owner));
	ASSERT(!r->in_turn);
	if (r->fatal)
		return r->fatal;
	r->in_turn = 1;

	uint64_t wait_ns = timeout_ns;
	if (r->done_count || atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		wait_ns = 0;
	} else if (timer_heap_count(&r->timers)) {
		uint64_t now = clock_mono_ns();
		uint64_t due = timer_heap_peek(&r->timers)->deadline_ns;
		uint64_t left = due > now ? due - now : 0;
		if (left < wait_ns)
			wait_ns = left;
	}
	int rc = r->ops->wait(r, wait_ns);
	if (rc) {
		LOG_ERROR("core %d: %s wait failed: %s", r->core_id,
			  reactor_backend_name(r->ops->kind), err_str(rc));
		r->fatal = rc;
		r->in_turn = 0;
		return rc;
	}

	r->now_ns = clock_mono_ns();
	for (uint32_t i = 0; i < LIMIT_TIMERS_PER_CORE; i++) {
		struct io_op *t = timer_heap_peek(&r->timers);
		if (!t || t->deadline_ns > r->now_ns)
			break;
		(void)timer_heap_pop(&r->timers);
		reactor_op_complete(r, t, 0);
	}

	uint64_t n = r->done_count < LIMIT_COMPLETIONS_PER_TURN ? r->done_count
							       : LIMIT_COMPLETIONS_PER_TURN;
	for (uint64_t i = 0; i < n; i++) {
		struct io_op *op = r->done_head;
		ASSERT(op != NULL && op->state == OP_DONE);
		r->done_head = op->next;
		if (!r->done_head)
			r->done_tail = NULL;
		r->done_count--;
		op->next = NULL;
		op->state = OP_IDLE;
		if (op != &r->wake_op) {
			ASSERT(r->inflight > 0);
			r->inflight--;
		}
		op->cb(op);
	}
	r->stats.turns++;
	r->stats.callbacks += n;
	if (n > r->stats.max_callbacks_in_turn)
		r->stats.max_callbacks_in_turn = n;

	reactor_run_hooks(r);
	r->in_turn = 0;
	return r->fatal;
}

int reactor_run(struct reactor *r)
{
	int rc = 0;
	while (!atomic_load(&r->stop)) {
		rc = reactor_run_once(r, UINT64_MAX);
		if (rc)
			break;
	}
	atomic_store(&r->stop, 0);
	return rc;
}

/* ---- submissions ------------------------------------------------------------------------ */

static void reactor_submit(struct reactor *r, struct io_op *op, enum io_op_kind kind, int fd,
			   void *buf, size_t len, uint64_t off)
{
	ASSERT(pthread_equal(pthread_self(), r->owner));
	ASSERT(op->cb != NULL);
	ASSERT(op->state != OP_INFLIGHT && op->state != OP_DONE); /* double submission */
	ASSERT(len <= LIMIT_IO_BYTES_MAX);
	op->kind = kind;
	op->fd = fd;
	op->buf = buf;
	op->len = len;
	op->off = off;
	op->result = 0;
	op->aux = 0;
	op->index = -1;
	op->next = NULL;
	op->state = OP_INFLIGHT;
	r->inflight++;
	if (kind == IO_OP_TIMEOUT) {
		if (timer_heap_push(&r->timers, op) != 0)
			reactor_op_complete(r, op, ERR_NOMEM);
		return;
	}
	ASSERT(fd >= 0);
	r->ops->submit(r, op);
}

void reactor_accept(struct reactor *r, struct io_op *op, int listen_fd)
{
	reactor_submit(r, op, IO_OP_ACCEPT, listen_fd, NULL, 0, 0);
}

void reactor_connect(struct reactor *r, struct io_op *op, int fd, const struct sockaddr *addr,
		     socklen_t addrlen)
{
	ASSERT(addr != NULL && addrlen > 0 && addrlen <= sizeof op->addr);
	memcpy(&op->addr, addr, addrlen);
	op->addrlen = addrlen;
	reactor_submit(r, op, IO_OP_CONNECT, fd, NULL, 0, 0);
}

void reactor_recv(struct reactor *r, struct io_op *op, int fd, void *buf, size_t len)
{
	reactor_submit(r, op, IO_OP_RECV, fd, buf, len, 0);
}

void reactor_send(struct reactor *r, struct io_op *op, int fd, const void *buf, size_t len)
{
	reactor_submit(r, op, IO_OP_SEND, fd, (void *)(uintptr_t)buf, len, 0);
}

void reactor_timeout(struct reactor *r, struct io_op *op, uint64_t after_ns)
{
	uint64_t now = clock_mono_ns();
	op->deadline_ns = after_ns > UINT64_MAX - now ? UINT64_MAX : now + after_ns;
	reactor_submit(r, op, IO_OP_TIMEOUT, -1, NULL, 0, 0);
}

void reactor_pread(struct reactor *r, struct io_op *op, int fd, void *buf, size_t len, uint64_t off)
{
	reactor_submit(r, op, IO_OP_PREAD, fd, buf, len, off);
}

void reactor_pwrite(struct reactor *r, struct io_op *op, int fd, const void *buf, size_t len,
		    uint64_t off)
{
	reactor_submit(r, op, IO_OP_PWRITE, fd, (void *)(uintptr_t)buf, len, off);
}

void reactor_fdatasync(struct reactor *r, struct io_op *op, int fd)
{
	reactor_submit(r, op, IO_OP_FDATASYNC, fd, NULL, 0, 0);
}

void reactor_pwrite_fdatasync(struct reactor *r, struct io_op *op, int fd, const void *buf,
			      size_t len, uint64_t off)
{
	reactor_submit(r, op, IO_OP_PWRITE_FDATASYNC, fd, (void *)(uintptr_t)buf, len, off);
}

void reactor_cancel(struct reactor *r, struct io_op *target)
{
	ASSERT(pthread_equal(pthread_self(), r->owner));
	ASSERT(target != &r->wake_op);
	if (target->state != OP_INFLIGHT)
		return; /* idle, or already finished and waiting for its callback */
	if (target->kind == IO_OP_TIMEOUT) {
		timer_heap_remove(&r->timers, target);
		reactor_op_complete(r, target, ERR_CANCELED);
		return;
	}
	r->ops->cancel(r, target);
}

/* ---- turn hooks ------------------------------------------------------------------------- */

int reactor_add_turn_hook(struct reactor *r, reactor_hook_fn fn, void *ctx)
{
	ASSERT(pthread_equal(pthread_self(), r->owner));
	ASSERT(fn != NULL);
	if (r->nhooks >= LIMIT_TURN_HOOKS)
		return ERR_NOMEM;
	r->hooks[r->nhooks].fn = fn;
	r->hooks[r->nhooks].ctx = ctx;
	r->nhooks++;
	return 0;
}

void reactor_remove_turn_hook(struct reactor *r, reactor_hook_fn fn, void *ctx)
{
	ASSERT(pthread_equal(pthread_self(), r->owner));
	for (uint32_t i = 0; i < r->nhooks; i++) {
		if (r->hooks[i].fn != fn || r->hooks[i].ctx != ctx)
			continue;
		if (r->hooks_running) {
			r->hooks[i].fn = NULL; /* compacted when the pass ends */
		} else {
			memmove(&r->hooks[i], &r->hooks[i + 1],
				(r->nhooks - i - 1) * sizeof r->hooks[0]);
			r->nhooks--;
		}
		return;
	}
}

/* ---- socket helpers --------------------------------------------------------------------- */

int reactor_socket_resolve(const char *addr, struct sockaddr_storage *sa, socklen_t *salen)
{
	ASSERT(addr != NULL && sa != NULL && salen != NULL);
	char host[256];
	const char *port_s;
	const char *colon;
	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (!end || end[1] != ':')
			return ERR_INVAL;
		colon = end + 1;
		addr++;
		if ((size_t)(end - addr) >= sizeof host)
			return ERR_INVAL;
		memcpy(host, addr, (size_t)(end - addr));
		host[end - addr] = 0;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || (size_t)(colon - addr) >= sizeof host)
			return ERR_INVAL;
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = 0;
	}
	port_s = colon + 1;
	char *endp;
	errno = 0;
	unsigned long port = strtoul(port_s, &endp, 10);
	if (!*port_s || *endp || errno || port > 65535)
		return ERR_INVAL;

	memset(sa, 0, sizeof *sa);
	struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
	if (!host[0] || strcmp(host, "*") == 0 || strcmp(host, "localhost") == 0) {
		v4->sin_family = AF_INET;
		v4->sin_addr.s_addr = htonl(host[0] && host[0] != '*' ? INADDR_LOOPBACK : INADDR_ANY);
	} else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
	} else {
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		struct addrinfo *res = NULL;
		int rc = getaddrinfo(host, NULL, &hints, &res);
		if (rc != 0 || !res)
			return ERR_NOTFOUND;
		ASSERT(res->ai_addrlen <= sizeof *sa);
		memcpy(sa, res->ai_addr, res->ai_addrlen);
		freeaddrinfo(res);
	}
	if (sa->ss_family == AF_INET) {
		v4->sin_port = htons((uint16_t)port);
		*salen = sizeof *v4;
	} else {
		ASSERT(sa->ss_family == AF_INET6);
		v6->sin6_port = htons((uint16_t)port);
		*salen = sizeof *v6;
	}
	return 0;
}

static int reactor_socket_new(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_from_errno(errno);
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
		int rc = err_from_errno(errno);
		close(fd);
		return rc;
	}
	return fd;
}

int reactor_socket_listen(const char *addr, int backlog)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	int rc = reactor_socket_resolve(addr, &sa, &salen);
	if (rc)
		return rc;
	int fd = reactor_socket_new(sa.ss_family);
	if (fd < 0)
		return fd;
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		goto err_errno;
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0)
		goto err_errno;
	if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
		goto err_errno;
	ASSERT(fd >= 0);
	return fd;

err_errno:
	rc = errno == EADDRINUSE ? ERR_EXISTS : err_from_errno(errno);
	close(fd);
	ASSERT(rc < 0);
	return rc;
}

int reactor_socket_for(const char *addr, struct sockaddr_storage *sa, socklen_t *salen)
{
	int rc = reactor_socket_resolve(addr, sa, salen);
	if (rc)
		return rc;
	return reactor_socket_new(sa->ss_family);
}

int reactor_socket_port(int fd)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return err_from_errno(errno);
	if (sa.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&sa)->sin_port);
	if (sa.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
	return ERR_INVAL;
}
