using Prometheus;
using Tollgate.Core.Ledger;
using Tollgate.Meter.Keys;
using Tollgate.Meter.Metering;
using Tollgate.Meter.Policy;

namespace Tollgate.Meter.Admin;

/// <summary>
/// The admin port: <c>/metrics</c>, <c>/healthz</c> (the process is alive), <c>/startupz</c> (it can serve: policy
/// loaded, listeners up) and <c>/readyz</c> (it can meter: that, and the ledger records spend).
/// </summary>
/// <remarks>
/// NOTE: it may seem wise to gate a pod's start on <c>/readyz</c>, so that no request is made before spend can be
/// recorded. HOWEVER the injected sidecar's startup probe holds every container after it, so a ledger outage would hold
/// every CI pod in every metered namespace, even where each budget fails open. Whether a request may pass without the
/// ledger is each budget's <c>failurePolicy</c> to decide, per request (closed: 503; open: allowed, its usage spooled and
/// replayed), so the startup gate asks only whether the meter can answer.
/// </remarks>
internal static class AdminEndpoints
{
    /// <summary>Refresh periods without an answer from the key broker after which the meter reports itself not ready (it keeps serving the last keys).</summary>
    public const int StaleRefreshPeriods = 3;

    public static async Task HandleAsync(HttpContext context)
    {
        var services = context.RequestServices;
        switch (context.Request.Path.Value)
        {
            case "/metrics":
                var metrics = services.GetRequiredService<MeterMetrics>();
                context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
                await metrics.Registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
                break;
            case "/healthz":
                context.Response.ContentType = "text/plain";
                await context.Response.WriteAsync("ok\n", context.RequestAborted);
                break;
            case "/startupz":
                await WriteAsync(context, ServingProblems(services), "started");
                break;
            case "/readyz":
                var ledger = services.GetRequiredService<IBudgetLedger>();
                var problems = new List<string>();
                if (!ledger.IsReady)
                {
                    problems.Add($"ledger {ledger.Name} cannot record spend");
                }

                problems.AddRange(ServingProblems(services));
                if (services.GetService<BrokerKeySource>() is { Available: true } broker && broker.Staleness(StaleRefreshPeriods) is { } stale)
                {
                    problems.Add(stale);
                }

                await WriteAsync(context, problems, "ready");
                break;
            default:
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                break;
        }
    }

    /// <summary>Why the meter cannot answer requests yet: no policy, or the host has not finished starting its listeners.</summary>
    private static List<string> ServingProblems(IServiceProvider services)
    {
        var problems = new List<string>();
        if (!services.GetRequiredService<PolicyProvider>().Loaded)
        {
            problems.Add("no policy loaded");
        }

        // A meter without keys would forward jobs' requests with their own credentials or none: it cannot serve yet.
        if (services.GetService<BrokerKeySource>() is { Available: false } broker)
        {
            problems.Add(broker.Staleness(StaleRefreshPeriods)!);
        }

        if (!services.GetRequiredService<IHostApplicationLifetime>().ApplicationStarted.IsCancellationRequested)
        {
            problems.Add("listeners not started");
        }

        return problems;
    }

    private static Task WriteAsync(HttpContext context, List<string> problems, string ok)
    {
        context.Response.StatusCode = problems.Count == 0 ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "text/plain";
        return context.Response.WriteAsync(problems.Count == 0 ? ok + "\n" : string.Join('\n', problems) + "\n", context.RequestAborted);
    }
}
