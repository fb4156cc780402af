using System.Globalization;
using System.Net;

namespace Tollgate.Operator.Hosting;

/// <summary>
/// The operator's plain-HTTP port (8080 in config/manager): <c>/healthz</c> (the process runs), <c>/readyz</c> (its
/// caches are synced and the webhook has a certificate: leadership is not required, every replica serves the
/// webhook) and <c>/metrics</c> (leadership, reconciles).
/// </summary>
internal sealed class HealthServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HealthServer(WebApplication app) => _app = app;

    public static HealthServer Create(string listenAddress, int port, OperatorHost host, Func<bool> webhookReady)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(IPAddress.Parse(listenAddress), port);
        });
        var app = builder.Build();
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", () =>
        {
            var synced = host.Synced.IsCompletedSuccessfully;
            return synced && webhookReady()
                ? Results.Text("ready\n")
                : Results.Text(synced ? "webhook certificate not loaded yet\n" : "caches not synced yet\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.MapGet("/metrics", () => Results.Text(
            "# HELP tollgate_operator_leader 1 while this replica holds the leader lease and runs the reconcilers.\n" +
            "# TYPE tollgate_operator_leader gauge\n" +
            $"tollgate_operator_leader {(host.IsLeading ? 1 : 0)}\n" +
            "# HELP tollgate_operator_reconciles_total Reconciles run by this replica.\n" +
            "# TYPE tollgate_operator_reconciles_total counter\n" +
            $"tollgate_operator_reconciles_total {host.Reconciles.ToString(CultureInfo.InvariantCulture)}\n",
            "text/plain; version=0.0.4; charset=utf-8"));
        return new HealthServer(app);
    }

    public Task StartAsync(CancellationToken cancellationToken) => _app.StartAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
