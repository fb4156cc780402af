using Tollgate.Core.Api.V1Alpha1;
using Tollgate.Core.Budgets;
using Tollgate.Core.RateLimits;

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

    /// <summary>The request and token limits of the routing rules that set any, by rule name.</summary>
    public IReadOnlyList<CompiledRateLimit> RateLimits { get; init; } = [];

    /// <summary>The limits of every rule that matches the request.</summary>
    public IReadOnlyList<RateLimitCharge> MatchingRateLimits(RequestContext request)
    {
        List<RateLimitCharge>? matches = null;
        foreach (var limit in RateLimits)
        {
            if (limit.Match.Matches(request))
            {
                (matches ??= []).Add(limit.Charge);
            }
        }

        return (IReadOnlyList<RateLimitCharge>?)matches ?? [];
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
