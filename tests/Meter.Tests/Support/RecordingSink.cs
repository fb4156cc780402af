using System.Collections.Concurrent;
using Tollgate.Core.Events;

namespace Tollgate.Meter.Tests.Support;

/// <summary>A usage sink that keeps the events in memory, deduplicated by request id as the contract requires.</summary>
public sealed class RecordingSink : IUsageSink
{
    private static readonly TimeSpan WaitTimeout = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, UsageEvent> _events = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<UsageEvent>> _arrivals = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource<UsageEvent> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyCollection<UsageEvent> Events => [.. _events.Values.OrderBy(e => e.Time)];

    public UsageEvent For(string requestId) => _events[requestId];

    /// <summary>
    /// The event of a request, once the meter has published it: a client can read its response before the meter has
    /// recorded the request, so a test that asserts on the event waits for it here.
    /// </summary>
    public Task<UsageEvent> WaitForAsync(string requestId) => Arrival(requestId).Task.WaitAsync(WaitTimeout);

    /// <summary>The first event published, for a request whose id the client never saw (it left before the answer).</summary>
    public Task<UsageEvent> FirstAsync() => _first.Task.WaitAsync(WaitTimeout);

    public ValueTask AppendAsync(UsageEvent usageEvent, CancellationToken cancellationToken)
    {
        if (_events.TryAdd(usageEvent.RequestId, usageEvent))
        {
            Arrival(usageEvent.RequestId).TrySetResult(usageEvent);
            _first.TrySetResult(usageEvent);
        }

        return ValueTask.CompletedTask;
    }

    private TaskCompletionSource<UsageEvent> Arrival(string requestId) =>
        _arrivals.GetOrAdd(requestId, _ => new TaskCompletionSource<UsageEvent>(TaskCreationOptions.RunContinuationsAsynchronously));
}
