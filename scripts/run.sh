#!/usr/bin/env bash
# Run Regatta: install what is missing, build, and start a local 3-node leader cluster on
# loopback (data under ./data/node{1,2,3}, logs in ./data/node{1,2,3}.log). Ctrl-C stops it.
#   API:  127.0.0.1:8443, 127.0.0.1:8453, 127.0.0.1:8463
#   Raft: 127.0.0.1:5012, 127.0.0.1:5022, 127.0.0.1:5032
#   REST: 127.0.0.1:8079, 127.0.0.1:8089, 127.0.0.1:8099 (/healthz, /readyz, /metrics)
# A table "default" is created once the cluster is up. Try:
#   ./build/regattactl --endpoints 127.0.0.1:8443 put default hello world
#   ./build/regattactl --endpoints 127.0.0.1:8453 get default hello
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

api=(8443 8453 8463)
raft=(5012 5022 5032)
rest=(8079 8089 8099)
members="1=127.0.0.1:5012,2=127.0.0.1:5022,3=127.0.0.1:5032"
pids=()
cleanup() {
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT
mkdir -p data
for i in 1 2 3; do
  ./build/regatta leader --data-dir "data/node$i" --raft.node-id "$i" \
    --raft.address "127.0.0.1:${raft[$((i - 1))]}" --raft.initial-members "$members" \
    --api.address "http://127.0.0.1:${api[$((i - 1))]}" --cores 1 --dev-mode \
    --rest.address "http://127.0.0.1:${rest[$((i - 1))]}" \
    >>"data/node$i.log" 2>&1 &
  pids+=($!)
done
endpoints="127.0.0.1:8443,127.0.0.1:8453,127.0.0.1:8463"
for _ in $(seq 1 100); do
  if ./build/regattactl --endpoints "$endpoints" --timeout 2 table list >/dev/null 2>&1; then
    break
  fi
  sleep 0.2
done
./build/regattactl --endpoints "$endpoints" table create default >/dev/null 2>&1 || true
./build/regattactl --endpoints "$endpoints" member list
echo
echo "regatta: 3-node leader cluster running (logs: data/node*.log); table 'default' exists."
echo "try:  ./build/regattactl --endpoints $endpoints put default hello world"
echo "      ./build/regattactl --endpoints $endpoints get default hello"
echo "      curl http://127.0.0.1:8079/healthz; curl http://127.0.0.1:8079/metrics"
echo "Ctrl-C stops the cluster."
wait
