using k8s.Models;

namespace Tollgate.Core.Api.V1Alpha1;

/// <summary>Observed state of an <see cref="AiRoutingRule"/>.</summary>
public sealed class AiRoutingRuleStatus
{
    /// <summary>The metadata.generation this status was computed from.</summary>
    [Minimum(0)]
    public long? ObservedGeneration { get; set; }

    /// <summary>The latest observations of the rule's state (Ready, and why not).</summary>
    public List<V1Condition> Conditions { get; set; } = [];
}
