/*
 * echo_service.h — regatta.test.v1.Echo (proto/test/v1/echo.proto) on our gRPC server
 * (net/grpc_server.h), for the interop tests and the gRPC benchmark. (grpc.health.v1 comes from
 * net/grpc_health.h.)
 *
 * The rules of every method are in echo.proto; py_echo_server.py and bench/grpc_cpp follow the
 * same ones, so all peers answer the same bytes.
 *
 * Per-core state (struct echo_core) holds the reactor for timers (Sleep, ServerStream
 * intervals). Each core registers the methods on its own grpc_server with its echo_core as the
 * method ctx (net/grpc_health.h keeps per-core state, so servers are per core).
 *
 * Invariants: every call a handler owns is finished exactly once (live_calls counts the owned
 * ones, so a core can wait for zero before it stops); a call's state lives in its arena, and the
 * malloc'd buffers inside it are freed before grpc_call_finish; a timer armed for a call is
 * always completed (fired or canceled) before the call is finished.
 */
#ifndef TESTS_INTEGRATION_ECHO_SERVICE_H
#define TESTS_INTEGRATION_ECHO_SERVICE_H

#include "core/err.h"
#include "core/reactor.h"
#include "net/grpc_server.h"

#include <stddef.h>
#include <stdint.h>

struct echo_call;

struct echo_core {
	struct reactor *r;
	size_t live_calls; /* calls owned by handlers and not yet finished */
};

void echo_core_init(struct echo_core *ec, struct reactor *r);

/* Register Echo's five methods on s, served with `core` (which must outlive s). */
int echo_service_register(struct grpc_server *s, struct echo_core *core) WUR;

/* Byte i of a response_bytes payload. */
static inline uint8_t echo_pattern_byte(size_t i) { return (uint8_t)(i % 251u); }

#endif
