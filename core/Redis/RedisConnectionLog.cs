using Microsoft.Extensions.Logging;

namespace Tollgate.Core.Redis;

// The event ids and texts are those the ledger logged when it owned the connection: alerts and log searches keep working.
internal static partial class RedisConnectionLog
{
    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Lost the connection to the Redis ledger at {Address}: {FailureType}")]
    public static partial void ConnectionLost(ILogger logger, RedisLedgerAddress address, string failureType);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Restored the connection to the Redis ledger at {Address}")]
    public static partial void ConnectionRestored(ILogger logger, RedisLedgerAddress address);

    [LoggerMessage(EventId = 106, Level = LogLevel.Error, Message = "The Redis ledger at {Address} refused the credentials of user {User}: check the ledger user and password file")]
    public static partial void AuthenticationFailed(ILogger logger, RedisLedgerAddress address, string user);

    [LoggerMessage(EventId = 107, Level = LogLevel.Error, Message = "The Redis ledger at {Address} refused user {User} the {Access} access this component needs (wrong user for this component, or an ACL that lacks it); not ready: {Reason}")]
    public static partial void AccessDenied(ILogger logger, RedisLedgerAddress address, string user, string access, string reason);

    [LoggerMessage(EventId = 108, Level = LogLevel.Information, Message = "The Redis ledger at {Address} now grants this component's access")]
    public static partial void AccessGranted(ILogger logger, RedisLedgerAddress address);
}
