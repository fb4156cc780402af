#!/bin/sh
# OpenCost runs <name>.ocplugin.<os>.<arch> <config path>. Install this script as tollgate.ocplugin.linux.amd64 where
# the OpenCost container has a .NET 10 ASP.NET Core runtime and the exporter's published files (TOLLGATE_HOME); a
# self-contained single-file publish renamed to tollgate.ocplugin.linux.amd64 needs no script at all (README.md).
exec dotnet "${TOLLGATE_HOME:-/opt/tollgate}/Tollgate.Exporter.dll" opencost-plugin "$@"
