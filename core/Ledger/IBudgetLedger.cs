namespace Tollgate.Core.Ledger;

/// <summary>
/// Counts spend per budget, scope and period. Reserve-then-settle: a conservative estimate is reserved atomically
/// against every matching budget before forwarding, and replaced by the actual amount afterwards. Every ledger takes
/// amounts from 0 to <see cref="LedgerAmounts.Maximum"/> and refuses others with <see cref="LedgerAmountException"/>
/// before recording anything: a negative or wrapped amount must never open a budget.
/// </summary>
public interface IBudgetLedger : IAsyncDisposable
{
    /// <summary>A short name for logs and readiness ("embedded", "redis").</summary>
    string Name { get; }

    /// <summary>False while the ledger cannot record spend (readiness reflects it).</summary>
    bool IsReady { get; }

    /// <summary>Decides with <see cref="BudgetDecision"/> and, when allowed, reserves every charge's estimate.</summary>
    /// <exception cref="LedgerUnavailableException">The ledger cannot be reached; the caller applies each budget's failure policy.</exception>
    /// <exception cref="LedgerAmountException">An estimate is not recordable, or a counter's reservations would pass <see cref="LedgerAmounts.CounterCeiling"/>.</exception>
    ValueTask<ReserveResult> ReserveAsync(string requestId, IReadOnlyList<LedgerCharge> charges, CancellationToken cancellationToken);

    /// <summary>
    /// Records what a request actually cost against the given charges, exactly once per request id: settles the
    /// reservation if one is open under the id, otherwise debits the amounts directly (a request admitted while the
    /// ledger was down, or usage replayed from a spool); a repeat of an id already settled is a no-op.
    /// </summary>
    /// <exception cref="LedgerUnavailableException">The ledger cannot be reached; the caller spools the usage.</exception>
    /// <exception cref="LedgerAmountException">An amount is not recordable; nothing is recorded (spend past the counter ceiling stays at it).</exception>
    ValueTask SettleAsync(string requestId, IReadOnlyList<LedgerCharge> charges, IReadOnlyList<decimal> actual, CancellationToken cancellationToken);

    /// <summary>Counters of the periods that contain <paramref name="now"/>.</summary>
    ValueTask<IReadOnlyList<CounterSnapshot>> SnapshotAsync(DateTimeOffset now, CancellationToken cancellationToken);
}
