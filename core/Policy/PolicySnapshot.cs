using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Core.Budgets;

namespace Tollgate.Core.Policy;

/// <summary>
/// An immutable, validated policy: budgets sorted by priority (then name) and routing rules. The request path reads
/// the current snapshot without locks; a reload swaps it whole.
/// </summary>
public sealed record PolicySnapshot(
    IReadOnlyList<CompiledBudget> Budgets,
    IReadOnlyList<AiRoutingRule> RoutingRules,
    string Source)
{
    public static PolicySnapshot Empty { get; } = new([], [], "(none)");

    /// <summary>Budgets that match the request, first match first.</summary>
    public IReadOnlyList<CompiledBudget> Matching(RequestContext request)
    {
        List<CompiledBudget>? matches = null;
        foreach (var budget in Budgets)
        {
            if (budget.Match.Matches(request))
            {
                (matches ??= []).Add(budget);
            }
        }

        return (IReadOnlyList<CompiledBudget>?)matches ?? [];
    }
}
