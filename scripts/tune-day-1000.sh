#!/usr/bin/env bash
# Times the 1,000-point, one-day tune of README's "Speed" section (issue 15 item 4) with the release binary:
# sweeps/large/kpa-day-1000.yaml raced by its `tune:` block (eta 3, 4 rungs: 150.0 day-equivalents of
# simulated time, survivors' runs continued from rung to rung; 76 full-day runs instead of 2,000). Prints the search summary, wall and CPU time, the
# load average before and after (the figure depends on what else the machine runs), and the extrapolation
# to 10,000 points on 8 cores from the CPU time per day-equivalent.
#   scripts/tune-day-1000.sh [OUT_DIR] [extra podscale tune flags, e.g. --threads 2]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-output/tune-day-1000}
shift || true
mkdir -p "$(dirname "$out")"
bin=target/release/podscale
[ -x "$bin" ] || nice cargo build --release --bin podscale
echo "cores: $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
/usr/bin/time -f 'user %U s, system %S s, wall %e s, peak RSS %M KiB' \
  "$bin" tune sweeps/large/kpa-day-1000.yaml --quiet --out "$out" "$@" >"$out.tune.txt" 2>"$out.time.txt" \
  || { cat "$out.time.txt"; exit 1; }
end=$(date +%s.%N)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$out/adaptive.txt"
cat "$out.time.txt"
user=$(sed -n 's/^user \([0-9.]*\) s.*/\1/p' "$out.time.txt")
# 10,000 points, 2 seeds, eta 3: the 4-rung plan costs 1,482.8 day-equivalents (371 points reach the full
# day), the 5-rung one 577.3 (124 points); see `Ladder::cost`. This run's 150.0 give the CPU time of one.
awk -v u="$user" -v s="$start" -v e="$end" 'BEGIN {
  per = u / 150.0;
  printf "wall %.0f s; %.2f CPU-s per day-equivalent\n", e - s, per;
  printf "10,000 points on 8 idle cores: 4 rungs %.1f min, 5 rungs %.1f min (CPU time / 8)\n",
    per * 1482.78 / 8 / 60, per * 577.26 / 8 / 60 }'
