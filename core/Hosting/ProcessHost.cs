using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace Tollgate.Core.Hosting;

/// <summary>
/// The host and logging defaults every Tollgate process shares (meter, exporter, its OpenCost plugin, the operator's
/// webhook): a slim web host named after the program, no <c>Server</c> header, and console logs through
/// <see cref="OneLineConsoleFormatter"/> only. Each process adds its own listeners and filters on top.
/// </summary>
public static class ProcessHost
{
    public static WebApplicationBuilder CreateBuilder(Assembly program, LogLevel minimumLevel)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = program.GetName().Name });
        UseConsole(builder.Logging, minimumLevel);
        builder.WebHost.ConfigureKestrel(static kestrel => kestrel.AddServerHeader = false);
        return builder;
    }

    /// <summary>Replaces every provider with the one-line console log at <paramref name="minimumLevel"/>.</summary>
    public static void UseConsole(ILoggingBuilder logging, LogLevel minimumLevel)
    {
        logging.ClearProviders();
        OneLineConsoleFormatter.Use(logging);
        logging.SetMinimumLevel(minimumLevel);
        // ASP.NET Core logs every request and start-up step at Information; that would bury the process's own records.
        logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
    }

    /// <summary>
    /// Logging for what lives outside the host (the ledger connects before the host is built and logs for the
    /// process's lifetime), in the same format and level.
    /// </summary>
    public static ILoggerFactory CreateLoggerFactory(LogLevel minimumLevel) => LoggerFactory.Create(logging => UseConsole(logging, minimumLevel));
}
