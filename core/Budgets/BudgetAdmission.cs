using Tollgate.Core.Ledger;

namespace Tollgate.Core.Budgets;

/// <summary>How the budgets answered a request.</summary>
public enum AdmissionKind
{
    /// <summary>Allowed; every matching budget holds a reservation to settle.</summary>
    Allowed,

    /// <summary>A budget that can block has no headroom left.</summary>
    Blocked,

    /// <summary>The ledger is unreachable and a matching budget fails closed.</summary>
    LedgerUnavailable,
}

/// <summary>The budgets' answer for one request, and what must be settled afterwards.</summary>
public sealed record BudgetAdmission(
    AdmissionKind Kind,
    string RequestId,
    IReadOnlyList<CompiledBudget> Budgets,
    IReadOnlyList<LedgerCharge> Charges,
    bool Reserved,
    int BlockingIndex,
    CounterState BlockingCounter,
    DateTimeOffset At,
    string? Reason)
{
    public CompiledBudget? BlockingBudget => BlockingIndex >= 0 ? Budgets[BlockingIndex] : null;

    public LedgerCharge? BlockingCharge => BlockingIndex >= 0 ? Charges[BlockingIndex] : null;
}
