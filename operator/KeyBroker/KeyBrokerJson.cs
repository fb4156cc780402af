using System.Text.Json.Serialization;

namespace Tollgate.Operator.KeyBroker;

/// <summary>What a verified meter is given (the contract in the README's "Keys stay in tollgate-system").</summary>
/// <param name="ProviderKeys">The provider Secret's data by key name (<c>anthropic</c>, <c>openai</c>).</param>
/// <param name="Secrets">The routing rules' key Secrets by name, each with all its keys; missing ones are left out.</param>
/// <param name="Ledger">The meters' ledger user and password, or null when the operator has none to give.</param>
public sealed record BrokerCredentials(
    IReadOnlyDictionary<string, string> ProviderKeys,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> Secrets,
    LedgerCredentials? Ledger,
    int RefreshSeconds);

public sealed record LedgerCredentials(string User, string Password);

/// <summary><c>{"error":{"type":"forbidden","message":"..."}}</c>.</summary>
public sealed record BrokerError(BrokerErrorBody Error);

public sealed record BrokerErrorBody(string Type, string Message);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BrokerCredentials))]
[JsonSerializable(typeof(BrokerError))]
internal sealed partial class KeyBrokerJson : JsonSerializerContext;
