using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Tollgate.Meter.Tests;

/// <summary>
/// The fake provider itself is as strict as the real edges, so a meter regression (a foreign Host, a lost key, a wrong
/// SNI) fails the tests instead of passing against a lenient fake. These tests keep the fake from silently going soft.
/// </summary>
public sealed class FakeLlmUpstreamTests : IAsyncLifetime
{
    private const string MessagesBody = """{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}""";
    private const string AnthropicVersion = "2023-06-01";
    private const string ChatBody = """{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}""";

    // Shared by the tests of the class: a client that neither decompresses nor uses a proxy, so what is asserted is the wire.
    private static readonly HttpClient Client = new(new SocketsHttpHandler { UseProxy = false, AutomaticDecompression = DecompressionMethods.None });
    private FakeLlmUpstream _upstream = null!;

    public async Task InitializeAsync() => _upstream = await FakeLlmUpstream.StartAsync();

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    [Theory]
    [InlineData("127.0.0.1:8787")]
    [InlineData("api.anthropic.com")]
    [InlineData("localhost")]
    [InlineData("127.0.0.1:{port+1}")]
    public async Task A_host_that_does_not_name_the_fake_gets_cloudflares_403_1003(string host)
    {
        using var request = Messages(FakeUpstreamOptions.DefaultAnthropicKey);
        request.Headers.Host = host.Replace("{port+1}", (_upstream.BaseUri.Port + 1).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);

        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("error code: 1003", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("127.0.0.1")]
    public async Task Its_own_authority_with_the_issued_key_is_served(string name)
    {
        using var request = Messages(FakeUpstreamOptions.DefaultAnthropicKey);
        request.Headers.Host = $"{name}:{_upstream.BaseUri.Port}";

        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData(null, "x-api-key header is required")]
    [InlineData("sk-ant-someone-else", "invalid x-api-key")]
    public async Task Anthropic_without_the_issued_x_api_key_gets_401_authentication_error(string? key, string message)
    {
        using var request = Messages(key);

        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("error", error.RootElement.GetProperty("type").GetString());
        Assert.Equal("authentication_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(message, error.RootElement.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task Anthropic_key_in_openais_bearer_form_is_refused()
    {
        using var request = Messages(key: null);
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + FakeUpstreamOptions.DefaultAnthropicKey);

        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Anthropic_without_anthropic_version_gets_400_like_the_real_api()
    {
        using var request = Messages(FakeUpstreamOptions.DefaultAnthropicKey, version: null);

        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("invalid_request_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("anthropic-version: header is required", error.RootElement.GetProperty("error").GetProperty("message").GetString());
    }

    [Theory]
    [InlineData(null, null, null)]
    [InlineData("Authorization", "Bearer sk-proj-someone-else", "invalid_api_key")]
    [InlineData("Authorization", "Basic c2stcHJvajo=", null)]
    [InlineData("x-api-key", FakeUpstreamOptions.DefaultOpenAiKey, null)]
    public async Task OpenAI_without_the_issued_bearer_key_gets_401_in_openais_shape(string? header, string? value, string? code)
    {
        using var request = Chat(authorization: null);
        if (header is not null)
        {
            request.Headers.TryAddWithoutValidation(header, value);
        }

        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var body = error.RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", body.GetProperty("type").GetString());
        Assert.Equal(code, body.GetProperty("code").GetString());
        Assert.DoesNotContain("someone-else", body.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Models_with_anthropic_version_is_anthropics_and_wants_x_api_key()
    {
        using var bearer = new HttpRequestMessage(HttpMethod.Get, new Uri(_upstream.BaseUri, "/v1/models"));
        bearer.Headers.TryAddWithoutValidation("anthropic-version", AnthropicVersion);
        bearer.Headers.TryAddWithoutValidation("Authorization", "Bearer " + FakeUpstreamOptions.DefaultOpenAiKey);
        using var keyed = new HttpRequestMessage(HttpMethod.Get, new Uri(_upstream.BaseUri, "/v1/models"));
        keyed.Headers.TryAddWithoutValidation("anthropic-version", AnthropicVersion);
        keyed.Headers.TryAddWithoutValidation("x-api-key", FakeUpstreamOptions.DefaultAnthropicKey);

        using var refused = await Client.SendAsync(bearer);
        using var served = await Client.SendAsync(keyed);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Contains("claude-", await served.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_key_that_arrived_is_recorded()
    {
        var marker = Guid.NewGuid().ToString("N");
        using var request = Chat("Bearer " + FakeUpstreamOptions.DefaultOpenAiKey);
        request.Headers.TryAddWithoutValidation("x-test-id", marker);

        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var recorded = _upstream.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker);
        Assert.Equal(FakeUpstreamOptions.DefaultOpenAiKey, recorded.ApiKey);
        Assert.Equal($"127.0.0.1:{_upstream.BaseUri.Port}", recorded.Host);
        Assert.Equal("HTTP/1.1", recorded.Protocol);
        Assert.Null(recorded.TlsServerName);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Gzip_is_answered_when_the_client_admits_it_and_only_then(bool stream)
    {
        var body = stream ? MessagesBody.Replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\"", StringComparison.Ordinal) : MessagesBody;
        using var asked = Messages(FakeUpstreamOptions.DefaultAnthropicKey, body: body);
        asked.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, deflate");
        using var plain = Messages(FakeUpstreamOptions.DefaultAnthropicKey, body: body);
        using var refusedGzip = Messages(FakeUpstreamOptions.DefaultAnthropicKey, body: body);
        refusedGzip.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip;q=0, identity");

        using var compressed = await Client.SendAsync(asked);
        using var identity = await Client.SendAsync(plain);
        using var identityToo = await Client.SendAsync(refusedGzip);

        Assert.Equal(["gzip"], compressed.Content.Headers.ContentEncoding);
        await using var gzip = new GZipStream(await compressed.Content.ReadAsStreamAsync(), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        var text = await reader.ReadToEndAsync();
        Assert.Contains(stream ? "event: message_stop" : "\"type\":\"message\"", text, StringComparison.Ordinal);
        Assert.Empty(identity.Content.Headers.ContentEncoding);
        Assert.Contains("claude-sonnet-4-5", await identity.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(identityToo.Content.Headers.ContentEncoding);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    public async Task Over_tls_it_speaks_http2_and_http11_and_records_protocol_sni_and_authority(int major)
    {
        await using var tls = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { Tls = true });
        using var client = new HttpClient(tls.CertificateAuthority!.CreateTrustingHandler());
        var marker = Guid.NewGuid().ToString("N");
        using var request = Messages(FakeUpstreamOptions.DefaultAnthropicKey, baseUri: tls.BaseUri);
        request.Version = new Version(major, major == 2 ? 0 : 1);
        request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        request.Headers.TryAddWithoutValidation("x-test-id", marker);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(major, response.Version.Major);
        var recorded = tls.Requests.Single(r => r.Headers.GetValueOrDefault("x-test-id") == marker);
        Assert.Equal(major == 2 ? "HTTP/2" : "HTTP/1.1", recorded.Protocol);
        Assert.Equal("localhost", recorded.TlsServerName);
        Assert.Equal($"localhost:{tls.BaseUri.Port}", recorded.Host);
        Assert.Equal($"https://localhost:{tls.BaseUri.Port}/", tls.BaseUri.ToString());
    }

    [Fact]
    public async Task Over_tls_a_foreign_authority_fails_the_handshake_on_its_sni()
    {
        await using var tls = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { Tls = true });
        using var client = new HttpClient(tls.CertificateAuthority!.CreateTrustingHandler());
        using var foreign = Messages(FakeUpstreamOptions.DefaultAnthropicKey, baseUri: tls.BaseUri);

        // SocketsHttpHandler takes SNI from a Host header: exactly what a proxy that forwards its client's Host sends.
        foreign.Headers.Host = "api.anthropic.com";

        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(foreign));
        Assert.Contains("api.anthropic.com", tls.RefusedServerNames);
        Assert.Empty(tls.Requests);
    }

    [Fact]
    public async Task Over_tls_a_handshake_without_sni_is_refused()
    {
        await using var tls = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { Tls = true });
        using var client = new HttpClient(tls.CertificateAuthority!.CreateTrustingHandler());

        // An address sends no SNI; the certificate would even match it (127.0.0.1 is in its SANs), the edge still refuses.
        using var byAddress = Messages(FakeUpstreamOptions.DefaultAnthropicKey, baseUri: new Uri($"https://127.0.0.1:{tls.BaseUri.Port}/"));

        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(byAddress));
        Assert.Contains(string.Empty, tls.RefusedServerNames);
    }

    [Fact]
    public async Task Leniency_is_only_what_a_test_asks_for()
    {
        // The one test that wants a lenient fake: to prove the switch is explicit and that the default is not it.
        await using var lenient = await FakeLlmUpstream.StartAsync(new FakeUpstreamOptions { Lenient = true });
        using var request = Chat(authorization: null, baseUri: lenient.BaseUri);
        request.Headers.Host = "api.openai.com";

        using var response = await Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(new FakeUpstreamOptions().Lenient);
    }

    private HttpRequestMessage Messages(string? key, string? version = AnthropicVersion, string body = MessagesBody, Uri? baseUri = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUri ?? _upstream.BaseUri, "/v1/messages"))
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("x-api-key", key);
        }

        if (version is not null)
        {
            request.Headers.TryAddWithoutValidation("anthropic-version", version);
        }

        return request;
    }

    private HttpRequestMessage Chat(string? authorization, Uri? baseUri = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUri ?? _upstream.BaseUri, "/v1/chat/completions"))
        {
            Content = new StringContent(ChatBody, Encoding.UTF8, "application/json"),
        };
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        return request;
    }
}
