
namespace Tollgate.Core.Ledger;

/// <summary>A counter as reported to gauges and status.</summary>
public sealed record CounterSnapshot(string Budget, string Scope, PeriodWindow Window, decimal Spent, decimal Reserved);
