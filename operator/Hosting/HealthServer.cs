using System.Globalization;
using System.Net;
using System.Text;

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

    public static HealthServer Create(string listenAddress, int port, OperatorHost host, Func<bool> webhookReady, KeyBroker.KeyBrokerMetrics? brokerMetrics = null)
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
        app.MapGet("/metrics", () =>
        {
            var text = new StringBuilder()
                .Append("# HELP tollgate_operator_leader 1 while this replica holds the leader lease and runs the reconcilers.\n")
                .Append("# TYPE tollgate_operator_leader gauge\n")
                .Append(CultureInfo.InvariantCulture, $"tollgate_operator_leader {(host.IsLeading ? 1 : 0)}\n")
                .Append("# HELP tollgate_operator_reconciles_total Reconciles run by this replica.\n")
                .Append("# TYPE tollgate_operator_reconciles_total counter\n")
                .Append(CultureInfo.InvariantCulture, $"tollgate_operator_reconciles_total {host.Reconciles}\n");
            brokerMetrics?.WriteTo(text);
            return Results.Text(text.ToString(), "text/plain; version=0.0.4; charset=utf-8");
        });
        return new HealthServer(app);
    }

    public Task StartAsync(CancellationToken cancellationToken) => _app.StartAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
