using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Tests.Events;

/// <summary>
/// Usage whose amounts the ledger refuses is not spooled (it would be refused forever and hold up the spool) and does
/// not stop the rest: its event is still published and a reservation it held stays charged at the estimate.
/// </summary>
public sealed class UsageRecorderRefusalTests
{
    private readonly FakeTimeProvider _clock = new(UsageSpoolTests.Record("clock").Event!.Time.AddMinutes(1));

    [Fact]
    public async Task Refused_usage_is_not_spooled_its_event_is_published_and_its_reservation_stays_held()
    {
        await using var ledger = EmbeddedLedger.InMemory(_clock);
        var record = UsageSpoolTests.Record("wrapped", -9_223_372_036_854_775_807m);
        Assert.True((await ledger.ReserveAsync(record.RequestId, record.Charges, CancellationToken.None)).Allowed);
        var sink = new ListSink();
        using var spool = UsageSpool.InMemory();
        using var recorder = new UsageRecorder(ledger, sink, spool);

        Assert.True(await recorder.RecordAsync(record, CancellationToken.None));

        Assert.Equal(0, spool.Count);
        Assert.Equal(1, recorder.Refused);
        Assert.Equal(["wrapped"], sink.Events.Select(e => e.RequestId));
        var counter = Assert.Single(await ledger.SnapshotAsync(record.Charges[0].Window.Start, CancellationToken.None));
        Assert.Equal(0m, counter.Spent);
        Assert.Equal(record.Charges[0].Estimate, counter.Reserved);
    }

    [Fact]
    public async Task Refused_record_in_the_spool_is_dropped_and_the_records_behind_it_are_applied()
    {
        await using var ledger = EmbeddedLedger.InMemory(_clock);
        using var spool = UsageSpool.InMemory();
        spool.Append(UsageSpoolTests.Record("a", 0.1m));
        spool.Append(UsageSpoolTests.Record("old-meter", -1m));
        spool.Append(UsageSpoolTests.Record("b", 0.2m));
        var sink = new ListSink();
        using var recorder = new UsageRecorder(ledger, sink, spool);

        Assert.Equal(3, await recorder.ReplayAsync(CancellationToken.None));

        Assert.Equal(0, spool.Count);
        Assert.Equal(1, recorder.Refused);
        Assert.Equal(["a", "old-meter", "b"], sink.Events.Select(e => e.RequestId));
        var day = UsageSpoolTests.Record("x").Charges[0].Window.Start;
        Assert.Equal(0.3m, Assert.Single(await ledger.SnapshotAsync(day, CancellationToken.None)).Spent);
    }

    private sealed class ListSink : IUsageSink
    {
        public List<UsageEvent> Events { get; } = [];

        public ValueTask AppendAsync(UsageEvent usageEvent, CancellationToken cancellationToken)
        {
            Events.Add(usageEvent);
            return ValueTask.CompletedTask;
        }
    }
}
