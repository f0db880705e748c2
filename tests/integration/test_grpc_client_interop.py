#!/usr/bin/python3
"""test_grpc_client_interop.py — OUR gRPC client (tests/integration/grpc_test_client.c on
net/grpc_client.h + net/transport.h) calls a real gRPC server, Debian's python3-grpcio 1.51
(py_echo_server.py), the same ways the python client calls ours: every call shape, error
status with a percent-encoded message, many concurrent calls, cancellation, deadline expiry ->
DEADLINE_EXCEEDED, oversize request/response -> RESOURCE_EXHAUSTED, unknown method ->
UNIMPLEMENTED, health Check and Watch (the server's status flipped between Watch messages),
gzip both ways, TLS, and mTLS accept/reject.

Then the same client against OUR server too, adding what python3-grpcio cannot speak: snappy
(framing format, as Regatta's Go client sends it) and deflate request compression.

The C client checks every answer itself and prints PASS/FAIL per case; this test runs it in the
right configurations and drives the interactive Watch case. Bounded, loopback only.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpcinterop as gi  # noqa: E402
from grpcinterop import expect, expect_eq  # noqa: E402

ALL = ["unary", "unary_big", "error_status", "server_stream", "client_stream", "bidi",
       "concurrent", "cancel", "deadline", "oversize", "unknown", "health_check"]
STREAMS = ["unary", "unary_big", "server_stream", "client_stream", "bidi"]


def client_argv(a, port, c=None, cert=None, compression=None):
    argv = [os.path.join(a.build_dir, "tests", "integration", "grpc_test_client"),
            "--target", "127.0.0.1:%d" % port]
    if c:
        argv += ["--tls-ca", c["ca"]]
    if cert:
        argv += ["--cert", cert[0], "--key", cert[1]]
    if compression:
        argv += ["--compression", compression]
    return argv


def run_cases(ck, label, argv, cases):
    """Run the client once with all cases; one check per case from its PASS/FAIL lines."""
    rc, out = gi.run(argv + cases, timeout=240)
    got = {}
    for line in out.splitlines():
        print("[client] " + line)
        parts = line.split(" ", 2)
        if len(parts) >= 2 and parts[0] in ("PASS", "FAIL"):
            got[parts[1]] = line
    for case in cases:
        line = got.get(case, "missing (client rc=%d)" % rc)
        ck.run("%s.%s" % (label, case), lambda: expect(line.startswith("PASS"), line))
    ck.run("%s.exit_code" % label, lambda: expect_eq(rc, 0, "client exit code"))


def watch_case(ck, label, argv, server):
    """health_watch: flip the server's health after each Watch message the client prints."""
    def go():
        p = gi.Proc(argv + ["health_watch"], name="client-watch")
        try:
            for i, want in enumerate(("1", "2", "1")):
                s = p.wait_for("watch status=", timeout=30)
                expect_eq(s, want, "Watch message %d" % i)
                if i < 2:  # SERVING -> NOT_SERVING -> SERVING: the server ends as it began
                    server.p.send_signal(signal.SIGUSR1)
            p.wait_for("PASS health_watch", timeout=30)
            expect_eq(p.p.wait(timeout=30), 0, "client exit code")
        finally:
            p.stop()
    ck.run("%s.health_watch" % label, go)


def start_py(a, work, name, c=None, mtls=False, compression="none"):
    argv = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "py_echo_server.py"),
            "--source-dir", a.source_dir, "--work-dir", os.path.join(work, "srv-" + name),
            "--compression", compression]
    if c:
        argv += ["--tls", c["server_crt"], c["server_key"]]
    if mtls:
        argv += ["--client-ca", c["ca"]]
    p = gi.Proc(argv, name="py-" + name)
    return p, int(p.wait_for("port=", timeout=60))


def start_ours(a, name, c=None, mtls=False):
    argv = [os.path.join(a.build_dir, "tests", "integration", "grpc_test_server")]
    if c:
        argv += ["--tls-listen", "127.0.0.1:0", "--cert", c["server_crt"], "--key",
                 c["server_key"]]
        if mtls:
            argv += ["--client-ca", c["ca"]]
        key = "tls_port="
    else:
        argv += ["--listen", "127.0.0.1:0"]
        key = "port="
    p = gi.Proc(argv, name="ours-" + name)
    return p, int(p.wait_for(key, timeout=60))


def main():
    a = gi.parse_args()
    print("backend:", os.environ.get("REGATTA_IO_BACKEND", "auto"))
    gi.need_programs(a.build_dir, "grpc_test_client", "grpc_test_server")
    wd = gi.Workdir(a.keep)
    ck = gi.Checks()
    procs = []

    def keep(pp):
        procs.append(pp[0])
        return pp

    try:
        gi.stubs(a.source_dir, wd.path)  # fail early if protoc/plugin are missing
        c = gi.certs(wd.path)
        mine = (c["client_crt"], c["client_key"])
        rogue = (c["rogue_crt"], c["rogue_key"])

        # ---- our client -> python3-grpcio server ----
        srv, port = keep(start_py(a, wd.path, "plain"))
        run_cases(ck, "py.plain", client_argv(a, port), ALL)
        watch_case(ck, "py.plain", client_argv(a, port), srv)
        srv, port = keep(start_py(a, wd.path, "gzip", compression="gzip"))
        run_cases(ck, "py.gzip", client_argv(a, port, compression="gzip"), STREAMS)
        srv, port = keep(start_py(a, wd.path, "tls", c))
        run_cases(ck, "py.tls", client_argv(a, port, c), STREAMS + ["health_check"])
        srv, port = keep(start_py(a, wd.path, "mtls", c, mtls=True))
        run_cases(ck, "py.mtls.accept", client_argv(a, port, c, mine), ["unary", "bidi"])
        run_cases(ck, "py.mtls.no_cert", client_argv(a, port, c), ["expect_unavailable"])
        run_cases(ck, "py.mtls.rogue_cert", client_argv(a, port, c, rogue),
                  ["expect_unavailable"])

        # ---- our client -> our server (adds snappy and deflate) ----
        srv, port = keep(start_ours(a, "plain"))
        run_cases(ck, "ours.plain", client_argv(a, port), ALL)
        watch_case(ck, "ours.plain", client_argv(a, port), srv)
        for comp in ("snappy", "gzip", "deflate"):
            run_cases(ck, "ours." + comp, client_argv(a, port, compression=comp), STREAMS)
        srv, port = keep(start_ours(a, "mtls", c, mtls=True))
        run_cases(ck, "ours.mtls.accept", client_argv(a, port, c, mine),
                  STREAMS + ["health_check"])
        run_cases(ck, "ours.mtls.no_cert", client_argv(a, port, c), ["expect_unavailable"])
        run_cases(ck, "ours.mtls.rogue_cert", client_argv(a, port, c, rogue),
                  ["expect_unavailable"])
        for p in procs:
            ck.run("alive." + p.name, lambda: expect(p.alive(), "server still running"))
    finally:
        for p in procs:
            p.stop()
        wd.close()
    return ck.finish()


if __name__ == "__main__":
    sys.exit(main())
