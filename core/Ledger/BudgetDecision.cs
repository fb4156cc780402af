namespace Tollgate.Core.Ledger;

/// <summary>
/// The one rule every ledger applies, so the embedded and the Redis ledger decide identically (the Redis ledger's
/// reserve script is this rule in Lua). Only a charge that can block (the first match, unless it audits, and every
/// hard cap) blocks, and it blocks:
/// <list type="bullet">
/// <item>a soft budget when its counter has no headroom left, that is when settled spend plus in-flight reservations
/// has reached the limit. A request near the limit still goes through, so the overshoot is bounded by one request's
/// estimate: the budget is a target, and a pipeline is not refused for the last few cents;</item>
/// <item>a hard cap also when this request's estimate does not fit: spend plus reservations plus the estimate must
/// stay within the limit, so the limit is never passed as long as no request costs more than its estimate.</item>
/// </list>
/// </summary>
public static class BudgetDecision
{
    /// <returns>The index of the blocking charge, or -1 to allow.</returns>
    public static int Evaluate(IReadOnlyList<LedgerCharge> charges, IReadOnlyList<CounterState> counters)
    {
        for (var i = 0; i < charges.Count; i++)
        {
            if (Blocks(charges[i], counters[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Whether <paramref name="charge"/> alone refuses the request, given its counter before reserving.</summary>
    public static bool Blocks(LedgerCharge charge, CounterState counter) =>
        charge.CanBlock && (counter.Committed >= charge.Limit || (charge.HardCap && WouldExceed(charge, counter)));

    /// <summary>
    /// True when the counter still has headroom but this request's estimate does not fit in it: how a hard cap refuses
    /// a request a soft budget would admit (the refusal says so, rather than "exhausted").
    /// </summary>
    public static bool WouldExceed(LedgerCharge charge, CounterState counter) =>
        counter.Committed < charge.Limit && counter.Committed + charge.Estimate > charge.Limit;
}
