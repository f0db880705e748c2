#!/usr/bin/env python3
"""test_leader_rest.py — the REST port (--rest.address) of a 3-node leader cluster, from the
outside: urllib and raw sockets on loopback.

Covers: /healthz and /readyz turn 200 once the cluster is up; /metrics is valid Prometheus text
(checked by the small parser below: HELP/TYPE once per family before its samples, label syntax
and escaping, numeric values, no duplicate series) and follows real activity (a created table
appears with a leader on every node; proposal, apply and Raft log counters grow with writes);
404/405 (with Allow)/HEAD; 400, 413, 431 close the connection; keep-alive (two requests on one
connection) and pipelining (two requests in one send, answered in order); HTTP/1.0 closes;
seeded garbage does not hurt the node; connections over the limit are closed; and a node left
alone (the other two SIGKILLed) answers /healthz 503 naming the reason. The seed is printed;
--seed replays the garbage.
"""
import os
import random
import re
import socket
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regatta_cluster as rc  # noqa: E402

import grpc  # noqa: E402

TOKEN = "rest-token"
TIMEOUT = 10
CONN_LIMIT = 256  # LIMIT_REST_CONNECTIONS in core/limits.h


# -- HTTP helpers --------------------------------------------------------------------------------

def http(node, path, method="GET", timeout=TIMEOUT):
    """(status, headers dict lower-cased, body bytes) via urllib; HTTP errors are answers too."""
    req = urllib.request.Request("http://%s%s" % (node.rest, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def connect(node, timeout=TIMEOUT):
    s = socket.create_connection(("127.0.0.1", node.rest_port), timeout=timeout)
    s.settimeout(timeout)
    return s


def read_response(sock, buf, head_only=False):
    """Read one response from sock (buf: bytearray of bytes already read). Returns
    (status, headers, body) or None when the peer closed before a response."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0])
    assert m, lines[0]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = 0 if head_only else int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    body, left = rest[:n], rest[n:]
    buf[:] = left
    return int(m.group(1)), headers, body


def closed_by_peer(sock):
    """True once the peer closed (EOF or reset) within the socket timeout."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


# -- Prometheus text format ----------------------------------------------------------------------

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v)


def parse_sample(line):
    """name, labels tuple, value of one sample line (asserts the syntax)."""
    m = NAME.match(line)
    assert m, "no metric name: %r" % line
    name, pos, labels = m.group(0), m.end(), []
    if line[pos:pos + 1] == "{":
        pos += 1
        while line[pos:pos + 1] != "}":
            lm = LABEL.match(line, pos)
            assert lm, "bad label at %d: %r" % (pos, line)
            labels.append((lm.group(1), unescape(lm.group(2))))
            pos = lm.end()
            if line[pos:pos + 1] == ",":
                pos += 1
            else:
                assert line[pos:pos + 1] == "}", "labels not separated by ',': %r" % line
        pos += 1
    assert line[pos:pos + 1] == " ", "no space before the value: %r" % line
    parts = line[pos + 1:].split(" ")
    assert len(parts) in (1, 2), line
    value = float(parts[0])  # also NaN, +Inf, -Inf
    if len(parts) == 2:
        int(parts[1])  # a timestamp in ms
    assert len({k for k, _ in labels}) == len(labels), "repeated label: " + line
    return name, tuple(labels), value


def parse_prometheus(text):
    """Parse text format 0.0.4 strictly. Returns ({(name, labels tuple): value}, {name: type})."""
    assert text.endswith("\n"), "no final newline"
    samples, types, helps, done = {}, {}, set(), set()
    current = None
    for line in text.split("\n")[:-1]:
        if line.startswith("# HELP "):
            name = line[7:].split(" ", 1)[0]
            assert NAME.fullmatch(name) and name not in helps, line
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            parts = line[7:].split(" ")
            assert len(parts) == 2 and parts[1] in ("counter", "gauge", "untyped", "summary", "histogram"), line
            assert parts[0] not in types, "family typed twice: " + line
            if current:
                done.add(current)
            types[parts[0]] = parts[1]
            current = parts[0]
            continue
        if line.startswith("#") or not line:
            continue
        name, labels, value = parse_sample(line)
        assert name == current and name not in done, "sample outside its family's block: " + line
        key = (name, labels)
        assert key not in samples, "duplicate series: " + line
        if types[name] == "counter":
            assert value >= 0, line
        samples[key] = value
    return samples, types


def metric(samples, name, **labels):
    """The value of the one series of `name` whose labels include `labels`, else None."""
    want = set(labels.items())
    hits = [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]
    assert len(hits) <= 1, (name, labels, hits)
    return hits[0] if hits else None


def total(samples, name):
    return sum(v for (n, _), v in samples.items() if n == name)


def scrape(node):
    st, hd, body = http(node, "/metrics")
    assert st == 200, (st, body[:200])
    assert hd.get("content-type", "").startswith("text/plain; version=0.0.4"), hd
    return parse_prometheus(body.decode("utf-8"))[0]


# -- the test ------------------------------------------------------------------------------------

def main():
    args = rc.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print("seed", seed, "(--seed %d replays)" % seed, flush=True)
    rnd = random.Random(seed)
    work = rc.Workdir(args.keep)
    checks = rc.Checks()
    pb, pbg, _ = rc.stubs(args.source_dir, work.path)
    cluster = rc.Cluster(args.build_dir, work.path, n=3, cores=2, extra_args=["--tables.token", TOKEN])
    cluster.start()
    nodes = cluster.nodes
    chans = [grpc.insecure_channel(n.api) for n in nodes]
    kv = [pbg.KVStub(c) for c in chans]
    tables = [pbg.TablesStub(c) for c in chans]
    auth = (("authorization", "Bearer " + TOKEN),)
    try:
        # -- up: every node healthy and ready
        for n in nodes:
            rc.wait_until(lambda n=n: http(n, "/healthz", timeout=2)[0] == 200, 60, what="node %d /healthz 200" % n.id)
        st, hd, body = http(nodes[0], "/healthz")
        checks.check("/healthz 200 ok on every node", st == 200 and body == b"ok\n", (st, body))
        checks.check("/healthz is text/plain", hd.get("content-type", "").startswith("text/plain"), hd)
        for n in nodes:
            rc.wait_until(lambda n=n: http(n, "/readyz", timeout=2)[0] == 200, 30, what="node %d /readyz 200" % n.id)
        checks.check("/readyz 200 on every node", True)

        def metrics_format():
            for n in nodes:
                samples = scrape(n)
                checks.check("node %d /metrics parses as Prometheus text" % n.id, len(samples) > 50, len(samples))
                checks.check("node %d reports its id" % n.id,
                             metric(samples, "regatta_node_info", node_id=str(n.id), cores="2") == 1)
                checks.check("node %d: both cores up" % n.id,
                             metric(samples, "regatta_core_up", core="0") == 1 and
                             metric(samples, "regatta_core_up", core="1") == 1)
                checks.check("node %d: the metadata group has a leader" % n.id,
                             (metric(samples, "regatta_table_leader_id", table="_meta") or 0) in (1, 2, 3))
                checks.check("node %d: process metrics" % n.id,
                             (metric(samples, "process_resident_memory_bytes") or 0) > 0 and
                             (metric(samples, "process_open_fds") or 0) > 0 and
                             (metric(samples, "process_start_time_seconds") or 0) > 1.5e9)
                checks.check("node %d: gRPC connections are counted" % n.id,
                             metric(samples, "regatta_grpc_connections", core="0", port="raft") is not None)
        checks.run("metrics format", metrics_format)

        def metrics_follow_activity():
            before = scrape(nodes[0])
            r = tables[1].Create(pb.CreateTableRequest(name="rest_t"), metadata=auth, timeout=TIMEOUT)
            tid = str(int(r.id))

            def table_led(n):
                s = scrape(n)
                lead = metric(s, "regatta_table_leader_id", table="rest_t", id=tid)
                return lead in (1.0, 2.0, 3.0) and s
            for n in nodes:
                rc.wait_until(lambda n=n: table_led(n), 30, what="rest_t with a leader in node %d's metrics" % n.id)
            checks.check("a created table appears with a leader on every node", True)
            leaders = rc.wait_until(  # scrapes are not simultaneous: tolerate a change of leader meanwhile
                lambda: (lambda v: sorted(v) == [0, 0, 1] and v)(
                    [metric(scrape(n), "regatta_table_is_leader", table="rest_t") for n in nodes]), 20,
                what="one leader of rest_t")
            checks.check("exactly one node leads the new table", sorted(leaders) == [0, 0, 1], leaders)
            rc.wait_until(lambda: kv[0].Put(pb.PutRequest(table=b"rest_t", key=b"warm", value=b"x"), timeout=2), 20,
                          what="first put")
            mid = scrape(nodes[0])
            writes = 40
            for i in range(writes):
                kv[i % 3].Put(pb.PutRequest(table=b"rest_t", key=b"k%03d" % i, value=b"v" * 100), timeout=TIMEOUT)
            after = scrape(nodes[0])
            for name in ("regatta_raft_entries_applied_total", "regatta_raftlog_fdatasyncs_total",
                         "regatta_raftlog_bytes_written_total", "regatta_raftlog_entries_written_total",
                         "regatta_reactor_turns_total", "regatta_raft_messages_sent_total"):
                checks.check("%s grows with writes" % name, total(after, name) > total(mid, name),
                             (total(mid, name), total(after, name)))
            checks.check("proposals_ok grows by the writes made through node 1",
                         total(after, "regatta_proposals_ok_total") - total(mid, "regatta_proposals_ok_total") >= writes // 3,
                         (total(mid, "regatta_proposals_ok_total"), total(after, "regatta_proposals_ok_total")))
            # the last write went through node 1, so node 1 applied every write before it answered
            assert (writes - 1) % 3 == 0
            a0 = metric(mid, "regatta_table_applied_index", table="rest_t") or 0
            a1 = metric(after, "regatta_table_applied_index", table="rest_t") or 0
            checks.check("the table's applied index moved by every write", a1 - a0 >= writes, (a0, a1))
            checks.check("the table's LSM holds bytes", (metric(after, "regatta_table_lsm_bytes", table="rest_t") or 0) > 0)
            checks.check("REST requests are counted",
                         total(after, "regatta_rest_requests_total") > total(before, "regatta_rest_requests_total"))
            checks.check("tables gauge counts the new table", metric(after, "regatta_tables") >= 1)
        checks.run("metrics follow activity", metrics_follow_activity)

        def http_behaviour():
            n = nodes[0]
            st, _, body = http(n, "/nope")
            checks.check("unknown path -> 404", st == 404, (st, body))
            st, hd, _ = http(n, "/metrics", method="POST")
            checks.check("POST -> 405 with Allow: GET, HEAD", st == 405 and hd.get("allow") == "GET, HEAD", (st, hd))
            st, _, _ = http(n, "/healthz", method="DELETE")
            checks.check("DELETE -> 405", st == 405, st)
            st, _, body = http(n, "/healthz?verbose=1")
            checks.check("a query string is ignored", st == 200 and body == b"ok\n", (st, body))

            # HEAD: the headers of GET, no body (the next response on the connection proves it)
            s = connect(n)
            buf = bytearray()
            s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            r1 = read_response(s, buf, head_only=True)
            r2 = read_response(s, buf)
            checks.check("HEAD -> 200 with Content-Length and no body",
                         r1 and r1[0] == 200 and r1[1].get("content-length") == "3", r1)
            checks.check("... the next response follows right after the head", r2 and r2[0] == 200 and r2[2] == b"ok\n", r2)
            s.close()

            # keep-alive: two requests, one after the other, on one connection
            s = connect(n)
            buf = bytearray()
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            r1 = read_response(s, buf)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            r2 = read_response(s, buf)
            checks.check("keep-alive: two requests on one connection",
                         r1 and r1[0] == 200 and r1[1].get("connection") == "keep-alive" and r2 and r2[0] == 200 and
                         b"regatta_core_up" in r2[2], (r1, r2 and r2[:2]))
            # pipelined: three in one send, answered in order; the last asks to close
            s.sendall(b"GET /readyz HTTP/1.1\r\n\r\nGET /nope HTTP/1.1\r\n\r\n"
                      b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
            rs = [read_response(s, buf) for _ in range(3)]
            checks.check("pipelined requests answered in order", [r and r[0] for r in rs] == [200, 404, 200], rs)
            checks.check("Connection: close is honoured", rs[2] and rs[2][1].get("connection") == "close" and closed_by_peer(s))
            s.close()

            # HTTP/1.0 without keep-alive closes after the answer
            s = connect(n)
            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            buf = bytearray()
            r = read_response(s, buf)
            checks.check("HTTP/1.0 answered and closed", r and r[0] == 200 and closed_by_peer(s), r)
            s.close()

            # bad input: a clear status, then the connection closes
            cases = [
                (b"GARBAGE\r\n\r\n", 400, "malformed request"),
                (b"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n", 400, "malformed header"),
                (b"GET /healthz HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", 413, "large body"),
                (b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n", 431,
                 "too many headers"),
                (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 414, "long target"),
                (b"GET /healthz HTTP/2.0\r\n\r\n", 505, "HTTP/2.0 as text"),
            ]
            for raw, want, what in cases:
                s = connect(n)
                s.sendall(raw)
                buf = bytearray()
                r = read_response(s, buf)
                checks.check("%s -> %d and close" % (what, want),
                             r and r[0] == want and r[1].get("connection") == "close" and closed_by_peer(s),
                             r and r[:2])
                s.close()
            checks.check("the node still serves after bad input", http(n, "/healthz")[0] == 200)
        checks.run("HTTP behaviour", http_behaviour)

        def garbage():
            n = nodes[1]
            for i in range(30):
                s = connect(n, timeout=5)
                try:
                    kind = rnd.randrange(3)
                    if kind == 0:
                        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 2000)))
                    elif kind == 1:  # a request with random bytes flipped
                        data = bytearray(b"GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n" * 2)
                        for _ in range(rnd.randrange(1, 6)):
                            data[rnd.randrange(len(data))] = rnd.randrange(256)
                        data = bytes(data)
                    else:  # a request cut short, then the client goes away
                        data = b"GET /metrics HTTP/1.1\r\nHost: a\r\nAcc"[:rnd.randrange(1, 36)]
                    s.sendall(data)
                    if rnd.randrange(2):
                        s.shutdown(socket.SHUT_WR)
                        closed_by_peer(s)
                except OSError:
                    pass  # the node may close on us first: that is an answer
                finally:
                    s.close()
            checks.check("node survives seeded garbage", nodes[1].alive() and http(n, "/healthz")[0] == 200)
        checks.run("garbage", garbage)

        def connection_limit():
            n = nodes[2]
            held = []
            # connections of earlier checks are gone (only this scrape's own is open)
            rc.wait_until(lambda: metric(scrape(n), "regatta_rest_connections") == 1, 10, what="no REST connection left")
            try:
                for _ in range(CONN_LIMIT):
                    held.append(connect(n))
                # one round trip on the last one: every earlier connection was accepted by then
                buf = bytearray()
                held[-1].sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
                r = read_response(held[-1], buf)
                checks.check("the %d-th connection is served" % CONN_LIMIT, r and r[0] == 200, r)
                extra = connect(n, timeout=5)
                checks.check("a connection over the limit is closed at once", closed_by_peer(extra))
                extra.close()
            finally:
                for s in held:
                    s.close()
            rc.wait_until(lambda: http(n, "/healthz", timeout=2)[0] == 200, 10, what="served again after the burst")
            s = scrape(n)
            checks.check("refused connections are counted", (metric(s, "regatta_rest_connections_refused_total") or 0) >= 1)
        checks.run("connection limit", connection_limit)

        def alone():
            nodes[1].kill()
            nodes[2].kill()

            def unhealthy():
                st, _, body = http(nodes[0], "/healthz", timeout=3)
                return st == 503 and body
            body = rc.wait_until(unhealthy, 30, what="node 1 alone: /healthz 503")
            checks.check("a node alone answers /healthz 503 with the reason",
                         b"metadata group has no leader" in body or b"reaches 0 of its 2 peers" in body, body)
            st, _, _ = http(nodes[0], "/readyz", timeout=3)
            checks.check("... and /readyz 503", st == 503, st)
            samples = scrape(nodes[0])
            checks.check("... while /metrics still answers, with no peer stream connected",
                         total(samples, "regatta_raft_peer_streams_connected") == 0 and
                         metric(samples, "regatta_raft_peer_streams", core="0") == 2)
        checks.run("node alone", alone)
    finally:
        if checks.failed:
            print(cluster.logs())
        try:
            nodes[0].stop()
            checks.check("clean shutdown on SIGTERM", nodes[0].proc.returncode == 0, nodes[0].proc.returncode)
        except RuntimeError as e:
            checks.check("clean shutdown on SIGTERM", False, e)
        cluster.kill_all()
        work.close()
    checks.finish()


if __name__ == "__main__":
    main()
