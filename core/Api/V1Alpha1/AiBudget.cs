using System.ComponentModel.DataAnnotations;
using k8s;
using k8s.Models;

namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>
/// A spending limit for LLM calls made by CI pipelines. Cluster-scoped: budgets are governance owned by the
/// platform team. Every matching budget is debited; the first matching one by priority decides allow or block.
/// </summary>
[KubernetesEntity(Group = ApiGroup.Name, ApiVersion = ApiGroup.Version, Kind = KindName, PluralName = Plural)]
[EntityScope(EntityScope.Cluster)]
[ShortNames("aib")]
[Categories("tollgate")]
[PrinterColumn("Limit", ".status.limit", PrinterColumnType.Number, Description = "The limit of the current period, in the budget's unit")]
[PrinterColumn("Spent", ".status.spent", PrinterColumnType.Number, Description = "Spent in the current period, in the budget's unit")]
[PrinterColumn("Used", ".status.usedPercent", PrinterColumnType.Number, Description = "Spent as a percentage of the limit")]
[PrinterColumn("Forecast", ".status.forecast", PrinterColumnType.Number, Description = "Expected spend by the end of the period")]
[PrinterColumn("State", ".status.state", PrinterColumnType.String, Description = "Ok, Warning or Exceeded")]
[PrinterColumn("Unit", ".spec.limit.unit", PrinterColumnType.String, Priority = 1)]
[PrinterColumn("Period", ".spec.limit.period", PrinterColumnType.String, Priority = 1)]
[PrinterColumn("Enforcement", ".spec.enforcement", PrinterColumnType.String, Priority = 1)]
[PrinterColumn("Ready", ".status.conditions[?(@.type==\"Ready\")].status", PrinterColumnType.String, Priority = 1)]
[PrinterColumn("Age", ".metadata.creationTimestamp", PrinterColumnType.Date)]
public sealed class AiBudget : IKubernetesObject<V1ObjectMeta>, ISpec<AiBudgetSpec>, IStatus<AiBudgetStatus?>
{
    public const string KindName = "AiBudget";
    public const string Plural = "aibudgets";

    public string ApiVersion { get; set; } = ApiGroup.ApiVersion;

    public string Kind { get; set; } = KindName;

    public V1ObjectMeta Metadata { get; set; } = new();

    /// <summary>Desired state: what the budget counts, its limit and what happens when it is spent.</summary>
    [Required]
    public AiBudgetSpec Spec { get; set; } = new();

    /// <summary>Observed state, written by the operator.</summary>
    public AiBudgetStatus? Status { get; set; }

    public override string ToString() => $"{KindName}/{Metadata.Name}";
}
