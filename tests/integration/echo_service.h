/*
 * echo_service.h — regatta.test.v1.Echo (proto/test/v1/echo.proto) and grpc.health.v1.Health on
 * our gRPC server (net/grpc_server.h), for the interop tests and the gRPC benchmark.
 *
 * The rules of every method are in echo.proto; py_echo_server.py and bench/grpc_cpp follow the
 * same ones, so all peers answer the same bytes.
 *
 * Per-core state (struct echo_core) holds the reactor for timers (Sleep, ServerStream
 * intervals), the health status and the open Watch streams. The grpc_server and its method
 * table are shared by all cores; a handler finds its core with the `core_of` function given at
 * registration (the test server returns the runtime's current core).
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
	int health_status;           /* grpc.health.v1 ServingStatus of "" and the Echo service */
	struct echo_call *watchers;  /* open Health.Watch streams on this core */
	size_t live_calls;           /* calls owned by handlers and not yet finished */
	int draining;                /* shutdown started: Watch streams end, new ones end at once */
};

typedef struct echo_core *(*echo_core_of_fn)(void);

void echo_core_init(struct echo_core *ec, struct reactor *r);
/* Set the health status (ServingStatus number) and tell every watcher of a known service. */
void echo_core_set_health(struct echo_core *ec, int status);
/* Begin shutdown: NOT_SERVING to watchers, then finish their streams with OK. */
void echo_core_drain(struct echo_core *ec);

/* Register Echo's five methods and Health's two. */
int echo_service_register(struct grpc_server *s, echo_core_of_fn core_of) WUR;

/* Byte i of a response_bytes payload. */
static inline uint8_t echo_pattern_byte(size_t i) { return (uint8_t)(i % 251u); }

#endif
