#!/usr/bin/env python3
"""test_leader_api.py — a 3-node leader cluster (real `regatta leader` processes on loopback)
driven by an independent client (Debian's python3-grpcio, stubs generated from our .proto files)
and by regattactl, compared with a simple in-memory model of Regatta's KV semantics.

Covers: Tables Create/Delete/List (with the bearer token), KV Put (prev_kv), Range (single key,
prefix, range_end "\\0", whole table, limit/more, keys_only, count_only, serializable and
linearizable, revision filters), DeleteRange (prev_kv, count), Txn (VALUE/VERSION/CREATE/MOD with
=, !=, >, <; success/failure ops; read-only Txn), IterateRange, MemberList, Status, NOT_FOUND for
a missing table, INVALID_ARGUMENT for bad requests, any node accepting any request, and a seeded
random workload against the model. The seed is printed; --seed replays the workload.
"""
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regatta_cluster as rc  # noqa: E402

import grpc  # noqa: E402

TOKEN = "s3cret-token"
TIMEOUT = 10


class Model:
    """Regatta's KV semantics over a dict: key -> [value, create, mod, version]."""

    def __init__(self):
        self.kv = {}

    @staticmethod
    def in_range(k, key, end):
        if not end:
            return k == key
        if end == b"\0":
            return k >= key
        return key <= k < end

    def range(self, key, end):
        return sorted((k, v) for k, v in self.kv.items() if self.in_range(k, key, end))

    def put(self, k, v, rev):
        prev = self.kv.get(k)
        if prev:
            self.kv[k] = [v, prev[1], rev, prev[3] + 1]
        else:
            self.kv[k] = [v, rev, rev, 1]
        return prev

    def delete(self, key, end):
        hits = self.range(key, end)
        for k, _ in hits:
            del self.kv[k]
        return hits


def kv_tuple(kv):
    return (kv.key, [kv.value, kv.create_revision, kv.mod_revision, kv.version])


def main():
    args = rc.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print("seed", seed, "(--seed %d replays)" % seed, flush=True)
    rnd = random.Random(seed)
    work = rc.Workdir(args.keep)
    checks = rc.Checks()
    pb, pbg, mvcc = rc.stubs(args.source_dir, work.path)
    cluster = rc.Cluster(args.build_dir, work.path, n=3, cores=2, extra_args=["--tables.token", TOKEN])
    cluster.start()
    chans = [grpc.insecure_channel(n.api) for n in cluster.nodes]
    kv = [pbg.KVStub(c) for c in chans]
    tables = [pbg.TablesStub(c) for c in chans]
    clus = [pbg.ClusterStub(c) for c in chans]
    auth = (("authorization", "Bearer " + TOKEN),)
    ctl = os.path.join(args.build_dir, "regattactl")
    endpoints = ",".join(n.api for n in cluster.nodes)

    def regattactl(*a, stdin=None):
        p = subprocess.run([ctl, "--endpoints", endpoints, "--token", TOKEN] + list(a), input=stdin,
                           capture_output=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    try:
        # -- cluster up: every node answers Tables.List once the metadata group has a leader
        for i in range(3):
            rc.wait_until(lambda i=i: tables[i].List(pb.ListTablesRequest(), timeout=2) is not None, 60,
                          what="node %d API" % (i + 1))
        checks.check("all three nodes answer", True)

        # -- Tables
        def tables_checks():
            try:
                tables[0].Create(pb.CreateTableRequest(name="t1"), timeout=TIMEOUT)
                checks.check("create without token refused", False)
            except grpc.RpcError as e:
                checks.check("create without token -> UNAUTHENTICATED", e.code() == grpc.StatusCode.UNAUTHENTICATED, e)
            r = tables[1].Create(pb.CreateTableRequest(name="t1"), metadata=auth, timeout=TIMEOUT)
            checks.check("create on a follower node returns an id", int(r.id) > 1, r)
            try:
                tables[2].Create(pb.CreateTableRequest(name="t1"), metadata=auth, timeout=TIMEOUT)
                checks.check("duplicate create refused", False)
            except grpc.RpcError as e:
                checks.check("duplicate create -> INVALID_ARGUMENT", e.code() == grpc.StatusCode.INVALID_ARGUMENT, e)
            try:
                tables[0].Create(pb.CreateTableRequest(name="bad name!"), metadata=auth, timeout=TIMEOUT)
                checks.check("bad table name refused", False)
            except grpc.RpcError as e:
                checks.check("bad table name -> INVALID_ARGUMENT", e.code() == grpc.StatusCode.INVALID_ARGUMENT, e)
            names = rc.wait_until(lambda: {t.name for t in tables[2].List(pb.ListTablesRequest(), timeout=TIMEOUT).tables} >= {"t1"} and
                                  {t.name for t in tables[2].List(pb.ListTablesRequest(), timeout=TIMEOUT).tables}, 20,
                                  what="t1 listed on node 3")
            checks.check("list shows t1 on every node", "t1" in names, names)
        checks.run("tables", tables_checks)

        # -- missing table and bad requests
        def errors_checks():
            for call, req in [(kv[0].Put, pb.PutRequest(table=b"nope", key=b"k", value=b"v")),
                              (kv[1].Range, pb.RangeRequest(table=b"nope", key=b"k"))]:
                try:
                    call(req, timeout=TIMEOUT)
                    checks.check("missing table refused", False)
                except grpc.RpcError as e:
                    checks.check("missing table -> NOT_FOUND", e.code() == grpc.StatusCode.NOT_FOUND, e)
            bad = [pb.PutRequest(table=b"t1", key=b"", value=b"v"),
                   pb.PutRequest(table=b"t1", key=b"k" * 1025, value=b"v"),
                   pb.PutRequest(table=b"", key=b"k", value=b"v")]
            for req in bad:
                try:
                    kv[0].Put(req, timeout=TIMEOUT)
                    checks.check("bad put refused", False)
                except grpc.RpcError as e:
                    checks.check("bad put -> INVALID_ARGUMENT", e.code() == grpc.StatusCode.INVALID_ARGUMENT, e)
            big_key, big_val = b"K" * 1024, b"V" * (2 << 20)
            kv[1].Put(pb.PutRequest(table=b"t1", key=big_key, value=big_val), timeout=30)
            r = kv[2].Range(pb.RangeRequest(table=b"t1", key=big_key, linearizable=True), timeout=30)
            checks.check("largest key (1 KiB) and value (2 MiB) round-trip", len(r.kvs) == 1 and r.kvs[0].value == big_val)
            kv[0].DeleteRange(pb.DeleteRangeRequest(table=b"t1", key=big_key), timeout=TIMEOUT)
            try:
                kv[0].Put(pb.PutRequest(table=b"t1", key=b"k", value=big_val + b"x"), timeout=30)
                checks.check("value over 2 MiB refused", False)
            except grpc.RpcError as e:
                checks.check("value over 2 MiB -> INVALID_ARGUMENT", e.code() == grpc.StatusCode.INVALID_ARGUMENT, e)
            try:
                kv[0].Range(pb.RangeRequest(table=b"t1", key=b"k", limit=-1), timeout=TIMEOUT)
                checks.check("negative limit refused", False)
            except grpc.RpcError as e:
                checks.check("negative limit -> INVALID_ARGUMENT", e.code() == grpc.StatusCode.INVALID_ARGUMENT, e)
            try:
                kv[0].Range(pb.RangeRequest(table=b"t1", key=b"k", keys_only=True, count_only=True), timeout=TIMEOUT)
                checks.check("keys_only+count_only refused", False)
            except grpc.RpcError as e:
                checks.check("keys_only+count_only -> INVALID_ARGUMENT", e.code() == grpc.StatusCode.INVALID_ARGUMENT, e)
        checks.run("errors", errors_checks)

        model = Model()
        last_rev = [0]

        def put(node, k, v, prev_kv=False):
            r = kv[node].Put(pb.PutRequest(table=b"t1", key=k, value=v, prev_kv=prev_kv), timeout=TIMEOUT)
            rev = r.header.revision
            ok = rev > last_rev[0]
            last_rev[0] = rev
            prev = model.put(k, v, rev)
            if prev_kv:
                got = kv_tuple(r.prev_kv) if r.HasField("prev_kv") else None
                want = (k, prev) if prev else None
                if got != want:
                    return False, "prev_kv %r want %r" % (got, want)
            return ok, "revision %d after %d" % (rev, last_rev[0])

        def check_range(node, key, end, linearizable=True, limit=0, keys_only=False, count_only=False,
                        min_mod=0, max_create=0, label=""):
            r = kv[node].Range(pb.RangeRequest(table=b"t1", key=key, range_end=end, limit=limit,
                                               keys_only=keys_only, count_only=count_only,
                                               linearizable=linearizable, min_mod_revision=min_mod,
                                               max_create_revision=max_create), timeout=TIMEOUT)
            want = [(k, v) for k, v in model.range(key, end)
                    if (not min_mod or v[2] >= min_mod) and (not max_create or v[1] <= max_create)]
            n = len(want) if not limit else min(limit, len(want))
            if count_only:
                return (r.count == n and len(r.kvs) == 0 and r.more == (n < len(want)),
                        "%s count %d want %d" % (label, r.count, n))
            got = [kv_tuple(x) for x in r.kvs]
            exp = [(k, ([b""] + v[1:]) if keys_only else v) for k, v in want[:n]]
            return (got == exp and r.more == (n < len(want)) and r.count == n,
                    "%s got %r want %r more=%s" % (label, got[:5], exp[:5], r.more))

        # -- deterministic semantics
        def semantics():
            ok, d = put(0, b"a", b"1")
            checks.check("put", ok, d)
            ok, d = put(1, b"a", b"2", prev_kv=True)
            checks.check("put with prev_kv via another node", ok, d)
            for k in [b"ab", b"abc", b"b", b"c\xff", b"d"]:
                put(2, k, b"v-" + k)
            checks.check("single key", *check_range(0, b"a", b"", label="single"))
            checks.check("missing key", *check_range(1, b"zz", b"", label="missing"))
            checks.check("prefix a", *check_range(2, b"a", b"b", label="prefix"))
            checks.check("from key (range_end \\0)", *check_range(0, b"ab", b"\0", label="fromkey"))
            checks.check("whole table", *check_range(1, b"\0", b"\0", label="all"))
            checks.check("limit and more", *check_range(2, b"\0", b"\0", limit=2, label="limit"))
            checks.check("keys_only", *check_range(0, b"a", b"\0", keys_only=True, label="keysonly"))
            checks.check("count_only", *check_range(1, b"\0", b"\0", count_only=True, label="count"))
            checks.check("count_only with limit", *check_range(1, b"\0", b"\0", count_only=True, limit=3, label="countlimit"))
            checks.check("min_mod_revision filter", *check_range(0, b"\0", b"\0", min_mod=last_rev[0] - 1, label="minmod"))
            checks.check("max_create_revision filter", *check_range(0, b"\0", b"\0", max_create=last_rev[0] - 3, label="maxcreate"))
            # serializable read on the node that wrote last sees its write
            checks.check("serializable read-your-writes", *check_range(2, b"\0", b"\0", linearizable=False, label="ser"))
            # DeleteRange
            r = kv[0].DeleteRange(pb.DeleteRangeRequest(table=b"t1", key=b"ab", range_end=b"b", prev_kv=True), timeout=TIMEOUT)
            hits = model.delete(b"ab", b"b")
            checks.check("delete range with prev_kv", r.deleted == len(hits) and
                         [kv_tuple(x) for x in r.prev_kvs] == hits, (r.deleted, hits))
            last_rev[0] = r.header.revision
            r = kv[1].DeleteRange(pb.DeleteRangeRequest(table=b"t1", key=b"d", count=True), timeout=TIMEOUT)
            hits = model.delete(b"d", b"")
            checks.check("delete single with count", r.deleted == 1 and len(hits) == 1, r)
            last_rev[0] = r.header.revision
            checks.check("after deletes", *check_range(2, b"\0", b"\0", label="afterdel"))
        checks.run("semantics", semantics)

        def txn_checks():
            C = mvcc.Compare
            a = model.kv[b"a"]
            ops_put = [mvcc.RequestOp(request_put=mvcc.RequestOp.Put(key=b"t", value=b"yes", prev_kv=True))]
            ops_get = [mvcc.RequestOp(request_range=mvcc.RequestOp.Range(key=b"a"))]
            cases = [
                (C(key=b"a", target=C.VALUE, result=C.EQUAL, value=a[0]), True),
                (C(key=b"a", target=C.VALUE, result=C.NOT_EQUAL, value=a[0]), False),
                (C(key=b"a", target=C.VERSION, result=C.EQUAL, version=a[3]), True),
                (C(key=b"a", target=C.VERSION, result=C.GREATER, version=a[3] - 1), True),
                (C(key=b"a", target=C.CREATE, result=C.LESS, create_revision=a[1] + 1), True),
                (C(key=b"a", target=C.MOD, result=C.GREATER, mod_revision=a[2]), False),
                (C(key=b"missing", target=C.CREATE, result=C.EQUAL, create_revision=0), True),
                (C(key=b"missing", target=C.VALUE, result=C.EQUAL, value=b""), False),
            ]
            for i, (cmp, want) in enumerate(cases):
                r = kv[i % 3].Txn(pb.TxnRequest(table=b"t1", compare=[cmp], success=ops_put, failure=ops_get), timeout=TIMEOUT)
                ok = r.succeeded == want and r.header.revision > last_rev[0]
                last_rev[0] = r.header.revision  # a Txn with a Put is one entry either way
                if want:
                    prev = model.put(b"t", b"yes", r.header.revision)
                    ok = ok and len(r.responses) == 1 and r.responses[0].WhichOneof("response") == "response_put"
                    if prev:
                        ok = ok and kv_tuple(r.responses[0].response_put.prev_kv) == (b"t", prev)
                else:
                    ok = ok and len(r.responses) == 1 and [kv_tuple(x) for x in r.responses[0].response_range.kvs] == model.range(b"a", b"")
                checks.check("txn compare case %d (%s)" % (i, "success" if want else "failure"), ok, r)
            # read-only txn: not proposed (revision unchanged), answers ranges
            r = kv[1].Txn(pb.TxnRequest(table=b"t1", success=ops_get), timeout=TIMEOUT)
            checks.check("read-only txn answers without writing", r.succeeded and r.header.revision == last_rev[0] and
                         [kv_tuple(x) for x in r.responses[0].response_range.kvs] == model.range(b"a", b""), r)
        checks.run("txn", txn_checks)

        def iterate_checks():
            for i in range(300):
                put(i % 3, b"it/%04d" % i, os.urandom(rnd.randrange(1, 2000)))
            msgs = list(kv[2].IterateRange(pb.RangeRequest(table=b"t1", key=b"it/", range_end=b"it0", linearizable=True), timeout=30))
            got = [kv_tuple(x) for m in msgs for x in m.kvs]
            checks.check("iterate range returns the whole prefix", got == model.range(b"it/", b"it0"), (len(got),))
            checks.check("iterate range: last message has more=false", msgs and not msgs[-1].more, [m.more for m in msgs])
            msgs = list(kv[0].IterateRange(pb.RangeRequest(table=b"t1", key=b"it/", range_end=b"it0", limit=10, linearizable=True), timeout=30))
            got = [kv_tuple(x) for m in msgs for x in m.kvs]
            checks.check("iterate range honours limit", got == model.range(b"it/", b"it0")[:10], len(got))
        checks.run("iterate", iterate_checks)

        def random_workload():
            keys = [b"r%02d" % i for i in range(40)]
            for step in range(600):
                node = rnd.randrange(3)
                op = rnd.random()
                if op < 0.5:
                    ok, d = put(node, rnd.choice(keys), os.urandom(rnd.randrange(0, 64)), prev_kv=rnd.random() < 0.3)
                    if not checks.check("random put %d" % step, ok, d):
                        return
                elif op < 0.65:
                    k = rnd.choice(keys)
                    end = rnd.choice([b"", b"\0", k[:2] + bytes([k[2] + 1])])
                    r = kv[node].DeleteRange(pb.DeleteRangeRequest(table=b"t1", key=k, range_end=end, prev_kv=True), timeout=TIMEOUT)
                    hits = model.delete(k, end)
                    last_rev[0] = r.header.revision
                    if not checks.check("random delete %d" % step, [kv_tuple(x) for x in r.prev_kvs] == hits, (r, hits)):
                        return
                else:
                    k = rnd.choice(keys)
                    end = rnd.choice([b"", b"\0", b"r3"])
                    ok, d = check_range(node, k, end, limit=rnd.choice([0, 0, 1, 5]), label="random range %d" % step)
                    if not checks.check("random range %d" % step, ok, d):
                        return
        checks.run("random workload", random_workload)

        def cluster_checks():
            m = clus[0].MemberList(pb.MemberListRequest(), timeout=TIMEOUT)
            checks.check("member list has three members", sorted(x.id for x in m.members) == ["1", "2", "3"], m)
            s = rc.wait_until(lambda: (lambda s: s if "t1" in s.tables else None)(clus[1].Status(pb.StatusRequest(), timeout=TIMEOUT)), 10, what="status with t1")
            t = s.tables["t1"]
            checks.check("status reports t1 with a leader, term and indexes", t.leader not in ("", "0") and t.raftTerm > 0 and
                         t.raftAppliedIndex > 0 and t.raftIndex >= t.raftAppliedIndex - 0, t)
        checks.run("cluster", cluster_checks)

        def regattactl_checks():
            code, out, err = regattactl("put", "t1", "ctl-key", "ctl-value")
            checks.check("regattactl put", code == 0 and out.strip() == b"OK", (code, out, err))
            code, out, err = regattactl("--json", "get", "t1", "ctl-", "--prefix")
            doc = json.loads(out) if code == 0 else {}
            checks.check("regattactl get --prefix --json", code == 0 and [k["key"] for k in doc.get("kvs", [])] == ["ctl-key"] and
                         doc["kvs"][0]["value"] == "ctl-value", (code, out, err))
            model.put(b"ctl-key", b"ctl-value", doc.get("revision", 0) or last_rev[0] + 1)
            code, out, err = regattactl("get", "t1", "r", "--prefix", "--count-only")
            checks.check("regattactl count", code == 0 and int(out) == len(model.range(b"r", b"s")), (code, out, err))
            txn = b'version("ctl-key") > "0"\n\nput ctl-key "swapped"\n\nget ctl-key\n'
            code, out, err = regattactl("txn", "t1", stdin=txn)
            checks.check("regattactl txn (text form)", code == 0 and out.startswith(b"SUCCESS"), (code, out, err))
            code, out, err = regattactl("--json", "txn", "t1", stdin=b'{"compare":[{"key":"ctl-key","target":"VALUE","result":"EQUAL","value":"nope"}],"failure":[{"get":{"key":"ctl-key"}}]}')
            doc = json.loads(out) if code == 0 else {}
            checks.check("regattactl txn (JSON form, failure branch)", code == 0 and doc.get("succeeded") is False and
                         doc["responses"][0]["get"]["kvs"][0]["value"] == "swapped", (code, out, err))
            code, out, err = regattactl("get", "missing-table", "k")
            checks.check("regattactl missing table exits 3", code == 3, (code, out, err))
            code, out, err = regattactl("table", "create", "t2")
            checks.check("regattactl table create", code == 0, (code, out, err))
            code, out, err = regattactl("--json", "table", "list")
            names = [t["name"] for t in json.loads(out)["tables"]] if code == 0 else []
            checks.check("regattactl table list", "t1" in names and "t2" in names, (code, out, err))
            code, out, err = regattactl("table", "delete", "t2")
            checks.check("regattactl table delete", code == 0, (code, out, err))
            code, out, err = regattactl("delete", "t1", "ctl-key")
            checks.check("regattactl delete", code == 0 and out.strip() == b"1", (code, out, err))
            code, out, err = regattactl("member", "list")
            checks.check("regattactl member list", code == 0 and len(out.strip().splitlines()) == 3, (code, out, err))
            code, out, err = regattactl("status")
            checks.check("regattactl status", code == 0 and b"t1" in out, (code, out, err))
            code, out, err = regattactl("--endpoints", "127.0.0.1:1", "table", "list")
            checks.check("regattactl unreachable exits 4", code == 4, (code, out, err))
            code, out, err = regattactl("frobnicate")
            checks.check("regattactl usage error exits 2", code == 2, (code, out, err))
        checks.run("regattactl", regattactl_checks)

        def delete_recreate():
            tables[0].Delete(pb.DeleteTableRequest(name="t1"), metadata=auth, timeout=TIMEOUT)
            rc.wait_until(lambda: all("t1" not in {t.name for t in tb.List(pb.ListTablesRequest(), timeout=TIMEOUT).tables} for tb in tables), 20,
                          what="t1 gone everywhere")
            r = tables[2].Create(pb.CreateTableRequest(name="t1"), metadata=auth, timeout=TIMEOUT)
            got = rc.wait_until(lambda: kv[1].Range(pb.RangeRequest(table=b"t1", key=b"\0", range_end=b"\0", linearizable=True), timeout=TIMEOUT), 20,
                                what="re-created t1 readable")
            checks.check("a re-created table is new and empty", len(got.kvs) == 0 and int(r.id) > 0, got)
        checks.run("delete and re-create", delete_recreate)
    finally:
        for n in cluster.nodes:
            if not n.alive() and n.proc is not None and n.proc.returncode not in (0, None, -15):
                print("node %d exited with %s" % (n.id, n.proc.returncode))
        if checks.failed:
            print(cluster.logs())
        try:
            cluster.stop_all()
            checks.check("clean shutdown on SIGTERM", all(n.proc.returncode == 0 for n in cluster.nodes),
                         [n.proc.returncode for n in cluster.nodes])
        except RuntimeError as e:
            checks.check("clean shutdown on SIGTERM", False, e)
        cluster.kill_all()
        work.close()
    checks.finish()


if __name__ == "__main__":
    main()
