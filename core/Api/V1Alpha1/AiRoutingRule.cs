using System.ComponentModel.DataAnnotations;
using k8s;
using k8s.Models;

namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>
/// Routes matching requests to model targets with retries, circuit breaking, limits, caching and fallbacks.
/// Namespaced; rules in the operator's namespace apply to every metered namespace.
/// </summary>
[KubernetesEntity(Group = ApiGroup.Name, ApiVersion = ApiGroup.Version, Kind = KindName, PluralName = Plural)]
[EntityScope(EntityScope.Namespaced)]
[ShortNames("airr")]
[Categories("tollgate")]
[PrinterColumn("Priority", ".spec.priority", PrinterColumnType.Integer)]
[PrinterColumn("Provider", ".spec.route.targets[0].provider", PrinterColumnType.String, Description = "Provider of the first route target")]
[PrinterColumn("Model", ".spec.route.targets[0].model", PrinterColumnType.String, Description = "Model of the first route target")]
[PrinterColumn("Fallback", ".spec.fallback.onBudgetExceeded.model", PrinterColumnType.String, Priority = 1, Description = "Model used when a budget is exhausted")]
[PrinterColumn("Ready", ".status.conditions[?(@.type==\"Ready\")].status", PrinterColumnType.String)]
[PrinterColumn("Age", ".metadata.creationTimestamp", PrinterColumnType.Date)]
public sealed class AiRoutingRule : IKubernetesObject<V1ObjectMeta>, ISpec<AiRoutingRuleSpec>, IStatus<AiRoutingRuleStatus?>
{
    public const string KindName = "AiRoutingRule";
    public const string Plural = "airoutingrules";

    public string ApiVersion { get; set; } = ApiGroup.ApiVersion;

    public string Kind { get; set; } = KindName;

    public V1ObjectMeta Metadata { get; set; } = new();

    /// <summary>Desired state: which requests the rule takes and how it routes, limits, caches and falls back.</summary>
    [Required]
    public AiRoutingRuleSpec Spec { get; set; } = new();

    /// <summary>Observed state, written by the operator.</summary>
    public AiRoutingRuleStatus? Status { get; set; }

    public override string ToString() => $"{KindName}/{Metadata.NamespaceProperty}/{Metadata.Name}";
}
