"""grpcinterop.py — shared helpers for the gRPC interop tests (not a test itself).

What it gives the test_grpc_*.py files:
  - stubs(): python modules generated at test time from our .proto files with Debian's protoc and
    /usr/bin/grpc_python_plugin (never python3-grpc-tools, whose bundled protoc is older). The
    .proto files are copied flat into a temp dir first, so the generated modules are `echo_pb2`
    and `health_pb2` and cannot shadow the real `grpc` or the stdlib `test` package; the wire
    names (package regatta.test.v1, grpc.health.v1) come from the `package` line and are the same.
  - certs(): a CA, a server certificate (SAN 127.0.0.1 and localhost), a client certificate from
    the same CA and a second "rogue" CA with its own client certificate, all made with the
    openssl CLI (EC P-256) in a temp dir.
  - Proc: a child process whose stdout is read line by line with a deadline (the servers print
    "port=<n>" once listening); always killed at the end.
  - a tiny check/report harness: every check prints PASS/FAIL with its name; the program exits 1
    if any failed. Every wait is bounded.

Invariants: loopback only; every subprocess and every RPC has a timeout; temp dirs are removed.
"""
import argparse
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ECHO_PROTO = "proto/test/v1/echo.proto"
HEALTH_PROTO = "proto/grpc/health/v1/health.proto"

# Status codes by name (grpc.StatusCode values are tuples; keep the numbers here for the C side).
CODES = {
    "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
    "INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}


def parse_args(extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("--build-dir", required=True)
    p.add_argument("--source-dir", required=True)
    p.add_argument("--keep", action="store_true", help="keep the temp dir (debugging)")
    if extra:
        extra(p)
    return p.parse_args()


SKIP = 77  # ctest SKIP_RETURN_CODE of the integration tests


def need_programs(build_dir, *names):
    """Exit with SKIP when a C program the test drives was not built (see CMakeLists.txt)."""
    missing = [n for n in names
               if not os.path.exists(os.path.join(build_dir, "tests", "integration", n))]
    if missing:
        print("SKIP: not built:", ", ".join(missing))
        sys.exit(SKIP)


def pattern(n):
    """The payload rule of EchoRequest.response_bytes: byte i = i % 251."""
    return bytes(i % 251 for i in range(251)) * (n // 251) + bytes(range(n % 251))


class Workdir:
    """A temp dir removed at exit unless --keep."""

    def __init__(self, keep=False):
        self.path = tempfile.mkdtemp(prefix="regatta-grpc-")
        self.keep = keep

    def close(self):
        if self.keep:
            print("kept temp dir", self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def stubs(source_dir, work):
    """Generate and import echo_pb2, echo_pb2_grpc, health_pb2, health_pb2_grpc."""
    src = os.path.join(work, "protos")
    out = os.path.join(work, "py")
    os.makedirs(src, exist_ok=True)
    os.makedirs(out, exist_ok=True)
    shutil.copy(os.path.join(source_dir, ECHO_PROTO), os.path.join(src, "echo.proto"))
    shutil.copy(os.path.join(source_dir, HEALTH_PROTO), os.path.join(src, "health.proto"))
    cmd = ["protoc", "-I", src, "--python_out=" + out, "--grpc_python_out=" + out,
           "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
           os.path.join(src, "echo.proto"), os.path.join(src, "health.proto")]
    subprocess.run(cmd, check=True, timeout=60)
    if out not in sys.path:
        sys.path.insert(0, out)
    import echo_pb2, echo_pb2_grpc, health_pb2, health_pb2_grpc  # noqa: E401
    return echo_pb2, echo_pb2_grpc, health_pb2, health_pb2_grpc


def _openssl(args, cwd):
    subprocess.run(["openssl"] + args, cwd=cwd, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def certs(work):
    """CA + server cert + client cert (+ a rogue CA and its client cert). Returns a dict of paths."""
    d = os.path.join(work, "certs")
    os.makedirs(d, exist_ok=True)
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("[srv]\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "[cli]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=clientAuth\n")

    def ca(name):
        _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", name + ".key", "-out", name + ".crt", "-days", "2",
                  "-subj", "/CN=" + name], d)

    def leaf(name, caname, section, cn):
        _openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                  "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn], d)
        _openssl(["x509", "-req", "-in", name + ".csr", "-CA", caname + ".crt", "-CAkey",
                  caname + ".key", "-CAcreateserial", "-out", name + ".crt", "-days", "2",
                  "-extfile", ext, "-extensions", section], d)

    ca("ca")
    ca("rogue-ca")
    leaf("server", "ca", "srv", "localhost")
    leaf("client", "ca", "cli", "regatta-test-client")
    leaf("rogue-client", "rogue-ca", "cli", "rogue-client")
    p = lambda n: os.path.join(d, n)  # noqa: E731
    return {"ca": p("ca.crt"), "server_crt": p("server.crt"), "server_key": p("server.key"),
            "client_crt": p("client.crt"), "client_key": p("client.key"),
            "rogue_ca": p("rogue-ca.crt"), "rogue_crt": p("rogue-client.crt"),
            "rogue_key": p("rogue-client.key")}


def read(path):
    with open(path, "rb") as f:
        return f.read()


class Proc:
    """A child process with a bounded line reader on its stdout (stderr passes through)."""

    def __init__(self, argv, env=None, name=None):
        self.name = name or os.path.basename(argv[0])
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=None, env=env,
                                  text=True, bufsize=1)
        self.lines = queue.Queue()
        self.t = threading.Thread(target=self._pump, daemon=True)
        self.t.start()

    def _pump(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, prefix, timeout=30.0):
        """Return the rest of the first stdout line starting with prefix, or raise."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError("%s: no line %r within %.0fs" % (self.name, prefix, timeout))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("%s exited (rc=%s) before printing %r"
                                   % (self.name, self.p.wait(), prefix))
            print("[%s] %s" % (self.name, line))
            if line.startswith(prefix):
                return line[len(prefix):]

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL; returns the exit code."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=timeout)
        return self.p.returncode


def run(argv, timeout=30.0, env=None):
    """Run a program to completion; returns (rc, stdout). stderr passes through."""
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=None, text=True, timeout=timeout,
                       env=env)
    return r.returncode, r.stdout


class Checks:
    """Named checks: each runs, prints PASS/FAIL, and the summary decides the exit code."""

    def __init__(self):
        self.failed = []
        self.passed = 0

    def run(self, name, fn, *args):
        t0 = time.monotonic()
        try:
            fn(*args)
        except Exception as e:  # a check failing must not stop the others
            self.failed.append(name)
            print("FAIL %s (%.2fs): %s: %s" % (name, time.monotonic() - t0, type(e).__name__, e))
            traceback.print_exc(limit=3)
            sys.stdout.flush()
            return False
        self.passed += 1
        print("PASS %s (%.2fs)" % (name, time.monotonic() - t0))
        sys.stdout.flush()
        return True

    def finish(self):
        print("%d passed, %d failed%s" % (self.passed, len(self.failed),
                                          (": " + ", ".join(self.failed)) if self.failed else ""))
        return 1 if self.failed else 0


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_eq(got, want, what):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))
