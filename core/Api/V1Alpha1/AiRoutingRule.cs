using k8s;
using k8s.Models;

namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>
/// Routes matching requests to model targets with retries, circuit breaking, limits, caching and fallbacks.
/// Namespaced; rules in the operator's namespace apply to every metered namespace.
/// </summary>
[KubernetesEntity(Group = ApiGroup.Name, ApiVersion = ApiGroup.Version, Kind = KindName, PluralName = Plural)]
public sealed class AiRoutingRule : IKubernetesObject<V1ObjectMeta>, ISpec<AiRoutingRuleSpec>, IStatus<AiRoutingRuleStatus?>
{
    public const string KindName = "AiRoutingRule";
    public const string Plural = "airoutingrules";

    public string ApiVersion { get; set; } = ApiGroup.ApiVersion;

    public string Kind { get; set; } = KindName;

    public V1ObjectMeta Metadata { get; set; } = new();

    public AiRoutingRuleSpec Spec { get; set; } = new();

    public AiRoutingRuleStatus? Status { get; set; }

    public override string ToString() => $"{KindName}/{Metadata.NamespaceProperty}/{Metadata.Name}";
}
