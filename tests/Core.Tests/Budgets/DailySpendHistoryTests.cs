using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Tests.Budgets;

public sealed class DailySpendHistoryTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 15, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Full_days_the_history_covers_are_returned_oldest_first_with_zero_for_days_without_spend()
    {
        var history = new DailySpendHistory();
        history.Add(Now.AddDays(-3), "b", "repo-a", 5m);
        history.Add(Now.AddDays(-3), "b", "repo-a", 2m);
        history.Add(Now.AddDays(-2), "b", "repo-b", 9m);
        history.Add(Now.AddDays(-1), "b", "repo-a", 1m);
        history.Add(Now, "b", "repo-a", 100m);                 // today: not a full day
        history.Add(Now.AddDays(-9), "b", "repo-a", 50m);      // older than seven days

        Assert.Equal([7m, 0m, 1m], history.LastDays("b", "repo-a", Now));
        Assert.Equal([0m, 9m, 0m], history.LastDays("b", "repo-b", Now));
    }

    [Fact]
    public void Without_a_covered_day_the_forecast_falls_back_to_the_run_rate()
    {
        var history = new DailySpendHistory();
        history.Add(Now, "b", "", 10m);
        var window = PeriodWindow.Containing(BudgetPeriod.Day, Now);

        Assert.Empty(history.LastDays("b", "", Now));
        Assert.Equal(10m * (decimal)(window.Length / (Now - window.Start)), SpendForecast.Project(10m, history.LastDays("b", "", Now), window, Now));
    }
}
