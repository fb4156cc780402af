namespace Tollgate.Exporter.Budgets;

/// <summary>The budget gauges of one budget scope.</summary>
/// <param name="Labels">budget, scope, unit and period, in the order of <see cref="Core.Metrics.MetricContract.BudgetLimit"/>'s labels.</param>
internal sealed record BudgetGaugeRow(string[] Labels, decimal Limit, decimal Spent, decimal Forecast);
