using Tollgate.Exporter.Aggregation;

namespace Tollgate.Exporter.Tests;

public sealed class UsageAggregateTests
{
    [Fact]
    public void Saved_totals_load_back_identical()
    {
        var aggregate = new UsageAggregate();
        aggregate.Apply(ExporterHarness.Event("a", DateTimeOffset.UtcNow, team: "pay|ments \"x\"", input: 10, output: 5, cost: 0.5m,
            budgets: [new Core.Events.BudgetCharge("b", "s", "usd", "charged", 0.5m)]), new LabelLimits(ExporterOptions.DefaultMaxLabelValues));
        aggregate.LastEntryId = "1700000000000-3";

        var loaded = UsageAggregate.FromJson(aggregate.ToJson());

        Assert.Equal(aggregate.ToJson(), loaded.ToJson());
        Assert.Equal(1, loaded.Events);
        Assert.Equal("1700000000000-3", loaded.LastEntryId);
        Assert.Equal(10, loaded.Counters[UsageAggregate.Key("tollgate_tokens_total", "ci-payments", "pay|ments \"x\"", "checkout", "pr", "review", "anthropic", "claude-sonnet-4-5", "input")]);
        Assert.Single(loaded.Histograms);
        Assert.Equal(0.5m, Assert.Single(Assert.Single(loaded.BudgetDaily).Value).Value);
    }
}
