namespace Tollgate.Operator.Webhooks;

/// <summary>A namespace as the webhook needs it: its name and labels.</summary>
public sealed record NamespaceInfo(string Name, IReadOnlyDictionary<string, string> Labels)
{
    /// <summary>Secrets the routing rules that apply to the namespace take target keys from (mounted into the sidecar).</summary>
    public IReadOnlyList<string> RouteSecrets { get; init; } = [];

    public const string MeterLabel = "tollgate.io/meter";
    public const string MeterEnabled = "enabled";

    /// <summary>
    /// Set by a cluster admin on a namespace whose pods may opt out of the meter with <c>tollgate.io/inject: "false"</c>;
    /// such pods still get no access to the key Secrets.
    /// </summary>
    public const string AllowOptOutLabel = "tollgate.io/allow-opt-out";

    public bool AllowsOptOut => Labels.TryGetValue(AllowOptOutLabel, out var value) && value == "true";

    public bool IsMetered => Labels.TryGetValue(MeterLabel, out var value) && value == MeterEnabled;
}

/// <summary>
/// Finds a namespace's labels for an admission request. The operator answers from the cache of its Namespace
/// watch; an implementation may fall back to a GET on a miss so a freshly labelled namespace is not skipped.
/// </summary>
public interface INamespaceLookup
{
    /// <returns>The namespace, or null when it does not exist (as far as the lookup knows).</returns>
    ValueTask<NamespaceInfo?> FindAsync(string name, CancellationToken cancellationToken);
}
