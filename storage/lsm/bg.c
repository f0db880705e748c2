/*
 * bg.c — the background thread that runs flushes and compactions for the trees of one core.
 *
 * Why a thread and not bounded slices of work on the reactor: a compaction is a long stream of
 * reads, merges, checksums, writes and an fdatasync; slicing it into bounded steps per reactor
 * turn would make every step resumable and would still put sync disk I/O (and fsync) on the
 * latency-critical thread. One background thread per core keeps the reactor's turn short and
 * shares nothing with other cores (it serves only its core's trees, FIFO, one step at a time;
 * a flush is one step, a compaction is one step that flushes waiting memtables inline).
 *
 * A tree is on the queue at most once (t->bg_pending, under t->mu). After a step the tree is
 * re-queued if it has more to do, else its pending flag drops and t->cv is signalled.
 *
 * Inline mode (lsm_bg_new_inline) has no thread: the owner runs queued steps with lsm_bg_run()
 * (for example one per reactor turn: the "bounded work per turn" alternative), and a tree that
 * must wait (a stall, a flush with wait, close) runs steps itself instead of sleeping. Every
 * step then happens on one thread in a fixed order, so a seeded test replays exactly.
 */
#include "storage/lsm/lsm_tree_int.h"

#include <stdlib.h>

struct lsm_bg {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct lsm_tree *head, *tail;
	int stop;
	int inline_mode; /* no thread: steps run in lsm_bg_run() or when a tree waits */
};

/* Pop one queued tree and run one step for it (bg->mu held on entry and on return). */
static void run_one_locked(struct lsm_bg *bg)
{
	struct lsm_tree *t = bg->head;
	bg->head = t->bg_next;
	if (!bg->head)
		bg->tail = NULL;
	t->bg_next = NULL;
	pthread_mutex_unlock(&bg->mu);

	int more = lsm_tree_bg_step(t);

	pthread_mutex_lock(&t->mu);
	if (more && !t->bg_error) {
		pthread_mutex_lock(&bg->mu);
		if (bg->tail)
			bg->tail->bg_next = t;
		else
			bg->head = t;
		bg->tail = t;
		pthread_mutex_unlock(&bg->mu);
	} else {
		t->bg_pending = 0;
	}
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_mutex_lock(&bg->mu);
}

static void *bg_main(void *arg)
{
	struct lsm_bg *bg = arg;
	pthread_mutex_lock(&bg->mu);
	for (;;) {
		while (!bg->head && !bg->stop)
			pthread_cond_wait(&bg->cv, &bg->mu);
		if (!bg->head && bg->stop)
			break;
		run_one_locked(bg);
	}
	pthread_mutex_unlock(&bg->mu);
	return NULL;
}

int lsm_bg_new_inline(struct lsm_bg **out)
{
	struct lsm_bg *bg = calloc(1, sizeof *bg);
	if (!bg)
		return ERR_NOMEM;
	pthread_mutex_init(&bg->mu, NULL);
	pthread_cond_init(&bg->cv, NULL);
	bg->inline_mode = 1;
	*out = bg;
	return 0;
}

int lsm_bg_run(struct lsm_bg *bg, int max_steps)
{
	ASSERT(bg->inline_mode);
	ASSERT(max_steps > 0);
	int n = 0;
	pthread_mutex_lock(&bg->mu);
	while (n < max_steps && bg->head) {
		run_one_locked(bg);
		n++;
	}
	pthread_mutex_unlock(&bg->mu);
	return n;
}

int lsm_bg_is_inline(const struct lsm_bg *bg) { return bg->inline_mode; }

int lsm_bg_new(struct lsm_bg **out)
{
	struct lsm_bg *bg = calloc(1, sizeof *bg);
	if (!bg)
		return ERR_NOMEM;
	pthread_mutex_init(&bg->mu, NULL);
	pthread_cond_init(&bg->cv, NULL);
	if (pthread_create(&bg->th, NULL, bg_main, bg) != 0) {
		pthread_mutex_destroy(&bg->mu);
		pthread_cond_destroy(&bg->cv);
		free(bg);
		return ERR_NOMEM;
	}
	*out = bg;
	return 0;
}

void lsm_bg_free(struct lsm_bg *bg)
{
	if (!bg)
		return;
	pthread_mutex_lock(&bg->mu);
	ASSERT(bg->head == NULL); /* every tree was closed first */
	bg->stop = 1;
	pthread_cond_signal(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	if (!bg->inline_mode)
		pthread_join(bg->th, NULL);
	pthread_mutex_destroy(&bg->mu);
	pthread_cond_destroy(&bg->cv);
	free(bg);
}

void lsm_bg_schedule(struct lsm_bg *bg, struct lsm_tree *t)
{
	if (t->bg_pending || t->bg_error)
		return;
	t->bg_pending = 1;
	pthread_mutex_lock(&bg->mu);
	t->bg_next = NULL;
	if (bg->tail)
		bg->tail->bg_next = t;
	else
		bg->head = t;
	bg->tail = t;
	pthread_cond_signal(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
}
