using Tollgate.Core.Routing;
using Tollgate.Meter.Routing;

namespace Tollgate.Meter.Keys;

/// <summary>Keys from the meter's own environment (<c>TOLLGATE_*_API_KEY</c>) and routing Secrets mounted under <c>--secrets-dir</c>.</summary>
internal sealed class LocalKeySource(IReadOnlyDictionary<string, string> providerKeys, SecretFiles secrets) : IKeySource
{
    public bool Available => true;

    public string? ProviderKey(string provider) => providerKeys.GetValueOrDefault(provider);

    public string Secret(SecretKeyReference reference) => secrets.Read(reference);
}
