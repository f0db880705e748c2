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

/* ---- raft ---------------------------------------------------------------------------------- */
#define LIMIT_RAFT_VOTERS_MAX 9            /* 3 or 5 in practice; 9 survives 4 failures */
#define LIMIT_RAFT_LEARNERS_MAX 8          /* non-voting members being caught up */
#define LIMIT_RAFT_MEMBERS_MAX (LIMIT_RAFT_VOTERS_MAX + LIMIT_RAFT_LEARNERS_MAX) /* progress slots */
#define LIMIT_RAFT_CONF_HISTORY 4          /* configs kept: committed base + uncommitted (single-server
					    * changes leave at most one uncommitted per log) */
#define LIMIT_RAFT_INFLIGHT_MAX 256        /* MsgApp in flight per follower (pipelining window) */
#define LIMIT_RAFT_MSG_ENTRIES_MAX 256     /* entries in one MsgApp / MsgProp */
#define LIMIT_RAFT_ENTRY_BYTES (LIMIT_VALUE_BYTES + LIMIT_KEY_BYTES + (64u << 10)) /* one Put/Txn
					    * command plus framing */
#define LIMIT_RAFT_CACHE_ENTRIES_MAX 65536 /* in-memory log tail capacity per group */
#define LIMIT_RAFT_READS_PENDING 64        /* ReadIndex requests waiting per group (leader side) */
#define LIMIT_RAFT_HELD_MSGS 32            /* replies waiting for fsync per group */
#define LIMIT_RAFT_PERSIST_PENDING 64      /* updates handed out for persisting, not yet reported */
#define LIMIT_RAFT_SNAPSHOT_CHUNK_BYTES (1u << 20) /* one chunk of a snapshot transfer */
#define LIMIT_RAFT_SNAPSHOT_CHUNKS_INFLIGHT 4 /* chunks sent but not acknowledged */
#define LIMIT_RAFT_APPLY_BATCH 1024        /* committed entries handed out per update */
#define LIMIT_RAFT_GROUPS_PER_CORE 16384   /* groups one core's raft_multi serves */
#define LIMIT_RAFT_NODES_MAX 64            /* distinct peer nodes one core talks to */
#define LIMIT_RAFT_FRAME_BYTES (LIMIT_MESSAGE_BYTES + (64u << 10)) /* one encoded batch frame: one
					    * max-size MsgApp plus coalesced heartbeats */
#define LIMIT_RAFT_FRAME_MSGS 4096         /* records in one batch frame (receiver decodes into
					    * arrays of this size) */
#define LIMIT_RAFT_FRAME_ENTRIES 16384     /* entries in one batch frame */

/* ---- relations ----------------------------------------------------------------------------- */
_Static_assert(LIMIT_RAFT_ENTRY_BYTES < LIMIT_RAFT_FRAME_BYTES, "a max-size entry must fit in a raft frame");
_Static_assert(LIMIT_RAFT_SNAPSHOT_CHUNK_BYTES < LIMIT_RAFT_FRAME_BYTES, "a snapshot chunk must fit in a frame");
_Static_assert(LIMIT_RAFT_INFLIGHT_MAX <= LIMIT_RAFT_CACHE_ENTRIES_MAX, "window within the tail");
_Static_assert(LIMIT_VALUE_BYTES + LIMIT_KEY_BYTES < LIMIT_MESSAGE_BYTES,
	       "a max-size Put must fit in one message");
_Static_assert(LIMIT_RESPONSE_BYTES <= LIMIT_MESSAGE_BYTES, "a response must fit in a message");
_Static_assert((LIMIT_MAILBOX_SLOTS & (LIMIT_MAILBOX_SLOTS - 1)) == 0, "mailbox rings index by mask");
_Static_assert(LIMIT_MAILBOX_DRAIN_PER_TURN <= LIMIT_MAILBOX_SLOTS, "a drain never exceeds one mailbox");
_Static_assert(LIMIT_IOWQ_WORKERS >= 1 && LIMIT_BLOCKING_POOL_THREADS >= 1, "file I/O needs a worker");

#endif
