using Microsoft.Extensions.Logging;

namespace Tollgate.Operator.LedgerWiring;

/// <summary>Source-generated log messages of the ledger's Secrets and certificate. No message carries a password or key.</summary>
internal static partial class LedgerWiringLog
{
    [LoggerMessage(EventId = 150, Level = LogLevel.Information, Message = "Created Secret {Namespace}/{Secret} with a new password for ledger user {User}")]
    public static partial void CredentialsCreated(ILogger logger, string @namespace, string secret, string user);

    [LoggerMessage(EventId = 151, Level = LogLevel.Information, Message = "Wrote the ledger's ACL file to Secret {Namespace}/{Secret} ({Hashes} password hashes)")]
    public static partial void UsersWritten(ILogger logger, string @namespace, string secret, int hashes);

    [LoggerMessage(EventId = 152, Level = LogLevel.Information, Message = "Issued the ledger's serving certificate for {DnsName} into Secret {Namespace}/{Secret}, valid until {NotAfter:O}")]
    public static partial void CertificateIssued(ILogger logger, string dnsName, string @namespace, string secret, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 153, Level = LogLevel.Information, Message = "Restarting StatefulSet {Namespace}/{Name} to load its changed {What}")]
    public static partial void RedisRestarting(ILogger logger, string @namespace, string name, string what);

    [LoggerMessage(EventId = 154, Level = LogLevel.Information, Message = "Updated the CA bundle in Secret {Namespace}/{Secret}")]
    public static partial void CaBundleUpdated(ILogger logger, string @namespace, string secret);
}
