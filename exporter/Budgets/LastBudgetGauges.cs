namespace Tollgate.Exporter.Budgets;

/// <summary>
/// The budget gauges of the last scrape that reached the ledger, published again while it cannot be reached, as the
/// meter keeps its own. Within a period spend only grows, so the last value is still a floor of the truth; series that
/// vanished instead would resolve a firing threshold alert after its keep_firing_for, fire it again when the ledger
/// returns (a second notification in the same period), and restart the 30-minute pending time of the forecast alert.
/// The outage itself is told by <c>tollgate_ledger_ready 0</c> and its alert, not by missing gauges.
/// </summary>
internal sealed class LastBudgetGauges
{
    private IReadOnlyList<BudgetGaugeRow> _rows = [];

    public IReadOnlyList<BudgetGaugeRow> Rows
    {
        get => Volatile.Read(ref _rows);
        set => Volatile.Write(ref _rows, value);
    }
}
