using System.Globalization;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Events;
using Tollgate.Core.Redis;
using Tollgate.Core.Usage;
using Tollgate.Exporter.Hosting;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests;

/// <summary>A real exporter (Kestrel on a free loopback port) on a real redis-server database, with its own policy and token files.</summary>
internal sealed class ExporterHarness : IAsyncDisposable
{
    private ExporterHarness(ExporterApp app, string directory)
    {
        App = app;
        Directory = directory;
        Client = new HttpClient { BaseAddress = app.Address, Timeout = TimeSpan.FromSeconds(30) };
    }

    public const string Token = "s3cret-export-token";

    public ExporterApp App { get; }

    public string Directory { get; }

    public HttpClient Client { get; }

    public static async Task<ExporterHarness> StartAsync(string ledger, string? policy = null, string? directory = null, TimeProvider? time = null,
        int maxLabelValues = ExporterOptions.DefaultMaxLabelValues, Func<ExporterOptions, ExporterOptions>? configure = null)
    {
        directory ??= System.IO.Directory.CreateTempSubdirectory("tollgate-exporter-").FullName;
        var tokenFile = Path.Combine(directory, "token");
        await File.WriteAllTextAsync(tokenFile, Token + "\n");
        string? policyPath = null;
        if (policy is not null)
        {
            policyPath = Path.Combine(directory, "policy.yaml");
            await File.WriteAllTextAsync(policyPath, policy);
        }

        var options = new ExporterOptions
        {
            Listen = "127.0.0.1:0", Ledger = ledger, PolicyPath = policyPath, TokenFile = tokenFile, PollInterval = TimeSpan.FromMilliseconds(50), MaxLabelValues = maxLabelValues,
        };
        var app = await ExporterApp.CreateAsync(
            configure is null ? options : configure(options),
            time,
            LogLevel.Warning);
        await app.StartAsync();
        return new ExporterHarness(app, directory);
    }

    /// <summary>
    /// Scrapes until the exporter has folded in <paramref name="events"/> events, then once more: a series is published
    /// at zero on the first scrape that meets it.
    /// </summary>
    public async Task<MetricsScrape> ScrapeWhenAsync(long events)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var scrape = new MetricsScrape(await Client.GetStringAsync("/metrics"));
            if (scrape.Sum("tollgate_exporter_events_total") >= events || DateTime.UtcNow > deadline)
            {
                return new MetricsScrape(await Client.GetStringAsync("/metrics"));
            }

            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>A usage event as a meter would publish it.</summary>
    public static UsageEvent Event(string id, DateTimeOffset time, string team = "payments", string repo = "checkout", string step = "review",
        string model = "claude-sonnet-4-5", long input = 1000, long output = 200, decimal cost = 0.006m, string outcome = "forwarded",
        IReadOnlyList<BudgetCharge>? budgets = null) =>
        new(id, time, "ci-payments", new Dictionary<string, string> { ["team"] = team, ["repo"] = repo, ["pipeline"] = "pr", ["agent_step"] = step },
            "anthropic", model, false, new TokenUsage(input, output, 0, 0, 0), false, cost, 1.5, null, outcome, 200, budgets ?? []);

    // Real clock, like the exporter it feeds: events written through it are dated relative to now, never on a fixed day.
    public static async Task<OwnedRedisLedger> LedgerAsync(string address) =>
        await OwnedRedisLedger.ConnectAsync(RedisLedgerOptions.FromUrl(address) with { OperationTimeout = TimeSpan.FromSeconds(5) }, TimeProvider.System, CancellationToken.None);

    public static string Db(RedisServerFixture redis, int db) => redis.Address + "/" + db.ToString(CultureInfo.InvariantCulture);
}
