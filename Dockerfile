# syntax=docker/dockerfile:1
#
# Tollgate images: one build, four targets. From the repository root:
#
#   docker build --target meter    -t tollgate/meter .
#   docker build --target exporter -t tollgate/exporter .
#   docker build --target operator -t tollgate/operator .
#   docker build --target cli      -t tollgate/cli .
#
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 --target meter -t tollgate/meter .
# The build stage runs on the builder's own platform; the output is framework-dependent IL, so it runs on either.
#
# Without --target, docker builds the last stage (operator).

FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src

# Restore first, from the project files and the central package management files alone, so the package layer is
# rebuilt only when a dependency changes, not on every source edit.
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY core/Core.csproj core/
COPY meter/Meter.csproj meter/
COPY exporter/Exporter.csproj exporter/
COPY operator/Operator.csproj operator/
COPY cli/Cli.csproj cli/
RUN dotnet restore meter/Meter.csproj \
 && dotnet restore exporter/Exporter.csproj \
 && dotnet restore operator/Operator.csproj \
 && dotnet restore cli/Cli.csproj

# Sources. Core embeds the pricing catalog from config/pricing (see core/Core.csproj) and the operator the ACL file
# config/redis/users.acl (see operator/Operator.csproj); nothing else outside the five
# project folders is compiled in. Add a folder here when a project starts embedding one.
COPY core/ core/
COPY meter/ meter/
COPY exporter/ exporter/
COPY operator/ operator/
COPY cli/ cli/
COPY config/pricing/ config/pricing/
COPY config/redis/users.acl config/redis/

# The same warnings-as-errors Release build CI runs; UseAppHost=false because the images start them with "dotnet".
RUN dotnet publish meter/Meter.csproj -c Release --no-restore -p:UseAppHost=false -o /out/meter \
 && dotnet publish exporter/Exporter.csproj -c Release --no-restore -p:UseAppHost=false -o /out/exporter \
 && dotnet publish operator/Operator.csproj -c Release --no-restore -p:UseAppHost=false -o /out/operator \
 && dotnet publish cli/Cli.csproj -c Release --no-restore -p:UseAppHost=false -o /out/cli


# The token meter: the sidecar the operator's webhook injects, and the standalone proxy.
# It listens on 127.0.0.1 by default on purpose: in a pod only the job's own containers may reach it (it holds the
# provider keys). To use the image standalone, publish it explicitly:
#   docker run -p 8787:8787 -p 9464:9464 -v $PWD/config/samples:/policy:ro tollgate/meter \
#     --listen 0.0.0.0:8787 --admin-listen 0.0.0.0:9464 --policy /policy
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS meter
WORKDIR /app
# Binaries stay root-owned and read-only to the app user. The working directory holds the default ledger journal
# (.tollgate/ledger.jsonl) and its spool, so it must be writable by the app user; pods mount an emptyDir or use Redis.
RUN mkdir /var/lib/tollgate && chown 1654:1654 /var/lib/tollgate
COPY --from=build /out/meter /app/
WORKDIR /var/lib/tollgate
# APP_UID (1654, the image's "app" user) is numeric so runAsNonRoot can verify it without reading /etc/passwd.
USER $APP_UID
# 8787: the proxy (OpenAI and Anthropic APIs). 9464: /metrics, /healthz, /readyz.
EXPOSE 8787 9464
ENTRYPOINT ["dotnet", "/app/Tollgate.Meter.dll"]


# The exporter: usage stream to Prometheus series, budget gauges, forecasts, usage export API, OpenCost plugin.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS exporter
WORKDIR /app
COPY --from=build /out/exporter /app/
USER $APP_UID
# 9465: /metrics, /api/v1/usage, /healthz, /readyz (listens on 0.0.0.0:9465 by default).
EXPOSE 9465
ENTRYPOINT ["dotnet", "/app/Tollgate.Exporter.dll"]


# The offline tools (simulate, backtest, recommend), for a CI job or a cron that tunes budgets; never a sidecar.
# aspnet, not runtime: core, which they share with the meter, references the ASP.NET Core shared framework.
#   docker run --rm -v $PWD:/work -w /work tollgate/cli backtest --policy config/samples --usage usage.jsonl
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS cli
WORKDIR /app
COPY --from=build /out/cli /app/
USER $APP_UID
ENTRYPOINT ["dotnet", "/app/tollgate.dll"]


# The operator: controllers for AiBudget, AiRoutingRule and Namespaces, and the pod-mutating webhook.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS operator
WORKDIR /app
COPY --from=build /out/operator /app/
USER $APP_UID
# 9443: the admission webhook (HTTPS). 8080: /metrics, /healthz, /readyz.
EXPOSE 9443 8080
ENTRYPOINT ["dotnet", "/app/Tollgate.Operator.dll"]

