namespace Tollgate.Operator.KeyBroker;

/// <summary>
/// The key broker's settings, bound from <see cref="SectionName"/>. The Secrets it reads live in the operator's
/// namespace (<see cref="Hosting.OperatorOptions.Namespace"/>); every default matches <c>config/default</c>.
/// </summary>
public sealed class KeyBrokerOptions
{
    public const string SectionName = "Tollgate:Broker";

    /// <summary>The Secret whose keys (<c>anthropic</c>, <c>openai</c>) become <c>providerKeys</c>.</summary>
    public string ProviderSecret { get; set; } = "tollgate-provider-keys";

    /// <summary>The Secret with the meters' ledger credentials (keys <c>user</c>, <c>password</c>); left out of the answer when missing.</summary>
    public string LedgerSecret { get; set; } = "tollgate-ledger-meter";

    /// <summary>How often the meter asks again (and so how soon a rotated key reaches it). Default 300 s.</summary>
    public int RefreshSeconds { get; set; } = 300;

    /// <summary>How long a successful TokenReview is reused, at most (never past the token's own expiry). Default 60 s.</summary>
    public TimeSpan ReviewCacheTtl { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Reviews kept at most; beyond it new ones are not cached (every meter refresh then costs a review). Default 4096.</summary>
    public int ReviewCacheCapacity { get; set; } = 4096;

    /// <summary>How long one call to the API server may take before the meter is told to come back (503). Default 10 s.</summary>
    public TimeSpan ApiTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
