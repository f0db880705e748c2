/*
 * err.h — the one project-wide error enum.
 *
 * Functions that can fail return int: 0 on success, a negative ERR_* code on failure.
 * Kernel errors (-errno) are mapped once, at the I/O boundary, with err_from_errno().
 * Operating errors (network, disk, client input) are returned and reported; broken
 * invariants are programmer errors and are asserted instead (see core/assert.h).
 */
#ifndef CORE_ERR_H
#define CORE_ERR_H

#define WUR __attribute__((warn_unused_result))

enum err_code {
	ERR_OK = 0,
	ERR_NOMEM = -1,       /* an allocation or a bounded pool is exhausted */
	ERR_INVAL = -2,       /* bad argument or bad input from a client */
	ERR_IO = -3,          /* the disk or the kernel failed an I/O */
	ERR_CORRUPT = -4,     /* checksum, magic or format mismatch in stored data */
	ERR_NOTFOUND = -5,    /* no such key, file, table, ... */
	ERR_EXISTS = -6,      /* already exists */
	ERR_AGAIN = -7,       /* try again later (would block, backpressure) */
	ERR_BUSY = -8,        /* resource busy / limit of concurrent work reached */
	ERR_TIMEOUT = -9,     /* deadline passed */
	ERR_CANCELED = -10,   /* operation canceled */
	ERR_CLOSED = -11,     /* peer or object closed / shutting down */
	ERR_PROTO = -12,      /* protocol violation by a peer */
	ERR_TOOBIG = -13,     /* a size limit was exceeded */
	ERR_NOTLEADER = -14,  /* Raft: this node is not the leader of the group */
	ERR_UNSUPPORTED = -15,/* the operation is not supported here (e.g. io_uring refused) */
	ERR_RANGE = -16,      /* index or value out of range (e.g. compacted log index) */
	ERR_CONN = -17,       /* connection refused / reset / unreachable */
	ERR_PERM = -18,       /* permission denied / bad token */
	ERR_STOPPED = -19,    /* the component was stopped */
	ERR_NOSPC = -20,      /* disk full */
	ERR_CODE_MIN = -20,
};

/* Human-readable text of an ERR_* code (never NULL; unknown codes give "unknown error"). */
const char *err_str(int code);

/* Map a positive or negative errno to an ERR_* code. */
int err_from_errno(int e) WUR;

#endif
