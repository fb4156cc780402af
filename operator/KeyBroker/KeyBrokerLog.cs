namespace Tollgate.Operator.KeyBroker;

/// <summary>Source-generated log messages of the key broker. Tokens and keys are never arguments.</summary>
internal static partial class KeyBrokerLog
{
    [LoggerMessage(EventId = 2101, Level = LogLevel.Debug, Message = "Gave credentials to the meter of pod {Namespace}/{Pod}")]
    public static partial void Issued(ILogger logger, string @namespace, string pod);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information, Message = "Refused credentials to pod {Namespace}/{Pod}: {Reason}")]
    public static partial void Forbidden(ILogger logger, string @namespace, string pod, string reason);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "Refused a key broker request: {Reason}")]
    public static partial void Unauthenticated(ILogger logger, string reason);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning, Message = "Could not answer a key broker request: the API server did not: {Reason}")]
    public static partial void Unavailable(ILogger logger, string reason, Exception exception);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Warning, Message = "Secret {Namespace}/{Secret} does not exist; meters get no keys from it")]
    public static partial void SecretMissing(ILogger logger, string @namespace, string secret);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Information, Message = "Rejected a key broker request: {Reason}")]
    public static partial void BadRequest(ILogger logger, string reason);
}
