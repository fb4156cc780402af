using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;
using Tollgate.Meter.Policy;

namespace Tollgate.Meter.Metering;

/// <summary>
/// Publishes the budget gauges at scrape time from the ledger's counters and the current policy, removing series of
/// budgets or scopes that no longer exist so dashboards do not show ghosts.
/// A budget's scopes are capped at <c>--max-label-values</c> like a client-supplied label (<see cref="GaugeScopes"/>).
/// </summary>
internal sealed class BudgetGauges(MeterMetrics metrics, IBudgetLedger ledger, PolicyProvider policy, DailySpendHistory history, MeterOptions options, TimeProvider time)
{
    private readonly Lock _gate = new();
    private HashSet<(string, string, string, string)> _published = [];

    public async Task UpdateAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        metrics.LedgerReady.Set(ledger.IsReady ? 1 : 0);
        IReadOnlyList<CounterSnapshot> counters;
        try
        {
            counters = await ledger.SnapshotAsync(now, cancellationToken);
        }
        catch (LedgerUnavailableException)
        {
            // Keep the last published values: a scrape during an outage must not read as budgets reset to zero.
            return;
        }

        var byBudget = counters.ToLookup(c => c.Budget, StringComparer.Ordinal);
        var seen = new HashSet<(string, string, string, string)>();
        foreach (var budget in policy.Current.Budgets)
        {
            var window = PeriodWindow.Containing(budget.Period, now);
            var current = byBudget[budget.Name].Where(c => c.Window.Start == window.Start).ToList();
            foreach (var counter in GaugeScopes.Select(current, options.MaxLabelValues))
            {
                Publish(budget, counter.Scope, counter.Spent, window, now, seen);
            }

            if (current.Count == 0 && budget.AppliesPer.Count == 0)
            {
                Publish(budget, string.Empty, 0, window, now, seen);
            }
        }

        lock (_gate)
        {
            foreach (var stale in _published.Except(seen))
            {
                string[] labels = [stale.Item1, stale.Item2, stale.Item3, stale.Item4];
                metrics.BudgetLimit.RemoveLabelled(labels);
                metrics.BudgetSpent.RemoveLabelled(labels);
                metrics.BudgetUsedRatio.RemoveLabelled(labels);
                metrics.BudgetForecast.RemoveLabelled(labels);
            }

            _published = seen;
        }
    }

    private void Publish(CompiledBudget budget, string scope, decimal spent, PeriodWindow window, DateTimeOffset now, HashSet<(string, string, string, string)> seen)
    {
        var key = (budget.Name, scope, budget.UnitName, budget.PeriodName);
        seen.Add(key);
        var forecast = SpendForecast.Project(spent, history.LastDays(budget.Name, scope, now), window, now);
        metrics.BudgetLimit.WithLabels(key.Name, scope, key.UnitName, key.PeriodName).Set((double)budget.Limit);
        metrics.BudgetSpent.WithLabels(key.Name, scope, key.UnitName, key.PeriodName).Set((double)spent);
        metrics.BudgetUsedRatio.WithLabels(key.Name, scope, key.UnitName, key.PeriodName).Set((double)(spent / budget.Limit));
        metrics.BudgetForecast.WithLabels(key.Name, scope, key.UnitName, key.PeriodName).Set((double)forecast);
    }
}
