using System.Net;
using System.Text.Json;
using Tollgate.Core.Pricing;
using Tollgate.Core.Usage;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>Token accounting through the real meter for every dialect, streamed and not.</summary>
public sealed class AccountingTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    private static readonly PricingCatalog Catalog = PricingCatalog.LoadEmbedded();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Anthropic_messages_count_every_token_type(bool stream)
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(stream: stream), MeterHarness.Tags(),
            ("x-fake-usage", "input=120,output=45,cache_read=10,cache_write=5")));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(stream ? "event: message_stop" : "\"usage\"", body, StringComparison.Ordinal);
        await AssertTokensAsync(meter, "anthropic", new TokenUsage(Input: 120, Output: 45, CacheRead: 10, CacheWrite: 5, Reasoning: 0));
        var scrape = await meter.ScrapeAsync();
        Assert.Equal(stream ? 1 : 0, scrape.Sum("tollgate_time_to_first_token_seconds_count", ("provider", "anthropic")));
        Assert.Equal(1, scrape.Sum("tollgate_prompt_latency_seconds_count", ("streaming", stream ? "true" : "false")));
    }

    [Fact]
    public async Task Anthropic_cumulative_message_delta_is_kept_not_summed()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(stream: true), MeterHarness.Tags(),
            ("x-fake-usage", "input=50,output=40"), ("x-fake-repeat-delta", "true")));
        Assert.Equal(2, CountOccurrences(await response.Content.ReadAsStringAsync(), "event: message_delta"));

        await AssertTokensAsync(meter, "anthropic", new TokenUsage(50, 40, 0, 0, 0));
    }

    [Theory]
    [InlineData(false, null)]
    [InlineData(true, true)]
    public async Task OpenAI_chat_splits_cached_and_reasoning_tokens(bool stream, bool? includeUsage)
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(stream: stream, includeUsage: includeUsage),
            MeterHarness.Tags(), ("x-fake-usage", "input=100,cache_read=20,output=30,reasoning=7")));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        if (stream)
        {
            // The client asked for usage, so it sees the usage chunk.
            Assert.Contains("\"prompt_tokens\":120", body, StringComparison.Ordinal);
        }

        await AssertTokensAsync(meter, "openai", new TokenUsage(Input: 100, Output: 30, CacheRead: 20, CacheWrite: 0, Reasoning: 7));
    }

    [Fact]
    public async Task OpenAI_stream_without_include_usage_is_metered_and_the_usage_chunk_hidden()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        var tag = Guid.NewGuid().ToString("N");
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(stream: true),
            MeterHarness.Tags(), ("x-fake-usage", "input=64,output=16"), ("x-fake-chunks", "4"), ("x-test-id", tag)));
        var body = await response.Content.ReadAsStringAsync();

        var upstreamBody = fixture.Upstream.Requests.Last(r => r.Body.Contains(tag, StringComparison.Ordinal) || r.Headers.Values.Any(v => v.Contains(tag, StringComparison.Ordinal))).Body;
        using (var sent = JsonDocument.Parse(upstreamBody))
        {
            Assert.True(sent.RootElement.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        }

        Assert.DoesNotContain("\"prompt_tokens\"", body, StringComparison.Ordinal);
        Assert.DoesNotContain("\"choices\":[]", body, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", body, StringComparison.Ordinal);
        Assert.Equal(6, CountOccurrences(body, "data: {"));
        await AssertTokensAsync(meter, "openai", new TokenUsage(64, 16, 0, 0, 0));
    }

    [Fact]
    public async Task OpenAI_usage_chunk_with_choices_keeps_the_choices_but_loses_the_usage()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(stream: true),
            MeterHarness.Tags(), ("x-fake-usage", "input=10,output=5"), ("x-fake-usage-chunk-choices", "true"), ("x-fake-chunks", "2")));
        var body = await response.Content.ReadAsStringAsync();

        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Where(e => e != "data: [DONE]").ToList();
        Assert.All(events, e =>
        {
            using var chunk = JsonDocument.Parse(e["data: ".Length..]);
            Assert.True(!chunk.RootElement.TryGetProperty("usage", out var usage) || usage.ValueKind == JsonValueKind.Null);
            Assert.True(chunk.RootElement.GetProperty("choices").GetArrayLength() > 0);
        });
        await AssertTokensAsync(meter, "openai", new TokenUsage(10, 5, 0, 0, 0));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task OpenAI_responses_api_is_metered(bool stream)
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/responses", MeterHarness.ResponsesBody(stream: stream), MeterHarness.Tags(),
            ("x-fake-usage", "input=300,cache_read=100,output=80,reasoning=40")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        if (stream)
        {
            Assert.Contains("event: response.completed", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await AssertTokensAsync(meter, "openai", new TokenUsage(Input: 300, Output: 80, CacheRead: 100, CacheWrite: 0, Reasoning: 40), model: "gpt-5");
    }

    [Fact]
    public async Task OpenAI_embeddings_are_metered_as_input()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/embeddings", """{"model":"text-embedding-3-small","input":"hello"}""", MeterHarness.Tags(),
            ("x-fake-usage", "input=8")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await AssertTokensAsync(meter, "openai", new TokenUsage(8, 0, 0, 0, 0), model: "text-embedding-3-small");
    }

    [Fact]
    public async Task Count_tokens_is_forwarded_but_never_billed()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages/count_tokens", MeterHarness.AnthropicBody(), MeterHarness.Tags(),
            ("x-fake-usage", "input=77")));
        Assert.Contains("\"input_tokens\":77", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(0, scrape.Sum("tollgate_tokens_total"));
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "unbilled")));
        Assert.Equal(0, scrape.Sum("tollgate_requests_total", ("outcome", "forwarded")));
    }

    [Fact]
    public async Task Dated_snapshot_is_priced_as_its_family()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude-sonnet-4-5"), MeterHarness.Tags(),
            ("x-fake-usage", "input=1000000,output=1000000"), ("x-fake-model", "claude-sonnet-4-5-20250929")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(18.0, scrape.Sum("tollgate_cost_usd_total", ("model", "claude-sonnet-4-5-20250929")), 6);
        Assert.Equal(0, scrape.Sum("tollgate_unpriced_model_requests_total"));
    }

    [Fact]
    public async Task Unknown_model_is_priced_fail_safe_and_visible()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(model: "mystery-model-9"), MeterHarness.Tags(),
            ("x-fake-usage", "input=1000,output=1000")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var scrape = await meter.ScrapeAsync();
        var expected = (double)Catalog.Fallback.Cost(new TokenUsage(1000, 1000, 0, 0, 0));
        Assert.True(expected > 0);
        Assert.Equal(expected, scrape.Sum("tollgate_cost_usd_total", ("model", "mystery-model-9")), 9);
        Assert.Equal(1, scrape.Sum("tollgate_unpriced_model_requests_total", ("model", "mystery-model-9")));
    }

    [Fact]
    public async Task Abandoned_stream_cancels_upstream_and_is_still_counted()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        var cancelledBefore = fixture.Upstream.CancelledStreams;
        using var request = MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(stream: true), MeterHarness.Tags(),
            ("x-fake-usage", "input=900,output=500"), ("x-fake-chunks", "200"), ("x-fake-chunk-delay-ms", "20"));
        using (var response = await meter.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            await using var stream = await response.Content.ReadAsStreamAsync();
            using var reader = new StreamReader(stream);
            var deltas = 0;
            while (deltas < 5 && await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("event: content_block_delta", StringComparison.Ordinal))
                {
                    deltas++;
                }
            }
        }

        // Disposing the response aborts the client connection; the meter must cancel the upstream and settle.
        var scrape = await WaitForAsync(meter, s => s.Sum("tollgate_usage_estimated_total") >= 1);
        await WaitUntilAsync(() => fixture.Upstream.CancelledStreams > cancelledBefore);
        Assert.Equal(900, scrape.Sum("tollgate_tokens_total", ("type", "input")));
        var output = scrape.Sum("tollgate_tokens_total", ("type", "output"));
        Assert.InRange(output, 5, 199);
    }

    [Fact]
    public async Task Upstream_disconnect_mid_stream_is_estimated_from_the_events_seen()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var request = MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(stream: true), MeterHarness.Tags(),
            ("x-fake-usage", "input=100,output=60"), ("x-fake-chunks", "10"), ("x-fake-disconnect-after", "3"));
        try
        {
            using var response = await meter.Client.SendAsync(request);
            await response.Content.ReadAsStringAsync();
        }
        catch (HttpRequestException)
        {
            // The cut may surface to the client as a truncated body or as an error; either is faithful.
        }

        var scrape = await WaitForAsync(meter, s => s.Sum("tollgate_usage_estimated_total", ("provider", "openai")) >= 1);
        Assert.InRange(scrape.Sum("tollgate_tokens_total", ("type", "output")), 3, 5);
        Assert.True(scrape.Sum("tollgate_tokens_total", ("type", "input")) > 0);
    }

    private static async Task AssertTokensAsync(MeterHarness meter, string provider, TokenUsage expected, string? model = null)
    {
        var scrape = await meter.ScrapeAsync();
        Assert.Equal(expected.Input, scrape.Sum("tollgate_tokens_total", ("type", "input"), ("provider", provider)));
        Assert.Equal(expected.Output, scrape.Sum("tollgate_tokens_total", ("type", "output"), ("provider", provider)));
        Assert.Equal(expected.CacheRead, scrape.Sum("tollgate_tokens_total", ("type", "cache_read"), ("provider", provider)));
        Assert.Equal(expected.CacheWrite, scrape.Sum("tollgate_tokens_total", ("type", "cache_write"), ("provider", provider)));
        Assert.Equal(expected.Reasoning, scrape.Sum("tollgate_tokens_total", ("type", "reasoning"), ("provider", provider)));
        Assert.True(scrape.Has("tollgate_tokens_total", ("team", "payments"), ("repo", "checkout"), ("pipeline", "pr-review"), ("namespace", "")));

        var price = Catalog.Resolve(provider, model ?? (provider == "anthropic" ? "claude-sonnet-4-5" : "gpt-4o"));
        Assert.True(price.Known);
        Assert.Equal((double)price.Price.Cost(expected), scrape.Sum("tollgate_cost_usd_total", ("provider", provider)), 9);
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "forwarded")));
    }

    internal static async Task<MetricsScrape> WaitForAsync(MeterHarness meter, Func<MetricsScrape, bool> condition)
    {
        // Settlement happens after the client is gone; poll the real endpoint with a deadline rather than sleep a guess.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var scrape = await meter.ScrapeAsync();
            if (condition(scrape) || DateTime.UtcNow > deadline)
            {
                return scrape;
            }

            await Task.Delay(25);
        }
    }

    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 20 s");
            await Task.Delay(25);
        }
    }

    private static int CountOccurrences(string text, string value)
    {
        var count = 0;
        for (var i = text.IndexOf(value, StringComparison.Ordinal); i >= 0; i = text.IndexOf(value, i + value.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
