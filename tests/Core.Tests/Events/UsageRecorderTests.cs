using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.TestSupport;

namespace Tollgate.Core.Tests.Events;

public sealed class UsageRecorderTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-recorder-").FullName;

    // The records are stamped on a fixed day; the ledger's clock must stand on that day too, or its day window ages out.
    private readonly FakeTimeProvider _clock = new(UsageSpoolTests.Record("clock").Event!.Time.AddMinutes(1));

    [Fact]
    public async Task Records_go_to_the_spool_while_the_ledger_is_down_and_replay_in_order_exactly_once()
    {
        await using var ledger = new SwitchableLedger(EmbeddedLedger.Open(Path.Combine(_directory, "ledger.jsonl"), _clock)) { Down = true };
        var sink = new ListSink();
        using var spool = UsageSpool.Open(Path.Combine(_directory, "usage.spool"));
        using var recorder = new UsageRecorder(ledger, sink, spool);

        Assert.False(await recorder.RecordAsync(UsageSpoolTests.Record("a", 0.1m), CancellationToken.None));
        Assert.False(await recorder.RecordAsync(UsageSpoolTests.Record("b", 0.2m), CancellationToken.None));
        ledger.Down = false;

        // Newer usage queues behind the spool so the stream keeps request order.
        Assert.False(await recorder.RecordAsync(UsageSpoolTests.Record("c", 0.3m), CancellationToken.None));
        Assert.Equal(3, await recorder.ReplayAsync(CancellationToken.None));

        Assert.Equal(["a", "b", "c"], sink.Events.Select(e => e.RequestId));
        Assert.Equal(0.6m, await SpentAsync(ledger));

        // Applying the same records again (a crash between applying and trimming the spool) changes nothing.
        spool.Append(UsageSpoolTests.Record("a", 0.1m));
        spool.Append(UsageSpoolTests.Record("b", 0.2m));
        Assert.Equal(2, await recorder.ReplayAsync(CancellationToken.None));
        Assert.Equal(0.6m, await SpentAsync(ledger));
        Assert.Equal(0, spool.Count);
    }

    [Fact]
    public async Task Replay_stops_at_the_first_failure_and_keeps_the_rest()
    {
        await using var ledger = new SwitchableLedger(EmbeddedLedger.InMemory(_clock)) { Down = true };
        using var spool = UsageSpool.InMemory();
        using var recorder = new UsageRecorder(ledger, new ListSink(), spool);
        await recorder.RecordAsync(UsageSpoolTests.Record("a"), CancellationToken.None);
        await recorder.RecordAsync(UsageSpoolTests.Record("b"), CancellationToken.None);

        await Assert.ThrowsAsync<LedgerUnavailableException>(() => recorder.ReplayAsync(CancellationToken.None));

        Assert.Equal(2, spool.Count);
    }

    [Fact]
    public async Task A_settled_id_is_remembered_across_a_restart_of_the_embedded_ledger()
    {
        var path = Path.Combine(_directory, "ledger.jsonl");
        var record = UsageSpoolTests.Record("a", 0.4m);
        await using (var first = EmbeddedLedger.Open(path, _clock))
        {
            await first.SettleAsync(record.RequestId, record.Charges, record.Amounts, CancellationToken.None);
        }

        await using var second = EmbeddedLedger.Open(path, _clock);
        await second.SettleAsync(record.RequestId, record.Charges, record.Amounts, CancellationToken.None);

        Assert.Equal(0.4m, Assert.Single(await second.SnapshotAsync(record.Charges[0].Window.Start, CancellationToken.None)).Spent);
    }

    private static async Task<decimal> SpentAsync(SwitchableLedger ledger)
    {
        var day = UsageSpoolTests.Record("x").Charges[0].Window.Start;
        return (await ledger.SnapshotAsync(day, CancellationToken.None)).Sum(c => c.Spent);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private sealed class ListSink : IUsageSink
    {
        public List<UsageEvent> Events { get; } = [];

        public ValueTask AppendAsync(UsageEvent usageEvent, CancellationToken cancellationToken)
        {
            if (!Events.Any(e => e.RequestId == usageEvent.RequestId))
            {
                Events.Add(usageEvent);
            }

            return ValueTask.CompletedTask;
        }
    }
}
