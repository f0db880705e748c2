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
/* What the LSM accepts: a client's key and value plus what the table layer adds (server/kv: a
 * one-byte key prefix; a value header of at most 31 bytes with the revisions and version). */
#define LIMIT_LSM_KEY_BYTES (LIMIT_KEY_BYTES + 16)
#define LIMIT_LSM_VALUE_BYTES (LIMIT_VALUE_BYTES + 64)
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
#define LIMIT_H2_PING_BURST 100               /* pings tolerated while we send nothing (keepalive every
                                                 10 s never gets near; a flood does) */
#define LIMIT_H2_PING_PER_SEC 10              /* ping tokens refilled per second */
#define LIMIT_H2_RESET_BURST 1000             /* RST_STREAM tokens (rapid reset, CVE-2023-44487) */
#define LIMIT_H2_RESET_PER_SEC 33             /* ... refilled per second (nghttp2's defaults) */
#define LIMIT_GRPC_CALL_SEND_QUEUE_BYTES (1u << 20) /* per-call queued output before a send says
                                                 ERR_AGAIN (one message always fits below it) */
#define LIMIT_GRPC_MD_ENTRIES 32              /* response headers/trailers a handler may add */
#define LIMIT_GRPC_CLIENT_CALLS 16384         /* calls in flight on one client connection (bench) */
#define LIMIT_GRPC_CALL_ARENA_CHUNK_BYTES 4096 /* first arena chunk of a call: most requests fit */
#define LIMIT_NET_RECV_BYTES (64u << 10)      /* per-connection socket read size */
#define LIMIT_NET_SEND_BYTES_IN_FLIGHT (1u << 20) /* per-connection bytes handed to the kernel at once */
#define LIMIT_NET_SHUTDOWN_GRACE_MS 5000      /* graceful drain before connections are cut */
#define LIMIT_NET_CONNECT_TIMEOUT_MS 10000    /* client connect + TLS handshake */

/* ---- storage ------------------------------------------------------------------------------- */
#define LIMIT_PATH_BYTES 4096
#define LIMIT_LSM_PATH_BYTES (LIMIT_PATH_BYTES + 128) /* an LSM tree dir (< LIMIT_PATH_BYTES) + a file name */
#define LIMIT_LSM_BATCH_BYTES (64u << 20)     /* one LSM write batch: a Raft apply of many entries */
#define LIMIT_LSM_MEMTABLES_MAX 16           /* active + immutable memtables per tree */
#define LIMIT_LSM_BLOCK_BYTES (16u << 20)    /* one stored block: a 2 MiB value + key fits many times */
#define LIMIT_LSM_MANIFEST_BYTES (64u << 20) /* manifest file size before it is rewritten */
#define LIMIT_LSM_RANGE_TOMBSTONES_PER_TABLE 1000000 /* held in memory per open table */

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

/* ---- server ------------------------------------------------------------------------------- */
#define LIMIT_TXN_OPS 128                  /* compares + ops in one Txn (etcd's --max-txn-ops default) */
/* server/engine (the per-core engine) */
#define LIMIT_ENGINE_PENDING_PER_CORE 16384 /* proposals + reads waiting on one core; a full table is
					     * backpressure (ERR_BUSY); slot numbers fit 16 bits */
#define LIMIT_ENGINE_STEP_ARENA_BYTES (64u << 20) /* entries and snapshot chunks read from disk for one
					     * Raft step (catch-up, snapshots); beyond: retried later */
#define LIMIT_ENGINE_APPEND_CHUNK_BYTES (1u << 20) /* entry bytes per raftlog_append, so a full group
					     * commit batch holds back only the rest */
#define LIMIT_ENGINE_TURN_ROUNDS 8          /* flush/report rounds per sync turn before frames go out */
#define LIMIT_ENGINE_CONF_SCAN_BYTES (256u << 20) /* log bytes read at restart looking for membership
					     * entries after the snapshot (bounded by snapshot_log_bytes) */

/* server/rest (the REST port: /healthz, /readyz, /metrics; served by core 0 only) */
#define LIMIT_REST_CONNECTIONS 256          /* open REST connections: probes, Prometheus, curl; over
					     * it a new socket is closed at once */
#define LIMIT_REST_URL_BYTES 2048           /* request target; our paths are short (414 beyond) */
#define LIMIT_REST_HEAD_BYTES (16u << 10)   /* request target + header names and values (431 beyond) */
#define LIMIT_REST_HEADERS 64               /* header fields in one request (431 beyond) */
#define LIMIT_REST_BODY_BYTES 4096          /* GET/HEAD bodies are read and ignored; more is 413 */
#define LIMIT_REST_RECV_BYTES (16u << 10)   /* per-connection read buffer (pipelined bytes wait here) */
#define LIMIT_REST_REQUEST_TIMEOUT_MS 10000 /* a started request must arrive in full (slow senders) */
#define LIMIT_REST_IDLE_TIMEOUT_MS 120000   /* keep-alive with no request: above common scrape periods */
#define LIMIT_REST_SEND_TIMEOUT_MS 30000    /* a response must be taken by the reader within this */
#define LIMIT_REST_GATHER_TIMEOUT_MS 2000   /* every core must answer the walk: else 503 naming it */
#define LIMIT_REST_GATHERS_MAX 16           /* walks over the cores in flight; each carries ~120 bytes
					     * per replica (1.2 MiB at LIMIT_TABLES_MAX): beyond, 503 */
#define LIMIT_REST_RESPONSE_BYTES (64u << 20) /* /metrics text: ~1 KiB per table at LIMIT_TABLES_MAX
					     * tables is 10 MiB; beyond is a bug (500) */
_Static_assert(LIMIT_REST_URL_BYTES <= LIMIT_REST_HEAD_BYTES, "the target is counted in the head");
_Static_assert(LIMIT_REST_HEAD_BYTES <= (80u << 10), "within http_parser's own header limit (80 KiB)");

/* ---- storage: raft log (storage/raftlog) --------------------------------------------------- */
#define LIMIT_RAFTLOG_SEGMENT_BYTES (64u << 20) /* roll size: rolls (create + dir fsync) stay rare,
						   retention frees space in 64 MiB steps */
#define LIMIT_RAFTLOG_ENTRY_BYTES LIMIT_MESSAGE_BYTES /* one entry carries at most one message */
#define LIMIT_RAFTLOG_BATCH_BYTES (8u << 20)   /* one group commit's write; beyond: ERR_AGAIN */
#define LIMIT_RAFTLOG_CACHE_BATCHES 4          /* batch buffers kept: collecting, in flight, and
						  recent ones serving reads (worst case 32 MiB) */
#define LIMIT_RAFTLOG_GROUPS_PER_CORE (LIMIT_TABLES_MAX + 64) /* every table on one core + meta */
#define LIMIT_RAFTLOG_SEGMENTS_MAX 65536       /* live segments per core: 4 TiB at 64 MiB */
#define LIMIT_RAFTLOG_READ_WINDOW_BYTES (256u << 10) /* read-ahead for catch-up reads from disk */
#define LIMIT_RAFTLOG_READ_FILES 8              /* open read handles on older segments (LRU) */
_Static_assert(LIMIT_RAFTLOG_ENTRY_BYTES + 64 <= LIMIT_RAFTLOG_BATCH_BYTES,
	       "a max-size raft log record fits in one batch");
_Static_assert((unsigned long long)LIMIT_RAFTLOG_SEGMENT_BYTES + LIMIT_RAFTLOG_BATCH_BYTES < (1ull << 32),
	       "raft log offsets are 32-bit: a segment plus one overflowing batch fits");
_Static_assert(LIMIT_RAFT_ENTRY_BYTES <= LIMIT_RAFTLOG_ENTRY_BYTES, "every Raft entry fits in a log record");

/* ---- relations ----------------------------------------------------------------------------- */
_Static_assert(LIMIT_RAFT_ENTRY_BYTES < LIMIT_RAFT_FRAME_BYTES, "a max-size entry must fit in a raft frame");
_Static_assert(LIMIT_RAFT_SNAPSHOT_CHUNK_BYTES < LIMIT_RAFT_FRAME_BYTES, "a snapshot chunk must fit in a frame");
_Static_assert(LIMIT_RAFT_INFLIGHT_MAX <= LIMIT_RAFT_CACHE_ENTRIES_MAX, "window within the tail");
_Static_assert(LIMIT_VALUE_BYTES + LIMIT_KEY_BYTES < LIMIT_MESSAGE_BYTES,
	       "a max-size Put must fit in one message");
_Static_assert(LIMIT_LSM_VALUE_BYTES + LIMIT_LSM_KEY_BYTES + 64 < LIMIT_LSM_BLOCK_BYTES,
	       "a max-size entry must fit in one LSM block");
_Static_assert(LIMIT_MESSAGE_BYTES < LIMIT_LSM_BATCH_BYTES, "a max-size request fits in one batch");
_Static_assert(LIMIT_RESPONSE_BYTES <= LIMIT_MESSAGE_BYTES, "a response must fit in a message");
_Static_assert(LIMIT_H2_STREAM_WINDOW_BYTES <= 0x7fffffffu && LIMIT_H2_CONN_WINDOW_BYTES <= 0x7fffffffu,
	       "HTTP/2 windows are 31-bit");
_Static_assert(LIMIT_H2_CONN_WINDOW_BYTES >= LIMIT_H2_STREAM_WINDOW_BYTES,
	       "one stream must be able to use its whole window");
_Static_assert(LIMIT_H2_MAX_FRAME_BYTES >= (16u << 10) && LIMIT_H2_MAX_FRAME_BYTES < (16u << 20),
	       "SETTINGS_MAX_FRAME_SIZE range (RFC 9113)");
_Static_assert((LIMIT_MAILBOX_SLOTS & (LIMIT_MAILBOX_SLOTS - 1)) == 0, "mailbox rings index by mask");
_Static_assert(LIMIT_MAILBOX_DRAIN_PER_TURN <= LIMIT_MAILBOX_SLOTS, "a drain never exceeds one mailbox");
_Static_assert(LIMIT_IOWQ_WORKERS >= 1 && LIMIT_BLOCKING_POOL_THREADS >= 1, "file I/O needs a worker");
_Static_assert(LIMIT_RAFTLOG_ENTRY_BYTES + 64 <= LIMIT_RAFTLOG_BATCH_BYTES,
	       "a max-size raft log record fits in one batch");
_Static_assert((unsigned long long)LIMIT_RAFTLOG_SEGMENT_BYTES + LIMIT_RAFTLOG_BATCH_BYTES < (1ull << 32),
	       "raft log offsets are 32-bit: a segment plus one overflowing batch fits");

_Static_assert(LIMIT_ENGINE_PENDING_PER_CORE <= 65536, "engine request ids carry the slot in 16 bits");

#endif
