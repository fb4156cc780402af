using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Tollgate.Core.Budgets;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger;
using Tollgate.Exporter.Aggregation;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests;

/// <summary>Issue 12 defect 4 in the exporter: client-supplied label values are capped in its series, never in the usage stream.</summary>
public sealed class LabelCapTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    // Real clock: the exporter under test reads it (its poll loop waits on it), so every date here is relative to it.
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    [Fact]
    public void Values_past_the_cap_are_counted_under_overflow_in_every_family_and_the_event_once_per_label()
    {
        var aggregate = new UsageAggregate();
        var labels = new LabelLimits(10);
        for (var i = 0; i < 15; i++)
        {
            aggregate.Apply(ExporterHarness.Event($"e-{i}", Now, repo: Repo(i), input: 100, output: 10, cost: 0.001m), labels);
        }

        var admitted = Enumerable.Range(0, 10).Select(Repo).Append("__overflow__").ToHashSet();
        foreach (var metric in MetricFamilies.All.Keys.Where(m => m != LabelLimits.OverflowMetric && m != Streaming.UsageStreamConsumer.RejectedMetric && m != "tollgate_time_to_first_token_seconds"))
        {
            var keys = aggregate.Counters.Keys.Concat(aggregate.Histograms.Keys).Select(UsageAggregate.Split).Where(k => k.Metric == metric).ToList();
            if (metric == "tollgate_cache_saved_usd_total")
            {
                Assert.Empty(keys);
                continue;
            }

            var repoAt = Array.IndexOf(MetricFamilies.All[metric].Labels, "repo");
            Assert.True(admitted.SetEquals(keys.Select(k => k.Labels[repoAt])), metric);
        }

        Assert.Equal(5, aggregate.Counters[UsageAggregate.Key(LabelLimits.OverflowMetric, "repo")]);
        Assert.DoesNotContain(aggregate.Counters.Keys, k => k == UsageAggregate.Key(LabelLimits.OverflowMetric, "team"));
        Assert.Equal(1500, aggregate.Counters.Where(c => c.Key.StartsWith("tollgate_tokens_total ", StringComparison.Ordinal) && c.Key.EndsWith("\"input\"]", StringComparison.Ordinal)).Sum(c => c.Value));
        Assert.True(admitted.SetEquals(Assert.Single(aggregate.CostDaily).Value.Keys.Select(k => k.Split('|')[1])));
    }

    [Fact]
    public void An_invalid_model_in_an_event_is_counted_under_overflow()
    {
        var aggregate = new UsageAggregate();
        aggregate.Apply(ExporterHarness.Event("e", Now, model: "claude\u001b[2J" + new string('x', 300)), new LabelLimits(10));

        Assert.Equal(1, aggregate.Counters[UsageAggregate.Key(LabelLimits.OverflowMetric, "model")]);
        Assert.All(aggregate.Counters.Keys.Select(UsageAggregate.Split).Where(k => k.Metric == "tollgate_requests_total"), k => Assert.Equal("__overflow__", k.Labels[4]));
    }

    [Fact]
    public void Saved_totals_within_the_cap_load_unchanged()
    {
        var saved = new UsageAggregate();
        var earlier = new LabelLimits(10);
        for (var i = 0; i < 10; i++)
        {
            saved.Apply(ExporterHarness.Event($"e-{i}", Now, repo: Repo(i)), earlier);
        }

        var (totals, folds) = new LabelLimits(10).Restore(UsageAggregate.FromJson(saved.ToJson()));

        Assert.Empty(folds);
        Assert.Equal(saved.ToJson(), totals.ToJson());
    }

    [Fact]
    public void Saved_totals_above_the_cap_fold_on_load_keeping_the_busiest_values_and_every_sum()
    {
        var saved = new UsageAggregate { LastEntryId = "1700000000000-7" };
        var earlier = new LabelLimits(1000);
        for (var i = 0; i < 15; i++)
        {
            // repo-0014 used the most tokens, repo-0000 the fewest.
            saved.Apply(ExporterHarness.Event($"e-{i}", Now, repo: Repo(i), input: (i + 1) * 100, output: 10, cost: 0.001m), earlier);
        }

        var labels = new LabelLimits(10);
        var (totals, folds) = labels.Restore(UsageAggregate.FromJson(saved.ToJson()));

        Assert.Equal([new LabelFold("repo", 15, 5)], folds);
        Assert.Equal(15, totals.Events);
        Assert.Equal("1700000000000-7", totals.LastEntryId);
        var tokens = totals.Counters.Where(c => UsageAggregate.Split(c.Key) is { Metric: "tollgate_tokens_total", Labels: [.., "input"] })
            .ToDictionary(c => UsageAggregate.Split(c.Key).Labels[2], c => c.Value);
        Assert.True(Enumerable.Range(5, 10).Select(Repo).Append("__overflow__").ToHashSet().SetEquals(tokens.Keys));
        Assert.Equal(100 + 200 + 300 + 400 + 500, tokens["__overflow__"]);
        Assert.Equal(Sum(saved.Counters), Sum(totals.Counters), 9);
        Assert.Equal(saved.Histograms.Values.Sum(h => h.Buckets.Sum()), totals.Histograms.Values.Sum(h => h.Buckets.Sum()));
        Assert.Equal(11, totals.Histograms.Count);
        Assert.Equal(0.005m, Assert.Single(totals.CostDaily).Value[UsageAggregate.TeamRepoKey("payments", "__overflow__")]);
        Assert.False(totals.Counters.ContainsKey(UsageAggregate.Key(LabelLimits.OverflowMetric, "repo")));

        // The cap is full: a new repo after the load is folded and counted.
        totals.Apply(ExporterHarness.Event("new", Now, repo: "brand-new"), labels);
        Assert.Equal(1, totals.Counters[UsageAggregate.Key(LabelLimits.OverflowMetric, "repo")]);
        Assert.Equal(6, totals.Counters.Where(c => UsageAggregate.Split(c.Key) is { Metric: "tollgate_requests_total", Labels: [_, _, "__overflow__", ..] }).Sum(c => c.Value));
    }

    [Fact]
    public async Task Repos_past_the_cap_share_the_overflow_series_while_the_usage_api_still_sees_every_repo()
    {
        var address = ExporterHarness.Db(redis, 7);
        await using (var ledger = await ExporterHarness.LedgerAsync(address))
        {
            var stream = new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), TimeProvider.System);
            for (var i = 0; i < 1500; i++)
            {
                await stream.AppendAsync(ExporterHarness.Event($"r-{i}", Now, repo: Repo(i), input: 10, output: 1, cost: 0.0001m), CancellationToken.None);
            }
        }

        await using var exporter = await ExporterHarness.StartAsync(address);
        var scrape = await exporter.ScrapeWhenAsync(1500);

        var admitted = Enumerable.Range(0, 1000).Select(Repo).Append("__overflow__").ToHashSet();
        foreach (var family in new[] { "tollgate_tokens_total", "tollgate_cost_usd_total", "tollgate_requests_total", "tollgate_prompt_latency_seconds_count", "tollgate_cost_forecast_usd" })
        {
            Assert.True(admitted.SetEquals(scrape.Values(family, "repo")), family);
        }

        Assert.Equal(500, scrape.Sum("tollgate_label_overflow_total", ("label", "repo")));
        Assert.Equal(500, scrape.Sum("tollgate_requests_total", ("repo", "__overflow__")));
        Assert.Equal(15000, scrape.Sum("tollgate_tokens_total", ("type", "input")));

        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/usage?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&groupBy=repo&format=json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ExporterHarness.Token);
        using var response = await exporter.Client.SendAsync(request);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var repos = json.RootElement.GetProperty("rows").EnumerateArray().Select(r => r.GetProperty("repo").GetString()).ToHashSet();
        Assert.Equal(1500, repos.Count);
        Assert.DoesNotContain("__overflow__", repos);
    }

    [Fact]
    public async Task Restored_totals_above_a_lowered_cap_fold_on_load_and_new_values_overflow()
    {
        var address = ExporterHarness.Db(redis, 8);
        await using var ledger = await ExporterHarness.LedgerAsync(address);
        var stream = new RedisUsageStream(ledger.Connection, new UsageStreamOptions(), TimeProvider.System);
        for (var i = 0; i < 20; i++)
        {
            await stream.AppendAsync(ExporterHarness.Event($"first-{i}", Now, repo: Repo(i), input: (i + 1) * 10, output: 1, cost: 0.001m), CancellationToken.None);
        }

        await using (var first = await ExporterHarness.StartAsync(address))
        {
            Assert.Equal(20, (await first.ScrapeWhenAsync(20)).Values("tollgate_tokens_total", "repo").Count);
        }

        await stream.AppendAsync(ExporterHarness.Event("second-0", Now, repo: "brand-new", input: 1, output: 1, cost: 0.001m), CancellationToken.None);
        await using var second = await ExporterHarness.StartAsync(address, maxLabelValues: 5);
        var scrape = await second.ScrapeWhenAsync(21);

        Assert.True(Enumerable.Range(15, 5).Select(Repo).Append("__overflow__").ToHashSet().SetEquals(scrape.Values("tollgate_tokens_total", "repo")));
        Assert.Equal(Enumerable.Range(1, 20).Sum(i => i * 10) + 1, scrape.Sum("tollgate_tokens_total", ("type", "input")));
        Assert.Equal(Enumerable.Range(1, 15).Sum(i => i * 10) + 1, scrape.Sum("tollgate_tokens_total", ("type", "input"), ("repo", "__overflow__")));
        Assert.Equal(16, scrape.Sum("tollgate_requests_total", ("repo", "__overflow__")));

        // Only the event that arrived past the cap is counted; the merge on load is logged, not counted.
        Assert.Equal(1, scrape.Sum("tollgate_label_overflow_total", ("label", "repo")));
    }

    [Fact]
    public async Task A_per_repo_budget_gets_gauges_for_the_most_spent_repos_up_to_the_cap()
    {
        var address = ExporterHarness.Db(redis, 10);
        await using var ledger = await ExporterHarness.LedgerAsync(address);
        var month = PeriodWindow.Containing(BudgetPeriod.Month, DateTimeOffset.UtcNow);
        foreach (var (repo, spent) in new[] { ("quiet", 10m), ("busy", 30m), ("middling", 20m) })
        {
            await ledger.SettleAsync($"spent-{repo}", [new Core.Ledger.LedgerCharge("repo-monthly", repo, month, 100m, 0m, CanBlock: true)], [spent], CancellationToken.None);
        }

        await using var exporter = await ExporterHarness.StartAsync(address, """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: repo-monthly }
            spec: { appliesPer: ["metadata.repo"], limit: { amount: 100, unit: usd, period: month } }
            """, maxLabelValues: 2);
        var scrape = await exporter.ScrapeWhenAsync(0);

        foreach (var gauge in new[] { "tollgate_budget_limit", "tollgate_budget_spent", "tollgate_budget_used_ratio", "tollgate_budget_forecast" })
        {
            Assert.Equal(["busy", "middling"], scrape.Values(gauge, "scope").Order(StringComparer.Ordinal));
        }

        Assert.Equal(30, scrape.Sum("tollgate_budget_spent", ("scope", "busy")));
    }

    private static string Repo(int i) => "repo-" + i.ToString("D4", CultureInfo.InvariantCulture);

    private static double Sum(Dictionary<string, double> counters) => counters.Where(c => !c.Key.StartsWith(LabelLimits.OverflowMetric, StringComparison.Ordinal)).Sum(c => c.Value);
}
