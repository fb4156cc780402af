using Microsoft.Extensions.Logging;

namespace Tollgate.Operator.Runtime;

/// <summary>Records of the informers and controller loops. Event ids 100–119 are theirs; the controllers' start at 120.</summary>
internal static partial class RuntimeLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Debug, Message = "Listed {Count} {Kind} objects at resourceVersion {ResourceVersion}")]
    public static partial void Listed(ILogger logger, string kind, int count, string resourceVersion);

    [LoggerMessage(EventId = 101, Level = LogLevel.Debug, Message = "Watch of {Kind} ended at resourceVersion {ResourceVersion}; resuming")]
    public static partial void WatchEnded(ILogger logger, string kind, string? resourceVersion);

    [LoggerMessage(EventId = 102, Level = LogLevel.Information, Message = "Watch of {Kind} expired at resourceVersion {ResourceVersion}; listing again")]
    public static partial void WatchExpired(ILogger logger, string kind, string? resourceVersion);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Watch of {Kind} failed; retrying in {Delay}")]
    public static partial void WatchFailed(ILogger logger, Exception exception, string kind, TimeSpan delay);

    [LoggerMessage(EventId = 110, Level = LogLevel.Warning, Message = "Reconcile of {Kind} {Key} failed: {Error}; retrying in {Delay}")]
    public static partial void ReconcileFailed(ILogger logger, Exception? exception, string kind, string key, string error, TimeSpan delay);
}
