# syntax=docker/dockerfile:1
#
# The OpenCost plugin image for opencost-deployment-patch.yaml's init container. From the repository root:
#
#   docker build -f config/opencost/plugin.Dockerfile -t tollgate/opencost-plugin .
#
# OpenCost's container has no .NET runtime, so the exporter is published self-contained as a single file. Its name is
# what makes it the plugin: run as tollgate.ocplugin.<os>.<arch> <config>, the exporter serves `opencost-plugin`.
# RID: linux-x64 for a glibc-based OpenCost image; use linux-musl-x64 if your OpenCost image is Alpine-based.
ARG RID=linux-x64

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG RID
WORKDIR /src
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY core/ core/
COPY exporter/ exporter/
COPY config/pricing/ config/pricing/
RUN dotnet publish exporter/Exporter.csproj -c Release -r "$RID" --self-contained -p:PublishSingleFile=true -o /out \
 && mv /out/Tollgate.Exporter /out/tollgate.ocplugin.linux.amd64

FROM busybox:stable-musl
COPY --from=build /out/tollgate.ocplugin.linux.amd64 /plugin/tollgate.ocplugin.linux.amd64
USER 1654
ENTRYPOINT ["cp", "/plugin/tollgate.ocplugin.linux.amd64", "/opt/opencost/plugin/bin/"]
