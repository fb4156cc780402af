#!/usr/bin/env bash
# Tollgate meter overhead benchmark: wrk -> fake upstream (direct) vs wrk -> meter -> fake upstream,
# non-streaming and streaming, at 1 and 32 connections, direct and metered runs alternated, medians reported.
#
#   bench/run.sh                               # full run: ROUNDS=3 DURATION=8s, plus the no-policy variant
#   ROUNDS=1 DURATION=2s WARMUP=1s WARMUP_ROUNDS=1 VARIANTS=policy bench/run.sh   # smoke run
#
# Environment (defaults in brackets):
#   ROUNDS [3]            runs per cell and path; the table shows medians
#   DURATION [8s]         wrk -d per measured run
#   WARMUP [8s]           wrk -d per warm-up run (discarded, c=32)
#   WARMUP_ROUNDS [5]     warm-up rounds after every meter start; each round runs WARMUP direct and WARMUP
#                         through the meter, per mode. Pinned to one core, the meter needs 40-60 s of load before
#                         the JIT has tiered up its hot paths (throughput quadruples at that point), so 5 s is
#                         not enough: the default gives the meter 80 s. The warm-up req/s are in the results.
#   CONNECTIONS ["1 32"]  wrk -c values
#   MODES ["nonstream stream"]
#   VARIANTS ["policy nopolicy"]  meter configurations, each a fresh meter process:
#                           policy   = --policy bench/policy.yaml (one budget matching every request)
#                           nopolicy = no --policy (no budgets: no estimation, reservation or settlement)
#                           redis    = like policy, with the shared Redis ledger (redis-server on the load core,
#                                      no persistence) instead of the embedded journal
#                           bytes    = like policy, with --input-estimate bytes (no tokenizer)
#                           wsgc     = like policy, with DOTNET_gcServer=0 DOTNET_gcConcurrent=0 (workstation, non-concurrent GC)
#                           yarp     = not the meter: bench/PlainProxy, a bare YARP forwarder with the meter's
#                                      HTTP client settings (the cost floor of any .NET proxy hop)
#   METER_CORE [0], LOAD_CORE [1]   taskset cores of the meter, and of wrk + the fake upstream
#   SKIP_BUILD [0]        1 = reuse /tmp/bench-meter and /tmp/bench-upstream
#   PROXY_PORT [8787], ADMIN_PORT [9464], UPSTREAM_PORT [9000], REDIS_PORT [6391]
#
# Needs: bash, awk, curl, wrk, taskset, dotnet. Writes bench/results/<timestamp>.md (git-ignored).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-8s}"
WARMUP="${WARMUP:-8s}"
WARMUP_ROUNDS="${WARMUP_ROUNDS:-5}"
CONNECTIONS="${CONNECTIONS:-1 32}"
MODES="${MODES:-nonstream stream}"
VARIANTS="${VARIANTS:-policy nopolicy}"
METER_CORE="${METER_CORE:-0}"
LOAD_CORE="${LOAD_CORE:-1}"
SKIP_BUILD="${SKIP_BUILD:-0}"
PROXY_PORT="${PROXY_PORT:-8787}"
ADMIN_PORT="${ADMIN_PORT:-9464}"
UPSTREAM_PORT="${UPSTREAM_PORT:-9000}"
REDIS_PORT="${REDIS_PORT:-6391}"

METER_OUT=/tmp/bench-meter
PLAIN_OUT=/tmp/bench-plainproxy
UPSTREAM_OUT=/tmp/bench-upstream
ARTIFACTS=/tmp/bench-artifacts

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS_DIR="$BENCH_DIR/results"
RESULTS_FILE="$RESULTS_DIR/$STAMP.md"
WORK="$(mktemp -d /tmp/tollgate-bench.XXXXXX)"
RAW="$WORK/raw.tsv"          # variant mode conns round path rps p50_ms p99_ms errors meter_rss_kb
WARM="$WORK/warmup.tsv"      # variant round mode path rps
SUMMARY="$WORK/summary.md"

UPSTREAM_PID=""
METER_PID=""
REDIS_PID=""

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

stop_pid() {
    local pid="$1"
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    log "pid $pid ignored SIGTERM for 5 s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    stop_pid "$METER_PID"
    stop_pid "$UPSTREAM_PID"
    stop_pid "$REDIS_PID"
    wait 2>/dev/null || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in wrk curl awk taskset dotnet; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

CORES="$(nproc)"
if (( CORES < 2 )); then
    log "only $CORES core(s): running without core pinning"
    PIN_METER=()
    PIN_LOAD=()
else
    PIN_METER=(taskset -c "$METER_CORE")
    PIN_LOAD=(taskset -c "$LOAD_CORE")
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$PROXY_PORT" "$ADMIN_PORT" "$UPSTREAM_PORT"; do
    port_busy "$p" && die "port $p is already in use (set PROXY_PORT/ADMIN_PORT/UPSTREAM_PORT)"
done

# ---------------------------------------------------------------------------------------------- build
if [[ "$SKIP_BUILD" != 1 ]]; then
    log "publishing meter and fake upstream (Release) to $METER_OUT and $UPSTREAM_OUT"
    dotnet publish "$REPO_DIR/meter/Meter.csproj" -c Release -o "$METER_OUT" \
        --artifacts-path "$ARTIFACTS" -nologo -v q >"$WORK/build.log" 2>&1 \
        || { cat "$WORK/build.log" >&2; die "meter build failed"; }
    dotnet publish "$REPO_DIR/bench/FakeUpstream/FakeUpstream.csproj" -c Release -o "$UPSTREAM_OUT" \
        --artifacts-path "$ARTIFACTS" -nologo -v q >"$WORK/build.log" 2>&1 \
        || { cat "$WORK/build.log" >&2; die "fake upstream build failed"; }
    if [[ " $VARIANTS " == *" yarp "* ]]; then
        dotnet publish "$REPO_DIR/bench/PlainProxy/PlainProxy.csproj" -c Release -o "$PLAIN_OUT" \
            --artifacts-path "$ARTIFACTS" -nologo -v q >"$WORK/build.log" 2>&1 \
            || { cat "$WORK/build.log" >&2; die "plain proxy build failed"; }
    fi
fi
[[ -f "$METER_OUT/Tollgate.Meter.dll" ]] || die "$METER_OUT/Tollgate.Meter.dll missing (run without SKIP_BUILD=1)"
[[ -f "$UPSTREAM_OUT/Tollgate.FakeUpstream.dll" ]] || die "$UPSTREAM_OUT/Tollgate.FakeUpstream.dll missing"

# ---------------------------------------------------------------------------------------------- processes
start_upstream() {
    "${PIN_LOAD[@]}" dotnet "$UPSTREAM_OUT/Tollgate.FakeUpstream.dll" --port "$UPSTREAM_PORT" \
        >"$WORK/upstream.log" 2>&1 &
    UPSTREAM_PID=$!
    for _ in $(seq 150); do
        grep -q '^listening on ' "$WORK/upstream.log" && return 0
        kill -0 "$UPSTREAM_PID" 2>/dev/null || { cat "$WORK/upstream.log" >&2; die "fake upstream exited"; }
        sleep 0.1
    done
    die "fake upstream did not print 'listening on' within 15 s"
}

# start_meter <variant>
start_meter() {
    local variant="$1" policy=() envs=() ledger=(--ledger "$WORK/ledger.jsonl")
    case "$variant" in
        policy)   policy=(--policy "$BENCH_DIR/policy.yaml") ;;
        nopolicy) ;;
        redis)    policy=(--policy "$BENCH_DIR/policy.yaml"); start_redis
                  ledger=(--ledger "redis://127.0.0.1:$REDIS_PORT" --spool "$WORK/usage.spool") ;;
        bytes)    policy=(--policy "$BENCH_DIR/policy.yaml" --input-estimate bytes) ;;
        wsgc)     policy=(--policy "$BENCH_DIR/policy.yaml"); envs=(DOTNET_gcServer=0 DOTNET_gcConcurrent=0) ;;
        yarp)     start_plain_proxy; return 0 ;;
        *) die "unknown variant '$variant' (policy, nopolicy, redis, bytes, wsgc, yarp)" ;;
    esac
    rm -f "$WORK/ledger.jsonl"
    env "${envs[@]}" "${PIN_METER[@]}" dotnet "$METER_OUT/Tollgate.Meter.dll" \
        --listen "127.0.0.1:$PROXY_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
        --upstream "anthropic=http://127.0.0.1:$UPSTREAM_PORT" --upstream "openai=http://127.0.0.1:$UPSTREAM_PORT" \
        "${ledger[@]}" "${policy[@]}" >"$WORK/meter-$variant.log" 2>&1 &
    METER_PID=$!
    for _ in $(seq 300); do
        curl -sf -o /dev/null "http://127.0.0.1:$ADMIN_PORT/readyz" && return 0
        kill -0 "$METER_PID" 2>/dev/null || { cat "$WORK/meter-$variant.log" >&2; die "meter exited during start-up"; }
        sleep 0.1
    done
    die "meter not ready within 30 s"
}

# A fresh, empty redis-server on the load core (like a Redis on another node: not competing with the meter's core).
start_redis() {
    command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
    stop_pid "$REDIS_PID"
    "${PIN_LOAD[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
        >"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    die "redis-server did not listen on $REDIS_PORT within 10 s"
}

# The baseline proxy stands in for the meter (same port, same core); it has no admin endpoint.
start_plain_proxy() {
    [[ -f "$PLAIN_OUT/Tollgate.Bench.PlainProxy.dll" ]] || die "$PLAIN_OUT/Tollgate.Bench.PlainProxy.dll missing"
    "${PIN_METER[@]}" dotnet "$PLAIN_OUT/Tollgate.Bench.PlainProxy.dll" --port "$PROXY_PORT" \
        --upstream "http://127.0.0.1:$UPSTREAM_PORT" >"$WORK/meter-yarp.log" 2>&1 &
    METER_PID=$!
    for _ in $(seq 300); do
        grep -q '^listening on ' "$WORK/meter-yarp.log" && return 0
        kill -0 "$METER_PID" 2>/dev/null || { cat "$WORK/meter-yarp.log" >&2; die "plain proxy exited during start-up"; }
        sleep 0.1
    done
    die "plain proxy not ready within 30 s"
}

stop_meter() { stop_pid "$METER_PID"; wait "$METER_PID" 2>/dev/null || true; METER_PID=""; }

proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# overhead histogram of the meter: "sum count b1=le:count ..." on one line
scrape_overhead() {
    [[ "$variant" == yarp ]] && { echo "0 0"; return 0; }
    curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '
        /^tollgate_meter_overhead_seconds_sum /   { sum = $2 }
        /^tollgate_meter_overhead_seconds_count / { cnt = $2 }
        /^tollgate_meter_overhead_seconds_bucket/ {
            le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le); b = b " " le "=" $2 }
        END { printf "%s %s%s\n", (sum == "" ? 0 : sum), (cnt == "" ? 0 : cnt), b }'
}

# overhead_stats "<before>" "<after>" -> "mean_ms p50_le_ms p99_le_ms count" over the difference
overhead_stats() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        na = split(a, A, " "); nb = split(b, B, " ")
        cnt = B[2] - A[2]; sum = B[1] - A[1]
        if (cnt <= 0) { print "n/a n/a n/a 0"; exit }
        for (i = 3; i <= na; i++) { split(A[i], kv, "="); before[kv[1]] = kv[2] }
        p50 = ""; p99 = ""
        for (i = 3; i <= nb; i++) {
            split(B[i], kv, "="); c = kv[2] - before[kv[1]]
            le = (kv[1] == "+Inf") ? "+Inf" : sprintf("%.3f", kv[1] * 1000)
            if (p50 == "" && c >= 0.50 * cnt) p50 = le
            if (p99 == "" && c >= 0.99 * cnt) p99 = le
        }
        printf "%.3f %s %s %d\n", sum / cnt * 1000, p50, p99, cnt }'
}

# ---------------------------------------------------------------------------------------------- wrk
script_for() { echo "$BENCH_DIR/$1.lua"; }

# run_wrk <url> <mode> <conns> <duration> -> raw wrk output on stdout
run_wrk() {
    "${PIN_LOAD[@]}" wrk -t 1 -c "$3" -d "$4" --latency -s "$(script_for "$2")" "$1"
}

# parse_wrk <file> -> "rps p50_ms p99_ms errors"
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
            if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
            if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
            if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
            return v + 0
        }
        /Latency Distribution/ { dist = 1; next }
        dist && $1 == "50%" { p50 = ms($2) }
        dist && $1 == "99%" { p99 = ms($2); dist = 0 }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { err += $NF }
        /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(/,/, "", v); err += v } }
        END {
            if (rps == "" || p50 == "" || p99 == "") { print "parse-error"; exit 1 }
            printf "%.1f %.3f %.3f %d\n", rps, p50, p99, err }' "$1"
}

# measure <variant> <mode> <conns> <round> <path> <url> <duration>
measure() {
    local variant="$1" mode="$2" conns="$3" round="$4" path="$5" url="$6" dur="$7" out parsed rss
    out="$WORK/wrk-$variant-$mode-c$conns-r$round-$path.txt"
    run_wrk "$url" "$mode" "$conns" "$dur" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed ($path $mode c=$conns)"; }
    parsed="$(parse_wrk "$out")" || { cat "$out" >&2; die "cannot parse wrk output ($path $mode c=$conns)"; }
    rss=0
    [[ "$path" == meter ]] && rss="$(proc_kb "$METER_PID" VmRSS)"
    read -r rps p50 p99 errs <<<"$parsed"
    if (( errs != 0 )); then
        log "WARNING: $errs error responses/socket errors in $path $mode c=$conns round $round"
        WARNINGS+="- $variant $mode c=$conns round $round $path: $errs non-2xx responses or socket errors"$'\n'
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$variant" "$mode" "$conns" "$round" "$path" "$rps" "$p50" "$p99" "$errs" "$rss" >>"$RAW"
    log "$(printf '%-8s %-9s c=%-3s r%s %-6s %10s req/s  p50 %8s ms  p99 %8s ms' \
        "$variant" "$mode" "$conns" "$round" "$path" "$rps" "$p50" "$p99")"
}

DIRECT_URL="http://127.0.0.1:$UPSTREAM_PORT"
METER_URL="http://127.0.0.1:$PROXY_PORT"

# ---------------------------------------------------------------------------------------------- run
start_upstream
log "fake upstream pid $UPSTREAM_PID on core(s) $(taskset -pc "$UPSTREAM_PID" | awk '{print $NF}')"
: >"$RAW"
: >"$WARM"
WARNINGS=""
declare -A MEM_HWM MEM_RSS_END MEM_IDLE MEM_ANON MEM_FILE MEM_SHMEM OVERHEAD ERRLINES
for variant in $VARIANTS; do
    start_meter "$variant"
    log "meter ($variant) pid $METER_PID on core(s) $(taskset -pc "$METER_PID" | awk '{print $NF}')"
    MEM_IDLE[$variant]="$(proc_kb "$METER_PID" VmRSS)"
    for wround in $(seq "$WARMUP_ROUNDS"); do
        for mode in $MODES; do
            for path in direct meter; do
                url="$DIRECT_URL"; [[ "$path" == meter ]] && url="$METER_URL"
                run_wrk "$url" "$mode" 32 "$WARMUP" >"$WORK/warmup.txt" 2>&1 || { cat "$WORK/warmup.txt" >&2; die "wrk failed in warm-up"; }
                wrps="$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/warmup.txt")"
                printf '%s\t%s\t%s\t%s\t%s\n' "$variant" "$wround" "$mode" "$path" "$wrps" >>"$WARM"
                log "$(printf '%-8s warm-up %s/%s %-9s c=32 %-6s %10s req/s (discarded)' "$variant" "$wround" "$WARMUP_ROUNDS" "$mode" "$path" "$wrps")"
            done
        done
    done
    # Still climbing in the last warm-up round (> 20 % over the round before): the JIT has not finished tiering up.
    cold="$(awk -F'\t' -v v="$variant" -v last="$WARMUP_ROUNDS" '$1 == v && $4 == "meter" {
            if ($2 == last) l[$3] = $5; else if ($2 == last - 1) p[$3] = $5 }
        END { for (m in l) if (m in p && l[m] > 1.2 * p[m]) printf "%s %.0f -> %.0f req/s; ", m, p[m], l[m] }' "$WARM")"
    if [[ -n "$cold" ]]; then
        WARNINGS+="- $variant: meter throughput still rising in the last warm-up round ($cold); raise WARMUP_ROUNDS"$'\n'
        log "WARNING: $variant meter may not be warm yet: $cold"
    fi
    before="$(scrape_overhead)"
    for round in $(seq "$ROUNDS"); do
        for mode in $MODES; do
            for conns in $CONNECTIONS; do
                measure "$variant" "$mode" "$conns" "$round" direct "$DIRECT_URL" "$DURATION"
                measure "$variant" "$mode" "$conns" "$round" meter "$METER_URL" "$DURATION"
            done
        done
    done
    after="$(scrape_overhead)"
    OVERHEAD[$variant]="$(overhead_stats "$before" "$after")"
    MEM_HWM[$variant]="$(proc_kb "$METER_PID" VmHWM)"
    MEM_RSS_END[$variant]="$(proc_kb "$METER_PID" VmRSS)"
    MEM_ANON[$variant]="$(proc_kb "$METER_PID" RssAnon)"
    MEM_FILE[$variant]="$(proc_kb "$METER_PID" RssFile)"
    MEM_SHMEM[$variant]="$(proc_kb "$METER_PID" RssShmem)"
    stop_meter
    ERRLINES[$variant]="$(grep -cE '^[^ ]+ (warn|fail|crit|error):' "$WORK/meter-$variant.log" || true)"
done

# ---------------------------------------------------------------------------------------------- report
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v v="$1" -v m="$2" -v c="$3" -v p="$4" -v k="$5" '$1 == v && $2 == m && $3 == c && $5 == p { print $k }' "$RAW"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
verdict() { awk -v x="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == "<") ? (x < t) : (x >= t); print ok ? "PASS" : "MISS" }'; }

{
    echo "| variant | mode | conns | direct req/s | meter req/s | meter/direct | direct p50 ms | meter p50 ms | added p50 ms | direct p99 ms | meter p99 ms | added p99 ms |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$SUMMARY"
TARGETS="$WORK/targets.md"
{
    echo "| variant | target | measured | verdict |"
    echo "|---|---|---:|---|"
} >"$TARGETS"
for variant in $VARIANTS; do
    for mode in $MODES; do
        for conns in $CONNECTIONS; do
            d_rps="$(col "$variant" "$mode" "$conns" direct 6 | median)"
            m_rps="$(col "$variant" "$mode" "$conns" meter 6 | median)"
            d_p50="$(col "$variant" "$mode" "$conns" direct 7 | median)"
            m_p50="$(col "$variant" "$mode" "$conns" meter 7 | median)"
            d_p99="$(col "$variant" "$mode" "$conns" direct 8 | median)"
            m_p99="$(col "$variant" "$mode" "$conns" meter 8 | median)"
            read -r ratio a50 a99 < <(awk -v dr="$d_rps" -v mr="$m_rps" -v d5="$d_p50" -v m5="$m_p50" -v d9="$d_p99" -v m9="$m_p99" \
                'BEGIN { printf "%.1f %.3f %.3f\n", (dr > 0 ? 100 * mr / dr : 0), m5 - d5, m9 - d9 }')
            printf '| %s | %s | %s | %.0f | %.0f | %s %% | %.3f | %.3f | **%+.3f** | %.3f | %.3f | **%+.3f** |\n' \
                "$variant" "$mode" "$conns" "$d_rps" "$m_rps" "$ratio" "$d_p50" "$m_p50" "$a50" "$d_p99" "$m_p99" "$a99" >>"$SUMMARY"
            if [[ "$conns" == 1 ]]; then
                echo "| $variant | $mode, 1 conn: added p50 < 0.2 ms | $a50 ms | $(verdict "$a50" '<' 0.2) |" >>"$TARGETS"
                echo "| $variant | $mode, 1 conn: added p99 < 1 ms | $a99 ms | $(verdict "$a99" '<' 1) |" >>"$TARGETS"
            elif [[ "$conns" == 32 ]]; then
                echo "| $variant | $mode, 32 conns: >= 60 % of direct req/s | $ratio % | $(verdict "$ratio" '>=' 60) |" >>"$TARGETS"
            fi
        done
    done
    hwm_mb="$(mb "${MEM_HWM[$variant]}")"
    echo "| $variant | working set (VmHWM, peak) < 80 MB | $hwm_mb MB | $(verdict "$hwm_mb" '<' 80) |" >>"$TARGETS"
done

MEMORY="$WORK/memory.md"
{
    echo "| variant | VmRSS idle (ready, before load) | VmHWM (peak RSS) | VmRSS at end (anon + file + shmem) | self-measured overhead: mean | p50 (bucket ≤) | p99 (bucket ≤) | requests | meter log warn/fail lines |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for variant in $VARIANTS; do
        read -r omean o50 o99 ocnt <<<"${OVERHEAD[$variant]}"
        echo "| $variant | $(mb "${MEM_IDLE[$variant]}") MB | $(mb "${MEM_HWM[$variant]}") MB | $(mb "${MEM_RSS_END[$variant]}") MB ($(mb "${MEM_ANON[$variant]}") + $(mb "${MEM_FILE[$variant]}") + $(mb "${MEM_SHMEM[$variant]}")) | $omean ms | $o50 ms | $o99 ms | $ocnt | ${ERRLINES[$variant]} |"
    done
} >"$MEMORY"

NETRT="$(dotnet --list-runtimes 2>/dev/null | awk '/Microsoft.NETCore.App/ { v = $2 } END { print v }')"
MACHINE="nproc $(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), $(uname -sr), .NET SDK $(dotnet --version), runtime $NETRT, $({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $1, $2 }')"
CMD="ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP WARMUP_ROUNDS=$WARMUP_ROUNDS CONNECTIONS=\"$CONNECTIONS\" MODES=\"$MODES\" VARIANTS=\"$VARIANTS\" bench/run.sh"

mkdir -p "$RESULTS_DIR"
{
    echo "# Tollgate meter overhead benchmark, $STAMP"
    echo
    echo "- machine: $MACHINE"
    echo "- command: \`$CMD\`"
    echo "- pinning: meter on core $METER_CORE; wrk (-t 1) and the fake upstream on core $LOAD_CORE"
    echo "- medians of $ROUNDS alternated runs (direct, meter, direct, meter, …) of $DURATION each; latency = full response"
    echo "- warm-up after each meter start: $WARMUP_ROUNDS rounds of $WARMUP per path and mode at c=32 (discarded)"
    echo
    if [[ -n "$WARNINGS" ]]; then
        echo "## Warnings"
        echo
        printf '%s' "$WARNINGS"
        echo
    fi
    echo "## Summary (medians; added = median meter − median direct)"
    echo
    cat "$SUMMARY"
    echo
    echo "## Targets"
    echo
    cat "$TARGETS"
    echo
    echo "## Meter memory and self-measured overhead (\`tollgate_meter_overhead_seconds\`, measured runs only)"
    echo
    cat "$MEMORY"
    echo
    echo "## Warm-up runs (c=32, discarded; in run order)"
    echo
    echo "| variant | round | mode | path | req/s |"
    echo "|---|---:|---|---|---:|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$WARM"
    echo
    echo "## Raw runs (in run order)"
    echo
    echo "| variant | mode | conns | round | path | req/s | p50 ms | p99 ms | errors | meter VmRSS MB |"
    echo "|---|---|---:|---:|---|---:|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, ($10 > 0 ? sprintf("%.1f", $10 / 1024) : "") }' "$RAW"
    for variant in $VARIANTS; do
        echo
        echo "## Meter log ($variant): warn/fail/crit/error lines"
        echo
        echo '```'
        { grep -E '^[^ ]+ (warn|fail|crit|error):' -A 3 "$WORK/meter-$variant.log" || true; } | awk 'NR <= 60'
        echo '```'
    done
} >"$RESULTS_FILE"

echo
echo "Machine: $MACHINE"
echo "Command: $CMD"
echo
cat "$SUMMARY"
echo
cat "$TARGETS"
echo
cat "$MEMORY"
echo
[[ -z "$WARNINGS" ]] || { echo; echo "Warnings:"; printf '%s' "$WARNINGS"; }
echo "Raw runs: $RESULTS_FILE"
