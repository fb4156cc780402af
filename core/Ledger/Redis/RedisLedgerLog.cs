using Microsoft.Extensions.Logging;

namespace Tollgate.Core.Ledger.Redis;

internal static partial class RedisLedgerLog
{
    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Lost the connection to the Redis ledger at {Address}: {FailureType}")]
    public static partial void ConnectionLost(ILogger logger, RedisLedgerAddress address, string failureType);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Restored the connection to the Redis ledger at {Address}")]
    public static partial void ConnectionRestored(ILogger logger, RedisLedgerAddress address);

    [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "Reclaimed {Count} expired reservations in the Redis ledger (their meters stopped mid-request); their estimates are now spent")]
    public static partial void Reclaimed(ILogger logger, int count);

    [LoggerMessage(EventId = 104, Level = LogLevel.Debug, Message = "Skipped reclaiming expired reservations: {Reason}")]
    public static partial void ReclaimSkipped(ILogger logger, string reason);

    [LoggerMessage(EventId = 106, Level = LogLevel.Error, Message = "The Redis ledger at {Address} refused the credentials of user {User}: check the ledger user and password file")]
    public static partial void AuthenticationFailed(ILogger logger, RedisLedgerAddress address, string user);

    [LoggerMessage(EventId = 107, Level = LogLevel.Error, Message = "The Redis ledger at {Address} refused user {User} the {Access} access this component needs (wrong user for this component, or an ACL that lacks it); not ready: {Reason}")]
    public static partial void AccessDenied(ILogger logger, RedisLedgerAddress address, string user, string access, string reason);

    [LoggerMessage(EventId = 108, Level = LogLevel.Information, Message = "The Redis ledger at {Address} now grants this component's access")]
    public static partial void AccessGranted(ILogger logger, RedisLedgerAddress address);

    [LoggerMessage(EventId = 105, Level = LogLevel.Error, Message = "Failed to reclaim expired reservations in the Redis ledger")]
    public static partial void ReclaimFailed(ILogger logger, Exception exception);
}
