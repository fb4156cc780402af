namespace Tollgate.Exporter;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "The usage stream is unavailable: {Reason}; retrying")]
    public static partial void StreamUnavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Resumed from saved totals: {Events} events up to stream entry {LastEntryId}")]
    public static partial void StateLoaded(ILogger logger, long events, string lastEntryId);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Exporter listening on {Address}, ledger {Ledger}")]
    public static partial void Listening(ILogger logger, string address, string ledger);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "Budget gauges kept at their last values, the ledger is unavailable: {Reason}")]
    public static partial void GaugesKept(ILogger logger, string reason);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Policy reload failed, keeping the last good policy: {Reason}")]
    public static partial void PolicyReloadFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Saved totals held {Distinct} values of label {Label}, more than --max-label-values {Max}; merged {Folded} of them into __overflow__")]
    public static partial void LabelsFoldedOnLoad(ILogger logger, string label, int distinct, int max, int folded);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "Usage stream entry {EntryId} refused ({Reason}): {Detail}; acknowledged and copied to the dead-letter stream")]
    public static partial void EventRejected(ILogger logger, string entryId, string reason, string detail);

    [LoggerMessage(EventId = 8, Level = LogLevel.Critical, Message = "The usage stream consumer failed; stopping the exporter")]
    public static partial void ConsumerFailed(ILogger logger, Exception exception);
}
