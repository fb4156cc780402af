using Tollgate.Core.Redis;

namespace Tollgate.Meter.Keys;

/// <summary>
/// One answer of the key broker: provider keys by provider, routing Secrets by name then key, the ledger's credential
/// (if the broker gives one) and when to ask again. Held in memory only.
/// </summary>
internal sealed record KeySet(
    IReadOnlyDictionary<string, string> ProviderKeys,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Secrets,
    RedisLedgerCredential? Ledger,
    TimeSpan Refresh)
{
    /// <summary>Printed instead of the members, so that no log line or error built from a key set can carry a key.</summary>
    public override string ToString() =>
        $"KeySet {{ ProviderKeys = [{string.Join(", ", ProviderKeys.Keys)}], Secrets = [{string.Join(", ", Secrets.Keys)}], Ledger = {Ledger}, Refresh = {Refresh} }}";
}
