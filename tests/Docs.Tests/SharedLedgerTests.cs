using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using StackExchange.Redis;
using Tollgate.Docs.Tests.Markdown;
using Tollgate.Docs.Tests.Running;

namespace Tollgate.Docs.Tests;

/// <summary>
/// The README's Redis commands against a real redis-server: the meter on the shared ledger, and the exporter reading what
/// it wrote. The cluster address redis.tollgate.svc:6379 is rewritten to the local server; ports and provider origins as
/// in <see cref="StandaloneMeterFixture"/>.
/// </summary>
public sealed class SharedLedgerTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IAsyncLifetime, IDisposable
{
    private const string UsageStream = "tollgate:{default}:usage";
    private readonly Workspace _workspace = new();
    private FakeLlmUpstream _upstream = null!;

    public async Task InitializeAsync()
    {
        await redis.FlushAsync();
        _upstream = await FakeLlmUpstream.StartAsync();
    }

    public async Task DisposeAsync() => await _upstream.DisposeAsync();

    public void Dispose() => _workspace.Dispose();

    [Fact]
    public async Task Meter_on_redis_writes_usage_events_of_the_documented_shape()
    {
        var (meter, proxy, _) = await StartMeterAsync();
        await using var _ = meter;
        using var client = new HttpClient { BaseAddress = proxy };
        using var response = await client.SendAsync(Llm.Messages(Llm.Tags("payments-platform", "transaction-service", "pr-review", "review"), fakeUsage: "input=1200,output=300"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var entry = await WaitForUsageEntryAsync();
        Assert.Equal(["event", "id"], entry.Values.Select(v => v.Name.ToString()).Order(StringComparer.Ordinal));
        var usage = JsonNode.Parse(entry.Values.Single(v => v.Name == "event").Value.ToString())!;

        var example = JsonNode.Parse(string.Join('\n', MarkdownBlocks.Example(Repo.Root, "README.md", "### Usage events", "json", "{\"v\":1").Lines))!;
        Assert.Equal(JsonShape.Of(example), JsonShape.Of(usage));
        Assert.Equal("forwarded", usage["outcome"]!.GetValue<string>());
        Assert.Equal(1200, usage["tokens"]!["input"]!.GetValue<long>());
        Assert.Equal(300, usage["tokens"]!["output"]!.GetValue<long>());
        Assert.Contains(usage["budgets"]!.AsArray(), b => b!["budget"]!.GetValue<string>() == "transaction-service-daily" && b["decision"]!.GetValue<string>() == "charged");

        // "Keys": the budget counters sit under the documented prefix.
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var keys = connection.GetServer(redis.Endpoint).Keys(pattern: "tollgate:{default}:c:*").Select(k => k.ToString()).ToList();
        Assert.Contains(keys, k => k.StartsWith("tollgate:{default}:c:transaction-service-daily:transaction-service:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Exporter_serves_metrics_gauges_and_the_usage_api_from_the_meters_usage()
    {
        var (meter, proxy, _) = await StartMeterAsync();
        await using var _ = meter;

        var block = Repo.Block("README.md", "## Exporter",
            "dotnet run --project exporter -- --ledger redis://redis.tollgate.svc:6379/0 --policy config/samples --token-file /etc/tollgate/export-token");
        await File.WriteAllTextAsync(_workspace.File("export-token"), "s3cret-export-token\n");
        var listen = Llm.FreeEndpoint();
        var command = new ShellCommand(block.Commands[0])
            .Rewrite("redis://redis.tollgate.svc:6379", redis.Address)
            .Rewrite("/etc/tollgate/export-token", _workspace.File("export-token"))
            .Append("--listen", listen);
        await using var exporter = ShellProcess.Start(command, _workspace.Path);
        var exporterUri = new Uri($"http://{listen}");
        await exporter.WaitUntilOkAsync(new Uri(exporterUri, "/readyz"));

        using (var client = new HttpClient { BaseAddress = proxy })
        using (var response = await client.SendAsync(Llm.Messages(Llm.Tags("payments", "checkout", "pr-review", "review"))))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var http = new HttpClient { BaseAddress = exporterUri };
        var scrape = await WaitForScrapeAsync(http, s => s.Sum("tollgate_requests_total", ("team", "payments"), ("repo", "checkout"), ("outcome", "forwarded")) >= 1);
        Assert.Equal(2000, scrape.Sum("tollgate_budget_limit", ("budget", "payments-platform-monthly-cap")));

        // The usage export API as the README shows it, over a window that holds today.
        var now = DateTimeOffset.UtcNow;
        var query = $"/api/v1/usage?from={now.AddDays(-1):yyyy-MM-ddTHH:mm:ssZ}&to={now.AddDays(1):yyyy-MM-ddTHH:mm:ssZ}&groupBy=team,model,metadata.agent_step&format=csv";
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(query)).StatusCode);
        using var wrong = new HttpRequestMessage(HttpMethod.Get, query) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token") } };
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
        using var authorized = new HttpRequestMessage(HttpMethod.Get, query) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-export-token") } };
        using var csv = await http.SendAsync(authorized);
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        var rows = (await csv.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("team", rows[0], StringComparison.Ordinal);
        Assert.Contains(rows.Skip(1), r => r.Contains("payments", StringComparison.Ordinal) && r.Contains("review", StringComparison.Ordinal));
        using var bad = new HttpRequestMessage(HttpMethod.Get, query.Replace("groupBy=team", "groupBy=colour", StringComparison.Ordinal))
        {
            Headers = { Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-export-token") },
        };
        Assert.Equal(HttpStatusCode.BadRequest, (await http.SendAsync(bad)).StatusCode);
    }

    private async Task<(ShellProcess Meter, Uri Proxy, Uri Admin)> StartMeterAsync()
    {
        var block = Repo.Block("README.md", "## Shared ledger on Redis", "dotnet run --project meter -- --policy config/samples --ledger redis://redis.tollgate.svc:6379/0");
        string proxy = Llm.FreeEndpoint(), admin = Llm.FreeEndpoint();
        var command = new ShellCommand(block.Commands[0])
            .Rewrite("redis://redis.tollgate.svc:6379", redis.Address)
            .Append(["--listen", proxy, "--admin-listen", admin, .. Llm.UpstreamArguments(_upstream)]);
        var meter = ShellProcess.Start(command, _workspace.Path, Llm.MeterKeys);
        await meter.WaitUntilOkAsync(new Uri($"http://{admin}/readyz"));
        return (meter, new Uri($"http://{proxy}"), new Uri($"http://{admin}"));
    }

    private async Task<StreamEntry> WaitForUsageEntryAsync()
    {
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var database = connection.GetDatabase(0);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            // The event is appended after the response completes; the stream is the state to poll.
            var entries = await database.StreamRangeAsync(UsageStream);
            if (entries.Length > 0)
            {
                return Assert.Single(entries);
            }

            await Task.Delay(50);
        }

        Assert.Fail($"no usage event on {UsageStream} within 15 s");
        return default;
    }

    private static async Task<MetricsScrape> WaitForScrapeAsync(HttpClient http, Func<MetricsScrape, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        MetricsScrape scrape;
        do
        {
            scrape = new MetricsScrape(await http.GetStringAsync("/metrics"));
            if (done(scrape))
            {
                return scrape;
            }

            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"the exporter did not publish the meter's request within 20 s:\n{scrape.Text}");
        return scrape;
    }
}
