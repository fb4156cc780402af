using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;
using Xunit.Abstractions;

namespace Tollgate.Core.Tests.Budgets;

public sealed class SpendForecastTests(ITestOutputHelper output)
{
    private static readonly PeriodWindow November = PeriodWindow.Containing(BudgetPeriod.Month, new DateTimeOffset(2026, 11, 10, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Percentile_interpolates_between_order_statistics()
    {
        Assert.Equal(10m, SpendForecast.Percentile([10m], 0.95));
        Assert.Equal(8.8, (double)SpendForecast.Percentile([1m, 10m, 4m, 2m, 3m, 5m, 6m], 0.95), 9);
        Assert.Equal(3m, SpendForecast.Percentile([5m, 1m, 3m], 0.5));
    }

    [Fact]
    public void Forecast_is_spent_plus_p95_of_the_last_seven_days_per_day_left()
    {
        var now = new DateTimeOffset(2026, 11, 21, 0, 0, 0, TimeSpan.Zero); // 10 full days left in November
        decimal[] days = [100m, 1m, 2m, 3m, 4m, 5m, 6m, 7m];                 // the 100 is eight days ago: out of the window

        var forecast = SpendForecast.Project(50m, days, November, now);

        Assert.Equal(50m + (SpendForecast.Percentile([1m, 2m, 3m, 4m, 5m, 6m, 7m], 0.95) * 10m), forecast);
    }

    [Fact]
    public void Without_history_the_forecast_is_the_periods_run_rate_after_an_hour()
    {
        Assert.Equal(5m, SpendForecast.Project(5m, [], November, November.Start.AddMinutes(30)));
        Assert.Equal(300m, SpendForecast.Project(10m, [], November, November.Start.AddDays(1)));
    }

    [Fact]
    public void On_a_bursty_series_p95_under_forecasts_less_often_than_the_trailing_mean()
    {
        // Synthetic CI spend: quiet weekdays (~$20), near-idle weekends, and a burst day (~$150) one day in eight.
        var random = new Random(42);
        var daily = Enumerable.Range(0, 120).Select(day =>
            day % 7 is 5 or 6 ? 2m : random.NextDouble() < 0.125 ? 150m + random.Next(0, 50) : 15m + random.Next(0, 10)).ToArray();

        // For every day, forecast the next 7 days' spend from the 7 before, with P95 and with the mean.
        int p95Under = 0, meanUnder = 0, samples = 0;
        decimal p95Error = 0, meanError = 0;
        for (var day = 7; day + 7 <= daily.Length; day++)
        {
            var history = daily[(day - 7)..day];
            var actual = daily[day..(day + 7)].Sum();
            var p95 = SpendForecast.Percentile(history, SpendForecast.Quantile) * 7;
            var mean = history.Average() * 7;
            p95Under += p95 < actual ? 1 : 0;
            meanUnder += mean < actual ? 1 : 0;
            p95Error += Math.Abs(p95 - actual) / actual;
            meanError += Math.Abs(mean - actual) / actual;
            samples++;
        }

        output.WriteLine($"{samples} weekly forecasts: P95 under-forecast {p95Under} times ({100.0 * p95Under / samples:0}%), mean {meanUnder} times ({100.0 * meanUnder / samples:0}%); " +
            $"mean absolute error P95 {100 * p95Error / samples:0}%, trailing mean {100 * meanError / samples:0}%");
        // The price: on quiet weeks P95 forecasts several times the spend (see the error printed above and in the README).
        Assert.True(p95Under * 3 < meanUnder * 2, $"P95 under-forecast {p95Under} times, the mean {meanUnder} times");
    }
}
