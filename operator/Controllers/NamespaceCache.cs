using k8s.Models;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Operator.Runtime;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Controllers;

/// <summary>
/// Answers the webhook's namespace lookups from the informers' caches (which every replica runs): the namespace's
/// labels, and the Secrets its routing rules (its own and the operator namespace's) take target keys from.
/// </summary>
internal sealed class NamespaceCache(Informer<V1Namespace> namespaces, Informer<AiRoutingRule>? rules = null, string? operatorNamespace = null) : INamespaceLookup
{
    public ValueTask<NamespaceInfo?> FindAsync(string name, CancellationToken cancellationToken)
    {
        var ns = namespaces.Get(name);
        return ValueTask.FromResult(ns is null
            ? null
            : new NamespaceInfo(name, (IReadOnlyDictionary<string, string>?)ns.Metadata.Labels?.AsReadOnly() ?? new Dictionary<string, string>())
            {
                RouteSecrets = RouteSecretsOf(name),
            });
    }

    private string[] RouteSecretsOf(string name) => rules is null
        ? []
        : [.. rules.List()
            .Where(rule => rule.Metadata.NamespaceProperty == name || rule.Metadata.NamespaceProperty == operatorNamespace)
            .SelectMany(rule => rule.Spec.Route?.Targets ?? [])
            .Select(target => target.ApiKeySecretRef?.Name)
            .OfType<string>()
            .Where(secret => secret.Length > 0)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)];
}
