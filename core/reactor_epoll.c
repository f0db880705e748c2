/*
 * reactor_epoll.c — the fallback backend, for hosts that refuse io_uring (Docker's default
 * seccomp profile): epoll readiness turned into io_uring-style completions for sockets, and a
 * small pool of blocking threads for file I/O.
 *
 * Sockets. Each fd has a read queue (accept, recv) and a write queue (send, connect in
 * progress), linked through op->next; op->index says which queue. An op whose queue is empty
 * is first tried at once (eager: most sends and many recvs finish without a wait); otherwise
 * it waits for readiness, and the queue is served in order. epoll is level-triggered with the
 * interest set to what the queues need. When the queues drain, the registration is kept
 * (lazily) so the common "recv done, callback submits the next recv" costs no epoll_ctl;
 * it is dropped on the first event nobody waits for, and right away when it includes
 * EPOLLOUT (a socket is nearly always writable). Because the caller may close an idle fd and
 * get the same number back for a new socket, the first op on an idle fd always re-states the
 * registration (EPOLL_CTL_MOD, or ADD when the kernel says ENOENT) instead of trusting it.
 *
 * Files. pread/pwrite/fdatasync and the write+fdatasync pair go to LIMIT_BLOCKING_POOL_THREADS
 * threads (started on first use, inheriting the core's CPU pin), which perform the syscalls and
 * hand finished ops back through a list and an eventfd. The pair is one job: write, and
 * fdatasync only if the write was complete, as the kernel does for an IOSQE_IO_LINK chain.
 * Invariant: a pool op is in exactly one of pending (index 1), running (index 2) or done,
 * all under pool.mu; only pending ops can be canceled.
 *
 * Timers come from the shared heap; the nearest deadline is epoll_pwait2's timeout.
 */
#define _GNU_SOURCE
#include "core/reactor_impl.h"
#include "core/assert.h"
#include "core/log.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum { EP_RD = 0, EP_WR = 1 };
enum { POOL_PENDING = 1, POOL_RUNNING = 2 };

struct ep_fd {
	struct io_op *head[2];
	struct io_op *tail[2];
	uint32_t reg; /* events registered with epoll, as far as we know */
};

struct ep_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct io_op *pend_head, *pend_tail;
	struct io_op *done_head, *done_tail;
	int done_fd;
	int stopping;
	int nthreads;
	pthread_t threads[LIMIT_BLOCKING_POOL_THREADS];
};

struct epoll_be {
	int epfd;
	int use_pwait2;
	struct ep_fd *fds;
	size_t nfds;
	struct ep_pool pool;
	struct epoll_event events[LIMIT_EPOLL_EVENTS];
};

static struct epoll_be *ep_be(struct reactor *r) { return r->be; }

/* ---- sockets ---------------------------------------------------------------------------- */

static struct ep_fd *ep_fd_get(struct epoll_be *e, int fd)
{
	ASSERT(fd >= 0);
	if ((size_t)fd >= e->nfds) {
		size_t n = e->nfds ? e->nfds : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct ep_fd *fds = realloc(e->fds, n * sizeof *fds);
		if (!fds)
			return NULL;
		memset(fds + e->nfds, 0, (n - e->nfds) * sizeof *fds);
		e->fds = fds;
		e->nfds = n;
	}
	return &e->fds[fd];
}

static int64_t ep_connect_result(int fd)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	if (err)
		return -err;
	struct sockaddr_storage sa;
	len = sizeof sa;
	if (getpeername(fd, (struct sockaddr *)&sa, &len) < 0)
		return errno == ENOTCONN ? -EAGAIN : -errno;
	return 0;
}

/* Try a socket op now: a kernel-style result, or -EAGAIN when it must wait. */
static int64_t ep_try(struct io_op *op)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		ssize_t n;
		switch (op->kind) {
		case IO_OP_ACCEPT:
			n = accept4(op->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			break;
		case IO_OP_RECV:
			n = recv(op->fd, op->buf, op->len, MSG_DONTWAIT);
			break;
		case IO_OP_SEND:
			n = send(op->fd, op->buf, op->len, MSG_DONTWAIT | MSG_NOSIGNAL);
			break;
		case IO_OP_CONNECT:
			return ep_connect_result(op->fd);
		default:
			UNREACHABLE();
		}
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
	return -EINTR;
}

static void ep_fail_all(struct reactor *r, struct ep_fd *f, int64_t raw)
{
	for (int dir = 0; dir < 2; dir++) {
		while (f->head[dir]) {
			struct io_op *op = f->head[dir];
			f->head[dir] = op->next;
			reactor_op_complete_raw(r, op, raw);
		}
		f->tail[dir] = NULL;
	}
}

/* Make the epoll registration of fd match its queues (see the file comment for the policy).
 * validate: the registration may be stale (first op on an idle fd). spurious: an event came
 * for a direction nobody waited on. */
static void ep_sync(struct reactor *r, int fd, struct ep_fd *f, int validate, int spurious)
{
	struct epoll_be *e = ep_be(r);
	uint32_t want = (f->head[EP_RD] ? (uint32_t)EPOLLIN : 0) | (f->head[EP_WR] ? (uint32_t)EPOLLOUT : 0);
	if (want == 0) {
		if (f->reg && (spurious || (f->reg & EPOLLOUT))) {
			(void)epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL); /* may be closed already */
			f->reg = 0;
		}
		return;
	}
	if (!validate && want == f->reg)
		return;
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.events = want;
	ev.data.fd = fd;
	int rc = epoll_ctl(e->epfd, f->reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
	if (rc < 0 && errno == ENOENT)
		rc = epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
	else if (rc < 0 && errno == EEXIST)
		rc = epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev);
	if (rc < 0) {
		int err = errno;
		LOG_DEBUG("epoll_ctl(fd %d): %s", fd, strerror(err));
		f->reg = 0;
		ep_fail_all(r, f, -err);
		return;
	}
	f->reg = want;
}

static void ep_enqueue(struct reactor *r, struct io_op *op, int dir, int eager)
{
	struct ep_fd *f = ep_fd_get(ep_be(r), op->fd);
	if (!f) {
		reactor_op_complete(r, op, ERR_NOMEM);
		return;
	}
	int was_idle = !f->head[EP_RD] && !f->head[EP_WR];
	if (eager && !f->head[dir]) {
		int64_t raw = ep_try(op);
		if (raw != -EAGAIN) {
			reactor_op_complete_raw(r, op, raw);
			return;
		}
	}
	op->index = dir;
	op->next = NULL;
	if (f->tail[dir])
		f->tail[dir]->next = op;
	else
		f->head[dir] = op;
	f->tail[dir] = op;
	ep_sync(r, op->fd, f, was_idle, 0);
}

/* Serve a queue after readiness, in order, until an op would block. */
static void ep_run_queue(struct reactor *r, struct ep_fd *f, int dir)
{
	while (f->head[dir]) {
		struct io_op *op = f->head[dir];
		int64_t raw = ep_try(op);
		if (raw == -EAGAIN)
			break;
		f->head[dir] = op->next;
		if (!f->head[dir])
			f->tail[dir] = NULL;
		reactor_op_complete_raw(r, op, raw);
	}
}

static void ep_fd_event(struct reactor *r, int fd, uint32_t events)
{
	struct epoll_be *e = ep_be(r);
	if (fd < 0 || (size_t)fd >= e->nfds)
		return;
	struct ep_fd *f = &e->fds[fd];
	int had_rd = f->head[EP_RD] != NULL, had_wr = f->head[EP_WR] != NULL;
	int spurious = ((events & EPOLLIN) && !had_rd) || ((events & EPOLLOUT) && !had_wr) ||
		       ((events & (EPOLLERR | EPOLLHUP)) && !had_rd && !had_wr);
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		ep_run_queue(r, f, EP_RD);
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		ep_run_queue(r, f, EP_WR);
	ep_sync(r, fd, f, 0, spurious);
}

/* ---- the blocking pool ------------------------------------------------------------------ */

static int64_t ep_retry_eintr_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return -errno;
	}
	return -EINTR;
}

static int64_t ep_retry_eintr_fdatasync(int fd)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		if (fdatasync(fd) == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
	return -EINTR;
}

/* Runs on a pool thread: the syscall(s), results left in op->result (and op->aux). */
static void ep_file_do(struct io_op *op)
{
	ssize_t n;
	switch (op->kind) {
	case IO_OP_PREAD:
		do
			n = pread(op->fd, op->buf, op->len, (off_t)op->off);
		while (n < 0 && errno == EINTR);
		op->result = n >= 0 ? n : -errno;
		break;
	case IO_OP_PWRITE:
		op->result = ep_retry_eintr_pwrite(op->fd, op->buf, op->len, op->off);
		break;
	case IO_OP_FDATASYNC:
		op->result = ep_retry_eintr_fdatasync(op->fd);
		break;
	case IO_OP_PWRITE_FDATASYNC:
		op->aux = ep_retry_eintr_pwrite(op->fd, op->buf, op->len, op->off);
		op->result = op->aux == (int64_t)op->len ? ep_retry_eintr_fdatasync(op->fd) : -ECANCELED;
		break;
	default:
		UNREACHABLE();
	}
}

static void *ep_worker(void *arg)
{
	struct ep_pool *p = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals belong to the core threads */
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stopping && !p->pend_head)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stopping)
			break;
		struct io_op *op = p->pend_head;
		p->pend_head = op->next;
		if (!p->pend_head)
			p->pend_tail = NULL;
		ASSERT(op->index == POOL_PENDING);
		op->index = POOL_RUNNING;
		pthread_mutex_unlock(&p->mu);

		ep_file_do(op);

		pthread_mutex_lock(&p->mu);
		op->next = NULL;
		int was_empty = p->done_head == NULL;
		if (p->done_tail)
			p->done_tail->next = op;
		else
			p->done_head = op;
		p->done_tail = op;
		if (was_empty) {
			uint64_t one = 1;
			ssize_t w = write(p->done_fd, &one, sizeof one);
			ASSERT(w == (ssize_t)sizeof one || errno == EAGAIN);
		}
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void ep_pool_submit(struct reactor *r, struct io_op *op)
{
	struct ep_pool *p = &ep_be(r)->pool;
	if (!p->nthreads) {
		for (int i = 0; i < LIMIT_BLOCKING_POOL_THREADS; i++) {
			if (pthread_create(&p->threads[i], NULL, ep_worker, p) != 0)
				break;
			p->nthreads++;
		}
		if (!p->nthreads) {
			LOG_ERROR("cannot start any file I/O thread");
			reactor_op_complete(r, op, ERR_NOMEM);
			return;
		}
	}
	pthread_mutex_lock(&p->mu);
	op->index = POOL_PENDING;
	op->next = NULL;
	if (p->pend_tail)
		p->pend_tail->next = op;
	else
		p->pend_head = op;
	p->pend_tail = op;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void ep_pool_reap(struct reactor *r)
{
	struct ep_pool *p = &ep_be(r)->pool;
	uint64_t v;
	ssize_t n = read(p->done_fd, &v, sizeof v);
	ASSERT(n == (ssize_t)sizeof v || errno == EAGAIN);
	pthread_mutex_lock(&p->mu);
	struct io_op *op = p->done_head;
	p->done_head = p->done_tail = NULL;
	pthread_mutex_unlock(&p->mu);
	while (op) {
		struct io_op *next = op->next;
		if (op->kind == IO_OP_PWRITE_FDATASYNC)
			reactor_op_complete_pair(r, op, op->aux, op->result);
		else
			reactor_op_complete_raw(r, op, op->result);
		op = next;
	}
}

/* Remove a pending op; 0 when it was not pending any more (running or done). */
static int ep_pool_unqueue(struct ep_pool *p, struct io_op *op)
{
	int found = 0;
	pthread_mutex_lock(&p->mu);
	if (op->index == POOL_PENDING) {
		struct io_op **pp = &p->pend_head, *prev = NULL;
		while (*pp && *pp != op) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		ASSERT(*pp == op);
		*pp = op->next;
		if (p->pend_tail == op)
			p->pend_tail = prev;
		found = 1;
	}
	pthread_mutex_unlock(&p->mu);
	return found;
}

/* ---- backend interface ------------------------------------------------------------------ */

static void ep_submit(struct reactor *r, struct io_op *op)
{
	if (reactor_op_is_file(op)) {
		ep_pool_submit(r, op);
		return;
	}
	switch (op->kind) {
	case IO_OP_ACCEPT:
	case IO_OP_RECV:
		ep_enqueue(r, op, EP_RD, 1);
		break;
	case IO_OP_SEND:
		ep_enqueue(r, op, EP_WR, 1);
		break;
	case IO_OP_CONNECT:
		if (connect(op->fd, (struct sockaddr *)&op->addr, op->addrlen) == 0)
			reactor_op_complete(r, op, 0);
		else if (errno == EINPROGRESS || errno == EINTR)
			ep_enqueue(r, op, EP_WR, 0);
		else
			reactor_op_complete_raw(r, op, -errno);
		break;
	default:
		UNREACHABLE();
	}
}

static void ep_cancel(struct reactor *r, struct io_op *op)
{
	struct epoll_be *e = ep_be(r);
	if (reactor_op_is_file(op)) {
		if (ep_pool_unqueue(&e->pool, op))
			reactor_op_complete(r, op, ERR_CANCELED);
		return;
	}
	ASSERT(op->fd >= 0 && (size_t)op->fd < e->nfds);
	ASSERT(op->index == EP_RD || op->index == EP_WR);
	struct ep_fd *f = &e->fds[op->fd];
	int dir = op->index;
	struct io_op **pp = &f->head[dir], *prev = NULL;
	while (*pp && *pp != op) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	ASSERT(*pp == op); /* in flight on this backend means queued on its fd */
	*pp = op->next;
	if (f->tail[dir] == op)
		f->tail[dir] = prev;
	reactor_op_complete(r, op, ERR_CANCELED);
	ep_sync(r, op->fd, f, 0, 0);
}

static int ep_wait(struct reactor *r, uint64_t timeout_ns)
{
	struct epoll_be *e = ep_be(r);
	int n = -1;
	if (e->use_pwait2) {
		struct timespec ts = {
			.tv_sec = (time_t)(timeout_ns / 1000000000u),
			.tv_nsec = (long)(timeout_ns % 1000000000u),
		};
		n = epoll_pwait2(e->epfd, e->events, LIMIT_EPOLL_EVENTS,
				 timeout_ns == UINT64_MAX ? NULL : &ts, NULL);
		if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
			LOG_INFO("epoll_pwait2 refused; timers round up to milliseconds");
			e->use_pwait2 = 0;
		}
	}
	if (!e->use_pwait2) {
		int ms = -1;
		if (timeout_ns != UINT64_MAX) {
			uint64_t m = (timeout_ns + 999999u) / 1000000u;
			ms = m > INT_MAX ? INT_MAX : (int)m;
		}
		n = epoll_wait(e->epfd, e->events, LIMIT_EPOLL_EVENTS, ms);
	}
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		LOG_ERROR("epoll_wait: %s", strerror(errno));
		return err_from_errno(errno);
	}
	ASSERT(n <= LIMIT_EPOLL_EVENTS);
	for (int i = 0; i < n; i++) {
		int fd = e->events[i].data.fd;
		if (fd == r->wake_fd) {
			uint64_t v;
			ssize_t rd = read(r->wake_fd, &v, sizeof v);
			ASSERT(rd == (ssize_t)sizeof v || errno == EAGAIN);
			if (r->wake_op.state == OP_INFLIGHT)
				reactor_op_complete(r, &r->wake_op, 0);
		} else if (fd == e->pool.done_fd) {
			ep_pool_reap(r);
		} else {
			ep_fd_event(r, fd, e->events[i].events);
		}
	}
	return 0;
}

static void ep_wake_arm(struct reactor *r)
{
	/* wake_fd stays registered (level-triggered) from init; nothing to do per wake. */
	ASSERT(r->wake_op.state == OP_INFLIGHT);
}

static int ep_add_internal(int epfd, int fd)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.fd = fd;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? err_from_errno(errno) : 0;
}

static int ep_init(struct reactor *r, const struct reactor_config *cfg)
{
	int rc;
	struct epoll_be *e = calloc(1, sizeof *e);
	if (!e)
		return ERR_NOMEM;
	e->use_pwait2 = 1;
	e->pool.done_fd = -1;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		rc = err_from_errno(errno);
		goto err_free;
	}
	e->pool.done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->pool.done_fd < 0) {
		rc = err_from_errno(errno);
		goto err_close;
	}
	rc = ep_add_internal(e->epfd, r->wake_fd);
	if (!rc)
		rc = ep_add_internal(e->epfd, e->pool.done_fd);
	if (rc)
		goto err_close;
	pthread_mutex_init(&e->pool.mu, NULL);
	pthread_cond_init(&e->pool.cv, NULL);
	r->be = e;
	(void)cfg;
	return 0;

err_close:
	if (e->pool.done_fd >= 0)
		close(e->pool.done_fd);
	close(e->epfd);
err_free:
	free(e);
	return rc;
}

static void ep_deinit(struct reactor *r)
{
	struct epoll_be *e = r->be;
	struct ep_pool *p = &e->pool;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	close(p->done_fd);
	close(e->epfd);
	free(e->fds);
	free(e);
	r->be = NULL;
}

const struct reactor_backend_ops reactor_epoll_ops = {
	.kind = REACTOR_BACKEND_EPOLL,
	.init = ep_init,
	.deinit = ep_deinit,
	.submit = ep_submit,
	.cancel = ep_cancel,
	.wait = ep_wait,
	.wake_arm = ep_wake_arm,
};
