using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Redis;

/// <summary>
/// A ledger shared by every meter replica, kept in Redis. Reserve, settle and reclaim are each one Lua script, so each
/// is atomic across all of a request's counters and costs one round trip; the decision is <see cref="BudgetDecision"/>'s,
/// so a request is admitted exactly as the embedded ledger would admit it.
/// </summary>
/// <remarks>
/// <para>
/// Keys, all under <see cref="RedisLedgerOptions.KeyPrefix"/> <c>P</c>:
/// <c>P c:{budget}:{scope}:{periodStartUnixSeconds}</c> a counter (hash; ':' and '%' in names are percent-escaped),
/// <c>P r:{requestId}</c> a reservation (hash), <c>P s:{requestId}</c> a settled marker (string),
/// <c>P leases</c> reservations by lease deadline (sorted set) and <c>P index</c> counters by period end (sorted set,
/// so a snapshot needs no SCAN). Amounts are integer micro-units (amount × 10^6, rounded half away from zero), each
/// within <see cref="LedgerAmounts"/>'s range, checked before anything is sent; a counter's spend stops at
/// <see cref="LedgerAmounts.CounterCeiling"/> and a reservation that would pass it is refused inside the script, before
/// its first write, so int64 never overflows and no script fails halfway.
/// </para>
/// <para>
/// NOTE: one hash tag in the prefix puts the whole ledger in one Redis Cluster slot, so one shard carries all of its
/// traffic. That is what lets a single script touch every counter of a request atomically, and it is cheap enough:
/// a request costs the ledger two short scripts. Ledgers that must scale further use several prefixes.
/// </para>
/// <para>
/// A meter killed mid-stream never settles, so every reservation carries a lease (<see cref="RedisLedgerOptions.LeaseDuration"/>).
/// <see cref="ReclaimExpiredAsync"/>, which the ledger runs every <see cref="RedisLedgerOptions.ReclaimInterval"/>, turns
/// the estimates of expired leases into spend: what the crashed request cost is unknown, it most likely consumed tokens,
/// and spend is never assumed free (the embedded ledger does the same with an unsettled reservation after a crash). A
/// settle that still arrives (a spool replay) replaces the charged estimate with the actual amount, once.
/// </para>
/// <para>
/// Deadlines and expiries come from the ledger's <see cref="TimeProvider"/>, not the Redis server's clock: lease deadlines
/// are sorted-set scores compared with the caller's now, and counters expire after a relative TTL. Replicas whose clocks
/// disagree by less than the lease duration therefore agree on every outcome but the exact moment a lease runs out.
/// </para>
/// <para>
/// A Redis that is down, slow (<see cref="RedisLedgerOptions.OperationTimeout"/>) or loading its data set makes reserve,
/// settle and snapshot throw <see cref="LedgerUnavailableException"/> at once instead of queueing commands, so each
/// budget's failure policy decides; the <see cref="RedisConnection"/> heals in the background and <see cref="IsReady"/> tells when.
/// The ledger runs on a connection it is given and does not close it: the usage stream and rate limiter share it.
/// </para>
/// </remarks>
public sealed class RedisLedger : IBudgetLedger
{
    /// <summary>Amounts are stored as integer millionths of a unit (dollar or token).</summary>
    private const decimal MicroUnitsPerUnit = 1_000_000m;

    /// <summary>Lua numbers are doubles, so comparisons in the scripts are exact only below 2^53 micro-units (about 9 billion units).</summary>
    private const long MaxExactMicroUnits = 1L << 53;

    // Redis runs one script at a time, so a backlog of expired leases (after an outage) is worked off in slices.
    private const int ReclaimBatch = 500;

    // Most reserves in one script call: a few hundred microseconds of Redis time at most.
    private const int MaxReserveBatch = 64;

    private readonly RedisConnection _connection;
    private readonly RedisLedgerOptions _options;
    private readonly RedisLedgerLayout _layout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ITimer _reclaimTimer;
    private readonly GroupCommit<ReserveCall, RedisResult> _reserves;
    private readonly CancellationTokenSource _disposing = new();
    private Task _reclaimRun = Task.CompletedTask;
    private int _reclaiming;
    private int _disposed;

    /// <summary>A ledger on <paramref name="connection"/>, under its key prefix; reclaims in the background when its access is read-write.</summary>
    public RedisLedger(RedisConnection connection, TimeProvider time, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(time);
        _connection = connection;
        _options = connection.Options;
        _layout = new RedisLedgerLayout(_options);
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        _reserves = new GroupCommit<ReserveCall, RedisResult>(ReserveBatchAsync, MaxReserveBatch);
        // Only meters reclaim: the exporter's and operator's users may not write, and one reclaimer per meter is plenty.
        var reclaim = _options.Access == RedisLedgerAccess.ReadWrite ? _options.ReclaimInterval : Timeout.InfiniteTimeSpan;
        _reclaimTimer = time.CreateTimer(static state => ((RedisLedger)state!).StartReclaim(), this, reclaim, reclaim);
    }

    public string Name => "redis";

    /// <summary>
    /// True while the connection to Redis is up and the server let its user do what its <see cref="RedisLedgerOptions.Access"/>
    /// needs (see <see cref="RedisConnection.IsReady"/>).
    /// </summary>
    public bool IsReady => _connection.IsReady;

    /// <summary>Script calls that carried reserves since start, each for one to 64 requests.</summary>
    internal long ReserveWrites => _reserves.Writes;

    /// <summary>
    /// Decides with <see cref="BudgetDecision"/> and, when allowed, reserves every estimate and takes a lease, atomically.
    /// A retried call with the same request id reserves nothing more.
    /// </summary>
    /// <remarks>If cancelled after sending, the reservation may still be made; its lease then expires and is reclaimed.</remarks>
    /// <exception cref="LedgerAmountException">An estimate is not recordable or would pass the counter ceiling; nothing is reserved.</exception>
    public async ValueTask<ReserveResult> ReserveAsync(string requestId, IReadOnlyList<LedgerCharge> charges, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        ArgumentNullException.ThrowIfNull(charges);
        if (charges.Count == 0)
        {
            return new ReserveResult(-1, []);
        }

        LedgerAmounts.CheckEstimates(charges);
        var now = _time.GetUtcNow();
        var keys = new RedisKey[2 + charges.Count];
        keys[0] = _layout.ReservationKey(requestId);
        keys[1] = _layout.SettledKey(requestId);
        var values = new RedisValue[4 + (8 * charges.Count)];
        values[0] = charges.Count;
        values[1] = requestId;
        values[2] = (now + _options.LeaseDuration).ToUnixTimeMilliseconds();
        values[3] = RedisLedgerLayout.Ttl(_options.LeaseDuration + _options.SettledRetention);
        for (var i = 0; i < charges.Count; i++)
        {
            var charge = charges[i];
            keys[2 + i] = _layout.CounterKey(charge);
            var a = 4 + (8 * i);
            values[a] = RedisLedgerLayout.Text(LimitInMicroUnits(charge.Limit));
            values[a + 1] = RedisLedgerLayout.Text(ToMicroUnits(charge.Estimate, "estimate", charge.Budget));
            values[a + 2] = !charge.CanBlock ? 0 : charge.HardCap ? 2 : 1;
            _layout.SetCounterFields(values, a + 3, charge, now);
        }

        // Reserves of concurrent requests share one script call (see GroupCommit); each is decided as if alone.
        cancellationToken.ThrowIfCancellationRequested();
        var reply = (RedisResult[])(await _reserves.SubmitAsync(new ReserveCall(keys, values)).WaitAsync(cancellationToken))!;
        if ((int)reply[0] == -3)
        {
            var refused = charges[(int)reply[1]];
            throw new LedgerAmountException(refused.Budget, refused.Estimate, "estimate",
                $"the counter's reservations would pass {LedgerAmounts.CounterCeiling}");
        }

        var states = new CounterState[charges.Count];
        for (var i = 0; i < states.Length; i++)
        {
            states[i] = new CounterState(FromMicroUnits((long)reply[1 + (2 * i)]), FromMicroUnits((long)reply[2 + (2 * i)]));
        }

        return new ReserveResult((int)reply[0], states);
    }

    /// <summary>
    /// Settles with the request's charges, with or without a reservation: for replaying a spool of actual usage. Adds
    /// each actual amount to its charge's counter (creating it if need be) and releases any reservation still held under
    /// <paramref name="requestId"/>. Idempotent with every other settle of the same request id.
    /// </summary>
    /// <exception cref="ArgumentException">The counts of charges and amounts differ.</exception>
    /// <exception cref="LedgerAmountException">An amount is not recordable; nothing is recorded.</exception>
    public async ValueTask SettleAsync(string requestId, IReadOnlyList<LedgerCharge> charges, IReadOnlyList<decimal> actual, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        ArgumentNullException.ThrowIfNull(charges);
        ArgumentNullException.ThrowIfNull(actual);
        if (charges.Count != actual.Count)
        {
            throw new ArgumentException($"expected {charges.Count} amounts, got {actual.Count}", nameof(actual));
        }

        var keys = RequestKeys(requestId, charges.Count);
        var values = new RedisValue[2 + (6 * charges.Count)];
        values[0] = requestId;
        values[1] = _layout.SettledRetentionMs;
        _layout.AddSettleArguments(charges, actual, _time.GetUtcNow(), keys.AsSpan(4), values.AsSpan(2));
        await EvaluateAsync(RedisLedgerScripts.SettleCharges, keys, values, cancellationToken);
    }

    /// <summary>
    /// Charges the estimates of every reservation whose lease ran out at or before <paramref name="now"/> as spend, and
    /// forgets index entries of counters past their grace. The ledger calls this on its own timer.
    /// </summary>
    /// <returns>How many reservations were charged.</returns>
    public async Task<int> ReclaimExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        RedisKey[] keys = [_layout.LeasesKey, _layout.IndexKey];
        RedisValue[] values =
        [
            now.ToUnixTimeMilliseconds(),
            _options.KeyPrefix,
            _layout.SettledRetentionMs,
            ReclaimBatch,
            (now - _options.CounterGrace).ToUnixTimeSeconds(),
        ];
        var released = 0;
        while (true)
        {
            var reply = (RedisResult[])(await EvaluateAsync(RedisLedgerScripts.Reclaim, keys, values, cancellationToken))!;
            released += (int)reply[1];
            if ((int)reply[0] < ReclaimBatch)
            {
                return released;
            }
        }
    }

    public async ValueTask<IReadOnlyList<CounterSnapshot>> SnapshotAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var reply = (RedisResult[])(await EvaluateAsync(RedisLedgerScripts.Snapshot, [_layout.IndexKey], [now.ToUnixTimeSeconds()], cancellationToken))!;
        var counters = new List<CounterSnapshot>(reply.Length / 6);
        for (var i = 0; i + 5 < reply.Length; i += 6)
        {
            var window = new PeriodWindow(
                DateTimeOffset.FromUnixTimeSeconds((long)reply[i + 2]),
                DateTimeOffset.FromUnixTimeSeconds((long)reply[i + 3]));
            counters.Add(new CounterSnapshot(
                (string)reply[i]!, (string)reply[i + 1]!, window, FromMicroUnits((long)reply[i + 4]), FromMicroUnits((long)reply[i + 5])));
        }

        return counters;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _reclaimTimer.DisposeAsync();
        await _disposing.CancelAsync();
        await _reclaimRun;
        _disposing.Dispose();
    }

    /// <summary>An amount in integer micro-units, as the scripts store it.</summary>
    /// <exception cref="LedgerAmountException">The amount is negative or too large to compare exactly in Lua.</exception>
    internal static long ToMicroUnits(decimal amount, string what, string budget = "")
    {
        // Checked before multiplying: amount × 10^6 throws OverflowException for amounts beyond 7.9e22.
        LedgerAmounts.Check(amount, what, budget);
        return (long)decimal.Round(amount * MicroUnitsPerUnit, MidpointRounding.AwayFromZero);
    }

    internal static decimal FromMicroUnits(long micro) => micro / MicroUnitsPerUnit;

    /// <summary>':' separates key parts and '%' escapes, so budget and scope names cannot run into each other.</summary>
    internal static string EscapeKeyPart(string part) =>
        part.Replace("%", "%25", StringComparison.Ordinal).Replace(":", "%3A", StringComparison.Ordinal);

    private static long LimitInMicroUnits(decimal limit)
    {
        // A limit beyond what Lua compares exactly is, for any real spend, no limit; clamping beats refusing the request.
        var micro = decimal.Round(Math.Clamp(limit, -MaxExactMicroUnits / MicroUnitsPerUnit, MaxExactMicroUnits / MicroUnitsPerUnit) * MicroUnitsPerUnit, MidpointRounding.AwayFromZero);
        return (long)micro;
    }

    /// <summary>The keys the settle-charges script takes first (leases, reservation, marker, index), then room for one counter per charge.</summary>
    private RedisKey[] RequestKeys(string requestId, int counters)
    {
        var keys = new RedisKey[4 + counters];
        keys[0] = _layout.LeasesKey;
        keys[1] = _layout.ReservationKey(requestId);
        keys[2] = _layout.SettledKey(requestId);
        keys[3] = _layout.IndexKey;
        return keys;
    }

    private Task<RedisResult> EvaluateAsync(RedisScript script, RedisKey[] keys, RedisValue[] values, CancellationToken cancellationToken) =>
        _connection.Scripts.EvaluateAsync(script, keys, values, cancellationToken);

    private async Task<IReadOnlyList<RedisResult>> ReserveBatchAsync(IReadOnlyList<ReserveCall> calls)
    {
        var keys = new List<RedisKey>(2 + calls.Sum(c => c.Keys.Length)) { _layout.LeasesKey, _layout.IndexKey };
        var values = new List<RedisValue>(calls.Sum(c => c.Values.Length));
        foreach (var call in calls)
        {
            keys.AddRange(call.Keys);
            values.AddRange(call.Values);
        }

        // Not cancellable: the batch carries other requests' reserves; a caller that gives up stops waiting instead.
        var reply = (RedisResult[])(await EvaluateAsync(RedisLedgerScripts.ReserveMany, [.. keys], [.. values], CancellationToken.None))!;
        if (reply.Length != calls.Count)
        {
            throw new InvalidOperationException($"the reserve script answered {reply.Length} of {calls.Count} requests");
        }

        return reply;
    }

    private void StartReclaim()
    {
        // A run still going (a slow Redis) is not doubled up; the next tick tries again.
        if (Interlocked.Exchange(ref _reclaiming, 1) == 0)
        {
            _reclaimRun = ReclaimInBackgroundAsync();
        }
    }

    private async Task ReclaimInBackgroundAsync()
    {
        try
        {
            var released = await ReclaimExpiredAsync(_time.GetUtcNow(), _disposing.Token);
            if (released > 0)
            {
                RedisLedgerLog.Reclaimed(_logger, released);
            }
        }
        catch (LedgerUnavailableException ex)
        {
            // The lost connection is logged once as a warning; repeating it every tick adds nothing.
            RedisLedgerLog.ReclaimSkipped(_logger, ex.Message);
        }
        catch (OperationCanceledException) when (_disposing.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            RedisLedgerLog.ReclaimFailed(_logger, ex);
        }
        finally
        {
            Volatile.Write(ref _reclaiming, 0);
        }
    }
}
