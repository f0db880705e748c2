#!/usr/bin/env bash
# Install the Debian 12 packages that building, testing and benchmarking Regatta need.
# Idempotent: installs only what is missing. Must run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config git
  liburing-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev libnghttp2-dev libssl-dev
  libxxhash-dev zlib1g-dev libsnappy-dev libcjson-dev
  libhttp-parser-dev  # HTTP/1.1 request parser for the REST port (server/rest)
  # tests: unit framework, fuzzing (clang + libFuzzer runtime), outside clients and peers
  libcriterion-dev clang libclang-rt-14-dev openssl procps
  python3 python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc
  python3-h2 python3-snappy etcd-client
  # benchmarks: the real peers we compare against
  nghttp2-client etcd-server librocksdb-dev rocksdb-tools libgrpc++-dev
  libprotobuf-dev  # headers for the gRPC C++ bench peer (bench/grpc_cpp)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
