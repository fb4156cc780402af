using Microsoft.Extensions.Logging;

namespace Tollgate.Core.Events;

internal static partial class UsageRecorderLog
{
    [LoggerMessage(EventId = 201, Level = LogLevel.Error,
        Message = "The ledger refused the usage of request {RequestId}: {What} {Amount} for budget {Budget} is outside what it records; its reservation, if any, stays charged at the estimate")]
    public static partial void AmountRefused(ILogger logger, string requestId, string budget, string what, decimal amount);
}
