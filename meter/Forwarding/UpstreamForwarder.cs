using System.Runtime.InteropServices;
using Tollgate.Meter.Routing;
using Yarp.ReverseProxy.Forwarder;

namespace Tollgate.Meter.Forwarding;

/// <summary>
/// The forward stage: hands the request to YARP, straight to its upstream or, when a routing rule routes it, through
/// the routing handler that tries the rule's targets in order. Nothing here reads or prices the response.
/// </summary>
internal sealed class UpstreamForwarder(IHttpForwarder forwarder, UpstreamTransformer transformer, HttpMessageInvoker routingInvoker, RetryBudget retryBudget,
    MeterOptions options)
{
    private static readonly ForwarderRequestConfig PassthroughConfig = new() { ActivityTimeout = TimeSpan.FromMinutes(10) };

    private readonly ForwarderRequestConfig _requestConfig = new()
    {
        ActivityTimeout = options.UpstreamActivityTimeout,

        // Buffering would hold server-sent events back until the buffer fills.
        AllowResponseBuffering = false,
    };

    /// <summary>Sends a metered request: its body is the bytes the meter read (and perhaps rewrote), replayed.</summary>
    public ValueTask<ForwarderError> SendMeteredAsync(HttpContext context, Upstream upstream, RoutePlan? plan, ReadOnlyMemory<byte> body)
    {
        // Always an array: the pooled buffer the body was read into, or the rewritten body.
        var bytes = MemoryMarshal.TryGetArray(body, out var segment) ? segment : new ArraySegment<byte>(body.ToArray());
        context.Request.Body = new MemoryStream(bytes.Array!, bytes.Offset, bytes.Count, writable: false);
        context.Request.ContentLength = bytes.Count;
        context.Request.Headers.Remove("Transfer-Encoding");
        context.Features.Set(upstream);
        context.Features.Set(plan);
        if (plan is not null)
        {
            retryBudget.Deposit();
            return forwarder.SendAsync(context, upstream.DestinationPrefix, routingInvoker, _requestConfig, transformer);
        }

        return forwarder.SendAsync(context, upstream.DestinationPrefix, upstream.Invoker, _requestConfig, transformer);
    }

    /// <summary>What the routing handler did with the request's plan, once it has sent it; null before, or when not routed.</summary>
    public static RouteResult? RouteResultOf(HttpContext context) =>
        context.Features.Get<HttpRequestOptions>() is { } sent && sent.TryGetValue(RouteResult.OptionsKey, out var result) ? result : null;

    /// <summary>Sends a call the meter does not bill: the body streams through unread.</summary>
    public ValueTask<ForwarderError> SendUnbilledAsync(HttpContext context, Upstream upstream)
    {
        context.Features.Set(upstream);
        return forwarder.SendAsync(context, upstream.DestinationPrefix, upstream.Invoker, PassthroughConfig, transformer);
    }
}
