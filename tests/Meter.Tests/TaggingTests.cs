using System.Net;
using System.Text.Json;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

public sealed class TaggingTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    [Fact]
    public async Task Request_without_tags_is_rejected_naming_the_missing_keys()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), tags: null));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("missing_metadata", body.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(["team", "repo", "pipeline"], body.RootElement.GetProperty("missing").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("X-Tollgate-Metadata", body.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, (await meter.ScrapeAsync()).Sum("tollgate_requests_total", ("outcome", "rejected")));
    }

    [Fact]
    public async Task Partial_tags_name_only_what_is_missing_in_the_anthropic_error_shape()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), """{"team":"payments"}"""));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("error", body.RootElement.GetProperty("type").GetString());
        Assert.Equal("invalid_request_error", body.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(["repo", "pipeline"], body.RootElement.GetProperty("missing").EnumerateArray().Select(e => e.GetString()));
    }

    [Theory]
    [InlineData("{team:payments}", "is not valid JSON")]
    [InlineData("[\"team\"]", "must be a JSON object of strings")]
    [InlineData("{\"team\":42,\"repo\":\"r\",\"pipeline\":\"p\"}", "key \"team\" must be a string")]
    public async Task Malformed_metadata_header_is_rejected_naming_the_header(string header, string expected)
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), header));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var message = body.RootElement.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Equal("invalid_metadata", body.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.StartsWith("The X-Tollgate-Metadata header", message, StringComparison.Ordinal);
        Assert.Contains(expected, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Alias_header_is_accepted_and_tags_never_reach_the_provider()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        var marker = Guid.NewGuid().ToString("N");
        using var request = MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), tags: null, ("x-test-id", marker));
        request.Headers.TryAddWithoutValidation("X-TFY-METADATA", MeterHarness.Tags(team: "search", repo: "indexer", agentStep: "plan"));
        using var response = await meter.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var forwarded = fixture.Upstream.Requests.Single(r => r.Headers.TryGetValue("x-test-id", out var v) && v == marker);
        Assert.DoesNotContain(forwarded.Headers.Keys, k => k.Equals("X-TFY-METADATA", StringComparison.OrdinalIgnoreCase) || k.Equals("X-Tollgate-Metadata", StringComparison.OrdinalIgnoreCase));
        var scrape = await meter.ScrapeAsync();
        Assert.True(scrape.Has("tollgate_tokens_total", ("team", "search"), ("repo", "indexer"), ("agent_step", "plan")));
    }

    [Fact]
    public async Task Identity_tags_win_over_the_header_which_may_only_add_finer_keys()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, configure: o => o with
        {
            IdentityTags = new Dictionary<string, string> { ["team"] = "payments", ["repo"] = "checkout", ["pipeline"] = "ci" },
            Namespace = "ci-payments",
        });
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(),
            """{"team":"someone-else","agent_step":"review"}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var scrape = await meter.ScrapeAsync();
        Assert.True(scrape.Has("tollgate_cost_usd_total", ("namespace", "ci-payments"), ("team", "payments"), ("pipeline", "ci"), ("agent_step", "review")));
        Assert.False(scrape.Has("tollgate_cost_usd_total", ("team", "someone-else")));
    }

    [Fact]
    public async Task Meter_held_key_replaces_the_callers_key()
    {
        // The harness's meter holds the keys the fake issued, as TOLLGATE_*_API_KEY do in production.
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        var marker = Guid.NewGuid().ToString("N");
        using var anthropic = MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-api-key", "job-key"), ("x-test-id", marker + "a"));
        using var openai = MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(), ("Authorization", "Bearer job-key"), ("x-test-id", marker + "o"));
        using var anthropicResponse = await meter.SendAsync(anthropic);
        using var openAiResponse = await meter.SendAsync(openai);

        Assert.Equal(HttpStatusCode.OK, anthropicResponse.StatusCode);
        Assert.Equal(HttpStatusCode.OK, openAiResponse.StatusCode);
        var sentAnthropic = fixture.Upstream.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker + "a");
        var sentOpenAi = fixture.Upstream.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker + "o");
        Assert.Equal(FakeUpstreamOptions.DefaultAnthropicKey, sentAnthropic.ApiKey);
        Assert.Equal("Bearer " + FakeUpstreamOptions.DefaultOpenAiKey, Header(sentOpenAi.Headers, "Authorization"));
        Assert.DoesNotContain(sentAnthropic.Headers.Values.Concat(sentOpenAi.Headers.Values), value => value.Contains("job-key", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_a_meter_key_the_callers_own_key_reaches_the_provider()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, configure: o => o with { ApiKeys = new Dictionary<string, string>() });
        var marker = Guid.NewGuid().ToString("N");
        using var anthropic = MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(),
            ("x-api-key", FakeUpstreamOptions.DefaultAnthropicKey), ("x-test-id", marker + "a"));
        using var openai = MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(),
            ("Authorization", "Bearer " + FakeUpstreamOptions.DefaultOpenAiKey), ("x-test-id", marker + "o"));
        using var anthropicResponse = await meter.SendAsync(anthropic);
        using var openAiResponse = await meter.SendAsync(openai);

        Assert.Equal(HttpStatusCode.OK, anthropicResponse.StatusCode);
        Assert.Equal(HttpStatusCode.OK, openAiResponse.StatusCode);
        Assert.Equal(FakeUpstreamOptions.DefaultAnthropicKey, fixture.Upstream.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker + "a").ApiKey);
        Assert.Equal(FakeUpstreamOptions.DefaultOpenAiKey, fixture.Upstream.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker + "o").ApiKey);
    }

    [Fact]
    public async Task Without_any_key_the_provider_refuses_and_the_meter_passes_its_401_on()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, configure: o => o with { ApiKeys = new Dictionary<string, string>() });

        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags()));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("invalid_request_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
    }

    private static string? Header(IReadOnlyDictionary<string, string> headers, string name) =>
        headers.FirstOrDefault(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;
}
