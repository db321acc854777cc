#!/usr/bin/env bash
# Reference benchmark: the workload of bench/gen (N events, or a JSON lines
# file you give) through `bridge run --destination null --batch-size 1000`
# on the embedded server, beside the encoding/json baseline measured in the
# same run. Prints, in one table (bench/report): items/s and the ratio to
# the baseline in one process, with every batch decoded from the stream
# (--row-cache 0: what a worker in another process does), as two processes
# (bridge serve and bridge produce on one embedded server) and with Parquet
# in transit, and peak memory; for an input of more than 200,000 lines also
# a 200,000-line prefix in one process, and the peak memory of the whole
# input against the prefix. Each figure is the median of ROUNDS (default 3)
# interleaved rounds. Runs from a clone: it needs Go only.
#
# usage: bench/run.sh [EVENTS | FILE.jsonl]   (default 1000000 events)
#        ROUNDS=5 bench/run.sh
#
# What it keeps goes under bench/out/ (git-ignored): the generated input
# (kept for the next run) and the binaries; BENCH_DIR=/elsewhere puts them
# there instead. The pipeline's store and the prefix go to a new temporary
# directory inside it, removed at the end; nothing else there is touched.
set -euo pipefail
usage() { echo "usage: [ROUNDS=N] [BENCH_DIR=DIR] bench/run.sh [EVENTS | FILE.jsonl]   (default 1000000 events)"; }
case "${1:-}" in -h|--help|help) usage; exit 0 ;; esac
if [ $# -gt 1 ]; then
  echo "bench/run.sh: one argument at most, got $#" >&2; usage >&2; exit 2
fi
rounds=${ROUNDS:-3}
if ! [[ "$rounds" =~ ^[1-9][0-9]*$ ]]; then
  echo "bench/run.sh: ROUNDS=$rounds: want a whole number of 1 or more" >&2; exit 2
fi
arg=${1:-1000000}
if [[ "$arg" =~ ^[0-9]+$ ]] && [ "$arg" -eq 0 ]; then
  echo "bench/run.sh: 0 events: want 1 or more" >&2; exit 2
fi
if ! [[ "$arg" =~ ^[0-9]+$ ]] && [ ! -f "$arg" ]; then
  echo "bench/run.sh: $arg: want a number of events or a JSON lines file" >&2; exit 2
fi
if [ -f "$arg" ]; then
  arg=$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")
fi
cd "$(dirname "$0")/.."
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
else
  input=$arg
fi
# Lines, the last one counted even without a newline.
n=$(awk 'END { print NR }' "$input")
if [ "$n" -eq 0 ]; then
  echo "bench/run.sh: $input is empty: nothing to measure" >&2; exit 2
fi
tmp=$(mktemp -d "$work/run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=()
if [ "$n" -gt 200000 ]; then
  head -n 200000 "$input" > "$tmp/prefix.jsonl"
  prefix=(-prefix "$tmp/prefix.jsonl")
fi
echo "machine: $(nproc) cores, $(go version)"
echo "input: $input ($n lines, $(du -h "$input" | cut -f1))"
"$work/report" -rounds "$rounds" "${prefix[@]}" "$work/bridge" "$work/baseline" "$input" "$tmp"
