namespace Tollgate.Core.Ledger;

/// <summary>Identifies one counter: a budget, a scope value and the start of a period.</summary>
public readonly record struct CounterKey(string Budget, string Scope, DateTimeOffset PeriodStart);
