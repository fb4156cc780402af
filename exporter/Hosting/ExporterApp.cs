using System.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Tollgate.Core.Events;
using Tollgate.Core.Hosting;
using Tollgate.Core.Ledger;
using Tollgate.Core.Redis;
using Tollgate.Core.Metrics;
using Tollgate.Exporter.Aggregation;
using Tollgate.Exporter.Api;
using Tollgate.Exporter.Budgets;
using Tollgate.Exporter.Streaming;

namespace Tollgate.Exporter.Hosting;

/// <summary>
/// The exporter: one Kestrel endpoint serving <c>/metrics</c> (the cluster's usage series and budget gauges),
/// <c>/api/v1/usage</c>, <c>/healthz</c> and <c>/readyz</c>, and the consumer that folds the usage stream into them.
/// </summary>
public sealed class ExporterApp : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly RedisConnection _redis;
    private readonly RedisLedger _ledger;

    private ExporterApp(WebApplication app, RedisConnection redis, RedisLedger ledger)
    {
        _app = app;
        _redis = redis;
        _ledger = ledger;
    }

    public Uri Address { get; private set; } = new("http://127.0.0.1");

    public static async Task<ExporterApp> CreateAsync(ExporterOptions options, TimeProvider? time = null, LogLevel minimumLogLevel = LogLevel.Information, CancellationToken cancellationToken = default)
    {
        time ??= TimeProvider.System;
        if (!EndpointParser.TryParse(options.Listen, out var endpoint, out var error))
        {
            throw new ArgumentException($"--listen: {error}", nameof(options));
        }

        var ledgerOptions = options.LedgerSettings.ToOptions(RedisLedgerAccess.Read);
        var builder = ProcessHost.CreateBuilder(typeof(ExporterApp).Assembly, minimumLogLevel);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(endpoint));

        // The connection logs (a refused user, a lost connection) for the process's lifetime, through the host's logging.
        // It is the process's one: the ledger's snapshots and the usage stream consumer both run on it.
        var ledgerLogger = ProcessHost.CreateLoggerFactory(minimumLogLevel).CreateLogger<RedisLedger>();
        var redis = await RedisConnection.ConnectAsync(ledgerOptions, time, ledgerLogger, cancellationToken);
        var ledger = new RedisLedger(redis, time, ledgerLogger);
        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(time);
        services.AddSingleton<IBudgetLedger>(ledger);
        services.AddSingleton(RedisUsageStream.Reader(redis, time));
        services.AddSingleton<AggregateHolder>();
        services.AddSingleton<SeriesIntroductions>();
        services.AddSingleton(new LabelLimits(options.MaxLabelValues));
        services.AddSingleton<PolicySource>();
        services.AddSingleton<LastBudgetGauges>();
        services.AddSingleton<UsageExportEndpoint>();
        services.AddHostedService<UsageStreamConsumer>();

        var app = builder.Build();
        app.MapGet("/metrics", (HttpContext context) => WriteMetricsAsync(context));
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", (Delegate)ReadinessAsync);
        app.MapGet("/api/v1/usage", (HttpContext context, UsageExportEndpoint export) => export.HandleAsync(context));
        return new ExporterApp(app, redis, ledger);
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken);
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Address = new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal).Replace("[::]", "127.0.0.1", StringComparison.Ordinal));
        Log.Listening(_app.Services.GetRequiredService<ILogger<ExporterApp>>(), Address.ToString(), _redis.Options.Address.ToString());
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    /// <summary>The process's exit code after shutdown: 1 when the usage stream consumer failed, so Kubernetes restarts it.</summary>
    public int ExitCode => _app.Services.GetRequiredService<AggregateHolder>().Fatal is null ? 0 : 1;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _ledger.DisposeAsync();
        await _redis.DisposeAsync();
    }

    /// <summary>
    /// Ready when the ledger answers and the consumer has caught up with its pending entries and still moves: a consumer
    /// that has finished no read for <see cref="ExporterOptions.StallAfter"/> while entries wait (pending or undelivered)
    /// is stuck, and its totals are going stale.
    /// </summary>
    private static async Task<IResult> ReadinessAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var holder = services.GetRequiredService<AggregateHolder>();
        var ledger = services.GetRequiredService<IBudgetLedger>();
        if (!ledger.IsReady)
        {
            return Results.Text("ledger unavailable\n", statusCode: 503);
        }

        if (holder.Fatal is not null)
        {
            return Results.Text("usage stream consumer failed\n", statusCode: 503);
        }

        if (!holder.Ready)
        {
            return Results.Text("catching up with the usage stream\n", statusCode: 503);
        }

        var options = services.GetRequiredService<ExporterOptions>();
        var idle = services.GetRequiredService<TimeProvider>().GetUtcNow() - holder.LastProgress;
        if (idle > options.StallAfter)
        {
            try
            {
                var (pending, lag) = await services.GetRequiredService<RedisUsageStream>().GroupBacklogAsync(UsageStreamConsumer.Group, context.RequestAborted);
                if (pending > 0 || lag > 0)
                {
                    return Results.Text(
                        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"usage stream consumer stuck: no progress for {idle.TotalSeconds:0} s with {pending} entries pending and {lag?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"} undelivered\n"),
                        statusCode: 503);
                }
            }
            catch (LedgerUnavailableException)
            {
                return Results.Text("ledger unavailable\n", statusCode: 503);
            }
        }

        return Results.Text("ready\n");
    }

    private static async Task WriteMetricsAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var holder = services.GetRequiredService<AggregateHolder>();
        var ledger = services.GetRequiredService<IBudgetLedger>();
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        var aggregate = holder.Current;
        var output = new StringBuilder(64 * 1024);
        UsageSeriesWriter.Write(aggregate, output, services.GetRequiredService<SeriesIntroductions>());
        var last = services.GetRequiredService<LastBudgetGauges>();
        try
        {
            var counters = await ledger.SnapshotAsync(now, context.RequestAborted);
            last.Rows = BudgetSeriesWriter.Gauges(services.GetRequiredService<PolicySource>().Current.Budgets, counters, aggregate, now,
                services.GetRequiredService<ExporterOptions>().MaxLabelValues);
        }
        catch (LedgerUnavailableException ex)
        {
            // The last values, as the meter keeps its own (see LastBudgetGauges); tollgate_ledger_ready and its alert tell why they stand still.
            Log.GaugesKept(services.GetRequiredService<ILogger<ExporterApp>>(), ex.Message);
        }

        BudgetSeriesWriter.WriteGauges(last.Rows, output);
        BudgetSeriesWriter.WriteCostForecast(aggregate, now, output);

        var writer = new ExpositionWriter(output);
        writer.Family(MetricContract.LedgerReady.Name, MetricContract.LedgerReady.Type, MetricContract.LedgerReady.Help);
        writer.Sample(MetricContract.LedgerReady.Name, [], [], ledger.IsReady ? 1 : 0);
        writer.Family("tollgate_exporter_events_total", "counter", "Usage events folded into the totals, since the totals began.");
        writer.Sample("tollgate_exporter_events_total", [], [], aggregate.Events);
        writer.Family("tollgate_exporter_duplicates_total", "counter", "Usage stream entries delivered again after a restart and skipped, since this process started.");
        writer.Sample("tollgate_exporter_duplicates_total", [], [], holder.Duplicates);
        writer.Family("tollgate_exporter_duplicate_requests_total", "counter", "Usage events skipped because their request id was already counted (within the meter's 3-day replay window), since this process started.");
        writer.Sample("tollgate_exporter_duplicate_requests_total", [], [], holder.DuplicateRequests);
        context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await context.Response.WriteAsync(output.ToString(), context.RequestAborted);
    }
}
