using Tollgate.Core.Events;

namespace Tollgate.TestSupport;

/// <summary>Reads a whole usage stream, for assertions. Product code reads ranges or keeps a consumer group's position.</summary>
public static class UsageStreamReading
{
    public static async Task<IReadOnlyList<UsageEvent>> ReadAllAsync(this RedisUsageStream stream, CancellationToken cancellationToken)
    {
        var list = new List<UsageEvent>();
        await foreach (var usageEvent in stream.ReadRangeAsync(DateTimeOffset.MinValue, DateTimeOffset.MaxValue, cancellationToken))
        {
            list.Add(usageEvent);
        }

        return list;
    }
}
