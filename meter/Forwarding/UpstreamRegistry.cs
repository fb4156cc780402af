using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using Yarp.ReverseProxy.Forwarder;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// One <see cref="HttpMessageInvoker"/> per provider (and per extra endpoint a routing rule names), built once: the
/// forwarder needs an invoker, not an HttpClient, because HttpClient buffers and times out in ways that break streamed
/// completions. Every invoker, routed targets' too, trusts the system store plus the <c>--upstream-ca</c> bundle.
/// </summary>
internal sealed class UpstreamRegistry : IDisposable
{
    private readonly Dictionary<string, Upstream> _upstreams = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Provider, string Prefix), Upstream> _routed = new();
    private readonly RemoteCertificateValidationCallback? _certificateValidator;

    public UpstreamRegistry(MeterOptions options)
    {
        if (options.UpstreamCaPath is { } caPath)
        {
            _certificateValidator = UpstreamTrust.CreateValidator(UpstreamTrust.LoadBundle(caPath));
        }

        foreach (var (provider, uri) in options.Upstreams)
        {
            _upstreams[provider] = new Upstream(provider, Prefix(uri), CreateInvoker());
        }
    }

    public Upstream? Get(string provider) => _upstreams.GetValueOrDefault(provider);

    /// <summary>The endpoint a route target names; it carries the provider's default key until the target brings its own.</summary>
    public Upstream ForBaseUrl(string provider, Uri baseUrl) =>
        _routed.GetOrAdd((provider, Prefix(baseUrl)), key => new Upstream(key.Provider, key.Prefix, CreateInvoker()));

    public void Dispose()
    {
        foreach (var upstream in _upstreams.Values.Concat(_routed.Values))
        {
            upstream.Invoker.Dispose();
        }
    }

    private static string Prefix(Uri uri) => uri.GetLeftPart(UriPartial.Path).TrimEnd('/');

    private HttpMessageInvoker CreateInvoker()
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,

            // Metering reads the body: ask upstream for identity encoding (the transformer drops Accept-Encoding) and never decode.
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
            ConnectTimeout = TimeSpan.FromSeconds(15),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
        };
        if (_certificateValidator is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback = _certificateValidator;
        }

        return new HttpMessageInvoker(handler, disposeHandler: true);
    }
}
