using Microsoft.Extensions.Logging;

namespace Tollgate.Operator.Controllers;

internal static partial class OperatorLog
{
    [LoggerMessage(EventId = 120, Level = LogLevel.Information, Message = "Wrote policy ConfigMap {Namespace}/{Name} with checksum {Checksum}")]
    public static partial void PolicyWritten(ILogger logger, string @namespace, string name, string checksum);

    [LoggerMessage(EventId = 121, Level = LogLevel.Information, Message = "Deleted policy ConfigMap {Namespace}/{Name}: the namespace is no longer metered")]
    public static partial void PolicyDeleted(ILogger logger, string @namespace, string name);

    [LoggerMessage(EventId = 123, Level = LogLevel.Information, Message = "Wrote CA ConfigMap {Namespace}/{Name}")]
    public static partial void CaPublished(ILogger logger, string @namespace, string name);

    [LoggerMessage(EventId = 124, Level = LogLevel.Information, Message = "Deleted CA ConfigMap {Namespace}/{Name}: the namespace is no longer metered")]
    public static partial void CaDeleted(ILogger logger, string @namespace, string name);

    [LoggerMessage(EventId = 122, Level = LogLevel.Warning, Message = "Left {Kind} {Key} out of the policy: {Error}")]
    public static partial void ResourceInvalid(ILogger logger, string kind, string key, string error);

    [LoggerMessage(EventId = 130, Level = LogLevel.Information, Message = "Started leading as {Identity}")]
    public static partial void StartedLeading(ILogger logger, string identity);

    [LoggerMessage(EventId = 131, Level = LogLevel.Information, Message = "Stopped leading as {Identity}")]
    public static partial void StoppedLeading(ILogger logger, string identity);

    [LoggerMessage(EventId = 132, Level = LogLevel.Warning, Message = "Leader election failed")]
    public static partial void LeaderElectionFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 140, Level = LogLevel.Information, Message = "Key custody: {Kind} {Name} {Action}")]
    public static partial void AdmissionObjectWritten(ILogger logger, string kind, string name, string action);

    [LoggerMessage(EventId = 141, Level = LogLevel.Warning, Message = "Key custody: the API server does not serve ValidatingAdmissionPolicy (Kubernetes before 1.30); {Policy} is not installed and the webhook alone enforces custody. Checking again periodically")]
    public static partial void AdmissionPolicyUnserved(ILogger logger, string policy);

    [LoggerMessage(EventId = 160, Level = LogLevel.Warning, Message = "The ledger's file {File} is not mounted yet (its Secret is created by the operator on a first install); connecting once it is")]
    public static partial void LedgerFileMissing(ILogger logger, string file);

    [LoggerMessage(EventId = 161, Level = LogLevel.Information, Message = "The ledger's files are mounted; connected to the ledger")]
    public static partial void LedgerFilesPresent(ILogger logger);

    [LoggerMessage(EventId = 162, Level = LogLevel.Warning, Message = "The ledger's files are mounted but not usable yet: {Problem}")]
    public static partial void LedgerFileInvalid(ILogger logger, string problem);
}
