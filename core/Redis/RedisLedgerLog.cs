using Microsoft.Extensions.Logging;

namespace Tollgate.Core.Redis;

// The connection's events (101, 102, 106–108) are RedisConnectionLog's.
internal static partial class RedisLedgerLog
{
    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Reclaimed {Count} expired reservations in the Redis ledger (their meters stopped mid-request); their estimates are now spent")]
    public static partial void Reclaimed(ILogger logger, int count);

    [LoggerMessage(EventId = 104, Level = LogLevel.Debug, Message = "Skipped reclaiming expired reservations: {Reason}")]
    public static partial void ReclaimSkipped(ILogger logger, string reason);

    [LoggerMessage(EventId = 105, Level = LogLevel.Error, Message = "Failed to reclaim expired reservations in the Redis ledger")]
    public static partial void ReclaimFailed(ILogger logger, Exception exception);
}
