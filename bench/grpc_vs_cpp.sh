#!/usr/bin/env bash
# grpc_vs_cpp.sh — unary gRPC calls per second and latency percentiles on ONE core: our server
# (tests/integration/grpc_test_server, net/ on nghttp2) against a gRPC C++ server built from
# Debian's libgrpc++-dev (bench/grpc_cpp/echo_server.cc), side by side in the same run with the
# same load generator (h2load from nghttp2-client).
#
# Same work on both sides: regatta.test.v1.Echo/Unary with a 100-byte payload (decode the
# request, build and encode the response, echo). Each server is pinned to SERVER_CPU with
# taskset (every thread it starts inherits the mask), h2load to LOAD_CPU. Servers alternate for
# ROUNDS rounds; the summary shows the median and the best round of each, and calls per
# CPU-second of the server (its utime+stime in the measured window from /proc), which stays
# meaningful when other processes share the server's CPU.
#
# h2load counts any HTTP 200 as a success, even when grpc-status says the call failed, so the
# answer to the very bytes h2load sends is checked (HTTP status, grpc-status 0, decoded payload)
# with an independent HTTP/2 client (tests/integration/rawgrpc.py, python3-h2) before and after
# every run.
#
# usage: bench/grpc_vs_cpp.sh [--build-dir B] [--duration S] [--warmup S] [--conns C]
#                             [--streams M] [--payload BYTES] [--rounds R] [--server-cpu N]
#                             [--load-cpu N] [--cpp-api callback|async]
# The C++ peer defaults to the callback API: on this machine it served ~1.7x the calls of the
# completion-queue (async) style with one polling thread, so it is gRPC C++ at its best.
# Prints the configuration, one line per run and a summary with the ratio ours / gRPC C++.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build
DURATION=8
WARMUP=2
CONNS=4
STREAMS=32
PAYLOAD=100
ROUNDS=5
SERVER_CPU=0
LOAD_CPU=1
CPP_API=callback

while [ $# -gt 0 ]; do
	case $1 in
	--build-dir) BUILD=$(cd "$2" && pwd); shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--warmup) WARMUP=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--streams) STREAMS=$2; shift 2 ;;
	--payload) PAYLOAD=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--server-cpu) SERVER_CPU=$2; shift 2 ;;
	--load-cpu) LOAD_CPU=$2; shift 2 ;;
	--cpp-api) CPP_API=$2; shift 2 ;;
	*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done

OURS=$BUILD/tests/integration/grpc_test_server
CPP=$BUILD/bench/grpc_cpp_echo_server
PY=/usr/bin/python3
for f in "$OURS" "$CPP"; do
	[ -x "$f" ] || { echo "missing $f: build first (cmake --build $BUILD)" >&2; exit 1; }
done
command -v h2load >/dev/null || { echo "h2load missing: apt-get install nghttp2-client" >&2; exit 1; }

WORK=$(mktemp -d /tmp/regatta-grpc-bench.XXXXXX)
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# The request body h2load sends: gRPC frame (flag 0, length) + EchoRequest{payload: 'a' x N}.
$PY - "$PAYLOAD" "$WORK/body" <<'EOF'
import struct, sys
n = int(sys.argv[1])
def varint(v):
    out = b""
    while True:
        b = v & 0x7f
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
msg = b"\x0a" + varint(n) + b"a" * n          # field 1 (payload), length-delimited
open(sys.argv[2], "wb").write(struct.pack(">BI", 0, len(msg)) + msg)
EOF

# verify <port>: the answer to the bench body is HTTP 200, grpc-status 0 and the echo.
verify() {
	$PY - "$1" "$WORK/body" "$PAYLOAD" "$ROOT/tests/integration" <<'EOF'
import sys
sys.path.insert(0, sys.argv[4])
import rawgrpc
port, body, n = int(sys.argv[1]), open(sys.argv[2], "rb").read(), int(sys.argv[3])
c = rawgrpc.Conn(port, timeout=10)
try:
    for _ in range(3):
        r = c.call("/regatta.test.v1.Echo/Unary", body)
        assert r.headers.get(":status") == "200", r.headers
        assert r.status() == 0, "grpc-status %r %r" % (r.status(), r.message())
        msgs = r.decode()
        assert len(msgs) == 1, msgs
        # EchoResponse: field 1 = payload, field 3 = received_bytes
        assert (b"a" * n) in msgs[0], "payload not echoed"
finally:
    c.close()
EOF
}

start_server() { # start_server ours|cpp -> sets SERVER_PID, PORT
	local log=$WORK/server.log
	if [ "$1" = ours ]; then
		taskset -c "$SERVER_CPU" "$OURS" --listen 127.0.0.1:0 --cores 1 --log-level warn >"$log" 2>&1 &
	else
		taskset -c "$SERVER_CPU" "$CPP" --port 0 --api "$CPP_API" >"$log" 2>&1 &
	fi
	SERVER_PID=$!
	PORT=
	for _ in $(seq 1 200); do
		PORT=$(sed -n 's/^port=//p' "$log" | head -1)
		[ -n "$PORT" ] && break
		sleep 0.05
	done
	[ -n "$PORT" ] || { echo "$1 server did not start:"; cat "$log"; exit 1; }
}

stop_server() {
	kill "$SERVER_PID" 2>/dev/null || true
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=
}

# run_one ours|cpp round -> appends "name rps p50 p90 p99 p999 failed" to $WORK/results
run_one() {
	local name=$1 round=$2 out=$WORK/h2load.$1.$2 lat=$WORK/lat.$1.$2
	start_server "$name"
	verify "$PORT" || { echo "$name: verification before the run failed"; exit 1; }
	taskset -c "$LOAD_CPU" h2load -t 1 -c "$CONNS" -m "$STREAMS" -D "$DURATION" \
		--warm-up-time "$WARMUP" -d "$WORK/body" \
		-H 'content-type: application/grpc' -H 'te: trailers' \
		--log-file "$lat" "http://127.0.0.1:$PORT/regatta.test.v1.Echo/Unary" >"$out" 2>&1 &
	local lg=$!
	# CPU time the server used in the measured window (after the warm-up): on a shared machine
	# the server does not get its whole CPU, so calls per CPU-second is the steadier number.
	sleep "$WARMUP"
	local cpu0 cpu1
	cpu0=$(cpu_ticks "$SERVER_PID")
	wait "$lg" || { echo "h2load failed:"; cat "$out"; exit 1; }
	cpu1=$(cpu_ticks "$SERVER_PID")
	verify "$PORT" || { echo "$name: verification after the run failed"; exit 1; }
	stop_server
	$PY - "$name" "$round" "$out" "$lat" "$((cpu1 - cpu0))" "$(getconf CLK_TCK)" "$DURATION" \
		>>"$WORK/results" <<'EOF'
import re, sys
name, rnd, out, lat = sys.argv[1:5]
cpu_s = int(sys.argv[5]) / float(sys.argv[6])
duration = float(sys.argv[7])
text = open(out).read()
rps = float(re.search(r"finished in [^,]+, ([0-9.]+) req/s", text).group(1))
m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
failed = int(m.group(5)) + int(m.group(6))
codes = re.search(r"status codes: (\d+) 2xx", text)
d = []
for line in open(lat):
    f = line.split()
    if len(f) >= 3:
        d.append(int(f[2]))
d.sort()
def pct(p):
    return d[min(len(d) - 1, int(len(d) * p))] / 1000.0 if d else float("nan")
per_cpu = rps * duration / cpu_s if cpu_s > 0 else float("nan")
print("%s %s %.0f %.3f %.3f %.3f %.3f %d %d %.0f %.0f" % (
    name, rnd, rps, pct(0.5), pct(0.9), pct(0.99), pct(0.999), failed, len(d),
    100.0 * cpu_s / duration, per_cpu))
EOF
	tail -1 "$WORK/results" | awk '{printf "  %-5s round %s: %7.0f calls/s  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f ms  server CPU %3.0f%%  %7.0f calls/CPU-s  (failed %s)\n", $1, $2, $3, $4, $5, $6, $7, $10, $11, $8}'
}

cpu_ticks() { # utime + stime of a process (all its threads), in clock ticks
	awk '{print $14 + $15}' "/proc/$1/stat"
}

echo "== gRPC unary, one core: ours vs gRPC C++ =="
echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "commit:   $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (dirty)')"
echo "machine:  $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
echo "peers:    ours=$OURS (REGATTA_IO_BACKEND=${REGATTA_IO_BACKEND:-auto}); cpp=$CPP --api $CPP_API ($(dpkg-query -W -f='${Version}' libgrpc++-dev 2>/dev/null || echo '?'))"
echo "load gen: h2load $(h2load --version 2>&1 | head -1 | awk '{print $2}') -t 1 -c $CONNS -m $STREAMS -D $DURATION --warm-up-time $WARMUP, payload $PAYLOAD B"
echo "pinning:  servers on CPU $SERVER_CPU, h2load on CPU $LOAD_CPU; $ROUNDS rounds, alternating"
: >"$WORK/results"
for r in $(seq 1 "$ROUNDS"); do
	run_one ours "$r"
	run_one cpp "$r"
done

$PY - "$WORK/results" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def pick(name, best):
    rs = sorted((r for r in rows if r[0] == name), key=lambda r: float(r[2]))
    return rs[-1] if best else rs[len(rs) // 2]
def line(label, r):
    print("  %-9s %7.0f calls/s  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f ms  %7.0f calls/CPU-s"
          % (label, float(r[2]), float(r[3]), float(r[4]), float(r[5]), float(r[6]), float(r[10])))
def med_per_cpu(name):
    v = sorted(float(r[10]) for r in rows if r[0] == name)
    return v[len(v) // 2]
for title, best in (("median round", False), ("best round", True)):
    o, c = pick("ours", best), pick("cpp", best)
    print("== %s (by calls/s) ==" % title)
    line("ours", o)
    line("grpc c++", c)
    print("  ratio ours/grpc-c++: %.2fx calls/s, p50 latency %.2fx, p99 latency %.2fx"
          % (float(o[2]) / float(c[2]), float(o[3]) / float(c[3]), float(o[5]) / float(c[5])))
po, pc = med_per_cpu("ours"), med_per_cpu("cpp")
print("== efficiency (median over rounds) ==")
print("  ours %.0f calls/CPU-s, grpc c++ %.0f calls/CPU-s: ratio %.2fx" % (po, pc, po / pc))
if any(int(r[7]) for r in rows):
    print("WARNING: h2load reported failed/errored requests in some runs")
EOF
