#!/usr/bin/env bash
# The meter's metrics (prometheus-net) against the exporter's hand-written exposition, side by side in one process:
# per-event record cost and /metrics render cost at 100 and 5000 label sets. Prints a Markdown table and writes it to
# bench/results/metric-writers-<timestamp>.md (git-ignored). Knobs: ROUNDS (7), SIZES ("100 5000"), SKIP_BUILD.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "$0")/.." && pwd)"
ARTIFACTS=/tmp/bench-artifacts
OUT=/tmp/bench-metric-writers
SIZES="${SIZES:-100 5000}"
RESULTS="$REPO_DIR/bench/results"

if [[ -z "${SKIP_BUILD:-}" ]]; then
    dotnet publish "$REPO_DIR/bench/MetricWriters/MetricWriters.csproj" -c Release -o "$OUT" \
        --artifacts-path "$ARTIFACTS" -nologo -v q
fi

mkdir -p "$RESULTS"
report="$RESULTS/metric-writers-$(date -u +%Y%m%dT%H%M%SZ).md"
# shellcheck disable=SC2086 # SIZES is a list of arguments.
ROUNDS="${ROUNDS:-7}" dotnet "$OUT/Tollgate.Bench.MetricWriters.dll" $SIZES | tee "$report"
echo
echo "written to $report"
