#!/usr/bin/python3
"""test_grpc_server_interop.py — a real gRPC client (Debian's python3-grpcio 1.51) calls OUR
server (tests/integration/grpc_test_server.c on net/grpc_server.h): every call shape, plaintext,
TLS and mTLS (accept and reject), gzip compression, deadline expiry -> DEADLINE_EXCEEDED,
oversize messages -> RESOURCE_EXHAUSTED, unknown method/service -> UNIMPLEMENTED, error status
with a percent-encoded message, cancellation, many concurrent calls, health Check and Watch,
and a clean exit on SIGTERM.

--peer python runs the same checks against py_echo_server.py instead: the self-check that the
test's expectations are those of the reference gRPC implementation.

Stubs are generated at test time (grpcinterop.stubs), certificates too (grpcinterop.certs).
Bounded: every RPC has a timeout, every server is killed at the end. Loopback only.
"""
import os
import queue
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpcinterop as gi  # noqa: E402
from grpcinterop import expect, expect_eq  # noqa: E402

import grpc  # noqa: E402

T = 10.0  # default per-RPC timeout, seconds
MIB = 1 << 20


def server_argv(a, work, mode, c):
    """argv for the server under test in mode plain|tls|mtls."""
    if a.peer == "python":
        argv = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                             "py_echo_server.py"),
                "--source-dir", a.source_dir, "--work-dir", os.path.join(work, "srv-" + mode)]
        if mode != "plain":
            argv += ["--tls", c["server_crt"], c["server_key"]]
        if mode == "mtls":
            argv += ["--client-ca", c["ca"]]
        return argv
    argv = [os.path.join(a.build_dir, "tests", "integration", "grpc_test_server")]
    if mode == "plain":
        argv += ["--listen", "127.0.0.1:0"]
    else:
        argv += ["--tls-listen", "127.0.0.1:0", "--cert", c["server_crt"], "--key",
                 c["server_key"]]
    if mode == "mtls":
        argv += ["--client-ca", c["ca"]]
    return argv


def start(a, work, mode, c):
    p = gi.Proc(server_argv(a, work, mode, c), name="server-" + mode)
    key = "tls_port=" if (a.peer == "ours" and mode != "plain") else "port="
    port = int(p.wait_for(key, timeout=60))
    return p, port


def channel(port, c=None, client_cert=None, options=()):
    opts = [("grpc.max_send_message_length", 64 * MIB)] + list(options)
    target = "127.0.0.1:%d" % port
    if c is None:
        return grpc.insecure_channel(target, options=opts)
    key = crt = None
    if client_cert:
        crt, key = gi.read(client_cert[0]), gi.read(client_cert[1])
    creds = grpc.ssl_channel_credentials(root_certificates=gi.read(c["ca"]), private_key=key,
                                         certificate_chain=crt)
    opts.append(("grpc.ssl_target_name_override", "localhost"))
    return grpc.secure_channel(target, creds, options=opts)


def code_of(fn):
    """Run fn; return the grpc.StatusCode it raised (or OK) and the exception."""
    try:
        fn()
    except grpc.RpcError as e:
        return e.code(), e
    return grpc.StatusCode.OK, None


class Suite:
    def __init__(self, pb, pbg, hpb, hpbg, ch):
        self.pb, self.pbg, self.hpb, self.hpbg = pb, pbg, hpb, hpbg
        self.ch = ch
        self.echo = pbg.EchoStub(ch)
        self.health = hpbg.HealthStub(ch)

    # ---- call shapes -------------------------------------------------------------------
    def unary(self):
        r = self.echo.Unary(self.pb.EchoRequest(payload=b"hello"), timeout=T)
        expect_eq(r.payload, b"hello", "payload")
        expect_eq(r.sequence, 0, "sequence")
        expect_eq(r.received_bytes, 5, "received_bytes")
        r = self.echo.Unary(self.pb.EchoRequest(), timeout=T)
        expect_eq(r.payload, b"", "empty payload")

    def unary_big(self):
        for n in (16383, 16384, 65537, 3 * MIB):
            r = self.echo.Unary(self.pb.EchoRequest(payload=b"x", response_bytes=n), timeout=T)
            expect_eq(len(r.payload), n, "response length")
            expect(r.payload == gi.pattern(n), "response bytes follow the pattern")
        big = os.urandom(2 * MIB)
        r = self.echo.Unary(self.pb.EchoRequest(payload=big), timeout=T)
        expect(r.payload == big, "2 MiB request echoed")

    def error_status(self):
        msg = "not here: 100% sure \u2713\nline2"
        code, e = code_of(lambda: self.echo.Unary(
            self.pb.EchoRequest(fail_code=5, fail_message=msg), timeout=T))
        expect_eq(code, grpc.StatusCode.NOT_FOUND, "status")
        expect_eq(e.details(), msg, "grpc-message round trip (percent-encoding)")
        code, e = code_of(lambda: self.echo.Unary(
            self.pb.EchoRequest(fail_code=9, fail_message=""), timeout=T))
        expect_eq(code, grpc.StatusCode.FAILED_PRECONDITION, "status")

    def server_stream(self):
        req = self.pb.ServerStreamRequest(count=200, request=self.pb.EchoRequest(payload=b"s" * 100))
        got = list(self.echo.ServerStream(req, timeout=T))
        expect_eq(len(got), 200, "responses")
        for i, r in enumerate(got):
            expect_eq(r.sequence, i, "sequence")
            expect_eq(r.payload, b"s" * 100, "payload")
        got = list(self.echo.ServerStream(self.pb.ServerStreamRequest(count=0), timeout=T))
        expect_eq(len(got), 0, "empty stream")
        # Big messages in a stream: exercises flow control on the server's send side.
        req = self.pb.ServerStreamRequest(count=8, request=self.pb.EchoRequest(
            response_bytes=MIB))
        n = 0
        for r in self.echo.ServerStream(req, timeout=T):
            expect(r.payload == gi.pattern(MIB), "big stream message")
            n += 1
        expect_eq(n, 8, "big responses")

    def client_stream(self):
        parts = [bytes([i]) * (i * 37) for i in range(60)]
        r = self.echo.ClientStream(iter([self.pb.EchoRequest(payload=p) for p in parts]),
                                   timeout=T)
        expect_eq(r.sequence, 60, "requests counted")
        expect_eq(r.received_bytes, sum(map(len, parts)), "bytes counted")
        expect(r.payload == b"".join(parts), "concatenation")
        r = self.echo.ClientStream(iter([]), timeout=T)
        expect_eq(r.sequence, 0, "empty client stream")
        code, _ = code_of(lambda: self.echo.ClientStream(iter(
            [self.pb.EchoRequest(payload=b"a"), self.pb.EchoRequest(fail_code=10)]), timeout=T))
        expect_eq(code, grpc.StatusCode.ABORTED, "fail mid client stream")

    def bidi(self):
        # True ping-pong: the next request is sent only after the previous answer arrived.
        q = queue.Queue()

        def reqs():
            for i in range(100):
                yield self.pb.EchoRequest(payload=b"p%d" % i)
                if q.get(timeout=T) is None:
                    return

        call = self.echo.BidiStream(reqs(), timeout=T)
        n = 0
        for r in call:
            expect_eq(r.payload, b"p%d" % n, "bidi payload")
            expect_eq(r.sequence, n, "bidi sequence")
            n += 1
            q.put(1)
        expect_eq(n, 100, "bidi answers")
        # Pipelined: everything sent at once.
        got = list(self.echo.BidiStream(iter([self.pb.EchoRequest(payload=b"%d" % i)
                                              for i in range(500)]), timeout=T))
        expect_eq([r.payload for r in got], [b"%d" % i for i in range(500)], "pipelined bidi")
        code, _ = code_of(lambda: list(self.echo.BidiStream(iter(
            [self.pb.EchoRequest(payload=b"a"), self.pb.EchoRequest(fail_code=7,
                                                                     fail_message="no")]),
            timeout=T)))
        expect_eq(code, grpc.StatusCode.PERMISSION_DENIED, "fail mid bidi")

    def concurrent(self):
        futs = [self.echo.Unary.future(self.pb.EchoRequest(payload=b"c%d" % i), timeout=T)
                for i in range(300)]
        for i, f in enumerate(futs):
            expect_eq(f.result().payload, b"c%d" % i, "concurrent payload")

    def cancel(self):
        call = self.echo.ServerStream(self.pb.ServerStreamRequest(
            count=1000000, request=self.pb.EchoRequest(payload=b"z" * 1000)), timeout=T)
        n = 0
        for _ in call:
            n += 1
            if n == 10:
                call.cancel()
                break
        expect_eq(call.code(), grpc.StatusCode.CANCELLED, "canceled stream")
        self.unary()  # the server still answers on the same connection

    # ---- compression ------------------------------------------------------------------
    def gzip(self):
        c = grpc.Compression.Gzip
        big = b"compressible " * 20000
        r = self.echo.Unary(self.pb.EchoRequest(payload=big), timeout=T, compression=c)
        expect(r.payload == big, "gzip unary echo")
        got = list(self.echo.BidiStream(iter([self.pb.EchoRequest(payload=b"g%d" % i * 100)
                                              for i in range(50)]), timeout=T, compression=c))
        expect_eq(len(got), 50, "gzip bidi")
        expect_eq(got[7].payload, b"g7" * 100, "gzip bidi payload")

    # ---- limits and errors ------------------------------------------------------------
    def deadline(self):
        t0 = time.monotonic()
        code, _ = code_of(lambda: self.echo.Sleep(self.pb.SleepRequest(sleep_ms=3000),
                                                  timeout=0.3))
        expect_eq(code, grpc.StatusCode.DEADLINE_EXCEEDED, "sleep past deadline")
        expect(time.monotonic() - t0 < 2.5, "deadline fired before the sleep ended")
        r = self.echo.Sleep(self.pb.SleepRequest(sleep_ms=50), timeout=T)
        expect(r.slept_ms >= 40, "sleep within deadline answered")
        # Mid-stream expiry: some messages arrive, then DEADLINE_EXCEEDED.
        n = 0
        call = self.echo.ServerStream(self.pb.ServerStreamRequest(
            count=100, interval_ms=100, request=self.pb.EchoRequest(payload=b"d")), timeout=0.5)
        code = grpc.StatusCode.OK
        try:
            for _ in call:
                n += 1
        except grpc.RpcError as e:
            code = e.code()
        expect_eq(code, grpc.StatusCode.DEADLINE_EXCEEDED, "stream past deadline")
        expect(0 < n < 100, "some stream messages before the deadline (%d)" % n)

    def oversize(self):
        code, e = code_of(lambda: self.echo.Unary(
            self.pb.EchoRequest(payload=b"\0" * (5 * MIB)), timeout=T))
        expect_eq(code, grpc.StatusCode.RESOURCE_EXHAUSTED, "5 MiB request")
        code, e = code_of(lambda: self.echo.Unary(
            self.pb.EchoRequest(response_bytes=5 * MIB), timeout=T))
        expect_eq(code, grpc.StatusCode.RESOURCE_EXHAUSTED, "5 MiB response")
        self.unary()  # the connection survives

    def unknown(self):
        for path in ("/regatta.test.v1.Echo/Nope", "/no.such.Service/Unary"):
            fn = self.ch.unary_unary(path, request_serializer=lambda x: x,
                                     response_deserializer=lambda x: x)
            code, _ = code_of(lambda: fn(b"", timeout=T))
            expect_eq(code, grpc.StatusCode.UNIMPLEMENTED, path)
        fn = self.ch.stream_stream("/regatta.test.v1.Echo/Nope",
                                   request_serializer=lambda x: x,
                                   response_deserializer=lambda x: x)
        code, _ = code_of(lambda: list(fn(iter([b"", b""]), timeout=T)))
        expect_eq(code, grpc.StatusCode.UNIMPLEMENTED, "unknown streaming method")

    def bad_protobuf(self):
        fn = self.ch.unary_unary("/regatta.test.v1.Echo/Unary", request_serializer=lambda x: x,
                                 response_deserializer=lambda x: x)
        # Field 1 (bytes) claims 100 bytes but the message ends: invalid protobuf.
        code, _ = code_of(lambda: fn(b"\x0a\x64abc", timeout=T))
        expect(code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL),
               "invalid protobuf gives a clear status, got %s" % code)
        self.unary()

    # ---- health -----------------------------------------------------------------------
    def health_check(self):
        S = self.hpb.HealthCheckResponse
        for svc in ("", "regatta.test.v1.Echo"):
            r = self.health.Check(self.hpb.HealthCheckRequest(service=svc), timeout=T)
            expect_eq(r.status, S.SERVING, "Check(%r)" % svc)
        code, _ = code_of(lambda: self.health.Check(
            self.hpb.HealthCheckRequest(service="no.such.Service"), timeout=T))
        expect_eq(code, grpc.StatusCode.NOT_FOUND, "Check(unknown)")

    def health_watch(self, server):
        S = self.hpb.HealthCheckResponse
        call = self.health.Watch(self.hpb.HealthCheckRequest(service=""), timeout=T)
        it = iter(call)
        expect_eq(next(it).status, S.SERVING, "first Watch message")
        server.p.send_signal(signal.SIGUSR1)  # the test servers flip their status on SIGUSR1
        expect_eq(next(it).status, S.NOT_SERVING, "Watch sees NOT_SERVING")
        r = self.health.Check(self.hpb.HealthCheckRequest(service=""), timeout=T)
        expect_eq(r.status, S.NOT_SERVING, "Check agrees")
        server.p.send_signal(signal.SIGUSR1)
        expect_eq(next(it).status, S.SERVING, "Watch sees SERVING again")
        call.cancel()
        call = self.health.Watch(self.hpb.HealthCheckRequest(service="no.such.Service"),
                                 timeout=T)
        expect_eq(next(iter(call)).status, S.SERVICE_UNKNOWN, "Watch(unknown)")
        call.cancel()


def tls_checks(ck, stubs, port, c, name):
    with channel(port, c) as ch:
        s = Suite(*stubs, ch)
        ck.run(name + ".unary", s.unary)
        ck.run(name + ".unary_big", s.unary_big)
        ck.run(name + ".server_stream", s.server_stream)
        ck.run(name + ".client_stream", s.client_stream)
        ck.run(name + ".bidi", s.bidi)
        ck.run(name + ".gzip", s.gzip)
        ck.run(name + ".health_check", s.health_check)


def mtls_checks(ck, stubs, port, c):
    def accepted():
        with channel(port, c, (c["client_crt"], c["client_key"])) as ch:
            s = Suite(*stubs, ch)
            s.unary()
            s.bidi()

    def rejected(cert):
        with channel(port, c, cert) as ch:
            s = Suite(*stubs, ch)
            code, _ = code_of(lambda: s.echo.Unary(stubs[0].EchoRequest(payload=b"x"),
                                                   timeout=T))
            expect_eq(code, grpc.StatusCode.UNAVAILABLE, "handshake refused")

    ck.run("mtls.accept_client_cert", accepted)
    ck.run("mtls.reject_no_cert", rejected, None)
    ck.run("mtls.reject_rogue_cert", rejected, (c["rogue_crt"], c["rogue_key"]))
    ck.run("mtls.accept_after_reject", accepted)


def main():
    a = gi.parse_args(lambda p: p.add_argument("--peer", choices=["ours", "python"],
                                               default="ours"))
    print("peer:", a.peer, "backend:", os.environ.get("REGATTA_IO_BACKEND", "auto"))
    if a.peer == "ours":
        gi.need_programs(a.build_dir, "grpc_test_server")
    wd = gi.Workdir(a.keep)
    ck = gi.Checks()
    procs = []
    try:
        stubs = gi.stubs(a.source_dir, wd.path)
        c = gi.certs(wd.path)
        plain, pport = start(a, wd.path, "plain", c)
        procs.append(plain)
        with channel(pport) as ch:
            s = Suite(*stubs, ch)
            for name in ("unary", "unary_big", "error_status", "server_stream", "client_stream",
                         "bidi", "concurrent", "cancel", "gzip", "deadline", "oversize",
                         "unknown", "bad_protobuf", "health_check"):
                ck.run("plain." + name, getattr(s, name))
            ck.run("plain.health_watch", s.health_watch, plain)
        # Channel-wide gzip (every request compressed) on a fresh connection.
        with channel(pport, options=[("grpc.default_compression_algorithm", 2)]) as ch:
            s = Suite(*stubs, ch)
            ck.run("plain.gzip_channel", s.unary)
            ck.run("plain.gzip_channel_stream", s.server_stream)
        tls, tport = start(a, wd.path, "tls", c)
        procs.append(tls)
        tls_checks(ck, stubs, tport, c, "tls")
        mtls, mport = start(a, wd.path, "mtls", c)
        procs.append(mtls)
        mtls_checks(ck, stubs, mport, c)
        for p in procs:
            ck.run("alive." + p.name, lambda: expect(p.alive(), "server still running"))
        for p in procs:
            ck.run("clean_exit." + p.name, lambda: expect_eq(p.stop(), 0, "exit code on SIGTERM"))
    finally:
        for p in procs:
            p.stop()
        wd.close()
    return ck.finish()


if __name__ == "__main__":
    sys.exit(main())
