using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Operator.Runtime;

namespace Tollgate.Operator.Controllers;

/// <summary>
/// Keeps the exporter's policy, the ConfigMap <c>tollgate-exporter-policy</c> in the operator's namespace, holding every
/// valid AiBudget of the cluster (no routing rules) in the meter's policy format. The exporter mounts it as a folder and
/// publishes the budget gauges the alert rules are built on, so a budget missing here never alerts. One key: the
/// ConfigMap is a single object. Written only when the checksum of the rendered policy (or the data) differs from what is
/// stored; an edit or deletion by anyone else is repaired on the ConfigMap's own change.
/// </summary>
internal sealed class ExporterPolicyController(
    IKubernetes client,
    Informer<AiBudget> budgets,
    Informer<V1ConfigMap> stored,
    PolicyRenderer renderer,
    string operatorNamespace,
    ILogger logger) : IReconciler
{
    public const string ConfigMapName = "tollgate-exporter-policy";

    /// <summary>The only key.</summary>
    public const string Key = ConfigMapName;

    public string Kind => "ExporterPolicy";

    public void Watch(WorkQueue queue)
    {
        budgets.OnChange(_ => queue.Add(Key));
        stored.OnChange(_ => queue.Add(Key));
    }

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        if (key != Key)
        {
            return ReconcileResult.Done;
        }

        var policy = renderer.RenderBudgets(budgets.List());
        foreach (var problem in policy.Excluded)
        {
            OperatorLog.ResourceInvalid(logger, "exporter policy", Key, problem);
        }

        var existing = await ReadAsync(cancellationToken);
        if (existing?.Metadata.Annotations?.TryGetValue(NamespacePolicyController.ChecksumAnnotation, out var current) == true
            && current == policy.Checksum
            && existing.Data?.TryGetValue(NamespacePolicyController.DataKey, out var data) == true && data == policy.Yaml)
        {
            return ReconcileResult.Done;
        }

        if (existing is null)
        {
            await client.CoreV1.CreateNamespacedConfigMapAsync(Desired(policy, null), operatorNamespace, cancellationToken: cancellationToken);
        }
        else
        {
            // Conditional on the read resourceVersion: a concurrent change makes this a 409, retried with a fresh read.
            await client.CoreV1.ReplaceNamespacedConfigMapAsync(Desired(policy, existing), ConfigMapName, operatorNamespace, cancellationToken: cancellationToken);
        }

        OperatorLog.PolicyWritten(logger, operatorNamespace, ConfigMapName, policy.Checksum);
        return ReconcileResult.Done;
    }

    private V1ConfigMap Desired(RenderedPolicy policy, V1ConfigMap? existing)
    {
        var labels = new Dictionary<string, string>(existing?.Metadata.Labels ?? new Dictionary<string, string>())
        {
            [NamespacePolicyController.ManagedByLabel] = NamespacePolicyController.ManagedBy,
        };
        var annotations = new Dictionary<string, string>(existing?.Metadata.Annotations ?? new Dictionary<string, string>())
        {
            [NamespacePolicyController.ChecksumAnnotation] = policy.Checksum,
        };
        return new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = new V1ObjectMeta
            {
                Name = ConfigMapName,
                NamespaceProperty = operatorNamespace,
                Labels = labels,
                Annotations = annotations,
                ResourceVersion = existing?.Metadata.ResourceVersion,
            },

            // The same key as the meters' copy: the exporter reads every *.yaml of the mounted folder.
            Data = new Dictionary<string, string> { [NamespacePolicyController.DataKey] = policy.Yaml },
        };
    }

    private Task<V1ConfigMap?> ReadAsync(CancellationToken cancellationToken) =>
        NotFound.AsNullAsync(() => client.CoreV1.ReadNamespacedConfigMapAsync(ConfigMapName, operatorNamespace, cancellationToken: cancellationToken));
}
