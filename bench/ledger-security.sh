#!/usr/bin/env bash
# What securing the Redis ledger costs a request: the meter with the Redis ledger against three redis-servers side by
# side in one run, their runs interleaved so drift hits them alike:
#   plain  redis://, no ACL, no password (what run.sh's `redis` variant measures)
#   auth   redis://, the shipped config/redis/users.acl (default user off), as tollgate-meter with a password file
#   tls    rediss:// with the same ACL, TLS only (port 0, tls-port), CA pinned with --ledger-ca
# The three meters run at once (each its own port and redis-server); only the one under load does work.
#
#   bench/ledger-security.sh                                          # about 5 min
#   ROUNDS=1 DURATION=2s WARMUP=2s WARMUP_ROUNDS=1 bench/ledger-security.sh   # smoke run (about 1 min with the build)
#
# Environment (defaults in brackets):
#   ROUNDS [5]             measured rounds; each round runs every variant once per connection count, the variant
#                          order rotated per round. The table shows medians over rounds.
#   DURATION [5s]          wrk -d per measured run
#   WARMUP [8s], WARMUP_ROUNDS [6]   interleaved warm-up (c=32, discarded): each round loads every meter for WARMUP
#   CONNECTIONS ["1 32"]   wrk -c values
#   MODE [nonstream]       nonstream or stream (the wrk script)
#   VARIANTS ["plain auth tls"]   the first is the baseline the others are compared with
#   METER_CORE [0], LOAD_CORE [1]   taskset cores of the meters, and of wrk + the fake upstream + the redis-servers
#   SKIP_BUILD [0]         1 = reuse the binaries in $OUT
#   OUT [/tmp/bench-ledger-security]   published meter and fake upstream (not the source tree)
#   PROXY_PORT [8797], ADMIN_PORT [9474], REDIS_PORT [6401]   first of consecutive ports, one per variant
#   UPSTREAM_PORT [9010]
#
# Needs: bash, awk, curl, wrk, taskset, dotnet, redis-server and redis-cli with TLS (7.x), openssl.
# Writes bench/results/ledger-security-<timestamp>.md (git-ignored).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"

ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-5s}"
WARMUP="${WARMUP:-8s}"
WARMUP_ROUNDS="${WARMUP_ROUNDS:-6}"
CONNECTIONS="${CONNECTIONS:-1 32}"
MODE="${MODE:-nonstream}"
VARIANTS="${VARIANTS:-plain auth tls}"
METER_CORE="${METER_CORE:-0}"
LOAD_CORE="${LOAD_CORE:-1}"
SKIP_BUILD="${SKIP_BUILD:-0}"
OUT="${OUT:-/tmp/bench-ledger-security}"
PROXY_PORT="${PROXY_PORT:-8797}"
ADMIN_PORT="${ADMIN_PORT:-9474}"
REDIS_PORT="${REDIS_PORT:-6401}"
UPSTREAM_PORT="${UPSTREAM_PORT:-9010}"

METER_OUT="$OUT/meter"
UPSTREAM_OUT="$OUT/upstream"
ARTIFACTS="$OUT/artifacts"
METER_USER=tollgate-meter
# Not in the shipped file: the bench's own user, only to check afterwards that each ledger was written and nothing refused.
ADMIN_USER=tollgate-bench-admin

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS_DIR="$BENCH_DIR/results"
RESULTS_FILE="$RESULTS_DIR/ledger-security-$STAMP.md"
WORK="$(mktemp -d /tmp/tollgate-bench-ledger.XXXXXX)"
RAW="$WORK/raw.tsv"      # variant conns round rps p50_ms p99_ms errors requests meter_cpu_us_per_req redis_cpu_us_per_req
WARM="$WORK/warmup.tsv"  # variant round rps

declare -A METER_PID REDIS_PID PORT ADMIN RPORT
UPSTREAM_PID=""

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
    for v in "${!METER_PID[@]}"; do stop_pid "${METER_PID[$v]}"; done
    for v in "${!REDIS_PID[@]}"; do stop_pid "${REDIS_PID[$v]}"; done
    stop_pid "$UPSTREAM_PID"
    wait 2>/dev/null || true
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in wrk curl awk taskset dotnet redis-server redis-cli openssl; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
[[ "$MODE" == nonstream || "$MODE" == stream ]] || die "MODE must be nonstream or stream"
BASELINE="${VARIANTS%% *}"

if (( $(nproc) < 2 )); then
    log "only $(nproc) core(s): running without core pinning"
    PIN_METER=()
    PIN_LOAD=()
else
    PIN_METER=(taskset -c "$METER_CORE")
    PIN_LOAD=(taskset -c "$LOAD_CORE")
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
i=0
for v in $VARIANTS; do
    case "$v" in plain | auth | tls) ;; *) die "unknown variant '$v' (plain, auth, tls)" ;; esac
    PORT[$v]=$((PROXY_PORT + i)); ADMIN[$v]=$((ADMIN_PORT + i)); RPORT[$v]=$((REDIS_PORT + i))
    i=$((i + 1))
done
for p in "$UPSTREAM_PORT" "${PORT[@]}" "${ADMIN[@]}" "${RPORT[@]}"; do
    port_busy "$p" && die "port $p is already in use (set PROXY_PORT/ADMIN_PORT/REDIS_PORT/UPSTREAM_PORT)"
done

# ---------------------------------------------------------------------------------------------- build
if [[ "$SKIP_BUILD" != 1 ]]; then
    log "publishing meter and fake upstream (Release) to $OUT"
    dotnet publish "$REPO_DIR/meter/Meter.csproj" -c Release -o "$METER_OUT" \
        --artifacts-path "$ARTIFACTS" -nologo -v q >"$WORK/build.log" 2>&1 \
        || { cat "$WORK/build.log" >&2; die "meter build failed"; }
    dotnet publish "$REPO_DIR/bench/FakeUpstream/FakeUpstream.csproj" -c Release -o "$UPSTREAM_OUT" \
        --artifacts-path "$ARTIFACTS" -nologo -v q >"$WORK/build.log" 2>&1 \
        || { cat "$WORK/build.log" >&2; die "fake upstream build failed"; }
fi
[[ -f "$METER_OUT/Tollgate.Meter.dll" ]] || die "$METER_OUT/Tollgate.Meter.dll missing (run without SKIP_BUILD=1)"
[[ -f "$UPSTREAM_OUT/Tollgate.FakeUpstream.dll" ]] || die "$UPSTREAM_OUT/Tollgate.FakeUpstream.dll missing"

# ---------------------------------------------------------------------------------------------- credentials
# The shipped ACL file with the meter's user turned on the way the README says a deployment does (its password rule
# appended after the line's resetpass), plus the bench's admin user. A throw-away P-256 CA and a server certificate
# for 127.0.0.1, like the tests' TestCertificateAuthority.
prepare_security() {
    local meter_password admin_password
    meter_password="$(openssl rand -hex 16)"
    admin_password="$(openssl rand -hex 16)"
    (umask 077
     printf '%s\n' "$meter_password" >"$WORK/meter.password"
     printf '%s\n' "$admin_password" >"$WORK/admin.password")
    awk -v user="$METER_USER" -v pw="$meter_password" \
        '$1 == "user" && $2 == user { print $0 " on >" pw; next } { print }' \
        "$REPO_DIR/config/redis/users.acl" >"$WORK/users.acl"
    grep -q "^user $METER_USER .* on >" "$WORK/users.acl" || die "no $METER_USER line in config/redis/users.acl"
    printf 'user %s on >%s ~* &* +@all\n' "$ADMIN_USER" "$admin_password" >>"$WORK/users.acl"

    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 2 \
        -subj "/CN=Tollgate bench CA" -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>"$WORK/openssl.log" \
        || { cat "$WORK/openssl.log" >&2; die "cannot make the CA"; }
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "/CN=127.0.0.1" \
        -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>"$WORK/openssl.log" \
        || { cat "$WORK/openssl.log" >&2; die "cannot make the server key"; }
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
        >"$WORK/server.ext"
    openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
        -extfile "$WORK/server.ext" -out "$WORK/server.pem" 2>"$WORK/openssl.log" \
        || { cat "$WORK/openssl.log" >&2; die "cannot sign the server certificate"; }
}

# redis_cli <variant> <args...>: as the bench's admin user, over TLS where the variant has it
redis_cli() {
    local v="$1"; shift
    local tls=()
    [[ "$v" == tls ]] && tls=(--tls --cacert "$WORK/ca.pem")
    if [[ "$v" == plain ]]; then
        redis-cli -h 127.0.0.1 -p "${RPORT[$v]}" "$@"
    else
        REDISCLI_AUTH="$(cat "$WORK/admin.password")" redis-cli -h 127.0.0.1 -p "${RPORT[$v]}" --user "$ADMIN_USER" "${tls[@]}" "$@"
    fi
}

# ---------------------------------------------------------------------------------------------- processes
start_upstream() {
    "${PIN_LOAD[@]}" dotnet "$UPSTREAM_OUT/Tollgate.FakeUpstream.dll" --port "$UPSTREAM_PORT" >"$WORK/upstream.log" 2>&1 &
    UPSTREAM_PID=$!
    for _ in $(seq 150); do
        grep -q '^listening on ' "$WORK/upstream.log" && return 0
        kill -0 "$UPSTREAM_PID" 2>/dev/null || { cat "$WORK/upstream.log" >&2; die "fake upstream exited"; }
        sleep 0.1
    done
    die "fake upstream did not print 'listening on' within 15 s"
}

# A fresh redis-server without persistence on the load core (like a Redis on another node), as the variant runs it.
start_redis() {
    local v="$1" args=(--bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" --logfile "$WORK/redis-$v.log" --daemonize no)
    case "$v" in
        plain) args+=(--port "${RPORT[$v]}") ;;
        auth)  args+=(--port "${RPORT[$v]}" --aclfile "$WORK/users.acl") ;;
        tls)   args+=(--port 0 --tls-port "${RPORT[$v]}" --tls-cert-file "$WORK/server.pem" --tls-key-file "$WORK/server.key"
                      --tls-ca-cert-file "$WORK/ca.pem" --tls-auth-clients no --aclfile "$WORK/users.acl") ;;
    esac
    "${PIN_LOAD[@]}" redis-server "${args[@]}" >/dev/null 2>&1 &
    REDIS_PID[$v]=$!
    for _ in $(seq 100); do
        [[ "$(redis_cli "$v" PING 2>/dev/null)" == PONG ]] && return 0
        kill -0 "${REDIS_PID[$v]}" 2>/dev/null || { cat "$WORK/redis-$v.log" >&2; die "redis-server ($v) exited"; }
        sleep 0.1
    done
    cat "$WORK/redis-$v.log" >&2
    die "redis-server ($v) did not answer PING on ${RPORT[$v]} within 10 s"
}

start_meter() {
    local v="$1" ledger
    case "$v" in
        plain) ledger=(--ledger "redis://127.0.0.1:${RPORT[$v]}") ;;
        auth)  ledger=(--ledger "redis://127.0.0.1:${RPORT[$v]}" --ledger-user "$METER_USER" --ledger-password-file "$WORK/meter.password") ;;
        tls)   ledger=(--ledger "rediss://127.0.0.1:${RPORT[$v]}" --ledger-user "$METER_USER" --ledger-password-file "$WORK/meter.password"
                       --ledger-ca "$WORK/ca.pem") ;;
    esac
    "${PIN_METER[@]}" dotnet "$METER_OUT/Tollgate.Meter.dll" \
        --listen "127.0.0.1:${PORT[$v]}" --admin-listen "127.0.0.1:${ADMIN[$v]}" \
        --upstream "anthropic=http://127.0.0.1:$UPSTREAM_PORT" --upstream "openai=http://127.0.0.1:$UPSTREAM_PORT" \
        "${ledger[@]}" --spool "$WORK/usage-$v.spool" --policy "$BENCH_DIR/policy.yaml" >"$WORK/meter-$v.log" 2>&1 &
    METER_PID[$v]=$!
    # /readyz is 200 only once the ledger answered as this user: a refused ACL or certificate stops the run here.
    for _ in $(seq 300); do
        curl -sf -o /dev/null "http://127.0.0.1:${ADMIN[$v]}/readyz" && return 0
        kill -0 "${METER_PID[$v]}" 2>/dev/null || { cat "$WORK/meter-$v.log" >&2; die "meter ($v) exited during start-up"; }
        sleep 0.1
    done
    cat "$WORK/meter-$v.log" >&2
    die "meter ($v) not ready within 30 s"
}

# CPU time (user + system) of a process in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# ---------------------------------------------------------------------------------------------- wrk
run_wrk() { "${PIN_LOAD[@]}" wrk -t 1 -c "$2" -d "$3" --latency -s "$BENCH_DIR/$MODE.lua" "http://127.0.0.1:${PORT[$1]}"; }

# parse_wrk <file> -> "rps p50_ms p99_ms errors requests"
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
        / requests in / { n = $1 }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { err += $NF }
        /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(/,/, "", v); err += v } }
        END {
            if (rps == "" || p50 == "" || p99 == "" || n == "") { print "parse-error"; exit 1 }
            printf "%.1f %.3f %.3f %d %d\n", rps, p50, p99, err, n }' "$1"
}

# measure <variant> <conns> <round>
measure() {
    local v="$1" conns="$2" round="$3" out parsed m0 m1 r0 r1
    out="$WORK/wrk-$v-c$conns-r$round.txt"
    m0="$(cpu_ticks "${METER_PID[$v]}")"; r0="$(cpu_ticks "${REDIS_PID[$v]}")"
    run_wrk "$v" "$conns" "$DURATION" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed ($v c=$conns)"; }
    m1="$(cpu_ticks "${METER_PID[$v]}")"; r1="$(cpu_ticks "${REDIS_PID[$v]}")"
    parsed="$(parse_wrk "$out")" || { cat "$out" >&2; die "cannot parse wrk output ($v c=$conns)"; }
    read -r rps p50 p99 errs n <<<"$parsed"
    if (( errs != 0 )); then
        log "WARNING: $errs error responses/socket errors in $v c=$conns round $round"
        WARNINGS+="- $v c=$conns round $round: $errs non-2xx responses or socket errors"$'\n'
    fi
    read -r mcpu rcpu < <(awk -v n="$n" -v t="$TICK_US" -v m="$((m1 - m0))" -v r="$((r1 - r0))" \
        'BEGIN { printf "%.1f %.1f\n", (n > 0 ? m * t / n : 0), (n > 0 ? r * t / n : 0) }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$conns" "$round" "$rps" "$p50" "$p99" "$errs" "$n" "$mcpu" "$rcpu" >>"$RAW"
    log "$(printf '%-5s c=%-3s r%s %10s req/s  p50 %7s ms  p99 %7s ms  meter %6s µs CPU/req  redis %5s µs CPU/req' \
        "$v" "$conns" "$round" "$rps" "$p50" "$p99" "$mcpu" "$rcpu")"
}

# ---------------------------------------------------------------------------------------------- run
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
prepare_security
start_upstream
for v in $VARIANTS; do
    start_redis "$v"
    start_meter "$v"
    log "$v: meter pid ${METER_PID[$v]} on core(s) $(taskset -pc "${METER_PID[$v]}" | awk '{print $NF}') port ${PORT[$v]}, redis pid ${REDIS_PID[$v]} port ${RPORT[$v]}"
done
if [[ " $VARIANTS " == *" tls "* ]]; then
    TLS_SESSION="$(openssl s_client -connect "127.0.0.1:${RPORT[tls]}" -CAfile "$WORK/ca.pem" -brief </dev/null 2>&1 \
        | awk -F': ' '/^Protocol version/ { p = $2 } /^Ciphersuite/ { c = $2 } END { print p ", " c }')"
    log "tls: redis-server offers $TLS_SESSION (to openssl s_client)"
fi

: >"$RAW"
: >"$WARM"
WARNINGS=""
for wround in $(seq "$WARMUP_ROUNDS"); do
    for v in $VARIANTS; do
        run_wrk "$v" 32 "$WARMUP" >"$WORK/warmup.txt" 2>&1 || { cat "$WORK/warmup.txt" >&2; die "wrk failed in warm-up"; }
        wrps="$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/warmup.txt")"
        printf '%s\t%s\t%s\n' "$v" "$wround" "$wrps" >>"$WARM"
        log "$(printf '%-5s warm-up %s/%s c=32 %10s req/s (discarded)' "$v" "$wround" "$WARMUP_ROUNDS" "$wrps")"
    done
done
# Still climbing in the last warm-up round (> 20 % over the round before): the JIT has not finished tiering up.
cold="$(awk -F'\t' -v last="$WARMUP_ROUNDS" '{ if ($2 == last) l[$1] = $3; else if ($2 == last - 1) p[$1] = $3 }
    END { for (v in l) if (v in p && l[v] > 1.2 * p[v]) printf "%s %.0f -> %.0f req/s; ", v, p[v], l[v] }' "$WARM")"
if [[ -n "$cold" ]]; then
    WARNINGS+="- meter throughput still rising in the last warm-up round ($cold); raise WARMUP_ROUNDS"$'\n'
    log "WARNING: a meter may not be warm yet: $cold"
fi

read -r -a ORDER <<<"$VARIANTS"
for round in $(seq "$ROUNDS"); do
    for conns in $CONNECTIONS; do
        # Rotate the order every round so that no variant always runs first (or right after the heaviest one).
        for k in $(seq 0 $((${#ORDER[@]} - 1))); do
            measure "${ORDER[$(((k + round - 1) % ${#ORDER[@]}))]}" "$conns" "$round"
        done
    done
done

# Each ledger took the load (usage events in its stream) and the ACL refused nothing the meter did.
CHECKS=""
for v in $VARIANTS; do
    xlen="$(redis_cli "$v" XLEN 'tollgate:{default}:usage' 2>&1)"
    denials="n/a (no ACL)"
    [[ "$v" == plain ]] || denials="$(redis_cli "$v" ACL LOG | grep -c . || true)"
    # Connections the server accepted over the whole run (the bench's own redis-cli calls included): TLS handshakes
    # happen per connection, so this shows whether they are amortised.
    conns="$(redis_cli "$v" INFO stats | awk -F: '/^total_connections_received:/ { sub(/\r/, "", $2); print $2 }')"
    CHECKS+="| $v | $xlen | $denials | $conns | $(grep -cE '^[^ ]+ (warn|fail|crit|error):' "$WORK/meter-$v.log" || true) |"$'\n'
    [[ "$xlen" =~ ^[1-9][0-9]*$ ]] || WARNINGS+="- $v: the usage stream holds '$xlen' entries: the ledger was not written"$'\n'
done

# ---------------------------------------------------------------------------------------------- report
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
col() { awk -F'\t' -v v="$1" -v c="$2" -v k="$3" '$1 == v && $2 == c { print $k }' "$RAW"; }
# paired <variant> <conns> <column>: per-round difference variant − baseline, "min..max"
paired() {
    awk -F'\t' -v v="$1" -v b="$BASELINE" -v c="$2" -v k="$3" '
        $2 == c && $1 == v { x[$3] = $k } $2 == c && $1 == b { y[$3] = $k }
        END { lo = ""; for (r in x) if (r in y) { d = x[r] - y[r]; if (lo == "" || d < lo) lo = d; if (hi == "" || d > hi) hi = d }
              if (lo == "") print "n/a"; else printf "%+.3f..%+.3f", lo, hi }' "$RAW"
}

SUMMARY="$WORK/summary.md"
{
    echo "| ledger | conns | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms | added p50, per round | meter CPU µs/req | redis CPU µs/req |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for conns in $CONNECTIONS; do
        b50="$(col "$BASELINE" "$conns" 5 | median)"; b99="$(col "$BASELINE" "$conns" 6 | median)"
        for v in $VARIANTS; do
            rps="$(col "$v" "$conns" 4 | median)"; p50="$(col "$v" "$conns" 5 | median)"; p99="$(col "$v" "$conns" 6 | median)"
            mcpu="$(col "$v" "$conns" 9 | median)"; rcpu="$(col "$v" "$conns" 10 | median)"
            if [[ "$v" == "$BASELINE" ]]; then
                a50="—"; a99="—"; pr="—"
            else
                a50="$(awk -v a="$p50" -v b="$b50" 'BEGIN { printf "**%+.3f**", a - b }')"
                a99="$(awk -v a="$p99" -v b="$b99" 'BEGIN { printf "**%+.3f**", a - b }')"
                pr="$(paired "$v" "$conns" 5)"
            fi
            printf '| %s | %s | %.0f | %.3f | %.3f | %s | %s | %s | %.1f | %.1f |\n' \
                "$v" "$conns" "$rps" "$p50" "$p99" "$a50" "$a99" "$pr" "$mcpu" "$rcpu"
        done
    done
} >"$SUMMARY"

NETRT="$(dotnet --list-runtimes 2>/dev/null | awk '/Microsoft.NETCore.App/ { v = $2 } END { print v }')"
MACHINE="nproc $(nproc), $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr), runtime $NETRT, $(redis-server --version | awk '{ print $1, $2, $3 }'), $({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $1, $2 }')"
CMD="ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP WARMUP_ROUNDS=$WARMUP_ROUNDS CONNECTIONS=\"$CONNECTIONS\" MODE=$MODE VARIANTS=\"$VARIANTS\" bench/ledger-security.sh"

mkdir -p "$RESULTS_DIR"
{
    echo "# Tollgate Redis ledger: plain vs ACL vs ACL + TLS, $STAMP"
    echo
    echo "- machine: $MACHINE; load average before the run: $LOAD_BEFORE"
    echo "- command: \`$CMD\`"
    echo "- pinning: the meters on core $METER_CORE; wrk (-t 1), the fake upstream and the redis-servers on core $LOAD_CORE"
    [[ -n "${TLS_SESSION:-}" ]] && echo "- TLS: $TLS_SESSION (what redis-server negotiates with openssl s_client)"
    echo "- $ROUNDS rounds of $DURATION per variant and connection count, variants interleaved (order rotated per round); medians over rounds; added = median(variant) − median($BASELINE); $MODE requests"
    echo "- warm-up: $WARMUP_ROUNDS interleaved rounds of $WARMUP per meter at c=32 (discarded)"
    echo
    if [[ -n "$WARNINGS" ]]; then
        echo "## Warnings"
        echo
        printf '%s' "$WARNINGS"
        echo
    fi
    echo "## Summary"
    echo
    cat "$SUMMARY"
    echo
    echo "## Checks after the run"
    echo
    echo "| ledger | usage stream entries | ACL LOG entries | connections accepted (incl. the bench's redis-cli) | meter log warn/fail lines |"
    echo "|---|---:|---:|---:|---:|"
    printf '%s' "$CHECKS"
    echo
    echo "## Warm-up runs (c=32, discarded; in run order)"
    echo
    echo "| ledger | round | req/s |"
    echo "|---|---:|---:|"
    awk -F'\t' '{ printf "| %s | %s | %s |\n", $1, $2, $3 }' "$WARM"
    echo
    echo "## Raw runs (in run order)"
    echo
    echo "| ledger | conns | round | req/s | p50 ms | p99 ms | errors | requests | meter CPU µs/req | redis CPU µs/req |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 }' "$RAW"
} >"$RESULTS_FILE"

echo
echo "Machine: $MACHINE"
echo "Command: $CMD"
echo
cat "$SUMMARY"
echo
printf '%s' "$CHECKS"
[[ -z "$WARNINGS" ]] || { echo; echo "Warnings:"; printf '%s' "$WARNINGS"; }
echo "Raw runs: $RESULTS_FILE"
