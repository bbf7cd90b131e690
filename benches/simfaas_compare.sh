#!/usr/bin/env bash
# Side by side, on this machine and in one sitting: the SimFaaS peer on workload W1 and podscale on the same
# workload (benches/simfaas-w1.yaml). Prints both wall times, the ratio, and each run's cold starts and mean
# instances. SimFaaS and its driver are not part of this repository: the driver is read from
# ../shared/peers/bench_simfaas.py (override with PEER=...) and run with a venv holding simfaas==0.2.2:
#
#   python3 -m venv /tmp/simfaas-venv && /tmp/simfaas-venv/bin/pip install simfaas==0.2.2
#   cargo build --release && benches/simfaas_compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PEER="${PEER:-../shared/peers/bench_simfaas.py}"
PY="${PY:-/tmp/simfaas-venv/bin/python}"
BIN="${BIN:-${CARGO_TARGET_DIR:-target}/release/podscale}"
out="$(mktemp -d)"

"$PY" "$PEER" --dist const --seed 1 > "$out/simfaas.json"
start=$(date +%s.%N)
"$BIN" run benches/simfaas-w1.yaml --quiet --out "$out/podscale"
end=$(date +%s.%N)

python3 - "$out/simfaas.json" "$out/podscale/summary.json" "$start" "$end" <<'PYEOF'
import json, sys
peer = json.load(open(sys.argv[1]))
ours = json.load(open(sys.argv[2]))
process_wall = float(sys.argv[4]) - float(sys.argv[3])
peer_wall = peer["wall_s_generate_trace"]
ours_wall = ours["wall_time_s"]
print(f"SimFaaS 0.2.2 : {peer_wall:8.3f} s  {peer['requests']:>7} requests  {peer['sim_requests_per_wall_s']:>12,.0f} req/s"
      f"  cold starts {peer['reqs_cold']}  mean instances {peer['inst_count_avg']:.1f}")
print(f"podscale      : {ours_wall:8.3f} s  {ours['requests']['total']:>7} requests  {ours['requests']['total']/ours_wall:>12,.0f} req/s"
      f"  cold starts {ours['cold_starts']}  mean instances {ours['pod_seconds']/ours['duration_s']:.1f}"
      f"  (whole process incl. load and summary: {process_wall:.3f} s)")
print(f"ratio (SimFaaS / podscale wall time): {peer_wall/ours_wall:,.0f}x  (whole podscale process: {peer_wall/process_wall:,.0f}x)")
PYEOF
rm -rf "$out"
