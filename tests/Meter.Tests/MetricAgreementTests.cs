using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Tollgate.Core.Events;
using Tollgate.Core.Ledger.Redis;
using Tollgate.Core.Metrics;
using Tollgate.Exporter;
using Tollgate.Exporter.Hosting;
using Tollgate.Meter.Tests.Support;
using Tollgate.TestSupport;
using Xunit.Abstractions;

namespace Tollgate.Meter.Tests;

/// <summary>
/// The proof of one metric contract: a real meter on a real Redis ledger and an exporter reading the same usage stream,
/// fed every kind of request the meter answers, publish the same series with the same values for every family they
/// share. Both run on one clock whose date stands still (timers and elapsed time are real), so the budget forecasts,
/// which depend on the time of day, are computed at the same instant.
/// </summary>
public sealed class MetricAgreementTests(UpstreamFixture fixture, RedisServerFixture redis, ITestOutputHelper output)
    : IClassFixture<UpstreamFixture>, IClassFixture<RedisServerFixture>, IDisposable
{
    private const int MaxLabelValues = 4;
    private const string FixedText = "Budget exhausted: this step was skipped.";

    // Budgets whose reservations the test's ledger spoils: an amount the ledger refuses (500 amount_out_of_range), a
    // fault the meter does not expect (500 internal_error), and a ledger that stalls until the client gives up.
    private const string FaultyAmount = "faulty-amount";
    private const string Broken = "broken";
    private const string Stalled = "stalled";

    private const string Policy = $$"""
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: repo-monthly }
        spec: { appliesPer: ["metadata.repo"], limit: { amount: 100, unit: usd, period: month } }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: org-daily }
        spec: { limit: { amount: 100000000, unit: tokens, period: day } }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: opus-daily }
        spec: { match: { models: ["claude-opus-*"] }, limit: { amount: 0.000001, unit: usd, period: day } }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: {{FaultyAmount}} }
        spec: { match: { metadata: { agent_step: {{FaultyAmount}} } }, limit: { amount: 1000, unit: usd, period: day } }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: {{Broken}} }
        spec: { match: { metadata: { agent_step: {{Broken}} } }, limit: { amount: 1000, unit: usd, period: day } }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: {{Stalled}} }
        spec: { match: { metadata: { agent_step: {{Stalled}} } }, limit: { amount: 1000, unit: usd, period: day } }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiRoutingRule
        metadata: { name: answer, namespace: ci }
        spec:
          match: { metadata: { agent_step: answer } }
          fallback: { onBudgetExceeded: { response: "{{FixedText}}" } }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiRoutingRule
        metadata: { name: downgrade, namespace: ci }
        spec:
          match: { metadata: { agent_step: downgrade } }
          fallback: { onBudgetExceeded: { model: claude-haiku-4-5 } }
        ---
        apiVersion: tollgate.io/v1alpha1
        kind: AiRoutingRule
        metadata: { name: cached, namespace: ci }
        spec:
          match: { metadata: { agent_step: cached } }
          cache: { enabled: true, ttlSeconds: 600 }
        """;

    /// <summary>Mid-afternoon, nine days into a month: every budget window has run long enough for a run-rate forecast.</summary>
    private static readonly DateTimeOffset Today = new(2026, 3, 10, 15, 0, 0, TimeSpan.Zero);

    /// <summary>The exporter's policy and token and the meter's spool, per test.</summary>
    private readonly string _directory = Directory.CreateTempSubdirectory("tollgate-agreement-").FullName;

    [Fact]
    public async Task The_meter_and_the_exporter_publish_the_same_series_for_the_same_traffic()
    {
        var address = redis.Address + "/1";
        var clock = new FrozenDate(Today);
        var stalled = new StalledReservations();
        await using var meter = await StartMeterAsync(address, clock, stalled);
        await using var exporter = await StartExporterAsync(address, clock);

        var ids = await SendEveryKindOfRequestAsync(meter, stalled);

        var meterScrape = await EventuallyAsync(meter.ScrapeAsync, s => s.Sum(MetricContract.Requests.Name) == ids.Count, "the meter has counted every request");
        await EventuallyAsync(() => ScrapeAsync(exporter), s => s.Sum("tollgate_exporter_events_total") == ids.Count, "the exporter has folded in every event");

        // Once more: the exporter publishes a series at zero on the first scrape that meets it.
        var exporterScrape = await ScrapeAsync(exporter);
        meterScrape = await meter.ScrapeAsync();

        // Exactly one event per request, rejected ones included.
        await using (var ledger = await RedisLedger.ConnectAsync(RedisLedgerOptions.FromUrl(address) with { OperationTimeout = TimeSpan.FromSeconds(5) }, clock, CancellationToken.None))
        {
            var events = await RedisUsageStream.For(ledger, new UsageStreamOptions(), clock).ReadAllAsync(CancellationToken.None);
            Assert.Equal(ids.Order(StringComparer.Ordinal), events.Select(e => e.RequestId).Order(StringComparer.Ordinal));
        }

        // The traffic covered what it must, or agreement would prove little.
        foreach (var outcome in RequestOutcomes.All)
        {
            Assert.True(meterScrape.Sum(MetricContract.Requests.Name, ("outcome", outcome)) > 0, $"no {outcome} request in the traffic");
        }

        Assert.Equal(8, meterScrape.Sum(MetricContract.Requests.Name, ("outcome", RequestOutcomes.Rejected)));
        Assert.True(meterScrape.Sum(MetricContract.LabelOverflow.Name, ("label", "team")) > 0);
        Assert.True(meterScrape.Sum(MetricContract.TimeToFirstToken.Name + "_count") > 0);
        Assert.True(meterScrape.Has(MetricContract.PromptLatency.Name + "_count", ("streaming", "true")));
        Assert.True(meterScrape.Has(MetricContract.PromptLatency.Name + "_count", ("streaming", "false")));
        Assert.True(meterScrape.Has(MetricContract.BudgetForecast.Name, ("budget", "repo-monthly"), ("scope", "checkout")));

        // A fixed fallback response and a cache hit took no provider time: neither source times them.
        var timed = meterScrape.Sum(MetricContract.PromptLatency.Name + "_count");
        var untimed = new[] { RequestOutcomes.Blocked, RequestOutcomes.Cached, RequestOutcomes.Rejected, RequestOutcomes.Error, RequestOutcomes.Aborted }
            .Sum(o => meterScrape.Sum(MetricContract.Requests.Name, ("outcome", o))) + 2;
        Assert.Equal(ids.Count - untimed, timed);

        var shared = MetricContract.Usage.Concat(MetricContract.Budgets).Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        bool Shared(string name) => shared.Contains(name) || shared.Contains(HistogramFamily(name));
        var fromMeter = meterScrape.Samples(Shared);
        var fromExporter = exporterScrape.Samples(Shared);
        output.WriteLine($"{fromMeter.Count} series from the meter, {fromExporter.Count} from the exporter");

        Assert.Empty(fromMeter.Keys.Except(fromExporter.Keys).Select(k => "only in the meter: " + k)
            .Concat(fromExporter.Keys.Except(fromMeter.Keys).Select(k => "only in the exporter: " + k)));
        Assert.All(fromMeter, sample => Assert.True(
            Math.Abs(sample.Value - fromExporter[sample.Key]) <= 1e-9 * Math.Max(1, Math.Abs(sample.Value)),
            $"{sample.Key}: meter {sample.Value.ToString("R", CultureInfo.InvariantCulture)}, exporter {fromExporter[sample.Key].ToString("R", CultureInfo.InvariantCulture)}"));

        // Same help, so a dashboard's tooltip reads the same whichever job it queries.
        foreach (var family in MetricContract.Usage.Concat(MetricContract.Budgets))
        {
            Assert.Contains($"# HELP {family.Name} {family.Help}\n", exporterScrape.Text, StringComparison.Ordinal);
            Assert.Contains($"# HELP {family.Name} {family.Help}\n", meterScrape.Text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Both_keep_publishing_the_last_budget_gauges_while_the_ledger_is_down()
    {
        var address = redis.Address + "/2";
        var clock = new FrozenDate(Today);
        try
        {
            await using var meter = await StartMeterAsync(address, clock);
            await using var exporter = await StartExporterAsync(address, clock);
            using (var response = await meter.SendAsync(MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), MeterHarness.Tags(), ("x-fake-usage", "input=1000,output=200"))))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            static bool Gauge(string name) => MetricContract.Budgets.Any(f => f.Name == name);
            var spent = ("budget", "repo-monthly");
            var meterBefore = (await EventuallyAsync(meter.ScrapeAsync, s => s.Sum(MetricContract.BudgetSpent.Name, spent) > 0, "the meter's gauges show the spend")).Samples(Gauge);
            var exporterBefore = (await EventuallyAsync(() => ScrapeAsync(exporter), s => s.Sum(MetricContract.BudgetSpent.Name, spent) > 0, "the exporter's gauges show the spend"))
                .Samples(Gauge);
            Assert.Equal(meterBefore, exporterBefore);

            await redis.KillAsync();
            var meterDuring = (await EventuallyAsync(meter.ScrapeAsync, s => s.Sum(MetricContract.LedgerReady.Name) == 0, "the meter reports the ledger down")).Samples(Gauge);
            var exporterDuring = (await EventuallyAsync(() => ScrapeAsync(exporter), s => s.Sum(MetricContract.LedgerReady.Name) == 0, "the exporter reports the ledger down"))
                .Samples(Gauge);

            // Not absent, not zero: the last values, so a firing threshold alert neither resolves nor notifies again.
            Assert.Equal(meterBefore, meterDuring);
            Assert.Equal(exporterBefore, exporterDuring);
        }
        finally
        {
            // Empty again for the other tests of the class, which use their own database.
            await redis.RestartAsync();
        }
    }

    /// <summary>One request of every outcome, streamed and not where the endpoint streams; returns each request's id.</summary>
    private static async Task<List<string>> SendEveryKindOfRequestAsync(MeterHarness meter, StalledReservations stalled)
    {
        var ids = new List<string>();
        async Task SendAsync(HttpStatusCode expected, HttpRequestMessage request)
        {
            using (request)
            {
                using var response = await meter.SendAsync(request);
                _ = await response.Content.ReadAsStringAsync();
                Assert.True(expected == response.StatusCode, $"{request.Method} {request.RequestUri}: expected {(int)expected}, got {(int)response.StatusCode}");
                ids.Add(response.Headers.GetValues("x-tollgate-request-id").Single());
            }
        }

        static string Tags(string team = "payments", string repo = "checkout", string? step = null) => MeterHarness.Tags(team, repo, agentStep: step);

        // forwarded: both dialects, streamed and not; the fifth team is past the label cap.
        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), Tags(), ("x-fake-usage", "input=1000,output=200,cache_read=50")));
        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(stream: true), Tags("search", "search-api", "review")));
        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(stream: true), Tags("platform", "infra")));
        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), Tags("mobile", "app")));
        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(stream: true), Tags("growth", "funnel")));

        // upstream_error: the provider's 500, a metered call and a free one.
        await SendAsync(HttpStatusCode.InternalServerError, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), Tags(), ("x-fake-status", "500")));

        // unbilled (a free passthrough and token counting) and unmetered (allowed, with the client's own key).
        var models = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        models.Headers.TryAddWithoutValidation("X-Tollgate-Metadata", Tags());
        await SendAsync(HttpStatusCode.OK, models);

        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/messages/count_tokens", MeterHarness.AnthropicBody(), Tags()));
        var files = new HttpRequestMessage(HttpMethod.Get, "/v1/files");
        files.Headers.TryAddWithoutValidation("X-Tollgate-Metadata", Tags("platform", "infra"));
        files.Headers.TryAddWithoutValidation("Authorization", "Bearer " + FakeUpstreamOptions.DefaultOpenAiKey);
        await SendAsync(HttpStatusCode.OK, files);

        // blocked: the first Opus call spends the tiny budget, the next one is refused.
        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude-opus-4-1"), Tags(step: "review")));
        await SendAsync(HttpStatusCode.TooManyRequests, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude-opus-4-1"), Tags(step: "review")));

        // fallback: the fixed response (streamed and not) and the cheaper model.
        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude-opus-4-1"), Tags(step: "answer")));
        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude-opus-4-1", stream: true), Tags(step: "answer")));
        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude-opus-4-1", stream: true), Tags(step: "downgrade")));

        // cached: the second of two identical calls is answered from the cache.
        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), Tags(step: "cached")));
        await SendAsync(HttpStatusCode.OK, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), Tags(step: "cached")));

        // rejected before admission: bad and missing tags, a hostile tag value, an endpoint not metered, a body too
        // large, a model name that is no model name, a body that is no JSON, a path that does not canonicalize.
        await SendAsync(HttpStatusCode.BadRequest, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), "not json"));
        await SendAsync(HttpStatusCode.BadRequest, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), tags: null));
        await SendAsync(HttpStatusCode.BadRequest, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), Tags(team: "team\u0000" + new string('x', 500))));
        await SendAsync(HttpStatusCode.Forbidden, MeterHarness.Request("/v1/batches", "{}", Tags()));
        await SendAsync(HttpStatusCode.RequestEntityTooLarge, MeterHarness.Request("/v1/messages",
            MeterHarness.AnthropicBody().Replace("Review this diff.", new string('a', 20 * 1024), StringComparison.Ordinal), Tags()));
        await SendAsync(HttpStatusCode.BadRequest, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(model: "claude\\\" } ; DROP"), Tags("attacker", "evil")));
        await SendAsync(HttpStatusCode.BadRequest, MeterHarness.Request("/v1/messages", "{\"model\": ", Tags()));
        await SendAsync(HttpStatusCode.BadRequest, MeterHarness.Request("/v1/%01messages", MeterHarness.AnthropicBody(), Tags()));

        // error: an amount the ledger refuses and a fault inside the meter, both answered 500.
        await SendAsync(HttpStatusCode.InternalServerError, MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(), Tags(step: FaultyAmount)));
        await SendAsync(HttpStatusCode.InternalServerError, MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), Tags("platform", "infra", Broken)));

        // aborted: the client leaves while the ledger stalls; it never sees the request id, the ledger does.
        using (var leave = new CancellationTokenSource())
        using (var request = MeterHarness.Request("/v1/messages", MeterHarness.AnthropicBody(stream: true), Tags("search", "search-api", Stalled)))
        {
            var sending = meter.Client.SendAsync(request, leave.Token);
            ids.Add(await stalled.Entered.WaitAsync(TimeSpan.FromSeconds(30)));
            await leave.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sending);
        }

        return ids;
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>
    /// The meter on the Redis ledger at <paramref name="ledger"/>. With <paramref name="stalled"/>, its reservations pass a
    /// <see cref="GatedLedger"/> that spoils the three fault budgets' and nothing else (the usage stream is the same).
    /// </summary>
    private async Task<MeterHarness> StartMeterAsync(string ledger, TimeProvider clock, StalledReservations? stalled = null)
    {
        GatedLedger? gated = null;
        RedisUsageStream? stream = null;
        if (stalled is not null)
        {
            var redisLedger = await RedisLedger.ConnectAsync(RedisLedgerOptions.FromUrl(ledger) with { OperationTimeout = TimeSpan.FromSeconds(5) }, clock, CancellationToken.None);
            stream = RedisUsageStream.For(redisLedger, new UsageStreamOptions(), clock);
            gated = new GatedLedger(redisLedger)
            {
                Rewrite = charge => charge.Budget == FaultyAmount ? charge with { Estimate = -1m } : charge,
                BeforeReserve = (requestId, charges, cancellationToken) =>
                    charges.Any(c => c.Budget == Broken) ? throw new InvalidOperationException("A ledger fault the meter does not expect.")
                    : charges.Any(c => c.Budget == Stalled) ? stalled.StallAsync(requestId, cancellationToken)
                    : Task.CompletedTask,
            };
        }

        return await MeterHarness.StartAsync(fixture.Upstream, Policy, time: clock, ledger: gated, usageSink: stream, configure: o => o with
        {
            Ledger = ledger,
            SpoolPath = Path.Combine(_directory, "usage.spool"),
            MaxLabelValues = MaxLabelValues,
            MaxRequestBodyBytes = 16 * 1024,
            AllowUnmetered = ["/v1/files"],
        });
    }

    private async Task<ExporterApp> StartExporterAsync(string ledger, TimeProvider clock)
    {
        var policy = Path.Combine(_directory, "policy.yaml");
        var token = Path.Combine(_directory, "token");
        await File.WriteAllTextAsync(policy, Policy);
        await File.WriteAllTextAsync(token, "agreement-token\n");
        var app = await ExporterApp.CreateAsync(
            new ExporterOptions
            {
                Listen = "127.0.0.1:0", Ledger = ledger, PolicyPath = policy, TokenFile = token, PollInterval = TimeSpan.FromMilliseconds(50), MaxLabelValues = MaxLabelValues,
            },
            clock,
            LogLevel.Warning);
        await app.StartAsync();
        return app;
    }

    private static async Task<MetricsScrape> ScrapeAsync(ExporterApp exporter)
    {
        using var client = new HttpClient { BaseAddress = exporter.Address, Timeout = TimeSpan.FromSeconds(30) };
        return new MetricsScrape(await client.GetStringAsync("/metrics"));
    }

    private static async Task<MetricsScrape> EventuallyAsync(Func<Task<MetricsScrape>> scrape, Func<MetricsScrape, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var current = await scrape();
            if (condition(current))
            {
                return current;
            }

            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(50);
        }
    }

    private static string HistogramFamily(string name) =>
        new[] { "_bucket", "_sum", "_count" }.FirstOrDefault(s => name.EndsWith(s, StringComparison.Ordinal)) is { } suffix ? name[..^suffix.Length] : name;

    /// <summary>A reservation that waits until its request's token gives up, as a stalled Redis would; says which request it holds.</summary>
    private sealed class StalledReservations
    {
        private readonly TaskCompletionSource<string> _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<string> Entered => _entered.Task;

        public async Task StallAsync(string requestId, CancellationToken cancellationToken)
        {
            _entered.TrySetResult(requestId);
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        }
    }

    /// <summary>A clock whose date stands still at <paramref name="now"/> while timers and elapsed time run for real.</summary>
    private sealed class FrozenDate(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
