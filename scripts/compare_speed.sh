#!/usr/bin/env bash
# Wall time of two podscale binaries on the bench scenarios, interleaved run by run in one sitting so that
# machine noise hits both alike; prints the median of each and the ratio (after / before; below 1 is faster).
#
# usage (from the repository root): scripts/compare_speed.sh BEFORE_BINARY AFTER_BINARY [REPETITIONS]
set -u
before="$1"; after="$2"; reps="${3:-7}"; out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
wall() { # prints seconds for one run of binary $1 on scenario $2
  local t0 t1; t0=$(date +%s.%N)
  "$1" run "$2" --quiet --out "$out/run" --set output.plots=false >/dev/null 2>&1 || { echo "RUN FAILED: $1 $2" >&2; exit 1; }
  t1=$(date +%s.%N); rm -rf "$out/run"; echo "$t1 - $t0" | bc -l
}
printf '%-28s %12s %12s %8s\n' scenario before_s after_s ratio
for s in benches/*.yaml; do
  : >"$out/b"; : >"$out/a"
  for _ in $(seq "$reps"); do wall "$before" "$s" >>"$out/b"; wall "$after" "$s" >>"$out/a"; done
  b=$(median <"$out/b"); a=$(median <"$out/a")
  printf '%-28s %12.3f %12.3f %8.3f\n' "$(basename "$s" .yaml)" "$b" "$a" "$(echo "$a / $b" | bc -l)"
done
