#!/usr/bin/env bash
# Re-runs every bundled scenario at full length with plots off and compares its summary.json (without
# wall_time_s, keys sorted) and timeseries.csv byte for byte against a baseline made the same way.
#
# usage (from the repository root): scripts/compare_outputs.sh PODSCALE_BINARY BASELINE_DIR
# BASELINE_DIR holds one directory per scenario with summary.json (normalized as below) and timeseries.csv;
# pass --capture as a third argument to write the current outputs there instead of comparing.
set -u
bin="$1"; base="$2"; mode="${3:-compare}"; out="$(mktemp -d)"; rc=0
for s in scenarios/*.yaml; do n=$(basename "$s" .yaml)
  "$bin" run "$s" --quiet --out "$out/$n" --set output.plots=false >/dev/null 2>&1 || { echo "RUN FAILED $n"; rc=1; continue; }
  python3 -c "
import json; d=json.load(open('$out/$n/summary.json')); d.pop('wall_time_s',None); json.dump(d,open('$out/$n/summary.norm.json','w'),indent=2,sort_keys=True)"
  if [ "$mode" = "--capture" ]; then
    mkdir -p "$base/$n"; cp "$out/$n/summary.norm.json" "$base/$n/summary.json"; cp "$out/$n/timeseries.csv" "$base/$n/"
    echo "$n captured"; continue
  fi
  cmp -s "$out/$n/summary.norm.json" "$base/$n/summary.json" && s1=same || { s1=DIFF; rc=1; }
  cmp -s "$out/$n/timeseries.csv" "$base/$n/timeseries.csv" && s2=same || { s2=DIFF; rc=1; }
  echo "$n summary:$s1 timeseries:$s2"
done
echo "outputs in $out"; exit $rc
