namespace Tollgate.Core.Ledger;

/// <summary>A counter's settled spend and the estimates reserved by requests still in flight.</summary>
public readonly record struct CounterState(decimal Spent, decimal Reserved)
{
    public decimal Committed => Spent + Reserved;
}
