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

/* ---- raft ---------------------------------------------------------------------------------- */

/* ---- relations ----------------------------------------------------------------------------- */
_Static_assert(LIMIT_VALUE_BYTES + LIMIT_KEY_BYTES < LIMIT_MESSAGE_BYTES,
	       "a max-size Put must fit in one message");
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

#endif
