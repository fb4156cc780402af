using Tollgate.Core.Budgets;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Exporter.Streaming;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests;

/// <summary>The exporter reading a real usage stream on a real redis-server; each test uses its own database.</summary>
public sealed class UsageStreamConsumerTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    // Real clock: the exporter under test reads it (its poll loop waits on it), so every date here is relative to it.
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    [Fact]
    public async Task Usage_events_become_the_contract_series()
    {
        var address = ExporterHarness.Db(redis, 1);
        await using var ledger = await ExporterHarness.LedgerAsync(address);
        var stream = new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), TimeProvider.System);
        await stream.AppendAsync(ExporterHarness.Event("a", Now, step: "review", input: 1000, output: 200, cost: 0.006m), CancellationToken.None);
        await stream.AppendAsync(ExporterHarness.Event("b", Now, step: "summarize", model: "claude-haiku-4-5", input: 500, output: 100, cost: 0.001m), CancellationToken.None);
        await stream.AppendAsync(ExporterHarness.Event("c", Now, input: 0, output: 0, cost: 0m, outcome: "blocked"), CancellationToken.None);
        await stream.AppendAsync(ExporterHarness.Event("d", Now, input: 0, output: 0, cost: 0m, outcome: "cached") with { SavedUsd = 0.006m }, CancellationToken.None);

        await using var exporter = await ExporterHarness.StartAsync(address);
        var scrape = await exporter.ScrapeWhenAsync(4);

        Assert.Equal(4, scrape.Sum("tollgate_exporter_events_total"));
        Assert.Equal(1500, scrape.Sum("tollgate_tokens_total", ("type", "input"), ("team", "payments"), ("namespace", "ci-payments")));
        Assert.Equal(200, scrape.Sum("tollgate_tokens_total", ("type", "output"), ("agent_step", "review")));
        Assert.Equal(0.007, scrape.Sum("tollgate_cost_usd_total", ("repo", "checkout")), 9);
        Assert.Equal(0.001, scrape.Sum("tollgate_cost_usd_total", ("model", "claude-haiku-4-5")), 9);
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "blocked")));
        Assert.Equal(2, scrape.Sum("tollgate_requests_total", ("outcome", "forwarded")));
        Assert.Equal(0.006, scrape.Sum("tollgate_cache_saved_usd_total"), 9);
        Assert.Equal(2, scrape.Sum("tollgate_prompt_latency_seconds_count"));
        Assert.Equal(2, scrape.Sum("tollgate_prompt_latency_seconds_bucket", ("le", "2.5")));
        Assert.Equal(0, scrape.Sum("tollgate_prompt_latency_seconds_bucket", ("le", "1")));
    }

    [Fact]
    public async Task A_restarted_exporter_continues_its_totals_without_counting_anything_twice()
    {
        var address = ExporterHarness.Db(redis, 2);
        await using var ledger = await ExporterHarness.LedgerAsync(address);
        var stream = new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), TimeProvider.System);
        for (var i = 0; i < 5; i++)
        {
            await stream.AppendAsync(ExporterHarness.Event($"first-{i}", Now, input: 100, output: 10, cost: 0.001m), CancellationToken.None);
        }

        await using (var first = await ExporterHarness.StartAsync(address))
        {
            Assert.Equal(500, (await first.ScrapeWhenAsync(5)).Sum("tollgate_tokens_total", ("type", "input")));
        }

        for (var i = 0; i < 3; i++)
        {
            await stream.AppendAsync(ExporterHarness.Event($"second-{i}", Now, input: 100, output: 10, cost: 0.001m), CancellationToken.None);
        }

        await using var second = await ExporterHarness.StartAsync(address);
        var scrape = await second.ScrapeWhenAsync(8);

        Assert.Equal(8, scrape.Sum("tollgate_exporter_events_total"));
        Assert.Equal(800, scrape.Sum("tollgate_tokens_total", ("type", "input")));
        Assert.Equal(0.008, scrape.Sum("tollgate_cost_usd_total"), 9);
    }

    [Fact]
    public async Task Entries_redelivered_after_a_crash_between_saving_and_acknowledging_are_skipped()
    {
        var address = ExporterHarness.Db(redis, 3);
        await using var ledger = await ExporterHarness.LedgerAsync(address);
        var stream = new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), TimeProvider.System);
        for (var i = 0; i < 4; i++)
        {
            await stream.AppendAsync(ExporterHarness.Event($"e-{i}", Now, input: 100, output: 10, cost: 0.001m), CancellationToken.None);
        }

        // What a crashed exporter leaves behind: the entries delivered to it (pending) and its totals saved, but no acknowledgement.
        await stream.EnsureGroupAsync(UsageStreamConsumer.Group, CancellationToken.None);
        var delivered = await stream.ReadGroupAsync(UsageStreamConsumer.Group, "exporter-0", pending: false, 10, CancellationToken.None);
        Assert.Equal(4, delivered.Count);
        var saved = new Aggregation.UsageAggregate();
        var labels = new Aggregation.LabelLimits(ExporterOptions.DefaultMaxLabelValues);
        foreach (var entry in delivered)
        {
            saved.Apply(entry.Event!, labels);
            saved.LastEntryId = entry.Id;
        }

        await stream.SaveStateAsync("state", saved.ToJson(), CancellationToken.None);

        await using var exporter = await ExporterHarness.StartAsync(address);
        await stream.AppendAsync(ExporterHarness.Event("after", Now, input: 100, output: 10, cost: 0.001m), CancellationToken.None);
        var scrape = await exporter.ScrapeWhenAsync(5);

        Assert.Equal(5, scrape.Sum("tollgate_exporter_events_total"));
        Assert.Equal(500, scrape.Sum("tollgate_tokens_total", ("type", "input")));
        Assert.Equal(4, scrape.Sum("tollgate_exporter_duplicates_total"));
    }

    [Fact]
    public async Task Budget_gauges_cover_every_budget_and_scope_with_a_p95_forecast()
    {
        var address = ExporterHarness.Db(redis, 4);
        await using var ledger = await ExporterHarness.LedgerAsync(address);
        var today = PeriodWindow.Containing(BudgetPeriod.Month, DateTimeOffset.UtcNow);
        var charges = new[] { new Core.Ledger.LedgerCharge("repo-monthly", "checkout", today, 100m, 0m, CanBlock: true) };
        await ledger.SettleAsync("spent-1", charges, [42m], CancellationToken.None);

        // History: $10 charged on each of the last seven days.
        var stream = new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), TimeProvider.System);
        for (var back = 1; back <= 7; back++)
        {
            await stream.AppendAsync(ExporterHarness.Event($"h-{back}", DateTimeOffset.UtcNow.AddDays(-back),
                budgets: [new BudgetCharge("repo-monthly", "checkout", "usd", BudgetCharges.Charged, 10m)]), CancellationToken.None);
        }

        await using var exporter = await ExporterHarness.StartAsync(address, """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: repo-monthly }
            spec: { appliesPer: ["metadata.repo"], limit: { amount: 100, unit: usd, period: month } }
            ---
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: org-daily }
            spec: { limit: { amount: 5000, unit: tokens, period: day } }
            """);
        var scrape = await exporter.ScrapeWhenAsync(7);

        var labels = new[] { ("budget", "repo-monthly"), ("scope", "checkout"), ("unit", "usd"), ("period", "month") };
        Assert.Equal(100, scrape.Sum("tollgate_budget_limit", labels));
        Assert.Equal(42, scrape.Sum("tollgate_budget_spent", labels));
        Assert.Equal(0.42, scrape.Sum("tollgate_budget_used_ratio", labels), 9);
        var daysLeft = (today.End - DateTimeOffset.UtcNow).TotalDays;
        Assert.Equal(42 + (10 * daysLeft), scrape.Sum("tollgate_budget_forecast", labels), 1);

        // A budget with no spend yet still has its series (an alert on it must see 0, not nothing).
        Assert.Equal(5000, scrape.Sum("tollgate_budget_limit", ("budget", "org-daily"), ("scope", "")));
        Assert.Equal(0, scrape.Sum("tollgate_budget_used_ratio", ("budget", "org-daily")));
        Assert.True(scrape.Sum("tollgate_cost_forecast_usd", ("team", "payments"), ("repo", "checkout")) > 0);
    }

    [Fact]
    public async Task A_new_series_is_first_published_at_zero_so_increase_counts_its_first_requests()
    {
        var address = ExporterHarness.Db(redis, 6);
        await using var ledger = await ExporterHarness.LedgerAsync(address);
        var stream = new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), TimeProvider.System);
        await using var exporter = await ExporterHarness.StartAsync(address);
        await stream.AppendAsync(ExporterHarness.Event("z-1", Now, team: "newcomers", input: 700, output: 70, cost: 0.002m), CancellationToken.None);

        MetricsScrape first;
        do
        {
            first = new MetricsScrape(await exporter.Client.GetStringAsync("/metrics"));
        }
        while (first.Sum("tollgate_exporter_events_total") < 1);

        var second = new MetricsScrape(await exporter.Client.GetStringAsync("/metrics"));

        Assert.True(first.Has("tollgate_tokens_total", ("team", "newcomers"), ("type", "input")));
        Assert.Equal(0, first.Sum("tollgate_tokens_total", ("team", "newcomers"), ("type", "input")));
        Assert.Equal(0, first.Sum("tollgate_prompt_latency_seconds_count", ("team", "newcomers")));
        Assert.Equal(700, second.Sum("tollgate_tokens_total", ("team", "newcomers"), ("type", "input")));
        Assert.Equal(1, second.Sum("tollgate_prompt_latency_seconds_count", ("team", "newcomers")));
    }
}
