using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Health.V1;
using Tollgate.Core.Events;
using Tollgate.Exporter.OpenCost.Protocol;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests.OpenCost;

/// <summary>
/// The exporter as OpenCost's custom-cost plugin, driven from the go-plugin host side: a real plugin process, its
/// handshake, gRPC health and <c>GetCustomCosts</c>, on a real redis-server (one database per test).
/// </summary>
public sealed class OpenCostPluginTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>, IDisposable
{
    // A midnight a few days back: readers refuse events older than the stream keeps (35 days) or dated ahead of now.
    // Real clock: the meters and the plugin are real processes reading it, so every date here is relative to it.
    private static readonly DateTimeOffset Day = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero).AddDays(-3);
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-opencost-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task Costs_per_namespace_team_repo_and_model_are_what_real_meters_spent_to_the_token_and_cent()
    {
        var ledger = ExporterHarness.Db(redis, 1);
        var before = DateTimeOffset.UtcNow;
        await using var upstream = await FakeLlmUpstream.StartAsync();
        await using (var payments = await MeterProcess.StartAsync(ledger, "ci-payments", upstream))
        await using (var search = await MeterProcess.StartAsync(ledger, "ci-search", upstream))
        {
            // Catalog list prices: claude-sonnet-4-5 $3 / $15 and claude-haiku-4-5 $1 / $5 per million input / output tokens.
            await payments.SpendAsync("claude-sonnet-4-5", "payments", "checkout", "pr-review", input: 100_000, output: 20_000); // $0.60
            await payments.SpendAsync("claude-sonnet-4-5", "payments", "checkout", "nightly", input: 100_000, output: 20_000); // $0.60
            await payments.SpendAsync("claude-haiku-4-5", "payments", "checkout", "pr-review", input: 50_000, output: 10_000); // $0.10
            await payments.SpendAsync("claude-sonnet-4-5", "payments", "ledger", "pr-review", input: 200_000, output: 0); // $0.60
            await search.SpendAsync("claude-sonnet-4-5", "search", "indexer", "pr-review", input: 10_000, output: 2_000); // $0.06
            await WaitForEventsAsync(ledger, 5);

            var paymentsScrape = await payments.ScrapeAsync();
            var searchScrape = await search.ScrapeAsync();
            Assert.Equal(1.20, paymentsScrape.Sum("tollgate_cost_usd_total", ("team", "payments"), ("repo", "checkout"), ("model", "claude-sonnet-4-5")), 9);
            Assert.Equal(0.06, searchScrape.Sum("tollgate_cost_usd_total", ("namespace", "ci-search")), 9);
        }

        await using var plugin = await GoPluginHost.StartAsync(await ConfigAsync(ledger));
        var set = await plugin.Costs.GetCustomCostsAsync(Request(before.AddHours(-1), before.AddHours(23), TimeSpan.FromDays(1)));

        var response = Assert.Single(set.Resps);
        Assert.Empty(response.Errors);
        Assert.Equal("tollgate", response.Domain);
        Assert.Equal("USD", response.Currency);
        Assert.Equal(before.AddHours(-1), response.Start.ToDateTimeOffset());
        var costs = response.Costs.ToDictionary(c => $"{c.AccountName} {c.ResourceName} {c.Labels["model"]}");
        Assert.Equal(
            ["ci-payments payments/checkout claude-haiku-4-5", "ci-payments payments/checkout claude-sonnet-4-5", "ci-payments payments/ledger claude-sonnet-4-5", "ci-search search/indexer claude-sonnet-4-5"],
            costs.Keys.Order(StringComparer.Ordinal));

        var checkout = costs["ci-payments payments/checkout claude-sonnet-4-5"];
        Assert.Equal(1.20m, Cents(checkout.BilledCost));
        Assert.Equal(1.20m, Cents(checkout.ListCost));
        Assert.Equal(240_000f, checkout.UsageQuantity);
        Assert.Equal("tokens", checkout.UsageUnit);
        Assert.Equal("Usage", checkout.ChargeCategory);
        Assert.Equal("ai-tokens", checkout.ResourceType);
        Assert.Equal("anthropic", checkout.ExtendedAttributes.Provider);
        Assert.Equal("ci-payments", checkout.Labels["namespace"]);
        Assert.Equal("payments", checkout.Labels["team"]);
        Assert.Equal("checkout", checkout.Labels["repo"]);
        Assert.Equal("nightly,pr-review", checkout.Labels["pipeline"]);
        Assert.Equal("review", checkout.Labels["agent_step"]);
        Assert.Equal("anthropic", checkout.Labels["provider"]);

        Assert.Equal((0.10m, 60_000f), (Cents(costs["ci-payments payments/checkout claude-haiku-4-5"].BilledCost), costs["ci-payments payments/checkout claude-haiku-4-5"].UsageQuantity));
        Assert.Equal((0.60m, 200_000f), (Cents(costs["ci-payments payments/ledger claude-sonnet-4-5"].BilledCost), costs["ci-payments payments/ledger claude-sonnet-4-5"].UsageQuantity));
        Assert.Equal((0.06m, 12_000f), (Cents(costs["ci-search search/indexer claude-sonnet-4-5"].BilledCost), costs["ci-search search/indexer claude-sonnet-4-5"].UsageQuantity));
        Assert.Equal(4, costs.Values.Select(c => c.Id).Distinct().Count());
    }

    [Fact]
    public async Task The_plugin_shakes_hands_reports_plugin_serving_and_exits_when_its_host_closes_stdin()
    {
        await using var plugin = await GoPluginHost.StartAsync(await ConfigAsync(ExporterHarness.Db(redis, 2)));

        Assert.Matches(@"^1\|1\|tcp\|127\.0\.0\.1:\d+\|grpc$", plugin.Handshake);
        var health = await plugin.Health.CheckAsync(new HealthCheckRequest { Service = "plugin" });
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        Assert.Equal(0, await plugin.CloseStdinAndWaitAsync(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public async Task The_exporter_binary_named_as_an_OpenCost_plugin_serves_with_the_config_path_as_its_only_argument()
    {
        // The apphost beside Tollgate.Exporter.dll, under the name OpenCost looks for in PLUGIN_EXECUTABLE_DIR.
        var apphost = Path.Combine(AppContext.BaseDirectory, "Tollgate.Exporter");
        Assert.True(File.Exists(apphost), $"{apphost} is missing (built without an apphost?)");
        var plugin = Path.Combine(AppContext.BaseDirectory, "tollgate.ocplugin.linux.amd64");
        File.Copy(apphost, plugin, overwrite: true);
        try
        {
            await using var host = await GoPluginHost.StartAsync(await ConfigAsync(ExporterHarness.Db(redis, 2)), plugin);

            var health = await host.Health.CheckAsync(new HealthCheckRequest { Service = "plugin" });
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        }
        finally
        {
            File.Delete(plugin);
        }
    }

    [Fact]
    public async Task The_go_plugin_controller_shutdown_ends_the_stdio_stream_and_the_plugin()
    {
        await using var plugin = await GoPluginHost.StartAsync(await ConfigAsync(ExporterHarness.Db(redis, 2)));
        var stdio = plugin.Stdio.ResponseStream.MoveNext(CancellationToken.None);
        // A call answered after the stream was opened: an Unimplemented or closed stream would have ended by then.
        var health = await plugin.Health.CheckAsync(new HealthCheckRequest { Service = "plugin" });
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
        Assert.False(stdio.IsCompleted, "the stdio stream ended (or failed, e.g. Unimplemented) before the plugin was told to stop");

        await plugin.Controller.ShutdownAsync(new Tollgate.Exporter.OpenCost.Protocol.Empty());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await plugin.Process.WaitForExitAsync(timeout.Token);

        Assert.Equal(0, plugin.Process.ExitCode);
        // Ended either with its status or with the connection the exiting plugin closed; never with data.
        try
        {
            Assert.False(await stdio);
        }
        catch (Grpc.Core.RpcException ex)
        {
            Assert.NotEqual(Grpc.Core.StatusCode.Unimplemented, ex.StatusCode);
        }
    }

    [Fact]
    public async Task A_window_in_the_future_returns_empty_costs_not_errors()
    {
        var ledger = ExporterHarness.Db(redis, 3);
        await AppendAsync(ledger, ExporterHarness.Event("now", DateTimeOffset.UtcNow));
        await using var plugin = await GoPluginHost.StartAsync(await ConfigAsync(ledger));
        var tomorrow = DateTimeOffset.UtcNow.AddDays(1);

        var set = await plugin.Costs.GetCustomCostsAsync(Request(tomorrow, tomorrow.AddDays(2), TimeSpan.FromDays(1)));

        Assert.Equal(2, set.Resps.Count);
        Assert.All(set.Resps, r => Assert.Empty(r.Costs));
        Assert.All(set.Resps, r => Assert.Empty(r.Errors));
        Assert.Equal(tomorrow.AddDays(1), set.Resps[1].Start.ToDateTimeOffset());
    }

    [Fact]
    public async Task A_past_window_without_usage_returns_empty_costs()
    {
        var ledger = ExporterHarness.Db(redis, 4);
        await AppendAsync(ledger, ExporterHarness.Event("later", Day.AddDays(1)));
        await using var plugin = await GoPluginHost.StartAsync(await ConfigAsync(ledger));

        var set = await plugin.Costs.GetCustomCostsAsync(Request(Day, Day.AddDays(1), TimeSpan.FromDays(1)));

        var response = Assert.Single(set.Resps);
        Assert.Empty(response.Costs);
        Assert.Empty(response.Errors);
        Assert.Equal((Day, Day.AddDays(1)), (response.Start.ToDateTimeOffset(), response.End.ToDateTimeOffset()));
    }

    [Fact]
    public async Task Hourly_resolution_returns_one_response_per_hour_holding_that_hours_usage()
    {
        var ledger = ExporterHarness.Db(redis, 5);
        await AppendAsync(
            ledger,
            ExporterHarness.Event("a", Day.AddMinutes(70), input: 1000, output: 200, cost: 0.006m),
            ExporterHarness.Event("b", Day.AddMinutes(110), input: 500, output: 100, cost: 0.003m),
            ExporterHarness.Event("c", Day.AddMinutes(185), model: "claude-haiku-4-5", input: 300, output: 30, cost: 0.00045m),
            ExporterHarness.Event("d", Day.AddHours(4), input: 9, output: 9, cost: 9m));
        await using var plugin = await GoPluginHost.StartAsync(await ConfigAsync(ledger));

        var set = await plugin.Costs.GetCustomCostsAsync(Request(Day, Day.AddHours(4), TimeSpan.FromHours(1)));

        Assert.Equal([Day, Day.AddHours(1), Day.AddHours(2), Day.AddHours(3)], set.Resps.Select(r => r.Start.ToDateTimeOffset()));
        Assert.Equal([Day.AddHours(1), Day.AddHours(2), Day.AddHours(3), Day.AddHours(4)], set.Resps.Select(r => r.End.ToDateTimeOffset()));
        Assert.Equal([0, 1, 0, 1], set.Resps.Select(r => r.Costs.Count));
        var second = set.Resps[1].Costs[0];
        Assert.Equal((0.009m, 1800f, "claude-sonnet-4-5"), (Math.Round((decimal)second.BilledCost, 6), second.UsageQuantity, second.Labels["model"]));
        var fourth = set.Resps[3].Costs[0];
        Assert.Equal((0.00045m, 330f, "claude-haiku-4-5"), (Math.Round((decimal)fourth.BilledCost, 6), fourth.UsageQuantity, fourth.Labels["model"]));
    }

    [Fact]
    public async Task When_the_ledger_cannot_be_reached_every_window_reports_the_error_and_no_costs()
    {
        // A loopback port with no Redis behind it.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await using var plugin = await GoPluginHost.StartAsync(await ConfigAsync(string.Create(CultureInfo.InvariantCulture, $"redis://127.0.0.1:{port}/0")));

        var set = await plugin.Costs.GetCustomCostsAsync(Request(Day, Day.AddDays(2), TimeSpan.FromDays(1)));

        Assert.Equal(2, set.Resps.Count);
        Assert.All(set.Resps, r => Assert.Empty(r.Costs));
        Assert.All(set.Resps, r => Assert.StartsWith("the usage stream could not be read", Assert.Single(r.Errors), StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_resolution_splitting_the_window_into_more_than_ten_thousand_steps_is_refused()
    {
        await using var plugin = await GoPluginHost.StartAsync(await ConfigAsync(ExporterHarness.Db(redis, 2)));

        var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () =>
            await plugin.Costs.GetCustomCostsAsync(Request(Day, Day.AddDays(30), TimeSpan.FromSeconds(1))));

        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, error.StatusCode);
    }

    [Fact]
    public async Task Windows_holding_hostile_entries_answer_with_the_costs_of_the_good_ones()
    {
        var ledger = ExporterHarness.Db(redis, 7);
        var now = DateTimeOffset.UtcNow;
        await AppendAsync(ledger, ExporterHarness.Event("good-1", now.AddMinutes(-30), input: 1000, output: 200, cost: 0.006m));
        using (var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.Endpoint))
        {
            await HostileEntries.AppendAsync(connection.GetDatabase(7), "tollgate:{default}:usage", HostileEntries.All(now.AddMinutes(-20)).Select(h => h.Fields));
        }

        await AppendAsync(ledger, ExporterHarness.Event("good-2", now.AddMinutes(-10), input: 500, output: 100, cost: 0.003m));
        await using var plugin = await GoPluginHost.StartAsync(await ConfigAsync(ledger));

        var set = await plugin.Costs.GetCustomCostsAsync(Request(now.AddHours(-2), now.AddHours(1), TimeSpan.FromHours(1)));

        Assert.Equal(3, set.Resps.Count);
        Assert.All(set.Resps, r => Assert.Empty(r.Errors));
        var costs = set.Resps.SelectMany(r => r.Costs).ToList();
        Assert.Equal(0.009m, Math.Round((decimal)costs.Sum(c => c.BilledCost), 6));
        Assert.Equal(1800f, costs.Sum(c => c.UsageQuantity));
        Assert.All(costs, c => Assert.True(c.BilledCost >= 0 && c.UsageQuantity >= 0));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3600)]
    public async Task A_resolution_that_is_not_positive_is_refused(int seconds)
    {
        await using var plugin = await GoPluginHost.StartAsync(await ConfigAsync(ExporterHarness.Db(redis, 2)));

        var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () =>
            await plugin.Costs.GetCustomCostsAsync(Request(DateTimeOffset.UnixEpoch, new DateTimeOffset(9999, 1, 1, 0, 0, 0, TimeSpan.Zero), TimeSpan.FromSeconds(seconds))));

        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("resolution", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Windows_at_either_end_of_time_are_answered_not_thrown()
    {
        await using var plugin = await GoPluginHost.StartAsync(await ConfigAsync(ExporterHarness.Db(redis, 2)));
        var last = new DateTimeOffset(9999, 12, 31, 0, 0, 0, TimeSpan.Zero);

        var end = await plugin.Costs.GetCustomCostsAsync(Request(last, last.AddHours(23), TimeSpan.FromDays(1)));
        var start = await plugin.Costs.GetCustomCostsAsync(Request(new DateTimeOffset(1960, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(1960, 1, 3, 0, 0, 0, TimeSpan.Zero), TimeSpan.FromDays(1)));

        Assert.Equal(last.AddHours(23), Assert.Single(end.Resps).End.ToDateTimeOffset());
        Assert.Equal(2, start.Resps.Count);
        Assert.All(start.Resps.Concat(end.Resps), r => Assert.Empty(r.Errors));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("opencost")]
    public async Task A_missing_or_wrong_magic_cookie_exits_1_with_go_plugins_message(string? cookie)
    {
        using var process = GoPluginHost.Launch(await ConfigAsync(ExporterHarness.Db(redis, 6)), cookie);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);

        Assert.Equal(1, process.ExitCode);
        Assert.Equal(string.Empty, await stdout);
        Assert.Equal(
            "This binary is a plugin. These are not meant to be executed directly.\n" +
            "Please execute the program that consumes these plugins, which will\n" +
            "load any plugins automatically\n",
            await stderr);
    }

    private static CustomCostRequest Request(DateTimeOffset start, DateTimeOffset end, TimeSpan resolution) => new()
    {
        Start = Timestamp.FromDateTimeOffset(start),
        End = Timestamp.FromDateTimeOffset(end),
        Resolution = Duration.FromTimeSpan(resolution),
    };

    private static decimal Cents(float cost) => Math.Round((decimal)cost, 2);

    private async Task<string> ConfigAsync(string ledger)
    {
        var path = Path.Combine(_directory, "tollgate_config.json");
        await File.WriteAllTextAsync(path, $$"""{"ledger":"{{ledger}}","currency":"USD"}""");
        return path;
    }

    private static async Task AppendAsync(string ledger, params UsageEvent[] events)
    {
        await using var connection = await ExporterHarness.LedgerAsync(ledger);
        var stream = new RedisUsageStream(connection.Connection, new UsageStreamOptions(), TimeProvider.System);
        foreach (var e in events)
        {
            await stream.AppendAsync(e, CancellationToken.None);
        }
    }

    // The meter appends a request's event once it has settled, after the response went out.
    private static async Task WaitForEventsAsync(string ledger, int count)
    {
        await using var connection = await ExporterHarness.LedgerAsync(ledger);
        var stream = RedisUsageStream.Reader(connection.Connection, TimeProvider.System);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((await stream.ReadAllAsync(CancellationToken.None)).Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, string.Create(CultureInfo.InvariantCulture, $"fewer than {count} usage events after 30 s"));
            await Task.Delay(50);
        }
    }
}
