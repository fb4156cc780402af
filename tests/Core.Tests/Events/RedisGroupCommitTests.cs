using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.TestSupport;

namespace Tollgate.Core.Tests.Events;

/// <summary>
/// Group commit on Redis: concurrent reserves share one script call, each decided as if alone, and the recorder writes the settlements and events of concurrent requests in one script call
/// (<see cref="RedisUsageWriter"/>), and a batch keeps every guarantee a single record has: exact totals, one stream
/// entry per request, the whole batch spooled on an outage and replayed to the same totals.
/// </summary>
public sealed class RedisGroupCommitTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IAsyncLifetime
{
    private const int Requests = 64;

    // Just after the recorded events: readers refuse events older than the stream keeps, whatever the date the tests run.
    private readonly FakeTimeProvider _time = new(UsageSpoolTests.Record("clock").Event!.Time.AddMinutes(1));
    private OwnedRedisLedger _ledger = null!;
    private RedisUsageStream _stream = null!;

    public async Task InitializeAsync()
    {
        // A test that failed between killing and restarting the server must not fail the rest of the class.
        if (!redis.IsRunning)
        {
            await redis.RestartAsync();
        }

        _ledger = await OwnedRedisLedger.ConnectAsync(
            RedisLedgerOptions.FromUrl(redis.Address) with
            {
                KeyPrefix = $"tollgate:{{writer-{Guid.NewGuid():N}}}:", OperationTimeout = TimeSpan.FromSeconds(5), ReclaimInterval = TimeSpan.FromDays(20),
            },
            _time,
            CancellationToken.None);
        _stream = new RedisUsageStream(_ledger.Connection, new UsageStreamOptions(), _time);
    }

    public async Task DisposeAsync() => await _ledger.DisposeAsync();

    [Fact]
    public async Task Concurrent_records_settle_to_exact_totals_with_one_entry_each_in_fewer_writes_than_records()
    {
        var records = await ReservedAsync(Requests);
        using var recorder = new UsageRecorder(new RedisUsageWriter(_ledger.Connection, _stream, _time), UsageSpool.InMemory());

        var committed = await Task.WhenAll(records.Select(r => recorder.RecordAsync(r, CancellationToken.None).AsTask()));

        Assert.All(committed, Assert.True);
        await AssertTotalsAsync(records);
        Assert.InRange(recorder.Writes, 1, Requests - 1);
    }

    [Fact]
    public async Task Concurrent_reserves_against_a_hard_cap_admit_exactly_what_fits_in_fewer_writes_than_requests()
    {
        // Limit 10, estimate 0.5 each, hard cap: exactly 20 fit, whichever 20 the batches put first.
        var charge = UsageSpoolTests.Record("cap").Charges[0] with { Limit = 10m, Estimate = 0.5m, HardCap = true };

        var results = await Task.WhenAll(Enumerable.Range(0, Requests)
            .Select(i => _ledger.ReserveAsync($"cap-{i:D2}", [charge], CancellationToken.None).AsTask()));

        Assert.Equal(20, results.Count(r => r.Allowed));
        Assert.All(results.Where(r => !r.Allowed), r => Assert.Equal(0, r.BlockingIndex));
        var counter = Assert.Single(await _ledger.SnapshotAsync(_time.GetUtcNow(), CancellationToken.None));
        Assert.Equal(10m, counter.Reserved);
        Assert.InRange(_ledger.Ledger.ReserveWrites, 1, Requests - 1);
    }

    [Fact]
    public async Task A_batch_whose_reply_is_lost_is_spooled_whole_and_replays_to_the_same_totals()
    {
        var records = await ReservedAsync(Requests);
        using var spool = UsageSpool.InMemory();

        // The hardest outage: Redis applied the batch, the reply never came. Every write after the first one fails so.
        var writer = new RedisUsageWriter(_ledger.Connection, _stream, _time);
        using (var failing = new UsageRecorder(new LosesRepliesAfterFirstWrite(writer), spool))
        {
            var committed = await Task.WhenAll(records.Select(r => failing.RecordAsync(r, CancellationToken.None).AsTask()));

            var spooled = committed.Count(c => !c);
            Assert.InRange(spooled, 1, Requests - 1);
            Assert.Equal(spooled, failing.Spooled);
            Assert.Equal(spooled, spool.Count);
        }

        using var recorder = new UsageRecorder(writer, spool);
        Assert.Equal(spool.Count, await recorder.ReplayAsync(CancellationToken.None));

        Assert.Equal(0, spool.Count);
        await AssertTotalsAsync(records);
    }

    [Fact]
    public async Task Records_written_while_redis_is_down_are_spooled_and_replay_once_it_returns()
    {
        var records = await ReservedAsync(8);
        using var spool = UsageSpool.InMemory();
        using var recorder = new UsageRecorder(new RedisUsageWriter(_ledger.Connection, _stream, _time), spool);

        await redis.KillAsync();
        try
        {
            var committed = await Task.WhenAll(records.Select(r => recorder.RecordAsync(r, CancellationToken.None).AsTask()));
            Assert.All(committed, Assert.False);
            Assert.Equal(records.Select(r => r.RequestId).Order(StringComparer.Ordinal), spool.Peek(100).Select(r => r.RequestId).Order(StringComparer.Ordinal));
        }
        finally
        {
            await redis.RestartAsync();
        }

        await EventuallyAsync(() => _ledger.IsReady, TimeSpan.FromSeconds(15));
        Assert.Equal(8, await recorder.ReplayAsync(CancellationToken.None));

        // The server restarted without persistence: the reservations are gone, and the replay alone must produce the totals.
        await AssertTotalsAsync(records);
    }

    [Fact]
    public async Task A_record_whose_amount_is_refused_does_not_stop_its_batch_and_its_event_is_still_appended()
    {
        var records = await ReservedAsync(3);
        records[1] = records[1] with { Amounts = [-1m] };
        var refused = new List<string>();
        await new RedisUsageWriter(_ledger.Connection, _stream, _time).WriteAsync(records, (record, _) => refused.Add(record.RequestId), CancellationToken.None);

        Assert.Equal([records[1].RequestId], refused);
        var counter = Assert.Single(await _ledger.SnapshotAsync(_time.GetUtcNow(), CancellationToken.None));
        Assert.Equal(records[0].Amounts[0] + records[2].Amounts[0], counter.Spent);

        // The refused request's reservation stays held at its estimate, as a single record's would.
        Assert.Equal(records[1].Charges[0].Estimate, counter.Reserved);
        var events = await _stream.ReadAllAsync(CancellationToken.None);
        Assert.Equal(records.Select(r => r.RequestId), events.Select(e => e.RequestId));
    }

    [Fact]
    public async Task A_stream_on_another_connection_is_refused()
    {
        var other = new RedisUsageStream(_ledger.Connection, new UsageStreamOptions(), _time);
        await using var second = await RedisConnection.ConnectAsync(
            RedisLedgerOptions.FromUrl(redis.Address) with { KeyPrefix = "tollgate:{elsewhere}:" }, _time, CancellationToken.None);
        var elsewhere = new RedisUsageStream(second, new UsageStreamOptions(), _time);

        Assert.NotNull(new RedisUsageWriter(_ledger.Connection, other, _time));
        var error = Assert.Throws<ArgumentException>(() => new RedisUsageWriter(_ledger.Connection, elsewhere, _time));
        Assert.Contains("tollgate:{elsewhere}:", error.Message, StringComparison.Ordinal);
    }

    /// <summary>Records of distinct amounts (0.01, 0.02, …), each with its reservation held, under a limit none reaches.</summary>
    private async Task<UsageRecord[]> ReservedAsync(int count)
    {
        var records = new UsageRecord[count];
        for (var i = 0; i < count; i++)
        {
            var record = UsageSpoolTests.Record($"req-{i:D2}", 0.01m * (i + 1));
            records[i] = record with { Charges = [record.Charges[0] with { Limit = 1_000m }] };
            Assert.True((await _ledger.ReserveAsync(records[i].RequestId, records[i].Charges, CancellationToken.None)).Allowed);
        }

        return records;
    }

    private async Task AssertTotalsAsync(IReadOnlyList<UsageRecord> records)
    {
        var counter = Assert.Single(await _ledger.SnapshotAsync(_time.GetUtcNow(), CancellationToken.None));
        Assert.Equal(records.Sum(r => r.Amounts[0]), counter.Spent);
        Assert.Equal(0m, counter.Reserved);
        var events = await _stream.ReadAllAsync(CancellationToken.None);
        Assert.Equal(records.Select(r => r.RequestId).Order(StringComparer.Ordinal), events.Select(e => e.RequestId).Order(StringComparer.Ordinal));
    }

    private static async Task EventuallyAsync(Func<bool> condition, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < within, $"the ledger did not reconnect within {within}");

            // Waiting on another process (Redis, the client's reconnect loop); there is no event to await.
            await Task.Delay(25);
        }
    }

    /// <summary>Applies every write, then loses the reply of all but the first, as a connection dropped mid-reply does.</summary>
    private sealed class LosesRepliesAfterFirstWrite(IUsageWriter inner) : IUsageWriter
    {
        private int _writes;

        public async ValueTask WriteAsync(IReadOnlyList<UsageRecord> records, Action<UsageRecord, LedgerAmountException> refused, CancellationToken cancellationToken)
        {
            await inner.WriteAsync(records, refused, cancellationToken);
            if (Interlocked.Increment(ref _writes) > 1)
            {
                throw new LedgerUnavailableException("the reply was lost");
            }
        }
    }
}
