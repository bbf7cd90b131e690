#!/usr/bin/env bash
# Runs the limit bench (`benches/limit.rs`, speed part) from several fresh copies of each given bench
# binary, alternating, and prints each copy's two ratios and their medians. On the development VM the same
# binary's ratios moved by up to 1.5x from one copy (one placement of its code in memory) to the next, and
# stayed put for that copy, so one copy says little; the median over copies is the figure to quote.
#
# usage (from the repository root): scripts/limit-copies.sh COPIES ROUNDS BENCH_BINARY...
#   (the bench binary: `cargo bench --bench limit --no-run` prints its path)
set -euo pipefail
copies="$1"; rounds="$2"; shift 2
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
for k in $(seq "$copies"); do
  for b in "$@"; do
    name="$(basename "$b")"
    cp "$b" "$dir/$name.$k"
    "$dir/$name.$k" "$rounds" speed | awk -v n="$name" -v k="$k" '/^fixed/ {f=$NF} /^M\/M\/1/ {m=$NF} END {print n, k, f, m}'
  done
done | tee "$dir/all.txt"
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
for b in "$@"; do
  name="$(basename "$b")"
  f=$(awk -v n="$name" '$1 == n {print $3}' "$dir/all.txt" | median)
  m=$(awk -v n="$name" '$1 == n {print $4}' "$dir/all.txt" | median)
  echo "$name: median over $copies copies: fixed replicas $f, M/M/1 $m"
done
