namespace Tollgate.Core.Budgets;

/// <summary>One period of a budget: <c>[Start, End)</c> in UTC.</summary>
public readonly record struct PeriodWindow(DateTimeOffset Start, DateTimeOffset End)
{
    /// <summary>The window of <paramref name="period"/> that contains <paramref name="now"/>. Weeks start on Monday (ISO 8601).</summary>
    public static PeriodWindow Containing(BudgetPeriod period, DateTimeOffset now)
    {
        var utc = now.ToUniversalTime();
        var day = new DateTimeOffset(utc.Year, utc.Month, utc.Day, 0, 0, 0, TimeSpan.Zero);
        switch (period)
        {
            case BudgetPeriod.Day:
                return new PeriodWindow(day, day.AddDays(1));
            case BudgetPeriod.Week:
                var sinceMonday = ((int)day.DayOfWeek + 6) % 7;
                var monday = day.AddDays(-sinceMonday);
                return new PeriodWindow(monday, monday.AddDays(7));
            case BudgetPeriod.Month:
                var first = new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
                return new PeriodWindow(first, first.AddMonths(1));
            default:
                throw new ArgumentOutOfRangeException(nameof(period), period, "unknown period");
        }
    }

    public TimeSpan Length => End - Start;

    /// <summary>Whole seconds until the window closes, at least 1 (the value of <c>Retry-After</c>).</summary>
    public int SecondsUntilEnd(DateTimeOffset now) => (int)Math.Max(1, Math.Ceiling((End - now).TotalSeconds));
}
