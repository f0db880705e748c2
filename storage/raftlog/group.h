/*
 * group.h — one Raft group's view of the shared log, in memory, and the map of groups.
 *
 * A group's log is (base_index, base_term] followed by entries base+1 ..= last. For each entry
 * we keep only where its record lives (segment seq, offset: 8 bytes) and its term as runs
 * (start index, term), so memory per entry is 8 bytes however large the payload: payloads are
 * read back from the batch buffers (recent) or the segment files (older).
 * Invariants: base <= last; locs holds exactly last - base entries; term runs are sorted by
 * start, non-empty iff last > base, the first run starts at or before base + 1 and no run
 * starts after last; terms never decrease along the runs.
 */
#ifndef STORAGE_RAFTLOG_GROUP_H
#define STORAGE_RAFTLOG_GROUP_H

#include "core/err.h"
#include "storage/raftlog.h"

#include <stddef.h>
#include <stdint.h>

struct rl_loc {
	uint32_t seq; /* segment sequence number */
	uint32_t off; /* record offset in that segment */
};

struct rl_run {
	uint64_t start;
	uint64_t term;
};

struct rl_group {
	uint64_t id;
	uint64_t base, base_term, last;
	struct rl_loc *locs;
	size_t loc_head, loc_cap; /* entry base+1+k is locs[loc_head + k] */
	struct rl_run *runs;
	size_t nruns, run_cap;

	/* Durability bookkeeping (raftlog.c). */
	uint64_t durable;      /* every current entry <= durable is on disk */
	uint64_t cycle_target; /* durable index once the batch in flight completes */
	uint64_t submitted_seq; /* records written for this group since open */
	uint64_t durable_seq;   /* of which durable */
	uint64_t cycle_seq;     /* durable_seq once the batch in flight completes */
	unsigned dirty : 1;    /* has records in the collecting batch */
	unsigned in_cycle : 1; /* has records in the batch in flight */

	int has_hs;
	struct raftlog_hard_state hs;
	uint64_t floor;
	uint64_t ret_stamp, ret_max; /* scratch for one retention pass (raftlog.c) */

	/* Slot of this group in the summary of segment slot_seq (the last segment it wrote). */
	uint32_t slot_seq;
	uint32_t slot_idx;
	int has_slot;
};

/* Entry operations. They keep the invariants above; the strict checks of the public API
 * (raftlog.c) happen before them, recovery calls them leniently (see rl_group_restart). */
/* Make room so that truncating at first_index and pushing n entries cannot fail. */
int rl_group_reserve(struct rl_group *g, uint64_t first_index, size_t n) WUR;
void rl_group_push(struct rl_group *g, uint64_t index, uint64_t term, struct rl_loc loc);
void rl_group_truncate(struct rl_group *g, uint64_t index);       /* drop >= index */
void rl_group_compact(struct rl_group *g, uint64_t index, uint64_t term);
void rl_group_restart(struct rl_group *g, uint64_t base, uint64_t base_term); /* drop all */
uint64_t rl_group_term_at(const struct rl_group *g, uint64_t index); /* base <= index <= last */
static inline struct rl_loc rl_group_loc(const struct rl_group *g, uint64_t index)
{
	return g->locs[g->loc_head + (size_t)(index - g->base - 1)];
}
void rl_group_free(struct rl_group *g);

/* Open-addressing map id -> group (linear probing, backward-shift deletion). */
struct rl_map {
	struct rl_group **slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

struct rl_group *rl_map_get(const struct rl_map *m, uint64_t id);
/* Inserts a new zeroed group; ERR_NOMEM when LIMIT_RAFTLOG_GROUPS_PER_CORE is reached. */
int rl_map_add(struct rl_map *m, uint64_t id, struct rl_group **out) WUR;
void rl_map_del(struct rl_map *m, uint64_t id); /* frees the group */
void rl_map_free(struct rl_map *m);

#endif
