using System.Net.Http.Headers;
using Microsoft.Net.Http.Headers;
using Tollgate.Core.Routing;
using Tollgate.Core.Usage;
using Tollgate.Meter.Forwarding;

namespace Tollgate.Meter.Keys;

/// <summary>
/// The one place that decides which key a request to an upstream carries, and puts it in the provider's header. The
/// keys come from the <see cref="IKeySource"/> the meter was started with (local files and environment, or the key
/// broker); whatever the client sent in <c>Authorization</c> or <c>x-api-key</c> is replaced when the meter holds a key.
/// </summary>
internal sealed class KeyStore(IKeySource source)
{
    // The last "Bearer <key>" built, by key instance: keys are the same string objects from one refresh to the next,
    // so the header value is built once per key, not once per request. A race only builds it twice.
    private volatile BearerValue? _bearer;

    public IKeySource Source => source;

    /// <inheritdoc cref="IKeySource.Available"/>
    public bool Available => source.Available;

    /// <summary>The key for a request to <paramref name="upstream"/>, or null to forward the client's own.</summary>
    public string? For(Upstream upstream) => upstream.ClientKey ? null : upstream.ApiKey ?? source.ProviderKey(upstream.Provider);

    /// <inheritdoc cref="IKeySource.Secret"/>
    public string Secret(SecretKeyReference reference) => source.Secret(reference);

    /// <summary>Puts the key for <paramref name="upstream"/> in place of the client's credentials; leaves them when the meter holds none.</summary>
    public void Apply(HttpRequestHeaders headers, Upstream upstream)
    {
        if (For(upstream) is not { } key)
        {
            return;
        }

        headers.Remove("x-api-key");
        headers.Remove(HeaderNames.Authorization);
        if (upstream.Provider == Providers.Anthropic)
        {
            headers.TryAddWithoutValidation("x-api-key", key);
        }
        else
        {
            headers.TryAddWithoutValidation(HeaderNames.Authorization, Bearer(key));
        }
    }

    private string Bearer(string key)
    {
        var cached = _bearer;
        if (cached is null || !ReferenceEquals(cached.Key, key))
        {
            cached = new BearerValue(key, "Bearer " + key);
            _bearer = cached;
        }

        return cached.Header;
    }

    private sealed record BearerValue(string Key, string Header)
    {
        public override string ToString() => nameof(BearerValue);
    }
}
