using System.Net;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests;

/// <summary>
/// What reaches a provider edge: the upstream's own authority (Host on HTTP/1.1, :authority on HTTP/2) and TLS server
/// name, never the client's Host (the meter's own address), and the meter's key. A CDN edge refuses anything else, so
/// every metered request would fail in production; the strict fakes refuse it the same way.
/// </summary>
public sealed class UpstreamAuthorityTests(TlsUpstreamsFixture tls, UpstreamFixture plain) : IClassFixture<TlsUpstreamsFixture>, IClassFixture<UpstreamFixture>
{
    [Theory]
    [InlineData("/v1/messages", "anthropic")]
    [InlineData("/v1/chat/completions", "openai")]
    public async Task Metered_request_over_https_and_http2_names_the_upstream_in_authority_and_sni_and_carries_the_meters_key(string path, string provider)
    {
        await using var meter = await StartAsync(tls.Primary);
        var marker = Guid.NewGuid().ToString("N");

        using var response = await meter.SendAsync(Request(path, marker, ("x-fake-usage", "input=30,output=7")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Received(tls.Primary, marker);
        Assert.Equal($"localhost:{tls.Primary.BaseUri.Port}", received.Host);
        Assert.Equal("localhost", received.TlsServerName);
        Assert.Equal("HTTP/2", received.Protocol);
        Assert.Equal(MeterHarness.MeterKeys[provider], received.ApiKey);
        Assert.Equal(7, (await meter.ScrapeAsync()).Sum("tollgate_tokens_total", ("type", "output")));
    }

    [Fact]
    public async Task Streamed_request_over_http2_is_metered_to_the_last_event()
    {
        await using var meter = await StartAsync(tls.Primary);
        var marker = Guid.NewGuid().ToString("N");
        using var request = MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(stream: true), MeterHarness.Tags(),
            ("x-test-id", marker), ("x-fake-usage", "input=40,output=12"), ("x-fake-chunks", "8"));

        using var response = await meter.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("event: message_stop", body, StringComparison.Ordinal);
        Assert.Equal("HTTP/2", Received(tls.Primary, marker).Protocol);
        Assert.Equal(12, (await meter.ScrapeAsync()).Sum("tollgate_tokens_total", ("type", "output")));
    }

    [Fact]
    public async Task Over_an_http11_only_edge_the_host_header_names_the_upstream()
    {
        await using var meter = await StartAsync(tls.Http11Only);
        var marker = Guid.NewGuid().ToString("N");

        using var response = await meter.SendAsync(Request("/v1/messages", marker));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Received(tls.Http11Only, marker);
        Assert.Equal("HTTP/1.1", received.Protocol);
        Assert.Equal($"localhost:{tls.Http11Only.BaseUri.Port}", received.Host);
        Assert.Equal("localhost", received.TlsServerName);
        Assert.Equal(FakeUpstreamOptions.DefaultAnthropicKey, received.ApiKey);
    }

    [Fact]
    public async Task Routed_request_names_the_target_it_is_sent_to()
    {
        await using var meter = await StartAsync(tls.Primary, policy: $$"""
            apiVersion: tollgate.io/v1alpha1
            kind: AiRoutingRule
            metadata: { name: elsewhere }
            spec:
              route:
                targets:
                  - { provider: anthropic, model: claude-haiku-4-5, baseUrl: "{{tls.Secondary.BaseUri}}" }
            """);
        var marker = Guid.NewGuid().ToString("N");

        using var response = await meter.SendAsync(Request("/v1/messages", marker));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("rule=elsewhere; target=0 anthropic/claude-haiku-4-5; attempts=1", response.Headers.GetValues("x-tollgate-route").Single());
        var received = Received(tls.Secondary, marker);
        Assert.Equal($"localhost:{tls.Secondary.BaseUri.Port}", received.Host);
        Assert.Equal("localhost", received.TlsServerName);
        Assert.Equal("HTTP/2", received.Protocol);
        Assert.Equal(FakeUpstreamOptions.DefaultAnthropicKey, received.ApiKey);
        Assert.DoesNotContain(tls.Primary.Requests, r => r.Headers.GetValueOrDefault("x-test-id") == marker);
    }

    [Fact]
    public async Task Unmetered_request_forwarded_as_is_names_the_upstream_too()
    {
        await using var meter = await StartAsync(tls.Primary);
        var marker = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.TryAddWithoutValidation("anthropic-version", MeterHarness.AnthropicVersion);
        request.Headers.TryAddWithoutValidation("X-Tollgate-Metadata", MeterHarness.Tags());
        request.Headers.TryAddWithoutValidation("x-test-id", marker);

        using var response = await meter.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Received(tls.Primary, marker);
        Assert.Equal($"localhost:{tls.Primary.BaseUri.Port}", received.Host);
        Assert.Equal("localhost", received.TlsServerName);
    }

    [Fact]
    public async Task Over_plain_http_the_upstream_sees_its_own_authority_not_the_meters()
    {
        await using var meter = await MeterHarness.StartAsync(plain.Upstream);
        var marker = Guid.NewGuid().ToString("N");

        using var response = await meter.SendAsync(Request("/v1/chat/completions", marker));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = Received(plain.Upstream, marker);
        Assert.Equal(plain.Upstream.BaseUri.Authority, received.Host);
        Assert.NotEqual(meter.App.ProxyUri.Authority, received.Host);
    }

    [Fact]
    public async Task Without_upstream_ca_a_private_ca_is_not_trusted()
    {
        await using var meter = await StartAsync(tls.Primary, caPath: null);
        var marker = Guid.NewGuid().ToString("N");

        using var response = await meter.SendAsync(Request("/v1/messages", marker));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.DoesNotContain(tls.Primary.Requests, r => r.Headers.GetValueOrDefault("x-test-id") == marker);
    }

    [Fact]
    public async Task Upstream_ca_trusts_its_own_cas_only()
    {
        await using var meter = await StartAsync(tls.Stranger);
        var marker = Guid.NewGuid().ToString("N");

        using var response = await meter.SendAsync(Request("/v1/messages", marker));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.DoesNotContain(tls.Stranger.Requests, r => r.Headers.GetValueOrDefault("x-test-id") == marker);
    }

    private Task<MeterHarness> StartAsync(FakeLlmUpstream upstream, string? policy = null, string? caPath = "") =>
        MeterHarness.StartAsync(upstream, policy, configure: o => o with { UpstreamCaPath = caPath == "" ? tls.CaPath : caPath });

    private static HttpRequestMessage Request(string path, string marker, params (string Name, string Value)[] extra)
    {
        var body = path == "/v1/messages" ? MeterHarness.AnthropicBody() : MeterHarness.ChatBody();
        return MeterHarness.Request(path, body, MeterHarness.Tags(), [("x-test-id", marker), .. extra]);
    }

    private static RecordedRequest Received(FakeLlmUpstream upstream, string marker) =>
        Assert.Single(upstream.Requests, r => r.Headers.GetValueOrDefault("x-test-id") == marker);
}
