#!/usr/bin/python3
"""py_echo_server.py — the regatta.test.v1.Echo service and grpc.health.v1.Health on
python3-grpcio: the reference peer our C client is tested against (test_grpc_client_interop.py),
and the self-check of the python client tests (test_grpc_server_interop.py --peer python).

Same rules as proto/test/v1/echo.proto and our C grpc_test_server. Prints "port=<n>" once
listening (bind port 0 by default). SIGUSR1 flips the health status of "" and
"regatta.test.v1.Echo" between SERVING and NOT_SERVING (Watch streams see the change); SIGTERM
stops the server. Loopback only.

usage: py_echo_server.py --source-dir S [--port 0] [--tls CERT KEY] [--client-ca CA]
                         [--compression gzip|none] [--max-recv BYTES]
"""
import argparse
import os
import signal
import sys
import threading
import time
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpcinterop  # noqa: E402

import grpc  # noqa: E402

ECHO_SERVICE = "regatta.test.v1.Echo"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--work-dir", required=True, help="where to generate stubs")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--client-ca", help="require client certificates signed by this CA (mTLS)")
    ap.add_argument("--compression", choices=["gzip", "none"], default="none")
    ap.add_argument("--max-recv", type=int, default=4 << 20)
    a = ap.parse_args()

    echo_pb2, echo_pb2_grpc, health_pb2, health_pb2_grpc = grpcinterop.stubs(a.source_dir,
                                                                           a.work_dir)

    def answer(req, seq):
        if req.response_bytes:
            payload = grpcinterop.pattern(req.response_bytes)
        else:
            payload = req.payload
        return echo_pb2.EchoResponse(payload=payload, sequence=seq,
                                     received_bytes=len(req.payload))

    def fail(ctx, req):
        ctx.abort(_code(req.fail_code), req.fail_message)

    class Echo(echo_pb2_grpc.EchoServicer):
        def Unary(self, req, ctx):
            if req.fail_code:
                fail(ctx, req)
            return answer(req, 0)

        def ServerStream(self, req, ctx):
            if req.request.fail_code:
                fail(ctx, req.request)
            for i in range(req.count):
                if i and req.interval_ms:
                    time.sleep(req.interval_ms / 1000.0)
                if not ctx.is_active():
                    return
                yield answer(req.request, i)

        def ClientStream(self, it, ctx):
            n = 0
            total = 0
            parts = []
            for req in it:
                if req.fail_code:
                    fail(ctx, req)
                n += 1
                total += len(req.payload)
                parts.append(req.payload)
            return echo_pb2.EchoResponse(payload=b"".join(parts), sequence=n,
                                         received_bytes=total)

        def BidiStream(self, it, ctx):
            for i, req in enumerate(it):
                if req.fail_code:
                    fail(ctx, req)
                yield answer(req, i)

        def Sleep(self, req, ctx):
            t0 = time.monotonic()
            end = t0 + req.sleep_ms / 1000.0
            while time.monotonic() < end and ctx.is_active():
                time.sleep(min(0.01, max(0.0, end - time.monotonic())))
            return echo_pb2.SleepResponse(slept_ms=int((time.monotonic() - t0) * 1000))

    serving = {"status": health_pb2.HealthCheckResponse.SERVING}
    cond = threading.Condition()
    known = ("", ECHO_SERVICE)

    class Health(health_pb2_grpc.HealthServicer):
        def Check(self, req, ctx):
            if req.service not in known:
                ctx.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
            with cond:
                return health_pb2.HealthCheckResponse(status=serving["status"])

        def Watch(self, req, ctx):
            last = None
            while ctx.is_active():
                with cond:
                    if req.service not in known:
                        cur = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
                    else:
                        cur = serving["status"]
                    if cur == last:
                        cond.wait(timeout=0.1)
                        continue
                last = cur
                yield health_pb2.HealthCheckResponse(status=cur)

    def flip(signum, frame):
        with cond:
            s = serving["status"]
            serving["status"] = (health_pb2.HealthCheckResponse.NOT_SERVING
                                 if s == health_pb2.HealthCheckResponse.SERVING
                                 else health_pb2.HealthCheckResponse.SERVING)
            cond.notify_all()
        print("health=%d" % serving["status"], flush=True)

    comp = grpc.Compression.Gzip if a.compression == "gzip" else grpc.Compression.NoCompression
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), compression=comp,
                         options=[("grpc.max_receive_message_length", a.max_recv),
                                  ("grpc.max_send_message_length", 64 << 20)])
    echo_pb2_grpc.add_EchoServicer_to_server(Echo(), server)
    health_pb2_grpc.add_HealthServicer_to_server(Health(), server)
    addr = "127.0.0.1:%d" % a.port
    if a.tls:
        ca = grpcinterop.read(a.client_ca) if a.client_ca else None
        creds = grpc.ssl_server_credentials(
            [(grpcinterop.read(a.tls[1]), grpcinterop.read(a.tls[0]))],
            root_certificates=ca, require_client_auth=bool(ca))
        port = server.add_secure_port(addr, creds)
    else:
        port = server.add_insecure_port(addr)
    if port == 0:
        print("bind failed", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGUSR1, flip)
    signal.signal(signal.SIGTERM, lambda s, f: stop.set())
    signal.signal(signal.SIGINT, lambda s, f: stop.set())
    server.start()
    print("port=%d" % port, flush=True)
    # Bounded: a forgotten server exits by itself after 10 minutes.
    stop.wait(timeout=600)
    server.stop(grace=1).wait(timeout=5)
    return 0


def _code(n):
    for c in grpc.StatusCode:
        if c.value[0] == n:
            return c
    return grpc.StatusCode.UNKNOWN


if __name__ == "__main__":
    sys.exit(main())
