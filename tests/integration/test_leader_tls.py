#!/usr/bin/env python3
"""test_leader_tls.py — a 3-node leader cluster with TLS everywhere: the client API over https
with client-certificate verification (mTLS), and the Raft port between nodes over mTLS too.

Checks with Debian's python3-grpcio and with regattactl: a client with a certificate from the
cluster's CA can create a table, write through one node and read through another (so Raft
replicated over TLS); a client without a certificate, or with one from another CA, is refused.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpcinterop  # noqa: E402  (certificates)
import regatta_cluster as rc  # noqa: E402

import grpc  # noqa: E402

TIMEOUT = 10


def node_cert(work, ca_crt, ca_key):
    """A certificate for node-to-node mTLS: both server and client use."""
    d = os.path.join(work, "certs")
    ext = os.path.join(d, "node-ext.cnf")
    with open(ext, "w") as f:
        f.write("[node]\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n")
    run = lambda a: subprocess.run(["openssl"] + a, cwd=d, check=True, timeout=60,  # noqa: E731
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "node.key",
         "-out", "node.csr", "-subj", "/CN=regatta-node"])
    run(["x509", "-req", "-in", "node.csr", "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
         "-out", "node.crt", "-extfile", ext, "-extensions", "node"])
    return os.path.join(d, "node.crt"), os.path.join(d, "node.key")


def main():
    args = rc.parse_args()
    work = rc.Workdir(args.keep)
    checks = rc.Checks()
    pb, pbg, _ = rc.stubs(args.source_dir, work.path)
    certs = grpcinterop.certs(work.path)
    ca_key = os.path.join(os.path.dirname(certs["ca"]), "ca.key")
    ncrt, nkey = node_cert(work.path, certs["ca"], ca_key)
    extra = ["--api.cert-filename", certs["server_crt"], "--api.key-filename", certs["server_key"],
             "--api.ca-filename", certs["ca"], "--api.client-cert-auth",
             "--raft.cert-filename", ncrt, "--raft.key-filename", nkey, "--raft.ca-filename", certs["ca"]]
    cluster = rc.Cluster(args.build_dir, work.path, n=3, cores=1, extra_args=extra, api_tls=True)
    cluster.start()

    def read(p):
        with open(p, "rb") as f:
            return f.read()
    good = grpc.ssl_channel_credentials(read(certs["ca"]), read(certs["client_key"]), read(certs["client_crt"]))
    nocert = grpc.ssl_channel_credentials(read(certs["ca"]))
    rogue = grpc.ssl_channel_credentials(read(certs["ca"]), read(certs["rogue_key"]), read(certs["rogue_crt"]))
    opts = (("grpc.ssl_target_name_override", "localhost"),)
    try:
        ch = [grpc.secure_channel(n.api, good, opts) for n in cluster.nodes]
        tables = pbg.TablesStub(ch[0])
        rc.wait_until(lambda: tables.List(pb.ListTablesRequest(), timeout=2) is not None, 60, what="TLS API up")
        tables.Create(pb.CreateTableRequest(name="secure"), timeout=TIMEOUT)
        pbg.KVStub(ch[1]).Put(pb.PutRequest(table=b"secure", key=b"k", value=b"v"), timeout=TIMEOUT)
        r = pbg.KVStub(ch[2]).Range(pb.RangeRequest(table=b"secure", key=b"k", linearizable=True), timeout=TIMEOUT)
        checks.check("mTLS client: write on one node, linearizable read on another (Raft over mTLS)",
                     len(r.kvs) == 1 and r.kvs[0].value == b"v", r)
        for label, creds in (("no client certificate", nocert), ("a certificate from another CA", rogue)):
            try:
                pbg.TablesStub(grpc.secure_channel(cluster.nodes[0].api, creds, opts)).List(pb.ListTablesRequest(), timeout=5)
                checks.check("client with %s refused" % label, False)
            except grpc.RpcError as e:
                checks.check("client with %s refused" % label, e.code() == grpc.StatusCode.UNAVAILABLE, e.code())
        ctl = os.path.join(args.build_dir, "regattactl")
        ep = "https://" + cluster.nodes[1].api
        p = subprocess.run([ctl, "--endpoints", ep, "--cacert", certs["ca"], "--cert", certs["client_crt"],
                            "--key", certs["client_key"], "get", "secure", "k"], capture_output=True, timeout=60)
        checks.check("regattactl over mTLS", p.returncode == 0 and p.stdout == b"k\nv\n", (p.returncode, p.stdout, p.stderr))
        p = subprocess.run([ctl, "--endpoints", ep, "--cacert", certs["ca"], "get", "secure", "k"],
                           capture_output=True, timeout=60)
        checks.check("regattactl without a client certificate exits 4", p.returncode == 4, (p.returncode, p.stderr))
    except Exception as e:  # noqa: BLE001
        checks.check("TLS scenario ran to the end", False, repr(e))
    finally:
        if checks.failed:
            print(cluster.logs())
        cluster.kill_all()
        work.close()
    checks.finish()


if __name__ == "__main__":
    main()
