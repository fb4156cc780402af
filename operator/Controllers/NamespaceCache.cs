using k8s.Models;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Controllers;

/// <summary>Answers the webhook's namespace lookups from the Namespace informer's cache (which every replica runs).</summary>
internal sealed class NamespaceCache(Informer<V1Namespace> namespaces) : INamespaceLookup
{
    public ValueTask<NamespaceInfo?> FindAsync(string name, CancellationToken cancellationToken)
    {
        var ns = namespaces.Get(name);
        return ValueTask.FromResult(ns is null
            ? null
            : new NamespaceInfo(name, (IReadOnlyDictionary<string, string>?)ns.Metadata.Labels?.AsReadOnly() ?? new Dictionary<string, string>()));
    }
}
