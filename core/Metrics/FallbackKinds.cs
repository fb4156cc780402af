namespace Tollgate.Core.Metrics;

/// <summary>Values of <see cref="Events.RouteDecision.Fallback"/> and of the <c>kind</c> label of <c>tollgate_fallbacks_total</c>.</summary>
public static class FallbackKinds
{
    /// <summary>A later target of the rule served the request after an earlier one failed.</summary>
    public const string Upstream = "upstream";

    /// <summary>A budget blocked the requested model; the rule's cheaper model was sent instead.</summary>
    public const string BudgetModel = "budget_model";

    /// <summary>A budget blocked the request; the meter answered with the rule's fixed response and sent nothing upstream.</summary>
    public const string BudgetResponse = "budget_response";
}
