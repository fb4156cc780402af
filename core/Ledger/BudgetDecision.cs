namespace Tollgate.Core.Ledger;

/// <summary>
/// The one rule every ledger applies, so the embedded and the Redis ledger decide identically: a charge that can
/// block (the first match, unless it audits, and every hard cap) blocks when its counter has no headroom left,
/// that is when settled spend plus in-flight reservations has reached the limit. Admission only needs headroom, so a
/// request near the limit still goes through and the overshoot is bounded by one request's estimate.
/// </summary>
public static class BudgetDecision
{
    /// <returns>The index of the blocking charge, or -1 to allow.</returns>
    public static int Evaluate(IReadOnlyList<LedgerCharge> charges, IReadOnlyList<CounterState> counters)
    {
        for (var i = 0; i < charges.Count; i++)
        {
            if (charges[i].CanBlock && counters[i].Committed >= charges[i].Limit)
            {
                return i;
            }
        }

        return -1;
    }
}
