using System.Net;
using System.Text.Json;
using Tollgate.Meter.Tests.Support;
using Tollgate.TestSupport;

namespace Tollgate.Meter.Tests;

/// <summary>
/// AiRoutingRule in the meter: model routing, fallback across targets on failures, retries that honour Retry-After,
/// circuit breaking, key replacement, context caps and budget fallbacks. Two real fake providers on loopback; the
/// second one fails on command.
/// </summary>
public sealed class RoutingTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>, IAsyncLifetime
{
    /// <summary>The key of the second account, which the routing rule's Secret holds.</summary>
    private const string RoutedKey = "sk-ant-routed";

    private FakeLlmUpstream _secondary = null!;

    // The second endpoint accepts the provider's default key (targets without a Secret carry it) and the rule's own.
    public async Task InitializeAsync() => _secondary = await FakeLlmUpstream.StartAsync(
        new FakeUpstreamOptions { AnthropicKeys = [FakeUpstreamOptions.DefaultAnthropicKey, RoutedKey] });

    public async Task DisposeAsync() => await _secondary.DisposeAsync();

    private static string Rule(string spec) => $"""
        apiVersion: tollgate.io/v1alpha1
        kind: AiRoutingRule
        metadata: {"{"} name: reviews, namespace: ci {"}"}
        spec:
        {spec}
        """;

    /// <param name="extra">More lines of the route, indented by four spaces.</param>
    private string TwoTargets(string extra = "") => Rule($"""
          route:
            targets:
              - {"{"} provider: anthropic, model: claude-sonnet-4-5, baseUrl: "{_secondary.BaseUri}" {"}"}
              - {"{"} provider: anthropic, model: claude-haiku-4-5 {"}"}
        {extra}
        """);

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task Requests_are_routed_by_agent_step_to_the_rules_model()
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, Rule("""
              match: { metadata: { agent_step: summarize } }
              route: { targets: [{ provider: anthropic, model: claude-haiku-4-5 }] }
            """));
        fixture.Upstream.ClearRequests();

        using var summarize = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(agentStep: "summarize")));
        using var review = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(agentStep: "review")));

        Assert.Equal(HttpStatusCode.OK, summarize.StatusCode);
        Assert.Equal("rule=ci/reviews; target=0 anthropic/claude-haiku-4-5; attempts=1", summarize.Headers.GetValues("x-tollgate-route").Single());
        Assert.False(review.Headers.Contains("x-tollgate-route"));
        var models = fixture.Upstream.Requests.Select(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("model").GetString()).ToList();
        Assert.Equal(["claude-haiku-4-5", "claude-sonnet-4-5"], models);

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(100, scrape.Sum("tollgate_tokens_total", ("type", "input"), ("model", "claude-haiku-4-5"), ("agent_step", "summarize")));
        Assert.Equal(1, scrape.Sum("tollgate_route_attempts_total", ("rule", "ci/reviews"), ("result", "success")));
    }

    [Theory]
    [InlineData(500)]
    [InlineData(429)]
    [InlineData(529)]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task Upstream_failure_falls_back_to_the_next_target(int status)
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, TwoTargets("    retry: { attempts: 0 }"));
        _secondary.FailNext(1, status);

        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags()));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("claude-haiku-4-5", body.RootElement.GetProperty("model").GetString());
        Assert.Equal("rule=ci/reviews; target=1 anthropic/claude-haiku-4-5; attempts=2; fallback=upstream", response.Headers.GetValues("x-tollgate-route").Single());
        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "fallback")));
        Assert.Equal(1, scrape.Sum("tollgate_fallbacks_total", ("rule", "ci/reviews"), ("kind", "upstream")));
        Assert.Equal(1, scrape.Sum("tollgate_route_attempts_total", ("model", "claude-sonnet-4-5"), ("result", "failure")));
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task A_429_is_retried_on_the_same_target_after_its_retry_after()
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, TwoTargets("    retry: { attempts: 2 }"));
        _secondary.ClearRequests();
        _secondary.FailNext(1, 429, retryAfterSeconds: 1);

        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags()));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("rule=ci/reviews; target=0 anthropic/claude-sonnet-4-5; attempts=2", response.Headers.GetValues("x-tollgate-route").Single());
        var attempts = _secondary.Requests;
        Assert.Equal(2, attempts.Count);
        Assert.True(attempts[1].ReceivedAt - attempts[0].ReceivedAt >= TimeSpan.FromMilliseconds(900),
            $"the retry came {(attempts[1].ReceivedAt - attempts[0].ReceivedAt).TotalMilliseconds} ms after the 429 that asked for 1 s");
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task A_target_that_does_not_answer_in_time_falls_back()
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, Rule($"""
              route:
                timeoutSeconds: 1
                retry: {"{"} attempts: 0 {"}"}
                targets:
                  - {"{"} provider: anthropic, model: claude-sonnet-4-5, baseUrl: "{_secondary.BaseUri}" {"}"}
                  - {"{"} provider: anthropic, model: claude-haiku-4-5 {"}"}
            """));
        _secondary.StallNext(1, TimeSpan.FromSeconds(10));

        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags()));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.EndsWith("target=1 anthropic/claude-haiku-4-5; attempts=2; fallback=upstream", response.Headers.GetValues("x-tollgate-route").Single(), StringComparison.Ordinal);
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task An_open_circuit_skips_the_failing_target_without_calling_it()
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, TwoTargets("    retry: { attempts: 0 }\n    circuitBreaker: { failureRatio: 0.5, breakSeconds: 60 }"));
        _secondary.ClearRequests();
        _secondary.FailNext(4, 503);
        for (var i = 0; i < 4; i++)
        {
            using var failedOver = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags()));
            Assert.Equal(HttpStatusCode.OK, failedOver.StatusCode);
        }

        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags()));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(4, _secondary.Requests.Count);
        Assert.EndsWith("attempts=1; fallback=upstream", response.Headers.GetValues("x-tollgate-route").Single(), StringComparison.Ordinal);
        Assert.Equal(1, (await meter.ScrapeAsync()).Sum("tollgate_route_attempts_total", ("model", "claude-sonnet-4-5"), ("result", "circuit_open")));
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task A_stream_cut_after_its_first_byte_is_never_retried()
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, TwoTargets("    retry: { attempts: 2 }"));
        _secondary.ClearRequests();
        fixture.Upstream.ClearRequests();
        using var request = MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(stream: true), MeterHarness.Tags(),
            ("x-fake-chunks", "10"), ("x-fake-disconnect-after", "3"));
        try
        {
            using var response = await meter.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await response.Content.ReadAsStringAsync();
        }
        catch (HttpRequestException)
        {
            // The cut reaches the client as a truncated body or an error; either is faithful.
        }

        Assert.Single(_secondary.Requests);
        Assert.Empty(fixture.Upstream.Requests);
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task The_clients_key_is_replaced_by_the_targets_secret_and_never_forwarded()
    {
        var directory = Directory.CreateTempSubdirectory("tollgate-routing-").FullName;
        Directory.CreateDirectory(Path.Combine(directory, "secrets", "anthropic-ci"));
        await File.WriteAllTextAsync(Path.Combine(directory, "secrets", "anthropic-ci", "apiKey"), RoutedKey + "\n");
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, Rule($"""
              route:
                targets:
                  - {"{"} provider: anthropic, model: claude-haiku-4-5, baseUrl: "{_secondary.BaseUri}", apiKeySecretRef: {"{"} name: anthropic-ci, key: apiKey {"}"} {"}"}
            """), configure: o => o with { SecretsDirectory = Path.Combine(directory, "secrets") }, directory: directory);
        _secondary.ClearRequests();

        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-api-key", "sk-ant-from-the-job")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Assert.Single(_secondary.Requests);
        Assert.Equal(RoutedKey, received.ApiKey);
        Assert.DoesNotContain(received.Headers.Values, value => value.Contains("sk-ant-from-the-job", StringComparison.Ordinal));
    }

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task A_context_over_the_cap_is_refused_naming_the_limit_and_the_size()
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, Rule("  limits: { maxInputTokens: 10 }"));
        var body = MeterHarness.AnthropicBody().Replace("Review this diff.", string.Concat(Enumerable.Repeat("Review this diff carefully. ", 20)), StringComparison.Ordinal);

        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", body, MeterHarness.Tags()));
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("request_too_large", error.RootElement.GetProperty("error").GetProperty("type").GetString());
        var measured = error.RootElement.GetProperty("measured_input_tokens").GetInt64();
        Assert.InRange(measured, 100, 400);
        // The o200k count itself, to the token: in the native run the binary's tokenizer must agree with the JIT's.
        Assert.Equal(new Core.Estimation.InputTokenEstimator().Measure(System.Text.Encoding.UTF8.GetBytes(body), Core.Usage.Providers.Anthropic), measured);
        Assert.Equal(10, error.RootElement.GetProperty("max_input_tokens").GetInt64());
        Assert.Equal($"The request has about {measured} input tokens; routing rule \"ci/reviews\" allows at most 10 (limits.maxInputTokens). Trim the context (summarise history, send fewer files) and retry.",
            error.RootElement.GetProperty("error").GetProperty("message").GetString());
    }

    private const string OpusBudget = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: opus-daily }
        spec: { match: { models: ["claude-opus-*", "gpt-5"] }, limit: { amount: 0.000001, unit: usd, period: day } }
        ---

        """;

    [Fact]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task An_exhausted_budget_falls_back_to_a_cheaper_model_the_budget_does_not_cover()
    {
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, OpusBudget + Rule("  fallback: { onBudgetExceeded: { model: claude-haiku-4-5 } }"));
        using (var spend = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude-opus-4-1"), MeterHarness.Tags())))
        {
            Assert.Equal(HttpStatusCode.OK, spend.StatusCode);
        }

        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude-opus-4-1"), MeterHarness.Tags()));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("claude-haiku-4-5", body.RootElement.GetProperty("model").GetString());
        Assert.Equal("rule=ci/reviews; target=-1 anthropic/claude-haiku-4-5; attempts=1; fallback=budget_model", response.Headers.GetValues("x-tollgate-route").Single());
        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "fallback"), ("model", "claude-haiku-4-5")));
        Assert.Equal(1, scrape.Sum("tollgate_fallbacks_total", ("kind", "budget_model")));
    }

    [Theory]
    [InlineData("/v1/messages", false)]
    [InlineData("/v1/messages", true)]
    [InlineData("/v1/chat/completions", false)]
    [InlineData("/v1/chat/completions", true)]
    [InlineData("/v1/responses", false)]
    [InlineData("/v1/responses", true)]
    [Trait(MeterProcess.ProcessTrait, "true")]
    public async Task An_exhausted_budget_answers_the_fixed_fallback_response_in_the_clients_dialect(string path, bool stream)
    {
        const string Text = "Budget exhausted: this review was skipped. Ask the platform team for more.";
        await using var meter = await MeterUnderTest.StartAsync(fixture.Upstream, OpusBudget + Rule($"  fallback: {{ onBudgetExceeded: {{ response: \"{Text}\" }} }}"));
        var body = path switch
        {
            "/v1/messages" => MeterHarness.AnthropicBody(model: "claude-opus-4-1", stream: stream),
            "/v1/chat/completions" => MeterHarness.ChatBody(model: "gpt-5", stream: stream),
            _ => MeterHarness.ResponsesBody(model: "gpt-5", stream: stream),
        };
        using (await meter.SendAsync(MeterHarness.Request(path, body, MeterHarness.Tags())))
        {
        }

        fixture.Upstream.ClearRequests();
        using var response = await meter.SendAsync(MeterHarness.Request(path, body, MeterHarness.Tags()));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(fixture.Upstream.Requests);
        Assert.Equal("response", response.Headers.GetValues("x-tollgate-fallback").Single());
        Assert.Equal(stream ? "text/event-stream" : "application/json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(Text, SseOrJson.Text(path, text));
        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum("tollgate_fallbacks_total", ("kind", "budget_response")));
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "fallback")));
    }

    [Fact]
    public async Task Every_routing_decision_is_in_the_usage_event_and_never_the_prompt()
    {
        var sink = new RecordingSink();
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, TwoTargets("    retry: { attempts: 0 }") + "\n  cache: { enabled: true, ttlSeconds: 60 }", usageSink: sink);
        _secondary.FailNext(1, 503);
        var body = MeterHarness.AnthropicBody().Replace("Review this diff.", $"Secret prompt {Guid.NewGuid()}", StringComparison.Ordinal);

        using var routed = await meter.SendAsync(MeterHarness.Request("/v1/messages", body, MeterHarness.Tags(agentStep: "review"), ("x-fake-usage", "input=300,output=40")));
        using var cached = await meter.SendAsync(MeterHarness.Request("/v1/messages", body, MeterHarness.Tags(agentStep: "review")));

        var first = sink.For(routed.Headers.GetValues("x-tollgate-request-id").Single());
        Assert.Equal(new Core.Events.RouteDecision("ci/reviews", 1, "anthropic", "claude-haiku-4-5", 2, "upstream"), first.Route);
        Assert.Equal("stored", first.Cache);
        Assert.Equal("fallback", first.Outcome);
        Assert.Equal(new Core.Usage.TokenUsage(300, 40, 0, 0, 0), first.Tokens);
        Assert.Equal("review", first.Tags["agent_step"]);

        var second = sink.For(cached.Headers.GetValues("x-tollgate-request-id").Single());
        Assert.Equal(("cached", "hit", 0m), (second.Outcome, second.Cache, second.CostUsd));
        Assert.Equal("ci/reviews", second.Route!.Rule);

        var serialized = System.Text.Encoding.UTF8.GetString(Core.Events.UsageEventJson.Serialize(first));
        Assert.DoesNotContain("Secret prompt", serialized, StringComparison.Ordinal);
    }
}
