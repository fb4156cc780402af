using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Budgets;
using Tollgate.Core.Ledger;

namespace Tollgate.Core.Tests.Ledger;

/// <summary>
/// Journals written before amounts were checked can hold a wrapped amount (issue 12: a reservation of max_tokens
/// Int64.MaxValue journaled its estimate, and the spent counter, as -9.2e18). Replay skips such an amount, counts it,
/// and never lets it reopen a spent budget.
/// </summary>
public sealed class EmbeddedLedgerJournalAmountTests : IDisposable
{
    private const string Wrapped = "-9223372036854775807";
    private static readonly DateTimeOffset Noon = new(2026, 11, 18, 12, 0, 0, TimeSpan.Zero);
    private static readonly PeriodWindow Today = PeriodWindow.Containing(BudgetPeriod.Day, Noon);
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-journal-amounts-").FullName;
    private readonly FakeTimeProvider _time = new(Noon);

    private string JournalPath => Path.Combine(_directory, "ledger.jsonl");

    [Fact]
    public async Task Negative_spent_line_is_skipped_on_replay_and_the_spent_budget_stays_closed()
    {
        await File.WriteAllLinesAsync(JournalPath, [Counter(150), Counter(Wrapped)]);

        await using (var ledger = EmbeddedLedger.Open(JournalPath, _time))
        {
            Assert.Equal(1, ledger.SkippedJournalAmounts);
            Assert.Equal(0, ledger.SkippedJournalLines);
            Assert.Equal(150m, Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None)).Spent);
            Assert.False((await ledger.ReserveAsync("next", [Charge(10m)], CancellationToken.None)).Allowed);
        }

        // Opening compacted the journal: the skipped amount is gone for good, the spend is not.
        await using var reopened = EmbeddedLedger.Open(JournalPath, _time);
        Assert.Equal(0, reopened.SkippedJournalAmounts);
        Assert.Equal(150m, Assert.Single(await reopened.SnapshotAsync(Noon, CancellationToken.None)).Spent);
    }

    [Fact]
    public async Task Unsettled_reservation_with_a_wrapped_estimate_is_recovered_at_nothing_not_at_minus_nine_quintillion()
    {
        await File.WriteAllLinesAsync(JournalPath, [Debit("paid", "150"), Reserve("crashed", Wrapped)]);

        await using var ledger = EmbeddedLedger.Open(JournalPath, _time);

        Assert.Equal(1, ledger.RecoveredReservations);
        Assert.Equal(1, ledger.SkippedJournalAmounts);
        Assert.Equal(150m, Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None)).Spent);
        for (var i = 0; i < 40; i++)
        {
            Assert.False((await ledger.ReserveAsync($"r{i}", [Charge(10m)], CancellationToken.None)).Allowed);
        }
    }

    [Theory]
    [InlineData("-1")]
    [InlineData(Wrapped)]
    [InlineData("9007199254.740993")]
    [InlineData("1e30")]
    public async Task Unrecordable_settlement_is_skipped_and_the_reservation_counts_at_its_estimate(string amount)
    {
        await File.WriteAllLinesAsync(JournalPath, [Reserve("a", "120"), Settle("a", amount), Debit("b", amount), Debit("c", "5")]);

        await using var ledger = EmbeddedLedger.Open(JournalPath, _time);

        Assert.Equal(2, ledger.SkippedJournalAmounts);
        Assert.Equal(0, ledger.SkippedJournalLines);
        Assert.Equal(0, ledger.RecoveredReservations);
        Assert.Equal(125m, Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None)).Spent);
    }

    [Fact]
    public async Task Non_numeric_amount_makes_the_line_unreadable_not_zero()
    {
        await File.WriteAllLinesAsync(JournalPath, [Counter(150), Counter("\"lots\"")]);

        await using var ledger = EmbeddedLedger.Open(JournalPath, _time);

        Assert.Equal(1, ledger.SkippedJournalLines);
        Assert.Equal(0, ledger.SkippedJournalAmounts);
        Assert.Equal(150m, Assert.Single(await ledger.SnapshotAsync(Noon, CancellationToken.None)).Spent);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static LedgerCharge Charge(decimal estimate) => new("daily", "", Today, 100m, estimate, CanBlock: true);

    // The journal's own line shapes (see LedgerJournal), written by hand as an older meter would have.
    private static string Key() => string.Create(CultureInfo.InvariantCulture,
        $"\"b\":\"daily\",\"s\":\"\",\"ps\":{Today.Start.ToUnixTimeSeconds()},\"pe\":{Today.End.ToUnixTimeSeconds()}");

    private static string Counter(object spent) => string.Create(CultureInfo.InvariantCulture, $"{{\"op\":\"c\",{Key()},\"spent\":{spent}}}");

    private static string Reserve(string id, string estimate) => $"{{\"op\":\"r\",\"id\":\"{id}\",\"c\":[{{{Key()},\"e\":{estimate}}}]}}";

    private static string Settle(string id, string actual) => $"{{\"op\":\"s\",\"id\":\"{id}\",\"a\":[{actual}]}}";

    private static string Debit(string id, string actual) => $"{{\"op\":\"d\",\"id\":\"{id}\",\"c\":[{{{Key()},\"e\":{actual}}}]}}";
}
