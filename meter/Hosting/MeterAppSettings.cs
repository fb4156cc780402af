using Prometheus;

namespace Tollgate.Meter.Hosting;

/// <summary>Process-level choices the command line does not make: tests inject a clock, a registry and quieter logs.</summary>
public sealed record MeterAppSettings
{
    public TimeProvider? Time { get; init; }

    public CollectorRegistry? Registry { get; init; }

    /// <summary>A ledger to use instead of the one <c>--ledger</c> names.</summary>
    public Core.Ledger.IBudgetLedger? Ledger { get; init; }

    /// <summary>Where usage events go instead of the one the ledger implies.</summary>
    public Core.Events.IUsageSink? UsageSink { get; init; }

    /// <summary>Where rate-limit windows are counted instead of the one the ledger implies.</summary>
    public Core.RateLimits.IRateLimiter? RateLimiter { get; init; }

    public LogLevel MinimumLogLevel { get; init; } = LogLevel.Information;

    /// <summary>A logger provider added beside the console, so a test can read what the meter logs.</summary>
    public ILoggerProvider? LoggerProvider { get; init; }
}
