#!/usr/bin/env bash
# Reference benchmark: the gen_events.py workload through `bridge run
# --destination null --batch-size 1000` on the embedded server, beside the
# encoding/json baseline measured in the same run. Prints items/s and peak
# memory for a 200,000-line prefix and for the whole file.
#
# usage: bench/run.sh [EVENTS]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
work=${BENCH_DIR:-/tmp/bridge-bench}
gen=${GEN_EVENTS:-../shared/bench/gen_events.py}
mkdir -p "$work"
if [ ! -s "$work/events_$n.jsonl" ]; then
  echo "generating $n events with $gen ..."
  python3 "$gen" "$n" "$work/events_$n.jsonl"
fi
head -n $(( n < 200000 ? n : 200000 )) "$work/events_$n.jsonl" > "$work/events_prefix.jsonl"
go build -o "$work/bridge" ./cmd/bridge
go build -o "$work/baseline" ./bench/baseline
echo "machine: $(nproc) cores, $(go version)"
for f in events_prefix events_$n; do
  lines=$(wc -l < "$work/$f.jsonl")
  echo "== $lines events ($f.jsonl, $(du -h "$work/$f.jsonl" | cut -f1))"
  "$work/baseline" "$work/$f.jsonl"
  rm -rf "$work/data"
  "$work/bridge" run --input "$work/$f.jsonl" --table events --destination null \
    --batch-size 1000 --data-dir "$work/data" --quiet 2>&1 | grep -E "^load|peak memory" | sed 's/^/bridge: /'
done
rm -rf "$work/data"
