using System.Diagnostics;
using System.Globalization;
using System.Net;
using Yarp.ReverseProxy.Forwarder;

// Bare YARP forwarder for the benchmark baseline:
//   Tollgate.Bench.PlainProxy --port 8787 --upstream http://127.0.0.1:9000
// Same Kestrel "slim" host, same SocketsHttpHandler settings and the same YARP IHttpForwarder call as the meter,
// without tagging, estimation, budgets, ledger, usage scanning or metrics (it does address the upstream by its own
// authority, as the meter does, or the strict fake provider would refuse every request).
var port = 8787;
var upstream = "http://127.0.0.1:9000";
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--port" when int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out port):
            break;
        case "--upstream":
            upstream = args[i + 1].TrimEnd('/');
            break;
        default:
            await Console.Error.WriteLineAsync("usage: Tollgate.Bench.PlainProxy [--port N] [--upstream http://host:port]");
            return 2;
    }
}

if (args.Length % 2 != 0)
{
    await Console.Error.WriteLineAsync("usage: Tollgate.Bench.PlainProxy [--port N] [--upstream http://host:port]");
    return 2;
}

var builder = WebApplication.CreateSlimBuilder(args: []);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    kestrel.Listen(IPAddress.Loopback, port);
});
builder.Services.AddHttpForwarder();

var app = builder.Build();
using var invoker = new HttpMessageInvoker(new SocketsHttpHandler
{
    UseProxy = false,
    AllowAutoRedirect = false,
    AutomaticDecompression = DecompressionMethods.None,
    UseCookies = false,
    EnableMultipleHttp2Connections = true,
    ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
    ConnectTimeout = TimeSpan.FromSeconds(15),
    PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
}, disposeHandler: true);
var config = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromMinutes(10) };
var forwarder = app.Services.GetRequiredService<IHttpForwarder>();

app.Run(async context =>
{
    var error = await forwarder.SendAsync(context, upstream, invoker, config, UpstreamAuthorityTransformer.Instance);
    if (error != ForwarderError.None && !context.Response.HasStarted)
    {
        context.Response.StatusCode = StatusCodes.Status502BadGateway;
    }
});

await app.StartAsync();
Console.WriteLine($"listening on http://127.0.0.1:{port}");
await app.WaitForShutdownAsync();
return 0;

/// <summary>
/// The default transform plus what any correct proxy to a provider edge must do and the meter does: the upstream's own
/// authority instead of the client's Host (an edge refuses a foreign one, and so does the strict fake).
/// </summary>
internal sealed class UpstreamAuthorityTransformer : HttpTransformer
{
    public static UpstreamAuthorityTransformer Instance { get; } = new();

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.Headers.Host = null;
    }
}
