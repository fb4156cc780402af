using System.Net;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>The exact-match response cache of a routing rule, through the real meter and a real fake provider.</summary>
public sealed class ResponseCacheTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    private const string Caching = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiRoutingRule
        metadata: { name: cached-reviews, namespace: ci }
        spec:
          cache: { enabled: true, ttlSeconds: 60 }
        """;

    [Fact]
    public async Task A_repeated_request_is_answered_from_the_cache_without_calling_the_provider()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, Caching);
        var body = MeterHarness.AnthropicBody().Replace("Review this diff.", $"Review diff {Guid.NewGuid()}.", StringComparison.Ordinal);
        fixture.Upstream.ClearRequests();

        using var first = await meter.SendAsync(MeterHarness.Request("/v1/messages", body, MeterHarness.Tags(), ("x-fake-usage", "input=1000,output=200")));
        var firstBody = await first.Content.ReadAsByteArrayAsync();

        // Same JSON, other property order and spacing: still the same request.
        var reordered = body.Replace("\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,", "\"max_tokens\": 1024, \"model\": \"claude-sonnet-4-5\", ", StringComparison.Ordinal);
        Assert.NotEqual(body, reordered);
        using var second = await meter.SendAsync(MeterHarness.Request("/v1/messages", reordered, MeterHarness.Tags()));
        var secondBody = await second.Content.ReadAsByteArrayAsync();

        Assert.Equal("miss", first.Headers.GetValues("x-tollgate-cache").Single());
        Assert.Equal("hit", second.Headers.GetValues("x-tollgate-cache").Single());
        Assert.Equal(firstBody, secondBody);
        Assert.Single(fixture.Upstream.Requests);

        var scrape = await meter.ScrapeAsync();
        var cost = Core.Pricing.PricingCatalog.LoadEmbedded().Resolve("anthropic", "claude-sonnet-4-5").Price.Cost(new Core.Usage.TokenUsage(1000, 200, 0, 0, 0));
        Assert.Equal((double)cost, scrape.Sum("tollgate_cache_saved_usd_total", ("team", "payments")), 9);
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "cached")));
        Assert.Equal(1000, scrape.Sum("tollgate_tokens_total", ("type", "input")));
        Assert.Equal(1, scrape.Sum("tollgate_cache_lookups_total", ("result", "hit")));
        Assert.Equal(1, scrape.Sum("tollgate_cache_entries"));
    }

    [Fact]
    public async Task Entries_expire_after_the_rules_ttl()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, Caching, time: clock);
        var body = MeterHarness.ChatBody().Replace("Summarize the build log.", $"Summarize log {Guid.NewGuid()}.", StringComparison.Ordinal);
        fixture.Upstream.ClearRequests();

        using (await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", body, MeterHarness.Tags())))
        {
        }

        clock.Advance(TimeSpan.FromSeconds(59));
        using (var fresh = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", body, MeterHarness.Tags())))
        {
            Assert.Equal("hit", fresh.Headers.GetValues("x-tollgate-cache").Single());
        }

        clock.Advance(TimeSpan.FromSeconds(2));
        using var expired = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", body, MeterHarness.Tags()));

        Assert.Equal("miss", expired.Headers.GetValues("x-tollgate-cache").Single());
        Assert.Equal(2, fixture.Upstream.Requests.Count);
    }

    [Fact]
    public async Task Entries_of_one_team_are_never_served_to_another()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, Caching);
        var body = MeterHarness.AnthropicBody().Replace("Review this diff.", $"Review diff {Guid.NewGuid()}.", StringComparison.Ordinal);
        fixture.Upstream.ClearRequests();

        using var payments = await meter.SendAsync(MeterHarness.Request("/v1/messages", body, MeterHarness.Tags(team: "payments")));
        using var search = await meter.SendAsync(MeterHarness.Request("/v1/messages", body, MeterHarness.Tags(team: "search")));
        using var paymentsAgain = await meter.SendAsync(MeterHarness.Request("/v1/messages", body, MeterHarness.Tags(team: "payments")));

        Assert.Equal("miss", search.Headers.GetValues("x-tollgate-cache").Single());
        Assert.Equal("hit", paymentsAgain.Headers.GetValues("x-tollgate-cache").Single());
        Assert.Equal(2, fixture.Upstream.Requests.Count);
    }

    [Theory]
    [InlineData("/v1/messages")]
    [InlineData("/v1/chat/completions")]
    public async Task A_cached_stream_replays_as_the_same_event_stream(string path)
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, Caching);
        var unique = Guid.NewGuid().ToString();
        var body = path == "/v1/messages"
            ? MeterHarness.AnthropicBody(stream: true).Replace("Review this diff.", unique, StringComparison.Ordinal)
            : MeterHarness.ChatBody(stream: true).Replace("Summarize the build log.", unique, StringComparison.Ordinal);
        fixture.Upstream.ClearRequests();

        using var first = await meter.SendAsync(MeterHarness.Request(path, body, MeterHarness.Tags(), ("x-fake-chunks", "8")));
        var live = await first.Content.ReadAsStringAsync();
        using var second = await meter.SendAsync(MeterHarness.Request(path, body, MeterHarness.Tags(), ("x-fake-chunks", "8")));
        var replay = await second.Content.ReadAsStringAsync();

        Assert.Equal("hit", second.Headers.GetValues("x-tollgate-cache").Single());
        Assert.Equal("text/event-stream", second.Content.Headers.ContentType!.MediaType);
        Assert.Equal(live, replay);
        Assert.NotEmpty(SseOrJson.Text(path, replay));
        Assert.Equal(SseOrJson.Text(path, live), SseOrJson.Text(path, replay));
        Assert.Single(fixture.Upstream.Requests);

        // The meter hid its injected usage chunk from the live stream; the replay is what the client saw, so it has none either.
        if (path == "/v1/chat/completions")
        {
            Assert.DoesNotContain("\"usage\":{", replay, StringComparison.Ordinal);
        }
    }
}
