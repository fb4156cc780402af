using k8s.Models;

namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>Observed state of an <see cref="AiRoutingRule"/>.</summary>
public sealed class AiRoutingRuleStatus
{
    public long? ObservedGeneration { get; set; }

    public List<V1Condition> Conditions { get; set; } = [];
}
