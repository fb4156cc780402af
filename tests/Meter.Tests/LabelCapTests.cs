using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>Issue 12 defect 4: client-supplied label values cannot grow <c>/metrics</c> (or the meter's memory) without bound.</summary>
public sealed class LabelCapTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    private const string PerRepoBudget = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: per-repo-daily }
        spec:
          match: { subjects: ["team:payments"] }
          limit: { amount: 0.001, unit: usd, period: day }
          appliesPer: ["metadata.repo"]
        """;

    [Fact]
    public async Task Repos_past_the_cap_share_the_overflow_series_while_budgets_and_usage_events_see_the_real_repo()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 9, 0, 0, TimeSpan.Zero));
        var sink = new RecordingSink();
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, PerRepoBudget, time: clock, usageSink: sink);

        // gpt-4o, 100 in + 100 out: $0.00125, more than the repo's $0.001, so each repo's first request spends its budget.
        for (var i = 0; i < 1500; i++)
        {
            using var response = await meter.SendAsync(Request(Repo(i)));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var scrape = await meter.ScrapeAsync();
        var admitted = Enumerable.Range(0, 1000).Select(Repo).Append("__overflow__").ToHashSet();
        foreach (var family in new[] { "tollgate_tokens_total", "tollgate_cost_usd_total", "tollgate_requests_total", "tollgate_prompt_latency_seconds_count" })
        {
            Assert.True(admitted.SetEquals(scrape.Values(family, "repo")), family);
        }

        Assert.Equal(500, scrape.Sum("tollgate_label_overflow_total", ("label", "repo")));
        Assert.Equal(500, scrape.Sum("tollgate_requests_total", ("repo", "__overflow__")));
        Assert.Equal(0, scrape.Sum("tollgate_label_overflow_total", ("label", "team")));
        Assert.Equal(1500, scrape.Sum("tollgate_requests_total", ("outcome", "forwarded")));

        // The usage stream gets the real repo of every request.
        Assert.Equal(1500, sink.Events.Select(e => e.Tags["repo"]).Distinct(StringComparer.Ordinal).Count());

        // Budgets are kept per real repo: a folded repo is blocked on its own spend, and another folded repo is not.
        using (var again = await meter.SendAsync(Request(Repo(1499))))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, again.StatusCode);
            using var body = JsonDocument.Parse(await again.Content.ReadAsStringAsync());
            Assert.StartsWith($"Repository \"{Repo(1499)}\" has exhausted", body.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        using (var fresh = await meter.SendAsync(Request(Repo(1500))))
        {
            Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
        }

        var after = await meter.ScrapeAsync();
        Assert.Equal(502, after.Sum("tollgate_label_overflow_total", ("label", "repo")));
        Assert.Equal(1, after.Sum("tollgate_requests_total", ("outcome", "blocked"), ("repo", "__overflow__")));
        Assert.Equal(["blocked", "forwarded"], sink.Events.Where(e => e.Tags["repo"] == Repo(1499)).Select(e => e.Outcome).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Every_client_supplied_label_folds_at_its_own_cap_and_counts_each_request_once()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, configure: o => o with { MaxLabelValues = 2 });
        for (var i = 0; i < 3; i++)
        {
            // Unpriced models, so the unpriced-model counter is labelled too.
            using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(model: $"custom-{i}"),
                MeterHarness.Tags(team: $"team-{i}", repo: $"repo-{i}", pipeline: $"pipeline-{i}", agentStep: $"step-{i}"), ("x-fake-usage", "input=10,output=10")));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var scrape = await meter.ScrapeAsync();
        foreach (var (label, prefix) in new[] { ("team", "team"), ("repo", "repo"), ("pipeline", "pipeline"), ("agent_step", "step"), ("model", "custom") })
        {
            Assert.Equal(["__overflow__", $"{prefix}-0", $"{prefix}-1"], scrape.Values("tollgate_tokens_total", label).Order(StringComparer.Ordinal));
            Assert.Equal(1, scrape.Sum("tollgate_label_overflow_total", ("label", label)));
        }

        Assert.Equal(["__overflow__", "custom-0", "custom-1"], scrape.Values("tollgate_unpriced_model_requests_total", "model").Order(StringComparer.Ordinal));
        Assert.Equal(["__overflow__", "repo-0", "repo-1"], scrape.Values("tollgate_prompt_latency_seconds_bucket", "repo").Order(StringComparer.Ordinal));
        Assert.Equal(["__overflow__", "team-0", "team-1"], scrape.Values("tollgate_requests_total", "team").Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task An_invalid_model_named_by_the_provider_is_published_as_overflow_but_recorded_as_it_is()
    {
        var sink = new RecordingSink();
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, usageSink: sink);
        var served = new string('z', 300);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(), ("x-fake-model", served)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(["__overflow__"], scrape.Values("tollgate_tokens_total", "model"));
        Assert.Equal(1, scrape.Sum("tollgate_label_overflow_total", ("label", "model")));
        Assert.DoesNotContain(served, scrape.Text, StringComparison.Ordinal);
        Assert.Equal(served, Assert.Single(sink.Events).Model);
    }

    [Fact]
    public async Task A_per_repo_budget_publishes_gauges_for_the_most_spent_repos_up_to_the_cap_and_still_enforces_the_rest()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 9, 0, 0, TimeSpan.Zero));
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: per-repo-tokens }
            spec:
              limit: { amount: 40, unit: tokens, period: day }
              appliesPer: ["metadata.repo"]
            """, configure: o => o with { MaxLabelValues = 2 }, time: clock);
        foreach (var (repo, tokens) in new[] { ("quiet", 10), ("busy", 30), ("middling", 20), ("spent", 40) })
        {
            using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(repo: repo),
                ("x-fake-usage", $"input={tokens / 2},output={tokens / 2}")));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(["busy", "spent"], scrape.Values("tollgate_budget_used_ratio", "scope").Order(StringComparer.Ordinal));
        Assert.Equal(1, scrape.Sum("tollgate_budget_used_ratio", ("scope", "spent")));

        // A repo without gauges is still enforced on its own counter.
        using (var quiet = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(repo: "quiet"),
                   ("x-fake-usage", "input=15,output=15"))))
        {
            Assert.Equal(HttpStatusCode.OK, quiet.StatusCode);
        }

        using var blocked = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(repo: "quiet")));
        Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
        Assert.Equal(["quiet", "spent"], (await meter.ScrapeAsync()).Values("tollgate_budget_used_ratio", "scope").Order(StringComparer.Ordinal));
    }

    public static TheoryData<string, string> InvalidModels => new()
    {
        { "/v1/chat/completions", "huge" },
        { "/v1/messages", "huge" },
        { "/v1/chat/completions", "long" },
        { "/v1/responses", "control" },
        { "/v1/messages", "control" },
        { "/v1/chat/completions", "space" },
    };

    [Theory]
    [MemberData(nameof(InvalidModels))]
    public async Task Invalid_model_gets_a_400_naming_the_problem_and_publishes_nothing_of_it(string path, string kind)
    {
        var model = kind switch
        {
            "huge" => new string('m', 5 * 1024 * 1024),
            "long" => new string('m', 300),
            "control" => "gpt-4o\u001b[2J\r\nINFO forged log line",
            _ => "gpt 4o",
        };
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        var before = await meter.ScrapeAsync();
        var marker = Guid.NewGuid().ToString("N");

        using var response = await meter.SendAsync(MeterHarness.Request(path, $$"""{"model":{{JsonSerializer.Serialize(model)}},"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}""",
            MeterHarness.Tags(), ("x-test-id", marker)));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = body.RootElement.GetProperty("error");
        var type = path == "/v1/messages" ? error.GetProperty("tollgate_type").GetString() : error.GetProperty("type").GetString();
        Assert.Equal("invalid_request", type);
        var message = error.GetProperty("message").GetString()!;
        Assert.StartsWith("The request's \"model\" ", message, StringComparison.Ordinal);
        Assert.Contains(kind switch
        {
            "huge" => "is 5242880 characters long, over the limit of 256",
            "long" => "is 300 characters long, over the limit of 256",
            "control" => "has a control character U+001B at character 7 (starts \"gpt-4o\\u001B[2J\\u000D\\u000AINFO forged log line\")",
            _ => "has whitespace U+0020 at character 4",
        }, message, StringComparison.Ordinal);
        Assert.True(message.Length < 400, message);
        Assert.DoesNotContain(message, c => char.IsControl(c));

        Assert.DoesNotContain(fixture.Upstream.Requests, r => r.Headers.TryGetValue("x-test-id", out var v) && v == marker);
        var after = await meter.ScrapeAsync();
        Assert.Equal([string.Empty], after.Values("tollgate_requests_total", "model"));
        Assert.Equal(1, after.Sum("tollgate_requests_total", ("outcome", "rejected")));
        Assert.True(after.Text.Length - before.Text.Length < 1024, $"/metrics grew by {after.Text.Length - before.Text.Length} characters");
    }

    private static HttpRequestMessage Request(string repo) =>
        MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(repo: repo), ("x-fake-usage", "input=100,output=100"));

    private static string Repo(int i) => "repo-" + i.ToString("D4", CultureInfo.InvariantCulture);
}
