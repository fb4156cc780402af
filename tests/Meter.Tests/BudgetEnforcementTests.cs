using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Ledger;
using Tollgate.Meter.Tests.Support;
using Tollgate.TestSupport;
using Xunit.Abstractions;

namespace Tollgate.Meter.Tests;

public sealed class BudgetEnforcementTests(UpstreamFixture fixture, ITestOutputHelper output) : IClassFixture<UpstreamFixture>
{
    private const string RepoBudget = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: transaction-service-daily }
        spec:
          priority: 100
          match: { subjects: ["team:payments"] }
          limit: { amount: 0.001, unit: usd, period: day }
          appliesPer: ["metadata.repo"]
          message:
            mitigation: "Review pipeline logs for infinite loops or request a quota increase via the platform team."
            dashboardUrl: "https://grafana.example.com/d/tollgate-budgets"
        """;

    [Fact]
    public async Task Exhausted_budget_answers_the_429_contract_in_the_openai_shape()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 18, 14, 32, 10, TimeSpan.Zero));
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, RepoBudget, time: clock);

        // input 100 + output 100 of gpt-4o costs more than the $0.001 limit: the first request spends it all.
        using (var first = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(repo: "transaction-service"),
                   ("x-fake-usage", "input=100,output=100"))))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        using var blocked = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(repo: "transaction-service")));
        Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
        Assert.Equal("false", blocked.Headers.GetValues("x-should-retry").Single());
        var expectedRetry = (int)(new DateTimeOffset(2026, 11, 19, 0, 0, 0, TimeSpan.Zero) - clock.GetUtcNow()).TotalSeconds;
        Assert.Equal(expectedRetry.ToString(CultureInfo.InvariantCulture), blocked.Headers.GetValues("Retry-After").Single());

        using var body = JsonDocument.Parse(await blocked.Content.ReadAsStringAsync());
        var root = body.RootElement;
        Assert.Equal("budget_exceeded", root.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("transaction-service-daily", root.GetProperty("rule_id").GetString());
        Assert.Equal(root.GetProperty("error").GetProperty("message").GetString(), root.GetProperty("detail").GetString());
        Assert.StartsWith("Repository \"transaction-service\" has exhausted its daily $", root.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("AI budget; refused at 14:32 UTC, it resets at 2026-11-19 00:00 UTC.", root.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("Review pipeline logs for infinite loops or request a quota increase via the platform team.", root.GetProperty("mitigation").GetString());
        Assert.Equal("https://grafana.example.com/d/tollgate-budgets?var-budget=transaction-service-daily", root.GetProperty("dashboard").GetString());

        // Another repository of the same team has its own counter.
        using var other = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(repo: "ledger-service")));
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Equal(1, (await meter.ScrapeAsync()).Sum("tollgate_requests_total", ("outcome", "blocked"), ("repo", "transaction-service")));
    }

    [Fact]
    public async Task Exhausted_budget_answers_a_rate_limit_error_anthropic_clients_print()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, RepoBudget.Replace("0.001", "1", StringComparison.Ordinal).Replace("unit: usd", "unit: tokens", StringComparison.Ordinal));
        using (var first = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-fake-usage", "input=1,output=1"))))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        using var blocked = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags()));
        Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
        using var body = JsonDocument.Parse(await blocked.Content.ReadAsStringAsync());
        Assert.Equal("error", body.RootElement.GetProperty("type").GetString());
        Assert.Equal("rate_limit_error", body.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Matches(@"^Repository ""checkout"" has exhausted its daily 1-token AI budget; refused at \d\d:\d\d UTC, it resets at \d{4}-\d\d-\d\d 00:00 UTC\.$",
            body.RootElement.GetProperty("detail").GetString());
        Assert.Equal(body.RootElement.GetProperty("detail").GetString(), body.RootElement.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Hard_cap_refuses_a_request_whose_estimate_would_exceed_it_and_says_so()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: checkout-hard }
            spec: { hardCap: true, appliesPer: ["metadata.repo"], limit: { amount: 1500, unit: tokens, period: day } }
            """);
        using (var first = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(maxTokens: 1000), MeterHarness.Tags(),
                   ("x-fake-usage", "input=10,output=1000"))))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        // 490 tokens left: a soft budget would admit another max_tokens 1000 request; the hard cap does not.
        using var blocked = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(maxTokens: 1000), MeterHarness.Tags()));
        Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
        Assert.Equal("false", blocked.Headers.GetValues("x-should-retry").Single());
        using var body = JsonDocument.Parse(await blocked.Content.ReadAsStringAsync());
        Assert.Equal("checkout-hard", body.RootElement.GetProperty("rule_id").GetString());
        Assert.Matches(@"^Repository ""checkout"" has 490 tokens left of its daily 1,500-token AI budget, a hard cap; this request's estimate of 1,\d{3} tokens would exceed the hard cap\. A smaller request may still fit; refused at \d\d:\d\d UTC, it resets at \d{4}-\d\d-\d\d 00:00 UTC\.$",
            body.RootElement.GetProperty("detail").GetString());

        // A request that fits still passes.
        using var small = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(maxTokens: 300), MeterHarness.Tags(),
            ("x-fake-usage", "input=10,output=300")));
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        var counter = Assert.Single(await meter.App.Ledger.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None));
        Assert.Equal(1320m, counter.Spent);
    }

    [Fact]
    public async Task Concurrent_requests_overshoot_a_small_budget_by_at_most_one_estimate()
    {
        const decimal Limit = 0.05m;
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, $$"""
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: tight }
            spec: { limit: { amount: {{Limit}}, unit: usd, period: day } }
            """);

        // Each request: claude-haiku-4-5 reporting 10 input and 1000 output tokens; the reservation covers max_tokens 1000
        // and the tokenized body, so every actual cost is within its estimate, as with a real provider.
        var body = MeterHarness.AnthropicBody(model: "claude-haiku-4-5", maxTokens: 1000);
        var tasks = Enumerable.Range(0, 256).Select(async i =>
        {
            using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", body,
                MeterHarness.Tags(), ("x-fake-usage", "input=10,output=1000")));
            return response.StatusCode;
        }).ToList();
        var statuses = await Task.WhenAll(tasks);

        var ledger = meter.App.Ledger;
        var counter = Assert.Single(await ledger.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None));
        var catalog = Core.Pricing.PricingCatalog.LoadEmbedded();
        var price = catalog.Resolve("anthropic", "claude-haiku-4-5").Price;
        var perRequest = price.Cost(new Core.Usage.TokenUsage(10, 1000, 0, 0, 0));
        var allowed = statuses.Count(s => s == HttpStatusCode.OK);
        var blocked = statuses.Count(s => s == HttpStatusCode.TooManyRequests);
        output.WriteLine($"allowed {allowed}, blocked {blocked}, settled {counter.Spent} of {Limit}, overshoot {counter.Spent - Limit}, one request {perRequest}");

        Assert.Equal(256, allowed + blocked);
        Assert.True(blocked > 0);
        Assert.Equal(0m, counter.Reserved);
        Assert.Equal(perRequest * allowed, counter.Spent);

        // The slack is one reservation: at most one token per body byte at the dearest input rate, plus max_tokens of output.
        var slack = ((Math.Max(price.Input, price.CacheWrite) * System.Text.Encoding.UTF8.GetByteCount(body) * 1.2m) + (price.Output * 1000m)) / 1_000_000m;
        Assert.True(counter.Spent - Limit <= slack, $"overshoot {counter.Spent - Limit} exceeds one estimate {slack}");
    }

    [Fact]
    public async Task Spend_survives_a_restart_of_the_meter()
    {
        var directory = Directory.CreateTempSubdirectory("tollgate-restart-").FullName;
        const string Policy = """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: persisted }
            spec: { limit: { amount: 100000, unit: tokens, period: month } }
            """;
        var first = await MeterHarness.StartAsync(fixture.Upstream, Policy, directory: directory);
        for (var i = 0; i < 3; i++)
        {
            using var response = await first.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-fake-usage", "input=700,output=300")));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await first.StopKeepingFilesAsync();

        await using var second = await MeterHarness.StartAsync(fixture.Upstream, Policy, directory: directory);
        var scrape = await second.ScrapeAsync();
        Assert.Equal(3000, scrape.Sum("tollgate_budget_spent", ("budget", "persisted")));
        Assert.Equal(0.03, scrape.Sum("tollgate_budget_used_ratio", ("budget", "persisted")), 9);
        Assert.Equal(100000, scrape.Sum("tollgate_budget_limit", ("budget", "persisted"), ("unit", "tokens"), ("period", "month")));
    }

    [Theory]
    [InlineData("closed", HttpStatusCode.ServiceUnavailable)]
    [InlineData("open", HttpStatusCode.OK)]
    public async Task Unreachable_ledger_applies_the_budgets_failure_policy(string failurePolicy, HttpStatusCode expected)
    {
        var policy = RepoBudget.Replace("0.001", "100", StringComparison.Ordinal) + $"\n  failurePolicy: {failurePolicy}\n";
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, policy, ledger: new SwitchableLedger(EmbeddedLedger.InMemory(TimeProvider.System)) { Down = true });
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags()));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(expected, response.StatusCode);
        if (expected == HttpStatusCode.ServiceUnavailable)
        {
            using var body = JsonDocument.Parse(text);
            Assert.Equal("ledger_unavailable", body.RootElement.GetProperty("error").GetProperty("type").GetString());
            Assert.StartsWith("Budget \"transaction-service-daily\" cannot be checked because the spend ledger is unavailable",
                body.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await meter.Admin.GetAsync("/readyz")).StatusCode);

        // Not ready to record spend, yet started: the sidecar's startup probe lets the job's containers run.
        Assert.Equal("started\n", await meter.Admin.GetStringAsync("/startupz"));
    }

    [Fact]
    public async Task Usage_of_a_fail_open_request_is_spooled_while_the_ledger_is_down_and_counted_once_when_it_returns()
    {
        var policy = RepoBudget.Replace("0.001", "100", StringComparison.Ordinal) + "\n  failurePolicy: open\n";
        // Real clock, like the meter: its spool replays on a timer once the ledger is back; no fixed date is involved.
        await using var ledger = new SwitchableLedger(EmbeddedLedger.InMemory(TimeProvider.System)) { Down = true };
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, policy, ledger: ledger);
        for (var i = 0; i < 3; i++)
        {
            using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(),
                ("x-fake-usage", "input=1000,output=100")));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // A client may read its whole response before the meter has recorded the request: wait for the spool to say 3.
        var spoolDeadline = DateTime.UtcNow.AddSeconds(30);
        while ((await meter.ScrapeAsync()).Sum("tollgate_usage_spooled_records") < 3 && DateTime.UtcNow < spoolDeadline)
        {
            await Task.Delay(50);
        }

        var down = await meter.ScrapeAsync();
        Assert.Equal(3, down.Sum("tollgate_usage_spooled_records"));
        Assert.Empty(await ledger.Inner.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None));

        ledger.Down = false;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await meter.ScrapeAsync()).Sum("tollgate_usage_spooled_records") > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        var up = await meter.ScrapeAsync();
        Assert.Equal(0, up.Sum("tollgate_usage_spooled_records"));
        Assert.Equal(3, up.Sum("tollgate_usage_replayed_total"));
        var counter = Assert.Single(await ledger.Inner.SnapshotAsync(DateTimeOffset.UtcNow, CancellationToken.None));
        var cost = Core.Pricing.PricingCatalog.LoadEmbedded().Resolve("openai", "gpt-4o").Price.Cost(new Core.Usage.TokenUsage(1000, 100, 0, 0, 0));
        Assert.Equal(cost * 3, counter.Spent);
        Assert.Equal(0m, counter.Reserved);
    }
}
