using Prometheus;
using Tollgate.Core.Ledger;
using Tollgate.Meter.Metering;
using Tollgate.Meter.Policy;

namespace Tollgate.Meter.Admin;

/// <summary>The admin port: <c>/metrics</c>, <c>/healthz</c> (the process is alive) and <c>/readyz</c> (it can meter).</summary>
internal static class AdminEndpoints
{
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
            case "/readyz":
                var ledger = services.GetRequiredService<IBudgetLedger>();
                var policy = services.GetRequiredService<PolicyProvider>();
                var problems = new List<string>();
                if (!ledger.IsReady)
                {
                    problems.Add($"ledger {ledger.Name} cannot record spend");
                }

                if (!policy.Loaded)
                {
                    problems.Add("no policy loaded");
                }

                context.Response.StatusCode = problems.Count == 0 ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
                context.Response.ContentType = "text/plain";
                await context.Response.WriteAsync(problems.Count == 0 ? "ready\n" : string.Join('\n', problems) + "\n", context.RequestAborted);
                break;
            default:
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                break;
        }
    }
}
