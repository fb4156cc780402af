using System.Net;
using System.Text.Json;
using Tollgate.Meter.Tests.Support;
using Tollgate.TestSupport;

namespace Tollgate.Meter.Tests;

/// <summary>
/// The meter probed as a CI job that wants to spend without paying would probe it: path spellings, parser
/// differentials, header games, hidden usage. Every probe either is metered under its canonical endpoint, or is
/// refused with a JSON error before anything reaches the provider; none gets through unmetered with the meter's key.
/// Budget probes run against both ledgers.
/// </summary>
public sealed class BypassTests(UpstreamFixture fixture, RedisServerFixture redis) : IClassFixture<UpstreamFixture>, IClassFixture<RedisServerFixture>
{
    private const string MeterKey = FakeUpstreamOptions.DefaultOpenAiKey;
    private const string ClientKey = "sk-client-own-key";

    private const string SpentBudget = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: tiny }
        spec: { limit: { amount: 30, unit: tokens, period: day } }
        """;

    private static int _redisDatabase;

    private FakeLlmUpstream Upstream => fixture.Upstream;

    [Theory]
    [InlineData("/v1/chat/completions/")]
    [InlineData("/v1/chat/completions;x=1")]
    [InlineData("/v1/chat/./completions")]
    [InlineData("/v1/embeddings/../chat/completions")]
    [InlineData("/v1//chat/completions")]
    [InlineData("/v1/chat/%63ompletions")]
    [InlineData("/%76%31/chat/completions")]
    public async Task Path_variant_is_metered_as_its_canonical_endpoint_and_sent_canonical(string target)
    {
        await using var meter = await StartAsync("embedded");
        var marker = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(meter.App.ProxyUri, "POST", target, MeterHarness.ChatBody(),
            [("X-Tollgate-Metadata", MeterHarness.Tags()), ("x-test-id", marker), ("x-fake-usage", "input=40,output=7"), ("Authorization", "Bearer " + ClientKey)],
            CancellationToken.None);

        Assert.Equal(200, response.Status);
        var seen = Upstream.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker);
        Assert.Equal("/v1/chat/completions", seen.Path);
        Assert.Equal(Upstream.BaseUri.Authority, seen.Host);
        Assert.Equal("Bearer " + MeterKey, seen.Headers["Authorization"]);
        Assert.Equal(7, (await meter.ScrapeAsync()).Sum("tollgate_tokens_total", ("type", "output")));
    }

    [Theory]
    [InlineData("/v1/chat/completions%2F", "%2F")]
    [InlineData("/v1/chat%2Fcompletions", "%2F")]
    [InlineData("/v1/chat%2fcompletions", "%2f")]
    [InlineData("/v1/chat%5Ccompletions", "%5C")]
    [InlineData("/v1/messages%3Bx", "%3B")]
    [InlineData("/v1/messages%0D%0Ax", "%0D")]
    [InlineData("/v1/chat\\completions", "backslash")]
    [InlineData("/../v1/messages", "above the root")]
    [InlineData("/v1/chat/completion%ZZ", "malformed percent-encoding")]
    [InlineData("/v1/chat/completions%C3", "not valid UTF-8")]
    public async Task Ambiguous_path_encoding_is_refused_with_400_before_the_provider_sees_it(string target, string named)
    {
        await using var meter = await StartAsync("embedded");
        var marker = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(meter.App.ProxyUri, "POST", target, MeterHarness.ChatBody(),
            [("X-Tollgate-Metadata", MeterHarness.Tags()), ("x-test-id", marker)], CancellationToken.None);

        Assert.Equal(400, response.Status);
        var error = AssertMeterError(response, "invalid_request");
        Assert.Contains(named, error, StringComparison.Ordinal);
        Assert.DoesNotContain(Upstream.Requests, r => r.Headers.GetValueOrDefault("x-test-id") == marker);
    }

    [Fact]
    public async Task Encoded_nul_is_refused_by_kestrel_before_the_meter_or_the_provider_sees_it()
    {
        await using var meter = await StartAsync("embedded");
        var marker = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(meter.App.ProxyUri, "POST", "/v1/chat/completions%00", MeterHarness.ChatBody(),
            [("X-Tollgate-Metadata", MeterHarness.Tags()), ("x-test-id", marker)], CancellationToken.None);

        // Kestrel refuses a NUL in the request target at the protocol layer, with its own bodiless 400.
        Assert.Equal(400, response.Status);
        Assert.DoesNotContain(Upstream.Requests, r => r.Headers.GetValueOrDefault("x-test-id") == marker);
    }

    [Theory]
    [InlineData("POST", "/v1/messages/batches")]
    [InlineData("POST", "/v1/files")]
    [InlineData("POST", "/v1/images/generations")]
    [InlineData("POST", "/v1/audio/speech")]
    [InlineData("GET", "/v1/realtime")]
    [InlineData("POST", "/v1/fine_tuning/jobs")]
    [InlineData("POST", "/v1/batches")]
    [InlineData("GET", "/v1/chat/completions")]
    [InlineData("PUT", "/v1/messages")]
    [InlineData("POST", "/V1/MESSAGES")]
    [InlineData("POST", "/v1/responses/resp_1/cancel")]
    [InlineData("POST", "/v2/anything")]
    [InlineData("GET", "/")]
    public async Task Endpoint_the_meter_does_not_meter_is_refused_with_403_naming_it_and_how_to_allow_it(string method, string path)
    {
        await using var meter = await StartAsync("embedded");
        var marker = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(meter.App.ProxyUri, method, path, method is "GET" ? null : "{}",
            [("X-Tollgate-Metadata", MeterHarness.Tags()), ("x-test-id", marker)], CancellationToken.None);

        Assert.Equal(403, response.Status);
        var message = AssertMeterError(response, "endpoint_not_metered");
        Assert.Contains($"{method} {path}", message, StringComparison.Ordinal);
        Assert.Contains("--allow-unmetered", message, StringComparison.Ordinal);
        using var body = JsonDocument.Parse(response.Body);
        Assert.Equal(path, body.RootElement.GetProperty("path").GetString());
        Assert.DoesNotContain(Upstream.Requests, r => r.Headers.GetValueOrDefault("x-test-id") == marker);
        Assert.Equal(1, (await meter.ScrapeAsync()).Sum("tollgate_requests_total", ("outcome", "rejected")));
    }

    [Fact]
    public async Task Allowed_unmetered_endpoint_is_forwarded_with_the_clients_key_never_the_meters()
    {
        await using var meter = await StartAsync("embedded", o => o with { AllowUnmetered = ["/v1/files*"] });
        var marker = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(meter.App.ProxyUri, "POST", "/v1/files/../files/upload", "{}",
            [("X-Tollgate-Metadata", MeterHarness.Tags()), ("x-test-id", marker), ("Authorization", "Bearer " + ClientKey)],
            CancellationToken.None);

        var seen = Upstream.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker);
        Assert.Equal("/v1/files/upload", seen.Path);
        Assert.Equal("Bearer " + ClientKey, seen.Headers["Authorization"]);

        // The fake provider has no files API: its own 404 comes back unchanged.
        Assert.Equal(404, response.Status);

        // Untagged, it is refused like any other call: attribution is not optional.
        var untagged = await RawHttp.SendAsync(meter.App.ProxyUri, "POST", "/v1/files", "{}", [("Authorization", "Bearer " + ClientKey)],
            CancellationToken.None);
        Assert.Equal(400, untagged.Status);
        AssertMeterError(untagged, "missing_metadata");
        Assert.Equal(0, (await meter.ScrapeAsync()).Sum("tollgate_cost_usd_total"));
    }

    [Fact]
    public async Task Free_endpoints_get_the_meters_key_and_count_as_unbilled()
    {
        await using var meter = await StartAsync("embedded");
        var marker = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(meter.App.ProxyUri, "GET", "/v1/models", null,
            [("X-Tollgate-Metadata", MeterHarness.Tags(team: "platform")), ("x-test-id", marker), ("Authorization", "Bearer " + ClientKey)],
            CancellationToken.None);

        Assert.Equal(200, response.Status);
        var seen = Upstream.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker);
        Assert.Equal("Bearer " + MeterKey, seen.Headers["Authorization"]);
        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "unbilled"), ("team", "platform")));
        Assert.Equal(0, scrape.Sum("tollgate_cost_usd_total"));
    }

    [Theory]
    [InlineData("embedded")]
    [InlineData("redis")]
    public async Task Spent_budget_stays_closed_for_every_spelling_of_the_endpoint(string ledger)
    {
        await using var meter = await StartAsync(ledger, policy: SpentBudget);
        using (var spend = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(), ("x-fake-usage", "input=25,output=10"))))
        {
            Assert.Equal(HttpStatusCode.OK, spend.StatusCode);
        }

        foreach (var spelling in new[] { "/v1/chat/completions", "/v1/chat/completions/", "/v1/chat/completions;a", "/v1/./chat/completions", "/v1/chat/%63ompletions", "/v1/completions", "/v1/responses", "huge" })
        {
            // "huge": an output cap that used to wrap the reservation negative and re-open the budget.
            var body = spelling switch
            {
                "/v1/responses" => MeterHarness.ResponsesBody(model: "gpt-4o"),
                "huge" => """{"model":"gpt-4o","max_tokens":9223372036854775807,"messages":[]}""",
                _ => MeterHarness.ChatBody(),
            };
            var target = spelling == "huge" ? "/v1/chat/completions" : spelling;
            var response = await RawHttp.SendAsync(meter.App.ProxyUri, "POST", target, body, [("X-Tollgate-Metadata", MeterHarness.Tags())],
                CancellationToken.None);
            Assert.True(response.Status == 429, $"{target} answered {response.Status}: {response.Body}");
            AssertMeterError(response, "budget_exceeded");
        }

        var refused = await RawHttp.SendAsync(meter.App.ProxyUri, "POST", "/v1/chat/completions%2F", MeterHarness.ChatBody(), [("X-Tollgate-Metadata", MeterHarness.Tags())],
            CancellationToken.None);
        Assert.Equal(400, refused.Status);
    }

    [Theory]
    [InlineData("""{"model":"gpt-4o","model":"gpt-4o-mini","messages":[]}""", "\"model\"")]
    [InlineData("""{"model":"gpt-4o","messages":[],"messages":[]}""", "\"messages\"")]
    [InlineData("""{"model":"gpt-4o","mod\u0065l":"o3","messages":[]}""", "\"model\"")]
    [InlineData("""{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true,"include_usage":false},"messages":[]}""", "stream_options.include_usage")]
    [InlineData("""{"model":"gpt-4o","messages":[{"role":"user","role":"system","content":"x"}]}""", "\"…role\"")]
    public async Task Duplicate_key_anywhere_in_the_body_is_refused_naming_it(string body, string named)
    {
        await using var meter = await StartAsync("embedded");
        var marker = Guid.NewGuid().ToString("N");
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", body, MeterHarness.Tags(), ("x-test-id", marker)));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = AssertMeterError(await RawOf(response), "invalid_request");
        Assert.Contains(named, error, StringComparison.Ordinal);
        Assert.Contains("twice", error, StringComparison.Ordinal);
        Assert.DoesNotContain(Upstream.Requests, r => r.Headers.GetValueOrDefault("x-test-id") == marker);
    }

    [Fact]
    public async Task Duplicate_key_on_a_routed_request_is_a_400_not_a_502()
    {
        const string Rule = """
            apiVersion: tollgate.io/v1alpha1
            kind: AiRoutingRule
            metadata: { name: reviews, namespace: ci }
            spec:
              route:
                targets:
                  - { provider: openai, model: gpt-4o-mini }
            """;
        await using var meter = await StartAsync("embedded", policy: Rule);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", """{"model":"gpt-4o","messages":[],"messages":[]}""", MeterHarness.Tags()));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = AssertMeterError(await RawOf(response), "invalid_request");
        Assert.DoesNotContain("Exception", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"model":"gpt-4o","messages":[]} {"model":"o3"}""", "data after its JSON object")]
    [InlineData("""{"model":"gpt-4o","messages":[]}x""", "not valid JSON")]
    [InlineData("""{"model":"gpt-4o","messages":[]""", "not valid JSON")]
    [InlineData("""[{"model":"gpt-4o"}]""", "must be a JSON object")]
    [InlineData("""{"model":42,"messages":[]}""", "\"model\" must be a string")]
    [InlineData("""{"model":"gpt-4o","stream":"true","messages":[]}""", "\"stream\" must be true or false")]
    [InlineData("""{"model":"gpt-4o","max_tokens":-5,"messages":[]}""", "\"max_tokens\" must be a non-negative integer")]
    [InlineData("""{"model":"gpt-4o","max_completion_tokens":1.5,"messages":[]}""", "\"max_completion_tokens\" must be a non-negative integer")]
    [InlineData("""{"model":"gpt-4o","max_tokens":"9","messages":[]}""", "\"max_tokens\" must be a non-negative integer")]
    [InlineData("""{"model":"gpt\u001b[2Jx","messages":[]}""", "\"model\"")]
    [InlineData("""{"model":"gpt-4o\r\nforged","messages":[]}""", "\"model\"")]
    [InlineData("""{"model":"gpt-4o","max_tokens":1e30,"messages":[]}""", "\"max_tokens\" must be a non-negative integer")]
    [InlineData("""{"model":"gpt-4o","max_tokens":9223372036854775808,"messages":[]}""", "\"max_tokens\" must be a non-negative integer")]
    public async Task Body_two_parsers_could_read_differently_is_refused(string body, string named)
    {
        await using var meter = await StartAsync("embedded");
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", body, MeterHarness.Tags()));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(named, AssertMeterError(await RawOf(response), "invalid_request"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"team":"  ","repo":"checkout","pipeline":"pr"}""", "blank")]
    [InlineData("""{"team":"","repo":"checkout","pipeline":"pr"}""", "blank")]
    [InlineData("""{"team":"pay\u001b[31mments","repo":"checkout","pipeline":"pr"}""", "control characters")]
    [InlineData("""{"team":"pay\nments","repo":"checkout","pipeline":"pr"}""", "control characters")]
    [InlineData("""{"team":"a","team":"b","repo":"checkout","pipeline":"pr"}""", "twice")]
    public async Task Tags_that_are_blank_or_forge_log_lines_are_refused(string tags, string named)
    {
        await using var meter = await StartAsync("embedded");
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), tags));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(named, AssertMeterError(await RawOf(response), "invalid_metadata"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metadata_header_and_its_alias_must_agree_and_come_once()
    {
        await using var meter = await StartAsync("embedded");
        var disagree = await RawHttp.SendAsync(meter.App.ProxyUri, "POST", "/v1/messages", MeterHarness.AnthropicBody(),
            [("X-Tollgate-Metadata", MeterHarness.Tags(team: "payments")), ("X-TFY-METADATA", MeterHarness.Tags(team: "search")), ("anthropic-version", "2023-06-01")],
            CancellationToken.None);
        Assert.Equal(400, disagree.Status);
        Assert.Contains("disagree", AssertMeterError(disagree, "invalid_metadata"), StringComparison.Ordinal);

        var twice = await RawHttp.SendAsync(meter.App.ProxyUri, "POST", "/v1/messages", MeterHarness.AnthropicBody(),
            [("X-Tollgate-Metadata", MeterHarness.Tags(team: "payments")), ("X-Tollgate-Metadata", MeterHarness.Tags(team: "search")), ("anthropic-version", "2023-06-01")],
            CancellationToken.None);
        Assert.Equal(400, twice.Status);
        Assert.Contains("once", AssertMeterError(twice, "invalid_metadata"), StringComparison.Ordinal);

        var agree = await RawHttp.SendAsync(meter.App.ProxyUri, "POST", "/v1/messages", MeterHarness.AnthropicBody(),
            [("X-Tollgate-Metadata", MeterHarness.Tags()), ("X-TFY-METADATA", MeterHarness.Tags()), ("anthropic-version", "2023-06-01")],
            CancellationToken.None);
        Assert.Equal(200, agree.Status);
    }

    [Fact]
    public async Task Identity_tags_win_over_a_header_that_tries_to_bill_another_team()
    {
        await using var meter = await StartAsync("embedded", o => o with { IdentityTags = new Dictionary<string, string> { ["team"] = "payments", ["repo"] = "checkout" } });
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(),
            """{"team":"search","repo":"indexer","pipeline":"pr-review"}""", ("x-fake-usage", "input=10,output=5")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(5, scrape.Sum("tollgate_tokens_total", ("type", "output"), ("team", "payments"), ("repo", "checkout")));
        Assert.Equal(0, scrape.Sum("tollgate_tokens_total", ("team", "search")));
    }

    [Theory]
    [InlineData("embedded")]
    [InlineData("redis")]
    public async Task Stream_the_client_cuts_short_is_charged_its_input_and_at_least_one_output_token(string ledger)
    {
        await using var meter = await StartAsync(ledger, policy: """
            apiVersion: tollgate.io/v1alpha1
            kind: AiBudget
            metadata: { name: roomy }
            spec: { limit: { amount: 1000000, unit: tokens, period: day } }
            """);
        using (var request = MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(stream: true), MeterHarness.Tags(),
            ("x-fake-usage", "input=100,output=600"), ("x-fake-chunks", "200"), ("x-fake-chunk-delay-ms", "100")))
        using (var response = await meter.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            // The job reads the first event and hangs up, before the provider's usage chunk.
            await using var stream = await response.Content.ReadAsStreamAsync();
            Assert.True(await stream.ReadAsync(new byte[64]) > 0);
        }

        var scrape = await AccountingTests.WaitForAsync(meter, s => s.Sum("tollgate_usage_estimated_total") >= 1);
        Assert.InRange(scrape.Sum("tollgate_tokens_total", ("type", "output")), 1, 100);
        Assert.True(scrape.Sum("tollgate_tokens_total", ("type", "input")) > 0);
        Assert.Equal(1, scrape.Sum("tollgate_usage_estimated_total"));
    }

    [Theory]
    [InlineData("embedded")]
    [InlineData("redis")]
    public async Task Legacy_completions_are_metered_and_a_stream_without_include_usage_still_reports_it(string ledger)
    {
        await using var meter = await StartAsync(ledger);
        var marker = Guid.NewGuid().ToString("N");
        using (var json = await meter.SendAsync(MeterHarness.Request("/v1/completions", """{"model":"gpt-4o","prompt":"Say hi","max_tokens":50}""", MeterHarness.Tags(),
                   ("x-fake-usage", "input=12,output=5"))))
        {
            Assert.Equal(HttpStatusCode.OK, json.StatusCode);
            Assert.Contains("\"text_completion\"", await json.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var stream = await meter.SendAsync(MeterHarness.Request("/v1/completions", """{"model":"gpt-4o","prompt":"Say hi","stream":true}""", MeterHarness.Tags(),
                   ("x-fake-usage", "input=20,output=9"), ("x-test-id", marker))))
        {
            var text = await stream.Content.ReadAsStringAsync();
            Assert.DoesNotContain("prompt_tokens", text, StringComparison.Ordinal);
        }

        Assert.Contains("\"include_usage\":true", Upstream.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker).Body, StringComparison.Ordinal);
        var scrape = await meter.ScrapeAsync();
        Assert.Equal(14, scrape.Sum("tollgate_tokens_total", ("type", "output")));
        Assert.Equal(32, scrape.Sum("tollgate_tokens_total", ("type", "input")));
        Assert.Equal(0, scrape.Sum("tollgate_usage_estimated_total"));
    }

    [Theory]
    [InlineData("embedded")]
    [InlineData("redis")]
    public async Task Response_that_completes_without_usage_is_charged_its_whole_reservation_never_zero_output(string ledger)
    {
        await using var meter = await StartAsync(ledger);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions",
            """{"model":"gpt-4o","max_tokens":300,"messages":[{"role":"user","content":"Summarize the build log."}]}""", MeterHarness.Tags(),
            ("x-fake-usage", "input=30,output=12"), ("x-fake-omit-usage", "true")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("\"usage\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(300, scrape.Sum("tollgate_tokens_total", ("type", "output")));
        Assert.True(scrape.Sum("tollgate_tokens_total", ("type", "input")) > 0);
        Assert.Equal(1, scrape.Sum("tollgate_usage_estimated_total"));
    }

    [Fact]
    public async Task Streamed_chat_without_include_usage_is_still_metered_and_the_client_sees_no_usage_chunk()
    {
        await using var meter = await StartAsync("embedded");
        var marker = Guid.NewGuid().ToString("N");
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(stream: true), MeterHarness.Tags(),
            ("x-fake-usage", "input=30,output=12"), ("x-test-id", marker)));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Contains("\"include_usage\":true", Upstream.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker).Body, StringComparison.Ordinal);
        Assert.DoesNotContain("prompt_tokens", text, StringComparison.Ordinal);
        Assert.Equal(12, (await meter.ScrapeAsync()).Sum("tollgate_tokens_total", ("type", "output")));
    }

    [Fact]
    public async Task Unexpected_failure_inside_the_meter_is_a_json_500_with_the_request_id_and_no_exception_text()
    {
        await using var meter = await MeterHarness.StartAsync(Upstream, SpentBudget, ledger: new ThrowingLedger());
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags()));

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var raw = await RawOf(response);
        var message = AssertMeterError(raw, "internal_error");
        Assert.Contains(raw.Headers["x-tollgate-request-id"], message, StringComparison.Ordinal);
        Assert.DoesNotContain("boom", raw.Body, StringComparison.Ordinal);
    }

    /// <summary>Checks the contract shape of the meter's own errors and returns the message.</summary>
    private static string AssertMeterError(RawHttp.Response response, string type)
    {
        Assert.StartsWith("application/json", response.Headers["Content-Type"], StringComparison.Ordinal);
        using var body = JsonDocument.Parse(response.Body);
        var error = body.RootElement.GetProperty("error");
        var actualType = error.TryGetProperty("tollgate_type", out var tollgate) ? tollgate.GetString() : error.GetProperty("type").GetString();
        Assert.Equal(type, actualType);
        var requestId = body.RootElement.GetProperty("request_id").GetString();
        Assert.Equal(response.Headers["x-tollgate-request-id"], requestId);
        return error.GetProperty("message").GetString()!;
    }

    private static async Task<RawHttp.Response> RawOf(HttpResponseMessage response)
    {
        var headers = response.Headers.Concat(response.Content.Headers).ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase);
        return new RawHttp.Response((int)response.StatusCode, headers, await response.Content.ReadAsStringAsync());
    }

    private Task<MeterHarness> StartAsync(string ledger, Func<MeterOptions, MeterOptions>? configure = null, string? policy = null) =>
        MeterHarness.StartAsync(Upstream, policy, configure: o =>
        {
            if (ledger == "redis")
            {
                var database = Interlocked.Increment(ref _redisDatabase) % 16;
                o = o with { Ledger = $"{redis.Address}/{database}", SpoolPath = o.Ledger + ".spool" };
            }

            return configure?.Invoke(o) ?? o;
        });

    /// <summary>A ledger with a bug: reserving throws something the meter has no handling for.</summary>
    private sealed class ThrowingLedger : Core.Ledger.IBudgetLedger
    {
        public string Name => "throwing";

        public bool IsReady => true;

        public ValueTask<Core.Ledger.ReserveResult> ReserveAsync(string requestId, IReadOnlyList<Core.Ledger.LedgerCharge> charges, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("boom at 10.0.0.7:6379");

        public ValueTask SettleAsync(string requestId, IReadOnlyList<Core.Ledger.LedgerCharge> charges, IReadOnlyList<decimal> actual, CancellationToken cancellationToken) =>
            ValueTask.CompletedTask;

        public ValueTask<IReadOnlyList<Core.Ledger.CounterSnapshot>> SnapshotAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
            ValueTask.FromResult<IReadOnlyList<Core.Ledger.CounterSnapshot>>([]);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
