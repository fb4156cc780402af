using Tollgate.Core.Budgets;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Core.Usage;

namespace Tollgate.Core.Tests.Events;

public sealed class UsageSpoolTests : IDisposable
{
    private static readonly PeriodWindow Day = PeriodWindow.Containing(BudgetPeriod.Day, new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-spool-").FullName;

    public static UsageRecord Record(string id, decimal amount = 0.25m) => new(
        id,
        [new LedgerCharge("repo-daily", "checkout", Day, 10m, 0.5m, CanBlock: true)],
        [amount],
        new UsageEvent(id, new DateTimeOffset(2026, 11, 23, 10, 0, 1, TimeSpan.FromHours(0)), "ci-payments",
            new Dictionary<string, string> { ["team"] = "payments", ["repo"] = "checkout" }, "anthropic", "claude-sonnet-4-5", true,
            new TokenUsage(1200, 300, 4000, 0, 0), false, amount, 1.25, 0.4, "forwarded", 200,
            [new BudgetCharge("repo-daily", "checkout", "usd", BudgetCharges.Charged, amount)]));

    [Fact]
    public void Spooled_records_survive_reopening_in_order_with_every_field()
    {
        var path = Path.Combine(_directory, "usage.spool");
        using (var spool = UsageSpool.Open(path))
        {
            spool.Append(Record("a", 0.1m));
            spool.Append(Record("b", 0.2m));
        }

        using var reopened = UsageSpool.Open(path);
        Assert.Equal(2, reopened.Count);
        var records = reopened.Peek(10);
        Assert.Equal(["a", "b"], records.Select(r => r.RequestId));
        var b = records[1];
        Assert.Equal(Record("b", 0.2m).Charges, b.Charges);
        Assert.Equal([0.2m], b.Amounts);
        Assert.Equal(new TokenUsage(1200, 300, 4000, 0, 0), b.Event!.Tokens);
        Assert.Equal("payments", b.Event.Tags["team"]);
        Assert.Equal(0.4, b.Event.TimeToFirstTokenSeconds);
        Assert.Equal(BudgetCharges.Charged, Assert.Single(b.Event.Budgets).Decision);
    }

    [Fact]
    public void Removing_applied_records_keeps_those_appended_later()
    {
        using var spool = UsageSpool.Open(Path.Combine(_directory, "usage.spool"));
        spool.Append(Record("a"));
        spool.Append(Record("b"));
        var batch = spool.Peek(10);
        spool.Append(Record("c"));

        spool.RemoveFirst(batch.Count);

        Assert.Equal(1, spool.Count);
        Assert.Equal("c", Assert.Single(spool.Peek(10)).RequestId);
        spool.Append(Record("d"));
        Assert.Equal(["c", "d"], spool.Peek(10).Select(r => r.RequestId));
    }

    [Fact]
    public void A_torn_last_line_comes_back_as_a_record_without_id()
    {
        var path = Path.Combine(_directory, "usage.spool");
        using (var spool = UsageSpool.Open(path))
        {
            spool.Append(Record("a"));
        }

        File.AppendAllText(path, "{\"id\":\"b\",\"c\":[{\"b\":\"rep");
        using var reopened = UsageSpool.Open(path);

        Assert.Equal(["a", ""], reopened.Peek(10).Select(r => r.RequestId));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
