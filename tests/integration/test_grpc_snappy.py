#!/usr/bin/python3
"""test_grpc_snappy.py — our server accepts and answers messages compressed exactly as
Regatta's Go client sends them: `grpc-encoding: snappy`, each message one snappy *framing*
stream (what grpc-go's snappy compressor writes), including multi-chunk (> 64 KiB) and
uncompressed chunks. The frames are built independently with Debian's python3-snappy
StreamCompressor and sent over a raw HTTP/2 connection (python3-h2 on a socket, rawgrpc.py),
plaintext and TLS; the answers are decoded and compared.

Also on the raw connection, where no gRPC library smooths things over:
  - an unknown grpc-encoding gives UNIMPLEMENTED with grpc-accept-encoding listing snappy/gzip;
  - corrupt snappy data (bad CRC, bad chunk, truncated stream) gives INTERNAL and no crash;
  - a compressed flag with identity encoding gives INTERNAL;
  - grpc-timeout is enforced by the server itself (the raw client never cancels);
  - a truncated gRPC frame (END_STREAM mid-message) gives INTERNAL;
  - a missing te: trailers / wrong content-type is refused;
and the server is still answering at the end.

--peer python self-checks the non-snappy expectations against python3-grpcio's server.
"""
import gzip
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpcinterop as gi  # noqa: E402
import rawgrpc  # noqa: E402
from grpcinterop import expect, expect_eq  # noqa: E402

UNARY = "/regatta.test.v1.Echo/Unary"
BIDI = "/regatta.test.v1.Echo/BidiStream"
SSTREAM = "/regatta.test.v1.Echo/ServerStream"
SLEEP = "/regatta.test.v1.Echo/Sleep"
SNAPPY = {"grpc-encoding": "snappy", "grpc-accept-encoding": "snappy,gzip"}


class Suite:
    def __init__(self, pb, port, ca=None):
        self.pb = pb
        self.port = port
        self.ca = ca

    def conn(self):
        return rawgrpc.Conn(self.port, tls_ca=self.ca)

    def echo_ok(self, r, payloads):
        expect_eq(r.reset, None, "stream not reset")
        expect_eq(r.status(), 0, "grpc-status (message %r)" % r.message())
        msgs = r.decode()
        expect_eq(len(msgs), len(payloads), "answers")
        for i, (m, p) in enumerate(zip(msgs, payloads)):
            resp = self.pb.EchoResponse.FromString(m)
            expect(resp.payload == p, "answer %d payload (%d vs %d bytes)"
                   % (i, len(resp.payload), len(p)))

    def req(self, payload, **kw):
        return self.pb.EchoRequest(payload=payload, **kw).SerializeToString()

    # ---- snappy as Regatta's Go client sends it --------------------------------------
    def snappy_unary(self):
        c = self.conn()
        try:
            for payload in (b"hello regatta", b"", b"abc" * 30000, os.urandom(1000),
                            os.urandom(200000), b"k" * (1 << 20)):
                body = rawgrpc.frame(rawgrpc.snappy_stream(self.req(payload)), compressed=True)
                r = c.call(UNARY, body, SNAPPY)
                self.echo_ok(r, [payload])
                enc = r.headers.get("grpc-encoding", "identity")
                expect(enc in ("identity", "snappy", "gzip"), "response encoding %r" % enc)
        finally:
            c.close()

    def snappy_bidi(self):
        c = self.conn()
        try:
            payloads = [b"m%d-" % i * (i * 50) for i in range(40)]
            # Mixed: grpc-go compresses every message, but the flag is per message, so an
            # uncompressed one in between must be accepted too.
            body = b"".join(rawgrpc.frame(rawgrpc.snappy_stream(self.req(p)), True) if i % 5
                            else rawgrpc.frame(self.req(p)) for i, p in enumerate(payloads))
            self.echo_ok(c.call(BIDI, body, SNAPPY), payloads)
        finally:
            c.close()

    def snappy_server_stream(self):
        c = self.conn()
        try:
            req = self.pb.ServerStreamRequest(count=20, request=self.pb.EchoRequest(
                payload=b"stream " * 100)).SerializeToString()
            r = c.call(SSTREAM, rawgrpc.frame(rawgrpc.snappy_stream(req), True), SNAPPY)
            self.echo_ok(r, [b"stream " * 100] * 20)
        finally:
            c.close()

    def snappy_bad(self):
        c = self.conn()
        try:
            good = rawgrpc.snappy_stream(self.req(b"x" * 5000))
            bad_crc = bytearray(good)
            bad_crc[14] ^= 0xFF  # first chunk's CRC (after the 10-byte identifier, 4-byte hdr)
            bad_id = bytearray(good)
            bad_id[5] ^= 0x20    # "sNaPpY" misspelled
            cases = {"bad crc": bytes(bad_crc), "bad identifier": bytes(bad_id),
                     "truncated": good[:len(good) - 3], "garbage": b"\x00\x01\x02garbage",
                     "reserved chunk": b"\xff\x06\x00\x00sNaPpY\x02\x01\x00\x00\x00"}
            for name, data in cases.items():
                r = c.call(UNARY, rawgrpc.frame(data, True), SNAPPY)
                expect_eq(r.status(), 13, "INTERNAL for %s (message %r)" % (name, r.message()))
            self.echo_ok(c.call(UNARY, rawgrpc.frame(good, True), SNAPPY), [b"x" * 5000])
            # An empty compressed message is an empty stream, which golang/snappy's reader (and
            # python3-snappy's) decode to zero bytes: an empty EchoRequest, answered.
            self.echo_ok(c.call(UNARY, rawgrpc.frame(b"", True), SNAPPY), [b""])
        finally:
            c.close()

    # ---- compression negotiation and errors (any gRPC server) ------------------------
    def gzip_raw(self):
        c = self.conn()
        try:
            payload = b"gz" * 10000
            body = rawgrpc.frame(gzip.compress(self.req(payload)), True)
            self.echo_ok(c.call(UNARY, body, {"grpc-encoding": "gzip",
                                              "grpc-accept-encoding": "gzip"}), [payload])
        finally:
            c.close()

    def unknown_encoding(self):
        c = self.conn()
        try:
            r = c.call(UNARY, rawgrpc.frame(b"\x01\x02\x03", True), {"grpc-encoding": "br"})
            if self.strict:
                expect_eq(r.status(), 12, "UNIMPLEMENTED for grpc-encoding br (gRPC compression.md)")
            else:  # grpc core answers INTERNAL here
                expect(r.status() in (12, 13), "error for grpc-encoding br: %r" % r.status())
            acc = r.headers.get("grpc-accept-encoding", r.trailers.get("grpc-accept-encoding",
                                                                       ""))
            if self.strict:  # grpc core omits it on this error
                expect("gzip" in acc, "grpc-accept-encoding lists gzip: %r" % acc)
                expect("snappy" in acc, "grpc-accept-encoding lists snappy: %r" % acc)
        finally:
            c.close()

    def compressed_identity(self):
        c = self.conn()
        try:
            r = c.call(UNARY, rawgrpc.frame(self.req(b"x"), True))
            if self.strict:  # as grpc-go; grpc core lets it pass as identity
                expect_eq(r.status(), 13, "INTERNAL for a compressed flag without grpc-encoding")
            self.echo_ok(c.call(UNARY, rawgrpc.frame(self.req(b"x"))), [b"x"])
        finally:
            c.close()

    def truncated_frame(self):
        c = self.conn()
        try:
            full = rawgrpc.frame(self.req(b"y" * 100))
            r = c.call(UNARY, full[:50])
            expect(r.status() not in (None, 0), "truncated message refused: %r" % r.status())
            r = c.call(UNARY, full[:3])
            expect(r.status() not in (None, 0), "truncated header refused: %r" % r.status())
            self.echo_ok(c.call(UNARY, full), [b"y" * 100])
        finally:
            c.close()

    def server_deadline(self):
        c = self.conn()
        try:
            body = rawgrpc.frame(self.pb.SleepRequest(sleep_ms=5000).SerializeToString())
            r = c.call(SLEEP, body, {"grpc-timeout": "200m"}, timeout=4.0)
            expect_eq(r.status(), 4, "server-enforced DEADLINE_EXCEEDED")
            body = rawgrpc.frame(self.pb.SleepRequest(sleep_ms=10).SerializeToString())
            r = c.call(SLEEP, body, {"grpc-timeout": "5S"})
            expect_eq(r.status(), 0, "sleep within its deadline")
        finally:
            c.close()

    def bad_headers(self):
        c = self.conn()
        try:
            body = rawgrpc.frame(self.req(b"z"))
            r = c.call(UNARY, body, {"content-type": "text/plain"})
            if self.strict:  # PROTOCOL-HTTP2: SHOULD answer 415; grpc core answers the call
                expect(r.status() not in (0,) or r.headers.get(":status") != "200",
                       "wrong content-type refused: %r %r" % (r.headers.get(":status"),
                                                              r.status()))
            self.echo_ok(c.call(UNARY, body), [b"z"])
        finally:
            c.close()


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
        pb = gi.stubs(a.source_dir, wd.path)[0]
        c = gi.certs(wd.path)
        for mode in ("plain", "tls"):
            if a.peer == "python":
                argv = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "py_echo_server.py"),
                        "--source-dir", a.source_dir, "--work-dir",
                        os.path.join(wd.path, "srv-" + mode)]
                if mode == "tls":
                    argv += ["--tls", c["server_crt"], c["server_key"]]
                key = "port="
            else:
                argv = [os.path.join(a.build_dir, "tests", "integration", "grpc_test_server")]
                argv += (["--listen", "127.0.0.1:0"] if mode == "plain" else
                         ["--tls-listen", "127.0.0.1:0", "--cert", c["server_crt"], "--key",
                          c["server_key"]])
                key = "port=" if mode == "plain" else "tls_port="
            p = gi.Proc(argv, name="server-" + mode)
            procs.append(p)
            port = int(p.wait_for(key, timeout=60))
            s = Suite(pb, port, c["ca"] if mode == "tls" else None)
            s.snappy = s.strict = a.peer == "ours"
            names = ["gzip_raw", "unknown_encoding", "compressed_identity", "truncated_frame",
                     "server_deadline", "bad_headers"]
            if s.snappy:
                names = ["snappy_unary", "snappy_bidi", "snappy_server_stream",
                         "snappy_bad"] + names
            if mode == "tls":
                names = names[:4] if s.snappy else names[:2]
            for n in names:
                ck.run("%s.%s" % (mode, n), getattr(s, n))
            ck.run("%s.alive" % mode, lambda: expect(p.alive(), "server still running"))
        for p in procs:
            ck.run("clean_exit." + p.name, lambda: expect_eq(p.stop(), 0, "exit code"))
    finally:
        for p in procs:
            p.stop()
        wd.close()
    return ck.finish()


if __name__ == "__main__":
    sys.exit(main())
