using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

public sealed class ErrorHandlingTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    [Fact]
    public async Task Oversized_body_is_rejected_with_413_before_reaching_the_provider()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, configure: o => o with { MaxRequestBodyBytes = 4096 });
        var marker = Guid.NewGuid().ToString("N");
        var big = $$"""{"model":"gpt-4o","messages":[{"role":"user","content":"{{new string('x', 10_000)}}"}]}""";
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", big, MeterHarness.Tags(), ("x-test-id", marker)));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("request_too_large", body.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains("4096 bytes", body.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Upstream.Requests, r => r.Headers.GetValueOrDefault("x-test-id") == marker);
    }

    [Fact]
    public async Task Chunked_oversized_body_is_rejected_too()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, configure: o => o with { MaxRequestBodyBytes = 4096 });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
        {
            Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(MeterHarness.AnthropicBody().Replace("Review this diff.", new string('y', 8000), StringComparison.Ordinal)))),
        };
        request.Headers.TransferEncodingChunked = true;
        request.Headers.TryAddWithoutValidation("X-Tollgate-Metadata", MeterHarness.Tags());
        using var response = await meter.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Body_that_is_not_json_is_rejected_naming_the_body()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", "model=claude", MeterHarness.Tags()));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("The request body is not valid JSON (line 1, byte 1).", body.RootElement.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(response.Headers.GetValues("x-tollgate-request-id").Single(), body.RootElement.GetProperty("request_id").GetString());
    }

    [Fact]
    public async Task Upstream_down_answers_502_with_a_clear_body()
    {
        var port = LocalMachine.FreeLoopbackPort();
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, configure: o => o with
        {
            Upstreams = new Dictionary<string, Uri> { ["anthropic"] = new($"http://127.0.0.1:{port}"), ["openai"] = new($"http://127.0.0.1:{port}") },
        });
        using var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags()));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var message = body.RootElement.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Equal("api_error", body.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("upstream_unavailable", body.RootElement.GetProperty("error").GetProperty("tollgate_type").GetString());
        Assert.StartsWith("The meter could not get a response from the anthropic upstream: the connection failed.", message, StringComparison.Ordinal);

        // The exception (with the upstream's address) stays in the log; the client gets the request id to look it up.
        Assert.DoesNotContain("127.0.0.1", message, StringComparison.Ordinal);
        Assert.DoesNotContain("refused", message, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(response.Headers.GetValues("x-tollgate-request-id").Single(), message, StringComparison.Ordinal);

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "upstream_error")));
        Assert.Equal(0, scrape.Sum("tollgate_cost_usd_total"));
    }

    [Theory]
    [InlineData("/v1/messages", "529", "overloaded_error")]
    [InlineData("/v1/chat/completions", "500", "server_error")]
    public async Task Provider_errors_pass_through_unchanged_and_cost_nothing(string path, string status, string type)
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        var body = path == "/v1/messages" ? MeterHarness.AnthropicBody() : MeterHarness.ChatBody();
        using var response = await meter.SendAsync(MeterHarness.Request(path, body, MeterHarness.Tags(), ("x-fake-status", status)));

        Assert.Equal(int.Parse(status, System.Globalization.CultureInfo.InvariantCulture), (int)response.StatusCode);
        Assert.Contains(type, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "upstream_error")));
        Assert.Equal(0, scrape.Sum("tollgate_tokens_total"));
    }

    [Fact]
    public async Task Model_list_is_free_but_still_needs_the_tags()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        using (var untagged = await meter.Client.GetAsync("/v1/models"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, untagged.StatusCode);
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Add("X-Tollgate-Metadata", MeterHarness.Tags());
        using var response = await meter.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"object\":\"list\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "unbilled"), ("team", "payments")));
        Assert.Equal(1, scrape.Sum("tollgate_requests_total", ("outcome", "rejected")));
        Assert.Equal(0, scrape.Sum("tollgate_cost_usd_total"));
    }

    [Fact]
    public async Task Upstream_is_asked_for_an_uncompressed_body_so_usage_is_readable()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        var marker = Guid.NewGuid().ToString("N");
        using var request = MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(stream: true), MeterHarness.Tags(),
            ("Accept-Encoding", "gzip"), ("x-fake-usage", "input=11,output=22"), ("x-test-id", marker));
        using var response = await meter.SendAsync(request);

        Assert.Empty(response.Content.Headers.ContentEncoding);
        var forwarded = fixture.Upstream.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker);
        Assert.DoesNotContain(forwarded.Headers.Keys, k => k.Equals("Accept-Encoding", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(22, (await meter.ScrapeAsync()).Sum("tollgate_tokens_total", ("type", "output")));
    }

    [Fact]
    public async Task Admin_port_serves_health_readiness_and_metrics()
    {
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream);
        Assert.Equal("ok\n", await meter.Admin.GetStringAsync("/healthz"));
        Assert.Equal("ready\n", await meter.Admin.GetStringAsync("/readyz"));
        Assert.Equal("started\n", await meter.Admin.GetStringAsync("/startupz"));

        using (await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags())))
        {
        }

        var scrape = await meter.ScrapeAsync();
        Assert.Equal(1, scrape.Sum("tollgate_meter_overhead_seconds_count"));
        Assert.Equal(1, scrape.Sum("tollgate_prompt_latency_seconds_count", ("streaming", "false"), ("provider", "anthropic")));
        Assert.Equal(1, scrape.Sum("tollgate_ledger_ready"));

        // The proxy port does not expose the admin surface.
        using var notAdmin = await meter.Client.GetAsync("/metrics");
        Assert.NotEqual("text/plain; version=0.0.4; charset=utf-8", notAdmin.Content.Headers.ContentType?.ToString());
    }

}
