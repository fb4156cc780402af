using k8s;
using k8s.Models;

namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>
/// A spending limit for LLM calls made by CI pipelines. Cluster-scoped: budgets are governance owned by the
/// platform team. Every matching budget is debited; the first matching one by priority decides allow or block.
/// </summary>
[KubernetesEntity(Group = ApiGroup.Name, ApiVersion = ApiGroup.Version, Kind = KindName, PluralName = Plural)]
public sealed class AiBudget : IKubernetesObject<V1ObjectMeta>, ISpec<AiBudgetSpec>, IStatus<AiBudgetStatus?>
{
    public const string KindName = "AiBudget";
    public const string Plural = "aibudgets";

    public string ApiVersion { get; set; } = ApiGroup.ApiVersion;

    public string Kind { get; set; } = KindName;

    public V1ObjectMeta Metadata { get; set; } = new();

    public AiBudgetSpec Spec { get; set; } = new();

    public AiBudgetStatus? Status { get; set; }

    public override string ToString() => $"{KindName}/{Metadata.Name}";
}
