using Tollgate.Core.Ledger;

namespace Tollgate.Core.Budgets;

/// <summary>
/// Projects spend to the end of a period: what is spent so far, plus the 95th percentile of the recent daily spend for
/// every day left. CI spend is bursty (a release week, an agent loop); a trailing mean sits below most of the days that
/// matter, so it warns late. P95 of the last <see cref="HistoryDays"/> days errs high on a quiet week and is right on a
/// busy one, which is the side a budget owner wants to err on.
/// </summary>
public static class SpendForecast
{
    public const int HistoryDays = 7;
    public const double Quantile = 0.95;

    /// <param name="spent">Spend of the period so far.</param>
    /// <param name="dailySpend">Spend of each of the last full days (oldest first; days without spend as 0), at most <see cref="HistoryDays"/> are used.</param>
    /// <param name="window">The period.</param>
    /// <param name="now">When the forecast is made.</param>
    public static decimal Project(decimal spent, IReadOnlyList<decimal> dailySpend, PeriodWindow window, DateTimeOffset now)
    {
        var daysLeft = (decimal)Math.Max(0, (window.End - now).TotalDays);
        if (dailySpend.Count == 0)
        {
            // No history yet (a new budget or a fresh exporter): the period's own run rate, once there is an hour of it.
            var elapsed = now - window.Start;
            return elapsed < TimeSpan.FromHours(1) ? spent : spent * (decimal)(window.Length / elapsed);
        }

        var recent = dailySpend.Count > HistoryDays ? dailySpend.Skip(dailySpend.Count - HistoryDays).ToList() : dailySpend;
        return spent + (Percentile(recent, Quantile) * daysLeft);
    }

    /// <summary>The <paramref name="quantile"/> of the values, interpolating linearly between order statistics.</summary>
    public static decimal Percentile(IReadOnlyList<decimal> values, double quantile)
    {
        if (values.Count == 0)
        {
            return 0m;
        }

        var sorted = values.Order().ToArray();
        var rank = quantile * (sorted.Length - 1);
        var lower = (int)Math.Floor(rank);
        var upper = (int)Math.Ceiling(rank);
        return sorted[lower] + ((sorted[upper] - sorted[lower]) * (decimal)(rank - lower));
    }
}
