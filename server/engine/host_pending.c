/*
 * host_pending.c — requests waiting for Raft: proposals and reads, their deadlines, and the
 * callbacks that answer them.
 *
 * A request is a slot in a fixed table (LIMIT_ENGINE_PENDING_PER_CORE). Its id is
 * ((id_base + counter) << 16) | slot: the slot makes lookup O(1) when an entry or a read state
 * comes back, the counter makes ids unique in this process, and id_base (from the incarnation)
 * keeps a restarted node from taking an old entry of its previous life (same origin node id)
 * for a new request. Proposal ids travel in entry payloads, read ids as Raft read contexts.
 *
 * Completion moves a request to the done queue; host__drain() runs the callbacks at depth 0
 * (catalogue changes first, so a table created by the metadata group exists before the
 * proposal that created it is answered), then frees the slots. The drain is bounded: each
 * round takes the queue as it is, and callbacks that complete more requests add rounds only as
 * long as slots exist.
 */
#include "server/engine/host_int.h"

#include "core/assert.h"
#include "core/log.h"
#include "server/engine/entry.h"

#include <stdlib.h>
#include <string.h>

#define ID_SLOT_BITS 16
#define ID_SLOT_MASK ((1ull << ID_SLOT_BITS) - 1)

static uint64_t term_of(const struct replica *rep)
{
	struct raft_status st;
	raft_status_get(&rep->raft, &st); /* raft's fields are private to raft/ */
	return st.term;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

int host__pending_init(struct host *h)
{
	h->n_slots = LIMIT_ENGINE_PENDING_PER_CORE;
	h->slots = calloc(h->n_slots, sizeof *h->slots);
	if (!h->slots)
		return ERR_NOMEM;
	for (uint32_t i = h->n_slots; i-- > 0;) {
		h->slots[i].link = h->free_list;
		h->free_list = &h->slots[i];
	}
	/* 24 bits from the incarnation in the top of the 48-bit sequence */
	h->id_base = (mix64(h->cfg.incarnation ^ h->cfg.node_id) & 0xffffffull) << 24;
	h->id_counter = 0;
	return 0;
}

void host__pending_deinit(struct host *h)
{
	free(h->slots);
	h->slots = NULL;
	h->free_list = NULL;
	while (h->chg_head) {
		struct change_node *c = h->chg_head;
		h->chg_head = c->next;
		free(c);
	}
	h->chg_tail = NULL;
}

static struct pending *pending_alloc(struct host *h)
{
	struct pending *p = h->free_list;
	if (!p)
		return NULL;
	h->free_list = p->link;
	uint32_t slot = (uint32_t)(p - h->slots);
	memset(p, 0, sizeof *p);
	h->id_counter++;
	p->id = (((h->id_base + h->id_counter) & 0xffffffffffffull) << ID_SLOT_BITS) | slot;
	ASSERT(p->id != 0);
	return p;
}

static void pending_free(struct host *h, struct pending *p)
{
	ASSERT(p->state != PENDING_WAITING);
	p->id = 0;
	p->state = PENDING_FREE;
	p->link = h->free_list;
	h->free_list = p;
}

static struct pending *pending_find(struct host *h, uint64_t id)
{
	uint64_t slot = id & ID_SLOT_MASK;
	if (id == 0 || slot >= h->n_slots)
		return NULL;
	struct pending *p = &h->slots[slot];
	return p->id == id && p->state == PENDING_WAITING ? p : NULL;
}

static struct pending **rep_list(struct replica *rep, const struct pending *p)
{
	return p->kind == PENDING_PROPOSAL ? &rep->props : &rep->reads;
}

/* Put a new request on the waiting lists. */
static void pending_wait(struct host *h, struct pending *p, struct replica *rep)
{
	p->state = PENDING_WAITING;
	p->rep = rep;
	p->prev = h->wait_tail;
	p->next = NULL;
	if (h->wait_tail)
		h->wait_tail->next = p;
	else
		h->wait_head = p;
	h->wait_tail = p;
	struct pending **head = rep_list(rep, p);
	/* replica lists are kept oldest first too: append at the tail (found via rprev of head) */
	if (!*head) {
		*head = p;
		p->rprev = p; /* the head's rprev points at the tail */
		p->rnext = NULL;
	} else {
		struct pending *tail = (*head)->rprev;
		tail->rnext = p;
		p->rprev = tail;
		p->rnext = NULL;
		(*head)->rprev = p;
	}
}

static void pending_unwait(struct host *h, struct pending *p)
{
	ASSERT(p->state == PENDING_WAITING);
	if (p->prev)
		p->prev->next = p->next;
	else
		h->wait_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		h->wait_tail = p->prev;
	struct pending **head = rep_list(p->rep, p);
	if (*head == p) {
		*head = p->rnext;
		if (*head)
			(*head)->rprev = p->rprev == p ? *head : p->rprev;
	} else {
		p->rprev->rnext = p->rnext;
		if (p->rnext)
			p->rnext->rprev = p->rprev;
		else
			(*head)->rprev = p->rprev; /* p was the tail */
	}
	p->prev = p->next = p->rprev = p->rnext = NULL;
	p->rep = NULL;
}

static void pending_done(struct host *h, struct pending *p, int status)
{
	if (p->state == PENDING_WAITING)
		pending_unwait(h, p);
	p->state = PENDING_DONE;
	p->status = status;
	p->link = NULL;
	if (h->done_tail)
		h->done_tail->link = p;
	else
		h->done_head = p;
	h->done_tail = p;
}

/* ---- proposals ----------------------------------------------------------------------------- */

struct pending *host__proposal_match(struct host *h, struct replica *rep, uint64_t id)
{
	struct pending *p = pending_find(h, id);
	if (!p || p->kind != PENDING_PROPOSAL || p->rep != rep)
		return NULL;
	return p;
}

void host__proposal_applied(struct host *h, struct pending *p, uint64_t index,
			    const struct replica_applied *res)
{
	struct replica *rep = p->rep;
	ASSERT(p->state == PENDING_WAITING && rep != NULL);
	p->res.status = res->status;
	p->res.index = index;
	p->res.revision = res->revision;
	p->res.term = term_of(rep);
	p->res.leader = raft_leader(&rep->raft);
	p->res.out = res->out;
	if (rep->is_meta && p->arena) {
		p->res.change = arena_alloc(p->arena, sizeof *p->res.change);
		if (p->res.change) {
			*p->res.change = res->change;
			p->res.change->table.config = NULL; /* owned by the catalogue */
			p->res.change->table.config_len = 0;
		}
	}
	pending_done(h, p, res->status);
}

void host__proposals_settle(struct host *h, struct replica *rep, uint64_t index, int status)
{
	struct pending *p = rep->props;
	for (uint32_t guard = 0; p && guard < LIMIT_ENGINE_PENDING_PER_CORE; guard++) {
		struct pending *next = p->rnext;
		if (p->index != 0 && p->index <= index)
			pending_done(h, p, status);
		p = next;
	}
}

static int prepare(struct host *h, uint64_t table_id, struct replica **rep_out)
{
	if (h->fatal)
		return h->fatal;
	struct replica *rep = host__find(h, table_id);
	if (!rep)
		return ERR_NOTFOUND;
	if (rep->error || !rep->raft_live)
		return ERR_STOPPED;
	*rep_out = rep;
	return 0;
}

static int scratch_reserve(struct host *h, size_t len)
{
	if (len <= h->scratch_cap)
		return 0;
	uint8_t *b = realloc(h->scratch, len);
	if (!b)
		return ERR_NOMEM;
	h->scratch = b;
	h->scratch_cap = len;
	return 0;
}

static int propose_bytes(struct host *h, struct replica *rep, struct pending *p, size_t len)
{
	p->kind = PENDING_PROPOSAL;
	p->table_id = rep->id;
	pending_wait(h, p, rep);
	struct entry_header eh = {.origin = h->cfg.node_id, .proposal_id = p->id};
	entry_header_encode(h->scratch, &eh);
	struct raft_event ev = {.type = RAFT_EVENT_PROPOSE};
	ev.propose.data = h->scratch;
	ev.propose.len = (uint32_t)len;
	h->proposing = p;
	int rc = raft_multi_step(&h->multi, rep->id, &ev);
	h->proposing = NULL;
	if (rc) {
		if (p->state == PENDING_WAITING)
			pending_unwait(h, p);
		p->state = PENDING_FREE;
		pending_free(h, p);
		return rc;
	}
	h->stats.proposals++;
	return 0;
}

int host_propose(struct host *h, uint64_t table_id, const Mvcc__V1__Command *cmd, struct arena *arena,
		 uint64_t deadline_ns, host_propose_cb cb, void *ctx)
{
	ASSERT(cmd != NULL && cb != NULL);
	struct replica *rep;
	int rc = prepare(h, table_id, &rep);
	if (rc)
		return rc;
	if (rep->is_meta)
		return ERR_INVAL;
	size_t body = mvcc__v1__command__get_packed_size(cmd);
	size_t len = ENTRY_HEADER_BYTES + body;
	if (len > LIMIT_RAFT_ENTRY_BYTES)
		return ERR_TOOBIG;
	rc = scratch_reserve(h, len);
	if (rc)
		return rc;
	size_t packed = mvcc__v1__command__pack(cmd, h->scratch + ENTRY_HEADER_BYTES);
	ASSERT(packed == body);
	struct pending *p = pending_alloc(h);
	if (!p)
		return ERR_BUSY;
	p->arena = arena;
	p->deadline_ns = deadline_ns;
	p->pcb = cb;
	p->ctx = ctx;
	host__enter(h);
	rc = propose_bytes(h, rep, p, len);
	host__leave(h);
	return rc;
}

int host_propose_meta(struct host *h, const uint8_t *cmd, size_t len, struct arena *arena,
		      uint64_t deadline_ns, host_propose_cb cb, void *ctx)
{
	ASSERT(cb != NULL && (cmd != NULL || len == 0));
	struct replica *rep;
	int rc = prepare(h, HOST_META_GROUP_ID, &rep);
	if (rc)
		return rc;
	ASSERT(rep->is_meta);
	if (ENTRY_HEADER_BYTES + len > LIMIT_RAFT_ENTRY_BYTES)
		return ERR_TOOBIG;
	rc = scratch_reserve(h, ENTRY_HEADER_BYTES + len);
	if (rc)
		return rc;
	if (len)
		memcpy(h->scratch + ENTRY_HEADER_BYTES, cmd, len);
	struct pending *p = pending_alloc(h);
	if (!p)
		return ERR_BUSY;
	p->arena = arena;
	p->deadline_ns = deadline_ns;
	p->pcb = cb;
	p->ctx = ctx;
	host__enter(h);
	rc = propose_bytes(h, rep, p, ENTRY_HEADER_BYTES + len);
	host__leave(h);
	return rc;
}

/* ---- reads ----------------------------------------------------------------------------------- */

int host_read(struct host *h, uint64_t table_id, enum host_read_mode mode, uint64_t deadline_ns,
	      host_read_cb cb, void *ctx)
{
	ASSERT(cb != NULL);
	ASSERT(mode == HOST_READ_SERIALIZABLE || mode == HOST_READ_LINEARIZABLE);
	struct replica *rep;
	int rc = prepare(h, table_id, &rep);
	if (rc)
		return rc;
	struct pending *p = pending_alloc(h);
	if (!p)
		return ERR_BUSY;
	p->kind = PENDING_READ;
	p->table_id = table_id;
	p->deadline_ns = deadline_ns;
	p->rcb = cb;
	p->ctx = ctx;
	host__enter(h);
	h->stats.reads++;
	pending_wait(h, p, rep);
	if (mode == HOST_READ_SERIALIZABLE) {
		p->serializable = 1;
		pending_done(h, p, 0);
	} else {
		struct raft_event ev = {.type = RAFT_EVENT_READ, .read_ctx = p->id};
		rc = raft_multi_step(&h->multi, table_id, &ev);
		if (rc) {
			h->stats.reads--;
			if (p->state == PENDING_WAITING)
				pending_unwait(h, p);
			p->state = PENDING_FREE;
			pending_free(h, p);
		}
	}
	host__leave(h);
	return rc;
}

void host__read_state(struct host *h, struct replica *rep, const struct raft_read_state *rs)
{
	struct pending *p = pending_find(h, rs->ctx);
	if (!p || p->kind != PENDING_READ || p->rep != rep)
		return; /* expired meanwhile */
	if (rs->status) {
		pending_done(h, p, rs->status);
		return;
	}
	p->read_ready = 1;
	p->index = rs->index;
	if (rep->applied >= p->index)
		pending_done(h, p, 0);
}

void host__reads_serve(struct host *h, struct replica *rep)
{
	struct pending *p = rep->reads;
	for (uint32_t guard = 0; p && guard < LIMIT_ENGINE_PENDING_PER_CORE; guard++) {
		struct pending *next = p->rnext;
		if (p->read_ready && rep->applied >= p->index)
			pending_done(h, p, 0);
		p = next;
	}
}

/* ---- failures and deadlines -------------------------------------------------------------- */

void host__fail_replica(struct host *h, struct replica *rep, int status)
{
	for (uint32_t guard = 0; rep->props && guard < LIMIT_ENGINE_PENDING_PER_CORE; guard++)
		pending_done(h, rep->props, status);
	for (uint32_t guard = 0; rep->reads && guard < LIMIT_ENGINE_PENDING_PER_CORE; guard++)
		pending_done(h, rep->reads, status);
	ASSERT(rep->props == NULL && rep->reads == NULL);
}

void host__fail_all(struct host *h, int status)
{
	for (uint32_t guard = 0; h->wait_head && guard < LIMIT_ENGINE_PENDING_PER_CORE; guard++)
		pending_done(h, h->wait_head, status);
	ASSERT(h->wait_head == NULL);
}

void host__expire(struct host *h)
{
	struct pending *p = h->wait_head;
	for (uint32_t guard = 0; p && guard < LIMIT_ENGINE_PENDING_PER_CORE; guard++) {
		struct pending *next = p->next;
		if (p->deadline_ns != 0 && h->now_ns >= p->deadline_ns)
			pending_done(h, p, ERR_TIMEOUT);
		p = next;
	}
}

/* ---- callbacks ------------------------------------------------------------------------------ */

void host__queue_change(struct host *h, const struct catalog_change *ch)
{
	if (!h->cfg.on_catalog_change || ch->kind == CATALOG_NONE || ch->status != 0)
		return;
	struct change_node *c = malloc(sizeof *c);
	if (!c) {
		LOG_ERROR("engine: out of memory queueing a catalogue change (table %s)", ch->table.name);
		return;
	}
	c->next = NULL;
	c->ch = *ch;
	c->ch.table.config = NULL;
	c->ch.table.config_len = 0;
	if (h->chg_tail)
		h->chg_tail->next = c;
	else
		h->chg_head = c;
	h->chg_tail = c;
}

static void run_read(struct host *h, struct pending *p)
{
	struct host_read_ready r;
	memset(&r, 0, sizeof r);
	r.status = p->status;
	struct replica *rep = host__find(h, p->table_id);
	if (r.status == 0 && (!rep || rep->error || (!rep->kv && !rep->cat)))
		r.status = ERR_STOPPED; /* removed or failed before the callback ran */
	if (r.status == 0) {
		r.store = rep->kv;
		r.catalog = rep->cat;
		r.applied = rep->applied;
		r.revision = replica_sm_revision(rep);
		r.term = rep->raft_live ? term_of(rep) : 0;
		r.leader = rep->raft_live ? raft_leader(&rep->raft) : 0;
	}
	if (r.status == 0)
		h->stats.reads_ok++;
	else
		h->stats.reads_failed++;
	p->rcb(p->ctx, &r);
}

static void run_proposal(struct host *h, struct pending *p)
{
	p->res.status = p->status;
	if (p->status == 0)
		h->stats.proposals_ok++;
	else
		h->stats.proposals_failed++;
	p->pcb(p->ctx, &p->res);
}

void host__drain(struct host *h)
{
	ASSERT(h->depth == 0);
	h->depth++; /* callbacks may call host_* functions: those must not drain recursively */
	for (uint32_t round = 0; round < 2 * LIMIT_ENGINE_PENDING_PER_CORE; round++) {
		if (h->chg_head) {
			struct change_node *c = h->chg_head;
			h->chg_head = c->next;
			if (!h->chg_head)
				h->chg_tail = NULL;
			h->cfg.on_catalog_change(h->cfg.ctx, &c->ch);
			free(c);
			continue;
		}
		struct pending *p = h->done_head;
		if (!p)
			break;
		h->done_head = p->link;
		if (!h->done_head)
			h->done_tail = NULL;
		ASSERT(p->state == PENDING_DONE);
		if (p->kind == PENDING_READ)
			run_read(h, p);
		else
			run_proposal(h, p);
		pending_free(h, p);
	}
	h->depth--;
}

void host__drop_changes(struct host *h)
{
	while (h->chg_head) {
		struct change_node *c = h->chg_head;
		h->chg_head = c->next;
		free(c);
	}
	h->chg_tail = NULL;
}

void host__drop_callbacks(struct host *h)
{
	while (h->done_head) {
		struct pending *p = h->done_head;
		h->done_head = p->link;
		pending_free(h, p);
	}
	h->done_tail = NULL;
	while (h->wait_head) {
		struct pending *p = h->wait_head;
		pending_unwait(h, p);
		p->state = PENDING_FREE;
		pending_free(h, p);
	}
	while (h->chg_head) {
		struct change_node *c = h->chg_head;
		h->chg_head = c->next;
		free(c);
	}
	h->chg_tail = NULL;
}
