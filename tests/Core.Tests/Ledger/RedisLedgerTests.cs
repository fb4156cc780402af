using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.TestSupport;
using Xunit.Abstractions;

namespace Tollgate.Core.Tests.Ledger;

/// <summary>
/// The Redis ledger's own guarantees (idempotent settles, leases, expiry, failure and recovery, concurrency across
/// replicas) against a real redis-server. Every test writes under its own key prefix.
/// </summary>
public sealed class RedisLedgerTests(RedisServerFixture redis, ITestOutputHelper output) : IClassFixture<RedisServerFixture>, IAsyncLifetime
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 18, 12, 0, 0, TimeSpan.Zero);
    private static readonly PeriodWindow Today = PeriodWindow.Containing(BudgetPeriod.Day, Noon);
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(10);

    // No background reclaim unless a test asks for it (no test advances the clock this far): it would race the test's
    // own ReclaimExpiredAsync calls.
    private static readonly TimeSpan Never = TimeSpan.FromDays(20);

    // The 1 s default is for production; a loaded two-core CI machine can starve the client's thread-pool completions
    // longer than that. Failing fast on a dead server does not depend on it: the closed socket fails commands at once.
    private static readonly TimeSpan Patient = TimeSpan.FromSeconds(5);

    private readonly FakeTimeProvider _time = new(Noon);
    private readonly string _prefix = $"tollgate:{{test-{Guid.NewGuid():N}}}:";
    private readonly List<OwnedRedisLedger> _ledgers = [];
    private ConnectionMultiplexer? _inspector;

    public async Task InitializeAsync()
    {
        // A test that failed between killing and restarting the server must not fail the rest of the class.
        if (!redis.IsRunning)
        {
            await redis.RestartAsync();
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var ledger in _ledgers)
        {
            await ledger.DisposeAsync();
        }

        if (_inspector is not null)
        {
            await _inspector.DisposeAsync();
        }
    }

    [Fact]
    public async Task Settling_twice_counts_once()
    {
        var ledger = await LedgerAsync();
        Assert.True((await ledger.ReserveAsync("a", [Charge("daily", 0.9m)], CancellationToken.None)).Allowed);

        await ledger.SettleAsync("a", [Charge("daily", 0.9m)], [0.4m], CancellationToken.None);
        await ledger.SettleAsync("a", [Charge("daily", 0.9m)], [0.4m], CancellationToken.None);

        var counter = Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None));
        Assert.Equal(0.4m, counter.Spent);
        Assert.Equal(0m, counter.Reserved);
        var db = await InspectAsync();
        Assert.Equal(0, await db.SortedSetLengthAsync(_prefix + "leases"));
        Assert.False(await db.KeyExistsAsync(_prefix + "r:a"));

        // Remembered for the replay window.
        var marker = await db.KeyTimeToLiveAsync(_prefix + "s:a");
        Assert.NotNull(marker);
        Assert.InRange(marker.Value, TimeSpan.FromDays(3) - TimeSpan.FromMinutes(1), TimeSpan.FromDays(3));
    }

    [Fact]
    public async Task Replayed_settle_without_reservation_counts_once()
    {
        var ledger = await LedgerAsync();
        LedgerCharge[] charges = [Charge("daily", 0.5m, scope: "checkout"), Charge("team", 0.5m)];

        await ledger.SettleAsync("spooled", charges, [0.25m, 0.25m], CancellationToken.None);
        await ledger.SettleAsync("spooled", charges, [0.25m, 0.25m], CancellationToken.None);
        await ledger.SettleAsync("spooled", charges, [0.25m, 0.25m], CancellationToken.None);

        var counters = await ledger.SnapshotAsync(Noon, CancellationToken.None);
        Assert.Equal(2, counters.Count);
        var daily = counters.Single(c => c.Budget == "daily");
        Assert.Equal(("checkout", Today, 0.25m, 0m), (daily.Scope, daily.Window, daily.Spent, daily.Reserved));
        var team = counters.Single(c => c.Budget == "team");
        Assert.Equal((string.Empty, Today, 0.25m, 0m), (team.Scope, team.Window, team.Spent, team.Reserved));
    }

    [Fact]
    public async Task Replayed_settle_releases_a_held_reservation()
    {
        var ledger = await LedgerAsync();
        await ledger.ReserveAsync("a", [Charge("daily", 0.9m)], CancellationToken.None);

        await ledger.SettleAsync("a", [Charge("daily", 0.9m)], [0.3m], CancellationToken.None);
        await ledger.SettleAsync("a", [Charge("daily", 0.9m)], [0.3m], CancellationToken.None);

        var counter = Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None));
        Assert.Equal((0.3m, 0m), (counter.Spent, counter.Reserved));
    }

    [Fact]
    public async Task Expired_lease_is_reclaimed_by_charging_its_estimate()
    {
        var ledger = await LedgerAsync();
        await ledger.ReserveAsync("crashed", [Charge("daily", 0.7m)], CancellationToken.None);

        Assert.Equal(0, await ledger.ReclaimExpiredAsync(Noon + Lease - TimeSpan.FromMilliseconds(1), CancellationToken.None));
        Assert.Equal(0.7m, Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None)).Reserved);

        _time.Advance(Lease);
        Assert.Equal(1, await ledger.ReclaimExpiredAsync(_time.GetUtcNow(), CancellationToken.None));
        Assert.Equal(0, await ledger.ReclaimExpiredAsync(_time.GetUtcNow(), CancellationToken.None));

        // The meter that held it died mid-request: the estimate is spend, never assumed free.
        var counter = Assert.Single(await ledger.SnapshotAsync(_time.GetUtcNow(), CancellationToken.None));
        Assert.Equal((0.7m, 0m), (counter.Spent, counter.Reserved));
        Assert.Equal(0, await (await InspectAsync()).SortedSetLengthAsync(_prefix + "leases"));
    }

    [Fact]
    public async Task Settle_after_reclaim_records_spend_exactly_once()
    {
        var ledger = await LedgerAsync();
        await ledger.ReserveAsync("slow", [Charge("daily", 0.7m), Charge("team", 0.7m)], CancellationToken.None);
        _time.Advance(Lease + TimeSpan.FromSeconds(1));
        Assert.Equal(1, await ledger.ReclaimExpiredAsync(_time.GetUtcNow(), CancellationToken.None));

        await ledger.SettleAsync("slow", [Charge("daily", 0.7m), Charge("team", 0.7m)], [0.3m, 0.2m], CancellationToken.None);
        await ledger.SettleAsync("slow", [Charge("daily", 0.7m), Charge("team", 0.7m)], [0.3m, 0.2m], CancellationToken.None);
        await ledger.SettleAsync("slow", [Charge("daily", 0.7m), Charge("team", 0.7m)], [0.3m, 0.2m], CancellationToken.None);
        Assert.Equal(0, await ledger.ReclaimExpiredAsync(_time.GetUtcNow(), CancellationToken.None));

        var counters = await ledger.SnapshotAsync(_time.GetUtcNow(), CancellationToken.None);
        Assert.Equal((0.3m, 0m), Amounts(counters.Single(c => c.Budget == "daily")));
        Assert.Equal((0.2m, 0m), Amounts(counters.Single(c => c.Budget == "team")));
        Assert.False(await (await InspectAsync()).KeyExistsAsync(_prefix + "r:slow"));
    }

    [Fact]
    public async Task Background_timer_reclaims_expired_leases()
    {
        // One tick, after the lease ran out: a tick while an earlier run is still in flight is skipped, and a fake clock
        // advanced past many ticks at once fires them all within microseconds.
        var ledger = await LedgerAsync(reclaimInterval: Lease + TimeSpan.FromMinutes(1));
        await ledger.ReserveAsync("crashed", [Charge("daily", 0.7m)], CancellationToken.None);

        _time.Advance(Lease + TimeSpan.FromMinutes(1));

        // The timer fired inside Advance; its script is a real round trip, so wait for its effect.
        await EventuallyAsync(
            async () => Assert.Single(await ledger.SnapshotAsync(_time.GetUtcNow(), CancellationToken.None)).Reserved == 0m,
            TimeSpan.FromSeconds(10),
            "the background reclaim charged the reservation");
        Assert.Equal(0.7m, Assert.Single(await ledger.SnapshotAsync(_time.GetUtcNow(), CancellationToken.None)).Spent);
    }

    [Fact]
    public async Task Past_period_counters_leave_the_snapshot_and_expire()
    {
        var ledger = await LedgerAsync();
        await ledger.ReserveAsync("yesterday", [Charge("daily", 0.5m)], CancellationToken.None);
        await ledger.SettleAsync("yesterday", [Charge("daily", 0.5m)], [0.5m], CancellationToken.None);

        _time.Advance(TimeSpan.FromDays(1));
        var tomorrow = PeriodWindow.Containing(BudgetPeriod.Day, _time.GetUtcNow());
        await ledger.ReserveAsync("today", [Charge("daily", 0.1m, window: tomorrow)], CancellationToken.None);

        var counter = Assert.Single(await ledger.SnapshotAsync(_time.GetUtcNow(), CancellationToken.None));
        Assert.Equal((tomorrow, 0m, 0.1m), (counter.Window, counter.Spent, counter.Reserved));

        // Seven days of grace after the period's end, as the ledger's clock saw it when the counter was created (Redis
        // counts the TTL down in real time, which this test's fake clock does not move).
        var key = string.Create(CultureInfo.InvariantCulture, $"{_prefix}c:daily::{Today.Start.ToUnixTimeSeconds()}");
        var ttl = await (await InspectAsync()).KeyTimeToLiveAsync(key);
        Assert.NotNull(ttl);
        Assert.True(ttl.Value > TimeSpan.Zero);
        var expected = Today.End + TimeSpan.FromDays(7) - Noon;
        Assert.InRange(ttl.Value, expected - TimeSpan.FromMinutes(1), expected);
    }

    [Fact]
    public async Task Killed_redis_fails_reserve_fast_and_the_ledger_recovers_after_restart()
    {
        var ledger = await LedgerAsync();
        Assert.True(ledger.IsReady);
        Assert.True((await ledger.ReserveAsync("before", [Charge("daily", 0.1m)], CancellationToken.None)).Allowed);

        await redis.KillAsync();
        try
        {
            var clock = Stopwatch.StartNew();
            await Assert.ThrowsAsync<LedgerUnavailableException>(async () =>
                await ledger.ReserveAsync("during", [Charge("daily", 0.1m)], CancellationToken.None));
            output.WriteLine($"reserve failed after {clock.ElapsedMilliseconds} ms");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"reserve took {clock.Elapsed} to fail");

            await EventuallyAsync(() => Task.FromResult(!ledger.IsReady), TimeSpan.FromSeconds(2), "IsReady turned false");
            await Assert.ThrowsAsync<LedgerUnavailableException>(async () =>
                await ledger.SettleAsync("before", [Charge("daily", 0.1m)], [0.1m], CancellationToken.None));
            await Assert.ThrowsAsync<LedgerUnavailableException>(async () =>
                await ledger.SnapshotAsync(Noon, CancellationToken.None));
        }
        finally
        {
            await redis.RestartAsync();
        }

        var restarted = Stopwatch.StartNew();
        await EventuallyAsync(() => Task.FromResult(ledger.IsReady), TimeSpan.FromSeconds(15), "IsReady turned true again");
        output.WriteLine($"ready again {restarted.ElapsedMilliseconds} ms after the restart");

        // The restarted server kept nothing (no persistence) and has no scripts cached: EVALSHA falls back to EVAL.
        var after = await ledger.ReserveAsync("after", [Charge("daily", 0.1m)], CancellationToken.None);
        Assert.True(after.Allowed);
        Assert.Equal(new CounterState(0m, 0m), Assert.Single(after.Counters));
        await ledger.SettleAsync("after", [Charge("daily", 0.1m)], [0.05m], CancellationToken.None);
        Assert.Equal(0.05m, Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None)).Spent);
    }

    [Fact]
    public async Task Unreachable_redis_starts_not_ready_and_reserve_fails_fast()
    {
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();

        var clock = Stopwatch.StartNew();
        await using var ledger = await OwnedRedisLedger.ConnectAsync(
            RedisLedgerOptions.FromUrl($"redis://127.0.0.1:{port}") with { KeyPrefix = _prefix, ReclaimInterval = Never },
            _time,
            CancellationToken.None);
        Assert.False(ledger.IsReady);
        await Assert.ThrowsAsync<LedgerUnavailableException>(async () =>
            await ledger.ReserveAsync("a", [Charge("daily", 0.1m)], CancellationToken.None));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"connect and reserve took {clock.Elapsed}");
    }

    [Fact]
    public async Task Flushed_script_cache_is_reloaded()
    {
        var ledger = await LedgerAsync();
        await ledger.ReserveAsync("a", [Charge("daily", 0.1m)], CancellationToken.None);

        await (await InspectAsync()).ExecuteAsync("SCRIPT", "FLUSH");

        await ledger.SettleAsync("a", [Charge("daily", 0.1m)], [0.1m], CancellationToken.None);
        Assert.Equal(0.1m, Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None)).Spent);
    }

    [Fact]
    public async Task Four_replicas_overshoot_a_small_budget_by_at_most_one_estimate()
    {
        const decimal Limit = 0.1m;
        const decimal Estimate = 0.003m;

        // Each request costs exactly its estimate, the most it may: settling then frees no headroom, so however the
        // requests interleave, exactly ceil(limit / estimate) of them fit.
        const decimal Actual = Estimate;
        const int Replicas = 4;
        const int PerReplica = 128;

        // Four ledgers, four multiplexers: as four meter replicas sharing one Redis.
        var ledgers = new OwnedRedisLedger[Replicas];
        for (var i = 0; i < Replicas; i++)
        {
            ledgers[i] = await LedgerAsync();
        }

        var outcomes = await Task.WhenAll(Enumerable.Range(0, Replicas * PerReplica).Select(async n =>
        {
            var ledger = ledgers[n % Replicas];
            var id = $"req-{n}";
            var result = await ledger.ReserveAsync(id, [Charge("tight", Estimate, limit: Limit)], CancellationToken.None);
            if (!result.Allowed)
            {
                return false;
            }

            await Task.Yield();
            await ledger.SettleAsync(id, [Charge("tight", Estimate, limit: Limit)], [Actual], CancellationToken.None);
            return true;
        }));

        var counter = Assert.Single(await ledgers[0].SnapshotAsync(Noon, CancellationToken.None));
        var allowed = outcomes.Count(o => o);
        var blocked = outcomes.Length - allowed;
        output.WriteLine($"allowed {allowed}, blocked {blocked}, settled {counter.Spent} of {Limit}, overshoot {counter.Spent - Limit}, one estimate {Estimate}");

        Assert.True(blocked > 0);
        Assert.Equal(0m, counter.Reserved);
        Assert.Equal(Actual * allowed, counter.Spent);

        // Admission needs only headroom and every actual is within its estimate, so the overshoot is at most one estimate
        // (BudgetEnforcementTests asserts the same bound through the meter) ...
        Assert.True(counter.Spent - Limit <= Estimate, $"overshoot {counter.Spent - Limit} exceeds one estimate {Estimate}");

        // ... and no request was blocked while there was headroom, nor let through without it.
        Assert.Equal((int)Math.Ceiling(Limit / Estimate), allowed);
    }

    [Fact]
    public async Task Reserve_results_match_the_embedded_ledger()
    {
        var redisLedger = await LedgerAsync();
        await using var embedded = EmbeddedLedger.InMemory(_time);
        LedgerCharge[] Charges(decimal estimate) =>
        [
            Charge("first", estimate, limit: 1m),
            Charge("audit", estimate, limit: 0.5m, canBlock: false),
            Charge("hard-cap", estimate, limit: 1.5m),
        ];

        async Task Both(Func<IBudgetLedger, ValueTask<ReserveResult>> reserve)
        {
            var expected = await reserve(embedded);
            var actual = await reserve(redisLedger);
            Assert.Equal(expected.BlockingIndex, actual.BlockingIndex);
            Assert.Equal(expected.Counters, actual.Counters);
        }

        async Task Settle(string id, IReadOnlyList<LedgerCharge> charges, params decimal[] amounts)
        {
            await embedded.SettleAsync(id, charges, amounts, CancellationToken.None);
            await redisLedger.SettleAsync(id, charges, amounts, CancellationToken.None);
        }

        await Both(l => l.ReserveAsync("r1", Charges(0.6m), CancellationToken.None));
        await Both(l => l.ReserveAsync("r2", Charges(0.6m), CancellationToken.None));
        await Both(l => l.ReserveAsync("r3", Charges(0.6m), CancellationToken.None)); // first has no headroom: blocked at 0
        await Both(l => l.ReserveAsync("r2", Charges(0.6m), CancellationToken.None)); // a retry: still blocked at 0
        await Settle("r1", Charges(0.6m), 0.1m, 0.1m, 0.1m);
        await Both(l => l.ReserveAsync("r2", Charges(0.6m), CancellationToken.None)); // a retry with headroom: allowed, not reserved twice
        await Both(l => l.ReserveAsync("r4", Charges(0.2m), CancellationToken.None));
        await Settle("r2", Charges(0.6m), 0.9m, 0.9m, 0.9m);
        await Settle("r4", Charges(0.2m), 0.5m, 0.5m, 0.5m);
        await Both(l => l.ReserveAsync("r5", Charges(0.1m), CancellationToken.None)); // first exhausted: blocked at 0
        await Both(l => l.ReserveAsync("r6", [Charge("first", 0.1m, limit: 10m), Charge("hard-cap", 0.1m, limit: 1.5m)], CancellationToken.None));

        var expectedCounters = (await embedded.SnapshotAsync(Noon, CancellationToken.None)).OrderBy(c => c.Budget, StringComparer.Ordinal);
        var actualCounters = (await redisLedger.SnapshotAsync(Noon, CancellationToken.None)).OrderBy(c => c.Budget, StringComparer.Ordinal);
        Assert.Equal(expectedCounters, actualCounters);
    }

    [Fact]
    public async Task Retried_reserve_with_the_same_request_id_reserves_once()
    {
        var ledger = await LedgerAsync();
        await ledger.ReserveAsync("a", [Charge("daily", 0.4m)], CancellationToken.None);
        var retry = await ledger.ReserveAsync("a", [Charge("daily", 0.4m)], CancellationToken.None);

        Assert.True(retry.Allowed);
        Assert.Equal(new CounterState(0m, 0.4m), Assert.Single(retry.Counters));
        Assert.Equal(0.4m, Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None)).Reserved);
    }

    [Fact]
    public async Task Settle_with_a_different_count_of_amounts_throws_and_keeps_the_reservation()
    {
        var ledger = await LedgerAsync();
        await ledger.ReserveAsync("a", [Charge("daily", 0.4m)], CancellationToken.None);

        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await ledger.SettleAsync("a", [Charge("daily", 0.4m)], [0.1m, 0.2m], CancellationToken.None));
        Assert.Contains("expected 1 amounts, got 2", error.Message, StringComparison.Ordinal);
        Assert.Equal((0m, 0.4m), Amounts(Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None))));

        await ledger.SettleAsync("a", [Charge("daily", 0.4m)], [0.1m], CancellationToken.None);
        Assert.Equal((0.1m, 0m), Amounts(Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None))));
    }

    [Fact]
    public async Task Budget_and_scope_names_with_colons_keep_separate_counters()
    {
        var ledger = await LedgerAsync();
        await ledger.SettleAsync("a", [Charge("a:x", 0m, scope: "y"), Charge("a", 0m, scope: "x:y"), Charge("a", 0m, scope: "x%3Ay")], [1m, 2m, 3m], CancellationToken.None);

        var counters = (await ledger.SnapshotAsync(Noon, CancellationToken.None)).ToDictionary(c => (c.Budget, c.Scope), c => c.Spent);
        Assert.Equal(3, counters.Count);
        Assert.Equal(1m, counters[("a:x", "y")]);
        Assert.Equal(2m, counters[("a", "x:y")]);
        Assert.Equal(3m, counters[("a", "x%3Ay")]);
    }

    [Fact]
    public async Task Repeated_amounts_add_up_exactly()
    {
        var ledger = await LedgerAsync();
        for (var i = 0; i < 10; i++)
        {
            await ledger.SettleAsync($"r{i}", [Charge("daily", 0m)], [0.1m], CancellationToken.None);
        }

        Assert.Equal(1.0m, Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None)).Spent);
    }

    [Theory]
    [InlineData("0.0000005", 1)]
    [InlineData("0.00000049", 0)]
    [InlineData("1.5", 1_500_000)]
    [InlineData("1000000", 1_000_000_000_000)]
    public void Amounts_are_stored_in_micro_units_rounded_half_away_from_zero(string amount, long micro) =>
        Assert.Equal(micro, RedisLedger.ToMicroUnits(decimal.Parse(amount, CultureInfo.InvariantCulture), "amount"));

    [Theory]
    [InlineData("-0.01")]
    [InlineData("9007199255")]
    [InlineData("1e27")]
    public void Amounts_out_of_the_exact_range_are_refused(string amount) =>
        Assert.Throws<LedgerAmountException>(() => RedisLedger.ToMicroUnits(decimal.Parse(amount, NumberStyles.Float, CultureInfo.InvariantCulture), "amount"));

    [Fact]
    public async Task Key_prefix_without_a_hash_tag_is_refused()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => OwnedRedisLedger.ConnectAsync(
            RedisLedgerOptions.FromUrl(redis.Address) with { KeyPrefix = "tollgate:" }, _time, CancellationToken.None));
        Assert.Contains("hash tag", error.Message, StringComparison.Ordinal);
    }

    private static LedgerCharge Charge(string budget, decimal estimate, string scope = "", decimal limit = 10m, bool canBlock = true, PeriodWindow? window = null) =>
        new(budget, scope, window ?? Today, limit, estimate, canBlock);

    private static (decimal Spent, decimal Reserved) Amounts(CounterSnapshot counter) => (counter.Spent, counter.Reserved);

    private static async Task EventuallyAsync(Func<Task<bool>> condition, TimeSpan within, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < within, $"expected: {what} within {within}");

            // Waiting on another process (Redis, the client's reconnect loop); there is no event to await.
            await Task.Delay(25);
        }
    }

    private async Task<OwnedRedisLedger> LedgerAsync(TimeSpan? reclaimInterval = null)
    {
        var ledger = await OwnedRedisLedger.ConnectAsync(
            RedisLedgerOptions.FromUrl(redis.Address) with
            {
                KeyPrefix = _prefix, LeaseDuration = Lease, ReclaimInterval = reclaimInterval ?? Never, OperationTimeout = Patient,
            },
            _time,
            CancellationToken.None);
        _ledgers.Add(ledger);
        return ledger;
    }

    private async Task<IDatabase> InspectAsync()
    {
        _inspector ??= await ConnectionMultiplexer.ConnectAsync(redis.Endpoint + ",allowAdmin=true");
        return _inspector.GetDatabase();
    }
}
