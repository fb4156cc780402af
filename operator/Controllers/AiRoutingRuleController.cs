using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Operator.Runtime;

namespace Tollgate.Operator.Controllers;

/// <summary>
/// Validates AiRoutingRules and reports it in status (Ready, observedGeneration). No finalizer: the policy ConfigMaps
/// that carry a rule are re-rendered by <see cref="NamespacePolicyController"/> when it goes.
/// </summary>
internal sealed class AiRoutingRuleController(IKubernetes client, Informer<AiRoutingRule> rules, TimeProvider time, ILogger logger) : IReconciler
{
    public string Kind => AiRoutingRule.KindName;

    public void Watch(WorkQueue queue) => rules.OnChange(change =>
    {
        // Status-only updates (ours among them) leave the generation alone: skipping them keeps status writes from looping.
        if (change.Current is { } current && current.Metadata.Generation != current.Status?.ObservedGeneration)
        {
            queue.Add(Informer<AiRoutingRule>.KeyOf(current));
        }
    });

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        // Read fresh: the informer may not have seen our previous status write yet, and comparing against it would write again.
        if (rules.Get(key) is not { } cached || await ReadAsync(cached, cancellationToken) is not { } rule || rule.Metadata.DeletionTimestamp is not null)
        {
            return ReconcileResult.Done;
        }

        var error = PolicyRenderer.Validate(rule);
        if (error is not null)
        {
            OperatorLog.ResourceInvalid(logger, Kind, key, error);
        }

        var generation = rule.Metadata.Generation;
        var ready = error is null
            ? Conditions.Make(Conditions.Ready, true, "Valid", "The rule compiled and is part of the metered namespaces' policy", generation)
            : Conditions.Make(Conditions.Ready, false, "Invalid", error, generation);
        var conditions = Conditions.Set(rule.Status?.Conditions ?? [], ready, time.GetUtcNow());
        if (rule.Status is { } status && status.ObservedGeneration == generation && Conditions.SameAs(status.Conditions, conditions))
        {
            return ReconcileResult.Done;
        }

        var patch = new JsonObject
        {
            ["status"] = new JsonObject
            {
                ["observedGeneration"] = generation,
                ["conditions"] = JsonNode.Parse(KubernetesJson.Serialize(conditions)),
            },
        };
        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch),
            ApiGroup.Name, ApiGroup.Version, rule.Metadata.NamespaceProperty, AiRoutingRule.Plural, rule.Metadata.Name,
            cancellationToken: cancellationToken);
        return ReconcileResult.Done;
    }

    private async Task<AiRoutingRule?> ReadAsync(AiRoutingRule cached, CancellationToken cancellationToken)
    {
        try
        {
            return CustomResourceSource<AiRoutingRule>.Convert<AiRoutingRule>(await client.CustomObjects.GetNamespacedCustomObjectAsync(
                ApiGroup.Name, ApiGroup.Version, cached.Metadata.NamespaceProperty, AiRoutingRule.Plural, cached.Metadata.Name, cancellationToken));
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }
}
