using System.Globalization;

namespace Tollgate.Core.Ledger;

/// <summary>
/// A ledger refused an amount it cannot record (negative, or beyond <see cref="LedgerAmounts.Maximum"/>, or a counter
/// that would pass what the ledger holds) and changed nothing. It derives from <see cref="ArgumentOutOfRangeException"/>
/// because the amount is the caller's argument; it is never a budget decision and never a pass.
/// </summary>
public sealed class LedgerAmountException : ArgumentOutOfRangeException
{
    public LedgerAmountException(string budget, decimal amount, string what, string? reason = null)
        : base(nameof(amount), amount, Describe(budget, amount, what, reason))
    {
        Budget = budget;
        Amount = amount;
        What = what;
    }

    /// <summary>The budget whose charge carried the amount.</summary>
    public string Budget { get; }

    /// <summary>The refused amount, in the budget's unit.</summary>
    public decimal Amount { get; }

    /// <summary>"estimate" or "actual amount".</summary>
    public string What { get; }

    private static string Describe(string budget, decimal amount, string what, string? reason) =>
        string.Create(CultureInfo.InvariantCulture,
            $"The ledger refused the {what} {amount} for budget \"{budget}\": {reason ?? $"a ledger records amounts from 0 to {LedgerAmounts.Maximum}"}; nothing was recorded.");
}
