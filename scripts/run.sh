#!/usr/bin/env bash
# Run Regatta: install what is missing, build, and start a local 3-node leader cluster on
# loopback (data under ./data/node{1,2,3}). Ctrl-C stops it.
#   API:  127.0.0.1:8443, :8453, :8463     Raft: 127.0.0.1:5012, :5022, :5032
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

members="1=127.0.0.1:5012,2=127.0.0.1:5022,3=127.0.0.1:5032"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
for i in 1 2 3; do
  mkdir -p "data/node$i"
  ./build/regatta leader --data-dir "data/node$i" --raft.node-id "$i" \
    --raft.address "127.0.0.1:50${i}2" --raft.initial-members "$members" \
    --api.address "http://127.0.0.1:84${i}3" --cores 1 &
  pids+=($!)
done
echo "regatta: 3-node leader cluster running; try: ./build/regattactl --endpoints 127.0.0.1:8413 table list"
wait
