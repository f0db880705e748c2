#!/usr/bin/env python3
"""test_regatta_bench.py — regatta-bench behaves: it finishes, counts add up, JSON parses,
failed calls are counted as errors (never as successes).

Against a single-node etcd 3.4 (Debian's etcd-server, loopback, temp data dir) and, when the
build has a `regatta` program, against a one-node `regatta leader`. Asserts behaviour only:
no timing. Skips the etcd part with a message when /usr/bin/etcd is missing
(scripts/install-deps.sh installs etcd-server).

Checks, per server:
  - closed loop with a total: issued == the total, ok + errors == issued per op, latency
    histogram count == ok, JSON has config (seed, commit) and results;
  - mixed workload with preload: the preload wrote every key (an independent client, etcdctl,
    counts them on etcd), reads found them, per-op issued sums to the total;
  - duration mode and open loop (--rate) complete and still add up;
  - a call that fails is an error by its gRPC status: regatta.v1 against etcd is UNIMPLEMENTED,
    a missing table on our server is NOT_FOUND;
  - nothing listening: exit code 3; bad usage: exit code 2.
Seeded: every run gets --seed (printed; --seed replays).
"""
import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Bench:
    def __init__(self, exe, seed):
        self.exe = exe
        self.seed = seed
        self.n = 0

    def run(self, args, want_rc=0, timeout=120):
        self.n += 1
        seed = [] if args == ["--self-test"] else ["--seed", str(self.seed + self.n)]
        cmd = [self.exe] + seed + args
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        check(r.returncode == want_rc,
              f"{' '.join(cmd)}: exit {r.returncode}, want {want_rc}; stderr: {r.stderr[-500:]}")
        return r

    def json(self, args):
        r = self.run(args + ["--json"])
        try:
            return json.loads(r.stdout)
        except json.JSONDecodeError as e:
            check(False, f"{args}: output is not JSON ({e}): {r.stdout[:300]!r}")
            return None


def check_counts(doc, what, total=None):
    """ok + errors == issued, overall and per op; histograms count the successes."""
    if doc is None:
        return None
    res = doc["result"]
    check(res["ok"] + res["errors"] == res["issued"],
          f"{what}: ok {res['ok']} + errors {res['errors']} != issued {res['issued']}")
    check(res["latency_us"]["count"] == res["ok"], f"{what}: latency count != ok")
    if total is not None:
        check(res["issued"] == total, f"{what}: issued {res['issued']}, want {total}")
    issued = 0
    for name, op in res["ops"].items():
        check(op["ok"] + op["errors"] == op["issued"], f"{what}: {name}: ok + errors != issued")
        check(sum(op["errors_by_status"].values()) == op["errors"],
              f"{what}: {name}: errors by status do not add up")
        check(op["latency_us"]["count"] == op["ok"], f"{what}: {name}: latency count != ok")
        issued += op["issued"]
    check(issued == res["issued"], f"{what}: per-op issued {issued} != {res['issued']}")
    cfg = doc["config"]
    check(doc["tool"] == "regatta-bench" and doc["commit"], f"{what}: tool/commit missing")
    check(cfg["seed"].isdigit(), f"{what}: seed missing")
    return res


def common_runs(b, target, ep, extra):
    """The checks both servers share. extra: target-specific flags (table)."""
    base = ["--target", target, "--endpoints", ep] + extra
    # Closed loop, fixed total, several threads/connections/clients.
    doc = b.json(base + ["--workload", "put", "--total", "400", "--threads", "2", "--conns",
                         "3", "--clients", "9", "--keys", "1000"])
    res = check_counts(doc, f"{target} put", total=400)
    if res:
        check(res["errors"] == 0, f"{target} put: errors {res['errors_by_status']}")
        check(doc["preload"] is None, f"{target} put: no preload expected")
    # Mixed with preload: every key written once, then reads find them.
    doc = b.json(base + ["--workload", "mixed", "--total", "500", "--clients", "6", "--conns",
                         "2", "--keys", "150", "--key-prefix", "mix/", "--txn-compare", "value"])
    res = check_counts(doc, f"{target} mixed", total=500)
    if res:
        pre = doc["preload"]
        check(pre is not None and pre["ok"] == 150 and pre["issued"] == 150,
              f"{target} mixed: preload {pre and (pre['issued'], pre['ok'])}, want 150 ok")
        check(res["errors"] == 0, f"{target} mixed: errors {res['errors_by_status']}")
        check(res["range_misses"] == 0, f"{target} mixed: {res['range_misses']} reads missed preloaded keys")
        txn = res["ops"].get("txn")
        if txn:
            check(txn["txn_compare_failed"] == 0, f"{target} mixed: VALUE compares failed")
    # Duration mode and open loop: they end on their own and add up.
    res = check_counts(b.json(base + ["--workload", "range", "--duration", "1", "--keys", "50",
                                      "--clients", "4"]), f"{target} duration")
    if res:
        check(res["issued"] > 0, f"{target} duration: nothing issued")
    res = check_counts(b.json(base + ["--workload", "put", "--duration", "1", "--rate", "200",
                                      "--clients", "4", "--keys", "50"]), f"{target} open loop")
    if res:
        check(res["issued"] > 0, f"{target} open loop: nothing issued")
    # Text output says what ran.
    r = b.run(base + ["--total", "20"])
    check("seed" in r.stdout and "commit" in r.stdout and "throughput" in r.stdout,
          f"{target}: text output lacks seed/commit/throughput: {r.stdout[:300]!r}")


def etcd_part(b, tmp, src):
    etcd = shutil.which("etcd") or ("/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None)
    if not etcd:
        print("SKIP etcd part: etcd not installed (apt-get install etcd-server; "
              "scripts/install-deps.sh does)", flush=True)
        return
    cport, pport = free_port(), free_port()
    data = os.path.join(tmp, "etcd")
    log = open(os.path.join(tmp, "etcd.log"), "w")
    proc = subprocess.Popen([etcd, "--name", "n1", "--data-dir", data,
                             "--listen-client-urls", f"http://127.0.0.1:{cport}",
                             "--advertise-client-urls", f"http://127.0.0.1:{cport}",
                             "--listen-peer-urls", f"http://127.0.0.1:{pport}",
                             "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
                             "--initial-cluster", f"n1=http://127.0.0.1:{pport}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        check(wait_port(cport, proc), "etcd did not start")
        if failures:
            return
        ep = f"127.0.0.1:{cport}"
        # etcd elects itself shortly after listening: wait until a put succeeds (bounded).
        for _ in range(50):
            r = subprocess.run([b.exe, "--target", "etcd", "--endpoints", ep, "--total", "1",
                                "--json", "--timeout", "2"], capture_output=True, text=True, timeout=30)
            if r.returncode == 0 and json.loads(r.stdout)["result"]["ok"] == 1:
                break
            time.sleep(0.2)
        common_runs(b, "etcd", ep, [])
        # An independent client sees the preloaded keys: etcdctl counts them.
        etcdctl = shutil.which("etcdctl")
        if etcdctl:
            r = subprocess.run([etcdctl, "--endpoints", ep, "get", "mix/", "--prefix", "--keys-only",
                                "-w", "json"], capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, ETCDCTL_API="3"))
            check(r.returncode == 0 and json.loads(r.stdout).get("count") == 150,
                  f"etcdctl count of mix/ keys: {r.stdout[:200]!r} {r.stderr[:200]!r}")
        # The wrong API: every call fails with UNIMPLEMENTED, none counts as a success.
        doc = b.json(["--target", "regatta", "--endpoints", ep, "--total", "50", "--clients", "5"])
        res = check_counts(doc, "regatta.v1 against etcd", total=50)
        if res:
            check(res["ok"] == 0 and res["errors"] == 50 and
                  res["errors_by_status"].get("UNIMPLEMENTED") == 50,
                  f"regatta.v1 against etcd: {res['ok']} ok, errors {res['errors_by_status']}")
        print("etcd part: done", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def regatta_part(b, tmp, build):
    exe = os.path.join(build, "regatta")
    if not os.access(exe, os.X_OK):
        print("SKIP regatta part: no regatta program in this build", flush=True)
        return
    api, raft = free_port(), free_port()
    log = open(os.path.join(tmp, "regatta.log"), "w")
    proc = subprocess.Popen([exe, "leader", "--data-dir", os.path.join(tmp, "regatta"),
                             "--cores", "1", "--api.address", f"http://127.0.0.1:{api}",
                             "--raft.address", f"127.0.0.1:{raft}", "--rest.address", ""],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        check(wait_port(api, proc), "regatta leader did not start (see its log)")
        if failures:
            return
        ep = f"127.0.0.1:{api}"
        # Create the table, retrying while the node elects itself (bounded).
        for _ in range(50):
            r = subprocess.run([b.exe, "--endpoints", ep, "--table", "bench", "--create-table",
                                "--total", "1", "--json", "--timeout", "2"],
                               capture_output=True, text=True, timeout=30)
            if r.returncode == 0 and json.loads(r.stdout)["result"]["ok"] == 1:
                break
            time.sleep(0.2)
        common_runs(b, "regatta", ep, ["--table", "bench"])
        # A table that does not exist: NOT_FOUND, counted as errors, never as successes.
        doc = b.json(["--endpoints", ep, "--table", "no-such-table", "--total", "60",
                      "--clients", "6", "--workload", "mixed", "--no-preload"])
        res = check_counts(doc, "missing table", total=60)
        if res:
            check(res["ok"] == 0 and res["errors_by_status"].get("NOT_FOUND") == 60,
                  f"missing table: {res['ok']} ok, errors {res['errors_by_status']}")
        print("regatta part: done", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print(f"test_regatta_bench: seed {seed} (--seed {seed} replays)", flush=True)
    exe = os.path.join(args.build_dir, "regatta-bench")
    if not os.access(exe, os.X_OK):
        print(f"missing {exe}: build first", file=sys.stderr)
        return 1
    b = Bench(exe, seed)
    r = b.run(["--self-test"])
    check("ok" in r.stdout, f"self-test: {r.stdout!r}")
    b.run(["--clients", "0"], want_rc=2)
    b.run(["--conns", "4", "--clients", "2"], want_rc=2)
    b.run(["--endpoints", f"127.0.0.1:{free_port()}", "--total", "5"], want_rc=3)
    with tempfile.TemporaryDirectory(prefix="rb-test-") as tmp:
        etcd_part(b, tmp, args.source_dir)
        regatta_part(b, tmp, args.build_dir)
        if failures:
            for name in ("etcd.log", "regatta.log"):
                p = os.path.join(tmp, name)
                if os.path.exists(p):
                    print(f"--- tail of {name}:\n" + open(p).read()[-2000:], flush=True)
    if failures:
        print(f"{len(failures)} failure(s); seed {seed}", flush=True)
        return 1
    print("test_regatta_bench: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
