using Tollgate.Core.Ledger;
using Tollgate.Core.Matching;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Budgets;

/// <summary>
/// Applies budgets to a request: finds every matching budget (first match first), reserves the estimate against all
/// of them in one ledger call, and settles the actual amounts once the response is done.
/// </summary>
public sealed class BudgetGuard(IBudgetLedger ledger, TimeProvider time)
{
    public IBudgetLedger Ledger => ledger;

    public ValueTask<BudgetAdmission> AdmitAsync(
        IReadOnlyList<CompiledBudget> budgets, RequestContext request, string requestId, BudgetEstimate estimate, CancellationToken cancellationToken) =>
        AdmitAsync(budgets, request, requestId, () => estimate, cancellationToken);

    /// <param name="estimate">Called only when a budget matches: tokenizing the prompt is the costliest step of admission.</param>
    /// <exception cref="LedgerAmountException">
    /// The ledger refused the estimate. It propagates: unlike an unavailable ledger it is never met with a budget's
    /// failure policy, so a fail-open budget cannot turn a wrapped estimate into a pass.
    /// </exception>
    /// <param name="budgets">The budgets that match <paramref name="request"/>, first match first (<c>PolicySnapshot.Matching</c>).</param>
    public async ValueTask<BudgetAdmission> AdmitAsync(
        IReadOnlyList<CompiledBudget> budgets, RequestContext request, string requestId, Func<BudgetEstimate> estimate, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (budgets.Count == 0)
        {
            return new BudgetAdmission(AdmissionKind.Allowed, requestId, [], [], false, -1, default, now, null);
        }

        var reserved = estimate();

        var charges = new LedgerCharge[budgets.Count];
        for (var i = 0; i < budgets.Count; i++)
        {
            var budget = budgets[i];
            charges[i] = new LedgerCharge(
                budget.Name,
                budget.ScopeOf(request),
                PeriodWindow.Containing(budget.Period, now),
                budget.Limit,
                AmountIn(budget, reserved.Tokens, reserved.Cost),
                CanBlock: (i == 0 && !budget.Audit) || budget.HardCap,
                HardCap: budget.HardCap);
        }

        ReserveResult result;
        try
        {
            result = await ledger.ReserveAsync(requestId, charges, cancellationToken);
        }
        catch (LedgerUnavailableException ex)
        {
            for (var i = 0; i < budgets.Count; i++)
            {
                if (charges[i].CanBlock && budgets[i].FailurePolicy == FailurePolicy.Closed)
                {
                    return new BudgetAdmission(AdmissionKind.LedgerUnavailable, requestId, budgets, charges, false, i, default, now, ex.Message);
                }
            }

            // Every budget that could block fails open: allow; the spend is recorded when the ledger returns.
            return new BudgetAdmission(AdmissionKind.Allowed, requestId, budgets, charges, false, -1, default, now, ex.Message);
        }

        return result.Allowed
            ? new BudgetAdmission(AdmissionKind.Allowed, requestId, budgets, charges, true, -1, default, now, null)
            : new BudgetAdmission(AdmissionKind.Blocked, requestId, budgets, charges, false, result.BlockingIndex,
                result.Counters[result.BlockingIndex], now, null);
    }

    /// <summary>
    /// Replaces the reservation with what the request actually cost; a request admitted while the ledger was down (fail
    /// open) is debited now. Runs to completion even if the client left.
    /// </summary>
    public ValueTask SettleAsync(BudgetAdmission admission, TokenUsage usage, decimal cost)
    {
        if (ChargesToSettle(admission).Count == 0)
        {
            return ValueTask.CompletedTask;
        }

        // CancellationToken.None: settling is the commit step; abandoning it would leak the reservation.
        return ledger.SettleAsync(admission.RequestId, admission.Charges, AmountsFor(admission, usage, cost), CancellationToken.None);
    }

    /// <summary>The charges a request must be settled against: every matching budget's, unless it was turned away.</summary>
    public static IReadOnlyList<LedgerCharge> ChargesToSettle(BudgetAdmission admission) =>
        admission.Kind == AdmissionKind.Allowed ? admission.Charges : [];

    /// <summary>
    /// What the request cost in each matching budget's unit, in the order of its charges. Usage a ledger cannot record
    /// (a provider reporting billions of tokens) is charged at <see cref="LedgerAmounts.Maximum"/>: it closes the budget
    /// rather than being refused and lost.
    /// </summary>
    public static decimal[] AmountsFor(BudgetAdmission admission, TokenUsage usage, decimal cost)
    {
        var amounts = new decimal[admission.Budgets.Count];
        for (var i = 0; i < amounts.Length; i++)
        {
            amounts[i] = LedgerAmounts.SaturateActual(AmountIn(admission.Budgets[i], usage, cost));
        }

        return amounts;
    }

    /// <summary>An amount in the budget's unit: dollars, or every billed token.</summary>
    public static decimal AmountIn(CompiledBudget budget, TokenUsage tokens, decimal cost) =>
        budget.Unit == BudgetUnit.Usd ? cost : tokens.Total;
}
