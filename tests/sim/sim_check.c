/*
 * sim_check.c — the simulator's checkers.
 *
 * Incremental, at every relevant step (a failure stops the run and prints the seed):
 *   election safety       at most one node becomes leader in a term, per group;
 *   log matching          two persisted entries with the same index and term carry the same
 *                         command and follow the same term (so, by induction, identical prefixes);
 *   leader completeness   a new leader's log holds every entry any node applied so far;
 *   state-machine safety  every node applies the same entry at the same index;
 *   monotonicity          a node's term and commit index never go back within one incarnation;
 *   acknowledged writes   a put is acknowledged only after its node applied it, so losing it
 *                         would mean a different entry applied at its index (state-machine
 *                         safety) or a read not seeing it (linearizability).
 * At the end:
 *   linearizability       each key's history of puts and reads is linearizable as a register
 *                         (Wing & Gong's search with Lowe's memoization of (linearized set,
 *                         value)); puts whose outcome is unknown may take effect or not.
 */
#include "sim.h"

#include "core/assert.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t sim_entry_hash(const struct raft_entry *e)
{
	uint64_t h = 1469598103934665603ULL ^ e->type;
	for (uint32_t i = 0; i < e->len; i++) {
		h ^= e->data[i];
		h *= 1099511628211ULL;
	}
	h ^= (uint64_t)e->len << 32;
	return h ? h : 1;
}

void sim_check_init(struct sim *s)
{
	memset(s->check, 0, sizeof(s->check));
}

void sim_check_free(struct sim *s)
{
	for (uint32_t g = 0; g < SIM_GROUPS_MAX; g++) {
		struct sim_group_check *c = &s->check[g];
		for (uint64_t i = 0; i < c->cap; i++)
			free(c->idx[i].v);
		free(c->idx);
		free(c->leader_of_term);
		for (uint32_t k = 0; k < SIM_KEYS; k++)
			free(c->hist[k].ops);
	}
}

static struct sim_index_info *info(struct sim_group_check *c, uint64_t index)
{
	if (index >= c->cap) {
		uint64_t cap = c->cap ? c->cap : 1024;
		while (cap <= index)
			cap *= 2;
		c->idx = realloc(c->idx, (size_t)cap * sizeof(*c->idx));
		ASSERT(c->idx != NULL);
		memset(c->idx + c->cap, 0, (size_t)(cap - c->cap) * sizeof(*c->idx));
		c->cap = cap;
	}
	return &c->idx[index];
}

void sim_check_persist(struct sim *s, struct sim_group_state *g, const struct raft_update *u)
{
	struct sim_group_check *c = &s->check[g->group];
	for (uint32_t i = 0; i < u->n_persist && !s->failed; i++) {
		const struct raft_entry *e = &u->persist[i];
		uint64_t prev = i > 0 ? u->persist[i - 1].term : raft_term_at(&g->r, e->index - 1);
		uint64_t h = sim_entry_hash(e);
		struct sim_index_info *ii = info(c, e->index);
		struct sim_variant *found = NULL;
		for (uint32_t k = 0; k < ii->n; k++)
			if (ii->v[k].term == e->term)
				found = &ii->v[k];
		if (found) {
			if (found->hash != h)
				sim_fail(s,
				         "log matching: group %u index %" PRIu64 " term %" PRIu64
				         " has two different entries (node %u)",
				         g->group, e->index, e->term, g->node->id);
			else if (found->prev_term && prev && found->prev_term != prev)
				sim_fail(s,
				         "log matching: group %u index %" PRIu64 " term %" PRIu64
				         " follows term %" PRIu64 " on node %u but term %" PRIu64
				         " elsewhere",
				         g->group, e->index, e->term, prev, g->node->id,
				         found->prev_term);
			else if (!found->prev_term)
				found->prev_term = prev;
			continue;
		}
		ii->v = realloc(ii->v, (ii->n + 1) * sizeof(*ii->v));
		ASSERT(ii->v != NULL);
		ii->v[ii->n].term = e->term;
		ii->v[ii->n].hash = h;
		ii->v[ii->n].prev_term = prev;
		ii->n++;
	}
}

void sim_check_apply(struct sim *s, struct sim_group_state *g, const struct raft_entry *e)
{
	struct sim_group_check *c = &s->check[g->group];
	struct sim_index_info *ii = info(c, e->index);
	uint64_t h = sim_entry_hash(e);
	if (ii->applied_term == 0) {
		ii->applied_term = e->term;
		ii->applied_hash = h;
		if (e->index > c->max_applied)
			c->max_applied = e->index;
		return;
	}
	if (ii->applied_term != e->term || ii->applied_hash != h)
		sim_fail(s,
		         "state machine safety: group %u node %u applied index %" PRIu64
		         " term %" PRIu64 " but another node applied term %" PRIu64 " there",
		         g->group, g->node->id, e->index, e->term, ii->applied_term);
}

void sim_check_leader(struct sim *s, struct sim_group_state *g, uint64_t term)
{
	struct sim_group_check *c = &s->check[g->group];
	if (term >= c->terms_cap) {
		uint64_t cap = c->terms_cap ? c->terms_cap : 64;
		while (cap <= term)
			cap *= 2;
		c->leader_of_term = realloc(c->leader_of_term, (size_t)cap * sizeof(uint64_t));
		ASSERT(c->leader_of_term != NULL);
		memset(c->leader_of_term + c->terms_cap, 0,
		       (size_t)(cap - c->terms_cap) * sizeof(uint64_t));
		c->terms_cap = cap;
	}
	if (c->leader_of_term[term] != 0 && c->leader_of_term[term] != g->node->id) {
		sim_fail(s,
		         "election safety: group %u term %" PRIu64
		         " has two leaders: nodes %" PRIu64 " and %u",
		         g->group, term, c->leader_of_term[term], g->node->id);
		return;
	}
	c->leader_of_term[term] = g->node->id;
	c->elections++;
	if (s->healed)
		c->leader_after_heal = 1;
	/* leader completeness: every applied (hence committed) entry is in the new leader's log */
	struct raft_status st;
	raft_status_get(&g->r, &st);
	if (st.last_index < c->max_applied) {
		sim_fail(s,
		         "leader completeness: group %u node %u leads term %" PRIu64
		         " with last index %" PRIu64 " but index %" PRIu64 " was committed",
		         g->group, g->node->id, term, st.last_index, c->max_applied);
		return;
	}
	uint64_t from = st.first_index > 1 ? st.first_index : 1;
	for (uint64_t i = from; i <= c->max_applied; i++) {
		const struct sim_index_info *ii = &c->idx[i];
		if (ii->applied_term == 0)
			continue;
		uint64_t t = raft_term_at(&g->r, i);
		if (t != ii->applied_term) {
			sim_fail(s,
			         "leader completeness: group %u node %u leads term %" PRIu64
			         " but holds term %" PRIu64 " at committed index %" PRIu64
			         " (committed term %" PRIu64 ")",
			         g->group, g->node->id, term, t, i, ii->applied_term);
			return;
		}
	}
}

void sim_check_state(struct sim *s, struct sim_group_state *g, uint64_t index, uint64_t hash,
                     int installed)
{
	struct sim_index_info *ii = info(&s->check[g->group], index);
	if (ii->state_hash == 0) {
		ii->state_hash = hash;
		return;
	}
	if (ii->state_hash != hash)
		sim_fail(s,
		         "state machine safety: group %u node %u %s a state at index %" PRIu64
		         " that differs from another node's state there",
		         g->group, g->node->id, installed ? "installed" : "reached", index);
}

/* Commit safety: when a leader's commit index reaches N, no voter whose durable log lacks entry N
 * may be able to win an election, i.e. gather a quorum of voters whose durable logs are not more
 * up to date than its own. In correct Raft the quorum that durably holds N (of the current term)
 * refuses such a candidate; if any candidate is electable, a crash schedule exists that loses N.
 * This catches Figure 8 hazards (committing an older term's entry by counting) and acknowledging
 * unsynced entries the moment they happen, without waiting for the unlucky schedule. */
void sim_check_commit(struct sim *s, struct sim_group_state *g, uint64_t n)
{
	const struct raft_conf *c = raft_conf_current(&g->r);
	int ok;
	uint64_t t = sim_store_term(&g->cur, n, &ok);
	if (!ok)
		t = raft_term_at(&g->r, n);
	if (t == 0)
		return;
	uint64_t last_idx[SIM_NODES_MAX + 1] = {0}, last_term[SIM_NODES_MAX + 1] = {0};
	int lacks[SIM_NODES_MAX + 1] = {0};
	for (uint32_t i = 0; i < c->n_voters; i++) {
		uint64_t id = c->voters[i];
		if (id == 0 || id > s->p.nodes)
			return;
		const struct sim_store *d = &s->nodes[id].groups[g->group].dur;
		last_idx[id] = sim_store_last(d);
		last_term[id] = sim_store_term(d, last_idx[id], &ok);
		uint64_t tn = sim_store_term(d, n, &ok);
		int has = (ok && tn == t) || n <= d->snap.index;
		lacks[id] = !has;
	}
	uint32_t quorum = c->n_voters / 2 + 1;
	for (uint32_t i = 0; i < c->n_voters; i++) {
		uint64_t x = c->voters[i];
		if (!lacks[x])
			continue;
		uint32_t votes = 0;
		for (uint32_t j = 0; j < c->n_voters; j++) {
			uint64_t v = c->voters[j];
			if (last_term[x] > last_term[v] ||
			    (last_term[x] == last_term[v] && last_idx[x] >= last_idx[v]))
				votes++;
		}
		if (votes >= quorum) {
			sim_fail(s,
			         "commit safety: group %u node %u (leader, term %" PRIu64
			         ") committed index %" PRIu64 " (term %" PRIu64
			         ") but node %" PRIu64
			         " lacks it durably and could still be elected "
			         "(last %" PRIu64 "/term %" PRIu64 ", %u of %u votes)",
			         g->group, g->node->id, g->r.term, n, t, x, last_idx[x],
			         last_term[x], votes, c->n_voters);
			return;
		}
	}
}

void sim_check_node(struct sim *s, struct sim_group_state *g)
{
	struct raft_status st;
	raft_status_get(&g->r, &st);
	if (st.term < g->last_term_seen)
		sim_fail(s, "term went back on node %u group %u", g->node->id, g->group);
	if (st.commit < g->last_commit_seen)
		sim_fail(s, "commit went back on node %u group %u", g->node->id, g->group);
	g->last_term_seen = st.term;
	g->last_commit_seen = st.commit;
}

void sim_history_add(struct sim *s, uint32_t group, uint32_t key, const struct sim_hist_op *op)
{
	struct sim_history *h = &s->check[group].hist[key];
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 256;
		h->ops = realloc(h->ops, h->cap * sizeof(*h->ops));
		ASSERT(h->ops != NULL);
	}
	h->ops[h->n++] = *op;
}

/* ---- linearizability
 * ------------------------------------------------------------------------------- */

struct lin_entry {
	int is_call;
	uint32_t op;
	uint64_t time;
	int32_t prev;
	int32_t next;
	int32_t match; /* call <-> return */
};

struct lin_cache {
	uint64_t *keys; /* slots of (words + 1) u64: bitset then value; 0-filled slot = empty */
	uint64_t *used;
	uint64_t cap;
	uint64_t n;
	uint32_t words;
};

static uint64_t lin_hash(const uint64_t *bits, uint32_t words, uint64_t value)
{
	uint64_t h = value * 0x9e3779b97f4a7c15ULL;
	for (uint32_t i = 0; i < words; i++) {
		h ^= bits[i] + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	}
	return h;
}

static void lin_cache_grow(struct lin_cache *c);

/* Returns 1 if inserted (new), 0 if present. */
static int lin_cache_add(struct lin_cache *c, const uint64_t *bits, uint64_t value)
{
	if (c->n * 2 >= c->cap)
		lin_cache_grow(c);
	uint32_t stride = c->words + 1;
	uint64_t i = lin_hash(bits, c->words, value) & (c->cap - 1);
	for (;; i = (i + 1) & (c->cap - 1)) {
		uint64_t *slot = c->keys + i * stride;
		if (!(c->used[i / 64] >> (i % 64) & 1)) {
			memcpy(slot, bits, c->words * sizeof(uint64_t));
			slot[c->words] = value;
			c->used[i / 64] |= 1ULL << (i % 64);
			c->n++;
			return 1;
		}
		if (slot[c->words] == value && memcmp(slot, bits, c->words * sizeof(uint64_t)) == 0)
			return 0;
	}
}

static void lin_cache_grow(struct lin_cache *c)
{
	struct lin_cache old = *c;
	c->cap = old.cap ? old.cap * 2 : 1024;
	c->n = 0;
	c->keys = calloc((size_t)c->cap, (c->words + 1) * sizeof(uint64_t));
	c->used = calloc((size_t)(c->cap / 64 + 1), sizeof(uint64_t));
	ASSERT(c->keys && c->used);
	for (uint64_t i = 0; i < old.cap; i++)
		if (old.used[i / 64] >> (i % 64) & 1) {
			const uint64_t *slot = old.keys + i * (old.words + 1);
			(void)lin_cache_add(c, slot, slot[old.words]);
		}
	free(old.keys);
	free(old.used);
}

static int cmp_entry(const void *a, const void *b)
{
	const struct lin_entry *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	/* at equal times calls go first: treating the ops as concurrent is the permissive choice */
	if (x->is_call != y->is_call)
		return x->is_call ? -1 : 1;
	return x->op < y->op ? -1 : (x->op > y->op);
}

#define LIN_STEPS_MAX 50000000ULL

int sim_check_linearizable(struct sim *s, uint32_t group, uint32_t key)
{
	struct sim_history *h = &s->check[group].hist[key];
	/* a put with unknown outcome whose value nobody read can always be placed "never" */
	struct sim_hist_op *ops = malloc((h->n + 1) * sizeof(*ops));
	ASSERT(ops != NULL);
	uint32_t n = 0;
	for (uint32_t i = 0; i < h->n; i++) {
		const struct sim_hist_op *o = &h->ops[i];
		if (o->kind == SIM_OP_PUT && o->response == UINT64_MAX) {
			int read = 0;
			for (uint32_t j = 0; j < h->n && !read; j++)
				read = h->ops[j].kind == SIM_OP_GET && h->ops[j].value == o->value;
			if (!read)
				continue;
		}
		ops[n++] = *o;
	}
	if (n == 0) {
		free(ops);
		return 1;
	}
	uint32_t ne = 2 * n;
	struct lin_entry *e = calloc(ne + 1, sizeof(*e)); /* e[0] is the list head */
	ASSERT(e != NULL);
	struct lin_entry *tmp = calloc(ne, sizeof(*tmp));
	ASSERT(tmp != NULL);
	for (uint32_t i = 0; i < n; i++) {
		tmp[2 * i] = (struct lin_entry){.is_call = 1, .op = i, .time = ops[i].invoke};
		tmp[2 * i + 1] = (struct lin_entry){.is_call = 0, .op = i, .time = ops[i].response};
	}
	qsort(tmp, ne, sizeof(*tmp), cmp_entry);
	int32_t *call_at = malloc(n * sizeof(int32_t));
	int32_t *ret_at = malloc(n * sizeof(int32_t));
	ASSERT(call_at && ret_at);
	for (uint32_t i = 0; i < ne; i++) {
		e[i + 1] = tmp[i];
		e[i + 1].prev = (int32_t)i;
		e[i + 1].next = i + 1 < ne ? (int32_t)(i + 2) : -1;
		if (tmp[i].is_call)
			call_at[tmp[i].op] = (int32_t)(i + 1);
		else
			ret_at[tmp[i].op] = (int32_t)(i + 1);
	}
	e[0].next = 1;
	e[0].prev = -1;
	for (uint32_t i = 0; i < n; i++) {
		e[call_at[i]].match = ret_at[i];
		e[ret_at[i]].match = call_at[i];
	}
	free(tmp);

	uint32_t words = (n + 63) / 64;
	uint64_t *bits = calloc(words, sizeof(uint64_t));
	struct lin_cache cache = {.words = words};
	lin_cache_grow(&cache);
	struct frame {
		int32_t call;
		uint64_t value;
	} *stack = malloc(n * sizeof(struct frame));
	ASSERT(bits && stack);
	uint32_t depth = 0;
	uint64_t value = 0; /* the register starts at 0 */
	int32_t cur = e[0].next;
	int result = 1;
	uint64_t steps = 0;
	while (e[0].next != -1) {
		if (++steps > LIN_STEPS_MAX) {
			fprintf(stderr,
			        "sim: linearizability search for group %u key %u gave up after "
			        "%llu steps "
			        "(inconclusive, not a failure)\n",
			        group, key, (unsigned long long)steps);
			break;
		}
		if (cur == -1) { /* only unknown-outcome puts can remain unlinearized at the end */
			result = 1;
			break;
		}
		struct lin_entry *en = &e[cur];
		if (en->is_call) {
			const struct sim_hist_op *o = &ops[en->op];
			int ok = o->kind == SIM_OP_PUT || o->value == value;
			uint64_t nv = o->kind == SIM_OP_PUT ? o->value : value;
			int fresh = 0;
			if (ok) {
				bits[en->op / 64] |= 1ULL << (en->op % 64);
				fresh = lin_cache_add(&cache, bits, nv);
				if (!fresh)
					bits[en->op / 64] &= ~(1ULL << (en->op % 64));
			}
			if (ok && fresh) {
				stack[depth].call = cur;
				stack[depth].value = value;
				depth++;
				value = nv;
				/* lift the call and its return out of the list */
				struct lin_entry *ret = &e[en->match];
				e[en->prev].next = en->next;
				if (en->next != -1)
					e[en->next].prev = en->prev;
				e[ret->prev].next = ret->next;
				if (ret->next != -1)
					e[ret->next].prev = ret->prev;
				cur = e[0].next;
			} else {
				cur = en->next;
			}
		} else {
			if (ops[en->op].response == UINT64_MAX) {
				/* reached the unknown-outcome tail: those puts may simply never
				 * happen */
				result = 1;
				break;
			}
			if (depth == 0) {
				result = 0;
				break;
			}
			depth--;
			int32_t call = stack[depth].call;
			value = stack[depth].value;
			struct lin_entry *c = &e[call];
			bits[c->op / 64] &= ~(1ULL << (c->op % 64));
			struct lin_entry *ret = &e[c->match];
			/* unlift: reinsert return then call at their old places */
			e[ret->prev].next = c->match;
			if (ret->next != -1)
				e[ret->next].prev = c->match;
			e[c->prev].next = call;
			if (c->next != -1)
				e[c->next].prev = call;
			cur = c->next;
		}
	}
	free(e);
	free(call_at);
	free(ret_at);
	free(bits);
	free(stack);
	free(cache.keys);
	free(cache.used);
	free(ops);
	return result;
}
