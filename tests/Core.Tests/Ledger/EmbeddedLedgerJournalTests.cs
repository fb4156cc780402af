using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Tests.Ledger;

public sealed class EmbeddedLedgerJournalTests : IDisposable
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 18, 12, 0, 0, TimeSpan.Zero);
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-journal-").FullName;
    private readonly FakeTimeProvider _time = new(Noon);

    private string JournalPath => Path.Combine(_directory, "ledger.jsonl");

    [Fact]
    public async Task Settled_spend_survives_reopening_the_journal()
    {
        await using (var ledger = EmbeddedLedger.Open(JournalPath, _time))
        {
            await ledger.ReserveAsync("a", [Charge("daily", "checkout", 0.9m)], CancellationToken.None);
            await ledger.SettleAsync("a", [Charge("daily", "checkout", 0.9m)], [0.4m], CancellationToken.None);
            await ledger.ReserveAsync("b", [Charge("daily", "checkout", 0.9m), Charge("team", "", 0.9m)], CancellationToken.None);
            await ledger.SettleAsync("b", [Charge("daily", "checkout", 0.9m), Charge("team", "", 0.9m)], [0.25m, 0.25m], CancellationToken.None);
        }

        await using var reopened = EmbeddedLedger.Open(JournalPath, _time);
        var counters = await reopened.SnapshotAsync(Noon, CancellationToken.None);
        Assert.Equal(0.65m, counters.Single(c => c.Budget == "daily").Spent);
        Assert.Equal(0.25m, counters.Single(c => c.Budget == "team").Spent);
        Assert.All(counters, c => Assert.Equal(0m, c.Reserved));
        Assert.Equal(0, reopened.RecoveredReservations);
    }

    [Fact]
    public async Task Unsettled_reservation_is_recovered_at_its_estimate()
    {
        // A crash between reserve and settle: the request may have consumed tokens, so it is never counted as free.
        var crashed = EmbeddedLedger.Open(JournalPath, _time);
        await crashed.ReserveAsync("in-flight", [Charge("daily", "", 0.7m)], CancellationToken.None);
        await crashed.DisposeAsync();

        await using var reopened = EmbeddedLedger.Open(JournalPath, _time);
        Assert.Equal(1, reopened.RecoveredReservations);
        var counter = (await reopened.SnapshotAsync(Noon, CancellationToken.None)).Single();
        Assert.Equal(0.7m, counter.Spent);
    }

    [Fact]
    public async Task Torn_last_line_is_skipped_without_losing_earlier_spend()
    {
        await using (var ledger = EmbeddedLedger.Open(JournalPath, _time))
        {
            await ledger.ReserveAsync("a", [Charge("daily", "", 1m)], CancellationToken.None);
            await ledger.SettleAsync("a", [Charge("daily", "", 1m)], [0.5m], CancellationToken.None);
        }

        await File.AppendAllTextAsync(JournalPath, "{\"op\":\"s\",\"id\":\"b\",\"a\":[0.");

        await using var reopened = EmbeddedLedger.Open(JournalPath, _time);
        Assert.Equal(1, reopened.SkippedJournalLines);
        Assert.Equal(0.5m, (await reopened.SnapshotAsync(Noon, CancellationToken.None)).Single().Spent);
    }

    [Fact]
    public async Task Reopening_compacts_the_journal_to_one_line_per_counter()
    {
        await using (var ledger = EmbeddedLedger.Open(JournalPath, _time))
        {
            for (var i = 0; i < 50; i++)
            {
                await ledger.ReserveAsync($"r{i}", [Charge("daily", i % 2 == 0 ? "a" : "b", 0.1m)], CancellationToken.None);
                await ledger.SettleAsync($"r{i}", [Charge("daily", i % 2 == 0 ? "a" : "b", 0.1m)], [0.01m], CancellationToken.None);
            }
        }

        Assert.Equal(100, File.ReadAllLines(JournalPath).Length);
        await using (EmbeddedLedger.Open(JournalPath, _time))
        {
        }

        // One line per counter, and one with the settled request ids that make a replayed settlement a no-op.
        var lines = File.ReadAllLines(JournalPath);
        Assert.Equal(3, lines.Length);
        Assert.Equal(2, lines.Count(line => line.Contains("\"op\":\"c\"", StringComparison.Ordinal)));
        Assert.StartsWith("{\"op\":\"i\",\"ids\":[", lines[2], StringComparison.Ordinal);
        await using var again = EmbeddedLedger.Open(JournalPath, _time);
        Assert.Equal(0.50m, (await again.SnapshotAsync(Noon, CancellationToken.None)).Sum(c => c.Spent));
    }

    [Fact]
    public async Task Counters_of_long_ended_periods_are_dropped_on_reopen()
    {
        await using (var ledger = EmbeddedLedger.Open(JournalPath, _time))
        {
            await ledger.ReserveAsync("old", [Charge("daily", "", 1m)], CancellationToken.None);
            await ledger.SettleAsync("old", [Charge("daily", "", 1m)], [0.3m], CancellationToken.None);
        }

        _time.Advance(TimeSpan.FromDays(3));
        await using (EmbeddedLedger.Open(JournalPath, _time))
        {
        }

        Assert.DoesNotContain(File.ReadAllLines(JournalPath), line => line.Contains("\"op\":\"c\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reserving_the_same_request_id_twice_reserves_once()
    {
        await using var ledger = EmbeddedLedger.Open(JournalPath, _time);
        await ledger.ReserveAsync("dup", [Charge("daily", "", 0.4m)], CancellationToken.None);
        await ledger.ReserveAsync("dup", [Charge("daily", "", 0.4m)], CancellationToken.None);
        Assert.Equal(0.4m, (await ledger.SnapshotAsync(Noon, CancellationToken.None)).Single().Reserved);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static LedgerCharge Charge(string budget, string scope, decimal estimate) =>
        new(budget, scope, PeriodWindow.Containing(BudgetPeriod.Day, Noon), 100m, estimate, CanBlock: true);
}
