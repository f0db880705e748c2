#!/usr/bin/python3
"""test_proto_wire.py — our .proto files and our C decoder agree with the outside world.

Three independent checks:

1. Regatta's schema. REGATTA below is a transcription (facts only: names, numbers, types,
   labels, enum values, methods, streaming kinds) of jamf/regatta's published protos, checked
   against the descriptors protoc builds from OUR .proto files. Every Regatta field must be
   there with the same number, type and label; extra fields are allowed only where
   DESIGN.md adds them (OURS). This is what makes an unchanged Regatta client work.
2. Streaming kinds. The gRPC stubs grpc_python_plugin generates from our files are driven
   against a recording channel; the kind of each method (unary/server/client stream) must
   match Regatta and the C method table (`proto_roundtrip methods`).
3. Bytes. Python's protobuf (Debian python3-protobuf, a separate implementation) encodes
   messages of every type with every field set (one run per oneof member); the C tool built
   from our decoder decodes them, prints them field by field and re-encodes them. The C
   field dump must equal the same dump computed from the Python message, the C re-encoding
   must parse in Python to an equal message and be byte-identical, and C must see no unknown
   fields. Truncated, corrupted, too-deep and too-big inputs must give clean errors.

Usage: /usr/bin/python3 test_proto_wire.py --build-dir B --source-dir S [--seed N]
"""
import argparse
import importlib
import importlib.util
import os
import random
import struct
import subprocess
import sys
import tempfile
import types

# --- 1. Regatta's schema, transcribed --------------------------------------------------------
# "<message>: <label?> <type> <name> <number>, ..."   label: r = repeated, o = proto3 optional
# (explicit presence), m = map (type "key=>value"); a type is a scalar or a full type name.
REGATTA = """
mvcc.v1.Command: bytes table 1, mvcc.v1.Command.CommandType type 2, mvcc.v1.KeyValue kv 3,
  o uint64 leader_index 5, r mvcc.v1.KeyValue batch 6, o mvcc.v1.Txn txn 7, o bytes range_end 8,
  bool prev_kvs 9, r mvcc.v1.Command sequence 10, bool count 11
mvcc.v1.CommandResult: r mvcc.v1.ResponseOp responses 1, uint64 revision 2
mvcc.v1.Txn: r mvcc.v1.Compare compare 1, r mvcc.v1.RequestOp success 2,
  r mvcc.v1.RequestOp failure 3
mvcc.v1.RequestOp: mvcc.v1.RequestOp.Range request_range 1, mvcc.v1.RequestOp.Put request_put 2,
  mvcc.v1.RequestOp.DeleteRange request_delete_range 3
mvcc.v1.RequestOp.Range: bytes key 1, bytes range_end 2, int64 limit 3, bool keys_only 4,
  bool count_only 5
mvcc.v1.RequestOp.Put: bytes key 1, bytes value 2, bool prev_kv 3
mvcc.v1.RequestOp.DeleteRange: bytes key 1, bytes range_end 2, bool prev_kv 4, bool count 5
mvcc.v1.ResponseOp: mvcc.v1.ResponseOp.Range response_range 1,
  mvcc.v1.ResponseOp.Put response_put 2, mvcc.v1.ResponseOp.DeleteRange response_delete_range 3
mvcc.v1.ResponseOp.Range: r mvcc.v1.KeyValue kvs 1, bool more 2, int64 count 3
mvcc.v1.ResponseOp.Put: mvcc.v1.KeyValue prev_kv 1
mvcc.v1.ResponseOp.DeleteRange: int64 deleted 1, r mvcc.v1.KeyValue prev_kvs 2
mvcc.v1.Compare: mvcc.v1.Compare.CompareResult result 1, mvcc.v1.Compare.CompareTarget target 2,
  bytes key 3, bytes value 4, bytes range_end 64
mvcc.v1.KeyValue: bytes key 1, int64 create_revision 2, int64 mod_revision 3, bytes value 4
regatta.v1.ResponseHeader: uint64 shard_id 1, uint64 replica_id 2, uint64 revision 3,
  uint64 raft_term 4, uint64 raft_leader_id 5
regatta.v1.RangeRequest: bytes table 1, bytes key 2, bytes range_end 3, int64 limit 4,
  bool linearizable 5, bool keys_only 6, bool count_only 7, int64 min_mod_revision 8,
  int64 max_mod_revision 9, int64 min_create_revision 10, int64 max_create_revision 11
regatta.v1.RangeResponse: regatta.v1.ResponseHeader header 1, r mvcc.v1.KeyValue kvs 3,
  bool more 4, int64 count 5
regatta.v1.PutRequest: bytes table 1, bytes key 2, bytes value 3, bool prev_kv 4
regatta.v1.PutResponse: regatta.v1.ResponseHeader header 1, mvcc.v1.KeyValue prev_kv 2
regatta.v1.DeleteRangeRequest: bytes table 1, bytes key 2, bytes range_end 3, bool prev_kv 4,
  bool count 5
regatta.v1.DeleteRangeResponse: regatta.v1.ResponseHeader header 1, int64 deleted 2,
  r mvcc.v1.KeyValue prev_kvs 3
regatta.v1.TxnRequest: bytes table 1, r mvcc.v1.Compare compare 2, r mvcc.v1.RequestOp success 3,
  r mvcc.v1.RequestOp failure 4
regatta.v1.TxnResponse: regatta.v1.ResponseHeader header 1, bool succeeded 2,
  r mvcc.v1.ResponseOp responses 3
regatta.v1.MemberListRequest:
regatta.v1.MemberListResponse: string cluster 1, r regatta.v1.Member members 2
regatta.v1.Member: string id 1, string name 2, r string peerURLs 3, r string clientURLs 4
regatta.v1.TableStatus: int64 logSize 2, int64 dbSize 3, string leader 4, uint64 raftIndex 5,
  uint64 raftTerm 6, uint64 raftAppliedIndex 7
regatta.v1.StatusRequest: bool config 4
regatta.v1.StatusResponse: string id 1, string version 2, string info 3,
  m string=>regatta.v1.TableStatus tables 4, google.protobuf.Struct config 5, r string errors 8
regatta.v1.CreateTableRequest: string name 1, google.protobuf.Struct config 5
regatta.v1.CreateTableResponse: string id 1
regatta.v1.DeleteTableRequest: string name 1
regatta.v1.DeleteTableResponse:
regatta.v1.ListTablesRequest:
regatta.v1.TableInfo: string name 1, string id 2, google.protobuf.Struct config 5
regatta.v1.ListTablesResponse: r regatta.v1.TableInfo tables 1
replication.v1.MetadataRequest:
replication.v1.MetadataResponse: r replication.v1.Table tables 1
replication.v1.Table: string name 1, replication.v1.Table.Type type 2
replication.v1.SnapshotRequest: bytes table 1
replication.v1.SnapshotChunk: bytes data 1, uint64 len 2, uint64 index 3
replication.v1.ReplicateRequest: bytes table 1, uint64 leader_index 2
replication.v1.ReplicateResponse: replication.v1.ReplicateCommandsResponse commands_response 1,
  replication.v1.ReplicateErrResponse error_response 2, uint64 leader_index 8
replication.v1.ReplicateCommandsResponse: r replication.v1.ReplicateCommand commands 1
replication.v1.ReplicateCommand: uint64 leader_index 1, mvcc.v1.Command command 2
replication.v1.ReplicateErrResponse: replication.v1.ReplicateError error 1
maintenance.v1.BackupRequest: bytes table 1
maintenance.v1.RestoreMessage: maintenance.v1.RestoreInfo info 1,
  replication.v1.SnapshotChunk chunk 2
maintenance.v1.RestoreInfo: bytes table 1
maintenance.v1.RestoreResponse:
maintenance.v1.ResetRequest: bytes table 1, bool reset_all 2
maintenance.v1.ResetResponse:
"""

REGATTA_ONEOFS = {  # message -> {oneof name: members}
    "mvcc.v1.RequestOp": {"request": ["request_range", "request_put", "request_delete_range"]},
    "mvcc.v1.ResponseOp": {"response": ["response_range", "response_put",
                                        "response_delete_range"]},
    "mvcc.v1.Compare": {"target_union": ["value"]},
    "replication.v1.ReplicateResponse": {"response": ["commands_response", "error_response"]},
    "maintenance.v1.RestoreMessage": {"data": ["info", "chunk"]},
}

REGATTA_ENUMS = {
    "mvcc.v1.Command.CommandType": {"PUT": 0, "DELETE": 1, "DUMMY": 2, "PUT_BATCH": 3,
                                    "DELETE_BATCH": 4, "TXN": 5, "SEQUENCE": 6},
    "mvcc.v1.Compare.CompareResult": {"EQUAL": 0, "GREATER": 1, "LESS": 2, "NOT_EQUAL": 3},
    "mvcc.v1.Compare.CompareTarget": {"VALUE": 0},
    "replication.v1.Table.Type": {"REPLICATED": 0, "LOCAL": 1},
    "replication.v1.ReplicateError": {"USE_SNAPSHOT": 0, "LEADER_BEHIND": 1},
}

# "<path> <input> <output> <client_streaming> <server_streaming>"
REGATTA_METHODS = """
/regatta.v1.KV/Range regatta.v1.RangeRequest regatta.v1.RangeResponse 0 0
/regatta.v1.KV/IterateRange regatta.v1.RangeRequest regatta.v1.RangeResponse 0 1
/regatta.v1.KV/Put regatta.v1.PutRequest regatta.v1.PutResponse 0 0
/regatta.v1.KV/DeleteRange regatta.v1.DeleteRangeRequest regatta.v1.DeleteRangeResponse 0 0
/regatta.v1.KV/Txn regatta.v1.TxnRequest regatta.v1.TxnResponse 0 0
/regatta.v1.Cluster/MemberList regatta.v1.MemberListRequest regatta.v1.MemberListResponse 0 0
/regatta.v1.Cluster/Status regatta.v1.StatusRequest regatta.v1.StatusResponse 0 0
/regatta.v1.Tables/Create regatta.v1.CreateTableRequest regatta.v1.CreateTableResponse 0 0
/regatta.v1.Tables/Delete regatta.v1.DeleteTableRequest regatta.v1.DeleteTableResponse 0 0
/regatta.v1.Tables/List regatta.v1.ListTablesRequest regatta.v1.ListTablesResponse 0 0
/replication.v1.Metadata/Get replication.v1.MetadataRequest replication.v1.MetadataResponse 0 0
/replication.v1.Snapshot/Stream replication.v1.SnapshotRequest replication.v1.SnapshotChunk 0 1
/replication.v1.Log/Replicate replication.v1.ReplicateRequest replication.v1.ReplicateResponse 0 1
/maintenance.v1.Maintenance/Backup maintenance.v1.BackupRequest replication.v1.SnapshotChunk 0 1
/maintenance.v1.Maintenance/Restore maintenance.v1.RestoreMessage maintenance.v1.RestoreResponse 1 0
/maintenance.v1.Maintenance/Reset maintenance.v1.ResetRequest maintenance.v1.ResetResponse 0 0
"""

# What DESIGN.md adds on top of Regatta (new numbers only, nothing changed).
OURS_FIELDS = {
    "mvcc.v1.KeyValue": {"version": (5, "int64")},
    "mvcc.v1.Compare": {"create_revision": (5, "int64"), "mod_revision": (6, "int64"),
                        "version": (7, "int64")},
}
OURS_ONEOF_MEMBERS = {"mvcc.v1.Compare": {"target_union": ["create_revision", "mod_revision",
                                                           "version"]}}
OURS_ENUM_VALUES = {"mvcc.v1.Compare.CompareTarget": {"VERSION": 1, "CREATE": 2, "MOD": 3}}
OURS_METHODS = """
/grpc.health.v1.Health/Check grpc.health.v1.HealthCheckRequest grpc.health.v1.HealthCheckResponse 0 0
/grpc.health.v1.Health/Watch grpc.health.v1.HealthCheckRequest grpc.health.v1.HealthCheckResponse 0 1
"""

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def parse_regatta():
    msgs = {}
    for line in REGATTA.strip().replace("\n  ", " ").splitlines():
        name, _, rest = line.partition(":")
        fields = {}
        for item in filter(None, (x.strip() for x in rest.split(","))):
            parts = item.split()
            label = "single"
            if parts[0] in ("r", "o", "m"):
                label = {"r": "repeated", "o": "optional", "m": "map"}[parts[0]]
                parts = parts[1:]
            typ, fname, num = parts
            fields[fname] = (int(num), typ, label)
        msgs[name] = fields
    return msgs


SCALAR_TYPES = {
    1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32",
    8: "bool", 9: "string", 12: "bytes", 13: "uint32", 15: "sfixed32", 16: "sfixed64",
    17: "sint32", 18: "sint64",
}


def field_type_name(f):
    if f.type in (11, 10):  # message, group
        mt = f.message_type
        if mt.GetOptions().map_entry:
            return field_type_name(mt.fields_by_name["key"]) + "=>" + \
                field_type_name(mt.fields_by_name["value"])
        return mt.full_name
    if f.type == 14:
        return f.enum_type.full_name
    return SCALAR_TYPES[f.type]


def field_label(f):
    if f.label == 3:
        return "map" if f.type == 11 and f.message_type.GetOptions().map_entry else "repeated"
    oneof = f.containing_oneof
    if oneof is not None and oneof.name == "_" + f.name and len(oneof.fields) == 1:
        return "optional"  # our spelling of proto3 `optional`: same wire, same presence
    return "single"


def all_messages(file_descs):
    out = {}

    def walk(md):
        out[md.full_name] = md
        for n in md.nested_types:
            walk(n)
    for fd in file_descs:
        for md in fd.message_types_by_name.values():
            walk(md)
    return out


def all_enums(file_descs):
    out = {}

    def walk_msg(md):
        for e in md.enum_types:
            out[e.full_name] = e
        for n in md.nested_types:
            walk_msg(n)
    for fd in file_descs:
        for e in fd.enum_types_by_name.values():
            out[e.full_name] = e
        for md in fd.message_types_by_name.values():
            walk_msg(md)
    return out


def check_schema(file_descs):
    ours = all_messages(file_descs)
    ref = parse_regatta()
    for name, fields in ref.items():
        md = ours.get(name)
        check(md is not None, f"{name}: missing in our .proto files")
        if md is None:
            continue
        extra = OURS_FIELDS.get(name, {})
        for fname, (num, typ, label) in fields.items():
            f = md.fields_by_name.get(fname)
            check(f is not None, f"{name}.{fname}: missing")
            if f is None:
                continue
            check(f.number == num, f"{name}.{fname}: number {f.number}, Regatta {num}")
            check(field_type_name(f) == typ, f"{name}.{fname}: type {field_type_name(f)}, Regatta {typ}")
            check(field_label(f) == label, f"{name}.{fname}: label {field_label(f)}, Regatta {label}")
        for f in md.fields:
            if f.name in fields:
                continue
            check(f.name in extra, f"{name}.{f.name} ({f.number}): not in Regatta nor in DESIGN.md's additions")
            if f.name in extra:
                check((f.number, field_type_name(f)) == extra[f.name], f"{name}.{f.name}: addition changed")
                used = {n for n, _, _ in fields.values()}
                check(f.number not in used, f"{name}.{f.name}: number {f.number} collides with Regatta")
        # oneofs: Regatta's members must be in the same oneof
        for oneof, members in REGATTA_ONEOFS.get(name, {}).items():
            od = md.oneofs_by_name.get(oneof)
            check(od is not None, f"{name}: oneof {oneof} missing")
            if od is None:
                continue
            got = [f.name for f in od.fields]
            want = members + OURS_ONEOF_MEMBERS.get(name, {}).get(oneof, [])
            check(got == want, f"{name}.{oneof}: members {got}, want {want}")
    # enums
    enums = all_enums(file_descs)
    for ename, values in REGATTA_ENUMS.items():
        ed = enums.get(ename)
        check(ed is not None, f"enum {ename} missing")
        if ed is None:
            continue
        got = {v.name: v.number for v in ed.values}
        want = dict(values)
        want.update(OURS_ENUM_VALUES.get(ename, {}))
        check(got == want, f"enum {ename}: {got}, want {want}")
    # packages
    pkgs = {fd.package for fd in file_descs}
    for p in ("regatta.v1", "mvcc.v1", "replication.v1", "maintenance.v1"):
        check(p in pkgs, f"package {p} missing")
    print(f"schema: {len(ref)} Regatta messages, {len(REGATTA_ENUMS)} enums checked", flush=True)


# --- 2. methods and streaming kinds ----------------------------------------------------------
class RecordingChannel:
    """Stands in for grpc.Channel: records which call kind the generated stub asks for."""

    def __init__(self):
        self.kinds = {}

    def _rec(self, kind):
        def make(path, request_serializer=None, response_deserializer=None, **_):
            self.kinds[path] = kind
            return None
        return make

    def __getattr__(self, name):
        if name in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
            return self._rec(name)
        raise AttributeError(name)


KIND_OF = {"unary_unary": (0, 0), "unary_stream": (0, 1), "stream_unary": (1, 0),
           "stream_stream": (1, 1)}


def parse_methods(text):
    out = {}
    for line in text.strip().splitlines():
        path, inp, outp, cs, ss = line.split()
        out[path] = (inp, outp, int(cs), int(ss))
    return out


def check_methods(gen_dir, file_descs, tool):
    want = parse_methods(REGATTA_METHODS)
    want.update(parse_methods(OURS_METHODS))
    # a) protoc's descriptors of our files
    got_desc = {}
    for fd in file_descs:
        for svc in fd.services_by_name.values():
            for m in svc.methods:
                got_desc[f"/{svc.full_name}/{m.name}"] = (
                    m.input_type.full_name, m.output_type.full_name,
                    int(m.client_streaming), int(m.server_streaming))
    check(got_desc == want, f"methods in our .proto files differ: {sorted(set(got_desc.items()) ^ set(want.items()))}")
    # b) the grpc stubs grpc_python_plugin generated from them
    got_stub = {}
    for f in ("regatta/v1/regatta.proto", "replication/v1/replication.proto",
              "maintenance/v1/maintenance.proto", "grpc/health/v1/health.proto"):
        m = load_generated(gen_dir, f, "_pb2_grpc")
        for attr in dir(m):
            if attr.endswith("Stub"):
                ch = RecordingChannel()
                getattr(m, attr)(ch)
                for path, kind in ch.kinds.items():
                    got_stub[path] = KIND_OF[kind]
    for path, (_, _, cs, ss) in want.items():
        check(got_stub.get(path) == (cs, ss), f"{path}: stub kind {got_stub.get(path)}, want {(cs, ss)}")
    check(len(got_stub) == len(want), f"stub methods {len(got_stub)} != {len(want)}")
    # c) the C method table
    out = subprocess.run([tool, "methods"], check=True, capture_output=True, text=True).stdout
    got_c = parse_methods(out)
    check(got_c == want, f"C method table differs: {sorted(set(got_c.items()) ^ set(want.items()))}")
    print(f"methods: {len(want)} checked against descriptors, grpc stubs and the C table", flush=True)


# --- 3. bytes: Python encodes, C decodes/dumps/re-encodes ------------------------------------
FILL_DEPTH_MAX = 4
VARIANTS = 6  # google.protobuf.Value.kind has 6 members


def hexq(b):
    return 'x"' + b.hex() + '"'


def fmt_scalar(f, v):
    t = f.type
    if t == 8:
        return "true" if v else "false"
    if t == 9:
        return hexq(v.encode("utf-8"))
    if t == 12:
        return hexq(bytes(v))
    if t == 1:
        return "0x%016x" % struct.unpack("<Q", struct.pack("<d", v))[0]
    if t == 2:
        return "0x%08x" % struct.unpack("<I", struct.pack("<f", v))[0]
    return str(int(v))


def py_dump(msg, path=""):
    """The lines proto_text_dump prints for the same message (see proto/text.h)."""
    lines = []
    for f, v in msg.ListFields():
        p = f"{path}.{f.name}" if path else f.name
        if f.label == 3 and f.type == 11 and f.message_type.GetOptions().map_entry:
            vf = f.message_type.fields_by_name["value"]
            kf = f.message_type.fields_by_name["key"]
            for k in v:
                kp = f"{p}{{{fmt_scalar(kf, k)}}}"
                lines += dump_value(vf, v[k], kp)
        elif f.label == 3:
            for i, e in enumerate(v):
                lines += dump_value(f, e, f"{p}[{i}]")
        else:
            lines += dump_value(f, v, p)
    return lines


def dump_value(f, v, path):
    if f.type == 11:
        return [f"{path} = {{}}"] + py_dump(v, path)
    return [f"{path} = {fmt_scalar(f, v)}"]


class Filler:
    """Sets every field of a message (the Python twin of tests/unit/proto/helper_fill.c)."""

    def __init__(self, variant):
        self.variant = variant
        self.counter = 0

    def value(self, f):
        self.counter += 1
        c = self.counter
        neg = c % 2 == 0
        t = f.type
        if t in (3, 16, 18):
            return -c * 1000000007 if neg else c << 33
        if t in (5, 15, 17):
            return -c if neg else c
        if t in (4, 6):
            return (1 << 64) - 1 - c
        if t in (13, 7):
            return 4000000000 - c
        if t == 1:
            return -c / 3.0 if neg else c + 0.5
        if t == 2:
            return c + 0.25
        if t == 8:
            return True
        if t == 14:
            vals = [v.number for v in f.enum_type.values]
            return vals[1 + c % (len(vals) - 1)] if len(vals) > 1 else vals[0]
        if t == 9:
            return f"{f.name}-{c}-\u00fc\u20ac"
        if t == 12:
            return f"{f.name}/{c}".encode() + b"\x00\xff"
        raise AssertionError(f"type {t}")

    def fill(self, msg, depth=1):
        md = msg.DESCRIPTOR
        for f in md.fields:
            oneof = f.containing_oneof
            if oneof is not None:
                members = list(oneof.fields)
                if members.index(f) != self.variant % len(members):
                    continue
            if f.label == 3:
                is_map = f.type == 11 and f.message_type.GetOptions().map_entry
                container = getattr(msg, f.name)
                for _ in range(2):
                    if is_map:
                        kf = f.message_type.fields_by_name["key"]
                        vf = f.message_type.fields_by_name["value"]
                        key = self.value(kf)
                        if vf.type == 11:
                            if depth < FILL_DEPTH_MAX:
                                self.fill(container[key], depth + 1)
                        else:
                            container[key] = self.value(vf)
                    elif f.type == 11:
                        if depth < FILL_DEPTH_MAX:
                            self.fill(container.add(), depth + 1)
                    else:
                        container.append(self.value(f))
                continue
            if f.type == 11:
                if depth < FILL_DEPTH_MAX:
                    sub = getattr(msg, f.name)
                    sub.SetInParent()
                    self.fill(sub, depth + 1)
                continue
            setattr(msg, f.name, self.value(f))
        return msg


def run_tool(tool, mode, name, data):
    return subprocess.run([tool, mode, name], input=data, capture_output=True)


def check_bytes(tool, classes, rng):
    c_names = subprocess.run([tool, "list"], check=True, capture_output=True,
                             text=True).stdout.split()
    check(sorted(c_names) == sorted(set(c_names)), "C message list has duplicates")
    for name in classes:
        check(name in c_names, f"{name}: unknown to the C registry")
    checked = 0
    for name in sorted(classes):
        if name not in c_names:
            continue
        cls = classes[name]
        for variant in range(VARIANTS):
            msg = Filler(variant).fill(cls())
            data = msg.SerializeToString()
            # field-by-field: C's view of the bytes Python wrote
            r = run_tool(tool, "dump", name, data)
            check(r.returncode == 0, f"{name} v{variant}: C decode failed: {r.stderr!r}")
            if r.returncode != 0:
                continue
            c_lines = r.stdout.decode().splitlines()
            check(not any("?unknown" in ln for ln in c_lines), f"{name}: C sees unknown fields")
            py_lines = py_dump(msg)
            if sorted(c_lines) != sorted(py_lines):
                diff = sorted(set(c_lines) ^ set(py_lines))[:6]
                check(False, f"{name} v{variant}: field dumps differ: {diff}")
            # and back: C's encoding, read by Python
            r = run_tool(tool, "encode", name, data)
            check(r.returncode == 0, f"{name} v{variant}: C encode failed: {r.stderr!r}")
            back = cls()
            back.ParseFromString(r.stdout)
            check(back == msg, f"{name} v{variant}: Python reads a different message back")
            check(r.stdout == data, f"{name} v{variant}: C re-encoding differs from Python's bytes")
            checked += 1
    print(f"bytes: {checked} message encodings round-tripped Python -> C -> Python", flush=True)

    # hostile inputs: clean errors, never a crash
    samples = [(n, Filler(1).fill(classes[n]()).SerializeToString())
               for n in ("regatta.v1.TxnRequest", "regatta.v1.StatusResponse",
                         "replication.v1.ReplicateResponse", "mvcc.v1.Command")]
    runs = 0
    for name, data in samples:
        for cut in sorted(rng.sample(range(len(data)), min(40, len(data)))):
            r = run_tool(tool, "encode", name, data[:cut])
            check(r.returncode in (0, 2), f"{name} cut {cut}: exit {r.returncode}")
            if r.returncode == 2:
                check(r.stderr.startswith(b"ERR -2 3 "), f"{name} cut {cut}: {r.stderr!r}")
            runs += 1
        for _ in range(40):
            junk = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                junk[rng.randrange(len(junk))] = rng.randrange(256)
            r = run_tool(tool, "encode", name, bytes(junk))
            check(r.returncode in (0, 2), f"{name} corrupted: exit {r.returncode} {r.stderr!r}")
            runs += 1
    # too deep: a Struct-in-Value chain 65 messages deep (the cap is 64)
    struct_pb2 = importlib.import_module("google.protobuf.struct_pb2")

    def chain(depth):
        v = struct_pb2.Value()
        cur, level = v, 1
        while level < depth:
            lv = cur.list_value
            level += 1
            if level == depth:
                lv.SetInParent()
                break
            cur = lv.values.add()
            level += 1
        return v
    ok = run_tool(tool, "encode", "google.protobuf.Value", chain(64).SerializeToString())
    check(ok.returncode == 0, f"64 levels refused: {ok.stderr!r}")
    deep = run_tool(tool, "encode", "google.protobuf.Value", chain(65).SerializeToString())
    check(deep.returncode == 2 and deep.stderr.startswith(b"ERR -13 8 "), f"65 levels: {deep.stderr!r}")
    big = run_tool(tool, "encode", "regatta.v1.PutRequest",
                   b"\x1a\x80\x80\x80\x02" + b"v" * (4 << 20))
    check(big.returncode == 2 and big.stderr.startswith(b"ERR -13 8 "), f"too big: {big.stderr!r}")
    bad_utf8 = run_tool(tool, "encode", "regatta.v1.CreateTableRequest", b"\x0a\x01\xff")
    check(bad_utf8.returncode == 2 and b"UTF-8" in bad_utf8.stderr, f"bad UTF-8: {bad_utf8.stderr!r}")
    print(f"hostile: {runs + 4} inputs refused cleanly or accepted", flush=True)


def load_generated(gen, proto_file, suffix="_pb2"):
    """Imports the module protoc generated for proto_file. Our grpc.health.v1 files would be
    shadowed by the grpc library's own `grpc` package, so those load by path and are
    registered under their dotted names by hand."""
    modname = proto_file[:-len(".proto")].replace("/", ".") + suffix
    if modname in sys.modules:
        return sys.modules[modname]
    if not modname.startswith("grpc."):
        return importlib.import_module(modname)
    importlib.import_module("grpc")  # the real library; we only add grpc.health.v1 below it
    parts = modname.split(".")
    for i in range(2, len(parts)):  # grpc.health, grpc.health.v1
        pkg = ".".join(parts[:i])
        if pkg not in sys.modules:
            sys.modules[pkg] = types.ModuleType(pkg)
            setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], sys.modules[pkg])
    if suffix != "_pb2":
        load_generated(gen, proto_file)  # the _grpc module imports the _pb2 one
    path = os.path.join(gen, proto_file[:-len(".proto")] + suffix + ".py")
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    setattr(sys.modules[".".join(parts[:-1])], parts[-1], mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print(f"test_proto_wire: seed {seed} (--seed {seed} replays)", flush=True)
    rng = random.Random(seed)

    proto_dir = os.path.join(args.source_dir, "proto")
    tool = os.path.join(args.build_dir, "proto_roundtrip")
    if not os.access(tool, os.X_OK):
        print(f"missing {tool}: build first", file=sys.stderr)
        return 1
    files = sorted(os.path.relpath(os.path.join(d, f), proto_dir)
                   for d, _, fs in os.walk(proto_dir) for f in fs if f.endswith(".proto"))
    with tempfile.TemporaryDirectory() as gen:
        subprocess.run(["protoc", f"-I{proto_dir}", f"--python_out={gen}",
                        f"--grpc_out={gen}", "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin"]
                       + files, check=True)
        sys.path.insert(0, gen)
        mods = [load_generated(gen, f) for f in files]
        file_descs = [m.DESCRIPTOR for m in mods]
        check_schema(file_descs)
        check_methods(gen, file_descs, tool)
        classes = {}
        sym = importlib.import_module("google.protobuf.symbol_database").Default()
        for name in all_messages(file_descs):
            classes[name] = sym.GetSymbol(name)
        for extra in ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"):
            classes[extra] = sym.GetSymbol(extra)
        check_bytes(tool, classes, rng)
    if failures:
        print(f"{len(failures)} failure(s); seed {seed}", flush=True)
        return 1
    print("test_proto_wire: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
