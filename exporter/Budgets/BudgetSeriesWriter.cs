using System.Text;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;
using Tollgate.Core.Metrics;
using Tollgate.Core.Tagging;
using Tollgate.Exporter.Aggregation;

namespace Tollgate.Exporter.Budgets;

/// <summary>
/// The budget gauges (<c>tollgate_budget_limit</c>, <c>_spent</c>, <c>_used_ratio</c>, <c>_forecast</c>) for every budget
/// and scope of the policy, from the ledger's counters, and the month-end cost forecast by team and repo from the usage
/// history. Forecasts use <see cref="SpendForecast"/> (spent + P95 of the last seven days × days left). A budget's scopes
/// are capped at <c>--max-label-values</c>, the most spent first (<see cref="GaugeScopes"/>).
/// </summary>
internal static class BudgetSeriesWriter
{
    private static readonly string[] TeamLabels = [TagKeys.Team, TagKeys.Repo];

    /// <summary>The budget gauges and the cost forecast, from the ledger's counters of this scrape.</summary>
    /// <param name="maxScopes">The most scopes of one budget that get gauges (<see cref="GaugeScopes"/>).</param>
    public static void Write(IReadOnlyList<CompiledBudget> budgets, IReadOnlyList<CounterSnapshot> counters, UsageAggregate history, DateTimeOffset now, StringBuilder output,
        int maxScopes)
    {
        WriteGauges(Gauges(budgets, counters, history, now, maxScopes), output);
        WriteCostForecast(history, now, output);
    }

    /// <summary>The values of the budget gauges, one row per budget scope, ordered by budget then scope.</summary>
    public static IReadOnlyList<BudgetGaugeRow> Gauges(IReadOnlyList<CompiledBudget> budgets, IReadOnlyList<CounterSnapshot> counters, UsageAggregate history,
        DateTimeOffset now, int maxScopes)
    {
        var rows = new List<BudgetGaugeRow>();
        var byBudget = counters.ToLookup(c => c.Budget, StringComparer.Ordinal);
        foreach (var budget in budgets)
        {
            var window = PeriodWindow.Containing(budget.Period, now);
            var scopes = GaugeScopes.Select([.. byBudget[budget.Name].Where(c => c.Window.Start == window.Start)], maxScopes)
                .ToDictionary(c => c.Scope, c => c.Spent, StringComparer.Ordinal);
            if (scopes.Count == 0 && budget.AppliesPer.Count == 0)
            {
                scopes[string.Empty] = 0m;
            }

            foreach (var (scope, spent) in scopes.OrderBy(s => s.Key, StringComparer.Ordinal))
            {
                var daily = DailyHistory(history.BudgetDaily, $"{budget.Name}|{scope}|{budget.UnitName}", now);
                rows.Add(new BudgetGaugeRow([budget.Name, scope, budget.UnitName, budget.PeriodName], budget.Limit, spent, SpendForecast.Project(spent, daily, window, now)));
            }
        }

        return rows;
    }

    public static void WriteGauges(IReadOnlyList<BudgetGaugeRow> rows, StringBuilder output)
    {
        var writer = new ExpositionWriter(output);
        Family(MetricContract.BudgetLimit, r => r.Limit);
        Family(MetricContract.BudgetSpent, r => r.Spent);
        Family(MetricContract.BudgetUsedRatio, r => r.Spent / r.Limit);
        Family(MetricContract.BudgetForecast, r => r.Forecast);

        void Family(MetricFamily family, Func<BudgetGaugeRow, decimal> value)
        {
            writer.Family(family.Name, family.Type, family.Help);
            foreach (var row in rows)
            {
                writer.Sample(family.Name, family.Labels, row.Labels, (double)value(row));
            }
        }
    }

    /// <summary>Cost by team and repo, projected to the end of the calendar month: from the usage history alone, so it needs no ledger.</summary>
    public static void WriteCostForecast(UsageAggregate history, DateTimeOffset now, StringBuilder output)
    {
        var writer = new ExpositionWriter(output);
        var month = PeriodWindow.Containing(BudgetPeriod.Month, now);
        var today = UsageAggregate.Day(now);
        var keys = history.CostDaily.Where(d => string.CompareOrdinal(d.Key, today) <= 0).SelectMany(d => d.Value.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        writer.Family("tollgate_cost_forecast_usd", "gauge", "Cost projected to the end of the month by team and repo (month to date + P95 of the last 7 days × days left), in US dollars.");
        foreach (var key in keys)
        {
            // Up to today: an event dated ahead (clock skew, at most a day) is spend to come, not spend to project from.
            var monthToDate = history.CostDaily
                .Where(d => string.CompareOrdinal(d.Key, UsageAggregate.Day(month.Start)) >= 0 && string.CompareOrdinal(d.Key, today) <= 0)
                .Sum(d => d.Value.GetValueOrDefault(key));
            var forecast = SpendForecast.Project(monthToDate, DailyHistory(history.CostDaily, key, now), month, now);
            writer.Sample("tollgate_cost_forecast_usd", TeamLabels, key.Split('|', 2), (double)forecast);
        }
    }

    /// <summary>
    /// The last seven full days (today excluded), oldest first: those the history covers, a day it covers without spend
    /// for the key as 0. Empty when the history covers none of them (a new exporter), so the forecast uses the run rate.
    /// </summary>
    private static decimal[] DailyHistory(Dictionary<string, Dictionary<string, decimal>> table, string key, DateTimeOffset now) =>
        [.. Enumerable.Range(1, SpendForecast.HistoryDays).Reverse()
            .Select(back => UsageAggregate.Day(now.AddDays(-back)))
            .Where(table.ContainsKey)
            .Select(day => table[day].GetValueOrDefault(key))];
}
