/*
 * limits.h — every queue, pool, buffer and batch maximum in the system, with the reason.
 *
 * One header so that the relations between limits can be checked at compile time (bottom).
 * Layers add their own section; keep the reason next to each number.
 */
#ifndef CORE_LIMITS_H
#define CORE_LIMITS_H

/* ---- process / runtime ------------------------------------------------------------------- */
#define LIMIT_CORES_MAX 64                 /* reactor threads per process */
#define LIMIT_RING_ENTRIES 1024            /* io_uring SQ size per core */
#define LIMIT_COMPLETIONS_PER_TURN 4096    /* callbacks run per reactor turn before I/O is polled again */
#define LIMIT_MAILBOX_SLOTS 4096           /* messages in flight from one core to another */
#define LIMIT_TIMERS_PER_CORE 65536        /* armed timers per core */
#define LIMIT_BLOCKING_POOL_THREADS 4      /* fallback backend: threads doing blocking file I/O */
#define LIMIT_IOWQ_WORKERS 2               /* io_uring io-wq bound workers per ring (fsync runs there) */
#define LIMIT_TURN_HOOKS 32                /* turn-end hooks per reactor (group commit, output flush) */
#define LIMIT_MAILBOX_DRAIN_PER_TURN 1024  /* mailbox messages a core runs per turn, so I/O keeps flowing */
#define LIMIT_EPOLL_EVENTS 256             /* fallback backend: readiness events taken per epoll_wait */
#define LIMIT_IO_BYTES_MAX 0x7ffff000u     /* one read/write/send/recv: Linux's MAX_RW_COUNT */

/* ---- API / messages (Regatta's limits) ----------------------------------------------------- */
#define LIMIT_KEY_BYTES 1024               /* Regatta: keys up to 1 KiB */
#define LIMIT_VALUE_BYTES (2u << 20)       /* Regatta: values up to 2 MiB */
#define LIMIT_MESSAGE_BYTES (4u << 20)     /* default max gRPC message (configurable) */
#define LIMIT_RESPONSE_BYTES (4u << 20)    /* Range responses are cut here with more=true */
#define LIMIT_PROTO_DEPTH 64               /* protobuf nesting depth (google.protobuf.Struct recurses) */
#define LIMIT_REQUEST_ARENA_BYTES (16u << 20) /* per-request decode arena cap */
#define LIMIT_TABLE_NAME_BYTES 256
#define LIMIT_TABLES_MAX 10000

/* ---- HTTP/2 + gRPC ------------------------------------------------------------------------- */
#define LIMIT_H2_MAX_CONCURRENT_STREAMS 1024
#define LIMIT_H2_MAX_HEADER_LIST_BYTES (16u << 10)
#define LIMIT_H2_MAX_FRAME_BYTES (16u << 10)  /* SETTINGS_MAX_FRAME_SIZE we advertise */
#define LIMIT_H2_STREAM_WINDOW_BYTES (8u << 20)
#define LIMIT_H2_CONN_WINDOW_BYTES (64u << 20)
#define LIMIT_CONNECTIONS_PER_CORE 16384

/* ---- storage ------------------------------------------------------------------------------- */
#define LIMIT_PATH_BYTES 4096
#define LIMIT_LSM_PATH_BYTES (LIMIT_PATH_BYTES + 128) /* an LSM tree dir (< LIMIT_PATH_BYTES) + a file name */
#define LIMIT_LSM_BATCH_BYTES (64u << 20)     /* one LSM write batch: a Raft apply of many entries */
#define LIMIT_LSM_MEMTABLES_MAX 16           /* active + immutable memtables per tree */
#define LIMIT_LSM_BLOCK_BYTES (16u << 20)    /* one stored block: a 2 MiB value + key fits many times */
#define LIMIT_LSM_MANIFEST_BYTES (64u << 20) /* manifest file size before it is rewritten */
#define LIMIT_LSM_RANGE_TOMBSTONES_PER_TABLE 1000000 /* held in memory per open table */

/* ---- raft ---------------------------------------------------------------------------------- */

/* ---- relations ----------------------------------------------------------------------------- */
_Static_assert(LIMIT_VALUE_BYTES + LIMIT_KEY_BYTES < LIMIT_MESSAGE_BYTES,
	       "a max-size Put must fit in one message");
_Static_assert(LIMIT_VALUE_BYTES + LIMIT_KEY_BYTES + 64 < LIMIT_LSM_BLOCK_BYTES,
	       "a max-size entry must fit in one LSM block");
_Static_assert(LIMIT_MESSAGE_BYTES < LIMIT_LSM_BATCH_BYTES, "a max-size request fits in one batch");
_Static_assert(LIMIT_RESPONSE_BYTES <= LIMIT_MESSAGE_BYTES, "a response must fit in a message");
_Static_assert((LIMIT_MAILBOX_SLOTS & (LIMIT_MAILBOX_SLOTS - 1)) == 0, "mailbox rings index by mask");
_Static_assert(LIMIT_MAILBOX_DRAIN_PER_TURN <= LIMIT_MAILBOX_SLOTS, "a drain never exceeds one mailbox");
_Static_assert(LIMIT_IOWQ_WORKERS >= 1 && LIMIT_BLOCKING_POOL_THREADS >= 1, "file I/O needs a worker");

#endif
