#!/usr/bin/env python3
"""test_leader_tables.py — 100 tables on a 3-node leader cluster at once.

Creates 100 tables, writes and reads back a key in each (through different nodes), measures the
servers' CPU while every table sits idle (printed, with the same measurement for one table: a
benchmark figure, not an assertion), checks that a deleted table frees its disk space on every
node and that a table re-created under the same name is new and empty.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regatta_cluster as rc  # noqa: E402

import grpc  # noqa: E402

TIMEOUT = 10
N_TABLES = 100


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


def idle_cpu(cluster, seconds):
    before = sum(n.cpu_seconds() for n in cluster.nodes)
    time.sleep(seconds)
    after = sum(n.cpu_seconds() for n in cluster.nodes)
    return (after - before) / seconds


def main():
    args = rc.parse_args()
    work = rc.Workdir(args.keep)
    checks = rc.Checks()
    pb, pbg, _ = rc.stubs(args.source_dir, work.path)
    cluster = rc.Cluster(args.build_dir, work.path, n=3, cores=1)
    cluster.start()
    chans = [grpc.insecure_channel(n.api) for n in cluster.nodes]
    kv = [pbg.KVStub(c) for c in chans]
    tables = [pbg.TablesStub(c) for c in chans]
    try:
        rc.wait_until(lambda: tables[0].List(pb.ListTablesRequest(), timeout=2) is not None, 60, what="cluster up")
        tables[0].Create(pb.CreateTableRequest(name="one"), timeout=TIMEOUT)
        kv[1].Put(pb.PutRequest(table=b"one", key=b"k", value=b"v"), timeout=TIMEOUT)
        time.sleep(2)  # let the groups go quiet
        cpu_one = idle_cpu(cluster, 5)
        for i in range(N_TABLES - 1):
            tables[i % 3].Create(pb.CreateTableRequest(name="t%03d" % i), timeout=TIMEOUT)
        names = ["one"] + ["t%03d" % i for i in range(N_TABLES - 1)]
        for i, name in enumerate(names):
            kv[i % 3].Put(pb.PutRequest(table=name.encode(), key=b"key", value=name.encode()), timeout=TIMEOUT)
        ok = 0
        for i, name in enumerate(names):
            r = kv[(i + 1) % 3].Range(pb.RangeRequest(table=name.encode(), key=b"key", linearizable=True), timeout=TIMEOUT)
            ok += len(r.kvs) == 1 and r.kvs[0].value == name.encode()
        checks.check("%d tables: every write read back through another node" % N_TABLES, ok == N_TABLES, ok)
        listed = {t.name for t in tables[2].List(pb.ListTablesRequest(), timeout=TIMEOUT).tables}
        checks.check("all tables listed", set(names) <= listed, len(listed))
        time.sleep(3)  # idle: the groups quiesce
        cpu_many = idle_cpu(cluster, 5)
        print("idle CPU of the 3 server processes together: %.1f%% of a core with 1 table, %.1f%% with %d tables"
              % (cpu_one * 100, cpu_many * 100, N_TABLES), flush=True)
        # deleting a table frees its disk space on every node
        # (more than one memtable, so the table's data reaches its LSM files on every node)
        big = os.urandom(100000)
        for i in range(300):
            kv[i % 3].Put(pb.PutRequest(table=b"one", key=b"big%03d" % i, value=big), timeout=TIMEOUT)
        sizes = rc.wait_until(lambda: (lambda s: s if min(s) > 10_000_000 else None)(
            [du(os.path.join(n.data_dir, "tables")) for n in cluster.nodes]), 30, interval=0.2,
            what="30 MB of table data on disk")
        tables[1].Delete(pb.DeleteTableRequest(name="one"), timeout=TIMEOUT)
        after = rc.wait_until(lambda: (lambda s: s if all(a + 2_000_000 < b for a, b in zip(s, sizes)) else None)(
            [du(os.path.join(n.data_dir, "tables")) for n in cluster.nodes]), 30, interval=0.2, what="space freed")
        checks.check("deleting a table frees its disk space on every node", True, (sizes, after))
        try:
            kv[2].Range(pb.RangeRequest(table=b"one", key=b"key"), timeout=TIMEOUT)
            checks.check("deleted table is NOT_FOUND", False)
        except grpc.RpcError as e:
            checks.check("deleted table is NOT_FOUND", e.code() == grpc.StatusCode.NOT_FOUND, e)
        tables[2].Create(pb.CreateTableRequest(name="one"), timeout=TIMEOUT)
        r = rc.wait_until(lambda: kv[0].Range(pb.RangeRequest(table=b"one", key=b"\0", range_end=b"\0", linearizable=True), timeout=TIMEOUT),
                          20, what="re-created table readable")
        checks.check("re-created table is empty", len(r.kvs) == 0, r)
    except Exception as e:  # noqa: BLE001
        checks.check("100-table scenario ran to the end", False, repr(e))
    finally:
        if checks.failed:
            print(cluster.logs())
        cluster.kill_all()
        work.close()
    checks.finish()


if __name__ == "__main__":
    main()
