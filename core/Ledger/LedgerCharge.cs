
namespace Tollgate.Core.Ledger;

/// <summary>One budget counter a request is charged against.</summary>
/// <param name="Budget">Budget name.</param>
/// <param name="Scope">The <c>appliesPer</c> value ("" for a shared counter).</param>
/// <param name="Window">The period the charge falls in.</param>
/// <param name="Limit">The budget's limit, in its unit.</param>
/// <param name="Estimate">The conservative amount reserved before forwarding, in the budget's unit.</param>
/// <param name="CanBlock">True for the first matching budget (unless it audits) and for hard caps.</param>
/// <param name="HardCap">
/// The budget is a hard cap: it admits a request only if the estimate fits under the limit (see <see cref="BudgetDecision"/>).
/// Only reservations read it; a settlement (and so a spooled record) records amounts whatever the budget's kind.
/// </param>
public sealed record LedgerCharge(string Budget, string Scope, PeriodWindow Window, decimal Limit, decimal Estimate, bool CanBlock, bool HardCap = false)
{
    /// <summary>The counter's identity: budget, scope and period start.</summary>
    public CounterKey Key => new(Budget, Scope, Window.Start);
}
