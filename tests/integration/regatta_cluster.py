"""regatta_cluster.py — start real `regatta leader` processes on loopback for integration tests
(not a test itself).

  stubs(source_dir, work)  python modules generated at test time from OUR .proto files with
                           Debian's protoc and /usr/bin/grpc_python_plugin: regatta_pb2,
                           regatta_pb2_grpc, mvcc_pb2 (imported as regatta.v1 / mvcc.v1 packages).
  Cluster(...)             N nodes with free loopback ports and their own data dirs; start, stop
                           (SIGTERM), kill (SIGKILL), restart, wait until the API answers.
  Checks                   a tiny PASS/FAIL harness: every check prints its name; exit 1 on any
                           failure. Every wait is bounded.

Invariants: loopback only; every subprocess and RPC has a timeout; temp dirs are removed unless
--keep; servers are always killed at exit.
"""
import argparse
import atexit
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback


def parse_args(extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("--build-dir", required=True)
    p.add_argument("--source-dir", required=True)
    p.add_argument("--keep", action="store_true", help="keep the temp dir (debugging)")
    p.add_argument("--seed", type=int, default=None)
    if extra:
        extra(p)
    return p.parse_args()


def stubs(source_dir, work):
    """Generate python modules for regatta.v1 and mvcc.v1 from our .proto files."""
    out = os.path.join(work, "py")
    os.makedirs(out, exist_ok=True)
    proto_dir = os.path.join(source_dir, "proto")
    files = ["regatta/v1/regatta.proto", "mvcc/v1/mvcc.proto"]
    cmd = ["protoc", "-I", proto_dir, "-I", "/usr/include",
           "--python_out=" + out, "--grpc_python_out=" + out,
           "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"] + \
          [os.path.join(proto_dir, f) for f in files]
    subprocess.run(cmd, check=True, timeout=60)
    if out not in sys.path:
        sys.path.insert(0, out)
    from regatta.v1 import regatta_pb2, regatta_pb2_grpc  # noqa: E402
    from mvcc.v1 import mvcc_pb2  # noqa: E402
    return regatta_pb2, regatta_pb2_grpc, mvcc_pb2


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_rng_ports = random.Random(os.getpid() ^ int(time.time() * 1000))


def free_port():
    """A free loopback port OUTSIDE the kernel's ephemeral range: nodes are killed and restarted
    on the same ports, and a port from the ephemeral range may meanwhile be taken as the source
    port of some outgoing connection (the restarted node could then not listen on it)."""
    lo, _ = _ephemeral_range()
    top = max(lo - 1, 11000)
    for _ in range(1000):
        port = _rng_ports.randrange(10000, top)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port below the ephemeral range")


class Node:
    def __init__(self, cluster, node_id):
        self.cluster = cluster
        self.id = node_id
        self.api_port = free_port()
        self.raft_port = free_port()
        self.rest_port = free_port()
        self.data_dir = os.path.join(cluster.work, "node%d" % node_id)
        self.log_path = os.path.join(cluster.work, "node%d.log" % node_id)
        self.proc = None

    @property
    def api(self):
        return "127.0.0.1:%d" % self.api_port

    @property
    def rest(self):
        return "127.0.0.1:%d" % self.rest_port

    def start(self):
        c = self.cluster
        args = [os.path.join(c.build_dir, "regatta"), "leader",
                "--data-dir", self.data_dir,
                "--cores", str(c.cores),
                "--raft.node-id", str(self.id),
                "--raft.address", "127.0.0.1:%d" % self.raft_port,
                "--raft.initial-members", c.members(),
                "--api.address", "%s://127.0.0.1:%d" % ("https" if c.api_tls else "http", self.api_port),
                "--rest.address", "http://127.0.0.1:%d" % self.rest_port,
                "--dev-mode"] + list(c.extra_args)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, env=c.env)
        log.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise RuntimeError("node %d did not stop within %ds after SIGTERM" % (self.id, timeout))

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=10)

    def pid(self):
        return self.proc.pid if self.alive() else None

    def cpu_seconds(self):
        """utime + stime of the process, from /proc."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


class Cluster:
    def __init__(self, build_dir, work, n=3, cores=1, extra_args=(), env=None, api_tls=False):
        self.build_dir = build_dir
        self.api_tls = api_tls
        self.work = work
        self.cores = cores
        self.extra_args = extra_args
        self.env = dict(os.environ if env is None else env)
        self.nodes = [Node(self, i + 1) for i in range(n)]
        atexit.register(self.kill_all)

    def members(self):
        return ",".join("%d=127.0.0.1:%d" % (n.id, n.raft_port) for n in self.nodes)

    def start(self):
        for n in self.nodes:
            n.start()

    def kill_all(self):
        for n in self.nodes:
            try:
                n.kill()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass

    def stop_all(self):
        for n in self.nodes:
            n.stop()

    def logs(self):
        return "\n".join("--- node %d log tail ---\n%s" % (n.id, n.log_tail()) for n in self.nodes)


class Checks:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("PASS", name, flush=True)
        else:
            self.failed += 1
            print("FAIL", name, detail, flush=True)
        return cond

    def run(self, name, fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 - report and go on to the next check
            self.failed += 1
            print("FAIL", name, "raised:\n" + traceback.format_exc(), flush=True)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed else 0)


def wait_until(fn, timeout, interval=0.05, what="condition"):
    """Call fn until it returns a truthy value (returned) or the timeout passes (raises)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - keep polling until the deadline
            last = e
        time.sleep(interval)
    raise TimeoutError("%s not reached within %.1fs (last error: %r)" % (what, timeout, last))


class Workdir:
    def __init__(self, keep=False):
        self.path = tempfile.mkdtemp(prefix="regatta-it-")
        self.keep = keep

    def close(self):
        if self.keep:
            print("kept temp dir", self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)
