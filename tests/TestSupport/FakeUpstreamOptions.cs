using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Tollgate.TestSupport;

/// <summary>
/// How a <see cref="FakeLlmUpstream"/> listens and what it accepts. The defaults are as strict as the real provider
/// edges: a foreign <c>Host</c> gets Cloudflare's 403 <c>error code: 1003</c>, a missing or unknown key the provider's
/// 401, a missing <c>anthropic-version</c> Anthropic's 400, and over TLS a handshake whose SNI does not name the server
/// fails. A test that needs less says so with <see cref="Lenient"/>.
/// </summary>
public sealed record FakeUpstreamOptions
{
    /// <summary>The Anthropic key the fake issues by default; the meter harness holds it as its <c>TOLLGATE_ANTHROPIC_API_KEY</c>.</summary>
    public const string DefaultAnthropicKey = "sk-ant-api03-fake-meter-key";

    /// <summary>The OpenAI key the fake issues by default; the meter harness holds it as its <c>TOLLGATE_OPENAI_API_KEY</c>.</summary>
    public const string DefaultOpenAiKey = "sk-proj-fake-meter-key";

    /// <summary>Loopback port; 0 (the default) lets the OS pick a free one.</summary>
    public int Port { get; init; }

    /// <summary>Serve HTTPS with a certificate from <see cref="CertificateAuthority"/> instead of plain HTTP. Default false.</summary>
    public bool Tls { get; init; }

    /// <summary>
    /// The CA that issues the server certificate when <see cref="Tls"/> is on; share one between fakes so a single
    /// <c>--upstream-ca</c> bundle trusts them all. Default: the fake makes (and disposes) its own.
    /// </summary>
    public TestCertificateAuthority? CertificateAuthority { get; init; }

    /// <summary>Protocols offered over TLS (by ALPN). Default HTTP/1.1 and HTTP/2, like the real provider edges.</summary>
    public HttpProtocols Protocols { get; init; } = HttpProtocols.Http1AndHttp2;

    /// <summary>Keys accepted in <c>x-api-key</c> on the Anthropic endpoints. Default <see cref="DefaultAnthropicKey"/> only.</summary>
    public IReadOnlyCollection<string> AnthropicKeys { get; init; } = [DefaultAnthropicKey];

    /// <summary>Keys accepted as <c>Authorization: Bearer</c> on the OpenAI endpoints. Default <see cref="DefaultOpenAiKey"/> only.</summary>
    public IReadOnlyCollection<string> OpenAiKeys { get; init; } = [DefaultOpenAiKey];

    /// <summary>
    /// Skips the Host, SNI, key and <c>anthropic-version</c> checks. Default false: only a test about something else
    /// entirely, which says why, turns this on.
    /// </summary>
    public bool Lenient { get; init; }
}
