#!/usr/bin/env bash
# Re-runs every bundled scenario at full length with plots off and compares its summary.json (without
# wall_time_s, keys sorted) and every CSV it writes (timeseries.csv, and services.csv, cluster.csv,
# requests.csv, pods.csv where the scenario asks for them) byte for byte against a baseline made the same way.
#
# usage (from the repository root): scripts/compare_outputs.sh PODSCALE_BINARY BASELINE_DIR
# BASELINE_DIR holds one directory per scenario with summary.json (normalized as below) and its CSV files;
# pass --capture as a third argument to write the current outputs there instead of comparing.
set -u
bin="$1"; base="$2"; mode="${3:-compare}"; out="$(mktemp -d)"; rc=0
for s in scenarios/*.yaml; do n=$(basename "$s" .yaml)
  "$bin" run "$s" --quiet --out "$out/$n" --set output.plots=false >/dev/null 2>&1 || { echo "RUN FAILED $n"; rc=1; continue; }
  python3 -c "
import json; d=json.load(open('$out/$n/summary.json')); d.pop('wall_time_s',None); json.dump(d,open('$out/$n/summary.norm.json','w'),indent=2,sort_keys=True)"
  if [ "$mode" = "--capture" ]; then
    mkdir -p "$base/$n"; cp "$out/$n/summary.norm.json" "$base/$n/summary.json"; cp "$out/$n"/*.csv "$base/$n/"
    echo "$n captured"; continue
  fi
  cmp -s "$out/$n/summary.norm.json" "$base/$n/summary.json" && line="$n summary:same" || { line="$n summary:DIFF"; rc=1; }
  for f in "$base/$n"/*.csv; do c=$(basename "$f" .csv)
    cmp -s "$out/$n/$c.csv" "$f" && line="$line $c:same" || { line="$line $c:DIFF"; rc=1; }
  done
  echo "$line"
done
echo "outputs in $out"; exit $rc
