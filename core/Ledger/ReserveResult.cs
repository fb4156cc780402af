namespace Tollgate.Core.Ledger;

/// <summary>The outcome of a reservation across every matching budget.</summary>
/// <param name="BlockingIndex">Index of the charge that blocked the request, or -1 when it was allowed and reserved.</param>
/// <param name="Counters">Each charge's counter as the decision saw it (before the reservation).</param>
public sealed record ReserveResult(int BlockingIndex, IReadOnlyList<CounterState> Counters)
{
    public bool Allowed => BlockingIndex < 0;
}
