using Tollgate.Core.Ledger;

namespace Tollgate.Core.Budgets;

/// <summary>
/// How a <see cref="BudgetPeriod"/> cuts time into ledger windows. An extension of <see cref="PeriodWindow"/> so callers
/// keep writing <c>PeriodWindow.Containing(period, now)</c> while the ledger, which only stores windows, need not know
/// what a budget period is.
/// </summary>
public static class BudgetPeriodWindows
{
    extension(PeriodWindow)
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
    }
}
