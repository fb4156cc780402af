namespace Tollgate.Core.Redis;

/// <summary>An ACL user and its password, as the Redis ledger authenticates with them.</summary>
/// <param name="User">The ACL user; null for Redis's <c>default</c> user.</param>
/// <param name="Password">The password; null to connect without authenticating. Never printed.</param>
public sealed record RedisLedgerCredential(string? User, string? Password)
{
    /// <summary>Printed instead of the members, so that no log line or error built from a credential can carry the password.</summary>
    public override string ToString() => $"{User ?? "default"}:{(Password is null ? "(none)" : RedisLedgerAddress.Mask)}";
}
