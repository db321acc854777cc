#!/usr/bin/env bash
# Reference benchmark: the workload of bench/gen (N events, or a JSON lines
# file you give) through `bridge run --destination null --batch-size 1000`
# on the embedded server, beside the encoding/json baseline measured in the
# same run. Prints, in one table (bench/report): items/s and the ratio to
# the baseline for a 200,000-line prefix and the whole file, in one process,
# with every batch decoded from the stream (--row-cache 0: what a worker in
# another process does) and with Parquet in transit, and peak memory of the
# prefix and the whole file. Each is the median of ROUNDS (default 3)
# interleaved rounds. Runs from a clone: it needs Go only.
#
# usage: bench/run.sh [EVENTS | FILE.jsonl]   (default 1000000 events)
#        ROUNDS=5 bench/run.sh
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
go build -o "$work/report" ./bench/report
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
echo "input: $prefix ($(wc -l < "$prefix") lines) and $input ($n lines, $(du -h "$input" | cut -f1))"
status=0
"$work/report" -rounds "${ROUNDS:-3}" "$work/bridge" "$work/baseline" "$prefix" "$input" "$work" || status=$?
rm -rf "$work/data" "$prefix"
exit $status
