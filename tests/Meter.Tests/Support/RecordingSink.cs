using System.Collections.Concurrent;
using Tollgate.Core.Events;

namespace Tollgate.Meter.Tests.Support;

/// <summary>A usage sink that keeps the events in memory, deduplicated by request id as the contract requires.</summary>
public sealed class RecordingSink : IUsageSink
{
    private readonly ConcurrentDictionary<string, UsageEvent> _events = new(StringComparer.Ordinal);

    public IReadOnlyCollection<UsageEvent> Events => [.. _events.Values.OrderBy(e => e.Time)];

    public UsageEvent For(string requestId) => _events[requestId];

    public ValueTask AppendAsync(UsageEvent usageEvent, CancellationToken cancellationToken)
    {
        _events.TryAdd(usageEvent.RequestId, usageEvent);
        return ValueTask.CompletedTask;
    }
}
