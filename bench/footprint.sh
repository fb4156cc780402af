#!/usr/bin/env bash
# Tollgate meter footprint, JIT against NativeAOT in one run: exec -> /readyz 200 (median of STARTS starts), resident
# memory once ready and idle, and what has to ship (publish folder, plus the shared runtime for the JIT build).
#
#   bench/footprint.sh                  # publishes both builds (a few minutes for the native one), 20 starts each
#   SKIP_BUILD=1 STARTS=10 bench/footprint.sh
#
# Environment (defaults in brackets):
#   STARTS [20]          starts per build and variant; the median and the range are reported
#   IDLE [5]             seconds the meter idles after readiness before its memory is read
#   VARIANTS ["policy bytes"]   policy = --policy bench/policy.yaml (the o200k vocabulary is loaded before ready)
#                               bytes  = the same with --input-estimate bytes (no tokenizer)
#   METER_CORE [0]       taskset core of the meter (the probe runs on the same shell)
#   SKIP_BUILD [0]       1 = reuse /tmp/footprint-jit and /tmp/footprint-aot
#   PROXY_PORT [8797], ADMIN_PORT [9474]
#
# Needs: bash 5 ($EPOCHREALTIME), taskset, dotnet, clang + zlib1g-dev for the native publish. The probe is bash's
# /dev/tcp every 2 ms, so polling spawns no process that would compete with the starting meter. Writes
# bench/results/footprint-<timestamp>.md (git-ignored).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"

STARTS="${STARTS:-20}"
IDLE="${IDLE:-5}"
VARIANTS="${VARIANTS:-policy bytes}"
METER_CORE="${METER_CORE:-0}"
SKIP_BUILD="${SKIP_BUILD:-0}"
PROXY_PORT="${PROXY_PORT:-8797}"
ADMIN_PORT="${ADMIN_PORT:-9474}"

JIT_OUT=/tmp/footprint-jit
AOT_OUT=/tmp/footprint-aot
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS_FILE="$BENCH_DIR/results/footprint-$STAMP.md"
WORK="$(mktemp -d /tmp/tollgate-footprint.XXXXXX)"
METER_PID=""

cleanup() {
  if [ -n "$METER_PID" ] && kill -0 "$METER_PID" 2>/dev/null; then
    kill "$METER_PID" 2>/dev/null || true
    wait "$METER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$SKIP_BUILD" != "1" ]; then
  echo "footprint: publishing the JIT meter to $JIT_OUT and the native meter to $AOT_OUT"
  rm -rf "$JIT_OUT" "$AOT_OUT"
  dotnet publish "$REPO_DIR/meter" -c Release -o "$JIT_OUT" -nologo -v quiet
  dotnet publish "$REPO_DIR/meter" -c Release -r linux-x64 -p:PublishAot=true -o "$AOT_OUT" -nologo -v quiet
fi

# A 2 ms pause without spawning sleep(1): a read that times out on a pipe nobody writes to.
exec {pause_fd}<> <(:)
pause() { read -r -t 0.002 -u "$pause_fd" _ || true; }

# GET /readyz over bash's /dev/tcp: true once the admin port answers 200.
ready() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$ADMIN_PORT"; } 2>/dev/null || return 1
  printf 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
  IFS= read -r -t 2 line <&3 || line=""
  exec 3<&- 3>&-
  [[ "$line" == "HTTP/1.1 200"* ]]
}

kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

# One start: prints "<ms to ready> <VmRSS KiB after IDLE s> <VmHWM KiB>".
start_once() {
  local build=$1 variant=$2 t0 t1 deadline
  local -a cmd args
  if [ "$build" = jit ]; then cmd=(dotnet "$JIT_OUT/Tollgate.Meter.dll"); else cmd=("$AOT_OUT/Tollgate.Meter"); fi
  args=(--listen "127.0.0.1:$PROXY_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" --ledger memory
        --policy "$BENCH_DIR/policy.yaml" --upstream "anthropic=http://127.0.0.1:9" --upstream "openai=http://127.0.0.1:9")
  [ "$variant" = bytes ] && args+=(--input-estimate bytes)

  t0=$EPOCHREALTIME
  taskset -c "$METER_CORE" "${cmd[@]}" "${args[@]}" >"$WORK/meter.log" 2>&1 &
  METER_PID=$!
  deadline=$(( ${t0%.*} + 30 ))
  until ready; do
    if ! kill -0 "$METER_PID" 2>/dev/null; then echo "footprint: the $build meter exited:" >&2; cat "$WORK/meter.log" >&2; exit 1; fi
    if (( ${EPOCHREALTIME%.*} > deadline )); then echo "footprint: the $build meter was not ready in 30 s" >&2; exit 1; fi
    pause
  done
  t1=$EPOCHREALTIME
  sleep "$IDLE"
  local rss hwm
  rss=$(kib "$METER_PID" VmRSS)
  hwm=$(kib "$METER_PID" VmHWM)
  kill "$METER_PID"
  wait "$METER_PID" 2>/dev/null || true
  METER_PID=""
  awk -v a="$t0" -v b="$t1" -v r="$rss" -v h="$hwm" 'BEGIN { printf "%.1f %d %d\n", (b - a) * 1000, r, h }'
}

# Median and range of a column of numbers.
summary() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f (%.1f-%.1f)", m, v[1], v[NR] }'; }
mib() { awk '{ printf "%.1f\n", $1 / 1024 }'; }

bytes_of() { du -sb --exclude='*.dbg' --exclude='*.pdb' "$@" | awk '{ s += $1 } END { printf "%.1f MiB", s / 1048576 }'; }
netcore_version=$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" { v = $2 } END { print v }')
aspnet_version=$(dotnet --list-runtimes | awk '$1 == "Microsoft.AspNetCore.App" { v = $2 } END { print v }')
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")

{
  echo "## Footprint, JIT vs NativeAOT ($STAMP)"
  echo
  echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores. $STARTS starts per row, meter on core $METER_CORE,"
  echo "memory read after $IDLE s idle once ready. Ready = exec until \`/readyz\` answers 200 (median, range)."
  echo
  echo "| build | variant | exec → /readyz 200 ms | idle RSS MiB | peak RSS (VmHWM) MiB |"
  echo "|---|---|---|---|---|"
} >"$WORK/table.md"

for variant in $VARIANTS; do
  for build in jit aot; do
    : >"$WORK/runs"
    for _ in $(seq "$STARTS"); do start_once "$build" "$variant" >>"$WORK/runs"; done
    ms=$(awk '{ print $1 }' "$WORK/runs" | summary)
    rss=$(awk '{ print $2 }' "$WORK/runs" | mib | summary)
    hwm=$(awk '{ print $3 }' "$WORK/runs" | mib | summary)
    echo "| $build | $variant | $ms | $rss | $hwm |" >>"$WORK/table.md"
    echo "footprint: $build $variant done" >&2
  done
done

{
  echo
  echo "| build | what ships | size (symbols excluded) |"
  echo "|---|---|---|"
  echo "| jit | publish folder ($JIT_OUT) | $(bytes_of "$JIT_OUT") |"
  echo "| jit | the shared runtime it needs (Microsoft.NETCore.App $netcore_version + Microsoft.AspNetCore.App $aspnet_version) | $(bytes_of "$dotnet_root/shared/Microsoft.NETCore.App/$netcore_version" "$dotnet_root/shared/Microsoft.AspNetCore.App/$aspnet_version") |"
  echo "| aot | publish folder ($AOT_OUT) | $(bytes_of "$AOT_OUT") |"
  echo "| aot | the executable alone | $(bytes_of "$AOT_OUT/Tollgate.Meter") |"
  echo "| aot | its symbols (Tollgate.Meter.dbg, not shipped) | $(du -sb "$AOT_OUT/Tollgate.Meter.dbg" | awk '{ printf "%.1f MiB", $1 / 1048576 }') |"
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
} >>"$WORK/table.md"

mkdir -p "$(dirname "$RESULTS_FILE")"
cp "$WORK/table.md" "$RESULTS_FILE"
cat "$WORK/table.md"
echo
echo "footprint: written to $RESULTS_FILE"
