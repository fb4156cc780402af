using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Operator.Runtime;
using Tollgate.Operator.Webhooks;

namespace Tollgate.Operator.Controllers;

/// <summary>
/// Keeps the key-custody admission policy in force: the parameter ConfigMap <c>tollgate-admission</c> (the meter as the
/// webhook injects it and every routing rule's key Secret), the ValidatingAdmissionPolicy and its one binding, whose
/// namespaceSelector picks the metered namespaces as the webhook's does. One key, because the three objects are one
/// unit whose order matters:
/// <list type="number">
/// <item>the parameters first: the binding denies every pod of a metered namespace while they are missing;</item>
/// <item>then the policy: creating a binding requires the creator to be allowed to read the policy's paramKind, which
/// the API server can only resolve once the policy exists;</item>
/// <item>then the binding, owned by the policy, so deleting the policy (kubectl delete -k) takes the binding along.</item>
/// </list>
/// Nothing here deletes the parameters: a binding without them refuses every pod of a metered namespace.
/// On clusters that do not serve the API (before Kubernetes 1.30) only the parameters are written and the webhook, with
/// failurePolicy Fail, applies the same rules; the API is looked for again every <c>resync</c>, so an upgrade is noticed.
/// </summary>
internal sealed class AdmissionPolicyController(
    IKubernetes client,
    Informer<V1Namespace> namespaces,
    Informer<AiRoutingRule> rules,
    Informer<V1ConfigMap> parameters,
    SidecarOptions sidecar,
    string operatorNamespace,
    TimeSpan resync,
    ILogger logger) : IReconciler
{
    /// <summary>The only key: the three objects are reconciled together.</summary>
    public const string Key = AdmissionPolicy.PolicyName;

    public const string ManagedByLabel = NamespacePolicyController.ManagedByLabel;
    public const string ManagedBy = NamespacePolicyController.ManagedBy;

    private const string PolicyResource = "validatingadmissionpolicies";
    private const string BindingResource = "validatingadmissionpolicybindings";

    // Once served, an API does not go away under a running operator; until then discovery is asked on every pass.
    private bool _served;
    private bool _reportedUnserved;

    public string Kind => "ValidatingAdmissionPolicy";

    /// <summary>
    /// Routing rules change the key Secrets; namespaces that start or stop being metered, and edits or deletion of the
    /// parameters by anyone else, are occasions to check that everything is still in place.
    /// </summary>
    public void Watch(WorkQueue queue)
    {
        rules.OnChange(_ => queue.Add(Key));
        namespaces.OnChange(change =>
        {
            var before = change.Previous is { } previous && NamespacePolicyController.IsMetered(previous);
            var after = change.Current is { } current && NamespacePolicyController.IsMetered(current);
            if (before || after)
            {
                queue.Add(Key);
            }
        });
        parameters.OnChange(_ => queue.Add(Key));
    }

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        if (key != Key)
        {
            return ReconcileResult.Done;
        }

        await EnsureParametersAsync(cancellationToken);
        if (!await ServedAsync(cancellationToken))
        {
            if (!_reportedUnserved)
            {
                _reportedUnserved = true;
                OperatorLog.AdmissionPolicyUnserved(logger, AdmissionPolicy.PolicyName);
            }

            return ReconcileResult.Success(resync);
        }

        var policy = await EnsurePolicyAsync(cancellationToken);
        await EnsureBindingAsync(policy, cancellationToken);
        return ReconcileResult.Success(resync);
    }

    /// <summary>Every Secret any routing rule takes a key from, in any namespace: one list serves every metered namespace.</summary>
    internal static IEnumerable<string> RouteSecrets(IEnumerable<AiRoutingRule> rules) => rules
        .SelectMany(rule => rule.Spec.Route?.Targets ?? [])
        .Select(target => target.ApiKeySecretRef?.Name)
        .OfType<string>()
        .Where(secret => secret.Length > 0)
        .Distinct(StringComparer.Ordinal);

    private async Task EnsureParametersAsync(CancellationToken cancellationToken)
    {
        var desired = AdmissionPolicy.Parameters(sidecar, RouteSecrets(rules.List()), operatorNamespace);
        desired.Metadata.Labels[ManagedByLabel] = ManagedBy;
        var existing = await NotFound.AsNullAsync(() => client.CoreV1.ReadNamespacedConfigMapAsync(AdmissionPolicy.ParamsName, operatorNamespace, cancellationToken: cancellationToken));
        if (existing is null)
        {
            await client.CoreV1.CreateNamespacedConfigMapAsync(desired, operatorNamespace, cancellationToken: cancellationToken);
            OperatorLog.AdmissionObjectWritten(logger, "ConfigMap", $"{operatorNamespace}/{AdmissionPolicy.ParamsName}", "created");
            return;
        }

        if (SameData(existing.Data, desired.Data) && HasLabels(existing.Metadata, desired.Metadata.Labels))
        {
            return;
        }

        // Updated in place, never deleted and recreated: the binding keeps finding its parameters throughout.
        desired.Metadata = Merged(existing.Metadata, desired.Metadata);
        await client.CoreV1.ReplaceNamespacedConfigMapAsync(desired, AdmissionPolicy.ParamsName, operatorNamespace, cancellationToken: cancellationToken);
        OperatorLog.AdmissionObjectWritten(logger, "ConfigMap", $"{operatorNamespace}/{AdmissionPolicy.ParamsName}", "updated");
    }

    private async Task<V1ValidatingAdmissionPolicy> EnsurePolicyAsync(CancellationToken cancellationToken)
    {
        var desired = AdmissionPolicy.Policy();
        var existing = await NotFound.AsNullAsync(() => client.AdmissionregistrationV1.ReadValidatingAdmissionPolicyAsync(AdmissionPolicy.PolicyName, cancellationToken: cancellationToken));
        if (existing is null)
        {
            var created = await client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyAsync(desired, cancellationToken: cancellationToken);
            OperatorLog.AdmissionObjectWritten(logger, "ValidatingAdmissionPolicy", AdmissionPolicy.PolicyName, "created");
            return created;
        }

        if (SpecComparison.Covers(desired.Spec, existing.Spec) && HasLabels(existing.Metadata, desired.Metadata.Labels))
        {
            return existing;
        }

        desired.Metadata = Merged(existing.Metadata, desired.Metadata);
        var replaced = await client.AdmissionregistrationV1.ReplaceValidatingAdmissionPolicyAsync(desired, AdmissionPolicy.PolicyName, cancellationToken: cancellationToken);
        OperatorLog.AdmissionObjectWritten(logger, "ValidatingAdmissionPolicy", AdmissionPolicy.PolicyName, "updated");
        return replaced;
    }

    private async Task EnsureBindingAsync(V1ValidatingAdmissionPolicy policy, CancellationToken cancellationToken)
    {
        var desired = AdmissionPolicy.Binding(operatorNamespace);
        var owner = new V1OwnerReference
        {
            ApiVersion = "admissionregistration.k8s.io/v1",
            Kind = "ValidatingAdmissionPolicy",
            Name = policy.Metadata.Name,
            Uid = policy.Metadata.Uid,
        };
        var existing = await NotFound.AsNullAsync(() => client.AdmissionregistrationV1.ReadValidatingAdmissionPolicyBindingAsync(AdmissionPolicy.BindingName, cancellationToken: cancellationToken));
        if (existing is null)
        {
            desired.Metadata.OwnerReferences = [owner];
            await client.AdmissionregistrationV1.CreateValidatingAdmissionPolicyBindingAsync(desired, cancellationToken: cancellationToken);
            OperatorLog.AdmissionObjectWritten(logger, "ValidatingAdmissionPolicyBinding", AdmissionPolicy.BindingName, "created");
            return;
        }

        var owned = existing.Metadata.OwnerReferences?.Any(o => o.Uid == owner.Uid) == true;
        if (SpecComparison.Covers(desired.Spec, existing.Spec) && HasLabels(existing.Metadata, desired.Metadata.Labels) && owned)
        {
            return;
        }

        desired.Metadata = Merged(existing.Metadata, desired.Metadata);
        desired.Metadata.OwnerReferences = [.. (existing.Metadata.OwnerReferences ?? []).Where(o => o.Kind != owner.Kind), owner];
        await client.AdmissionregistrationV1.ReplaceValidatingAdmissionPolicyBindingAsync(desired, AdmissionPolicy.BindingName, cancellationToken: cancellationToken);
        OperatorLog.AdmissionObjectWritten(logger, "ValidatingAdmissionPolicyBinding", AdmissionPolicy.BindingName, "updated");
    }

    /// <summary>Whether the API server serves ValidatingAdmissionPolicy and its binding at admissionregistration.k8s.io/v1.</summary>
    private async Task<bool> ServedAsync(CancellationToken cancellationToken)
    {
        if (_served)
        {
            return true;
        }

        var resources = await NotFound.AsNullAsync(() => client.AdmissionregistrationV1.GetAPIResourcesAsync(cancellationToken));
        _served = resources?.Resources?.Any(r => r.Name == PolicyResource) == true && resources.Resources.Any(r => r.Name == BindingResource);
        return _served;
    }

    private static bool SameData(IDictionary<string, string>? stored, IDictionary<string, string> desired) =>
        stored is not null && stored.Count == desired.Count && desired.All(p => stored.TryGetValue(p.Key, out var value) && value == p.Value);

    private static bool HasLabels(V1ObjectMeta stored, IDictionary<string, string> labels) =>
        labels.All(p => stored.Labels?.TryGetValue(p.Key, out var value) == true && value == p.Value);

    /// <summary>Ours over what is stored: other labels and annotations (kubectl's last-applied among them) are kept; the resourceVersion makes the replace conditional.</summary>
    private static V1ObjectMeta Merged(V1ObjectMeta stored, V1ObjectMeta desired) => new()
    {
        Name = desired.Name,
        NamespaceProperty = desired.NamespaceProperty,
        ResourceVersion = stored.ResourceVersion,
        Labels = new Dictionary<string, string>(stored.Labels ?? new Dictionary<string, string>()).Concat(desired.Labels).GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Last().Value),
        Annotations = stored.Annotations,
        OwnerReferences = stored.OwnerReferences,
    };
}
