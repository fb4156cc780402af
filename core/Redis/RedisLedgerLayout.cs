using System.Globalization;
using StackExchange.Redis;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Redis;

/// <summary>
/// Where the ledger's keys are under a key prefix and how its scripts take a charge: shared by <see cref="RedisLedger"/>
/// and the usage writer, which settles in the same script as it appends events and must write exactly what a settle would.
/// </summary>
internal sealed class RedisLedgerLayout(RedisLedgerOptions options)
{
    private static readonly TimeSpan MinimumCounterTtl = TimeSpan.FromSeconds(1);

    /// <summary>The sorted set of reservations by lease deadline.</summary>
    public RedisKey LeasesKey { get; } = options.KeyPrefix + "leases";

    /// <summary>The sorted set of counters by period end.</summary>
    public RedisKey IndexKey { get; } = options.KeyPrefix + "index";

    /// <summary>How long a settled marker is kept (ms), as the settle script takes it.</summary>
    public long SettledRetentionMs => Ttl(options.SettledRetention);

    public RedisKey ReservationKey(string requestId) => options.KeyPrefix + "r:" + requestId;

    public RedisKey SettledKey(string requestId) => options.KeyPrefix + "s:" + requestId;

    public RedisKey CounterKey(LedgerCharge charge) =>
        string.Create(CultureInfo.InvariantCulture, $"{options.KeyPrefix}c:{RedisLedger.EscapeKeyPart(charge.Budget)}:{RedisLedger.EscapeKeyPart(charge.Scope)}:{charge.Window.Start.ToUnixTimeSeconds()}");

    /// <summary>
    /// Checks a settle's amounts and fills in what the settle script takes per charge: its counter key, and its actual
    /// amount, budget, scope, period start, period end and counter TTL (six values). Nothing is written when an amount is refused.
    /// </summary>
    /// <exception cref="LedgerAmountException">An amount is not recordable.</exception>
    public void AddSettleArguments(IReadOnlyList<LedgerCharge> charges, IReadOnlyList<decimal> actual, DateTimeOffset now, Span<RedisKey> counters, Span<RedisValue> values)
    {
        LedgerAmounts.CheckActuals(actual, charges);
        var amounts = new long[charges.Count];
        for (var i = 0; i < charges.Count; i++)
        {
            amounts[i] = RedisLedger.ToMicroUnits(actual[i], "actual amount", charges[i].Budget);
        }

        for (var i = 0; i < charges.Count; i++)
        {
            counters[i] = CounterKey(charges[i]);
            values[6 * i] = Text(amounts[i]);
            SetCounterFields(values, (6 * i) + 1, charges[i], now);
        }
    }

    /// <summary>Budget, scope, period start and end, and TTL: what a script needs to create the counter.</summary>
    public void SetCounterFields(Span<RedisValue> values, int at, LedgerCharge charge, DateTimeOffset now)
    {
        values[at] = charge.Budget;
        values[at + 1] = charge.Scope;
        values[at + 2] = charge.Window.Start.ToUnixTimeSeconds();
        values[at + 3] = charge.Window.End.ToUnixTimeSeconds();

        // Relative to the ledger's clock (see RedisLedger's remarks); a counter of a period long gone lives a moment, not forever.
        var ttl = charge.Window.End + options.CounterGrace - now;
        values[at + 4] = Ttl(ttl < MinimumCounterTtl ? MinimumCounterTtl : ttl);
    }

    public static string Text(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A PEXPIRE argument: whole milliseconds, as a long (a month and more overflow an int).</summary>
    public static long Ttl(TimeSpan value) => (long)Math.Ceiling(value.TotalMilliseconds);
}
