/* helper_raftlog.h — shared harness for the Raft log tests: a log on a simulated disk that
 * records every durable report and fatal error, and small entry builders. */
#ifndef TESTS_UNIT_STORAGE_HELPER_RAFTLOG_H
#define TESTS_UNIT_STORAGE_HELPER_RAFTLOG_H

#include "storage/raftlog.h"

#include <stddef.h>
#include <stdint.h>

#define RLT_DIR "/rl"
#define RLT_GROUPS_MAX 64

struct rlt {
	struct io_fs *fs;
	const char *dir; /* NULL: RLT_DIR */
	struct raftlog *log;
	uint64_t segment_bytes;
	uint64_t durable[RLT_GROUPS_MAX]; /* last durable index reported, by group id */
	uint64_t durable_seq[RLT_GROUPS_MAX];
	uint64_t reports;                /* on_durable calls */
	int fatal_err;
	int fatal_calls;
};

/* Open (or reopen) the log on t->fs; returns raftlog_open's result. */
int rlt_open(struct rlt *t);
void rlt_close(struct rlt *t);
/* A fresh simulated disk and an opened log; asserts success. */
void rlt_init(struct rlt *t, uint64_t seed, uint64_t segment_bytes);
void rlt_fini(struct rlt *t);

/* Deterministic payload of an entry: its length and bytes derive from (group, index, term). */
size_t rlt_payload(uint64_t group, uint64_t index, uint64_t term, unsigned char *buf, size_t cap);
/* Append one entry with rlt_payload content; returns raftlog_append's result. */
int rlt_append(struct rlt *t, uint64_t group, uint64_t index, uint64_t term);
/* Read [lo, hi) and check each entry against rlt_payload(group, i, term_of[i]) where the term
 * is what raftlog_term reports; returns the number of entries verified or a negative error. */
int rlt_verify(struct rlt *t, uint64_t group, uint64_t lo, uint64_t hi);

#endif
