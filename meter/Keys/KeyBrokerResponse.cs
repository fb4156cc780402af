using System.Text.Json.Serialization;

namespace Tollgate.Meter.Keys;

/// <summary>The key broker's 200 answer (contract: <c>POST /meter/v1/credentials</c>).</summary>
/// <remarks>Optional members have defaults: with <c>RespectRequiredConstructorParameters</c> every other parameter is required.</remarks>
internal sealed record KeyBrokerResponse(
    Dictionary<string, string> ProviderKeys,
    int RefreshSeconds,
    Dictionary<string, Dictionary<string, string>>? Secrets = null,
    KeyBrokerLedger? Ledger = null)
{
    /// <summary>Printed without keys.</summary>
    public override string ToString() => $"KeyBrokerResponse {{ ProviderKeys = [{string.Join(", ", ProviderKeys.Keys)}], RefreshSeconds = {RefreshSeconds} }}";
}

/// <summary>The ledger's credential in the broker's answer.</summary>
internal sealed record KeyBrokerLedger(string Password, string? User = null)
{
    /// <summary>Printed without the password.</summary>
    public override string ToString() => $"KeyBrokerLedger {{ User = {User} }}";
}

/// <summary>The broker's error answer: <c>{"error":{"type":"forbidden","message":"..."}}</c>.</summary>
internal sealed record KeyBrokerError(KeyBrokerErrorDetail? Error = null);

internal sealed record KeyBrokerErrorDetail(string? Type = null, string? Message = null);

/// <summary>
/// Source-generated, and strict where it matters: required members, no duplicate members (a second
/// <c>providerKeys</c> must not silently win), no numbers in strings, nulls only where allowed. Members the meter does
/// not know are skipped, so an operator that adds one does not break the meters of running pods during an upgrade.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    AllowDuplicateProperties = false,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    NumberHandling = JsonNumberHandling.Strict,
    ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow,
    AllowTrailingCommas = false,
    MaxDepth = 8)]
[JsonSerializable(typeof(KeyBrokerResponse))]
[JsonSerializable(typeof(KeyBrokerError))]
internal sealed partial class KeyBrokerJsonContext : JsonSerializerContext;
