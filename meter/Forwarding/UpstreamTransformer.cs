using Microsoft.Net.Http.Headers;
using Tollgate.Core.Tagging;
using Tollgate.Meter.Keys;
using Tollgate.Meter.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// Shapes the outgoing request: addresses it to the upstream's own authority, drops the tagging headers (they are the
/// meter's business, not the provider's), asks for an uncompressed body so usage can be read as it streams, and swaps
/// in the provider key the meter holds so job containers never need one.
/// </summary>
internal sealed class UpstreamTransformer(KeyStore keys) : HttpTransformer
{
    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copyBody = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);

        // Known only now: which target served, after how many attempts.
        if (UpstreamForwarder.RouteResultOf(httpContext) is { } routed)
        {
            httpContext.Response.Headers["x-tollgate-route"] = routed.Header();
        }

        return copyBody;
    }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        var headers = proxyRequest.Headers;

        // The base transform copies the client's Host (the meter's own 127.0.0.1:8787). Provider edges route by
        // Host/:authority and refuse a foreign one (Cloudflare: 403 "error code: 1003"), and SocketsHttpHandler would
        // also take the TLS server name (SNI) from it. Without it, both come from the destination URI.
        headers.Host = null;
        headers.Remove(RequestTags.HeaderName);
        headers.Remove(RequestTags.AliasHeaderName);
        headers.Remove(HeaderNames.AcceptEncoding);

        var upstream = httpContext.Features.Get<Upstream>();
        if (httpContext.Features.Get<RoutePlan>() is { } plan)
        {
            // The routing handler reads the plan from the outgoing request, sets each target's key itself, and answers
            // with its result on the same options, which the forward stage reads back once the send is over.
            proxyRequest.Options.Set(RoutePlan.OptionsKey, plan);
            httpContext.Features.Set(proxyRequest.Options);
        }

        if (upstream is not null)
        {
            keys.Apply(headers, upstream);
        }
    }
}
