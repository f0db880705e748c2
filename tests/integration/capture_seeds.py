#!/usr/bin/python3
"""capture_seeds.py — record real HTTP/2 + gRPC exchanges on loopback as fuzz seeds (not a test;
run by hand when the seeds should be refreshed, then commit the files).

A recording TCP proxy sits between a client and a server and writes each connection's two byte
streams. Produced:
  tests/fuzz/corpus/h2_server_raw/<name>  whole client stream (preface included)
  tests/fuzz/corpus/h2_server/<name>      0x00 control byte + client stream after the preface
  tests/fuzz/corpus/h2_client/<name>      0x00 control byte + server stream answering the four
                                          calls fuzz_h2_client.c starts (streams 1, 3, 5, 7)
Clients: python3-grpcio (every call shape, gzip, deadline, cancel, unknown method, health) and
our grpc_test_client when built. Servers: py_echo_server.py, and our grpc_test_server when built.
The client-side seeds come from a raw python3-h2 client that opens exactly the four calls of
fuzz_h2_client.c, so the stream ids in the recorded answers match.

usage: capture_seeds.py --build-dir B --source-dir S
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpcinterop as gi  # noqa: E402
import rawgrpc  # noqa: E402

import grpc  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_SEED = 64 << 10


class Recorder:
    """A loopback TCP proxy; records (client_bytes, server_bytes) per connection."""

    def __init__(self, upstream_port):
        self.up = upstream_port
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.up))
            rec = [bytearray(), bytearray()]
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._pipe, args=(c, u, rec[0]), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, rec[1]), daemon=True).start()

    @staticmethod
    def _pipe(a, b, buf):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                buf += d
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def take(self):
        time.sleep(0.3)
        with self.lock:
            out, self.conns = self.conns, []
        return [(bytes(c), bytes(s)) for c, s in out]

    def close(self):
        self.ls.close()


def grpc_session(pb, pbg, hpb, hpbg, port, compression=None):
    """A short python3-grpcio session touching every call shape (one connection)."""
    opts = [("grpc.default_compression_algorithm", 2)] if compression else []
    with grpc.insecure_channel("127.0.0.1:%d" % port, options=opts) as ch:
        e = pbg.EchoStub(ch)
        e.Unary(pb.EchoRequest(payload=b"hello"), timeout=5)
        e.Unary(pb.EchoRequest(payload=b"x" * 300, response_bytes=40), timeout=5)
        list(e.ServerStream(pb.ServerStreamRequest(count=3, request=pb.EchoRequest(
            payload=b"s")), timeout=5))
        e.ClientStream(iter([pb.EchoRequest(payload=b"a"), pb.EchoRequest(payload=b"b")]),
                       timeout=5)
        list(e.BidiStream(iter([pb.EchoRequest(payload=b"%d" % i) for i in range(3)]),
                          timeout=5))
        try:
            e.Sleep(pb.SleepRequest(sleep_ms=2000), timeout=0.1)
        except grpc.RpcError:
            pass
        try:
            e.Unary(pb.EchoRequest(fail_code=5, fail_message="nope %"), timeout=5)
        except grpc.RpcError:
            pass
        try:
            ch.unary_unary("/regatta.test.v1.Echo/Nope", request_serializer=lambda x: x,
                           response_deserializer=lambda x: x)(b"", timeout=5)
        except grpc.RpcError:
            pass
        h = hpbg.HealthStub(ch)
        h.Check(hpb.HealthCheckRequest(service=""), timeout=5)
        call = h.Watch(hpb.HealthCheckRequest(service=""), timeout=5)
        next(iter(call))
        call.cancel()
        call = e.ServerStream(pb.ServerStreamRequest(count=1000, request=pb.EchoRequest(
            payload=b"z" * 10)), timeout=5)
        for i, _ in enumerate(call):
            if i == 2:
                call.cancel()
                break


def seedcalls_raw(pb, port):
    """The four calls of fuzz_h2_client.c, opened at once on a raw h2 connection."""
    c = rawgrpc.Conn(port)
    try:
        bodies = [
            ("/regatta.test.v1.Echo/Unary", rawgrpc.frame(pb.EchoRequest(payload=b"seed")
                                                          .SerializeToString())),
            ("/regatta.test.v1.Echo/ServerStream", rawgrpc.frame(pb.ServerStreamRequest(
                count=3, request=pb.EchoRequest(payload=b"stream")).SerializeToString())),
            ("/regatta.test.v1.Echo/BidiStream", b"".join(rawgrpc.frame(pb.EchoRequest(
                payload=b"bidi").SerializeToString()) for _ in range(3))),
            ("/regatta.test.v1.Echo/ClientStream", b"".join(rawgrpc.frame(pb.EchoRequest(
                payload=b"cs").SerializeToString()) for _ in range(3))),
        ]
        sids = []
        for path, body in bodies:
            sid = c.h2.get_next_available_stream_id()
            c.replies[sid] = rawgrpc.Reply()
            c.h2.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", path),
                                    (":authority", "127.0.0.1:1"),
                                    ("content-type", "application/grpc"), ("te", "trailers"),
                                    ("grpc-timeout", "10S")])
            c.h2.send_data(sid, body, end_stream=True)
            sids.append(sid)
        c.flush()
        assert sids == [1, 3, 5, 7], sids
        end = time.monotonic() + 10
        while not all(c.replies[s].ended for s in sids):
            c._pump(end)
        for s in sids:
            assert c.replies[s].status() == 0, (s, c.replies[s].status())
    finally:
        c.close()


def write(dirname, name, data):
    os.makedirs(dirname, exist_ok=True)
    with open(os.path.join(dirname, name), "wb") as f:
        f.write(data[:MAX_SEED])
    print("seed %s/%s (%d bytes)" % (os.path.basename(dirname), name, min(len(data), MAX_SEED)))


def main():
    a = gi.parse_args()
    corpus = os.path.join(a.source_dir, "tests", "fuzz", "corpus")
    wd = gi.Workdir(a.keep)
    procs = []
    try:
        stubs = gi.stubs(a.source_dir, wd.path)
        servers = [("py", [sys.executable, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "py_echo_server.py"), "--source-dir", a.source_dir,
            "--work-dir", os.path.join(wd.path, "srv")])]
        ours = os.path.join(a.build_dir, "tests", "integration", "grpc_test_server")
        if os.path.exists(ours):
            servers.append(("ours", [ours, "--listen", "127.0.0.1:0"]))
        client = os.path.join(a.build_dir, "tests", "integration", "grpc_test_client")
        for sname, argv in servers:
            p = gi.Proc(argv, name=sname)
            procs.append(p)
            port = int(p.wait_for("port=", timeout=60))
            rec = Recorder(port)
            grpc_session(*stubs, rec.port)
            grpc_session(*stubs, rec.port, compression="gzip")
            for i, (cb, sb) in enumerate(rec.take()):
                assert cb.startswith(PREFACE), cb[:30]
                tag = "grpcio_%s_%d" % (sname, i)
                write(os.path.join(corpus, "h2_server_raw"), tag, cb)
                write(os.path.join(corpus, "h2_server"), tag, b"\x00" + cb[len(PREFACE):])
            seedcalls_raw(stubs[0], rec.port)
            for i, (cb, sb) in enumerate(rec.take()):
                write(os.path.join(corpus, "h2_client"), "seedcalls_%s_%d" % (sname, i),
                      b"\x00" + sb)
            if os.path.exists(client):
                gi.run([client, "--target", "127.0.0.1:%d" % rec.port, "seedcalls", "unary",
                        "server_stream", "bidi", "deadline", "unknown", "health_check"],
                       timeout=60)
                for i, (cb, sb) in enumerate(rec.take()):
                    write(os.path.join(corpus, "h2_server_raw"), "ourclient_%s_%d" % (sname, i),
                          cb)
                    write(os.path.join(corpus, "h2_server"), "ourclient_%s_%d" % (sname, i),
                          b"\x00" + cb[len(PREFACE):])
            rec.close()
    finally:
        for p in procs:
            p.stop()
        wd.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
