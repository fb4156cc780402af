namespace Tollgate.Core.Events;

/// <summary>Where usage events go (the Redis stream in a cluster; nowhere in standalone mode, whose metrics are local).</summary>
public interface IUsageSink
{
    /// <summary>Appends the event exactly once per request id: a repeated id is a no-op.</summary>
    /// <exception cref="Ledger.LedgerUnavailableException">The sink cannot be reached; the caller spools the event.</exception>
    ValueTask AppendAsync(UsageEvent usageEvent, CancellationToken cancellationToken);
}

/// <summary>The standalone sink: the meter's own /metrics already carry the aggregates.</summary>
public sealed class NoUsageSink : IUsageSink
{
    public static NoUsageSink Instance { get; } = new();

    public ValueTask AppendAsync(UsageEvent usageEvent, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}
