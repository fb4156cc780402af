using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;
using Tollgate.Operator.Hosting;
using Tollgate.Operator.Runtime;

namespace Tollgate.Operator.Controllers;

/// <summary>
/// Reconciles an AiBudget: a finalizer so its PrometheusRule is cleaned up, validation, the PrometheusRule with its
/// threshold alerts (when the prometheus-operator CRD is served), status from the ledger refreshed every
/// <see cref="OperatorOptions.StatusRefreshInterval"/>, and one Event per threshold crossed in a period.
/// </summary>
internal sealed class AiBudgetController(
    IKubernetes client,
    Informer<AiBudget> budgets,
    IBudgetLedger ledger,
    OperatorOptions options,
    TimeProvider time,
    ILogger logger) : IReconciler
{
    public const string Finalizer = "tollgate.io/cleanup";
    public const string MonitoringGroup = "monitoring.coreos.com";
    public const string MonitoringVersion = "v1";
    public const string PrometheusRules = "prometheusrules";
    public const string ThresholdEventReason = "BudgetThresholdCrossed";

    /// <summary>Events about cluster-scoped objects go to <c>default</c>, where <c>kubectl describe</c> looks for them.</summary>
    public const string EventNamespace = "default";

    public string Kind => AiBudget.KindName;

    public static string PrometheusRuleName(string budget) => $"tollgate-budget-{budget}";

    public void Watch(WorkQueue queue) => budgets.OnChange(change =>
    {
        if (change.Current is not { } current)
        {
            return;
        }

        // Status-only updates (our own writes) leave the generation alone; skipping them keeps status writes from
        // looping. The periodic refresh comes from the requeue-after instead.
        if (current.Metadata.DeletionTimestamp is not null
            || current.Metadata.Generation != current.Status?.ObservedGeneration
            || current.Metadata.Finalizers?.Contains(Finalizer) != true)
        {
            queue.Add(Informer<AiBudget>.KeyOf(current));
        }
    });

    public async Task<ReconcileResult> ReconcileAsync(string key, CancellationToken cancellationToken)
    {
        // Read fresh rather than from the informer: our own status write of the previous pass may not have come back
        // through the watch yet, and acting on the older status would announce a threshold crossing twice.
        if (budgets.Get(key) is null || await ReadAsync(key, cancellationToken) is not { } budget)
        {
            return ReconcileResult.Done;
        }

        var name = budget.Metadata.Name;
        var finalizers = budget.Metadata.Finalizers ?? [];
        if (budget.Metadata.DeletionTimestamp is not null)
        {
            if (finalizers.Contains(Finalizer))
            {
                await DeletePrometheusRuleAsync(name, cancellationToken);

                // A commit step: cancelling between the cleanup and this write would leave the object stuck deleting.
                await SetFinalizersAsync(budget, [.. finalizers.Where(f => f != Finalizer)], CancellationToken.None);
            }

            return ReconcileResult.Done;
        }

        if (!finalizers.Contains(Finalizer))
        {
            budget = await SetFinalizersAsync(budget, [.. finalizers, Finalizer], cancellationToken);
        }

        var now = time.GetUtcNow();
        var generation = budget.Metadata.Generation;
        var status = budget.Status ?? new AiBudgetStatus();
        var conditions = status.Conditions;
        var error = PolicyRenderer.Validate(budget);
        if (error is not null)
        {
            OperatorLog.ResourceInvalid(logger, Kind, key, error);
            conditions = Conditions.Set(conditions, Conditions.Make(Conditions.Ready, false, "Invalid", error, generation), now);
            await WriteStatusAsync(budget, status, conditions, null, cancellationToken);
            return ReconcileResult.Done;
        }

        var ruleReady = await ApplyPrometheusRuleAsync(budget, cancellationToken);
        conditions = Conditions.Set(conditions, ruleReady with { ObservedGeneration = generation }, now);

        var usage = await MeasureAsync(budget, now, cancellationToken);
        var crossed = await NotifyCrossingsAsync(budget, status, usage, conditions, now, cancellationToken);
        if (crossed is not null)
        {
            conditions = Conditions.Set(conditions, crossed with { ObservedGeneration = generation }, now);
        }

        conditions = Conditions.Set(conditions, Conditions.Make(Conditions.Ready, true, "Reconciled", "The budget is valid and its status is current", generation), now);
        await WriteStatusAsync(budget, status, conditions, usage, cancellationToken);
        return ReconcileResult.Success(options.StatusRefreshInterval);
    }

    private sealed record Usage(PeriodWindow Window, decimal Spent, decimal Limit, decimal UsedPercent, decimal Forecast, string State);

    private async Task<Usage> MeasureAsync(AiBudget budget, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var period = budget.Spec.Limit.Period switch
        {
            "week" => BudgetPeriod.Week,
            "month" => BudgetPeriod.Month,
            _ => BudgetPeriod.Day,
        };
        var window = PeriodWindow.Containing(period, now);
        var counters = await ledger.SnapshotAsync(now, cancellationToken);

        // With appliesPer there is one counter per scope; the status shows the fullest one, which is the one that blocks first.
        var spent = counters.Where(c => c.Budget == budget.Metadata.Name && c.Window.Start == window.Start).Select(c => c.Spent).DefaultIfEmpty(0m).Max();
        var limit = budget.Spec.Limit.Amount;
        var used = limit > 0 ? Math.Round(spent / limit * 100m, 2) : 0m;
        var warnAt = budget.Spec.Alerts.Thresholds.Where(t => t < 100).DefaultIfEmpty(75).Min();
        var state = used >= 100 ? "Exceeded" : used >= warnAt ? "Warning" : "Ok";
        var forecast = Math.Round(SpendForecast.Project(spent, [], window, now), 4);
        return new Usage(window, spent, limit, used, forecast, state);
    }

    /// <summary>
    /// Emits one Event per threshold newly crossed in this period. The highest threshold already announced is kept in
    /// the ThresholdCrossed condition (with the period start in status), so a restart or a second replica never repeats one.
    /// </summary>
    private async Task<V1Condition?> NotifyCrossingsAsync(AiBudget budget, AiBudgetStatus status, Usage usage, List<V1Condition> conditions, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var announced = 0;
        var samePeriod = status.PeriodStart is { } start && new DateTimeOffset(DateTime.SpecifyKind(start, DateTimeKind.Utc)) == usage.Window.Start;
        if (samePeriod && conditions.FirstOrDefault(c => c.Type == Conditions.ThresholdCrossed) is { Status: "True" } previous
            && previous.Reason.StartsWith("Threshold", StringComparison.Ordinal)
            && int.TryParse(previous.Reason.AsSpan("Threshold".Length), NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            announced = value;
        }

        var newly = budget.Spec.Alerts.Thresholds.Where(t => t > announced && usage.UsedPercent >= t).Order().ToList();
        foreach (var threshold in newly)
        {
            await EmitEventAsync(budget, threshold, usage, now, cancellationToken);
        }

        var highest = newly.Count > 0 ? newly[^1] : announced;
        return highest == 0
            ? Conditions.Make(Conditions.ThresholdCrossed, false, "BelowThresholds", "No alert threshold crossed in this period", null)
            : Conditions.Make(Conditions.ThresholdCrossed, true, $"Threshold{highest}", $"Usage crossed {highest}% of the limit in the period starting {usage.Window.Start:yyyy-MM-ddTHH:mm:ssZ}", null);
    }

    private async Task EmitEventAsync(AiBudget budget, int threshold, Usage usage, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var name = budget.Metadata.Name;
        var message = string.Create(CultureInfo.InvariantCulture, $"Budget {name} has used {usage.UsedPercent}% of its {usage.Limit} {budget.Spec.Limit.Unit} {budget.Spec.Limit.Period} limit (threshold {threshold}%)");
        var ev = new Corev1Event
        {
            Metadata = new V1ObjectMeta { Name = $"{name}.{usage.Window.Start.ToUnixTimeSeconds()}.{threshold}", NamespaceProperty = EventNamespace },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = ApiGroup.ApiVersion, Kind = AiBudget.KindName, Name = name, Uid = budget.Metadata.Uid, ResourceVersion = budget.Metadata.ResourceVersion,
            },
            Reason = ThresholdEventReason,
            Message = message,
            Type = threshold >= 90 ? "Warning" : "Normal",
            Source = new V1EventSource { Component = "tollgate-operator" },
            ReportingComponent = "tollgate.io/operator",
            ReportingInstance = options.Identity,
            FirstTimestamp = now.UtcDateTime,
            LastTimestamp = now.UtcDateTime,
            Count = 1,
        };
        try
        {
            await client.CoreV1.CreateNamespacedEventAsync(ev, EventNamespace, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
        {
            // The name is per budget, period and threshold: it exists when a previous pass emitted it but failed to record it.
        }
    }

    private async Task WriteStatusAsync(AiBudget budget, AiBudgetStatus status, List<V1Condition> conditions, Usage? usage, CancellationToken cancellationToken)
    {
        var generation = budget.Metadata.Generation;
        // The forecast drifts with every second of the period (a run rate); a drift under 1 % is not worth a write.
        var forecastSame = status.Forecast == usage?.Forecast
            || (usage is not null && status.Forecast != 0 && Math.Abs(usage.Forecast - status.Forecast) / Math.Abs(status.Forecast) < 0.01m);
        var unchanged = status.ObservedGeneration == generation && Conditions.SameAs(status.Conditions, conditions)
            && (usage is null || (status.Spent == usage.Spent && status.Limit == usage.Limit && status.UsedPercent == usage.UsedPercent
                && forecastSame && status.State == usage.State
                && status.PeriodStart is { } start && new DateTimeOffset(DateTime.SpecifyKind(start, DateTimeKind.Utc)) == usage.Window.Start));
        if (unchanged)
        {
            return;
        }

        var patch = new JsonObject
        {
            ["observedGeneration"] = generation,
            ["conditions"] = JsonNode.Parse(KubernetesJson.Serialize(conditions)),
        };
        if (usage is not null)
        {
            patch["periodStart"] = usage.Window.Start.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            patch["spent"] = usage.Spent;
            patch["limit"] = usage.Limit;
            patch["usedPercent"] = usage.UsedPercent;
            patch["forecast"] = usage.Forecast;
            patch["state"] = usage.State;
        }

        await client.CustomObjects.PatchClusterCustomObjectStatusAsync(
            new V1Patch(new JsonObject { ["status"] = patch }.ToJsonString(), V1Patch.PatchType.MergePatch),
            ApiGroup.Name, ApiGroup.Version, AiBudget.Plural, budget.Metadata.Name, cancellationToken: cancellationToken);
    }

    private async Task<AiBudget?> ReadAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return CustomResourceSource<AiBudget>.Convert<AiBudget>(
                await client.CustomObjects.GetClusterCustomObjectAsync(ApiGroup.Name, ApiGroup.Version, AiBudget.Plural, name, cancellationToken));
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task<AiBudget> SetFinalizersAsync(AiBudget budget, List<string> finalizers, CancellationToken cancellationToken)
    {
        // The resourceVersion makes this a compare-and-swap: a concurrent edit of the list turns into a 409 and a retry.
        var patch = new JsonObject
        {
            ["metadata"] = new JsonObject
            {
                ["finalizers"] = new JsonArray([.. finalizers.Select(f => JsonValue.Create(f))]),
                ["resourceVersion"] = budget.Metadata.ResourceVersion,
            },
        };
        return CustomResourceSource<AiBudget>.Convert<AiBudget>(await client.CustomObjects.PatchClusterCustomObjectAsync(
            new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch),
            ApiGroup.Name, ApiGroup.Version, AiBudget.Plural, budget.Metadata.Name, cancellationToken: cancellationToken));
    }

    private async Task<V1Condition> ApplyPrometheusRuleAsync(AiBudget budget, CancellationToken cancellationToken)
    {
        var name = PrometheusRuleName(budget.Metadata.Name);
        var desired = DesiredPrometheusRule(budget, options.Namespace);
        JsonObject? existing;
        try
        {
            existing = JsonNode.Parse(KubernetesJson.Serialize(await client.CustomObjects.GetNamespacedCustomObjectAsync(
                MonitoringGroup, MonitoringVersion, options.Namespace, PrometheusRules, name, cancellationToken)))!.AsObject();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            existing = null;
        }

        try
        {
            if (existing is null)
            {
                await client.CustomObjects.CreateNamespacedCustomObjectAsync(
                    desired, MonitoringGroup, MonitoringVersion, options.Namespace, PrometheusRules, cancellationToken: cancellationToken);
            }
            else if (!JsonNode.DeepEquals(existing["spec"], desired["spec"]))
            {
                desired["metadata"]!["resourceVersion"] = existing["metadata"]?["resourceVersion"]?.DeepClone();
                await client.CustomObjects.ReplaceNamespacedCustomObjectAsync(
                    desired, MonitoringGroup, MonitoringVersion, options.Namespace, PrometheusRules, name, cancellationToken: cancellationToken);
            }
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound && existing is null)
        {
            // A 404 on the collection (rather than the object) means the API server does not serve prometheusrules.
            return Conditions.Make(Conditions.PrometheusRuleReady, false, "CrdMissing",
                $"{PrometheusRules}.{MonitoringGroup} is not served by this cluster; install the Prometheus Operator to get alerts from a PrometheusRule", null);
        }

        return Conditions.Make(Conditions.PrometheusRuleReady, true, "Applied", $"PrometheusRule {options.Namespace}/{name} holds the threshold alerts", null);
    }

    private async Task DeletePrometheusRuleAsync(string budget, CancellationToken cancellationToken)
    {
        try
        {
            await client.CustomObjects.DeleteNamespacedCustomObjectAsync(
                MonitoringGroup, MonitoringVersion, options.Namespace, PrometheusRules, PrometheusRuleName(budget), cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // Never made (no CRD) or already gone.
        }
    }

    /// <summary>The per-budget alerts: the shape of TollgateBudgetThreshold in config/prometheus/tollgate-rules.yaml, narrowed to this budget.</summary>
    internal static JsonObject DesiredPrometheusRule(AiBudget budget, string ns)
    {
        var name = budget.Metadata.Name;
        var rules = new JsonArray();
        foreach (var threshold in budget.Spec.Alerts.Thresholds.Order())
        {
            var ratio = (threshold / 100m).ToString(CultureInfo.InvariantCulture);
            rules.Add(new JsonObject
            {
                ["alert"] = "TollgateBudgetThreshold",
                ["expr"] = $"max by (budget, scope, unit, period) (tollgate_budget_used_ratio{{budget=\"{name}\"}}) >= {ratio}",
                ["for"] = "0m",
                ["keep_firing_for"] = "10m",
                ["labels"] = new JsonObject
                {
                    ["severity"] = threshold >= 100 ? "critical" : threshold >= 90 ? "warning" : "info",
                    ["threshold"] = threshold.ToString(CultureInfo.InvariantCulture),
                },
                ["annotations"] = new JsonObject
                {
                    ["summary"] = $"Budget {{{{ $labels.budget }}}}{{{{ if $labels.scope }}}} ({{{{ $labels.scope }}}}){{{{ end }}}} has used {threshold}% of its limit for this {{{{ $labels.period }}}}",
                    ["description"] = $"Budget {{{{ $labels.budget }}}}{{{{ if $labels.scope }}}} for scope \"{{{{ $labels.scope }}}}\"{{{{ end }}}} has used {{{{ $value | humanizePercentage }}}} of its {{{{ $labels.unit }}}} limit for this {{{{ $labels.period }}}}.",
                },
            });
        }

        return new JsonObject
        {
            ["apiVersion"] = $"{MonitoringGroup}/{MonitoringVersion}",
            ["kind"] = "PrometheusRule",
            ["metadata"] = new JsonObject
            {
                ["name"] = PrometheusRuleName(name),
                ["namespace"] = ns,
                ["labels"] = new JsonObject
                {
                    [NamespacePolicyController.ManagedByLabel] = NamespacePolicyController.ManagedBy,
                    ["tollgate.io/budget"] = name,
                },
            },
            ["spec"] = new JsonObject
            {
                ["groups"] = new JsonArray(new JsonObject { ["name"] = PrometheusRuleName(name), ["rules"] = rules }),
            },
        };
    }
}
