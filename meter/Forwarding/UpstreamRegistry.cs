using System.Diagnostics;
using System.Net;
using Yarp.ReverseProxy.Forwarder;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// One <see cref="HttpMessageInvoker"/> per provider, built once: the forwarder needs an invoker, not an HttpClient,
/// because HttpClient buffers and times out in ways that break streamed completions.
/// </summary>
internal sealed class UpstreamRegistry : IDisposable
{
    private readonly Dictionary<string, Upstream> _upstreams = new(StringComparer.Ordinal);

    public UpstreamRegistry(MeterOptions options)
    {
        foreach (var (provider, uri) in options.Upstreams)
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
            var prefix = uri.GetLeftPart(UriPartial.Path).TrimEnd('/');
            _upstreams[provider] = new Upstream(provider, prefix, new HttpMessageInvoker(handler, disposeHandler: true),
                options.ApiKeys.GetValueOrDefault(provider));
        }
    }

    public Upstream? Get(string provider) => _upstreams.GetValueOrDefault(provider);

    public void Dispose()
    {
        foreach (var upstream in _upstreams.Values)
        {
            upstream.Invoker.Dispose();
        }
    }
}
