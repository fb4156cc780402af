using Tollgate.Core.Matching;
using Tollgate.Core.Policy;
using Tollgate.Core.Tagging;

namespace Tollgate.Core.Budgets;

/// <summary>An <c>AiBudget</c> validated and ready to evaluate on the request path.</summary>
public sealed record CompiledBudget(
    string Name,
    int Priority,
    RequestMatcher Match,
    decimal Limit,
    BudgetUnit Unit,
    BudgetPeriod Period,
    IReadOnlyList<string> AppliesPer,
    bool Audit,
    bool HardCap,
    FailurePolicy FailurePolicy,
    IReadOnlyList<int> Thresholds,
    string? Mitigation,
    string? DashboardUrl)
{
    /// <summary>The counter this request falls into: one per distinct combination of the <see cref="AppliesPer"/> values.</summary>
    public string ScopeOf(RequestContext request)
    {
        if (AppliesPer.Count == 0)
        {
            return string.Empty;
        }

        if (AppliesPer.Count == 1)
        {
            return ScopeValue(AppliesPer[0], request);
        }

        return string.Join(',', AppliesPer.Select(key => $"{key}={ScopeValue(key, request)}"));
    }

    public string UnitName => Unit == BudgetUnit.Usd ? "usd" : "tokens";

    public string PeriodName => Period switch
    {
        BudgetPeriod.Day => "day",
        BudgetPeriod.Week => "week",
        _ => "month",
    };

    private static string ScopeValue(string key, RequestContext request) => key switch
    {
        "namespace" => request.Namespace,
        "model" => request.Model,
        _ when key.StartsWith(TagKeys.MetadataPrefix, StringComparison.Ordinal) => request.Tag(key[TagKeys.MetadataPrefix.Length..]),
        _ => request.Tag(key),
    };
}
