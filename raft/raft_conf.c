/*
 * raft_conf.c — membership configurations: the byte encoding carried by RAFT_ENTRY_CONF entries and
 * snapshot metadata, single-server changes, and the core's short history of configurations.
 *
 * Encoding (little-endian): u8 version (1), u8 n_voters, u8 n_learners, u8 reserved (0),
 * u32 reserved (0), then n_voters u64 ids, then n_learners u64 ids. Decoding checks the counts
 * against the limits, that ids are non-zero and unique, and that the length is exact.
 *
 * History: hist[0] is the newest configuration known committed (or the snapshot's), hist[1..] are
 * later ones (possibly uncommitted). The current configuration is the last one: a configuration
 * takes effect as soon as it is appended (single-server changes, Raft thesis §4.1); truncating the
 * log removes the configurations it carried.
 */
#include "raft/raft_impl.h"

#include "core/assert.h"

#include <string.h>

#define CONF_VERSION 1

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

uint32_t raft_conf_encode(const struct raft_conf *c, uint8_t *buf)
{
	ASSERT(c->n_voters <= LIMIT_RAFT_VOTERS_MAX);
	ASSERT(c->n_learners <= LIMIT_RAFT_LEARNERS_MAX);
	buf[0] = CONF_VERSION;
	buf[1] = (uint8_t)c->n_voters;
	buf[2] = (uint8_t)c->n_learners;
	memset(buf + 3, 0, 5);
	uint32_t off = 8;
	for (uint32_t i = 0; i < c->n_voters; i++, off += 8)
		put_u64(buf + off, c->voters[i]);
	for (uint32_t i = 0; i < c->n_learners; i++, off += 8)
		put_u64(buf + off, c->learners[i]);
	ASSERT(off <= RAFT_CONF_ENCODED_MAX);
	return off;
}

static int conf_has(const struct raft_conf *c, uint64_t id)
{
	return raft_conf_is_voter(c, id) || raft_conf_is_learner(c, id);
}

int raft_conf_decode(const uint8_t *buf, uint32_t len, struct raft_conf *out)
{
	if (len < 8 || buf[0] != CONF_VERSION)
		return ERR_CORRUPT;
	uint32_t nv = buf[1], nl = buf[2];
	if (nv > LIMIT_RAFT_VOTERS_MAX || nl > LIMIT_RAFT_LEARNERS_MAX)
		return ERR_CORRUPT;
	if (len != 8 + 8 * (nv + nl))
		return ERR_CORRUPT;
	struct raft_conf c;
	memset(&c, 0, sizeof(c));
	uint32_t off = 8;
	for (uint32_t i = 0; i < nv + nl; i++, off += 8) {
		uint64_t id = get_u64(buf + off);
		if (id == 0 || conf_has(&c, id))
			return ERR_CORRUPT;
		if (i < nv)
			c.voters[c.n_voters++] = id;
		else
			c.learners[c.n_learners++] = id;
	}
	*out = c;
	return 0;
}

int raft_conf_is_voter(const struct raft_conf *c, uint64_t id)
{
	for (uint32_t i = 0; i < c->n_voters; i++)
		if (c->voters[i] == id)
			return 1;
	return 0;
}

int raft_conf_is_learner(const struct raft_conf *c, uint64_t id)
{
	for (uint32_t i = 0; i < c->n_learners; i++)
		if (c->learners[i] == id)
			return 1;
	return 0;
}

int raft_conf_equal(const struct raft_conf *a, const struct raft_conf *b)
{
	if (a->n_voters != b->n_voters || a->n_learners != b->n_learners)
		return 0;
	for (uint32_t i = 0; i < a->n_voters; i++)
		if (!raft_conf_is_voter(b, a->voters[i]))
			return 0;
	for (uint32_t i = 0; i < a->n_learners; i++)
		if (!raft_conf_is_learner(b, a->learners[i]))
			return 0;
	return 1;
}

static void remove_id(uint64_t *ids, uint32_t *n, uint64_t id)
{
	for (uint32_t i = 0; i < *n; i++) {
		if (ids[i] == id) {
			ids[i] = ids[*n - 1];
			(*n)--;
			return;
		}
	}
}

int raft_conf_apply_change(struct raft_conf *c, enum raft_conf_change_type type, uint64_t id)
{
	if (id == 0)
		return ERR_INVAL;
	struct raft_conf n = *c;
	switch (type) {
	case RAFT_CONF_ADD_VOTER:
		if (raft_conf_is_voter(&n, id) || n.n_voters == LIMIT_RAFT_VOTERS_MAX)
			return ERR_INVAL;
		remove_id(n.learners, &n.n_learners, id);
		n.voters[n.n_voters++] = id;
		break;
	case RAFT_CONF_ADD_LEARNER:
		if (raft_conf_is_learner(&n, id) || n.n_learners == LIMIT_RAFT_LEARNERS_MAX)
			return ERR_INVAL;
		remove_id(n.voters, &n.n_voters, id);
		n.learners[n.n_learners++] = id;
		break;
	case RAFT_CONF_REMOVE:
		if (!conf_has(&n, id))
			return ERR_INVAL;
		remove_id(n.voters, &n.n_voters, id);
		remove_id(n.learners, &n.n_learners, id);
		break;
	default:
		return ERR_INVAL;
	}
	if (n.n_voters == 0) /* a group without voters can never elect again */
		return ERR_INVAL;
	ASSERT(n.n_voters + n.n_learners <= LIMIT_RAFT_MEMBERS_MAX);
	*c = n;
	return 0;
}

/* ---- history ---- */

int raft__conf_has_room(const struct raft *r)
{
	if (r->n_hist < LIMIT_RAFT_CONF_HISTORY)
		return 1;
	/* the base can go if the next one is committed */
	return r->hist[1].index <= r->commit;
}

void raft__conf_compact(struct raft *r)
{
	ASSERT(r->n_hist >= 1);
	uint32_t drop = 0;
	while (drop + 1 < r->n_hist && r->hist[drop + 1].index <= r->commit)
		drop++;
	if (drop == 0)
		return;
	memmove(&r->hist[0], &r->hist[drop], (r->n_hist - drop) * sizeof(r->hist[0]));
	r->n_hist -= drop;
	ASSERT(r->n_hist >= 1);
}

void raft__conf_push(struct raft *r, uint64_t index, const struct raft_conf *c)
{
	raft__conf_compact(r);
	ASSERT(r->n_hist < LIMIT_RAFT_CONF_HISTORY);
	ASSERT(index > r->hist[r->n_hist - 1].index);
	r->hist[r->n_hist].index = index;
	r->hist[r->n_hist].conf = *c;
	r->n_hist++;
	raft__progress_sync_conf(r);
}

void raft__conf_truncate(struct raft *r, uint64_t index)
{
	uint32_t before = r->n_hist;
	while (r->n_hist > 1 && r->hist[r->n_hist - 1].index >= index)
		r->n_hist--;
	/* the base is committed (or a snapshot's), and committed entries are never truncated */
	ASSERT(r->hist[0].index < index);
	if (r->n_hist != before)
		raft__progress_sync_conf(r);
}

void raft__conf_reset(struct raft *r, uint64_t index, const struct raft_conf *c)
{
	r->hist[0].index = index;
	r->hist[0].conf = *c;
	r->n_hist = 1;
	raft__progress_sync_conf(r);
}

const struct raft_conf *raft__conf(const struct raft *r)
{
	ASSERT(r->n_hist >= 1);
	return &r->hist[r->n_hist - 1].conf;
}
