using Tollgate.Core.Budgets;
using Tollgate.Core.Events;
using Tollgate.Core.Matching;
using Tollgate.Core.Policy;

namespace Tollgate.Core.Pipeline;

/// <summary>
/// The one owner of a request's money: it reserves the estimate against every matching budget before the request is
/// forwarded and, once it has ended, replaces the reservation with the actual amounts and publishes the usage event
/// (or spools both while the ledger is down). Every request ends here exactly once, admitted or not.
/// </summary>
public sealed class Settlement(BudgetGuard guard, UsageRecorder recorder, DailySpendHistory history, TimeProvider time)
{
    public UsageSpool Spool => recorder.Spool;

    /// <inheritdoc cref="BudgetGuard.AdmitAsync(PolicySnapshot, RequestContext, string, Func{BudgetEstimate}, CancellationToken)"/>
    public ValueTask<BudgetAdmission> ReserveAsync(
        PolicySnapshot policy, RequestContext request, string requestId, Func<BudgetEstimate> estimate, CancellationToken cancellationToken) =>
        guard.AdmitAsync(policy, request, requestId, estimate, cancellationToken);

    /// <summary>
    /// Settles what the request owes its budgets and records its usage event. Runs to completion even when the client
    /// has left: this is the commit step.
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="admission">The budgets' answer, or null when no budget was asked (refused before admission, free, cached).</param>
    /// <param name="outcome">How it ended.</param>
    public async ValueTask<SettleResult> SettleAsync(MeteredRequest request, BudgetAdmission? admission, RequestOutcome outcome)
    {
        var at = admission?.At ?? time.GetUtcNow();
        IReadOnlyList<Ledger.LedgerCharge> charges = admission is null ? [] : BudgetGuard.ChargesToSettle(admission);
        var amounts = charges.Count > 0 ? BudgetGuard.AmountsFor(admission!, outcome.Usage, outcome.CostUsd) : [];
        for (var i = 0; i < charges.Count; i++)
        {
            history.Add(at, charges[i].Budget, charges[i].Scope, amounts[i]);
        }

        var usageEvent = request.ToUsageEvent(at, outcome, admission is null ? [] : BudgetCharges.From(admission, amounts));
        try
        {
            // CancellationToken.None: the commit step; the client leaving must not abandon it.
            var committed = await recorder.RecordAsync(new UsageRecord(request.RequestId, charges, amounts, usageEvent), CancellationToken.None);
            return new SettleResult(committed ? SettleState.Recorded : SettleState.Spooled, usageEvent);
        }
        catch (IOException ex)
        {
            return new SettleResult(SettleState.Lost, usageEvent, ex);
        }
    }
}

/// <summary>Where a request's settlement and usage event went.</summary>
public enum SettleState
{
    /// <summary>Settled in the ledger and appended to the usage stream.</summary>
    Recorded,

    /// <summary>Kept in the local spool until the ledger or the stream returns.</summary>
    Spooled,

    /// <summary>The spool could not be written either: this request's usage is lost.</summary>
    Lost,
}

/// <summary>The settle stage's answer.</summary>
/// <param name="State">Where the record went.</param>
/// <param name="Event">The usage event that was recorded (or spooled, or lost).</param>
/// <param name="Error">Why it was lost, when it was.</param>
public sealed record SettleResult(SettleState State, UsageEvent Event, IOException? Error = null);
