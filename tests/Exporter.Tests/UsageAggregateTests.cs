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

    [Theory]
    [InlineData("forwarded", null, true)]
    [InlineData("fallback", "budget_model", true)]
    [InlineData("fallback", "upstream", true)]
    [InlineData("fallback", "budget_response", false)]
    [InlineData("upstream_error", null, true)]
    [InlineData("unbilled", null, true)]
    [InlineData("unmetered", null, true)]
    [InlineData("cached", null, false)]
    [InlineData("blocked", null, false)]
    [InlineData("rejected", null, false)]
    public void Latency_is_observed_only_for_requests_sent_to_a_provider(string outcome, string? fallback, bool timed)
    {
        var aggregate = new UsageAggregate();
        var route = fallback is null ? null : new Core.Events.RouteDecision("ci/reviews", -1, "anthropic", "claude-haiku-4-5", 1, fallback);
        aggregate.Apply(ExporterHarness.Event("a", DateTimeOffset.UtcNow, outcome: outcome) with { Route = route, TimeToFirstTokenSeconds = 0.3 },
            new LabelLimits(ExporterOptions.DefaultMaxLabelValues));

        Assert.Equal(timed ? 2 : 0, aggregate.Histograms.Count);
        Assert.Equal(1, aggregate.Counters.Single(c => c.Key.StartsWith("tollgate_requests_total ", StringComparison.Ordinal)).Value);
    }
}
