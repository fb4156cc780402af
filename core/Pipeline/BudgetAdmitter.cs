using Tollgate.Core.Budgets;
using Tollgate.Core.Matching;
using Tollgate.Core.Metrics;
using Tollgate.Core.Policy;
using Tollgate.Core.Routing;

namespace Tollgate.Core.Pipeline;

/// <summary>
/// The budgets' part of admission, with the routing rule's budget fallback: the one place that orders the fallbacks,
/// used by the proxy and by the backtest alike. Reservations go through <see cref="Settlement"/>, which settles them.
/// </summary>
public sealed class BudgetAdmitter(Settlement settlement)
{
    /// <summary>
    /// Reserves against every budget that matches <paramref name="request"/> (whose model is the one that will be sent).
    /// When a budget blocks and the rule has a budget fallback, the order is: the fixed response, when the rule has one
    /// and the client's API can carry it; else the cheaper model, admitted as a request of its own, so budgets that
    /// cover only the dear model let it through.
    /// </summary>
    /// <param name="policy">The snapshot the whole request is decided by.</param>
    /// <param name="request">The request, with the model that will be sent.</param>
    /// <param name="requested">The request with the model the client asked for: the cheaper model replaces that one.</param>
    /// <param name="route">The routing rule, or null.</param>
    /// <param name="canAnswerFixed">Whether a fixed response can be written in the client's API.</param>
    /// <param name="requestId">The request's id, which the reservation is held under.</param>
    /// <param name="estimate">The reservation for a model; called only when a budget matches.</param>
    /// <param name="cancellationToken">The request's token.</param>
    public async ValueTask<BudgetVerdict> AdmitAsync(PolicySnapshot policy, RequestContext request, RequestContext requested, CompiledRoute? route,
        bool canAnswerFixed, string requestId, Func<string, BudgetEstimate> estimate, CancellationToken cancellationToken)
    {
        var admission = await settlement.ReserveAsync(policy, request, requestId, () => estimate(request.Model), cancellationToken);
        if (admission.Kind != AdmissionKind.Blocked || route?.BudgetFallback is not { } fallback)
        {
            return new BudgetVerdict(admission, request.Model, null);
        }

        if (fallback.Response is not null && canAnswerFixed)
        {
            return new BudgetVerdict(admission, request.Model, FallbackKinds.BudgetResponse);
        }

        if (fallback.Model is { } cheaper)
        {
            var cheaperRequest = requested with { Model = cheaper };
            var second = await settlement.ReserveAsync(policy, cheaperRequest, requestId, () => estimate(cheaper), cancellationToken);
            if (second.Kind == AdmissionKind.Allowed)
            {
                return new BudgetVerdict(second, cheaper, FallbackKinds.BudgetModel) { Blocked = admission };
            }
        }

        return new BudgetVerdict(admission, request.Model, null);
    }
}

/// <summary>What the budgets decided for a request.</summary>
/// <param name="Admission">The admission that stands: the one to settle, or the one that turned the request away.</param>
/// <param name="Model">The model admitted: the one to send.</param>
/// <param name="Fallback">null, <see cref="FallbackKinds.BudgetResponse"/> (answer with the rule's text; nothing is sent) or
/// <see cref="FallbackKinds.BudgetModel"/> (send <see cref="Model"/>, the rule's cheaper model).</param>
public sealed record BudgetVerdict(BudgetAdmission Admission, string Model, string? Fallback)
{
    /// <summary>After a fallback to the cheaper model, the admission that blocked the requested one.</summary>
    public BudgetAdmission? Blocked { get; init; }

    /// <summary>The budget that blocked the requested model, when one did.</summary>
    public CompiledBudget? BlockingBudget => (Blocked ?? Admission).BlockingBudget;
}
