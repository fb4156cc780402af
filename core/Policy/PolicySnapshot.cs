using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Core.Budgets;
using Tollgate.Core.Matching;
using Tollgate.Core.Routing;

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

    /// <summary>The routing rules, compiled, in the order they are tried (priority, then name).</summary>
    public IReadOnlyList<CompiledRoute> Routes { get; init; } = [];

    /// <summary>The first routing rule that matches the request, or null.</summary>
    public CompiledRoute? RouteFor(RequestContext request)
    {
        foreach (var route in Routes)
        {
            if (route.Match.Matches(request))
            {
                return route;
            }
        }

        return null;
    }

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
