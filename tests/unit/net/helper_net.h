/* helper_net.h — in-memory harness: a gRPC server connection and a client connection wired
 * back to back through buffers (no sockets), a fake clock, and a test service. */
#ifndef TEST_HELPER_NET_H
#define TEST_HELPER_NET_H

#include "net/grpc_client.h"
#include "net/grpc_server.h"

#include <stdint.h>

struct fake_clock {
	uint64_t now_ns;
};
uint64_t fake_clock_ns(void *ctx);

/* Test service state (one per test). */
struct svc {
	struct grpc_call *held[64]; /* calls kept by the async/hang handlers */
	int nheld;
	int cancels;
	int last_cancel_status;
	int starts;
	int finish_rc_after_cancel;
	char last_auth[128];
	uint64_t stream_sent;
	uint64_t stream_total;
	size_t stream_size;
	int writable_calls;
};

/* Registers /test.Echo/{Unary,ServerStream,ClientStream,Bidi,Hang,Async}. */
void svc_register(struct grpc_server *s, struct svc *svc);

struct pair {
	struct fake_clock clock;
	struct grpc_server *srv;
	struct grpc_server_conn *sc;
	struct grpc_client_conn *cc;
	struct net_buf c2s, s2c;
	int output_signals;
	int server_err, client_err;
};

/* Called by pair_init after the test service is registered, before the connection exists. */
extern void (*pair_register_hook)(struct grpc_server *s, void *ctx);
extern void *pair_register_ctx;

void pair_init(struct pair *p, const struct grpc_server_config *scfg, const struct grpc_client_config *ccfg,
	       struct svc *svc);
void pair_deinit(struct pair *p);
/* Move bytes both ways until quiet (bounded). Returns the number of rounds. */
int pair_pump(struct pair *p);
/* Advance the fake clock and tick both sides. */
void pair_advance(struct pair *p, uint64_t ns);

/* Client-side call result collector. */
struct result {
	int done;
	int status;
	char message[256];
	int nmsgs;
	uint64_t bytes;
	uint8_t last[256];
	size_t last_len;
	int headers;
	char trailer_x[64];
};
extern const struct grpc_client_call_ops result_ops;

#endif
