using Tollgate.Core.Routing;

namespace Tollgate.Meter.Keys;

/// <summary>Where the meter's provider keys and routing rules' key Secrets come from: local files and environment, or the key broker.</summary>
internal interface IKeySource
{
    /// <summary>False while the source has nothing to give yet (a key broker that has not answered): requests must wait, not pass with the client's key.</summary>
    bool Available { get; }

    /// <summary>The key the meter holds for <paramref name="provider"/>, or null (the client's own key is forwarded). On the request path: no I/O, no allocation.</summary>
    string? ProviderKey(string provider);

    /// <summary>A routing rule target's key.</summary>
    /// <exception cref="IOException">The Secret or its key is missing; the message names them, never a value.</exception>
    string Secret(SecretKeyReference reference);
}
