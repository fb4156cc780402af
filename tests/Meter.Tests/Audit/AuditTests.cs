using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Tollgate.Core.Budgets;
using Tollgate.Core.Events;
using Tollgate.Core.Policy;
using Tollgate.Core.Pricing;
using Tollgate.Core.Usage;
using Tollgate.Meter.Audit;
using Tollgate.Meter.Tests.Support;

namespace Tollgate.Meter.Tests.Audit;

public sealed class AuditTests(UpstreamFixture fixture) : IClassFixture<UpstreamFixture>
{
    private static readonly string ScenarioPath = Path.Combine(RepositoryPaths.Root(), "config", "scenarios", "ci-review-agent.yaml");

    // Real clock: the audit commands read recorded history by it (nothing may be dated ahead of now) and take no other,
    // so the files they read are dated a few days back from it, never on a fixed day.
    private static readonly DateTimeOffset Recent = new DateTimeOffset(DateTime.UtcNow.Date, TimeSpan.Zero).AddDays(-3).AddHours(9);

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

    [Fact]
    public void Recommend_caps_a_known_series_at_the_average_less_twenty_percent()
    {
        var recommender = new Recommender("team", BudgetPeriod.Day, -0.20m);

        // Mon 2 .. Fri 6 November 2026: payments spends 10, 20, 30, 40, 100 dollars, in two requests a day; search only on Monday.
        decimal[] daily = [10, 20, 30, 40, 100];
        for (var d = 0; d < daily.Length; d++)
        {
            var day = new DateTimeOffset(2026, 11, 2 + d, 0, 0, 0, TimeSpan.Zero);
            recommender.Add(Event(day.AddHours(9), "payments", daily[d] / 2));
            recommender.Add(Event(day.AddHours(15), "payments", daily[d] / 2));
        }

        recommender.Add(Event(new DateTimeOffset(2026, 11, 2, 12, 0, 0, TimeSpan.Zero), "search", 5));

        var caps = recommender.Recommend();
        Assert.Equal(
            [new Recommendation("payments", 5, 40m, 88m, 100m, 32m), new Recommendation("search", 5, 1m, 4m, 5m, 0.8m)],
            caps);

        var yaml = recommender.ToYaml(caps, "series.jsonl");
        var policy = PolicyLoader.Parse("recommended.yaml", yaml);
        var snapshot = PolicyLoader.LoadSnapshot(WriteTemp(yaml, ".yaml"));
        Assert.Equal(2, snapshot.Budgets.Count);
        var payments = snapshot.Budgets.Single(b => b.Name == "team-payments-daily");
        Assert.Equal(32m, payments.Limit);
        Assert.True(payments.Audit);
        Assert.Equal(BudgetPeriod.Day, payments.Period);
        Assert.NotNull(policy);
        Assert.Contains("# team \"payments\": 5 complete days; average $40.00/day, P95 $88.00, max $100.00.", yaml, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_writes_the_same_bytes_for_a_seed_and_different_ones_for_another()
    {
        var scenario = Scenario.Load(ScenarioPath);
        var pricing = PricingCatalog.LoadEmbedded();
        var first = await SimulateAsync(scenario, pricing, 7);
        var again = await SimulateAsync(scenario, pricing, 7);
        var other = await SimulateAsync(scenario, pricing, 8);

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        var lines = Encoding.UTF8.GetString(first).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var events = lines.Select(line => UsageEventJson.Parse(Encoding.UTF8.GetBytes(line))).ToList();
        Assert.Equal(events.OrderBy(e => e.Time).Select(e => e.RequestId), events.Select(e => e.RequestId));

        // A week of the shipped scenario: 50 engineers × ~15 PRs, each about 400k input tokens over three steps.
        // 750 PRs × 400k = 300M input tokens (cache reads included); retry loops add review-context calls beyond one per PR.
        Assert.InRange(events.Sum(e => e.Tokens.Input + e.Tokens.CacheRead), 270_000_000, 330_000_000);
        Assert.InRange(events.Count(e => e.Tags["agent_step"] == "review-context"), 700, 950);
        Assert.Equal(["review-context", "review-diff", "review-summary"], events.Select(e => e.Tags["agent_step"]).Distinct().Order());

        // A simulated call is one the meter forwarded: the outcome is a documented tollgate_requests_total value.
        Assert.Equal(["forwarded"], events.Select(e => e.Outcome).Distinct());
    }

    [Fact]
    public async Task Malformed_lines_are_reported_by_number_and_skipped_or_fail_with_strict()
    {
        var good = Encoding.UTF8.GetString(UsageEventJson.Serialize(Event(Recent, "payments", 1)));
        var usage = WriteTemp($"{good}\n{{\"v\":1,\"id\":\"x\"}}\nnot json\n{good.Replace("\"id\":\"e-", "\"id\":\"f-", StringComparison.Ordinal)}\n", ".jsonl");
        var policy = WriteTemp(SmallBudget, ".yaml");

        var (code, stdout, stderr) = await RunAsync("backtest", "--policy", policy, "--usage", usage, "--json");
        Assert.Equal(0, code);
        Assert.Contains("line 2: usage event: missing field \"tags\"; skipped", stderr, StringComparison.Ordinal);
        Assert.Contains("line 3: ", stderr, StringComparison.Ordinal);
        Assert.Contains("\"events\": 2", stdout, StringComparison.Ordinal);
        Assert.Contains("\"malformed_lines\": 2", stdout, StringComparison.Ordinal);

        (code, _, stderr) = await RunAsync("backtest", "--policy", policy, "--usage", usage, "--strict");
        Assert.Equal(3, code);
        Assert.Equal("tollgate-meter backtest: line 2: usage event: missing field \"tags\" (--strict: stopping)", stderr.Trim());
    }

    [Fact]
    public async Task Lines_the_exporter_would_refuse_are_reported_and_skipped_like_malformed_ones()
    {
        var good = Encoding.UTF8.GetString(UsageEventJson.Serialize(Event(Recent, "payments", 1)));
        string[] hostile =
        [
            good.Replace("\"cost_usd\":1", "\"cost_usd\":1e30", StringComparison.Ordinal),
            good.Replace("\"input\":1000", "\"input\":-1000", StringComparison.Ordinal),
            good.Replace($"\"time\":\"{Iso(Recent)}\"", $"\"time\":\"{Iso(Recent.AddYears(70))}\"", StringComparison.Ordinal),
            good.Replace("\"team\":\"payments\"", "\"team\":\"\\ud800\"", StringComparison.Ordinal),
        ];
        Assert.All(hostile, line => Assert.NotEqual(good, line));
        var usage = WriteTemp(string.Join('\n', [good, .. hostile, good.Replace("\"id\":\"e-", "\"id\":\"f-", StringComparison.Ordinal)]) + "\n", ".jsonl");
        var policy = WriteTemp(SmallBudget, ".yaml");

        var (code, stdout, stderr) = await RunAsync("backtest", "--policy", policy, "--usage", usage, "--json");

        Assert.Equal(0, code);
        Assert.Contains("line 2: usage event: cost_usd", stderr, StringComparison.Ordinal);
        Assert.Contains("line 3: usage event: tokens.input", stderr, StringComparison.Ordinal);
        Assert.Contains($"line 4: usage event: time {Iso(Recent.AddYears(70))[..10]}", stderr, StringComparison.Ordinal);
        Assert.Contains("line 5: usage event: tags.team", stderr, StringComparison.Ordinal);
        Assert.Contains("\"events\": 2", stdout, StringComparison.Ordinal);
        Assert.Contains("\"malformed_lines\": 4", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Per_event_csv_replays_like_jsonl_and_prices_rows_without_a_cost()
    {
        var csv = WriteTemp(
            $"{UsageSource.CsvHeader}\n{Iso(Recent)},ci,payments,checkout,pr-review,review,openai,gpt-4o,1500,500,0,0,0,\n{Iso(Recent.AddMinutes(5))},ci,payments,checkout,pr-review,review,openai,gpt-4o,100,100,0,0,0,0.5\n",
            ".csv");
        var (code, stdout, _) = await RunAsync("backtest", "--policy", WriteTemp(SmallBudget, ".yaml"), "--usage", csv, "--json");

        Assert.Equal(0, code);
        Assert.Contains("\"spend\": 2000", stdout, StringComparison.Ordinal);
        Assert.Contains("\"peak_used_percent\": 100", stdout, StringComparison.Ordinal);
        var cost = PricingCatalog.LoadEmbedded().Resolve("openai", "gpt-4o").Price.Cost(new TokenUsage(1500, 500, 0, 0, 0));
        Assert.True(cost > 0);
    }

    [Fact]
    public async Task Command_line_errors_exit_non_zero_with_one_line()
    {
        var (code, _, stderr) = await RunAsync("recommend", "--usage", WriteTemp(string.Empty, ".jsonl"), "--by", "user");
        Assert.Equal(2, code);
        Assert.Equal("tollgate-meter recommend: --by: expected team, repo or pipeline (got \"user\")", stderr.Trim());

        (code, _, stderr) = await RunAsync("backtest", "--policy", "nope.yaml", "--usage", "missing.jsonl");
        Assert.NotEqual(0, code);
        Assert.Single(stderr.Trim().Split('\n'));

        // A usage file that is not there is a bad input file (1, as the README says), not a bad flag (2).
        (code, _, stderr) = await RunAsync("backtest", "--policy", WriteTemp(SmallBudget, ".yaml"), "--usage", "missing.jsonl");
        Assert.Equal(1, code);
        Assert.Equal("tollgate-meter backtest: --usage: missing.jsonl does not exist", stderr.Trim());
    }

    [Fact]
    public async Task Backtest_of_a_file_without_events_says_so()
    {
        var (code, stdout, _) = await RunAsync("backtest", "--policy", WriteTemp(SmallBudget, ".yaml"), "--usage", WriteTemp("not json\n", ".jsonl"));
        Assert.Equal(0, code);
        Assert.Contains("no events to replay", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(" to  UTC", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_and_recommend_run_as_a_real_process()
    {
        var directory = Directory.CreateTempSubdirectory("tollgate-audit-").FullName;
        var usage = Path.Combine(directory, "usage.jsonl");
        // The shipped scenario starts on a fixed Monday; recommend (a real process) refuses history dated ahead of its clock,
        // so the week simulated here starts on the Monday three weeks before today.
        var today = DateTime.UtcNow.Date;
        var monday = today.AddDays(-(((int)today.DayOfWeek + 6) % 7) - 21);
        var scenario = Path.Combine(directory, "scenario.yaml");
        var shipped = await File.ReadAllTextAsync(ScenarioPath);
        await File.WriteAllTextAsync(scenario, shipped.Replace("start: 2026-11-02T00:00:00Z", $"start: {monday:yyyy-MM-dd}T00:00:00Z", StringComparison.Ordinal));
        Assert.NotEqual(shipped, await File.ReadAllTextAsync(scenario));
        await using (var simulate = MeterProcess.Start("simulate", "--scenario", scenario, "--seed", "3", "--days", "7", "--out", usage))
        {
            Assert.Equal(0, await simulate.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.StartsWith("tollgate-meter simulate: wrote ", simulate.StandardOutput, StringComparison.Ordinal);
        }

        await using var recommend = MeterProcess.Start("recommend", "--usage", usage, "--by", "repo", "--period", "day");
        Assert.Equal(0, await recommend.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var proposed = Path.Combine(directory, "proposed.yaml");
        await File.WriteAllTextAsync(proposed, recommend.StandardOutput);
        Assert.Equal(11, PolicyLoader.LoadSnapshot(proposed).Budgets.Count);
    }

    private static UsageEvent Event(DateTimeOffset time, string team, decimal cost) =>
        new($"e-{team}-{time.ToUnixTimeSeconds()}", time, "ci", new Dictionary<string, string> { ["team"] = team, ["repo"] = "checkout", ["pipeline"] = "pr-review" },
            "openai", "gpt-4o", false, new TokenUsage(1000, 100, 0, 0, 0), false, cost, 1, null, "ok", 200, []);

    private static async Task<byte[]> SimulateAsync(Scenario scenario, PricingCatalog pricing, int seed)
    {
        using var stream = new MemoryStream();
        await new Simulator(scenario, pricing, seed).WriteAsync(stream, 7, CancellationToken.None);
        return stream.ToArray();
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await MeterProgram.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static string Iso(DateTimeOffset time) => time.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private static string WriteTemp(string text, string extension)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("tollgate-audit-").FullName, "input" + extension);
        File.WriteAllText(path, text);
        return path;
    }
}
