using Tollgate.Core.Ledger;

namespace Tollgate.Core.Budgets;

/// <summary>
/// Which scopes of one budget get gauges. A budget that applies per repo (or team, user…) has a counter for every value
/// clients sent, so its gauges are capped like any client-supplied label: at most <c>max</c> scopes, the most spent
/// first. Within one budget every scope has the same limit, so these are the nearest to exhaustion, the ones an alert
/// must see. The ledger still keeps and enforces every scope; only their gauges are left out.
/// </summary>
public static class GaugeScopes
{
    public static IReadOnlyList<CounterSnapshot> Select(IReadOnlyList<CounterSnapshot> counters, int max) =>
        counters.Count <= max ? counters : [.. counters.OrderByDescending(c => c.Spent).ThenBy(c => c.Scope, StringComparer.Ordinal).Take(max)];
}
