using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;
using Tollgate.Core.Events;
using Tollgate.Exporter.Streaming;
using Tollgate.TestSupport;

namespace Tollgate.Exporter.Tests;

/// <summary>
/// The exporter against a usage stream that holds hostile entries, on a real redis-server (one database per test): bad
/// entries are refused, counted and dead-lettered, and the totals, the usage API and readiness are what the good entries
/// alone make them.
/// </summary>
public sealed class HostileStreamTests(RedisServerFixture redis) : IClassFixture<RedisServerFixture>
{
    // Real clock: the exporter under test reads it (its poll loop waits on it), so every date here is relative to it.
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    [Fact]
    public void Every_catalogue_entry_is_refused_by_the_reader_for_its_reason()
    {
        var limits = UsageEventLimits.ForStream(new UsageStreamOptions());
        foreach (var entry in HostileEntries.All(Now))
        {
            var json = entry.Fields.FirstOrDefault(f => f.Name == "event").Value;
            if (json.IsNull)
            {
                Assert.Equal(UsageEventRejections.MissingEvent, entry.Reason);
                continue;
            }

            Assert.False(UsageEventReader.TryRead((byte[])json!, limits, Now, out _, out var rejection), entry.Name);
            Assert.True(entry.Reason == rejection.Reason, $"{entry.Name}: {rejection.Reason} ({rejection.Detail})");
        }
    }

    [Fact]
    public async Task Hostile_entries_among_good_ones_leave_the_totals_of_the_good_ones_alone_and_are_counted_and_dead_lettered()
    {
        var hostile = HostileEntries.All(Now);
        var good = Enumerable.Range(0, hostile.Count + 1)
            .Select(i => ExporterHarness.Event($"good-{i}", Now.AddMinutes(-i), team: i % 2 == 0 ? "payments" : "search", input: 100 * (i + 1), output: 10, cost: 0.001m * (i + 1)))
            .ToList();

        // The same good events twice: alone, and with a hostile entry after each of them.
        var clean = ExporterHarness.Db(redis, 1);
        var mixed = ExporterHarness.Db(redis, 2);
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        await AppendAsync(connection.GetDatabase(1), good.Select(Fields));
        await AppendAsync(connection.GetDatabase(2), good.SelectMany((e, i) => i < hostile.Count ? new[] { Fields(e), hostile[i].Fields } : new[] { Fields(e) }));

        await using var cleanExporter = await ExporterHarness.StartAsync(clean);
        await using var mixedExporter = await ExporterHarness.StartAsync(mixed);
        var expected = await ScrapeWhenAsync(cleanExporter, good.Count, 0);
        var actual = await ScrapeWhenAsync(mixedExporter, good.Count, hostile.Count);

        Assert.Equal(UsageLines(expected), UsageLines(actual));
        Assert.NotEmpty(UsageLines(expected));
        // The month-end forecast moves with the clock between the two scrapes: equal series, values within 0.1 %.
        foreach (var team in new[] { "payments", "search" })
        {
            var forecast = expected.Sum("tollgate_cost_forecast_usd", ("team", team));
            Assert.True(forecast > 0);
            Assert.Equal(forecast, actual.Sum("tollgate_cost_forecast_usd", ("team", team)), forecast * 1e-3);
        }

        foreach (var reason in hostile.GroupBy(h => h.Reason))
        {
            Assert.Equal(reason.Count(), actual.Sum(UsageStreamConsumer.RejectedMetric, ("reason", reason.Key)));
        }

        Assert.Equal(hostile.Count, actual.Sum(UsageStreamConsumer.RejectedMetric));
        Assert.True(actual.Text.Length < 64 * 1024, $"/metrics is {actual.Text.Length} bytes");

        var deadLetters = await connection.GetDatabase(2).StreamRangeAsync("tollgate:{default}:usage:dead");
        Assert.Equal(hostile.Select(h => h.Reason), deadLetters.Select(d => (string)d["reason"]!));
        Assert.All(deadLetters, d => Assert.False(d["entry"].IsNullOrEmpty));
        Assert.All(deadLetters, d => Assert.True(d.Values.Sum(v => ((byte[])v.Value!).Length) < 16 * 1024));
        Assert.Equal(0, (await connection.GetDatabase(2).StreamPendingAsync("tollgate:{default}:usage", UsageStreamConsumer.Group)).PendingMessageCount);

        using var ready = await mixedExporter.Client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task The_same_request_id_appended_three_times_counts_once_also_across_a_restart()
    {
        var address = ExporterHarness.Db(redis, 3);
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var db = connection.GetDatabase(3);
        var twice = ExporterHarness.Event("same-request", Now, input: 1000, output: 100, cost: 0.5m);
        await AppendAsync(db, [Fields(twice), Fields(twice), Fields(ExporterHarness.Event("other", Now, input: 1, output: 1, cost: 0.001m)), Fields(twice)]);

        await using (var first = await ExporterHarness.StartAsync(address))
        {
            var scrape = await ScrapeWhenAsync(first, 2, 0);
            Assert.Equal(1001, scrape.Sum("tollgate_tokens_total", ("type", "input")));
            Assert.Equal(0.501, scrape.Sum("tollgate_cost_usd_total"), 9);
            Assert.Equal(2, scrape.Sum("tollgate_exporter_duplicate_requests_total"));
        }

        // A fourth copy after the restart: the ids were saved with the totals.
        await AppendAsync(db, [Fields(twice), Fields(ExporterHarness.Event("after", Now, input: 5, output: 1, cost: 0.001m))]);
        await using var second = await ExporterHarness.StartAsync(address);
        var after = await ScrapeWhenAsync(second, 3, 0);

        Assert.Equal(1006, after.Sum("tollgate_tokens_total", ("type", "input")));
        Assert.Equal(3, after.Sum("tollgate_exporter_events_total"));
        Assert.Equal(1, after.Sum("tollgate_exporter_duplicate_requests_total"));
    }

    [Fact]
    public async Task Request_ids_are_remembered_for_the_replay_window_only()
    {
        var address = ExporterHarness.Db(redis, 4);
        await using var ledger = await ExporterHarness.LedgerAsync(address);
        var stream = RedisUsageStream.Reader(ledger.Connection, TimeProvider.System);
        var now = DateTimeOffset.UtcNow;
        await stream.SaveStateAsync("ids-test", "{}", [(now.AddDays(-4).ToUnixTimeMilliseconds(), "stale"), (now.AddDays(-2).ToUnixTimeMilliseconds(), "recent")], now.AddDays(-3), 10, CancellationToken.None);
        Assert.Equal(["recent"], await stream.CountedAsync("ids-test", ["stale", "recent", "never"], CancellationToken.None));

        // Past the cap the oldest go first.
        await stream.SaveStateAsync("ids-test", "{}", [.. Enumerable.Range(0, 5).Select(i => (now.AddMinutes(i).ToUnixTimeMilliseconds(), $"n{i}"))], now.AddDays(-3), 3, CancellationToken.None);
        Assert.Equal(["n2", "n3", "n4"], (await stream.CountedAsync("ids-test", ["recent", "n0", "n1", "n2", "n3", "n4"], CancellationToken.None)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_fuzzed_stream_never_stops_the_consumer()
    {
        const int Mutations = 400;
        var address = ExporterHarness.Db(redis, 5);
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var db = connection.GetDatabase(5);
        var random = new Random(20261115);
        var entries = new List<NameValueEntry[]>();
        for (var i = 0; i < Mutations; i++)
        {
            entries.Add([new NameValueEntry("id", "fuzz"), new NameValueEntry("event", Mutate(HostileEntries.Json(ExporterHarness.Event($"fuzz-{i}", Now)), random))]);
        }

        await AppendAsync(db, entries);
        await using var exporter = await ExporterHarness.StartAsync(address);
        await AppendAsync(db, [Fields(ExporterHarness.Event("sentinel", Now, team: "sentinel", input: 4242))]);

        var deadline = DateTime.UtcNow.AddSeconds(60);
        MetricsScrape scrape;
        do
        {
            scrape = new MetricsScrape(await exporter.Client.GetStringAsync("/metrics"));
            Assert.True(DateTime.UtcNow < deadline, "the sentinel after the fuzzed entries was never counted");
        }
        while (scrape.Sum("tollgate_tokens_total", ("team", "sentinel")) < 4242 && await Delay());

        // Every entry is accounted for: counted, refused, or a repeat of a request id already counted.
        Assert.Equal(Mutations + 1, scrape.Sum("tollgate_exporter_events_total") + scrape.Sum(UsageStreamConsumer.RejectedMetric) + scrape.Sum("tollgate_exporter_duplicate_requests_total"));
        Assert.True(scrape.Sum(UsageStreamConsumer.RejectedMetric) > Mutations / 4, "the mutations should mostly break the event");
        using var ready = await exporter.Client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.All(scrape.Text.Split('\n').Where(l => l.StartsWith("tollgate_tokens_total", StringComparison.Ordinal) || l.StartsWith("tollgate_cost_usd_total", StringComparison.Ordinal)),
            line => Assert.True(double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture) is >= 0 and < 1e15, line));
    }

    [Fact]
    public async Task The_usage_api_answers_for_a_range_with_bad_entries_from_the_good_ones_and_neutralises_formulas()
    {
        var address = ExporterHarness.Db(redis, 6);
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        var db = connection.GetDatabase(6);
        var hostile = HostileEntries.All(Now);
        await AppendAsync(db, [Fields(ExporterHarness.Event("g1", Now, team: "payments", input: 1000, output: 100, cost: 0.01m))]);
        await AppendAsync(db, hostile.Select(h => h.Fields));
        await AppendAsync(db, [
            Fields(ExporterHarness.Event("g2", Now, team: "=HYPERLINK(\"http://evil\",\"x\")", input: 10, output: 1, cost: 0.001m)),
            Fields(ExporterHarness.Event("g3", Now, team: "@SUM(A1)", input: 20, output: 2, cost: 0.002m)),
            Fields(ExporterHarness.Event("g4", Now, team: "+cmd|calc", input: 30, output: 3, cost: 0.003m)),
        ]);
        await using var exporter = await ExporterHarness.StartAsync(address);
        var range = $"from={Uri.EscapeDataString(Now.AddDays(-1).ToString("O"))}&to={Uri.EscapeDataString(Now.AddDays(1).ToString("O"))}";

        using var json = await SendAsync(exporter, $"/api/v1/usage?{range}&format=json");
        Assert.Equal(HttpStatusCode.OK, json.StatusCode);
        using var document = JsonDocument.Parse(await json.Content.ReadAsStringAsync());
        var row = Assert.Single(document.RootElement.GetProperty("rows").EnumerateArray());
        Assert.Equal(4, row.GetProperty("requests").GetInt32());
        Assert.Equal(1060, row.GetProperty("input_tokens").GetInt64());
        Assert.Equal(0.016m, row.GetProperty("cost_usd").GetDecimal());
        Assert.Equal(hostile.Count.ToString(CultureInfo.InvariantCulture), json.Headers.GetValues(Api.UsageExportEndpoint.SkippedHeader).Single());

        using var csv = await SendAsync(exporter, $"/api/v1/usage?{range}&groupBy=team&format=csv");
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        var lines = (await csv.Content.ReadAsStringAsync()).TrimEnd('\n').Split('\n');
        Assert.Contains("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",1,10,1,0,0,0,0.001", lines);
        Assert.Contains("\"'@SUM(A1)\",1,20,2,0,0,0,0.002", lines);
        Assert.Contains("\"'+cmd|calc\",1,30,3,0,0,0,0.003", lines);
        Assert.Contains("payments,1,1000,100,0,0,0,0.01", lines);
        Assert.Equal(5, lines.Length);
    }

    [Fact]
    public async Task Readiness_reports_a_consumer_that_stops_moving_while_entries_wait()
    {
        var address = ExporterHarness.Db(redis, 7);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        // The consumer's next read waits an hour of fake time: until the test advances that far, it is stuck.
        await using var exporter = await ExporterHarness.StartAsync(address, time: time,
            configure: o => o with { PollInterval = TimeSpan.FromHours(1), StallAfter = TimeSpan.FromMinutes(2) });
        await WaitForStatusAsync(exporter, HttpStatusCode.OK);

        time.Advance(TimeSpan.FromMinutes(3));
        using (var idle = await exporter.Client.GetAsync("/readyz"))
        {
            // Nothing waits: an idle consumer is not a stuck one.
            Assert.Equal(HttpStatusCode.OK, idle.StatusCode);
        }

        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Endpoint);
        await AppendAsync(connection.GetDatabase(7), [Fields(ExporterHarness.Event("waiting", time.GetUtcNow()))]);
        using (var stuck = await exporter.Client.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, stuck.StatusCode);
            Assert.StartsWith("usage stream consumer stuck: no progress for 180 s with 0 entries pending and 1 undelivered", await stuck.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        time.Advance(TimeSpan.FromHours(1));
        await WaitForStatusAsync(exporter, HttpStatusCode.OK);
        Assert.Equal(1, (await exporter.ScrapeWhenAsync(1)).Sum("tollgate_exporter_events_total"));
    }

    private static async Task WaitForStatusAsync(ExporterHarness exporter, HttpStatusCode status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var response = await exporter.Client.GetAsync("/readyz");
            if (response.StatusCode == status)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"/readyz stayed {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            await Task.Delay(20);
        }
    }

    private static string Mutate(string json, Random random)
    {
        string[] hostileValues = ["1e30", "-1", "1e400", "null", "\"\\ud800\"", "[]", "{}", "\"\"", "true", "9223372036854775808", "\"" + new string('x', 300) + "\"", "0.5", "\"2099-01-01T00:00:00Z\""];
        switch (random.Next(5))
        {
            case 0:
                // Flip a few bytes anywhere.
                var bytes = Encoding.UTF8.GetBytes(json);
                for (var i = random.Next(1, 4); i > 0; i--)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }

                return Encoding.UTF8.GetString(bytes);
            case 1:
                // Cut it short.
                return json[..random.Next(json.Length)];
            default:
                // Replace or drop one field, at the top or inside tokens or tags.
                var node = JsonNode.Parse(json)!.AsObject();
                var target = random.Next(3) switch { 0 => node["tokens"]!.AsObject(), 1 => node["tags"]!.AsObject(), _ => node };
                var names = target.Select(p => p.Key).ToList();
                var name = names[random.Next(names.Count)];
                if (random.Next(4) == 0)
                {
                    target.Remove(name);
                    return node.ToJsonString();
                }

                var text = node.ToJsonString();
                var placeholder = "\"__MUTATED__\"";
                target[name] = "__MUTATED__";
                return node.ToJsonString().Replace(placeholder, hostileValues[random.Next(hostileValues.Length)], StringComparison.Ordinal) is var mutated && mutated != text ? mutated : text;
        }
    }

    private static async Task<bool> Delay()
    {
        await Task.Delay(50);
        return true;
    }

    private static async Task<HttpResponseMessage> SendAsync(ExporterHarness exporter, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ExporterHarness.Token);
        return await exporter.Client.SendAsync(request);
    }

    /// <summary>Scrapes until the exporter has counted and refused so many entries, then once more (a new series shows at zero first).</summary>
    private static async Task<MetricsScrape> ScrapeWhenAsync(ExporterHarness exporter, long events, long rejected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var scrape = new MetricsScrape(await exporter.Client.GetStringAsync("/metrics"));
            if (scrape.Sum("tollgate_exporter_events_total") >= events && scrape.Sum(UsageStreamConsumer.RejectedMetric) >= rejected)
            {
                return new MetricsScrape(await exporter.Client.GetStringAsync("/metrics"));
            }

            Assert.True(DateTime.UtcNow < deadline, $"after 30 s: {scrape.Sum("tollgate_exporter_events_total")} events, {scrape.Sum(UsageStreamConsumer.RejectedMetric)} refused");
            await Task.Delay(50);
        }
    }

    // Every series of the usage families, the forecasts and the budget gauges; not the exporter's own bookkeeping.
    private static List<string> UsageLines(MetricsScrape scrape) =>
        [.. scrape.Text.Split('\n').Where(l => l.StartsWith("tollgate_", StringComparison.Ordinal)
            && !l.StartsWith(UsageStreamConsumer.RejectedMetric, StringComparison.Ordinal)
            && !l.StartsWith("tollgate_exporter_", StringComparison.Ordinal)
            && !l.StartsWith("tollgate_ledger_ready", StringComparison.Ordinal)
            && !l.StartsWith("tollgate_cost_forecast_usd{", StringComparison.Ordinal))];

    private static NameValueEntry[] Fields(UsageEvent e) => [new("id", e.RequestId), new("event", HostileEntries.Json(e))];

    private static Task AppendAsync(IDatabase db, IEnumerable<NameValueEntry[]> entries) =>
        HostileEntries.AppendAsync(db, "tollgate:{default}:usage", entries);
}
