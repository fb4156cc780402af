using System.Globalization;

namespace Tollgate.Core.Ledger;

/// <summary>
/// The amounts a ledger records, shared by every ledger so they refuse exactly the same values. One reservation or
/// settlement per charge is an amount from 0 to <see cref="Maximum"/>, in the budget's unit (dollars or tokens).
/// </summary>
/// <remarks>
/// NOTE: it may seem wiser to let the embedded ledger, whose decimals reach 7.9e28, take larger amounts than Redis.
/// HOWEVER the two must admit a request identically (see <see cref="BudgetDecision"/>), and no real request comes near
/// nine billion dollars or tokens: an amount that large is a wrapped or forged number, never spend to record.
/// </remarks>
public static class LedgerAmounts
{
    /// <summary>
    /// 2^53 micro-units (9,007,199,254.740992): the Redis ledger stores integer millionths and its Lua scripts compare
    /// doubles, which are exact only up to 2^53.
    /// </summary>
    public const decimal Maximum = 9_007_199_254.740992m;

    /// <summary>
    /// 2^62 micro-units (4,611,686,018,427.387904): the most a counter's spend or reservations hold, half of what a Redis
    /// int64 field takes, so no sum can wrap. Spend beyond it stays at it (the budget is closed either way); a reservation
    /// that would pass it is refused.
    /// </summary>
    public const decimal CounterCeiling = 4_611_686_018_427.387904m;

    /// <summary>Adds spend to a counter, staying at <see cref="CounterCeiling"/> rather than passing it.</summary>
    public static decimal AddSpend(decimal counter, decimal amount) =>
        amount > CounterCeiling - counter ? CounterCeiling : counter + amount;

    /// <summary>True for an amount a ledger records: not negative and at most <see cref="Maximum"/>.</summary>
    public static bool IsRecordable(decimal amount) => amount >= 0 && amount <= Maximum;

    /// <summary>Throws unless <paramref name="amount"/> is recordable.</summary>
    /// <param name="what">"estimate" or "actual amount", for the message.</param>
    /// <exception cref="LedgerAmountException">The amount is negative or larger than <see cref="Maximum"/>.</exception>
    public static void Check(decimal amount, string what, string budget)
    {
        if (!IsRecordable(amount))
        {
            throw new LedgerAmountException(budget, amount, what);
        }
    }

    /// <summary>Checks every charge's estimate before anything is recorded, so a refusal changes nothing.</summary>
    /// <exception cref="LedgerAmountException">An estimate is not recordable.</exception>
    public static void CheckEstimates(IReadOnlyList<LedgerCharge> charges)
    {
        for (var i = 0; i < charges.Count; i++)
        {
            Check(charges[i].Estimate, "estimate", charges[i].Budget);
        }
    }

    /// <summary>Checks every actual amount before anything is recorded; <paramref name="charges"/> names the budgets when known.</summary>
    /// <exception cref="LedgerAmountException">An amount is not recordable.</exception>
    public static void CheckActuals(IReadOnlyList<decimal> actual, IReadOnlyList<LedgerCharge>? charges = null)
    {
        for (var i = 0; i < actual.Count; i++)
        {
            Check(actual[i], "actual amount", charges is not null && i < charges.Count ? charges[i].Budget : $"#{i.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    /// <summary>
    /// An actual amount as a ledger can take it: above <see cref="Maximum"/> it is <see cref="Maximum"/>, so usage too
    /// large to record still closes every budget it is charged to instead of being refused and lost.
    /// </summary>
    public static decimal SaturateActual(decimal amount) => amount > Maximum ? Maximum : amount;
}
