using System.Globalization;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Cli.Audit;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests.Audit;

/// <summary>
/// The claim the offline backtest (cli/, the <c>tollgate</c> command) rests on: replaying what a live meter recorded
/// through the same policy decides every request as the meter did. It needs the live meter, so it lives here.
/// </summary>
public sealed class BacktestAgreementTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    private const string SmallBudget = """
        apiVersion: tollgate.io/v1alpha1
        kind: AiBudget
        metadata: { name: checkout-daily }
        spec:
          priority: 100
          match: { subjects: ["team:payments"] }
          limit: { amount: 2000, unit: tokens, period: day }
          appliesPer: ["metadata.repo"]
          alerts: { thresholds: [50, 100] }
        """;

    [Fact]
    public async Task Backtest_decides_every_request_as_live_enforcement_did()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 11, 18, 9, 0, 0, TimeSpan.Zero));
        var sink = new RecordingSink();
        await using var meter = await MeterHarness.StartAsync(fixture.Upstream, SmallBudget, time: clock, usageSink: sink);

        // 2,000 tokens a day per repository: each repo spends its budget after a few requests, blocks, and starts over
        // the next day; two repos keep separate counters.
        var live = new Dictionary<string, bool>(StringComparer.Ordinal);
        for (var i = 0; i < 24; i++)
        {
            var repo = i % 3 == 0 ? "ledger-service" : "checkout";
            var usage = string.Create(CultureInfo.InvariantCulture, $"input={300 + (i * 17)},output={100 + (i * 5)}");
            using var response = await meter.SendAsync(MeterHarness.Request("/v1/chat/completions", MeterHarness.ChatBody(), MeterHarness.Tags(repo: repo), ("x-fake-usage", usage)));
            live[response.Headers.GetValues("x-tollgate-request-id").Single()] = response.StatusCode == HttpStatusCode.OK;
            clock.Advance(i == 11 ? TimeSpan.FromHours(20) : TimeSpan.FromMinutes(7));
        }

        var backtester = new Backtester(PolicyLoader.LoadSnapshot(meter.PolicyPath), PricingCatalog.LoadEmbedded());
        var replayed = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var e in sink.Events)
        {
            replayed[e.RequestId] = await backtester.ReplayAsync(e, CancellationToken.None) == ReplayDecision.Allowed;
        }

        Assert.Equal(24, replayed.Count);
        Assert.Contains(false, live.Values);
        Assert.Contains(true, live.Values);
        Assert.Equal(live.OrderBy(p => p.Key).ToList(), replayed.OrderBy(p => p.Key).ToList());
        var report = backtester.Report("live", [], 0);
        Assert.Equal(live.Values.Count(allowed => !allowed), report.Scopes.Sum(s => s.Blocked));
        Assert.Equal([50, 100], report.Scopes.Single(s => s.Scope == "checkout").Thresholds.Select(t => t.Percent));
    }
}
