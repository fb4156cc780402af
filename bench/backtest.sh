#!/usr/bin/env bash
# Backtest throughput on one core and peak memory on a large usage file.
#   bench/backtest.sh [EVENTS_MILLIONS]   (default 5)
# Generates the file with `tollgate simulate` (cli/) from the shipped scenario scaled up (more engineers, same shape), then
# replays it through a two-budget policy pinned to core 0 and reports events/s and peak RSS (GNU time).
set -euo pipefail
cd "$(dirname "$0")/.."
MILLIONS="${1:-5}"
OUT="${OUT:-bench/results/backtest}"
mkdir -p "$OUT"
dotnet build cli -c Release -v q -nologo >/dev/null
TOLLGATE=(dotnet cli/bin/Release/net10.0/tollgate.dll)

# The shipped scenario writes ~16.3k events in 28 days for 50 engineers: scale the engineer counts to reach the target.
FACTOR=$(( MILLIONS * 1000000 / 16300 + 1 ))
awk -v f="$FACTOR" '{ while (match($0, /engineers: [0-9]+/)) { n = substr($0, RSTART + 11, RLENGTH - 11) * f; $0 = substr($0, 1, RSTART - 1) "engineers= " n substr($0, RSTART + RLENGTH) } gsub(/engineers= /, "engineers: "); print }' \
  config/scenarios/ci-review-agent.yaml > "$OUT/scenario.yaml"
USAGE="$OUT/usage-${MILLIONS}m.jsonl"
if [[ ! -s "$USAGE" ]]; then
  /usr/bin/time -f "simulate: %e s, peak RSS %M KB" "${TOLLGATE[@]}" simulate --scenario "$OUT/scenario.yaml" --seed 1 --out "$USAGE"
fi
EVENTS=$(wc -l < "$USAGE")
ls -l "$USAGE"

# Limits grow with the organisation so that, as in the 50-engineer scenario, only the busiest repo-days reach the cap:
# most requests are admitted and settled (the costlier path), a few are blocked.
cat > "$OUT/policy.yaml" <<YAML
apiVersion: tollgate.io/v1alpha1
kind: AiBudget
metadata: { name: repo-daily }
spec:
  priority: 100
  match: { metadata: { pipeline: "pr-review" } }
  limit: { amount: $(( 25 * FACTOR )), unit: usd, period: day }
  appliesPer: ["metadata.repo"]
  alerts: { thresholds: [75, 90, 100] }
---
apiVersion: tollgate.io/v1alpha1
kind: AiBudget
metadata: { name: team-weekly }
spec:
  priority: 50
  match: { metadata: { pipeline: "pr-review" } }
  limit: { amount: $(( 200 * FACTOR )), unit: usd, period: week }
  appliesPer: ["metadata.team"]
  enforcement: audit
YAML

# One core: the backtest is a single sequential loop; pinning keeps the GC and JIT threads on that core too.
/usr/bin/time -f "%e %M" -o "$OUT/time.txt" taskset -c 0 "${TOLLGATE[@]}" backtest --policy "$OUT/policy.yaml" --usage "$USAGE" --json > "$OUT/report.json"
read -r SECONDS_TAKEN PEAK_KB < "$OUT/time.txt"
awk -v e="$EVENTS" -v s="$SECONDS_TAKEN" -v kb="$PEAK_KB" 'BEGIN {
  printf "backtest: %d events in %.1f s on one core = %.0f events/s (%.2f M/min); peak RSS %.0f MB\n", e, s, e / s, e / s * 60 / 1e6, kb / 1024 }' | tee "$OUT/summary.txt"
