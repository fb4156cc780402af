using System.Text;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Exporter.Aggregation;
using Tollgate.Exporter.Budgets;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests;

/// <summary>Forecasts project from days that have happened, and the saved daily history stays inside the forecast window.</summary>
public sealed class ForecastBoundsTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 14, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Pruning_drops_days_before_the_window_and_after_tomorrow()
    {
        var now = _time.GetUtcNow();
        var aggregate = new UsageAggregate();
        foreach (var day in new[] { "2026-10-04", "2026-10-05", "2026-11-14", "2026-11-15", "2026-11-16", "2099-01-01" })
        {
            aggregate.CostDaily[day] = new Dictionary<string, decimal>(StringComparer.Ordinal) { ["payments|checkout"] = 1m };
            aggregate.BudgetDaily[day] = new Dictionary<string, decimal>(StringComparer.Ordinal) { ["b||usd"] = 1m };
        }

        aggregate.Prune(now, keep: 40);

        Assert.Equal(["2026-10-05", "2026-11-14", "2026-11-15"], aggregate.CostDaily.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["2026-10-05", "2026-11-14", "2026-11-15"], aggregate.BudgetDaily.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Spend_dated_after_today_does_not_move_the_month_end_forecast()
    {
        var now = _time.GetUtcNow();
        var history = new UsageAggregate();
        for (var back = 0; back <= 7; back++)
        {
            history.CostDaily[UsageAggregate.Day(now.AddDays(-back))] = new Dictionary<string, decimal>(StringComparer.Ordinal) { ["payments|checkout"] = 10m };
        }

        var before = Forecast(history, now);
        history.CostDaily[UsageAggregate.Day(now.AddDays(1))] = new Dictionary<string, decimal>(StringComparer.Ordinal) { ["payments|checkout"] = 500_000m, ["future|only"] = 500_000m };
        var after = Forecast(history, now);

        Assert.True(before.Sum("tollgate_cost_forecast_usd", ("team", "payments")) > 0);
        Assert.Equal(before.Sum("tollgate_cost_forecast_usd", ("team", "payments")), after.Sum("tollgate_cost_forecast_usd", ("team", "payments")));
        Assert.False(after.Has("tollgate_cost_forecast_usd", ("team", "future")));
    }

    private static MetricsScrape Forecast(UsageAggregate history, DateTimeOffset now)
    {
        var output = new StringBuilder();
        BudgetSeriesWriter.Write([], [], history, now, output, 1000);
        return new MetricsScrape(output.ToString());
    }
}
