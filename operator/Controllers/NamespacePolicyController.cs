using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Operator.Runtime;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Controllers;

/// <summary>
/// Keeps a <c>tollgate-policy</c> ConfigMap in every metered namespace (label <c>tollgate.io/meter=enabled</c>) holding
/// the budgets and routing rules that apply there; deletes it when the namespace stops being metered. Writes only when
/// the checksum of the rendered policy differs from the one on the ConfigMap, so a steady state makes no writes.
/// </summary>
internal sealed class NamespacePolicyController(
    IKubernetes client,
    Informer<V1Namespace> namespaces,
    Informer<AiBudget> budgets,
    Informer<AiRoutingRule> rules,
    PolicyRenderer renderer,
    string operatorNamespace,
    ILogger logger) : IReconciler
{
    public const string ConfigMapName = "tollgate-policy";
    public const string DataKey = "policy.yaml";
    public const string ChecksumAnnotation = "tollgate.io/policy-checksum";
    public const string ManagedByLabel = "app.kubernetes.io/managed-by";
    public const string ManagedBy = "tollgate-operator";

    public string Kind => "Namespace";

    /// <summary>Connects the informers' changes to the queue: each change enqueues the namespaces whose policy it can alter.</summary>
    public void Watch(WorkQueue queue)
    {
        namespaces.OnChange(change => queue.Add((change.Current ?? change.Previous)!.Metadata.Name));
        budgets.OnChange(_ => EnqueueMetered(queue));
        rules.OnChange(change =>
        {
            var ns = (change.Current ?? change.Previous)!.Metadata.NamespaceProperty;
            if (ns == operatorNamespace)
            {
                EnqueueMetered(queue);
            }
            else
            {
                queue.Add(ns);
            }
        });
    }

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        var ns = namespaces.Get(key);
        var existing = await ReadAsync(key, cancellationToken);
        if (ns is null || ns.Metadata.DeletionTimestamp is not null || !IsMetered(ns))
        {
            // Only ours is deleted (a same-named ConfigMap someone else made stays); a namespace being deleted takes it along anyway.
            if (existing?.Metadata.Labels?.TryGetValue(ManagedByLabel, out var owner) == true && owner == ManagedBy
                && ns is not null && ns.Metadata.DeletionTimestamp is null)
            {
                await DeleteAsync(key, cancellationToken);
                OperatorLog.PolicyDeleted(logger, key, ConfigMapName);
            }

            return ReconcileResult.Done;
        }

        var policy = renderer.Render(ns, budgets.List(), rules.List(), operatorNamespace);
        foreach (var problem in policy.Excluded)
        {
            OperatorLog.ResourceInvalid(logger, "policy", key, problem);
        }

        if (existing?.Metadata.Annotations?.TryGetValue(ChecksumAnnotation, out var current) == true
            && current == policy.Checksum
            && existing.Data?.TryGetValue(DataKey, out var data) == true && data == policy.Yaml)
        {
            return ReconcileResult.Done;
        }

        if (existing is null)
        {
            await client.CoreV1.CreateNamespacedConfigMapAsync(Desired(key, policy, null), key, cancellationToken: cancellationToken);
        }
        else
        {
            // A replace carrying the read resourceVersion: if someone changed it meanwhile the 409 retries with a fresh read.
            await client.CoreV1.ReplaceNamespacedConfigMapAsync(Desired(key, policy, existing), ConfigMapName, key, cancellationToken: cancellationToken);
        }

        OperatorLog.PolicyWritten(logger, key, ConfigMapName, policy.Checksum);
        return ReconcileResult.Done;
    }

    public static bool IsMetered(V1Namespace ns) =>
        ns.Metadata.Labels?.TryGetValue(NamespaceInfo.MeterLabel, out var value) == true && value == NamespaceInfo.MeterEnabled;

    private void EnqueueMetered(WorkQueue queue)
    {
        foreach (var ns in namespaces.List())
        {
            // Unmetered ones are enqueued too when they might still carry a ConfigMap; the informer cannot tell, so only
            // metered namespaces are touched here and unlabelling is handled by the namespace's own change.
            if (IsMetered(ns))
            {
                queue.Add(ns.Metadata.Name);
            }
        }
    }

    private static V1ConfigMap Desired(string ns, RenderedPolicy policy, V1ConfigMap? existing)
    {
        var labels = new Dictionary<string, string>(existing?.Metadata.Labels ?? new Dictionary<string, string>()) { [ManagedByLabel] = ManagedBy };
        var annotations = new Dictionary<string, string>(existing?.Metadata.Annotations ?? new Dictionary<string, string>()) { [ChecksumAnnotation] = policy.Checksum };
        return new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = new V1ObjectMeta
            {
                Name = ConfigMapName,
                NamespaceProperty = ns,
                Labels = labels,
                Annotations = annotations,
                ResourceVersion = existing?.Metadata.ResourceVersion,
            },
            Data = new Dictionary<string, string> { [DataKey] = policy.Yaml },
        };
    }

    private Task<V1ConfigMap?> ReadAsync(string ns, CancellationToken cancellationToken) =>
        NotFound.AsNullAsync(() => client.CoreV1.ReadNamespacedConfigMapAsync(ConfigMapName, ns, cancellationToken: cancellationToken));

    private Task DeleteAsync(string ns, CancellationToken cancellationToken) =>
        NotFound.IgnoredAsync(() => client.CoreV1.DeleteNamespacedConfigMapAsync(ConfigMapName, ns, cancellationToken: cancellationToken));
}
