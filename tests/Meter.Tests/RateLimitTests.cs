using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

public sealed class RateLimitTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    private const string Paced = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiRoutingRule
        metadata: { name: review-pacing, namespace: ci-payments }
        spec:
          match: { metadata: { agent_step: review } }
          limits: { requestsPerMinute: 2, tokensPerMinute: 5000 }
        """;

    [Fact]
    public async Task Requests_over_a_rules_per_minute_limit_get_a_retryable_429_naming_the_rule()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 9, 0, 30, TimeSpan.Zero));
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, Paced, time: clock);
        for (var i = 0; i < 2; i++)
        {
            using var ok = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(agentStep: "review")));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using var limited = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(agentStep: "review")));
        using var body = JsonDocument.Parse(await limited.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("true", limited.Headers.GetValues("x-should-retry").Single());
        Assert.Equal("ci-payments/review-pacing", limited.Headers.GetValues("x-tollgate-rate-limit").Single());

        // 30 s left in this minute, then the 2 requests must decay to 1: half a minute more.
        Assert.Equal(TimeSpan.FromSeconds(60), limited.Headers.RetryAfter!.Delta);
        Assert.Equal("error", body.RootElement.GetProperty("type").GetString());
        Assert.Equal("rate_limit_error", body.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("ci-payments/review-pacing", body.RootElement.GetProperty("rule_id").GetString());
        Assert.Equal("Routing rule \"ci-payments/review-pacing\" allows 2 requests per minute and that is reached; retry in 60 s.",
            body.RootElement.GetProperty("error").GetProperty("message").GetString());

        // Requests the rule does not match are not paced; and after the window slides, the rule admits again.
        using (var other = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(agentStep: "summarize"))))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        clock.Advance(TimeSpan.FromSeconds(60));
        using (var later = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(agentStep: "review"))))
        {
            Assert.Equal(HttpStatusCode.OK, later.StatusCode);
        }

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "blocked")));
    }

    [Fact]
    public async Task Tokens_per_minute_count_what_the_provider_billed()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 23, 9, 0, 0, TimeSpan.Zero));
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, Paced.Replace("requestsPerMinute: 2", "requestsPerMinute: 100", StringComparison.Ordinal), time: clock);
        using (var big = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(agentStep: "review"),
                   ("x-fake-usage", "input=4000,output=1000"))))
        {
            Assert.Equal(HttpStatusCode.OK, big.StatusCode);
        }

        using var limited = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(agentStep: "review")));
        using var body = JsonDocument.Parse(await limited.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("rate_limit_exceeded", body.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("allows 5000 tokens per minute", body.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
