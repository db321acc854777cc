#!/usr/bin/env bash
# Reference benchmark: the workload of bench/gen (N events, or a JSON lines
# file you give) through `bridge run --destination null --batch-size 1000`
# on the embedded server, beside the encoding/json baseline measured in the
# same run. Prints items/s and peak memory for a 200,000-line prefix and for
# the whole file. Runs from a clone: it needs Go only.
#
# usage: bench/run.sh [EVENTS | FILE.jsonl]   (default 1000000 events)
#
# Everything it writes goes under bench/out/ (git-ignored): the generated
# input (kept for the next run), the binaries and the pipeline's store.
# BENCH_DIR=/elsewhere puts it there instead.
set -euo pipefail
cd "$(dirname "$0")/.."
arg=${1:-1000000}
work=${BENCH_DIR:-bench/out}
mkdir -p "$work"
work=$(cd "$work" && pwd)
go build -o "$work/bridge" ./cmd/bridge
go build -o "$work/baseline" ./bench/baseline
if [[ "$arg" =~ ^[0-9]+$ ]]; then
  input="$work/events_$arg.jsonl"
  if [ ! -s "$input" ]; then
    echo "generating $arg events with bench/gen into $input ..."
    go build -o "$work/gen" ./bench/gen
    "$work/gen" "$arg" "$input"
  fi
elif [ -f "$arg" ]; then
  input=$arg
else
  echo "bench/run.sh: $arg: want a number of events or a JSON lines file" >&2
  exit 2
fi
n=$(wc -l < "$input")
prefix="$work/events_prefix.jsonl"
head -n $(( n < 200000 ? n : 200000 )) "$input" > "$prefix"
echo "machine: $(nproc) cores, $(go version)"
for f in "$prefix" "$input"; do
  lines=$(wc -l < "$f")
  echo "== $lines events ($(basename "$f"), $(du -h "$f" | cut -f1))"
  "$work/baseline" "$f"
  rm -rf "$work/data"
  "$work/bridge" run --input "$f" --table events --destination null \
    --batch-size 1000 --data-dir "$work/data" --quiet 2>&1 | grep -E "^load|peak memory" | sed 's/^/bridge: /'
done
rm -rf "$work/data" "$prefix"
