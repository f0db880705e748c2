"""rawgrpc.py — a minimal gRPC client over a raw HTTP/2 connection (python3-h2 on a plain
socket), independent of every gRPC library: the test builds request frames byte by byte, so it
can send exactly what other clients send (Regatta's Go client: `grpc-encoding: snappy` with the
snappy framing format) or what no client should send (bad compression, missing headers).

Also snappy_stream(): a message compressed as grpc-go's snappy compressor does (a fresh framing
stream per message: stream identifier chunk, then compressed or uncompressed chunks of at most
64 KiB with masked CRC-32C), built with Debian's python3-snappy StreamCompressor. Debian's
python3-snappy 0.5.3 C extension cannot compute CRC-32C on Python >= 3.10 ("PY_SSIZE_T_CLEAN
macro must be defined"), so its CRC function is replaced by the pure-Python one below; the
framing and compression remain python3-snappy's.

Bounded: every read waits at most the call's timeout. Not a test by itself.
"""
import gzip
import socket
import ssl
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import snappy
import snappy.snappy as _snappy_mod


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


_snappy_mod._crc32c = crc32c  # see the module comment


def snappy_stream(data):
    """One message as grpc-go's snappy compressor writes it (a complete framing stream)."""
    return snappy.StreamCompressor().add_chunk(data)


def snappy_unstream(data):
    d = snappy.StreamDecompressor()
    out = d.decompress(data)
    d.flush()
    return out


def frame(msg, compressed=False):
    """The gRPC length-prefixed message: flag byte, 4-byte big-endian length, bytes."""
    return struct.pack(">BI", 1 if compressed else 0, len(msg)) + msg


class Reply:
    def __init__(self):
        self.headers = {}
        self.trailers = {}
        self.data = b""
        self.messages = []
        self.reset = None  # RST_STREAM error code, if the stream was reset
        self.ended = False

    def status(self):
        """grpc-status from trailers (or a trailers-only response), or None."""
        s = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        return None if s is None else int(s)

    def message(self):
        return self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))

    def decode(self):
        """Split data into messages, decompressing by the response grpc-encoding."""
        enc = self.headers.get("grpc-encoding", "identity")
        buf = self.data
        self.messages = []
        while buf:
            if len(buf) < 5:
                raise ValueError("truncated gRPC frame header in response")
            flag, n = struct.unpack(">BI", buf[:5])
            if len(buf) < 5 + n:
                raise ValueError("truncated gRPC message in response")
            m = buf[5:5 + n]
            buf = buf[5 + n:]
            if flag == 1:
                if enc == "snappy":
                    m = snappy_unstream(m)
                elif enc == "gzip":
                    m = gzip.decompress(m)
                else:
                    raise ValueError("compressed flag with grpc-encoding %r" % enc)
            elif flag != 0:
                raise ValueError("bad flag %d" % flag)
            self.messages.append(m)
        return self.messages


class Conn:
    """One HTTP/2 connection; calls run one at a time (enough for these tests)."""

    def __init__(self, port, tls_ca=None, timeout=10.0):
        self.timeout = timeout
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_ca:
            ctx = ssl.create_default_context(cafile=tls_ca)
            ctx.set_alpn_protocols(["h2"])
            s = ctx.wrap_socket(s, server_hostname="localhost")
            if s.selected_alpn_protocol() != "h2":
                raise RuntimeError("ALPN did not select h2")
        self.sock = s
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config=cfg)
        self.h2.initiate_connection()
        self.h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 24})
        self.h2.increment_flow_control_window((1 << 30) - 65535)
        self.flush()
        self.replies = {}
        self.goaway = None

    def flush(self):
        d = self.h2.data_to_send()
        if d:
            self.sock.sendall(d)

    def close(self):
        try:
            self.h2.close_connection()
            self.flush()
        except Exception:
            pass
        self.sock.close()

    def _pump(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer in time")
        self.sock.settimeout(left)
        d = self.sock.recv(1 << 16)
        if not d:
            raise ConnectionError("server closed the connection")
        for ev in self.h2.receive_data(d):
            r = self.replies.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                r.headers.update(dict(ev.headers))
            elif isinstance(ev, h2.events.TrailersReceived):
                r.trailers.update(dict(ev.headers))
            elif isinstance(ev, h2.events.DataReceived):
                r.data += ev.data
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                r.ended = True
            elif isinstance(ev, h2.events.StreamReset):
                if r is not None:
                    r.reset = ev.error_code
                    r.ended = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev.error_code
        self.flush()

    def _send_body(self, sid, body, end, deadline):
        off = 0
        while off < len(body):
            w = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            if w <= 0:
                self._pump(deadline)
                continue
            chunk = body[off:off + w]
            off += len(chunk)
            self.h2.send_data(sid, chunk, end_stream=(end and off == len(body)))
            self.flush()
        if end and not body:
            self.h2.end_stream(sid)
            self.flush()

    def call(self, path, body, headers=None, timeout=None, drop=()):
        """POST body (already framed) to path; wait for the end of the response.

        headers: extra or overriding request headers; drop: header names to omit."""
        deadline = time.monotonic() + (timeout or self.timeout)
        hdr = {":method": "POST", ":scheme": "http", ":path": path,
               ":authority": "127.0.0.1", "content-type": "application/grpc",
               "user-agent": "grpc-go/1.58.3", "te": "trailers"}
        hdr.update(headers or {})
        sid = self.h2.get_next_available_stream_id()
        self.replies[sid] = r = Reply()
        self.h2.send_headers(sid, [(k, v) for k, v in hdr.items() if k not in drop])
        self.flush()
        self._send_body(sid, body, True, deadline)
        while not r.ended:
            self._pump(deadline)
        return r
