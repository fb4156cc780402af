namespace Tollgate.Core.Ledger;

/// <summary>
/// One period of a budget counter: <c>[Start, End)</c> in UTC. It lives beside the ledger because every counter is
/// keyed by one; which window a budget period and an instant fall in is the budgets' rule
/// (<see cref="Budgets.BudgetPeriodWindows"/>).
/// </summary>
public readonly record struct PeriodWindow(DateTimeOffset Start, DateTimeOffset End)
{
    public TimeSpan Length => End - Start;

    /// <summary>Whole seconds until the window closes, at least 1 (the value of <c>Retry-After</c>).</summary>
    public int SecondsUntilEnd(DateTimeOffset now) => (int)Math.Max(1, Math.Ceiling((End - now).TotalSeconds));
}
