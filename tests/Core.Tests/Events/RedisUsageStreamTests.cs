using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.TestSupport;

namespace Tollgate.Core.Tests.Events;

public sealed class RedisUsageStreamTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IAsyncLifetime
{
    // Just after the recorded events: readers refuse events older than the stream keeps, whatever the date the tests run.
    private readonly FakeTimeProvider _time = new(UsageSpoolTests.Record("clock").Event!.Time.AddMinutes(1));
    private OwnedRedisLedger _ledger = null!;

    public async Task InitializeAsync() =>
        _ledger = await OwnedRedisLedger.ConnectAsync(
            RedisLedgerOptions.FromUrl(redis.Address) with { KeyPrefix = $"tollgate:{{stream-{Guid.NewGuid():N}}}:", OperationTimeout = TimeSpan.FromSeconds(5) },
            _time,
            CancellationToken.None);

    public async Task DisposeAsync() => await _ledger.DisposeAsync();

    [Fact]
    public async Task Events_are_appended_once_per_request_id_with_every_field()
    {
        var stream = new RedisUsageStream(_ledger.Connection, new UsageStreamOptions(), _time);
        var a = UsageSpoolTests.Record("req-a").Event!;
        var b = UsageSpoolTests.Record("req-b").Event!;

        await stream.AppendAsync(a, CancellationToken.None);
        await stream.AppendAsync(b, CancellationToken.None);
        await stream.AppendAsync(a, CancellationToken.None);

        var events = await stream.ReadAllAsync(CancellationToken.None);
        Assert.Equal(["req-a", "req-b"], events.Select(e => e.RequestId));
        Assert.Equal(a.Tokens, events[0].Tokens);
        Assert.Equal(a.Tags, events[0].Tags);
        Assert.Equal(a.CostUsd, events[0].CostUsd);
        Assert.Equal(a.Budgets, events[0].Budgets);
        Assert.Equal(a.Time, events[0].Time);
    }

    [Fact]
    public async Task Entries_older_than_the_retention_are_trimmed_as_new_ones_arrive()
    {
        // Entry ids are Redis's own clock, so the stream's clock is set from Redis's TIME: the test holds whatever the host's date.
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var db = connection.GetDatabase();
        var clock = new FakeTimeProvider(await RedisNowAsync(db));
        var retention = TimeSpan.FromMilliseconds(300);
        var stream = new RedisUsageStream(_ledger.Connection, new UsageStreamOptions { Retention = retention }, clock);
        var key = RedisUsageStream.StreamKey(_ledger.Options.KeyPrefix);

        // MINID ~ drops whole stream nodes only, so write well past one node's worth first.
        for (var i = 0; i < 150; i++)
        {
            await stream.AppendAsync(UsageSpoolTests.Record($"old-{i}").Event! with { Time = clock.GetUtcNow() }, CancellationToken.None);
        }

        var lastOld = StreamIdTime((await db.StreamRangeAsync(key, "-", "+", count: 1, messageOrder: Order.Descending))[0].Id);
        await UntilRedisPassesAsync(db, lastOld + (2 * retention));
        clock.SetUtcNow(await RedisNowAsync(db));
        // Dated on the stream's clock: readers refuse an event older than the stream's retention.
        await stream.AppendAsync(UsageSpoolTests.Record("new").Event! with { Time = clock.GetUtcNow() }, CancellationToken.None);

        var info = await db.StreamInfoAsync(key);
        Assert.True(info.Length < 151, $"old entries were not trimmed: {info.Length} left");
        Assert.Equal("new", (await stream.ReadAllAsync(CancellationToken.None))[^1].RequestId);
    }

    [Fact]
    public async Task A_stopped_redis_is_reported_as_unavailable()
    {
        var stream = new RedisUsageStream(_ledger.Connection, new UsageStreamOptions(), _time);
        await redis.KillAsync();
        try
        {
            await Assert.ThrowsAsync<LedgerUnavailableException>(() => stream.AppendAsync(UsageSpoolTests.Record("x").Event!, CancellationToken.None).AsTask());
        }
        finally
        {
            await redis.RestartAsync();
        }
    }

    private static async Task<DateTimeOffset> RedisNowAsync(IDatabase db)
    {
        var time = (RedisResult[])(await db.ExecuteAsync("TIME"))!;
        return DateTimeOffset.FromUnixTimeMilliseconds(((long)time[0] * 1000) + ((long)time[1] / 1000));
    }

    private static DateTimeOffset StreamIdTime(RedisValue id) =>
        DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(id.ToString().Split('-')[0], System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Waits on Redis's clock, the one its entry ids come from, until it is past <paramref name="instant"/>.</summary>
    private static async Task UntilRedisPassesAsync(IDatabase db, DateTimeOffset instant)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (var now = await RedisNowAsync(db); now <= instant; now = await RedisNowAsync(db))
        {
            await Task.Delay(instant - now + TimeSpan.FromMilliseconds(1), timeout.Token);
        }
    }
}
